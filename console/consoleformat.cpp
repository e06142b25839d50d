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
    if (before.isObject() && after.isObject()) {
        const QJsonObject b = before.toObject();
        const QJsonObject a = after.toObject();
        QStringList keys = b.keys();
        for (const QString &k : a.keys())
            if (!keys.contains(k))
                keys << k;
        QStringList changes;
        for (const QString &k : keys)
            if (b.value(k) != a.value(k))
                changes << QStringLiteral("%1: %2 → %3")
                               .arg(k, formatCell(b.value(k)), formatCell(a.value(k)));
        return changes.join(QStringLiteral(", "));
    }
    if ((before.isNull() || before.isUndefined()) && after.isObject()) {
        const QJsonValue name = after.toObject().value(QStringLiteral("name"));
        return name.isString() ? QStringLiteral("created \"%1\"").arg(name.toString())
                               : QStringLiteral("created");
    }
    if (before.isNull() || before.isUndefined())
        return after.isNull() || after.isUndefined() ? QString() : formatCell(after);
    return formatCell(before) + QStringLiteral(" → ") + formatCell(after);
}

QString formatCents(qint64 cents) {
    return QStringLiteral("%1%2.%3")
        .arg(cents < 0 ? QStringLiteral("-") : QString())
        .arg(std::abs(cents) / 100)
        .arg(std::abs(cents) % 100, 2, 10, QLatin1Char('0'));
}

} // namespace flashsale::console
