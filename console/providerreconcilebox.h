#pragma once

#include <QGroupBox>
#include <QJsonObject>
#include <QPointer>

class QLabel;
class QPushButton;
class QStandardItemModel;
class QTableView;

namespace flashsale::admin {
class AdminClient;
}

namespace flashsale::console {

class RoleGate;

// Provider reconciliation (issue 19), beside the sale's in the reconciliation tab: Dry run and
// Repair (asks first; the admin role) of payments.reconcile, the counts per check of the latest
// run, and its findings (what was repaired, what is flagged for a person, and why). Shows the
// latest recorded run on refresh (payments.reconcile.runs), the periodic job's included.
// Does not own the client; answers arriving after the box is gone are dropped.
class ProviderReconcileBox final : public QGroupBox {
    Q_OBJECT
public:
    explicit ProviderReconcileBox(admin::AdminClient *client, QWidget *parent = nullptr);

    void setGate(RoleGate *gate);
    // Loads the latest run again (after a reconnect, or when the tab is shown).
    void refresh();

    void dryRun();
    void repair(); // asks for confirmation first

    QPushButton *dryRunButton() const { return m_dryRun; }
    QPushButton *repairButton() const { return m_repair; }
    QLabel *summary() const { return m_summary; }
    // One row per finding of the report shown: check, order, order and payment status, action,
    // result, reason.
    QStandardItemModel *findings() const { return m_findings; }
    QJsonObject report() const { return m_report; }

Q_SIGNALS:
    void reportShown(const QJsonObject &report);

private:
    void run(bool repair);
    void show(const QJsonObject &report);
    void setBusy(bool busy);

    QPointer<admin::AdminClient> m_client;
    QPointer<RoleGate> m_gate;
    bool m_busy = false;
    QJsonObject m_report;
    QPushButton *m_dryRun = nullptr;
    QPushButton *m_repair = nullptr;
    QLabel *m_summary = nullptr;
    QStandardItemModel *m_findings = nullptr;
    QTableView *m_view = nullptr;
};

} // namespace flashsale::console
