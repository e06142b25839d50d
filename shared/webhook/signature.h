#pragma once

#include <QByteArray>
#include <QByteArrayView>
#include <QList>
#include <QString>

// Webhook signatures, one scheme for both directions (issue 19): the payment provider's calls to
// POST /api/v1/payments/webhook, and the order events this system sends to merchants. Modelled
// on Stripe's "Stripe-Signature":
//
//   Flashsale-Signature: t=1700000000,v1=0a7319...7321[,v1=<hex>...]
//                          │            └ lowercase hex HMAC-SHA256(secret, "<t>.<raw body>"),
//                          │              one per active secret while a secret is rotated
//                          └ the sender's clock, unix seconds, decimal, no sign, no leading zero
//
// The MAC covers the timestamp and the raw bytes of the body exactly as they arrived (before any
// JSON parsing), so neither can be changed or replayed later than the tolerance allows. HMAC is
// libsodium's (crypto_auth_hmacsha256, any key length), comparisons are constant-time
// (sodium_memcmp).
//
// Rotating a secret: the receiver verifies with [new, old] for as long as senders may still use
// the old one; a sender signs with every secret it holds (one v1 each), so a receiver with either
// secret accepts the call.
//
// Deduplicating events by id and applying out-of-order outcomes once is the caller's job, over
// PostgreSQL: docs/PAYMENTS.md, "Incoming webhooks: duplicates and order" (a design, not built
// yet). A valid signature proves who sent a call and when, not that it is the first delivery.
//
// Every function here is pure and thread-safe: no state, no I/O, no event loop.

namespace flashsale {

// The header's name, for senders and receivers alike (HTTP header names are case-insensitive).
inline constexpr char kWebhookSignatureHeader[] = "Flashsale-Signature";
// The longest header value verify() parses: t and seven v1 fit. Longer is Malformed unread, so a
// hostile header costs no more than this.
inline constexpr qsizetype kWebhookSignatureMaxBytes = 512;
// The default tolerance on |now - t|, Stripe's: five minutes.
inline constexpr qint64 kWebhookToleranceSeconds = 300;

// What verify() found. `status` is what a caller branches on; the other fields say more for
// logs and the problem+json detail.
struct WebhookVerdict {
    enum class Status {
        Ok,           // one v1 is the HMAC of a configured secret, and t is within the tolerance
        Malformed,    // the header cannot be read: `malformation` says what is wrong
        Stale,        // a genuine signature whose t lies outside the tolerance: `staleness`
        BadSignature, // well-formed, but no v1 matches any configured secret (forged, altered,
                      // or signed with a secret this side does not hold)
    };
    enum class Malformation {
        None,
        Empty,          // no header value at all
        TooLong,        // longer than kWebhookSignatureMaxBytes
        BadElement,     // an element between commas is not key=value (empty, no '=', bad key)
        NoTimestamp,    // no t=
        TwoTimestamps,  // t= more than once: which one was signed is ambiguous
        BadTimestamp,   // t is not 1-12 decimal digits without a sign or a leading zero
        NoSignature,    // no v1= (other schemes, such as v0=, are ignored)
        BadSignatureHex // a v1 is not 64 hex digits
    };
    enum class Staleness {
        Fresh,
        TooOld, // t < now - tolerance: a late delivery or a replay
        TooNew, // t > now + tolerance: the sender's clock runs ahead (or this one behind)
    };

    Status status = Status::Malformed;
    Malformation malformation = Malformation::None;
    Staleness staleness = Staleness::Fresh;
    qint64 timestamp = 0;  // t, once parsed
    qint64 ageSeconds = 0; // now - t, once parsed: positive when t is in the past
    int secretIndex = -1;  // Ok and Stale: the index in `secrets` of the secret that matched

    bool ok() const { return status == Status::Ok; }
};

// The header value for `body` sent at `timestamp` (unix seconds, >= 0): "t=<t>,v1=<hex>", one
// v1 per secret, in the order given. Empty secrets are skipped; with none left the result is
// "t=<t>" alone, which every receiver refuses (NoSignature). A negative timestamp is a caller's
// bug: asserted in debug builds, signed as 0 in release builds.
QByteArray webhookSign(QByteArrayView secret, qint64 timestamp, QByteArrayView body);
QByteArray webhookSign(const QList<QByteArray> &secrets, qint64 timestamp, QByteArrayView body);

// Checks a received header value against the raw `body`, with the secrets this side accepts
// (one, or two during a rotation: the order does not matter, `secretIndex` says which matched),
// at `nowSeconds`, accepting |now - t| <= `toleranceSeconds` (exactly at the tolerance is Ok; a
// negative tolerance is a caller's bug: asserted, and taken as 0).
//
// The checks run in this order, and the first that fails decides:
//   1. length (TooLong before anything is parsed), then the syntax: Malformed;
//   2. the signature, against every configured non-empty secret: BadSignature when none
//      matches (also when no secret is configured);
//   3. the timestamp: Stale, with its direction.
// The signature comes before the time, as Stripe's libraries do it: Stale then means "genuine
// but old" (worth a log line about clocks or replays), and a forgery is BadSignature whatever
// its t says. A call that is both forged and stale costs one HMAC per secret to refuse.
[[nodiscard]] WebhookVerdict webhookVerify(QByteArrayView header, QByteArrayView body,
                                           const QList<QByteArray> &secrets, qint64 nowSeconds,
                                           qint64 toleranceSeconds = kWebhookToleranceSeconds);

// One English sentence on a verdict, for a log line or a problem's "detail" (it names no
// secret and no expected signature).
QString webhookVerdictText(const WebhookVerdict &verdict);

} // namespace flashsale
