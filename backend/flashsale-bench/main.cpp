// flashsale-bench: the load and rehearsal tool (docs/RELIABILITY.md, docs/BENCHMARKS.md).
//
//   flashsale-bench load  [options]   simulate users booking; writes a ledger and a report
//   flashsale-bench check [options]   after the sale drains, check invariants I1-I7
//   flashsale-bench flat  [options]   a soak's samples: no series grows beyond its bound
//   flashsale-bench chart [options]   a soak's samples as small multiples in a PNG
//
// `flashsale-bench <command> --help` lists each command's options.

#include "bench.h"

#include <QApplication>
#include <QCoreApplication>

#include <cstdio>
#include <cstring>
#include <memory>

int main(int argc, char **argv) {
    // Qt Charts draws with widgets' graphics items: chart needs a QApplication, offscreen unless
    // told otherwise; the other commands need no display and no GUI libraries loaded.
    const bool gui = argc > 1 && std::strcmp(argv[1], "chart") == 0;
    if (gui && qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM"))
        qputenv("QT_QPA_PLATFORM", "offscreen");
    const std::unique_ptr<QCoreApplication> app =
        gui ? std::make_unique<QApplication>(argc, argv)
            : std::make_unique<QCoreApplication>(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("flashsale-bench"));
    QStringList args = QCoreApplication::arguments();
    const QString command = args.size() > 1 ? args.at(1) : QString();
    if (command.size() > 0)
        args.removeAt(1); // the commands parse "flashsale-bench [options]"
    if (command == QLatin1String("load"))
        return flashsale::bench::runLoad(args);
    if (command == QLatin1String("check"))
        return flashsale::bench::runCheck(args);
    if (command == QLatin1String("flat"))
        return flashsale::bench::runFlat(args);
    if (command == QLatin1String("chart"))
        return flashsale::bench::runChart(args);
    std::fprintf(
        stderr,
        "usage: flashsale-bench load|check|flat|chart [options]  (--help after a command)\n");
    return 2;
}
