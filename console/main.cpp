// flashsale-console: the merchandiser's desktop console for the admin WebSocket (docs/CONSOLE.md).

#include "connectiondialog.h"
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
        "With --url and --token it connects at once; otherwise it asks, pre-filled from its "
        "settings or FLASHSALE_ADMIN_URL / FLASHSALE_API_URL / FLASHSALE_ADMIN_TOKEN."));
    parser.addHelpOption();
    parser.addVersionOption();
    const QCommandLineOption url(QStringLiteral("url"),
                                 QStringLiteral("admin WebSocket URL (ws://host:port/admin/v1/ws) "
                                                "or the API base URL (http://host:port)"),
                                 QStringLiteral("URL"));
    const QCommandLineOption token(QStringLiteral("token"), QStringLiteral("admin token"),
                                   QStringLiteral("TOKEN"));
    const QCommandLineOption actor(QStringLiteral("actor"),
                                   QStringLiteral("your name, for the audit log (default $USER)"),
                                   QStringLiteral("NAME"));
    const QCommandLineOption sale(QStringLiteral("sale"),
                                  QStringLiteral("select this sale once the list is loaded"),
                                  QStringLiteral("ID"));
    const QCommandLineOption tab(QStringLiteral("tab"),
                                 QStringLiteral("open on this tab: dashboard, reconcile or audit"),
                                 QStringLiteral("NAME"));
    parser.addOptions({url, token, actor, sale, tab});
    parser.process(app);

    ConsoleSettings settings = ConsoleSettings::load(QProcessEnvironment::systemEnvironment());
    if (parser.isSet(actor))
        settings.actor = parser.value(actor);
    QUrl resolved;
    if (parser.isSet(url) && parser.isSet(token)) {
        const auto r = ConsoleSettings::resolveAdminUrl(parser.value(url));
        if (!r) {
            std::fprintf(stderr, "flashsale-console: --url: %s\n", qPrintable(r.error()));
            return 2;
        }
        resolved = *r;
        settings.token = parser.value(token);
    } else {
        ConnectionDialog dialog;
        dialog.setValues(parser.isSet(url) ? parser.value(url) : settings.url,
                         parser.isSet(token) ? parser.value(token) : settings.token,
                         settings.actor);
        if (dialog.exec() != QDialog::Accepted) // before the window exists: no handler nests
            return 0;
        settings.url = dialog.urlText();
        settings.token = dialog.token();
        settings.actor = dialog.actor();
        settings.save();
        resolved = dialog.resolvedUrl();
    }

    MainWindow window(settings);
    if (parser.isSet(sale))
        window.selectOnLoad(parser.value(sale).toLongLong());
    if (parser.isSet(tab)) {
        const QStringList tabs{QStringLiteral("dashboard"), QStringLiteral("reconcile"),
                               QStringLiteral("audit")};
        const qsizetype index = tabs.indexOf(parser.value(tab));
        if (index < 0) {
            std::fprintf(stderr,
                         "flashsale-console: --tab must be dashboard, reconcile or audit\n");
            return 2;
        }
        window.tabs()->setCurrentIndex(int(index));
    }
    window.show();
    window.connectTo(resolved, settings.token, settings.actor);
    return app.exec();
}
