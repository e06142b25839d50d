// The merchandiser console (flashsale-console) driven through its widgets against the real
// flashsale-server, Redis and PostgreSQL: logging in as an operator (the role shown, what it may
// not do greyed out, `forbidden` shown, no secret left in the settings file, an old clear-text
// token moved out of it, credentials never sent over ws:// to a remote host), creating a sale
// from the dialog, the live dashboard while bookings arrive, reconciliation (dry run, drift,
// repair), the audit log, local validation of the sale dialog, and a dropped link that keeps a
// half-filled dialog.

#include "adjustdialog.h"
#include "alertsmodel.h"
#include "auditmodel.h"
#include "auditpanel.h"
#include "connectiondialog.h"
#include "connectionstatus.h"
#include "consolesettings.h"
#include "credentialstore.h"
#include "dashboardwidget.h"
#include "mainwindow.h"
#include "protocol/adminclient.h"
#include "providerreconcilebox.h"
#include "rawhttp.h"
#include "reconcilechecksmodel.h"
#include "reconcilepanel.h"
#include "reconcilerunsmodel.h"
#include "rolegate.h"
#include "saledialog.h"
#include "salesmodel.h"
#include "statshistory.h"
#include "testservers.h"
#include "timechart.h"

#include <QAction>
#include <QComboBox>
#include <QDateTimeEdit>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFile>
#include <QGroupBox>
#include <QJsonArray>
#include <QJsonDocument>
#include <QLabel>
#include <QLineEdit>
#include <QLineSeries>
#include <QMessageBox>
#include <QNetworkInterface>
#include <QProcess>
#include <QProgressBar>
#include <QPushButton>
#include <QRadioButton>
#include <QSettings>
#include <QSignalSpy>
#include <QSpinBox>
#include <QSslCertificate>
#include <QSslConfiguration>
#include <QSslKey>
#include <QStandardItemModel>
#include <QStandardPaths>
#include <QStatusBar>
#include <QTableView>
#include <QTableWidget>
#include <QTcpServer>
#include <QTemporaryDir>
#include <QTest>
#include <QWebSocket>
#include <QWebSocketServer>

#include <array>

using namespace flashsale;
using namespace flashsale::admin;
using namespace flashsale::console;
using namespace flashsale::test;

namespace {

// The visible confirmation box under `root`, or null.
QMessageBox *confirmBox(QWidget *root) {
    for (QMessageBox *box : root->findChildren<QMessageBox *>(QStringLiteral("confirmBox")))
        if (box->isVisible())
            return box;
    return nullptr;
}

// Answers the confirmation that must appear under `root`.
bool answer(QWidget *root, QMessageBox::StandardButton button) {
    if (!QTest::qWaitFor([root] { return confirmBox(root) != nullptr; }, 5000))
        return false;
    confirmBox(root)->button(button)->click();
    return true;
}

void closeOutcomes(QWidget *root) {
    for (QMessageBox *box : root->findChildren<QMessageBox *>(QStringLiteral("outcomeBox")))
        box->close();
}

// The operators the suite logs in as, one per role; made through the bootstrap token.
struct TestOperator {
    const char *name;
    const char *role;
    const char *password;
};
constexpr TestOperator kAdmin{"ops-admin", "admin", "admin-pass-7f3a9c2e1b"};
constexpr TestOperator kMerchandiser{"ops-merch", "merchandiser", "merch-pass-4d8e2a6f0c"};
constexpr TestOperator kViewer{"ops-view", "viewer", "viewer-pass-9b1c5e7a3d"};

AdminClient::Credentials credentialsOf(const TestOperator &o) {
    return {QString::fromLatin1(o.name), QString::fromLatin1(o.password), {}};
}

// The settings file as it is on disk.
QByteArray settingsFile() {
    QSettings s;
    s.sync();
    QFile f(s.fileName());
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

QMessageBox *visibleOutcome(QWidget *root, const QString &containing) {
    for (auto *box : root->findChildren<QMessageBox *>(QStringLiteral("outcomeBox")))
        if (box->isVisible() && box->text().contains(containing))
            return box;
    return nullptr;
}

} // namespace

class TestConsole : public QObject {
    Q_OBJECT

private:
    RedisServer m_redisServer;
    PgDatabase m_db;
    Backend m_backend;
    QHash<QString, QString> m_env;
    std::unique_ptr<AdminClient> m_admin; // for setting up, beside the console
    std::unique_ptr<MainWindow> m_window;
    qint64 m_preexisting = 0;
    qint64 m_created = 0; // the sale created through the dialog

    QUrl adminUrl() const {
        return QUrl(QStringLiteral("ws://127.0.0.1:%1/admin/v1/ws").arg(m_backend.port()));
    }

    AdminClient::Reply call(Op op, const QJsonObject &args) {
        std::optional<AdminClient::Reply> reply;
        m_admin->request(op, args, [&reply](const AdminClient::Reply &r) { reply = r; });
        (void)QTest::qWaitFor([&reply] { return reply.has_value(); }, 10000);
        return reply.value_or(AdminClient::Reply{});
    }

    HttpResponse book(qint64 sale, const QString &user) {
        return postJson(m_backend.port(), "/api/v1/sales/" + QByteArray::number(sale) + "/book",
                        QJsonObject{{"user_id", user}});
    }

    // A second console window logged in as `o`, with the pre-existing sale selected.
    std::unique_ptr<MainWindow> loginAs(const TestOperator &o) {
        auto w = std::make_unique<MainWindow>(ConsoleSettings::load(QProcessEnvironment()));
        w->resize(1366, 768);
        w->show();
        w->connectTo(adminUrl(), credentialsOf(o));
        if (!QTest::qWaitFor([&] { return w->client()->state() == AdminClient::State::Connected; },
                             10000))
            return nullptr;
        if (!QTest::qWaitFor([&] { return w->salesModel()->rowOf(m_preexisting) >= 0; }, 5000))
            return nullptr;
        if (!w->selectSale(m_preexisting))
            return nullptr;
        return w;
    }

