#include "buyertoken.h"

#include "admission/powchallenge.h"

#include <QByteArrayList>
#include <QCryptographicHash>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QMessageAuthenticationCode>

#include <algorithm>

namespace flashsale {

namespace {

constexpr auto kB64 = QByteArray::Base64UrlEncoding | QByteArray::OmitTrailingEquals;

QByteArray sign(const QByteArray &secret, const QByteArray &data) {
    return QMessageAuthenticationCode::hash(data, secret, QCryptographicHash::Sha256);
}

std::optional<QJsonObject> jsonPart(const QByteArray &part) {
    const auto decoded =
        QByteArray::fromBase64Encoding(part, kB64 | QByteArray::AbortOnBase64DecodingErrors);
    if (!decoded)
        return std::nullopt;
    const QJsonDocument doc = QJsonDocument::fromJson(*decoded);
    if (!doc.isObject())
        return std::nullopt;
    return doc.object();
}

// A NumericDate claim (seconds) in milliseconds, clamped so that converting it (a signed
// "exp": 1e300 is undefined behaviour as a qint64) and subtracting two of them (exp - iat)
// stay within a qint64.
qint64 claimMs(const QJsonValue &seconds) {
    return qint64(std::clamp(seconds.toDouble() * 1000.0, -4.0e18, 4.0e18));
}

bool validUser(const QByteArray &u) {
    if (u.isEmpty() || u.size() > 64)
        return false;
    for (char c : u)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '@'
              || c == '-'))
            return false;
    return true;
}

} // namespace

BuyerTokens::BuyerTokens(QByteArray secret, BuyerTokenPolicy policy)
    : BuyerTokens(QList<BuyerTokenKey>{{QByteArray(), std::move(secret)}}, std::move(policy)) {}

BuyerTokens::BuyerTokens(const QList<BuyerTokenKey> &keys, BuyerTokenPolicy policy)
    : m_policy(std::move(policy)) {
    for (const BuyerTokenKey &k : keys)
        if (!k.secret.isEmpty())
            m_keys << k;
}

const char *BuyerTokens::errorText(Error e) {
    switch (e) {
    case Error::Malformed:
        return "The token is not a well-formed JWT with \"sub\", \"iat\" and \"exp\".";
    case Error::BadAlgorithm:
        return "Only HS256 tokens are accepted.";
    case Error::UnknownKey:
        return "The token's key (\"kid\") is not one this server knows.";
    case Error::BadSignature:
        return "The token's signature is not valid.";
    case Error::WrongIssuer:
        return "The token's issuer (\"iss\") is not accepted here.";
    case Error::WrongAudience:
        return "The token is not meant for this service (\"aud\").";
    case Error::LifetimeTooLong:
        return "The token lives longer than this server accepts (\"exp\" - \"iat\").";
    case Error::Expired:
        return "The token has expired.";
    case Error::NotYetValid:
        return "The token is not valid yet (\"nbf\" or \"iat\").";
    }
    return "invalid token";
}

std::expected<BuyerTokens::Identity, BuyerTokens::Error>
BuyerTokens::verify(const QByteArray &token, qint64 nowMs) const {
    const QList<QByteArray> parts = token.split('.');
    if (parts.size() != 3 || token.size() > 4096)
        return std::unexpected(Error::Malformed);
    const auto header = jsonPart(parts[0]);
    if (!header)
        return std::unexpected(Error::Malformed);
    // The algorithm is fixed by the server, never taken from the token ("alg":"none" attacks).
    if (header->value(QStringLiteral("alg")).toString() != QLatin1String("HS256"))
        return std::unexpected(Error::BadAlgorithm);
    const QJsonValue kidValue = header->value(QStringLiteral("kid"));
    if (!kidValue.isUndefined() && !kidValue.isString())
        return std::unexpected(Error::Malformed);
    const QByteArray kid = kidValue.toString().toUtf8();
    const auto key = std::find_if(m_keys.cbegin(), m_keys.cend(),
                                  [&kid](const BuyerTokenKey &k) { return k.kid == kid; });
    if (key == m_keys.cend())
        return std::unexpected(Error::UnknownKey);
    const auto signature =
        QByteArray::fromBase64Encoding(parts[2], kB64 | QByteArray::AbortOnBase64DecodingErrors);
    if (!signature || !constantTimeEquals(*signature, sign(key->secret, parts[0] + '.' + parts[1])))
        return std::unexpected(Error::BadSignature);
    const auto claims = jsonPart(parts[1]);
    if (!claims)
        return std::unexpected(Error::Malformed);
    const QByteArray sub = claims->value(QStringLiteral("sub")).toString().toUtf8();
    const QJsonValue iat = claims->value(QStringLiteral("iat"));
    const QJsonValue exp = claims->value(QStringLiteral("exp"));
    if (!validUser(sub) || !iat.isDouble() || !exp.isDouble())
        return std::unexpected(Error::Malformed);
    if (claims->value(QStringLiteral("iss")).toString().toUtf8() != m_policy.issuer)
        return std::unexpected(Error::WrongIssuer);
    // "aud" is one string or an array of them (RFC 7519, 4.1.3).
    const QJsonValue aud = claims->value(QStringLiteral("aud"));
    const QString audience = QString::fromUtf8(m_policy.audience);
    if (!(aud.isString() && aud.toString() == audience)
        && !(aud.isArray() && aud.toArray().contains(QJsonValue(audience))))
        return std::unexpected(Error::WrongAudience);
    const qint64 issuedMs = claimMs(iat), expiresMs = claimMs(exp);
    if (expiresMs - issuedMs > m_policy.maxLifetimeMs)
        return std::unexpected(Error::LifetimeTooLong);
    if (expiresMs + m_policy.skewMs <= nowMs)
        return std::unexpected(Error::Expired);
    if (issuedMs - m_policy.skewMs > nowMs)
        return std::unexpected(Error::NotYetValid);
    const QJsonValue nbf = claims->value(QStringLiteral("nbf"));
    if (!nbf.isUndefined() && (!nbf.isDouble() || claimMs(nbf) - m_policy.skewMs > nowMs))
        return std::unexpected(Error::NotYetValid);
    return Identity{sub, expiresMs};
}

QByteArray BuyerTokens::issue(const QByteArray &userId, qint64 nowMs, qint64 expiresAtMs) const {
    if (m_keys.isEmpty())
        return {};
    const BuyerTokenKey &key = m_keys.first();
    QJsonObject header{{"alg", "HS256"}, {"typ", "JWT"}};
    if (!key.kid.isEmpty())
        header.insert(QStringLiteral("kid"), QString::fromUtf8(key.kid));
    const QJsonObject claims{{"sub", QString::fromUtf8(userId)},
                             {"iss", QString::fromUtf8(m_policy.issuer)},
                             {"aud", QString::fromUtf8(m_policy.audience)},
                             {"iat", double(nowMs / 1000)},
                             {"exp", double(expiresAtMs / 1000)}};
    const QByteArray body = QJsonDocument(header).toJson(QJsonDocument::Compact).toBase64(kB64)
                            + '.'
                            + QJsonDocument(claims).toJson(QJsonDocument::Compact).toBase64(kB64);
    return body + '.' + sign(key.secret, body).toBase64(kB64);
}

} // namespace flashsale
