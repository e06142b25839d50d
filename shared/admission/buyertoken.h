#pragma once

#include <QByteArray>

#include <expected>

namespace flashsale {

// Buyer identity: JSON Web Tokens signed with HMAC-SHA256 (RFC 7519, "alg":"HS256"), whose
// "sub" is the user id (docs/ADMISSION.md). Stateless and thread-safe: every API thread may
// verify with its own copy.
class BuyerTokens {
public:
    enum class Error {
        Malformed,    // not three base64url parts of JSON, or no usable "sub"
        BadAlgorithm, // "alg" is not HS256 ("none" included)
        BadSignature,
        Expired,     // "exp" is missing or past
        NotYetValid, // "nbf" is in the future
    };
    struct Identity {
        QByteArray userId;
        qint64 expiresAtMs = 0;
    };

    // An empty secret verifies nothing (every token is BadSignature) and issues nothing.
    explicit BuyerTokens(QByteArray secret);

    bool enabled() const { return !m_secret.isEmpty(); }
    [[nodiscard]] std::expected<Identity, Error> verify(const QByteArray &token,
                                                        qint64 nowMs) const;
    // A token for `userId` expiring at `expiresAtMs` (dev mode and tests).
    QByteArray issue(const QByteArray &userId, qint64 nowMs, qint64 expiresAtMs) const;

    static const char *errorText(Error e);

private:
    QByteArray m_secret;
};

} // namespace flashsale
