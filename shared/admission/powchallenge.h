#pragma once

#include "core/hmacsha256.h"

#include <QByteArray>
#include <QByteArrayView>

#include <expected>

namespace flashsale {

// Equal bytes, compared in a time that does not depend on where they first differ (MACs).
bool constantTimeEquals(QByteArrayView a, QByteArrayView b);

// Stateless proof-of-work challenges (docs/ADMISSION.md):
//
//   v1.<sale id>.<base64url user>.<nonce, 32 hex>.<difficulty>.<expiry ms>.<base64url HMAC>
//
// The HMAC-SHA256 covers everything before its dot, under a key derived from the server's
// secret, so any API process can check a challenge another one issued. A solution is a decimal
// string s such that SHA-256(challenge ":" s) begins with `difficulty` zero bits. That a
// challenge is used once is checked in Redis by book.lua (the nonce), not here.
class PowChallenges {
public:
    enum class Error { Malformed, BadSignature, WrongSale, WrongUser, Expired, WrongSolution };
    struct Checked {
        QByteArray nonce;
        int difficulty = 0;
        qint64 expiresAtMs = 0;
    };

    // An empty secret signs with a random key of this process (challenges then verify only on
    // the process that issued them).
    explicit PowChallenges(const QByteArray &secret);

    QByteArray issue(qint64 saleId, const QByteArray &userId, int difficulty,
                     qint64 expiresAtMs) const;
    [[nodiscard]] std::expected<Checked, Error> verify(const QByteArray &challenge,
                                                       const QByteArray &solution, qint64 saleId,
                                                       const QByteArray &userId,
                                                       qint64 nowMs) const;

    // Leading zero bits of SHA-256(challenge ":" solution).
    static int work(const QByteArray &challenge, const QByteArray &solution);
    // The first solution (counting from 0) that meets `difficulty`: for tests and tools.
    static QByteArray solve(const QByteArray &challenge, int difficulty);
    static const char *errorText(Error e);

private:
    // HMAC-SHA256 of `message` under m_key; valid until the next call on this thread.
    QByteArrayView hmac(QByteArrayView message) const { return m_mac.mac(message); }

    QByteArray m_key;
    HmacSha256 m_mac; // m_key's pads, computed once
};

} // namespace flashsale
