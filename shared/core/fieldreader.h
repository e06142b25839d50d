#pragma once

#include <QJsonArray>
#include <QJsonObject>
#include <QList>
#include <QSet>
#include <QString>

#include <optional>

namespace flashsale {

// One problem with one input field, addressed by a JSON pointer ("/items/2/stock").
struct FieldError {
    QString pointer;
    QString detail;
};
using FieldErrors = QList<FieldError>;

// Reads typed fields out of a JSON object and collects every problem instead of stopping at
// the first, so a client learns all it got wrong in one answer. Fields read are remembered;
// rejectUnknown() then reports any other member.
class FieldReader {
public:
    FieldReader(const QJsonObject &object, QString pointerPrefix = {},
                FieldErrors *errors = nullptr);

    // A string of minLength..maxLength characters. `allowed`, when given, is the set of
    // characters it may contain (described in `allowedText` for the error).
    std::optional<QString> string(const QString &name, bool required, int minLength, int maxLength,
                                  const QString &allowed = {}, const QString &allowedText = {});
    // A JSON number with an integral value in min..max.
    std::optional<qint64> integer(const QString &name, bool required, qint64 min, qint64 max);
    // An RFC 3339 timestamp with a time zone; returned as milliseconds since the epoch.
    std::optional<qint64> timestamp(const QString &name, bool required);
    std::optional<bool> boolean(const QString &name, bool required);
    std::optional<QJsonArray> array(const QString &name, bool required, int minSize, int maxSize);

    void rejectUnknown();
    void addError(const QString &name, const QString &detail);
    const FieldErrors &errors() const { return *m_errors; }
    bool ok() const { return m_errors->isEmpty(); }

private:
    // The member, remembered as read; nullopt (with an error when required) if absent or null.
    std::optional<QJsonValue> take(const QString &name, bool required);
    QString pointer(const QString &name) const { return m_prefix + QLatin1Char('/') + name; }

    QJsonObject m_object;
    QString m_prefix;
    FieldErrors m_own;
    FieldErrors *m_errors;
    QSet<QString> m_read;
};

} // namespace flashsale
