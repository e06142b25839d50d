#pragma once

#include "core/hmacsha256.h"

#include <QByteArray>
#include <QByteArrayView>

#include <expected>

namespace flashsale {

// Admission tokens of the waiting room (docs/WAITING_ROOM.md, "Admission"):
//
//   at1.<sale id>.<entry id>.<base64url user>.<expires ms>.<base64url HMAC>
//
// GET /api/v1/sales/{id}/queue mints one once the buyer's entry is admitted (in wr:adm; the
// expiry is its score there); the buyer sends it as X-Admission-Token when booking. The
// HMAC-SHA256 covers everything before its dot, under a key derived from the buyer-token secret
// with its own label ("flashsale-admission-v1"), so no other MAC made with that secret (proof-of-
// work challenges, receipt keys) can pass for one, and every API process checks a token another
// one minted. The check here is the stateless half (MAC, sale, buyer, expiry); that the entry is
// admitted, the buyer's and not yet spent is book.lua's, in the booking's own call.
// Immutable after construction; any thread.
class AdmissionTokens {
public:
    enum class Error { Malformed, BadSignature, WrongSale, WrongUser, Expired };
    struct Checked {
        QByteArray entryId;
        qint64 expiresAtMs = 0;
    };

    // An empty secret signs with a random key of this process (tokens then verify only on the
    // process that minted them), as PowChallenges does.
    explicit AdmissionTokens(const QByteArray &secret);

    QByteArray issue(qint64 saleId, const QByteArrayView entryId, const QByteArray &userId,
                     qint64 expiresAtMs) const;
    // Checks `token` for a booking of `saleId` by `userId` at `nowMs`. Malformed and
    // BadSignature come before the rest, so a forged token never says whose it would be.
    [[nodiscard]] std::expected<Checked, Error>
    verify(QByteArrayView token, qint64 saleId, const QByteArray &userId, qint64 nowMs) const;
    static const char *errorText(Error e);

private:
    HmacSha256 m_mac;
};

} // namespace flashsale