    // keychainRemembersTheLoginWithASecretService, in the child with GNOME Keyring.
    void keychainChild() {
        QSettings().clear();
        // A login through the dialog stores the password in the keychain...
        auto first = std::make_unique<MainWindow>(ConsoleSettings::load(QProcessEnvironment()));
        first->show();
        ConnectionDialog *d = first->showConnectionDialog();
        d->findChild<QLineEdit *>("url")->setText(adminUrl().toString());
        d->findChild<QLineEdit *>("operator")->setText(QString::fromLatin1(kMerchandiser.name));
        d->findChild<QLineEdit *>("password")->setText(QString::fromLatin1(kMerchandiser.password));
        d->accept();
        QTRY_VERIFY_WITH_TIMEOUT(
            first->statusBar()->currentMessage().contains("stored in the system keychain"), 10000);
        QVERIFY2(first->keychainNote().isEmpty(), qPrintable(first->keychainNote()));
        QVERIFY(!settingsFile().contains(kMerchandiser.password));
        std::optional<CredentialStore::Outcome> stored;
        first->keychain()->read(CredentialStore::account(QString::fromLatin1(kMerchandiser.name),
                                                         adminUrl().authority()),
                                first.get(),
                                [&stored](const CredentialStore::Outcome &o) { stored = o; });
        QTRY_VERIFY_WITH_TIMEOUT(stored.has_value(), 10000);
        QCOMPARE(stored->status, CredentialStore::Status::Ok);
        QCOMPARE(stored->secret, QString::fromLatin1(kMerchandiser.password));
        first.reset();

        // ... and the next start logs in with it, asking nothing.
        auto next = std::make_unique<MainWindow>(ConsoleSettings::load(QProcessEnvironment()));
        next->show();
        next->start();
        QTRY_VERIFY_WITH_TIMEOUT(
            next->operatorLabel()->text().contains(QStringLiteral("ops-merch · merchandiser")),
            10000);
        QVERIFY(!next->connectionDialog());
        next.reset();

        // An old clear-text token moves into the keychain, out of the file.
        {
            QSettings s;
            s.setValue(QStringLiteral("connection/token"),
                       QString::fromLatin1(Backend::kAdminToken));
        }
        auto migrated = std::make_unique<MainWindow>(ConsoleSettings::load(QProcessEnvironment()));
        migrated->show();
        migrated->start();
        QTRY_VERIFY_WITH_TIMEOUT(
            migrated->operatorLabel()->text().contains(QStringLiteral("bootstrap · admin")), 10000);
        QVERIFY(!settingsFile().contains(Backend::kAdminToken));
        stored.reset();
        migrated->keychain()->read(CredentialStore::account({}, adminUrl().authority()),
                                   migrated.get(),
                                   [&stored](const CredentialStore::Outcome &o) { stored = o; });
        QTRY_VERIFY_WITH_TIMEOUT(stored.has_value(), 10000);
        QCOMPARE(stored->secret, QString::fromLatin1(Backend::kAdminToken));
    }

    SaleDialog *freshSaleDialog() {
        if (SaleDialog *old = m_window->saleDialog()) {
            old->close(); // deletes it later (Qt::WA_DeleteOnClose): now
            QCoreApplication::sendPostedEvents(nullptr, QEvent::DeferredDelete);
        }
        return m_window->openSaleDialog();
    }

    static QLabel *errorLabel(SaleDialog *d, const QString &pointer) {
        return d->findChild<QLabel *>(QStringLiteral("error:") + pointer);
    }

private Q_SLOTS:
    void initTestCase() {
        QStandardPaths::setTestModeEnabled(true);
        QCoreApplication::setOrganizationName(QStringLiteral("flashsale-test"));
        QCoreApplication::setApplicationName(QStringLiteral("tst_console"));
        QSettings().clear();

        QVERIFY2(m_redisServer.start(), qPrintable(m_redisServer.error()));
        QVERIFY2(m_db.create(), qPrintable(m_db.error()));
        m_env = {{"FLASHSALE_REDIS_URL", m_redisServer.url()},
                 {"FLASHSALE_PG_URL", m_db.url()},
                 {"FLASHSALE_STATS_FLUSH_MS", "100"},
                 {"FLASHSALE_HEARTBEAT_MS", "200"}};
        QVERIFY2(m_backend.start(m_env, {"--roles", "api,worker"}), qPrintable(m_backend.error()));
        QTRY_COMPARE_WITH_TIMEOUT(http(m_backend.port(), "GET", "/readyz").status, 200, 10000);

        m_admin = std::make_unique<AdminClient>();
        m_admin->open(adminUrl(), {{}, {}, QString::fromLatin1(Backend::kAdminToken)});
        QTRY_COMPARE_WITH_TIMEOUT(m_admin->state(), AdminClient::State::Connected, 5000);
        for (const TestOperator &o : {kAdmin, kMerchandiser, kViewer}) {
            const auto made = call(Op::OperatorCreate,
                                   {{"name", o.name}, {"role", o.role}, {"password", o.password}});
            QVERIFY2(made.ok, qPrintable(made.failure.message));
        }
        const auto r = call(Op::SaleCreate, {{"name", "Preexisting"},
                                             {"starts_at", rfc3339(-1000)},
                                             {"ends_at", rfc3339(3600000)},
                                             {"stock", 5},
                                             {"price_cents", 100}});
        QVERIFY2(r.ok, qPrintable(r.failure.message));
        m_preexisting = r.result.value("sale").toObject().value("id").toInteger();

        ConsoleSettings settings = ConsoleSettings::load(QProcessEnvironment());
        settings.statsIntervalMs = 250;
        m_window = std::make_unique<MainWindow>(settings);
        m_window->resize(1366, 768);
        m_window->show();
        m_window->connectTo(adminUrl(), credentialsOf(kAdmin));
    }

    void cleanupTestCase() {
        m_window.reset();
        m_admin.reset();
    }

    void connectShowsStateAndSales() {
        QTRY_VERIFY_WITH_TIMEOUT(
            m_window->stateLabel()->text().contains(QStringLiteral("connected to 127.0.0.1")),
            5000);
        QCOMPARE(m_window->connectionStatus()->kind(), ConnectionStatus::Kind::Connected);
        QTRY_VERIFY_WITH_TIMEOUT(m_window->salesModel()->rowOf(m_preexisting) >= 0, 5000);
        const int row = m_window->salesModel()->rowOf(m_preexisting);
        QCOMPARE(m_window->salesModel()->index(row, SalesModel::Name).data().toString(),
                 QStringLiteral("Preexisting"));
        QCOMPARE(m_window->salesModel()->index(row, SalesModel::Stock).data().toString(),
                 QStringLiteral("5"));
        // The ping on connect gives the clock skew and round trip.
        QTRY_VERIFY_WITH_TIMEOUT(
            m_window->clockLabel()->text().contains(QStringLiteral("round trip")), 5000);
    }

    void loggedInOperatorIsShown() {
        QTRY_VERIFY_WITH_TIMEOUT(
            m_window->operatorLabel()->text().contains(QStringLiteral("ops-admin · admin")), 5000);
        QVERIFY2(m_window->windowTitle().contains(QStringLiteral("ops-admin (admin) @ 127.0.0.1")),
                 qPrintable(m_window->windowTitle()));
    }

    void roleGreysOutWhatItMayNotDo_data() {
        QTest::addColumn<int>("who"); // 0 viewer, 1 merchandiser, 2 admin
        QTest::addColumn<QStringList>("enabled");
        QTest::addColumn<QStringList>("disabled");
        QTest::addColumn<QString>("needs"); // the tooltip of a disabled action
        QTest::addRow("viewer: no create, pause, stop, adjust or reconcile")
            << 0 << QStringList{"Refresh"} << QStringList{"New sale / schedule", "Pause",  "Stop",
                                                          "Adjust stock",        "dryRun", "repair"}
            << "you are viewer (ops-view)";
        QTest::addRow("merchandiser: no stop, no repair")
            << 1 << QStringList{"New sale / schedule", "Pause", "Adjust stock", "Refresh", "dryRun"}
            << QStringList{"Stop", "repair"} << "Needs the admin role; you are merchandiser";
        QTest::addRow("admin: everything") << 2 << QStringList{"New sale / schedule",
                                                               "Pause",
                                                               "Stop",
                                                               "Adjust stock",
                                                               "Refresh",
                                                               "dryRun",
                                                               "repair"}
                                           << QStringList{} << QString();
    }

