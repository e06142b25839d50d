// flashsale-ctl: the command-line client of the admin WebSocket, for operators and scripts.
// `flashsale-ctl --help` lists the commands and exit codes; docs/CTL.md has examples.

#include "ctlargs.h"
#include "ctlrun.h"

#include <QCoreApplication>
#include <QDateTime>
#include <QFile>
#include <QSocketNotifier>

#include <csignal>
#include <cstdio>
#include <unistd.h>

namespace {

int g_signalPipe[2] = {-1, -1};

void onSignal(int) {
    const char byte = 1;
    [[maybe_unused]] const auto n = ::write(g_signalPipe[1], &byte, 1);
}

} // namespace

int main(int argc, char **argv) {
    using namespace flashsale::ctl;
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("flashsale-ctl"));

    SecretSources sources;
    sources.readStdin = [] {
        QFile in;
        (void)in.open(stdin, QIODevice::ReadOnly);
        return in.readLine(64 * 1024);
    };
    auto invocation =
        parseInvocation(QCoreApplication::arguments(), QProcessEnvironment::systemEnvironment(),
                        QDateTime::currentMSecsSinceEpoch(), sources);
    if (!invocation) {
        std::fprintf(stderr, "flashsale-ctl: %s\nTry 'flashsale-ctl --help'.\n",
                     qUtf8Printable(invocation.error()));
        return kExitUsage;
    }
    if (invocation->help) {
        std::fputs(qUtf8Printable(invocation->helpText), stdout);
        return kExitOk;
    }

    CtlRun run(*invocation);
    QObject::connect(&run, &CtlRun::finished, &app, [](int code) { QCoreApplication::exit(code); });

    // Ctrl-C and SIGTERM reach the event loop through a pipe (the handler only writes a byte).
    std::unique_ptr<QSocketNotifier> signalNotifier;
    if (::pipe(g_signalPipe) == 0) {
        signalNotifier = std::make_unique<QSocketNotifier>(g_signalPipe[0], QSocketNotifier::Read);
        QObject::connect(signalNotifier.get(), &QSocketNotifier::activated, &run, [&run] {
            char byte;
            [[maybe_unused]] const auto n = ::read(g_signalPipe[0], &byte, 1);
            run.interrupt();
        });
        std::signal(SIGINT, onSignal);
        std::signal(SIGTERM, onSignal);
    }

    run.start();
    return app.exec();
}
