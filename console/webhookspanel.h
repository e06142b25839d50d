#pragma once

#include <QJsonObject>
#include <QPointer>
#include <QWidget>

class QLabel;
class QPushButton;
class QStandardItemModel;
class QTableView;

namespace flashsale::admin {
class AdminClient;
}

namespace flashsale::console {

class RoleGate;

// Merchant webhooks (issue 19, docs/MERCHANT_WEBHOOKS.md): the endpoints with their pending,
// delivered and dead counts (webhooks.list) above the dead-letter list (webhooks.deadletters,
// newest first, "Load older" pages), with "Replay selected" (one dead letter) and "Replay
// endpoint" (all dead letters of the selected row's endpoint), each asked first and bound to the
// role that may call webhooks.replay. Does not own the client; answers arriving after the panel
// is gone are dropped.
class WebhooksPanel final : public QWidget {
    Q_OBJECT
public:
    // Columns of deadLetters().
    enum Column { Id, Endpoint, Event, Type, Order, Attempts, LastError, DeadAt, Replays, Count };

    explicit WebhooksPanel(admin::AdminClient *client, QWidget *parent = nullptr);

    void setGate(RoleGate *gate); // not owned; null: no role check
    void refresh();               // endpoints and the newest page of dead letters
    void loadOlder();
    void replaySelected(); // asks first
    void replayEndpoint(); // asks first

    QStandardItemModel *endpoints() const { return m_endpoints; }
    QStandardItemModel *deadLetters() const { return m_letters; }
    QTableView *deadLetterView() const { return m_lettersView; }
    QPushButton *replayButton() const { return m_replay; }
    QPushButton *replayEndpointButton() const { return m_replayEndpoint; }

Q_SIGNALS:
    // After a replay the server accepted: how many deliveries are pending again.
    void replayed(int count);

private:
    void loadLetters(qint64 beforeId);
    void replay(const QJsonObject &args, const QString &what);
    void updateButtons();
    qint64 selectedId() const;
    QString selectedEndpoint() const;

    QPointer<admin::AdminClient> m_client;
    QPointer<RoleGate> m_gate;
    quint64 m_generation = 0;
    qint64 m_nextBefore = 0;
    bool m_busy = false;
    QStandardItemModel *m_endpoints = nullptr;
    QStandardItemModel *m_letters = nullptr;
    QTableView *m_endpointsView = nullptr;
    QTableView *m_lettersView = nullptr;
    QPushButton *m_replay = nullptr;
    QPushButton *m_replayEndpoint = nullptr;
    QPushButton *m_older = nullptr;
    QLabel *m_status = nullptr;
};

} // namespace flashsale::console