    void roleGreysOutWhatItMayNotDo() {
        QFETCH(int, who);
        QFETCH(QStringList, enabled);
        QFETCH(QStringList, disabled);
        QFETCH(QString, needs);
        const TestOperator o = std::array{kViewer, kMerchandiser, kAdmin}[size_t(who)];
        std::unique_ptr<MainWindow> w = loginAs(o);
        QVERIFY(w);
        QVERIFY(w->operatorLabel()->text().contains(
            QStringLiteral("%1 · %2").arg(QLatin1String(o.name), QLatin1String(o.role))));
        QCOMPARE(w->salesModel()->saleById(m_preexisting).value("state").toString(),
                 QStringLiteral("active"));
        // An action is enabled when its QAction (menu, toolbar, context menu) or button is.
        const auto isEnabled = [&w](const QString &name) -> std::optional<bool> {
            if (auto *a = w->findChild<QAction *>(name))
                return a->isEnabled();
            if (auto *b = w->findChild<QPushButton *>(name))
                return b->isEnabled();
            return std::nullopt;
        };
        const auto toolTip = [&w](const QString &name) {
            if (auto *a = w->findChild<QAction *>(name))
                return a->toolTip();
            return w->findChild<QPushButton *>(name)->toolTip();
        };
        for (const QString &name : enabled)
            QVERIFY2(isEnabled(name) == true, qPrintable(name));
        for (const QString &name : disabled) {
            QVERIFY2(isEnabled(name) == false, qPrintable(name));
            QVERIFY2(toolTip(name).contains(needs), qPrintable(name + ": " + toolTip(name)));
            QVERIFY2(toolTip(name).contains(QStringLiteral("Needs the ")),
                     qPrintable(name + ": " + toolTip(name)));
        }
    }

    void forbiddenAnswerIsShownClearly() {
        std::unique_ptr<MainWindow> w = loginAs(kViewer);
        QVERIFY(w);
        // Greyed out for a viewer; called directly, as a window with a stale role would.
        w->pauseSale();
        QVERIFY(answer(w.get(), QMessageBox::Yes));
        QTRY_VERIFY_WITH_TIMEOUT(
            visibleOutcome(w.get(), QStringLiteral("Not allowed for your role")), 5000);
        QMessageBox *box = visibleOutcome(w.get(), QStringLiteral("Not allowed for your role"));
        QVERIFY2(box->informativeText().startsWith(QStringLiteral("forbidden")),
                 qPrintable(box->informativeText()));
        QVERIFY(w->statusBar()->currentMessage().startsWith(QStringLiteral("forbidden")));
        const auto sale = call(Op::SaleGet, {{"sale_id", m_preexisting}});
        QCOMPARE(sale.result.value("sale").toObject().value("state").toString(),
                 QStringLiteral("active"));
    }

    void loginDialogLeavesNoSecretInTheSettingsFile() {
        QSettings().clear();
        auto w = std::make_unique<MainWindow>(ConsoleSettings::load(QProcessEnvironment()));
        w->show();
        ConnectionDialog *d = w->showConnectionDialog();
        QVERIFY(d->isVisible());
        d->findChild<QLineEdit *>("url")->setText(adminUrl().toString());
        d->findChild<QRadioButton *>("asOperator")->setChecked(true);
        d->findChild<QLineEdit *>("operator")->setText(QString::fromLatin1(kMerchandiser.name));
        d->findChild<QLineEdit *>("password")->setText(QString::fromLatin1(kMerchandiser.password));
        d->accept();
        QVERIFY(!d->isVisible());
        QTRY_VERIFY_WITH_TIMEOUT(
            w->operatorLabel()->text().contains(QStringLiteral("ops-merch · merchandiser")), 10000);
        // The keychain has answered: stored, or said why not (no Secret Service here).
        QTRY_VERIFY_WITH_TIMEOUT(!w->keychainNote().isEmpty()
                                     || w->statusBar()->currentMessage().contains(
                                         QStringLiteral("stored in the system keychain")),
                                 10000);
        if (!w->keychainNote().isEmpty())
            QVERIFY2(w->keychainNote().contains(QStringLiteral("not stored")),
                     qPrintable(w->keychainNote()));
        // The password is not kept by the dialog either.
        QVERIFY(d->findChild<QLineEdit *>("password")->text().isEmpty());
        const QByteArray file = settingsFile();
        QVERIFY2(file.contains("ops-merch"), file.constData()); // the file was written
        QVERIFY2(!file.contains(kMerchandiser.password), file.constData());
        QVERIFY2(!file.contains("password") && !file.contains("token"), file.constData());
    }

    void firstStartOffersTheBootstrapTokenFromTheEnvironment() {
        QSettings().clear();
        auto w = std::make_unique<MainWindow>(ConsoleSettings::load(QProcessEnvironment()));
        w->show();
        w->start(QString::fromLatin1(Backend::kAdminToken)); // as FLASHSALE_ADMIN_TOKEN
        QTRY_VERIFY_WITH_TIMEOUT(w->connectionDialog() && w->connectionDialog()->isVisible(),
                                 10000);
        ConnectionDialog *d = w->connectionDialog();
        QVERIFY(d->findChild<QRadioButton *>("asBootstrap")->isChecked());
        QCOMPARE(d->findChild<QLineEdit *>("token")->text(),
                 QString::fromLatin1(Backend::kAdminToken));
        d->findChild<QLineEdit *>("url")->setText(adminUrl().toString());
        d->accept();
        QTRY_VERIFY_WITH_TIMEOUT(
            w->operatorLabel()->text().contains(QStringLiteral("bootstrap · admin")), 10000);
        QVERIFY(!settingsFile().contains(Backend::kAdminToken));
    }

    void oldClearTextTokenMovesOutOfTheSettingsFile() {
        {
            QSettings s; // as the console before operator accounts left it
            s.clear();
            s.setValue(QStringLiteral("connection/url"), adminUrl().toString());
            s.setValue(QStringLiteral("connection/token"),
                       QString::fromLatin1(Backend::kAdminToken));
            s.setValue(QStringLiteral("connection/actor"), QStringLiteral("tester"));
        }
        QVERIFY(settingsFile().contains(Backend::kAdminToken));
        auto w = std::make_unique<MainWindow>(ConsoleSettings::load(QProcessEnvironment()));
        w->show();
        w->start();
        // Used for this session (from the keychain, or from memory when there is none) as the
        // bootstrap login it always was.
        QTRY_VERIFY_WITH_TIMEOUT(
            w->operatorLabel()->text().contains(QStringLiteral("bootstrap · admin")), 10000);
        const QByteArray file = settingsFile();
        QVERIFY2(!file.contains(Backend::kAdminToken), file.constData());
        QVERIFY2(!file.contains("token") && !file.contains("tester"), file.constData());
        QVERIFY2(file.contains("bootstrap=true"), file.constData());
    }

