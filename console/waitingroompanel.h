#pragma once

#include <QHash>
#include <QJsonObject>
#include <QPointer>
#include <QWidget>

class QLabel;
class QPushButton;
class QSpinBox;
class QTimer;

namespace flashsale::admin {
class AdminClient;
}

namespace flashsale::console {

class RoleGate;

// The selected sale's waiting room (issue 16; docs/CONSOLE.md, "Waiting room"): the lobby and
// cohort, the cursor, admission's measured pace, no-shows, bookings, outstanding admissions and
// an estimate of the time to sell-out, read with sale.waiting_room.get once a second while the
// panel is shown; "Pause admission" / "Resume admission" and "Set rate" send
// sale.waiting_room.set (audited by the server), each after a question. A sale without a waiting
// room shows only that sentence.
//
// GUI thread; does not own the client or the gate. Answers for a sale no longer selected are
// dropped.
class WaitingRoomPanel final : public QWidget {
    Q_OBJECT
public:
    explicit WaitingRoomPanel(admin::AdminClient *client, QWidget *parent = nullptr);

    void setGate(RoleGate *gate); // not owned; null: no role check
    // The selected sale object (docs/ADMIN_PROTOCOL.md), or {} for none.
    void setSale(const QJsonObject &sale);
    void refresh(); // read the view now

    // The last view read ({} before the first, or for a sale without a waiting room).
    QJsonObject view() const { return m_view; }
    QLabel *field(const QString &name) const; // the value label of one field, for tests
    QPushButton *pauseButton() const { return m_pause; }
    QSpinBox *rateBox() const { return m_rate; }
    QPushButton *rateButton() const { return m_setRate; }

    void togglePause(); // asks, then pauses or resumes admission
    void applyRate();   // asks, then sets admit_per_minute to the spin box's value

protected:
    void showEvent(QShowEvent *event) override;
    void hideEvent(QHideEvent *event) override;

private:
    void send(const QJsonObject &change, const QString &what);
    void showView(const QJsonObject &view);
    void showMessage(const QString &text);
    void updateButtons();

    QPointer<admin::AdminClient> m_client;
    QPointer<RoleGate> m_gate;
    qint64 m_saleId = 0;
    bool m_hasRoom = false;
    bool m_inFlight = false;
    QJsonObject m_view;
    QTimer *m_timer = nullptr;
    QLabel *m_message = nullptr;
    QWidget *m_body = nullptr;
    QHash<QString, QLabel *> m_fields;
    QPushButton *m_pause = nullptr;
    QSpinBox *m_rate = nullptr;
    QPushButton *m_setRate = nullptr;
};

} // namespace flashsale::console
