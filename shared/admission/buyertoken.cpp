#include "buyertoken.h"

#include "admission/powchallenge.h"

#include <QByteArrayList>
#include <QCryptographicHash>
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

// A NumericDate claim (seconds) in milliseconds, clamped to what a qint64 holds: converting a
// double out of range (a signed "exp": 1e300) is undefined behaviour.
qint64 claimMs(const QJsonValue &seconds) {
    return qint64(std::clamp(seconds.toDouble() * 1000.0, -9.0e18, 9.0e18));
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

BuyerTokens::BuyerTokens(QByteArray secret)
    : m_secret(std::move(secret)) {}

const char *BuyerTokens::errorText(Error e) {
    switch (e) {
    case Error::Malformed:
        return "The token is not a well-formed JWT with a user id in \"sub\".";
    case Error::BadAlgorithm:
        return "Only HS256 tokens are accepted.";
    case Error::BadSignature:
        return "The token's signature is not valid.";
    case Error::Expired:
        return "The token has expired (or has no \"exp\").";
    case Error::NotYetValid:
        return "The token is not valid yet (\"nbf\").";
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
    const auto signature =
        QByteArray::fromBase64Encoding(parts[2], kB64 | QByteArray::AbortOnBase64DecodingErrors);
    if (!signature || m_secret.isEmpty()
        || !constantTimeEquals(*signature, sign(m_secret, parts[0] + '.' + parts[1])))
        return std::unexpected(Error::BadSignature);
    const auto claims = jsonPart(parts[1]);
    if (!claims)
        return std::unexpected(Error::Malformed);
    const QByteArray sub = claims->value(QStringLiteral("sub")).toString().toUtf8();
    if (!validUser(sub))
        return std::unexpected(Error::Malformed);
    const QJsonValue exp = claims->value(QStringLiteral("exp"));
    if (!exp.isDouble() || claimMs(exp) <= nowMs)
        return std::unexpected(Error::Expired);
    const QJsonValue nbf = claims->value(QStringLiteral("nbf"));
    if (nbf.isDouble() && claimMs(nbf) > nowMs)
        return std::unexpected(Error::NotYetValid);
    return Identity{sub, claimMs(exp)};
}

QByteArray BuyerTokens::issue(const QByteArray &userId, qint64 nowMs, qint64 expiresAtMs) const {
    if (m_secret.isEmpty())
        return {};
    const QByteArray header = QByteArrayLiteral(R"({"alg":"HS256","typ":"JWT"})").toBase64(kB64);
    const QByteArray claims = QJsonDocument(QJsonObject{{"sub", QString::fromUtf8(userId)},
                                                        {"iat", double(nowMs / 1000)},
                                                        {"exp", double(expiresAtMs / 1000)}})
                                  .toJson(QJsonDocument::Compact)
                                  .toBase64(kB64);
    const QByteArray body = header + '.' + claims;
    return body + '.' + sign(m_secret, body).toBase64(kB64);
}

} // namespace flashsale