    void noCredentialsOverPlainWsToARemoteHost() {
        // A listener on this machine's own non-loopback address: the console must not even
        // connect to it with ws://.
        QHostAddress remote;
        for (const QHostAddress &a : QNetworkInterface::allAddresses())
            if (a.protocol() == QAbstractSocket::IPv4Protocol && !a.isLoopback()) {
                remote = a;
                break;
            }
        if (remote.isNull())
            QSKIP("this machine has no non-loopback IPv4 address");
        QTcpServer listener;
        QVERIFY(listener.listen(remote));
        auto w = std::make_unique<MainWindow>(ConsoleSettings::load(QProcessEnvironment()));
        w->show();
        w->connectTo(QUrl(QStringLiteral("ws://%1:%2/admin/v1/ws")
                              .arg(remote.toString())
                              .arg(listener.serverPort())),
                     credentialsOf(kAdmin));
        QTRY_VERIFY_WITH_TIMEOUT(w->stateLabel()->text().contains(QStringLiteral("not sent")),
                                 5000);
        QCOMPARE(w->connectionStatus()->kind(), ConnectionStatus::Kind::Refused);
        QVERIFY2(w->operatorLabel()->text().contains(QStringLiteral("Not logged in")),
                 qPrintable(w->operatorLabel()->text()));
        // The login dialog is back, saying why.
        QVERIFY(w->connectionDialog() && w->connectionDialog()->isVisible());
        const auto *message = w->connectionDialog()->findChild<QLabel *>("message");
        QVERIFY2(message->isVisible() && message->text().contains(QStringLiteral("ws://")),
                 qPrintable(message->text()));
        QTest::qWait(500); // a wait on purpose: no connection may arrive in it
        QVERIFY(!listener.hasPendingConnections());
        QCOMPARE(w->client()->state(), AdminClient::State::Disconnected);
    }

    void wssTrustsTheCaFileAndNothingElse_data() {
        QTest::addColumn<bool>("withCaFile");
        QTest::addRow("a certificate from an unknown CA is refused") << false;
        QTest::addRow("the CA file verifies the server, then the login is sent") << true;
    }

    // A TLS WebSocket server with a certificate for 127.0.0.1 from a CA made here: without the
    // CA file the console refuses the certificate and sends nothing; with it, the handshake
    // reaches the server with the operator's Basic credentials.
    void wssTrustsTheCaFileAndNothingElse() {
        QFETCH(bool, withCaFile);
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const auto openssl = [&dir](const QStringList &args) {
            QProcess p;
            p.setWorkingDirectory(dir.path());
            p.setProcessChannelMode(QProcess::MergedChannels);
            p.start(QStringLiteral("openssl"), args);
            return p.waitForFinished(30000) && p.exitCode() == 0 ? QByteArray()
                                                                 : p.readAll() + " (openssl)";
        };
        QFile ext(dir.filePath(QStringLiteral("san.ext")));
        QVERIFY(ext.open(QIODevice::WriteOnly));
        ext.write("subjectAltName=IP:127.0.0.1\n");
        ext.close();
        for (const QStringList &args :
             {QStringList{"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
                          "-out", "ca.pem", "-days", "1", "-subj", "/CN=tst_console CA"},
              QStringList{"req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out",
                          "server.csr", "-subj", "/CN=127.0.0.1"},
              QStringList{"x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                          "-CAcreateserial", "-out", "server.pem", "-days", "1", "-extfile",
                          "san.ext"}}) {
            const QByteArray failed = openssl(args);
            QVERIFY2(failed.isEmpty(), failed.constData());
        }
        QSslConfiguration tls = QSslConfiguration::defaultConfiguration();
        tls.setLocalCertificateChain(QSslCertificate::fromPath(dir.filePath("server.pem")));
        QFile keyFile(dir.filePath(QStringLiteral("server.key")));
        QVERIFY(keyFile.open(QIODevice::ReadOnly));
        tls.setPrivateKey(QSslKey(keyFile.readAll(), QSsl::Rsa));
        tls.setPeerVerifyMode(QSslSocket::VerifyNone);
        QWebSocketServer server(QStringLiteral("tst_console"), QWebSocketServer::SecureMode);
        server.setSslConfiguration(tls);
        QVERIFY(server.listen(QHostAddress::LocalHost));
        QList<QByteArray> authorizations;
        connect(&server, &QWebSocketServer::newConnection, &server, [&] {
            while (QWebSocket *socket = server.nextPendingConnection()) {
                authorizations << socket->request().rawHeader("Authorization");
                socket->setParent(&server);
            }
        });

        auto w = std::make_unique<MainWindow>(ConsoleSettings::load(QProcessEnvironment()));
        w->show();
        w->connectTo(
            QUrl(QStringLiteral("wss://127.0.0.1:%1/admin/v1/ws").arg(server.serverPort())),
            credentialsOf(kViewer),
            withCaFile ? dir.filePath(QStringLiteral("ca.pem")) : QString());
        if (withCaFile) {
            QTRY_COMPARE_WITH_TIMEOUT(authorizations.size(), 1, 10000);
            QCOMPARE(authorizations.first(),
                     "Basic " + QByteArray("ops-view:").append(kViewer.password).toBase64());
            QVERIFY(w->connectionStatus()->kind() != ConnectionStatus::Kind::Refused);
        } else {
            QTRY_COMPARE_WITH_TIMEOUT(w->connectionStatus()->kind(),
                                      ConnectionStatus::Kind::Refused, 10000);
            QVERIFY(w->connectionDialog() && w->connectionDialog()->isVisible());
            QVERIFY(authorizations.isEmpty());
        }
    }

    // The keychain against a real Secret Service: GNOME Keyring on a private D-Bus session bus,
    // in a child run of this one function (the session bus is per process, and this process
    // runs the tests above without one).
    void keychainRemembersTheLoginWithASecretService() {
        if (qEnvironmentVariableIsSet("FLASHSALE_TEST_KEYRING_CHILD")) {
            keychainChild();
            return;
        }
        QTemporaryDir home;
        QVERIFY(home.isValid());
        QVERIFY(QDir(home.path()).mkpath(QStringLiteral("run")));
        QFile::setPermissions(home.filePath(QStringLiteral("run")),
                              QFile::ReadOwner | QFile::WriteOwner | QFile::ExeOwner);
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert(QStringLiteral("FLASHSALE_TEST_KEYRING_CHILD"), QStringLiteral("1"));
        env.insert(QStringLiteral("HOME"), home.path());
        env.insert(QStringLiteral("XDG_DATA_HOME"), home.filePath(QStringLiteral("data")));
        env.insert(QStringLiteral("XDG_RUNTIME_DIR"), home.filePath(QStringLiteral("run")));
        env.remove(QStringLiteral("DBUS_SESSION_BUS_ADDRESS"));
        QProcess child;
        child.setProcessEnvironment(env);
        child.setProcessChannelMode(QProcess::MergedChannels);
        // The keyring is created unlocked with this password, read from stdin.
        child.start(QStringLiteral("dbus-run-session"),
                    {QStringLiteral("--"), QStringLiteral("sh"), QStringLiteral("-c"),
                     QStringLiteral("printf %s tst-console-keyring | gnome-keyring-daemon --unlock "
                                    "--components=secrets >/dev/null && exec \"$0\" \"$1\""),
                     QCoreApplication::applicationFilePath(),
                     QStringLiteral("keychainRemembersTheLoginWithASecretService")});
        QVERIFY2(child.waitForFinished(180000), "the child run did not finish");
        const QByteArray out = child.readAll();
        QVERIFY2(child.exitStatus() == QProcess::NormalExit && child.exitCode() == 0,
                 out.constData());
        QVERIFY2(out.contains("PASS   : TestConsole::keychainRemembersTheLoginWithASecretService"),
                 out.constData());
    }

