#pragma once

#include "consolesettings.h"
#include "protocol/adminclient.h"

#include <QJsonObject>
#include <QMainWindow>
#include <QPointer>

class QAction;
class QLabel;
class QSplitter;
class QTabWidget;
class QTableView;

namespace flashsale::console {

class AdjustDialog;
class AlertsModel;
class AuditPanel;
class ConnectionDialog;
class ConnectionStatus;
class DeadLettersPanel;
class CredentialStore;
class DashboardWidget;
class ReconcilePanel;
class WaitingRoomPanel;
class WebhooksPanel;
class RoleGate;
class SaleDialog;
class SalesModel;
class StatsHistory;

// The console's window: the sales table on top, the selected sale's dashboard, reconciliation
// and audit log in tabs below, and the connection and the logged-in operator in the status bar.
//
// It owns the AdminClient (auto-reconnect on). On every (re)connect it reloads the sales,
// subscribes to the selected sale's stats again and reloads the panels; events keep them current
// in between. Every request is asynchronous; the only modal dialogs are opened with open(), so
// no handler runs a nested event loop. Mutating actions ask first and show the server's answer.
//
// Logging in: start() moves a token left in clear text by an older console into the keychain,
// then reads the stored secret for the remembered server and operator (CredentialStore, async)
// and connects, or opens the connection dialog when there is none. A secret typed in the dialog
// is written to the keychain only once the server has accepted it (the "hello"); without a
// keychain it is not stored at all and the status bar says so. A refused handshake (401, 429, or
// AdminClient refusing ws:// to a remote host) reopens the dialog with the reason. The server's
// hello names the operator and role: they are shown in the title and status bar, and RoleGate
// disables every action the role may not call.
class MainWindow final : public QMainWindow {
    Q_OBJECT
public:
    explicit MainWindow(const ConsoleSettings &settings, QWidget *parent = nullptr);
    ~MainWindow() override;

    // The start-up login described above. `envToken` (FLASHSALE_ADMIN_TOKEN) is used in
    // bootstrap mode when the keychain holds no token, and fills the dialog's token field when
    // no operator name is known yet.
    void start(const QString &envToken = {});

    // Opens the link to `url` (already resolved to ws(s)://…/admin/v1/ws) with `credentials`,
    // trusting `caFile`'s certificates for wss:// besides the system's. Forgets the previous
    // login's role until the server's hello.
    void connectTo(const QUrl &url, const admin::AdminClient::Credentials &credentials,
                   const QString &caFile = {});

    // Opens (or raises) the connection dialog, pre-filled from the settings, with `message`
    // at the top (why it is shown; red when `error`). Accepting it connects, and stores the secret
    // once accepted.
    ConnectionDialog *showConnectionDialog(const QString &message = {}, bool error = true);
    ConnectionDialog *connectionDialog() const;

    // Follows this sale as soon as the first sale list arrives (--sale).
    void selectOnLoad(qint64 saleId) { m_selectOnLoad = saleId; }
    // Selects the sale's row (and so follows it); false if it is not listed.
    bool selectSale(qint64 saleId);
    qint64 selectedSaleId() const { return m_saleId; }

    // Opens (or raises) the new-sale dialog.
    SaleDialog *openSaleDialog();
    SaleDialog *saleDialog() const;
    AdjustDialog *openAdjustDialog();

    admin::AdminClient *client() const { return m_client; }
    ConnectionStatus *connectionStatus() const { return m_status; }
    SalesModel *salesModel() const { return m_sales; }
    QTableView *salesView() const { return m_salesView; }
    StatsHistory *history() const { return m_history; }
    AlertsModel *alerts() const { return m_alerts; }
    DashboardWidget *dashboard() const { return m_dashboard; }
    ReconcilePanel *reconcilePanel() const { return m_reconcile; }
    AuditPanel *auditPanel() const { return m_audit; }
    WebhooksPanel *webhooksPanel() const { return m_webhooks; } // H4
    DeadLettersPanel *deadLettersPanel() const { return m_deadLetters; }
    WaitingRoomPanel *waitingRoomPanel() const { return m_waitingRoom; } // issue 16
    QTabWidget *tabs() const { return m_tabs; }
    QLabel *stateLabel() const { return m_stateLabel; }
    QLabel *clockLabel() const { return m_clockLabel; }
    QLabel *operatorLabel() const { return m_operatorLabel; }
    RoleGate *gate() const { return m_gate; }
    CredentialStore *keychain() const { return m_keychain; }
    // What happened to the secret in the keychain at the last login or migration (a sentence;
    // empty when it was stored, or nothing was tried yet).
    QString keychainNote() const { return m_keychainNote; }

    void refreshSales();
    void pauseSale();
    void resumeSale();
    void stopSale();

protected:
    void closeEvent(QCloseEvent *event) override;

private:
    void buildActions();
    void buildLayout();
    void onState(admin::AdminClient::State state);
    void onEvent(const QString &name, const QJsonObject &data);
    void onSelectionChanged();
    void follow(qint64 saleId);
    void subscribe(qint64 saleId);
    void updateActions();
    void updateStatus();
    void changeState(admin::Op op, const QString &verb, const QString &question);
    void sendSale(admin::Op op, const QJsonObject &args);
    void sendAdjust(const QJsonObject &args);
    void onHello();
    void onRefused(int status, const QString &message);
    void readStoredSecret(const QString &envToken);
    void storeSecret(const QString &account, const QString &secret);
    void setKeychainNote(const QString &note);
    void updateTitle();
    void showSettingsDialog();
    void showShortcuts();
    void saveLayout() const;
    void restoreLayout();

    ConsoleSettings m_settings;
    admin::AdminClient *m_client = nullptr;
    CredentialStore *m_keychain = nullptr;
    RoleGate *m_gate = nullptr;
    // The secret typed in the dialog, held until the server accepts it, then moved to the
    // keychain (or dropped when the dialog's "remember" is off). Cleared by the next login.
    QString m_pendingAccount;
    QString m_pendingSecret;
    QString m_keychainNote;
    QString m_envToken; // FLASHSALE_ADMIN_TOKEN, from start(); only ever pre-fills or logs in
    ConnectionStatus *m_status = nullptr;
    SalesModel *m_sales = nullptr;
    StatsHistory *m_history = nullptr;
    AlertsModel *m_alerts = nullptr;
    qint64 m_saleId = 0;
    qint64 m_selectOnLoad = 0;
    bool m_closing = false;

    QSplitter *m_splitter = nullptr;
    QTableView *m_salesView = nullptr;
    QTabWidget *m_tabs = nullptr;
    DashboardWidget *m_dashboard = nullptr;
    ReconcilePanel *m_reconcile = nullptr;
    AuditPanel *m_audit = nullptr;
    WebhooksPanel *m_webhooks = nullptr; // H4
    DeadLettersPanel *m_deadLetters = nullptr;
    WaitingRoomPanel *m_waitingRoom = nullptr; // issue 16
    QLabel *m_stateLabel = nullptr;
    QLabel *m_clockLabel = nullptr;
    QLabel *m_operatorLabel = nullptr;
    QPointer<ConnectionDialog> m_connectionDialog;
    QPointer<SaleDialog> m_saleDialog;
    QPointer<AdjustDialog> m_adjustDialog;

    QAction *m_newSale = nullptr;
    QAction *m_pause = nullptr;
    QAction *m_resume = nullptr;
    QAction *m_stop = nullptr;
    QAction *m_adjust = nullptr;
    QAction *m_refresh = nullptr;
};

} // namespace flashsale::console
