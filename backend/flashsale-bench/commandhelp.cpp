#include "commandhelp.h"

namespace flashsale::bench {

QString commandHelp(const QCommandLineParser &parser, const QString &command) {
    const QString text = parser.helpText();
    const qsizetype eol = text.indexOf(QLatin1Char('\n'));
    return QStringLiteral("Usage: flashsale-bench %1 [options]").arg(command)
           + (eol < 0 ? QString() : text.mid(eol));
}

} // namespace flashsale::bench