    void saleDialogValidatesLocally_data() {
        QTest::addColumn<QString>("change");
        QTest::addColumn<QString>("pointer");
        QTest::addRow("empty name") << "name"
                                    << "/args/name";
        QTest::addRow("end before start") << "end"
                                          << "/args/ends_at";
        QTest::addRow("start in the past") << "past"
                                           << "/args/starts_at";
        QTest::addRow("zero stock") << "stock"
                                    << "/args/stock";
        QTest::addRow("per-user limit 0") << "perUser"
                                          << "/args/per_user_limit";
        QTest::addRow("table row without stock") << "tableStock"
                                                 << "/args/items";
        QTest::addRow("generated without units") << "genUnits"
                                                 << "/args/generate/units_per_item";
        QTest::addRow("schedule longer than period") << "duration"
                                                     << "/args/duration_seconds";
    }

    void saleDialogValidatesLocally() {
        QFETCH(QString, change);
        QFETCH(QString, pointer);
        SaleDialog *d = freshSaleDialog();
        QVERIFY(d->isVisible());
        d->findChild<QLineEdit *>("name")->setText(QStringLiteral("Valid name"));
        QVERIFY2(d->validate(QDateTime::currentMSecsSinceEpoch()).isEmpty(),
                 "the defaults must be valid");
        auto *start = d->findChild<QDateTimeEdit *>("start");
        auto *items = d->findChild<QComboBox *>("itemsMode");
        if (change == "name")
            d->findChild<QLineEdit *>("name")->setText(QStringLiteral("   "));
        else if (change == "end")
            d->findChild<QDateTimeEdit *>("end")->setDateTime(start->dateTime().addSecs(-60));
        else if (change == "past")
            start->setDateTime(QDateTime::currentDateTime().addSecs(-3600));
        else if (change == "stock")
            d->findChild<QSpinBox *>("stock")->setValue(0);
        else if (change == "perUser")
            d->findChild<QSpinBox *>("perUser")->setValue(0);
        else if (change == "tableStock") {
            items->setCurrentIndex(int(SaleDialog::ItemsMode::Table));
            d->findChild<QTableWidget *>("items")->item(0, 1)->setText(QStringLiteral("lots"));
        } else if (change == "genUnits") {
            items->setCurrentIndex(int(SaleDialog::ItemsMode::Generated));
            d->findChild<QSpinBox *>("genUnits")->setValue(0);
        } else if (change == "duration") {
            d->findChild<QGroupBox *>("repeat")->setChecked(true);
            d->findChild<QSpinBox *>("every")->setValue(30);
            d->findChild<QComboBox *>("everyUnit")->setCurrentIndex(0); // minutes
            d->findChild<QSpinBox *>("duration")->setValue(45);
        }
        QSignalSpy submitted(d, &SaleDialog::submitted);
        d->accept();
        QCOMPARE(submitted.size(), 0); // nothing sent
        QVERIFY(d->isVisible());
        QVERIFY(!confirmBox(d));
        QLabel *label = errorLabel(d, pointer);
        QVERIFY2(label, qPrintable(pointer));
        QVERIFY2(label->isVisible() && !label->text().isEmpty(), qPrintable(pointer));
        QVERIFY(d->findChild<QLabel *>("generalError")->text().contains("nothing was sent"));
        d->close();
    }

    void serverErrorsAreShownAtTheirFields() {
        SaleDialog *d = freshSaleDialog();
        d->findChild<QLineEdit *>("name")->setText(QStringLiteral("Bad per server"));
        // The server's invalid-args details are mapped to fields, the rest shown at the bottom.
        AdminFailure failure{AdminError::InvalidArgs,
                             QStringLiteral("Invalid arguments."),
                             {{QStringLiteral("/args/stock"), QStringLiteral("too large")},
                              {QStringLiteral("/args/bogus"), QStringLiteral("unknown member")}}};
        d->answered(false, failure);
        QVERIFY(d->isVisible());
        QCOMPARE(errorLabel(d, "/args/stock")->text(), QStringLiteral("too large"));
        const QString general = d->findChild<QLabel *>("generalError")->text();
        QVERIFY2(general.contains("invalid-args") && general.contains("/args/bogus"),
                 qPrintable(general));
        d->close();
    }

    void createSaleFromTheDialog() {
        SaleDialog *d = freshSaleDialog();
        d->findChild<QLineEdit *>("name")->setText(QStringLiteral("Console phones"));
        auto *start = d->findChild<QDateTimeEdit *>("start");
        start->setDateTime(QDateTime::currentDateTime());
        d->findChild<QDateTimeEdit *>("end")->setDateTime(start->dateTime().addSecs(3600));
        d->findChild<QSpinBox *>("stock")->setValue(20);
        d->findChild<QDoubleSpinBox *>("price")->setValue(499.00);
        d->findChild<QSpinBox *>("perUser")->setValue(1);
        QSignalSpy submitted(d, &SaleDialog::submitted);
        d->accept();
        QCOMPARE(submitted.size(), 1);
        const QJsonObject args = submitted.first().at(1).toJsonObject();
        QCOMPARE(args.value("stock").toInt(), 20);
        QCOMPARE(args.value("price_cents").toInt(), 49900);
        // Saying no sends nothing and leaves the dialog ready to send again.
        QVERIFY(d->isBusy());
        QVERIFY(answer(d, QMessageBox::No));
        QTRY_VERIFY_WITH_TIMEOUT(!d->isBusy(), 2000);
        QVERIFY(d->isVisible());
        d->accept();
        QCOMPARE(submitted.size(), 2);
        QVERIFY(answer(d, QMessageBox::Yes));
        QTRY_VERIFY_WITH_TIMEOUT(!m_window->saleDialog() || !m_window->saleDialog()->isVisible(),
                                 5000);
        // The new sale is listed and followed.
        SalesModel *sales = m_window->salesModel();
        QTRY_VERIFY_WITH_TIMEOUT(
            [&] {
                for (int r = 0; r < sales->rowCount(); ++r)
                    if (sales->index(r, SalesModel::Name).data() == "Console phones") {
                        m_created = sales->sale(r).value("id").toInteger();
                        return true;
                    }
                return false;
            }(),
            5000);
        QCOMPARE(m_window->selectedSaleId(), m_created);
        // The server's answer is shown.
        QTRY_VERIFY_WITH_TIMEOUT(
            [&] {
                for (auto *box : m_window->findChildren<QMessageBox *>("outcomeBox"))
                    if (box->isVisible() && box->text().contains("Console phones"))
                        return true;
                return false;
            }(),
            5000);
        closeOutcomes(m_window.get());
        const QJsonObject sale = sales->saleById(m_created);
        QCOMPARE(sale.value("phase").toString(), QStringLiteral("open"));
        QCOMPARE(sale.value("per_user_limit").toInt(), 1);
    }

