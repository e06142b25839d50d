// flashsale-console: the merchandiser's desktop console for the admin WebSocket (docs/CONSOLE.md).

#include "consolesettings.h"
#include "mainwindow.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QProcessEnvironment>
#include <QTabWidget>

#include <cstdio>

using namespace flashsale::console;

int main(int argc, char *argv[]) {
    QApplication app(argc, argv);
    QApplication::setOrganizationName(QStringLiteral("flashsale"));
    QApplication::setApplicationName(QStringLiteral("flashsale-console"));
    QApplication::setApplicationVersion(QStringLiteral("0.1.0"));

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "Merchandiser console for flash sales: sales, live dashboard, reconciliation, audit log.\n"
        "It logs in with the password (or bootstrap token) stored in the system keychain for the "
        "remembered server and operator, and otherwise asks. No secret is taken on the command "
        "line; in bootstrap mode FLASHSALE_ADMIN_TOKEN is used when the keychain has none."));
    parser.addHelpOption();
    parser.addVersionOption();
    const QCommandLineOption url(QStringLiteral("url"),
                                 QStringLiteral("admin WebSocket URL (wss://host:port/admin/v1/ws) "
                                                "or the API base URL (https://host:port); ws:// "
                                                "and http:// only to this computer"),
                                 QStringLiteral("URL"));
    const QCommandLineOption operatorName(QStringLiteral("operator"),
                                          QStringLiteral("log in as this operator"),
                                          QStringLiteral("NAME"));
    const QCommandLineOption bootstrap(
        QStringLiteral("bootstrap"),
        QStringLiteral("log in with the server's bootstrap admin token (keychain, then "
                       "FLASHSALE_ADMIN_TOKEN), acting as operator \"bootstrap\" (admin)"));
    const QCommandLineOption caFile(QStringLiteral("ca-file"),
                                    QStringLiteral("PEM file of CA certificates trusted for wss:// "
                                                   "besides the system's (FLASHSALE_CA_FILE)"),
                                    QStringLiteral("FILE"));
    const QCommandLineOption sale(QStringLiteral("sale"),
                                  QStringLiteral("select this sale once the list is loaded"),
                                  QStringLiteral("ID"));
    const QCommandLineOption tab(
        QStringLiteral("tab"),
        QStringLiteral("open on this tab: dashboard, reconcile, audit, webhooks, deadletters or "
                       "waitingroom"),
        QStringLiteral("NAME"));
    // Gone: a secret on the command line is visible to every user in `ps`; the audit actor is
    // the authenticated operator. Still parsed so that old scripts get a reason, not "unknown".
    QCommandLineOption token(QStringLiteral("token"), QStringLiteral("removed"),
                             QStringLiteral("TOKEN"));
    token.setFlags(QCommandLineOption::HiddenFromHelp);
    QCommandLineOption actor(QStringLiteral("actor"), QStringLiteral("removed"),
                             QStringLiteral("NAME"));
    actor.setFlags(QCommandLineOption::HiddenFromHelp);
    parser.addOptions({url, operatorName, bootstrap, caFile, sale, tab, token, actor});
    parser.process(app);
    if (parser.isSet(token)) {
        std::fprintf(stderr, "flashsale-console: --token was removed: a secret on the command "
                             "line is visible in ps. Set FLASHSALE_ADMIN_TOKEN with --bootstrap, "
                             "or type it in the login dialog (it is then kept in the keychain).\n");
        return 2;
    }
    if (parser.isSet(actor)) {
        std::fprintf(stderr, "flashsale-console: --actor was removed: the audit log names the "
                             "operator you log in as (--operator NAME).\n");
        return 2;
    }
    if (parser.isSet(operatorName) && parser.isSet(bootstrap)) {
        std::fprintf(stderr, "flashsale-console: --operator and --bootstrap exclude each other\n");
        return 2;
    }

    const QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    ConsoleSettings settings = ConsoleSettings::load(env);
    if (parser.isSet(url)) {
        const auto r = ConsoleSettings::resolveAdminUrl(parser.value(url));
        if (!r) {
            std::fprintf(stderr, "flashsale-console: --url: %s\n", qPrintable(r.error()));
            return 2;
        }
        settings.url = parser.value(url);
    }
    if (parser.isSet(operatorName)) {
        settings.operatorName = parser.value(operatorName);
        settings.bootstrap = false;
    }
    if (parser.isSet(bootstrap))
        settings.bootstrap = true;
    if (parser.isSet(caFile))
        settings.caFile = parser.value(caFile);

    MainWindow window(settings);
    if (parser.isSet(sale))
        window.selectOnLoad(parser.value(sale).toLongLong());
    if (parser.isSet(tab)) {
        const QStringList tabs{QStringLiteral("dashboard"),   QStringLiteral("reconcile"),
                               QStringLiteral("audit"),       QStringLiteral("webhooks"),
                               QStringLiteral("deadletters"), QStringLiteral("waitingroom")};
        const qsizetype index = tabs.indexOf(parser.value(tab));
        if (index < 0) {
            std::fprintf(stderr,
                         "flashsale-console: --tab must be dashboard, reconcile, audit, webhooks, "
                         "deadletters or waitingroom\n");
            return 2;
        }
        window.tabs()->setCurrentIndex(int(index));
    }
    window.show();
    window.start(env.value(QStringLiteral("FLASHSALE_ADMIN_TOKEN")));
    return app.exec();
}
