#pragma once

#include "admission/buyertoken.h"
#include "admission/powchallenge.h"
#include "http/httpexchange.h"

#include <QByteArray>
#include <QString>

#include <optional>

class QHostAddress;

namespace flashsale {

struct Config;

// A proof of work a buyer presented and the API checked (signature, sale, user, solution).
struct CheckedProofOfWork {
    int difficulty = -1; // -1: none presented (the script says whether the sale asks for one)
    QByteArray nonce;
    qint64 ttlMs = 0; // until the challenge expires
};

// Who a buyer request comes from, for every route a buyer calls (ApiRoutes, the waiting-room
// routes): the buyer token, the proof-of-work headers and the client address. Each method that
// can refuse sends the problem itself and returns nullopt. Immutable after construction, so one
// per API thread; used on that thread.
class BuyerAuth {
public:
    explicit BuyerAuth(const Config &config);

    // The buyer of a request: the buyer token's subject, or in dev mode the user the request
    // names. Sends the problem (401, 403, 400) and returns nullopt when there is none.
    // `claimed` is the user_id the body or query gave (may be empty).
    std::optional<QByteArray> buyer(const ExchangePtr &ex, const QString &claimed,
                                    const QString &claimedPointer) const;
    // The proof of work of X-Pow-Challenge / X-Pow-Solution, checked for `saleId` and `userId`
    // (difficulty -1 when none was sent); sends the problem and returns nullopt when present but
    // not valid.
    std::optional<CheckedProofOfWork> proofOfWork(const ExchangePtr &ex, qint64 saleId,
                                                  const QByteArray &userId) const;
    // The client the per-IP rate limit (and the waiting room's address cap) counts: the peer, or
    // the last X-Forwarded-For hop when the peer is a trusted proxy, as rateLimitAddress()
    // spells it.
    QByteArray clientIp(const ExchangePtr &ex) const;
    // The rate-limit identity of an address: IPv4 (IPv4-mapped IPv6 included) as itself, IPv6
    // as its /64 ("2001:db8:1:2::/64"), since one subscriber holds a whole /64.
    static QByteArray rateLimitAddress(const QHostAddress &address);

    const BuyerTokens &tokens() const { return m_tokens; }
    const PowChallenges &challenges() const { return m_pow; }
    // The secret proof-of-work challenges are signed under: the legacy --buyer-token-secret, or
    // else the first rotating key. Waiting-room receipts derive their key from it too.
    static QByteArray powSecret(const Config &config);

private:
    const Config &m_config;
    BuyerTokens m_tokens;
    PowChallenges m_pow;
};

} // namespace flashsale