    void dashboardFollowsBookings() {
        QVERIFY(m_created > 0);
        QVERIFY(m_window->selectSale(m_created));
        StatsHistory *history = m_window->history();
        QCOMPARE(history->saleId(), m_created);
        QTRY_VERIFY_WITH_TIMEOUT(!history->samples().isEmpty(), 5000);
        QProgressBar *bar = m_window->dashboard()->remainingBar();
        QTRY_COMPARE_WITH_TIMEOUT(bar->value(), 20, 5000);
        QCOMPARE(bar->maximum(), 20);

        for (int i = 0; i < 5; ++i)
            QCOMPARE(book(m_created, QStringLiteral("buyer%1").arg(i)).status, 202);
        for (int i = 0; i < 2; ++i) // the per-user limit is 1: refused
            QCOMPARE(book(m_created, QStringLiteral("buyer%1").arg(i)).status, 409);

        QTRY_COMPARE_WITH_TIMEOUT(bar->value(), 15, 5000);
        QTRY_VERIFY_WITH_TIMEOUT(
            [&] {
                for (const QPointF &p : history->acceptedSeries())
                    if (p.y() > 0)
                        return true;
                return false;
            }(),
            5000);
        // One line per rejection reason seen (the two refusals are over the per-user limit).
        QTRY_VERIFY_WITH_TIMEOUT(!history->reasons().isEmpty(), 5000);
        const QString reason = history->reasons().first();
        QVERIFY2(reason.contains(QStringLiteral("limit")), qPrintable(reason));
        QTRY_VERIFY_WITH_TIMEOUT(!history->p99Series().isEmpty(), 5000);
        const qsizetype before = history->samples().size();
        QTRY_VERIFY_WITH_TIMEOUT(history->samples().size() > before + 2, 5000); // still moving

        // The charts draw the same series: accepted, one per rejection reason, p50 and p99.
        TimeChart *rates = m_window->dashboard()->ratesChart();
        QVERIFY(rates->series(QStringLiteral("accepted")));
        QVERIFY(rates->series(reason));
        QVERIFY(rates->series(QStringLiteral("accepted"))->count() > 0);
        QVERIFY(m_window->dashboard()->latencyChart()->series(QStringLiteral("p99"))->count() > 0);

        // Funnel, table and processes.
        auto *held = m_window->dashboard()->findChild<QProgressBar *>("funnel:held");
        QTRY_VERIFY_WITH_TIMEOUT(
            held->value()
                    + m_window->dashboard()->findChild<QProgressBar *>("funnel:pending")->value()
                == 5,
            5000);
        const int row = m_window->salesModel()->rowOf(m_created);
        QCOMPARE(m_window->salesModel()->index(row, SalesModel::Remaining).data().toString(),
                 QStringLiteral("15"));
        QVERIFY(m_window->dashboard()->processes()->rowCount() >= 1);
        QCOMPARE(m_window->dashboard()->processes()->item(0, 1)->text(), QStringLiteral("up"));
        QVERIFY(!m_window->dashboard()->lagIsRed(QStringLiteral("stream")));
    }

    void alertsFollowThresholds() {
        AlertsModel alerts;
        Thresholds t;
        t.p99Ms = 50;
        t.holdSeconds = 0; // hysteresis has its own test (tst_consolehygiene)
        alerts.setThresholds(t);
        const auto stats = [](double p99, bool up, qint64 stream) {
            return QJsonObject{
                {"sale_id", 1},
                {"at_ms", double(QDateTime::currentMSecsSinceEpoch())},
                {"latency_ms", QJsonObject{{"count", 10}, {"p50", 1.0}, {"p99", p99}}},
                {"lag", QJsonObject{{"stream", stream}, {"outbox", 0}, {"outbox_age_s", 0}}},
                {"processes",
                 QJsonArray{QJsonObject{{"id", "h-1"}, {"roles", QJsonArray{"api"}}, {"up", up}}}}};
        };
        alerts.checkStats(stats(10, true, 0));
        QCOMPARE(alerts.rowCount(), 0);
        alerts.checkStats(stats(80, true, 0));
        alerts.checkStats(stats(90, true, 0)); // the same condition: no second alert
        QCOMPARE(alerts.rowCount(), 1);
        QVERIFY(alerts.isActive("p99"));
        alerts.checkStats(stats(10, false, 5000));
        QCOMPARE(alerts.rowCount(), 3); // p99 (now cleared, same row), process down, stream lag
        QCOMPARE(alerts.find("p99")->status, AlertsModel::Status::Cleared);
        QVERIFY(alerts.find("p99")->clearedText.contains("back under"));
        for (const AlertsModel::Alert &a : alerts.alerts()) {
            const AlertsModel::Level want =
                a.key == "down:h-1" ? AlertsModel::Level::Critical : AlertsModel::Level::Warning;
            QCOMPARE(a.level, want);
        }
        QVERIFY(alerts.isActive("down:h-1") && alerts.isActive("lag:stream"));
        alerts.checkReconcile({{"run_id", 7},
                               {"mode", "dry_run"},
                               {"checks", QJsonArray{QJsonObject{{"check", "conservation"},
                                                                 {"subject", "item 3"},
                                                                 {"expected", 2},
                                                                 {"found", 6},
                                                                 {"drift", 4}}}}});
        QCOMPARE(alerts.rowCount(), 4);
        QVERIFY(alerts.alerts().first().text.contains("conservation item 3 drift +4"));
    }

    void reconciliationDryRunDriftAndRepair() {
        QVERIFY(m_created > 0);
        QVERIFY(m_window->selectSale(m_created));
        m_window->tabs()->setCurrentWidget(m_window->reconcilePanel());
        // Let the worker write the orders so the run sees nothing in flight.
        QTRY_COMPARE_WITH_TIMEOUT(m_db.scalar("SELECT count(*) FROM orders WHERE sale_id = "
                                              + QByteArray::number(m_created)),
                                  QByteArray("5"), 10000);
        ReconcilePanel *panel = m_window->reconcilePanel();
        QTRY_VERIFY_WITH_TIMEOUT(panel->dryRunButton()->isEnabled(), 5000);
        panel->dryRunButton()->click();
        QTRY_VERIFY_WITH_TIMEOUT(panel->checks()->rowCount() > 0, 10000);
        QCOMPARE(panel->checks()->driftRows(), 0);
        QCOMPARE(panel->checks()->report().value("mode").toString(), QStringLiteral("dry_run"));
        QVERIFY(panel->runs()->rowCount() >= 1);

        RedisSync redis(m_redisServer.port());
        const QByteArray stockKey = "fs:{sale:" + QByteArray::number(m_created) + "}:stock";
        const QList<QByteArray> fields = redis.command({"HKEYS", stockKey});
        QCOMPARE(fields.size(), 1);
        redis.command({"HINCRBY", stockKey, fields.first(), "4"});
        const qint64 firstRun = panel->checks()->report().value("run_id").toInteger();
        QTRY_VERIFY_WITH_TIMEOUT(panel->dryRunButton()->isEnabled(), 5000);
        panel->dryRunButton()->click();
        QTRY_VERIFY_WITH_TIMEOUT(panel->checks()->report().value("run_id").toInteger() > firstRun,
                                 10000);
        QVERIFY(panel->checks()->driftRows() > 0);
        bool highlighted = false;
        for (int r = 0; r < panel->checks()->rowCount(); ++r)
            highlighted |= panel->checks()->index(r, ReconcileChecksModel::Drift).data() == "+4"
                           && panel->checks()->index(r, 0).data(Qt::BackgroundRole).isValid();
        QVERIFY(highlighted);
        // The drift is an alert on the dashboard.
        QTRY_VERIFY_WITH_TIMEOUT(!m_window->alerts()->alerts().isEmpty()
                                     && m_window->alerts()->alerts().first().level
                                            == AlertsModel::Level::Critical,
                                 5000);

        // Repair asks first; saying no sends nothing.
        const int runsBefore = panel->runs()->rowCount();
        panel->repairButton()->click();
        QVERIFY(answer(panel, QMessageBox::No));
        QTest::qWait(200); // a wait on purpose: no run may start in it
        QCOMPARE(panel->runs()->rowCount(), runsBefore);
        panel->repairButton()->click();
        QVERIFY(answer(panel, QMessageBox::Yes));
        QTRY_COMPARE_WITH_TIMEOUT(panel->checks()->report().value("mode").toString(),
                                  QStringLiteral("repair"), 10000);
        QCOMPARE(panel->checks()->driftRows(), 0);
        QCOMPARE(redis.one({"HGET", stockKey, fields.first()}), QByteArray("15"));
        closeOutcomes(panel);

        // Choosing an older run shows its rows again.
        const int driftRow = panel->runs()->rowOf(firstRun + 1);
        QVERIFY(driftRow >= 0);
        panel->findChild<QTableView *>("reconcileRuns")->selectRow(driftRow);
        QVERIFY(panel->checks()->driftRows() > 0);
    }

