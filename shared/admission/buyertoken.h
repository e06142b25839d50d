#pragma once

#include <QByteArray>
#include <QList>

#include <expected>

namespace flashsale {

// One signing key of buyer tokens. `kid` names it in the token's header, so a new key can be
// added before tokens signed with it appear and the old one removed once its tokens have expired
// (docs/ADMISSION.md, "Rotating the keys"). An empty kid is the legacy key
// (--buyer-token-secret): it verifies tokens whose header carries no "kid".
struct BuyerTokenKey {
    QByteArray kid;
    QByteArray secret;
};

// What a buyer token must say besides its signature. The defaults are the server's
// (--buyer-token-issuer, --buyer-token-audience, --buyer-token-max-lifetime-seconds,
// --buyer-token-clock-skew-seconds).
struct BuyerTokenPolicy {
    QByteArray issuer = "flashsale";
    QByteArray audience = "flashsale-api";
    qint64 maxLifetimeMs = 86400 * 1000; // exp - iat may not exceed this
    qint64 skewMs = 30 * 1000;           // leeway for the issuer's clock on exp, nbf and iat
};

// Buyer identity: JSON Web Tokens signed with HMAC-SHA256 (RFC 7519, "alg":"HS256"), whose
// "sub" is the user id (docs/ADMISSION.md). A token is accepted when its "kid" names a key of the
// set (no "kid": the legacy key), its signature is that key's, "iss" and "aud" are the policy's,
// it has "iat" and "exp" with exp - iat within the maximum lifetime, and now lies within
// [max(iat, nbf) - skew, exp + skew).
//
// Stateless and thread-safe once built: every API thread may verify with its own copy.
class BuyerTokens {
public:
    enum class Error {
        Malformed,       // not three base64url parts of JSON, or no usable "sub", "iat", "exp"
        BadAlgorithm,    // "alg" is not HS256 ("none" included)
        UnknownKey,      // "kid" names no key of the set (or no kid and no legacy key)
        BadSignature,    // not signed by the key its "kid" names
        WrongIssuer,     // "iss" is missing or not the policy's
        WrongAudience,   // "aud" is missing or does not name the policy's audience
        LifetimeTooLong, // exp - iat exceeds the maximum lifetime
        Expired,         // "exp" is past by more than the skew
        NotYetValid,     // "nbf" or "iat" is ahead by more than the skew
    };
    struct Identity {
        QByteArray userId;
        qint64 expiresAtMs = 0;
    };

    // One legacy key (no kid) and the default policy. An empty secret verifies nothing (every
    // token is UnknownKey) and issues nothing.
    explicit BuyerTokens(QByteArray secret, BuyerTokenPolicy policy = {});
    // A key set: the first key signs what issue() makes; every key verifies. Empty secrets are
    // dropped.
    BuyerTokens(const QList<BuyerTokenKey> &keys, BuyerTokenPolicy policy);

    bool enabled() const { return !m_keys.isEmpty(); }
    const BuyerTokenPolicy &policy() const { return m_policy; }
    [[nodiscard]] std::expected<Identity, Error> verify(const QByteArray &token,
                                                        qint64 nowMs) const;
    // A token for `userId` issued at `nowMs` and expiring at `expiresAtMs`, with the policy's
    // "iss" and "aud" and the first key's "kid" (dev mode, tools and tests). Empty when the set
    // is empty. The caller keeps expiresAtMs - nowMs within the maximum lifetime.
    QByteArray issue(const QByteArray &userId, qint64 nowMs, qint64 expiresAtMs) const;

    static const char *errorText(Error e);

private:
    QList<BuyerTokenKey> m_keys;
    BuyerTokenPolicy m_policy;
};

} // namespace flashsale
