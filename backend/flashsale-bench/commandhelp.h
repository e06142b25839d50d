#pragma once

#include <QCommandLineParser>
#include <QString>

namespace flashsale::bench {

// The parser's help text with its usage line naming the subcommand ("Usage: flashsale-bench
// check [options]"): QCommandLineParser names only the binary, as it was invoked.
QString commandHelp(const QCommandLineParser &parser, const QString &command);

} // namespace flashsale::bench