    // Issue 19 (H5): the provider's reconciliation from the Reconciliation tab. A charge the
    // provider captured two minutes ago whose answer never arrived: the dry run lists it, the
    // repair (after a Yes) pays the order.
    void providerReconciliationFromTheConsole() {
        const QByteArray order =
            m_db.scalar("INSERT INTO orders (reservation_id, sale_id, item_id, user_id, quantity, "
                        "amount_cents, status, accepted_at, expires_at) VALUES ('console-prr', 1, "
                        "1, 'console-buyer', 1, 300, 'pending', now(), now() + interval '10 "
                        "minutes') RETURNING id");
        m_db.scalar("INSERT INTO payments (order_id, status, amount_cents, provider) VALUES ("
                    + order + ", 'charging', 300, 'simulator')");
        // The provider's ledger (the in-process simulator's, lua/paysim_record.lua).
        RedisSync redis(m_redisServer.port());
        const QByteArray id = "sim-order-" + order;
        const qint64 created = QDateTime::currentMSecsSinceEpoch() - 120000;
        redis.command({"ZADD", "fs:{paysim}:payments", "1", id});
        redis.command(
            {"HSET", "fs:{paysim}:payment", id,
             QJsonDocument(QJsonObject{{"id", QString::fromUtf8(id)},
                                       {"order_id", QString::fromUtf8(order)},
                                       {"status", "succeeded"},
                                       {"amount_cents", 300},
                                       {"created_ms", double(created)},
                                       {"idempotency_key", QString::fromUtf8("order-" + order)}})
                 .toJson(QJsonDocument::Compact)});

        m_window->tabs()->setCurrentWidget(m_window->reconcilePanel());
        ProviderReconcileBox *box = m_window->reconcilePanel()->provider();
        QTRY_VERIFY_WITH_TIMEOUT(box->dryRunButton()->isEnabled(), 5000);
        box->dryRunButton()->click();
        QTRY_COMPARE_WITH_TIMEOUT(box->report().value("mode").toString(), QStringLiteral("dry_run"),
                                  10000);
        QVERIFY(!box->report().value("ok").toBool());
        QCOMPARE(box->findings()->rowCount(), 1);
        QCOMPARE(box->findings()->index(0, 0).data().toString(),
                 QStringLiteral("captured_not_paid"));
        QCOMPARE(box->findings()->index(0, 1).data().toString(), QString::fromUtf8(order));
        QCOMPARE(box->findings()->index(0, 4).data().toString(), QStringLiteral("repair"));
        QVERIFY2(box->summary()->text().contains("1 captured_not_paid"),
                 qPrintable(box->summary()->text()));

        box->repairButton()->click();
        QVERIFY(answer(box, QMessageBox::Yes));
        QTRY_COMPARE_WITH_TIMEOUT(box->report().value("mode").toString(), QStringLiteral("repair"),
                                  10000);
        QVERIFY(box->report().value("ok").toBool());
        QCOMPARE(box->findings()->index(0, 5).data().toString(), QStringLiteral("applied"));
        QCOMPARE(m_db.scalar("SELECT status FROM orders WHERE id = " + order), QByteArray("paid"));
        QCOMPARE(m_db.scalar("SELECT actor FROM audit_log WHERE action = "
                             "'payments.reconcile.repair' ORDER BY id DESC LIMIT 1"),
                 QByteArray(kAdmin.name));
        closeOutcomes(box);
    }

    void auditLogShowsChangesLive() {
        QVERIFY(m_created > 0);
        QVERIFY(m_window->selectSale(m_created));
        AuditPanel *audit = m_window->auditPanel();
        audit->setOnlySelectedSale(true);
        AuditModel *model = audit->model();
        QTRY_VERIFY_WITH_TIMEOUT(model->rowCount() >= 2, 5000); // create and repair
        for (int r = 0; r < model->rowCount(); ++r)
            QCOMPARE(model->entry(r).value("sale_id").toInteger(), m_created);

        // Pause from the window: confirmed, answered, audited and pushed back live.
        m_window->pauseSale();
        QVERIFY(answer(m_window.get(), QMessageBox::Yes));
        QTRY_COMPARE_WITH_TIMEOUT(
            m_window->salesModel()->saleById(m_created).value("state").toString(),
            QStringLiteral("paused"), 5000);
        QTRY_COMPARE_WITH_TIMEOUT(model->entry(0).value("action").toString(),
                                  QStringLiteral("sale.pause"), 5000);
        // The audit names the operator the server authenticated, nothing the console declared.
        QCOMPARE(model->entry(0).value("actor").toString(), QStringLiteral("ops-admin"));
        QVERIFY(model->index(0, AuditModel::Change)
                    .data()
                    .toString()
                    .contains(QStringLiteral("state: active → paused")));
        m_window->resumeSale();
        QVERIFY(answer(m_window.get(), QMessageBox::Yes));
        QTRY_COMPARE_WITH_TIMEOUT(
            m_window->salesModel()->saleById(m_created).value("state").toString(),
            QStringLiteral("active"), 5000);
        closeOutcomes(m_window.get());

        // All sales: the other sale's creation shows too, and paging adds nothing twice.
        audit->setOnlySelectedSale(false);
        QTRY_VERIFY_WITH_TIMEOUT(
            [&] {
                for (int r = 0; r < model->rowCount(); ++r)
                    if (model->entry(r).value("sale_id").toInteger() == m_preexisting)
                        return true;
                return false;
            }(),
            5000);
        const int rows = model->rowCount();
        const auto *status = audit->findChild<QLabel *>(QStringLiteral("auditStatus"));
        QVERIFY(status);
        audit->loadOlder();
        QTRY_VERIFY(!status->text().startsWith(QStringLiteral("Loading"))); // the page came
        QVERIFY2(status->text().endsWith(QStringLiteral("(all)")), qPrintable(status->text()));
        QCOMPARE(model->rowCount(), rows);
    }

