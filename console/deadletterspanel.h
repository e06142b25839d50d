#pragma once

#include "deadlettersmodel.h"

#include <QDialog>
#include <QPointer>
#include <QTimer>
#include <QWidget>

#include <optional>

class QCheckBox;
class QComboBox;
class QLabel;
class QPushButton;
class QTableView;

namespace flashsale::admin {
class AdminClient;
}

namespace flashsale::console {

class RoleGate;
class SalesModel;

// Asks before cancelling the order a dead letter holds: names the entry, the buyer, the units and
// the sale, with "Notify the buyer" (checked). Opened with open(); "cancelDeadLetterDialog".
class CancelDeadLetterDialog final : public QDialog {
    Q_OBJECT
public:
    CancelDeadLetterDialog(const DeadLettersModel::Letter &letter, const QString &saleName,
                           QWidget *parent = nullptr);

    bool notifyBuyer() const;
    QCheckBox *notifyBox() const { return m_notify; }
    QPushButton *cancelOrderButton() const { return m_confirm; }
    QPushButton *keepButton() const { return m_keep; }

private:
    QCheckBox *m_notify = nullptr;
    QPushButton *m_confirm = nullptr;
    QPushButton *m_keep = nullptr;
};

// Dead letters of the order streams (issue 20): entries the stream worker could not write to
// PostgreSQL (orders.deadletters), so their buyers were answered 202 and have no order. Filtered
// by sale and "Show resolved"; Replay (orders.deadletters.replay, admin) writes the entry again
// once the cause is fixed, Cancel… (orders.deadletters.cancel, merchandiser) ends it, optionally
// telling the buyer. Both ask first, show the server's answer and reload the list; the list also
// reloads every pollInterval while shown, keeping the selection. Does not own the client; answers
// arriving after the panel is gone are dropped.
class DeadLettersPanel final : public QWidget {
    Q_OBJECT
public:
    static constexpr int kDefaultPollMs = 10000;

    explicit DeadLettersPanel(admin::AdminClient *client, QWidget *parent = nullptr);

    void setGate(RoleGate *gate);          // not owned; null: no role check
    void setSalesModel(SalesModel *sales); // not owned: the filter's sales and the sale names
    void setPollInterval(int ms);

    void refresh();
    void replaySelected(); // asks first
    void cancelSelected(); // opens CancelDeadLetterDialog
    // Selects the row of that entry; false when it is not listed.
    bool selectEntry(qint64 saleId, const QString &entryId);
    // Filters on one sale (0: all sales) and reloads.
    void setSaleFilter(qint64 saleId);

    DeadLettersModel *model() const { return m_model; }
    QTableView *view() const { return m_view; }
    QComboBox *saleFilter() const { return m_sale; }
    QCheckBox *showResolvedBox() const { return m_showResolved; }
    QPushButton *replayButton() const { return m_replay; }
    QPushButton *cancelButton() const { return m_cancel; }
    QLabel *statusLabel() const { return m_status; }
    QLabel *detailLabel() const { return m_detail; }
    CancelDeadLetterDialog *cancelDialog() const { return m_cancelDialog; }

Q_SIGNALS:
    // After each list the server answered.
    void loaded(int rows, int open);
    // After a replay or cancel the server answered ("replayed", "refused", "cancelled").
    void resolved(qint64 saleId, const QString &entryId, const QString &outcome);

protected:
    void showEvent(QShowEvent *event) override;

private:
    void updateButtons();
    void updateDetail();
    void rebuildSaleFilter();
    void setStatus(const QString &text, bool error = false);
    std::optional<DeadLettersModel::Letter> selected() const;
    QString saleName(qint64 saleId) const;
    void sendCancel(const DeadLettersModel::Letter &letter, bool notify);

    QPointer<admin::AdminClient> m_client;
    QPointer<RoleGate> m_gate;
    QPointer<SalesModel> m_sales;
    QPointer<CancelDeadLetterDialog> m_cancelDialog;
    quint64 m_generation = 0;
    bool m_busy = false;
    bool m_loading = false;
    QString m_lastAction; // the last replay or cancel answer, kept beside the list's summary
    DeadLettersModel *m_model = nullptr;
    QTableView *m_view = nullptr;
    QComboBox *m_sale = nullptr;
    QCheckBox *m_showResolved = nullptr;
    QPushButton *m_reload = nullptr;
    QPushButton *m_replay = nullptr;
    QPushButton *m_cancel = nullptr;
    QLabel *m_status = nullptr;
    QLabel *m_detail = nullptr;
    QTimer m_poll;
};

} // namespace flashsale::console
