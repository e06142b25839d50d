#include "mainwindow.h"

#include "adjustdialog.h"
#include "alertsmodel.h"
#include "auditpanel.h"
#include "connectiondialog.h"
#include "connectionstatus.h"
#include "consoleformat.h"
#include "credentialstore.h"
#include "dashboardwidget.h"
#include "deadletterspanel.h"
#include "feedback.h"
#include "reconcilepanel.h"
#include "rolegate.h"
#include "saledialog.h"
#include "salesmodel.h"
#include "settingsdialog.h"
#include "statshistory.h"
#include "waitingroompanel.h"
#include "webhookspanel.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QHeaderView>
#include <QJsonArray>
#include <QLabel>
#include <QMenu>
#include <QMenuBar>
#include <QMessageBox>
#include <QSettings>
#include <QSplitter>
#include <QStatusBar>
#include <QTabWidget>
#include <QTableView>
#include <QToolBar>

namespace flashsale::console {

using admin::AdminClient;
using admin::AdminError;
using admin::Op;

MainWindow::MainWindow(const ConsoleSettings &settings, QWidget *parent)
    : QMainWindow(parent)
    , m_settings(settings) {
    setObjectName(QStringLiteral("mainWindow"));
    setWindowTitle(tr("Flash-sale console"));
    m_client = new AdminClient(this);
    m_client->setAutoReconnect(true);
    m_keychain = new CredentialStore(QStringLiteral("flashsale-console"), this);
    m_gate = new RoleGate(this);
    m_status = new ConnectionStatus(m_client, this);
    m_sales = new SalesModel(this);
    m_history = new StatsHistory(this);
    m_alerts = new AlertsModel(this);
    m_alerts->setThresholds(settings.thresholds);

    buildActions();
    buildLayout();
    m_dashboard->setThresholds(settings.thresholds);
    m_gate->bind(m_newSale, Op::SaleCreate);
    m_gate->bind(m_pause, Op::SalePause);
    m_gate->bind(m_resume, Op::SaleResume);
    m_gate->bind(m_stop, Op::SaleStop);
    m_gate->bind(m_adjust, Op::SaleAdjust);
    m_reconcile->setGate(m_gate);
    m_webhooks->setGate(m_gate); // H4
    m_deadLetters->setGate(m_gate);
    m_waitingRoom->setGate(m_gate); // issue 16
    m_deadLetters->setSalesModel(m_sales);

    connect(m_client, &AdminClient::stateChanged, this, &MainWindow::onState);
    connect(m_client, &AdminClient::event, this, &MainWindow::onEvent);
    connect(m_client, &AdminClient::refused, this, &MainWindow::onRefused);
    connect(m_gate, &RoleGate::changed, this, [this] {
        updateActions();
        updateTitle();
    });
    connect(m_status, &ConnectionStatus::changed, this, [this] {
        updateStatus();
        updateTitle();
    });
    connect(m_reconcile, &ReconcilePanel::reportReceived, this, [this](const QJsonObject &report) {
        if (report.value(QStringLiteral("sale_id")).toInteger() == m_saleId)
            m_alerts->checkReconcile(report);
    });
    restoreLayout();
    updateActions();
    updateStatus();
    updateTitle();
}

MainWindow::~MainWindow() {
    // Pending requests are failed as "disconnected" when the client goes; nobody should react.
    m_closing = true;
    delete m_saleDialog;
    delete m_adjustDialog;
    delete m_connectionDialog;
    delete m_tabs;
    delete m_client;
}

void MainWindow::buildActions() {
    const auto make = [this](const QString &text, const QString &shortcut, const QString &tip,
                             QStyle::StandardPixmap icon, auto slot) {
        auto *a = new QAction(style()->standardIcon(icon), text, this);
        if (!shortcut.isEmpty())
            a->setShortcut(QKeySequence(shortcut));
        a->setToolTip(shortcut.isEmpty()
                          ? tip
                          : QStringLiteral("%1 (%2)").arg(
                              tip, QKeySequence(shortcut).toString(QKeySequence::NativeText)));
        a->setStatusTip(tip);
        connect(a, &QAction::triggered, this, slot);
        return a;
    };
    m_newSale = make(tr("&New sale / schedule…"), QStringLiteral("Ctrl+N"),
                     tr("Create a sale or a recurring schedule"), QStyle::SP_FileDialogNewFolder,
                     [this] { openSaleDialog(); });
    m_pause = make(tr("&Pause"), QStringLiteral("Ctrl+P"), tr("Pause the selected sale"),
                   QStyle::SP_MediaPause, [this] { pauseSale(); });
    m_resume = make(tr("&Resume"), QStringLiteral("Ctrl+R"), tr("Resume the selected sale"),
                    QStyle::SP_MediaPlay, [this] { resumeSale(); });
    m_stop =
        make(tr("&Stop…"), QStringLiteral("Ctrl+Shift+X"), tr("Stop the selected sale for good"),
             QStyle::SP_MediaStop, [this] { stopSale(); });
    m_adjust = make(tr("Ad&just stock…"), QStringLiteral("Ctrl+J"),
                    tr("Add or remove units of the selected sale"),
                    QStyle::SP_FileDialogDetailedView, [this] { openAdjustDialog(); });
    m_refresh = make(tr("Re&fresh"), QStringLiteral("F5"), tr("Reload the sales and the panels"),
                     QStyle::SP_BrowserReload, [this] {
                         refreshSales();
                         m_reconcile->refresh();
                         m_audit->refresh();
                         m_deadLetters->refresh();
                     });
    for (QAction *a : {m_newSale, m_pause, m_resume, m_stop, m_adjust, m_refresh})
        a->setObjectName(a->text().remove(QLatin1Char('&')).remove(QStringLiteral("…")).trimmed());
}

void MainWindow::buildLayout() {
    auto *consoleMenu = menuBar()->addMenu(tr("&Console"));
    QAction *connectAction =
        consoleMenu->addAction(tr("&Log in / connect…"), this, [this] { showConnectionDialog(); });
    connectAction->setShortcut(QKeySequence(QStringLiteral("Ctrl+L")));
    QAction *settingsAction =
        consoleMenu->addAction(tr("&Settings…"), this, &MainWindow::showSettingsDialog);
    settingsAction->setShortcut(QKeySequence(QStringLiteral("Ctrl+,")));
    consoleMenu->addSeparator();
    QAction *quit = consoleMenu->addAction(tr("&Quit"), this, &QWidget::close);
    quit->setShortcut(QKeySequence::Quit);

    auto *saleMenu = menuBar()->addMenu(tr("&Sale"));
    saleMenu->addActions({m_newSale, m_pause, m_resume, m_stop, m_adjust});
    saleMenu->addSeparator();
    saleMenu->addAction(m_refresh);

    auto *toolbar = addToolBar(tr("Sale actions"));
    toolbar->setObjectName(QStringLiteral("saleToolbar"));
    toolbar->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
    toolbar->setIconSize(QSize(16, 16));
    toolbar->addActions({m_newSale, m_pause, m_resume, m_stop, m_adjust});
    toolbar->addSeparator();
    toolbar->addAction(m_refresh);

    m_salesView = new QTableView;
    m_salesView->setObjectName(QStringLiteral("salesView"));
    m_salesView->setModel(m_sales);
    m_salesView->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_salesView->setSelectionMode(QAbstractItemView::SingleSelection);
    m_salesView->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_salesView->setAlternatingRowColors(true);
    m_salesView->verticalHeader()->hide();
    m_salesView->verticalHeader()->setDefaultSectionSize(fontMetrics().height() + 6);
    m_salesView->horizontalHeader()->setStretchLastSection(false);
    m_salesView->horizontalHeader()->setSectionResizeMode(SalesModel::Name, QHeaderView::Stretch);
    m_salesView->setColumnWidth(SalesModel::Id, 50);
    m_salesView->setColumnWidth(SalesModel::State, 130);
    m_salesView->setColumnWidth(SalesModel::Starts, 140);
    m_salesView->setColumnWidth(SalesModel::Ends, 140);
    for (int c : {SalesModel::Stock, SalesModel::Sold, SalesModel::Held, SalesModel::Remaining})
        m_salesView->setColumnWidth(c, 80);
    m_salesView->setContextMenuPolicy(Qt::ActionsContextMenu);
    m_salesView->addActions({m_pause, m_resume, m_stop, m_adjust});
    auto *separator = new QAction(this);
    separator->setSeparator(true);
    m_salesView->addActions({separator, m_newSale, m_refresh});
    connect(m_salesView->selectionModel(), &QItemSelectionModel::selectionChanged, this,
            &MainWindow::onSelectionChanged);
    connect(m_sales, &QAbstractItemModel::dataChanged, this, &MainWindow::updateActions);

    m_dashboard = new DashboardWidget(m_history, m_alerts);
    m_reconcile = new ReconcilePanel(m_client);
    m_audit = new AuditPanel(m_client);
    m_tabs = new QTabWidget;
    m_tabs->setObjectName(QStringLiteral("tabs"));
    m_tabs->addTab(m_dashboard, tr("&Dashboard"));
    m_tabs->addTab(m_reconcile, tr("Re&conciliation"));
    m_tabs->addTab(m_audit, tr("&Audit log"));
    // H4 merchant webhooks (issue 19)
    m_webhooks = new WebhooksPanel(m_client);
    m_tabs->addTab(m_webhooks, tr("Merchant &webhooks"));
    // issue 20: the order streams' dead letters
    m_deadLetters = new DeadLettersPanel(m_client);
    m_tabs->addTab(m_deadLetters, tr("Dead &letters"));
    // issue 16: the selected sale's waiting room
    m_waitingRoom = new WaitingRoomPanel(m_client);
    m_tabs->addTab(m_waitingRoom, tr("Waiting r&oom"));
    for (int i = 0; i < m_tabs->count(); ++i) {
        auto *a = new QAction(this);
        a->setShortcut(QKeySequence(QStringLiteral("Ctrl+%1").arg(i + 1)));
        connect(a, &QAction::triggered, this, [this, i] { m_tabs->setCurrentIndex(i); });
        addAction(a);
        m_tabs->setTabToolTip(i, tr("Ctrl+%1").arg(i + 1));
    }

    m_splitter = new QSplitter(Qt::Vertical);
    m_splitter->setObjectName(QStringLiteral("mainSplitter"));
    m_splitter->addWidget(m_salesView);
    m_splitter->addWidget(m_tabs);
    m_splitter->setStretchFactor(0, 1);
    m_splitter->setStretchFactor(1, 3);
    m_splitter->setSizes({120, 560});
    setCentralWidget(m_splitter);

    auto *help = menuBar()->addMenu(tr("&Help"));
    help->addAction(tr("&Keyboard shortcuts"), this, &MainWindow::showShortcuts)
        ->setShortcut(QKeySequence::HelpContents);

    m_stateLabel = new QLabel;
    m_stateLabel->setObjectName(QStringLiteral("connectionState"));
    m_clockLabel = new QLabel;
    m_clockLabel->setObjectName(QStringLiteral("clock"));
    m_clockLabel->setToolTip(tr("The server's clock minus this computer's, and the round trip of "
                                "the last ping (every %1 s)")
                                 .arg(ConnectionStatus::kPingIntervalMs / 1000));
    m_operatorLabel = new QLabel;
    m_operatorLabel->setObjectName(QStringLiteral("operator"));
    statusBar()->addPermanentWidget(m_clockLabel);
    statusBar()->addPermanentWidget(m_operatorLabel);
    statusBar()->addPermanentWidget(m_stateLabel);
    resize(1366, 768);
}

void MainWindow::connectTo(const QUrl &url, const admin::AdminClient::Credentials &credentials,
                           const QString &caFile) {
    m_client->close();
    m_gate->clear();
    m_client->setCaFile(caFile);
    m_status->restarted();
    m_client->open(url, credentials);
    updateTitle();
}

void MainWindow::start(const QString &envToken) {
    m_envToken = envToken;
    const QString legacy = ConsoleSettings::takeLegacyToken();
    if (legacy.isEmpty()) {
        readStoredSecret(envToken);
        return;
    }
    // The older console kept the admin token in clear text in the settings file; it is gone
    // from there now. It was the admin token, so it becomes the bootstrap login.
    m_settings.bootstrap = true;
    m_settings.save();
    const auto url = ConsoleSettings::resolveAdminUrl(m_settings.url);
    const QString account = CredentialStore::account({}, url ? url->authority() : m_settings.url);
    m_keychain->write(
        account, legacy, this, [this, legacy, envToken](const CredentialStore::Outcome &o) {
            if (o.status == CredentialStore::Status::Ok) {
                setKeychainNote({});
                statusBar()->showMessage(tr("The admin token moved from the settings file into the "
                                            "system keychain."),
                                         10000);
                readStoredSecret(envToken);
                return;
            }
            // Removed from the file all the same: used for this session only.
            setKeychainNote(tr("The admin token was removed from the settings "
                               "file. %1")
                                .arg(describeKeychainFailure(o, false)));
            readStoredSecret(legacy);
        });
}

void MainWindow::readStoredSecret(const QString &envToken) {
    const auto url = ConsoleSettings::resolveAdminUrl(m_settings.url);
    if (!url || (!m_settings.bootstrap && m_settings.operatorName.isEmpty())) {
        showConnectionDialog();
        return;
    }
    const QString account = CredentialStore::account(
        m_settings.bootstrap ? QString() : m_settings.operatorName, url->authority());
    m_keychain->read(
        account, this, [this, url = *url, envToken](const CredentialStore::Outcome &o) {
            QString secret = o.status == CredentialStore::Status::Ok ? o.secret : QString();
            if (secret.isEmpty() && m_settings.bootstrap)
                secret = envToken;
            if (secret.isEmpty()) {
                const bool quiet = o.status == CredentialStore::Status::Ok
                                   || o.status == CredentialStore::Status::NotFound;
                showConnectionDialog(quiet ? QString() : describeKeychainFailure(o, true), false);
                return;
            }
            admin::AdminClient::Credentials credentials;
            if (m_settings.bootstrap)
                credentials.token = secret;
            else {
                credentials.operatorName = m_settings.operatorName;
                credentials.password = secret;
            }
            connectTo(url, credentials, m_settings.caFile);
        });
}

void MainWindow::onHello() {
    m_gate->setLogin(m_client->operatorName(), m_client->role(),
                     [this](Op op) { return m_client->allows(op); });
    if (m_pendingSecret.isEmpty())
        return;
    const QString account = m_pendingAccount;
    const QString secret = m_pendingSecret;
    m_pendingAccount.clear();
    m_pendingSecret.clear();
    storeSecret(account, secret);
}

void MainWindow::storeSecret(const QString &account, const QString &secret) {
    m_keychain->write(account, secret, this, [this](const CredentialStore::Outcome &o) {
        if (o.status == CredentialStore::Status::Ok) {
            setKeychainNote({});
            statusBar()->showMessage(tr("Logged in; the password is stored in the system "
                                        "keychain for the next start."),
                                     10000);
            return;
        }
        setKeychainNote(describeKeychainFailure(o, false));
    });
}

void MainWindow::setKeychainNote(const QString &note) {
    m_keychainNote = note;
    if (!note.isEmpty())
        statusBar()->showMessage(note, 30000);
    updateTitle();
}

void MainWindow::onRefused(int status, const QString &message) {
    if (m_closing)
        return;
    m_pendingAccount.clear();
    m_pendingSecret.clear();
    QString why;
    if (status == 0)
        why = message; // AdminClient's own refusal, e.g. credentials over ws:// to a remote host
    else if (status == 401)
        why = tr("The server refused the name and password, or the token (HTTP 401).");
    else if (status == 429)
        why = tr("Too many failed logins from this address: wait a minute, then try again (HTTP "
                 "429).");
    else
        why = tr("The server refused the login (HTTP %1): %2").arg(status).arg(message);
    statusBar()->showMessage(why, 30000);
    showConnectionDialog(why);
}

void MainWindow::updateTitle() {
    const QString where = m_client->url().authority();
    QString who;
    if (m_gate->known()) {
        who = tr("%1 (%2)").arg(m_gate->operatorName(), m_gate->role());
        m_operatorLabel->setText(
            tr(" Logged in as %1 · %2 ").arg(m_gate->operatorName(), m_gate->role()));
        m_operatorLabel->setToolTip(
            tr("The server confirmed this operator and role; actions the "
               "role may not call are greyed out.%1")
                .arg(m_keychainNote.isEmpty() ? QString() : QStringLiteral("\n") + m_keychainNote));
    } else {
        const bool trying = !where.isEmpty() && m_status->kind() != ConnectionStatus::Kind::Refused
                            && m_status->kind() != ConnectionStatus::Kind::Disconnected;
        m_operatorLabel->setText(trying ? tr(" Logging in… ") : tr(" Not logged in "));
        m_operatorLabel->setToolTip(m_keychainNote);
    }
    if (where.isEmpty())
        setWindowTitle(tr("Flash-sale console"));
    else if (who.isEmpty())
        setWindowTitle(tr("Flash-sale console — %1").arg(where));
    else
        setWindowTitle(tr("Flash-sale console — %1 @ %2").arg(who, where));
}

void MainWindow::updateStatus() {
    using Kind = ConnectionStatus::Kind;
    const Kind kind = m_status->kind();
    m_stateLabel->setText(QStringLiteral(" ● ") + m_status->stateText() + QLatin1Char(' '));
    const char *color = kind == Kind::Connected      ? "#1b7f2a"
                        : kind == Kind::Refused      ? "#b00020"
                        : kind == Kind::Reconnecting ? "#b36b00"
                                                     : "#555555";
    m_stateLabel->setStyleSheet(
        QStringLiteral("color: %1; font-weight: bold").arg(QLatin1String(color)));
    m_clockLabel->setText(m_status->clockText());
}

void MainWindow::onState(AdminClient::State state) {
    if (m_closing)
        return;
    if (state == AdminClient::State::Connected)
        onHello(); // AdminClient is Connected only once the server's hello named the operator
    updateActions();
    if (state != AdminClient::State::Connected)
        return;
    refreshSales();
    if (m_saleId)
        subscribe(m_saleId);
    m_reconcile->refresh();
    m_audit->refresh();
    m_webhooks->refresh(); // H4
    m_deadLetters->refresh();
    m_waitingRoom->refresh();
}

void MainWindow::refreshSales() {
    m_client->request(
        Op::SaleList, {{QStringLiteral("limit"), 500}},
        [self = QPointer(this)](const AdminClient::Reply &r) {
            if (!self || self->m_closing)
                return;
            if (!r.ok) {
                self->statusBar()->showMessage(
                    tr("Could not load the sales: %1").arg(formatFailure(r.failure)), 10000);
                return;
            }
            self->m_sales->setSales(r.result.value(QStringLiteral("sales")).toArray());
            // The reset dropped the selection; put it back.
            if (self->m_selectOnLoad && self->selectSale(self->m_selectOnLoad))
                self->m_selectOnLoad = 0;
            else if (self->m_saleId && !self->selectSale(self->m_saleId))
                self->follow(0);
            self->updateActions();
        });
}

bool MainWindow::selectSale(qint64 saleId) {
    const int row = m_sales->rowOf(saleId);
    if (row < 0)
        return false;
    m_salesView->selectRow(row);
    return true;
}

void MainWindow::onSelectionChanged() {
    const QModelIndexList rows = m_salesView->selectionModel()->selectedRows();
    const qint64 id =
        rows.isEmpty() ? 0 : m_sales->data(rows.first(), SalesModel::SaleIdRole).toLongLong();
    if (id == 0 && m_saleId && m_sales->rowOf(m_saleId) >= 0)
        return; // a model reset; refreshSales() selects it again
    if (id != m_saleId)
        follow(id);
    updateActions();
}

void MainWindow::follow(qint64 saleId) {
    const qint64 previous = m_saleId;
    m_saleId = saleId;
    if (previous && m_client->state() == AdminClient::State::Connected)
        m_client->request(Op::StatsUnsubscribe, {{QStringLiteral("sale_id"), previous}}, {});
    m_history->reset(saleId);
    m_alerts->reset();
    const QJsonObject sale = m_sales->saleById(saleId);
    m_dashboard->setSale(sale);
    m_reconcile->setSale(sale);
    m_audit->setSaleId(saleId);
    m_waitingRoom->setSale(sale);
    if (saleId)
        subscribe(saleId);
    updateActions();
}

void MainWindow::subscribe(qint64 saleId) {
    if (m_client->state() != AdminClient::State::Connected)
        return;
    m_client->request(Op::StatsSubscribe,
                      {{QStringLiteral("sale_id"), saleId},
                       {QStringLiteral("interval_ms"), m_settings.statsIntervalMs}},
                      [self = QPointer(this), saleId](const AdminClient::Reply &r) {
                          if (!self || self->m_closing || r.ok)
                              return;
                          if (r.failure.code != AdminError::Disconnected)
                              self->statusBar()->showMessage(
                                  tr("Live stats of sale %1 unavailable: %2")
                                      .arg(saleId)
                                      .arg(formatFailure(r.failure)),
                                  10000);
                      });
}

void MainWindow::onEvent(const QString &name, const QJsonObject &data) {
    if (m_closing)
        return;
    if (name == QLatin1String(admin::kEventStats)) {
        if (data.value(QStringLiteral("sale_id")).toInteger() != m_saleId)
            return;
        m_history->add(data);
        m_alerts->checkStats(data);
        m_sales->applyStats(data);
    } else if (name == QLatin1String(admin::kEventSale)) {
        m_sales->upsert(data);
        updateActions();
    } else if (name == QLatin1String(admin::kEventReconcile)) {
        m_reconcile->onReconcileEvent(data);
    } else if (name == QLatin1String(admin::kEventAudit)) {
        m_audit->onAuditEvent(data);
    }
}

void MainWindow::updateActions() {
    const bool connected = m_client->state() == AdminClient::State::Connected;
    const QJsonObject sale = m_sales->saleById(m_saleId);
    const QString state = sale.value(QStringLiteral("state")).toString();
    const bool has = !sale.isEmpty();
    // New sale stays enabled offline: the dialog keeps its input until the link is back.
    m_gate->setEnabled(m_newSale, true);
    m_gate->setEnabled(m_pause, connected && has && state == QLatin1String("active"));
    m_gate->setEnabled(m_resume, connected && has && state == QLatin1String("paused"));
    m_gate->setEnabled(m_stop, connected && has && state != QLatin1String("stopped"));
    m_gate->setEnabled(m_adjust, has && state != QLatin1String("stopped"));
    m_refresh->setEnabled(connected);
}

void MainWindow::pauseSale() {
    changeState(Op::SalePause, tr("paused"),
                tr("Pause sale %1 \"%2\"?\n\nBuyers are refused until it is resumed."));
}

void MainWindow::resumeSale() {
    changeState(Op::SaleResume, tr("resumed"), tr("Resume sale %1 \"%2\"?"));
}

void MainWindow::stopSale() {
    changeState(Op::SaleStop, tr("stopped"),
                tr("Stop sale %1 \"%2\" for good?\n\nA stopped sale cannot be resumed."));
}

void MainWindow::changeState(Op op, const QString &verb, const QString &question) {
    const QJsonObject sale = m_sales->saleById(m_saleId);
    if (sale.isEmpty())
        return;
    const qint64 id = m_saleId;
    const QString name = sale.value(QStringLiteral("name")).toString();
    confirmThen(this, tr("Sale %1").arg(id), question.arg(id).arg(name), [this, op, id, verb] {
        if (m_closing)
            return;
        statusBar()->showMessage(tr("Sending %1 for sale %2…").arg(admin::opName(op)).arg(id));
        m_client->request(
            op, {{QStringLiteral("sale_id"), id}},
            [self = QPointer(this), id, verb, op](const AdminClient::Reply &r) {
                if (!self || self->m_closing)
                    return;
                if (!r.ok) {
                    self->statusBar()->showMessage(formatFailure(r.failure), 10000);
                    showOutcome(self, tr("Sale %1").arg(id),
                                tr("%1 failed.").arg(admin::opName(op)), &r.failure);
                    return;
                }
                const QJsonObject sale = r.result.value(QStringLiteral("sale")).toObject();
                self->m_sales->upsert(sale);
                self->updateActions();
                self->statusBar()->showMessage(
                    tr("Sale %1 %2: now %3 / %4.")
                        .arg(id)
                        .arg(verb, sale.value(QStringLiteral("state")).toString(),
                             sale.value(QStringLiteral("phase")).toString()),
                    10000);
                showOutcome(self, tr("Sale %1").arg(id),
                            tr("Sale %1 %2. State: %3, phase: %4.")
                                .arg(id)
                                .arg(verb, sale.value(QStringLiteral("state")).toString(),
                                     sale.value(QStringLiteral("phase")).toString()));
            });
    });
}

SaleDialog *MainWindow::openSaleDialog() {
    if (!m_saleDialog) {
        m_saleDialog = new SaleDialog(this);
        m_saleDialog->setAttribute(Qt::WA_DeleteOnClose);
        connect(m_saleDialog, &SaleDialog::submitted, this, &MainWindow::sendSale);
    }
    m_saleDialog->setClockSkewMs(m_client->serverSkewMs());
    m_saleDialog->show();
    m_saleDialog->raise();
    m_saleDialog->activateWindow();
    return m_saleDialog;
}

SaleDialog *MainWindow::saleDialog() const {
    return m_saleDialog;
}

void MainWindow::sendSale(Op op, const QJsonObject &args) {
    QPointer<SaleDialog> dialog = m_saleDialog;
    const bool schedule = op == Op::ScheduleCreate;
    const QString what = schedule ? tr("the schedule \"%1\"") : tr("the sale \"%1\"");
    confirmThen(
        dialog, schedule ? tr("Create schedule") : tr("Create sale"),
        tr("Create %1?").arg(what.arg(args.value(QStringLiteral("name")).toString())),
        [self = QPointer(this), dialog, op, args, schedule] {
            if (!self || self->m_closing || !dialog)
                return;
            self->m_client->request(
                op, args, [self, dialog, schedule](const AdminClient::Reply &r) {
                    if (!self || self->m_closing)
                        return;
                    if (dialog)
                        dialog->answered(r.ok, r.failure);
                    if (!r.ok) {
                        self->statusBar()->showMessage(formatFailure(r.failure), 10000);
                        return;
                    }
                    if (schedule) {
                        const QJsonObject s = r.result.value(QStringLiteral("schedule")).toObject();
                        showOutcome(self, tr("Schedule created"),
                                    tr("Schedule %1 \"%2\" created; first sale at %3.")
                                        .arg(formatCell(s.value(QStringLiteral("id"))),
                                             s.value(QStringLiteral("name")).toString(),
                                             formatTime(s.value(QStringLiteral("next_start")))));
                        return;
                    }
                    const QJsonObject sale = r.result.value(QStringLiteral("sale")).toObject();
                    self->m_sales->upsert(sale);
                    self->selectSale(sale.value(QStringLiteral("id")).toInteger());
                    self->statusBar()->showMessage(
                        tr("Sale %1 created (%2).")
                            .arg(formatCell(sale.value(QStringLiteral("id"))),
                                 sale.value(QStringLiteral("phase")).toString()),
                        10000);
                    showOutcome(self, tr("Sale created"),
                                tr("Sale %1 \"%2\" created: %3, from %4 to %5, stock %6.")
                                    .arg(formatCell(sale.value(QStringLiteral("id"))),
                                         sale.value(QStringLiteral("name")).toString(),
                                         sale.value(QStringLiteral("phase")).toString(),
                                         formatTime(sale.value(QStringLiteral("starts_at"))),
                                         formatTime(sale.value(QStringLiteral("ends_at"))),
                                         formatCell(sale.value(QStringLiteral("stock")))));
                });
        },
        [dialog] {
            if (dialog) // said no: the dialog stays as it was
                dialog->notSent();
        });
}

AdjustDialog *MainWindow::openAdjustDialog() {
    const QJsonObject sale = m_sales->saleById(m_saleId);
    if (sale.isEmpty())
        return nullptr;
    if (m_adjustDialog && m_adjustDialog->saleId() != m_saleId)
        m_adjustDialog->close();
    if (!m_adjustDialog) {
        m_adjustDialog = new AdjustDialog(sale, this);
        m_adjustDialog->setAttribute(Qt::WA_DeleteOnClose);
        connect(m_adjustDialog, &AdjustDialog::submitted, this, &MainWindow::sendAdjust);
        if (sale.value(QStringLiteral("item_count")).toInteger(1) > 1) {
            QPointer<AdjustDialog> dialog = m_adjustDialog;
            m_client->request(Op::SaleGet, {{QStringLiteral("sale_id"), m_saleId}},
                              [dialog](const AdminClient::Reply &r) {
                                  if (dialog && r.ok)
                                      dialog->setItems(r.result.value(QStringLiteral("sale"))
                                                           .toObject()
                                                           .value(QStringLiteral("items"))
                                                           .toArray());
                              });
        }
    }
    m_adjustDialog->show();
    m_adjustDialog->raise();
    return m_adjustDialog;
}

void MainWindow::sendAdjust(const QJsonObject &args) {
    QPointer<AdjustDialog> dialog = m_adjustDialog;
    const qint64 delta = args.value(QStringLiteral("delta")).toInteger();
    const qint64 id = args.value(QStringLiteral("sale_id")).toInteger();
    confirmThen(
        dialog, tr("Adjust stock"),
        delta > 0 ? tr("Add %1 unit(s) to sale %2?").arg(delta).arg(id)
                  : tr("Remove %1 unit(s) from sale %2?").arg(-delta).arg(id),
        [self = QPointer(this), dialog, args, id] {
            if (!self || self->m_closing || !dialog)
                return;
            self->m_client->request(
                Op::SaleAdjust, args, [self, dialog, id](const AdminClient::Reply &r) {
                    if (!self || self->m_closing)
                        return;
                    if (dialog)
                        dialog->answered(r.ok, r.failure);
                    if (!r.ok)
                        return;
                    const QJsonObject &a = r.result;
                    showOutcome(self, tr("Stock adjusted"),
                                tr("Sale %1, item %2: stock %3 → %4, remaining %5 → %6.")
                                    .arg(id)
                                    .arg(formatCell(a.value(QStringLiteral("item_id"))),
                                         formatCell(a.value(QStringLiteral("stock_before"))),
                                         formatCell(a.value(QStringLiteral("stock_after"))),
                                         formatCell(a.value(QStringLiteral("remaining_before"))),
                                         formatCell(a.value(QStringLiteral("remaining_after")))));
                    // The "sale" event brings the new totals; ask now so the table does not
                    // wait.
                    self->refreshSales();
                });
        },
        [dialog] {
            if (dialog)
                dialog->notSent();
        });
}

ConnectionDialog *MainWindow::showConnectionDialog(const QString &message, bool error) {
    if (!m_connectionDialog) {
        // Kept for the window's life (not deleted on close): a refusal may reopen it from
        // inside its own accepted() handler.
        m_connectionDialog = new ConnectionDialog(this);
        QPointer<ConnectionDialog> dialog = m_connectionDialog;
        connect(dialog, &QDialog::accepted, this, [this, dialog] {
            if (!dialog)
                return;
            m_settings = dialog->applyTo(m_settings);
            m_settings.save(); // no secret in it
            admin::AdminClient::Credentials credentials;
            if (dialog->bootstrap())
                credentials.token = dialog->secret();
            else {
                credentials.operatorName = dialog->operatorName();
                credentials.password = dialog->secret();
            }
            const QUrl url = dialog->resolvedUrl();
            m_pendingAccount = CredentialStore::account(credentials.operatorName, url.authority());
            m_pendingSecret = dialog->remember() ? dialog->secret() : QString();
            dialog->setValues(m_settings, {}); // the dialog keeps no secret once it is used
            // The secret waits in m_pendingSecret for the server's hello (onHello).
            connectTo(url, credentials, m_settings.caFile);
        });
    }
    if (!m_connectionDialog->isVisible()) {
        // Nobody logged in from here yet but the environment has the bootstrap token (the
        // local stack's stack.env): offer that, filled in, rather than an empty operator form.
        ConsoleSettings shown = m_settings;
        if (shown.operatorName.isEmpty() && !m_envToken.isEmpty())
            shown.bootstrap = true;
        m_connectionDialog->setValues(shown, shown.bootstrap ? m_envToken : QString());
    }
    m_connectionDialog->setMessage(message, error);
    m_connectionDialog->open();
    m_connectionDialog->raise();
    return m_connectionDialog;
}

ConnectionDialog *MainWindow::connectionDialog() const {
    return m_connectionDialog;
}

void MainWindow::showSettingsDialog() {
    auto *dialog = new SettingsDialog(m_settings, this);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    connect(dialog, &QDialog::accepted, this, [this, dialog] {
        const int interval = m_settings.statsIntervalMs;
        m_settings = dialog->values();
        m_settings.save();
        m_alerts->setThresholds(m_settings.thresholds);
        m_dashboard->setThresholds(m_settings.thresholds);
        if (interval != m_settings.statsIntervalMs && m_saleId)
            subscribe(m_saleId); // subscribing again changes the interval
    });
    dialog->open();
}

void MainWindow::showShortcuts() {
    auto *box = new QMessageBox(QMessageBox::Information, tr("Keyboard shortcuts"),
                                tr("<table>"
                                   "<tr><td><b>Ctrl+N</b></td><td>New sale or schedule</td></tr>"
                                   "<tr><td><b>Ctrl+P</b></td><td>Pause the selected sale</td></tr>"
                                   "<tr><td><b>Ctrl+R</b></td><td>Resume it</td></tr>"
                                   "<tr><td><b>Ctrl+Shift+X</b></td><td>Stop it</td></tr>"
                                   "<tr><td><b>Ctrl+J</b></td><td>Adjust its stock</td></tr>"
                                   "<tr><td><b>F5</b></td><td>Refresh</td></tr>"
                                   "<tr><td><b>Ctrl+1 / 2 / 3 / 4 / 5 / 6</b></td><td>"
                                   "Dashboard, Reconciliation, Audit log, Merchant webhooks, "
                                   "Dead letters, Waiting room</td></tr>"
                                   "<tr><td><b>Ctrl+Shift+D</b></td><td>Reconciliation dry "
                                   "run</td></tr>"
                                   "<tr><td><b>Ctrl+L</b></td><td>Connect to a server</td></tr>"
                                   "<tr><td><b>Ctrl+,</b></td><td>Settings (thresholds)</td></tr>"
                                   "<tr><td><b>Ctrl+Q</b></td><td>Quit</td></tr></table>"),
                                QMessageBox::Ok, this);
    box->setAttribute(Qt::WA_DeleteOnClose);
    box->open();
}

void MainWindow::saveLayout() const {
    QSettings s;
    s.setValue(QStringLiteral("layout/geometry"), saveGeometry());
    s.setValue(QStringLiteral("layout/state"), saveState());
    s.setValue(QStringLiteral("layout/main"), m_splitter->saveState());
    s.setValue(QStringLiteral("layout/salesHeader"), m_salesView->horizontalHeader()->saveState());
    s.setValue(QStringLiteral("layout/tab"), m_tabs->currentIndex());
    m_dashboard->saveLayout();
    m_reconcile->saveLayout();
}

void MainWindow::restoreLayout() {
    QSettings s;
    restoreGeometry(s.value(QStringLiteral("layout/geometry")).toByteArray());
    restoreState(s.value(QStringLiteral("layout/state")).toByteArray());
    m_splitter->restoreState(s.value(QStringLiteral("layout/main")).toByteArray());
    m_salesView->horizontalHeader()->restoreState(
        s.value(QStringLiteral("layout/salesHeader")).toByteArray());
    m_tabs->setCurrentIndex(s.value(QStringLiteral("layout/tab"), 0).toInt());
    m_dashboard->restoreLayout();
    m_reconcile->restoreLayout();
}

void MainWindow::closeEvent(QCloseEvent *event) {
    saveLayout();
    QMainWindow::closeEvent(event);
}

} // namespace flashsale::console
