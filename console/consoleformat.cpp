#include "consoleformat.h"

#include "protocol/adminprotocol.h"
#include <QDateTime>
#include <QJsonArray>

#include <QJsonDocument>
#include <QJsonObject>

#include <cmath>

namespace flashsale::console {

QString formatCell(const QJsonValue &value) {
    return admin::displayValue(value);
}

QString formatTime(const QJsonValue &value) {
    if (!value.isString())
        return formatCell(value);
    const QDateTime t = QDateTime::fromString(value.toString(), Qt::ISODateWithMs);
    if (!t.isValid())
        return value.toString();
    return t.toLocalTime().toString(QStringLiteral("yyyy-MM-dd HH:mm:ss"));
}

QString formatMs(qint64 msSinceEpoch) {
    return QDateTime::fromMSecsSinceEpoch(msSinceEpoch).toString(QStringLiteral("HH:mm:ss"));
}

QString formatFailure(const admin::AdminFailure &failure) {
    QString out = QStringLiteral("%1: %2").arg(admin::errorName(failure.code), failure.message);
    for (const FieldError &d : failure.details)
        out += QStringLiteral("\n  %1: %2").arg(d.pointer, d.detail);
    return out;
}

QString formatChange(const QJsonValue &before, const QJsonValue &after) {
    return admin::describeChange(before, after, QStringLiteral("\u2192"));
}

QString formatCents(qint64 cents) {
    return QStringLiteral("%1%2.%3")
        .arg(cents < 0 ? QStringLiteral("-") : QString())
        .arg(std::abs(cents) / 100)
        .arg(std::abs(cents) % 100, 2, 10, QLatin1Char('0'));
}

} // namespace flashsale::console
