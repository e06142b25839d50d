#pragma once

#include <QJsonObject>
#include <QPointer>
#include <QWidget>

class QLabel;
class QPushButton;
class QSplitter;
class QTableView;

namespace flashsale::admin {
class AdminClient;
}

namespace flashsale::console {

class ProviderReconcileBox;
class ReconcileChecksModel;
class RoleGate;
class ReconcileRunsModel;

// Reconciliation of the selected sale: Dry run, Repair (asks first), the rows of the chosen
// report (drift highlighted) and the history of runs (reconcile.list plus live "reconcile"
// events). Does not own the client; answers arriving after the panel is gone are dropped.
class ReconcilePanel final : public QWidget {
    Q_OBJECT
public:
    explicit ReconcilePanel(admin::AdminClient *client, QWidget *parent = nullptr);

    // Dry run and Repair follow the operator's role through `gate` (not owned; may be null: no
    // role check). Repair needs the admin role.
    void setGate(RoleGate *gate);

    // Follows another sale (empty: none) and loads its history.
    void setSale(const QJsonObject &sale);
    // Loads the history again (after a reconnect).
    void refresh();
    // A "reconcile" event, from any process.
    void onReconcileEvent(const QJsonObject &report);

    void dryRun();
    void repair(); // asks for confirmation first

    ReconcileRunsModel *runs() const { return m_runs; }
    ReconcileChecksModel *checks() const { return m_checks; }
    QPushButton *dryRunButton() const { return m_dryRun; }
    QPushButton *repairButton() const { return m_repair; }
    // H5 (issue 19): provider reconciliation, below the sale's.
    ProviderReconcileBox *provider() const { return m_provider; }

    void saveLayout() const;
    void restoreLayout();

Q_SIGNALS:
    // A report this console asked for, or one pushed for the followed sale.
    void reportReceived(const QJsonObject &report);

private:
    void run(bool repair);
    void showRun(int row);
    void setBusy(bool busy);
    void showSummary(const QJsonObject &report);

    QPointer<admin::AdminClient> m_client;
    QPointer<RoleGate> m_gate;
    qint64 m_saleId = 0;
    bool m_busy = false;
    ReconcileRunsModel *m_runs = nullptr;
    ReconcileChecksModel *m_checks = nullptr;
    QPushButton *m_dryRun = nullptr;
    QPushButton *m_repair = nullptr;
    QLabel *m_summary = nullptr;
    QLabel *m_repairs = nullptr;
    QTableView *m_runsView = nullptr;
    QTableView *m_checksView = nullptr;
    QSplitter *m_splitter = nullptr;
    ProviderReconcileBox *m_provider = nullptr; // H5
};

} // namespace flashsale::console