    void adjustStockFromTheDialog() {
        QVERIFY(m_window->selectSale(m_created));
        AdjustDialog *d = m_window->openAdjustDialog();
        QVERIFY(d);
        QSignalSpy submitted(d, &AdjustDialog::submitted);
        d->accept(); // 0 is refused locally
        QCOMPARE(submitted.size(), 0);
        d->findChild<QSpinBox *>("delta")->setValue(-100); // more than remains: conflict
        d->accept();
        QVERIFY(answer(d, QMessageBox::Yes));
        QTRY_VERIFY_WITH_TIMEOUT(
            d->findChild<QLabel *>("error")->text().startsWith(QStringLiteral("conflict")), 5000);
        QVERIFY(d->isVisible());
        d->findChild<QSpinBox *>("delta")->setValue(5);
        d->accept();
        QVERIFY(answer(d, QMessageBox::Yes));
        QTRY_COMPARE_WITH_TIMEOUT(
            m_window->salesModel()->saleById(m_created).value("stock").toInt(), 25, 5000);
        closeOutcomes(m_window.get());
    }

    void fitsA1366x768Screen() {
        const QSize hint = m_window->minimumSizeHint();
        QVERIFY2(hint.width() <= 1366 && hint.height() <= 768,
                 qPrintable(QStringLiteral("%1x%2").arg(hint.width()).arg(hint.height())));
        m_window->resize(1366, 768);
        m_window->tabs()->setCurrentWidget(m_window->dashboard());
        // Laid out from the event loop.
        QTRY_VERIFY(m_window->salesView()->height() >= 100);
        QTRY_VERIFY(m_window->dashboard()->ratesChart()->height() >= 150);
        QTRY_VERIFY(m_window->dashboard()->processes()->height() >= 60);
        SaleDialog *d = freshSaleDialog();
        QVERIFY2(d->sizeHint().height() <= 720,
                 qPrintable(QString::number(d->sizeHint().height())));
        d->close();
    }

    // Last: it takes the server down and brings it back on the same port.
    void droppedLinkKeepsTheDialogAndReconnects() {
        SaleDialog *d = freshSaleDialog();
        d->findChild<QLineEdit *>("name")->setText(QStringLiteral("Half filled"));
        d->findChild<QSpinBox *>("stock")->setValue(7);
        auto *start = d->findChild<QDateTimeEdit *>("start");
        start->setDateTime(QDateTime::currentDateTime());
        d->findChild<QDateTimeEdit *>("end")->setDateTime(start->dateTime().addSecs(600));

        m_backend.kill();
        QTRY_VERIFY_WITH_TIMEOUT(
            m_window->stateLabel()->text().contains(QStringLiteral("reconnecting")), 5000);
        QCOMPARE(m_window->connectionStatus()->kind(), ConnectionStatus::Kind::Reconnecting);

        // Sending now fails; the dialog stays with everything typed in it.
        d->accept();
        QVERIFY(answer(d, QMessageBox::Yes));
        QTRY_VERIFY_WITH_TIMEOUT(d->findChild<QLabel *>("generalError")->isVisible(), 5000);
        QVERIFY(d->findChild<QLabel *>("generalError")->text().contains("disconnected"));
        QVERIFY(d->isVisible());
        QCOMPARE(d->findChild<QLineEdit *>("name")->text(), QStringLiteral("Half filled"));
        QCOMPARE(d->findChild<QSpinBox *>("stock")->value(), 7);

        QVERIFY2(m_backend.start(m_env, {"--roles", "api,worker"}), qPrintable(m_backend.error()));
        QTRY_VERIFY_WITH_TIMEOUT(
            m_window->stateLabel()->text().contains(QStringLiteral("connected to")), 15000);

        // Retry: it goes through now.
        d->accept();
        QVERIFY(answer(d, QMessageBox::Yes));
        QTRY_VERIFY_WITH_TIMEOUT(!m_window->saleDialog(), 5000);
        SalesModel *sales = m_window->salesModel();
        QTRY_VERIFY_WITH_TIMEOUT(
            [&] {
                for (int r = 0; r < sales->rowCount(); ++r)
                    if (sales->index(r, SalesModel::Name).data() == "Half filled")
                        return true;
                return false;
            }(),
            5000);
        // The followed sale's stats resume after the reconnect.
        QVERIFY(m_window->selectedSaleId() > 0);
        const qsizetype samples = m_window->history()->samples().size();
        QTRY_VERIFY_WITH_TIMEOUT(m_window->history()->samples().size() > samples, 5000);
    }

    // The "Waiting room" group (issue 16): off until ticked, unavailable to schedules; ticked,
    // the sale is created with the settings typed and its commitment.
    void createSaleWithAWaitingRoom() {
        SaleDialog *d = freshSaleDialog();
        auto *room = d->findChild<QGroupBox *>("waitingRoom");
        QVERIFY(room);
        QVERIFY(!room->isChecked());
        QVERIFY(!d->args().contains("waiting_room"));
        d->findChild<QGroupBox *>("repeat")->setChecked(true);
        QVERIFY(!room->isEnabled());
        d->findChild<QGroupBox *>("repeat")->setChecked(false);
        QVERIFY(room->isEnabled());
        QVERIFY(!d->findChild<QWidget *>("waitingRoomFields")->isVisibleTo(d));
        room->setChecked(true);
        QVERIFY(d->findChild<QWidget *>("waitingRoomFields")->isVisibleTo(d));
        // Still fits a 1366x768 screen with the fields shown.
        QVERIFY2(d->sizeHint().height() <= 720,
                 qPrintable(QString::number(d->sizeHint().height())));
        d->findChild<QLineEdit *>("name")->setText(QStringLiteral("Console drop"));
        auto *start = d->findChild<QDateTimeEdit *>("start");
        start->setDateTime(QDateTime::currentDateTime().addSecs(3600));
        d->findChild<QDateTimeEdit *>("end")->setDateTime(start->dateTime().addSecs(3600));
        d->findChild<QSpinBox *>("lobbyMinutes")->setValue(20);
        d->findChild<QSpinBox *>("graceMs")->setValue(1500);
        d->findChild<QSpinBox *>("entriesPerAddress")->setValue(3);
        const QJsonObject args = d->args();
        QCOMPARE(args.value("waiting_room").toBool(), true);
        QCOMPARE(
            QDateTime::fromString(args.value("starts_at").toString(), Qt::ISODateWithMs)
                    .toMSecsSinceEpoch()
                - QDateTime::fromString(args.value("lobby_opens_at").toString(), Qt::ISODateWithMs)
                      .toMSecsSinceEpoch(),
            qint64(20 * 60 * 1000));
        QCOMPARE(args.value("admit_per_minute").toInt(), 600); // the documented default
        d->accept();
        QVERIFY(answer(d, QMessageBox::Yes));
        QTRY_VERIFY_WITH_TIMEOUT(!m_window->saleDialog() || !m_window->saleDialog()->isVisible(),
                                 5000);
        QTRY_COMPARE_WITH_TIMEOUT(
            m_db.scalar("SELECT waiting_room::text || ' ' || grace_ms || ' ' || "
                        "entries_per_address || ' ' || length(f.commitment) FROM sales s "
                        "JOIN sale_fairness f ON f.sale_id = s.id WHERE s.name = 'Console drop'"),
            QByteArray("true 1500 3 64"), 5000);
    }
};

QTEST_MAIN(TestConsole)
#include "tst_console.moc"
