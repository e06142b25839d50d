#include "fieldreader.h"

#include <QDateTime>
#include <QRegularExpression>

#include <cmath>

namespace flashsale {

FieldReader::FieldReader(const QJsonObject &object, QString pointerPrefix, FieldErrors *errors)
    : m_object(object)
    , m_prefix(std::move(pointerPrefix))
    , m_errors(errors ? errors : &m_own) {}

void FieldReader::addError(const QString &name, const QString &detail) {
    m_errors->append(FieldError{pointer(name), detail});
}

std::optional<QJsonValue> FieldReader::take(const QString &name, bool required) {
    m_read.insert(name);
    const QJsonValue v = m_object.value(name);
    if (v.isUndefined() || v.isNull()) {
        if (required)
            addError(name, QStringLiteral("is required"));
        return std::nullopt;
    }
    return v;
}

std::optional<QString> FieldReader::string(const QString &name, bool required, int minLength,
                                           int maxLength, const QString &allowed,
                                           const QString &allowedText) {
    const auto found = take(name, required);
    if (!found)
        return std::nullopt;
    const QJsonValue v = *found;
    if (!v.isString()) {
        addError(name, QStringLiteral("must be a string"));
        return std::nullopt;
    }
    const QString s = v.toString();
    if (s.size() < minLength || s.size() > maxLength) {
        addError(name,
                 QStringLiteral("must be %1 to %2 characters long").arg(minLength).arg(maxLength));
        return std::nullopt;
    }
    if (!allowed.isEmpty()) {
        for (QChar c : s) {
            if (!allowed.contains(c)) {
                addError(name, QStringLiteral("may contain only %1").arg(allowedText));
                return std::nullopt;
            }
        }
    }
    return s;
}

std::optional<bool> FieldReader::boolean(const QString &name, bool required) {
    const auto found = take(name, required);
    if (!found)
        return std::nullopt;
    if (!found->isBool()) {
        addError(name, QStringLiteral("must be true or false"));
        return std::nullopt;
    }
    return found->toBool();
}

std::optional<qint64> FieldReader::integer(const QString &name, bool required, qint64 min,
                                           qint64 max) {
    const auto found = take(name, required);
    if (!found)
        return std::nullopt;
    const QJsonValue v = *found;
    const double d = v.toDouble(std::nan(""));
    if (!v.isDouble() || std::isnan(d) || d != std::floor(d)) {
        addError(name, QStringLiteral("must be an integer"));
        return std::nullopt;
    }
    if (d < double(min) || d > double(max)) {
        addError(name, QStringLiteral("must be from %1 to %2").arg(min).arg(max));
        return std::nullopt;
    }
    return qint64(d);
}

std::optional<qint64> FieldReader::timestamp(const QString &name, bool required) {
    const auto s = string(name, required, 1, 64);
    if (!s)
        return std::nullopt;
    // RFC 3339: a date, 'T', a time, and a zone (Z or +hh:mm).
    static const QRegularExpression rfc3339(QStringLiteral(
        "^\\d{4}-\\d{2}-\\d{2}[Tt]\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,9})?([Zz]|[+-]\\d{2}:\\d{2})$"));
    const QDateTime t = QDateTime::fromString(*s, Qt::ISODateWithMs);
    if (!rfc3339.match(*s).hasMatch() || !t.isValid()) {
        addError(name,
                 QStringLiteral("must be an RFC 3339 time with a zone, like 2026-11-11T12:00:00Z"));
        return std::nullopt;
    }
    return t.toMSecsSinceEpoch();
}

std::optional<QJsonArray> FieldReader::array(const QString &name, bool required, int minSize,
                                             int maxSize) {
    const auto found = take(name, required);
    if (!found)
        return std::nullopt;
    const QJsonValue v = *found;
    if (!v.isArray()) {
        addError(name, QStringLiteral("must be an array"));
        return std::nullopt;
    }
    const QJsonArray a = v.toArray();
    if (a.size() < minSize || a.size() > maxSize) {
        addError(name, QStringLiteral("must have %1 to %2 elements").arg(minSize).arg(maxSize));
        return std::nullopt;
    }
    return a;
}

void FieldReader::rejectUnknown() {
    for (auto it = m_object.constBegin(); it != m_object.constEnd(); ++it) {
        if (!m_read.contains(it.key()))
            addError(it.key(), QStringLiteral("is not a known field"));
    }
}

} // namespace flashsale
