#include "merchantendpoints.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QHostAddress>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonParseError>
#include <QRegularExpression>
#include <QSet>
#include <QUrl>

#include <algorithm>
#include <cmath>

namespace flashsale {

namespace {

constexpr qint64 kMaxFileBytes = 1 << 20;
constexpr qint64 kMaxSecretFileBytes = 64 * 1024;
constexpr int kMaxSecrets = 7; // what one Flashsale-Signature header carries (signature.h)

const QStringList &knownEvents() {
    static const QStringList events{QStringLiteral("order.created"), QStringLiteral("order.paid"),
                                    QStringLiteral("order.cancelled")};
    return events;
}

// The secrets in `path`, one per line, or a sentence on what is wrong (never the content).
QString readSecrets(const QString &path, QList<QByteArray> *secrets) {
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return QStringLiteral("cannot read secret_file '%1': %2").arg(path, file.errorString());
    const QFileDevice::Permissions loose = QFileDevice::ReadGroup | QFileDevice::WriteGroup
                                           | QFileDevice::ExeGroup | QFileDevice::ReadOther
                                           | QFileDevice::WriteOther | QFileDevice::ExeOther;
    if (file.permissions() & loose)
        return QStringLiteral("secret_file '%1' is readable by group or others: chmod 600 it")
            .arg(path);
    const QByteArray content = file.read(kMaxSecretFileBytes + 1);
    if (content.size() > kMaxSecretFileBytes)
        return QStringLiteral("secret_file '%1' is larger than %2 bytes")
            .arg(path)
            .arg(kMaxSecretFileBytes);
    for (QByteArray line : content.split('\n')) {
        line = line.trimmed();
        if (!line.isEmpty())
            secrets->append(line);
    }
    if (secrets->isEmpty())
        return QStringLiteral("secret_file '%1' holds no secret").arg(path);
    if (secrets->size() > kMaxSecrets)
        return QStringLiteral("secret_file '%1' holds more than %2 secrets")
            .arg(path)
            .arg(kMaxSecrets);
    for (const QByteArray &s : *secrets)
        if (s.size() < 16)
            return QStringLiteral("secret_file '%1': each secret must be at least 16 bytes")
                .arg(path);
    return {};
}

} // namespace

Result<QList<MerchantEndpoint>> merchantEndpointsLoad(const QString &path) {
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return fail(ErrorCode::Invalid,
                    QStringLiteral("cannot read '%1': %2").arg(path, file.errorString()));
    const QByteArray content = file.read(kMaxFileBytes + 1);
    if (content.size() > kMaxFileBytes)
        return fail(ErrorCode::Invalid,
                    QStringLiteral("'%1' is larger than %2 bytes").arg(path).arg(kMaxFileBytes));
    QJsonParseError parseError;
    const QJsonDocument doc = QJsonDocument::fromJson(content, &parseError);
    if (parseError.error != QJsonParseError::NoError)
        return fail(ErrorCode::Invalid, QStringLiteral("'%1' is not JSON: %2 at offset %3")
                                            .arg(path, parseError.errorString())
                                            .arg(parseError.offset));
    QJsonArray list;
    if (doc.isArray())
        list = doc.array();
    else if (doc.isObject() && doc.object().size() == 1
             && doc.object().value(QStringLiteral("endpoints")).isArray())
        list = doc.object().value(QStringLiteral("endpoints")).toArray();
    else
        return fail(ErrorCode::Invalid,
                    QStringLiteral("'%1' must hold a JSON array of endpoints, or "
                                   "{\"endpoints\": [...]}")
                        .arg(path));

    static const QRegularExpression idPattern(QStringLiteral("^[a-z0-9][a-z0-9._-]{0,63}$"));
    const QDir base = QFileInfo(path).absoluteDir();
    QStringList errors;
    QList<MerchantEndpoint> endpoints;
    QSet<QString> ids;
    for (qsizetype i = 0; i < list.size(); ++i) {
        const QString at = QStringLiteral("/%1").arg(i);
        if (!list[i].isObject()) {
            errors << at + QStringLiteral(": must be an object");
            continue;
        }
        const QJsonObject o = list[i].toObject();
        for (const QString &key : o.keys())
            if (!QStringList{"id", "url", "secret_file", "events"}.contains(key))
                errors << QStringLiteral("%1/%2: unknown member").arg(at, key);
        MerchantEndpoint e;
        e.id = o.value(QStringLiteral("id")).toString();
        if (!idPattern.match(e.id).hasMatch())
            errors << at
                          + QStringLiteral("/id: must be 1-64 of a-z 0-9 . _ -, starting with a "
                                           "letter or digit");
        else if (ids.contains(e.id))
            errors << at + QStringLiteral("/id: \"%1\" is used twice").arg(e.id);
        ids.insert(e.id);

        const QString urlText = o.value(QStringLiteral("url")).toString();
        const QUrl url(urlText, QUrl::StrictMode);
        if (!url.isValid() || url.host().isEmpty() || url.scheme() != QLatin1String("https"))
            errors << at + QStringLiteral("/url: must be an https:// URL with a host");
        else if (!url.userInfo().isEmpty())
            errors << at + QStringLiteral("/url: must not hold a user or password");
        else if (url.hasFragment())
            errors << at + QStringLiteral("/url: must not have a #fragment");
        e.url = url.toEncoded();

        const QJsonValue events = o.value(QStringLiteral("events"));
        if (!events.isArray() || events.toArray().isEmpty()) {
            errors << at
                          + QStringLiteral("/events: must be a non-empty array of %1")
                                .arg(knownEvents().join(QStringLiteral(", ")));
        } else {
            const QJsonArray a = events.toArray();
            for (qsizetype j = 0; j < a.size(); ++j) {
                const QString name = a[j].toString();
                if (!knownEvents().contains(name))
                    errors << QStringLiteral("%1/events/%2: must be one of %3")
                                  .arg(at)
                                  .arg(j)
                                  .arg(knownEvents().join(QStringLiteral(", ")));
                else if (e.events.contains(name))
                    errors << QStringLiteral("%1/events/%2: \"%3\" is listed twice")
                                  .arg(at)
                                  .arg(j)
                                  .arg(name);
                else
                    e.events << name;
            }
        }

        const QString secretFile = o.value(QStringLiteral("secret_file")).toString();
        if (secretFile.isEmpty()) {
            errors << at + QStringLiteral("/secret_file: must name the file of the secret");
        } else if (const QString err = readSecrets(base.absoluteFilePath(secretFile), &e.secrets);
                   !err.isEmpty()) {
            errors << at + QStringLiteral("/secret_file: ") + err;
        }
        endpoints << e;
    }
    if (!errors.isEmpty())
        return fail(ErrorCode::Invalid,
                    QStringLiteral("%1: %2").arg(path, errors.join(QStringLiteral("\n  "))));
    return endpoints;
}

QByteArray merchantWebhookBody(const QString &eventId, const QByteArray &eventType,
                               qint64 createdMs, const QJsonObject &event) {
    const QJsonObject body{{"id", eventId},
                           {"type", QString::fromLatin1(eventType)},
                           {"created_ms", double(createdMs)},
                           {"data", event}};
    return QJsonDocument(body).toJson(QJsonDocument::Compact);
}

std::chrono::milliseconds merchantWebhookBackoff(int attempt, std::chrono::milliseconds base,
                                                 std::chrono::milliseconds cap, double unit) {
    const int doublings = std::clamp(attempt - 1, 0, 40);
    const double full =
        std::min(double(cap.count()), double(base.count()) * std::ldexp(1.0, doublings));
    const double u = std::clamp(unit, 0.0, 1.0);
    return std::chrono::milliseconds(qint64(full / 2 + full / 2 * u));
}

} // namespace flashsale
