// flashsale-bench: the load and rehearsal tool (docs/RELIABILITY.md, docs/BENCHMARKS.md).
//
//   flashsale-bench load  [options]   simulate users booking; writes a ledger and a report
//   flashsale-bench check [options]   after the sale drains, check invariants I1-I7
//
// `flashsale-bench <command> --help` lists each command's options.

#include "bench.h"

#include <QCoreApplication>

#include <cstdio>

int main(int argc, char **argv) {
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("flashsale-bench"));
    QStringList args = QCoreApplication::arguments();
    const QString command = args.size() > 1 ? args.at(1) : QString();
    if (command.size() > 0)
        args.removeAt(1); // the commands parse "flashsale-bench [options]"
    if (command == QLatin1String("load"))
        return flashsale::bench::runLoad(args);
    if (command == QLatin1String("check"))
        return flashsale::bench::runCheck(args);
    std::fprintf(stderr, "usage: flashsale-bench load|check [options]  (--help after a command)\n");
    return 2;
}
