#include "outcome.h"

#include "redis/redisvalue.h"

#include <array>

namespace flashsale {

namespace {

using K = BookingOutcome::Kind;

constexpr std::array<BookingOutcomeSpelling, 20> kSpellings{{
    {K::Accepted, "accepted", nullptr, 202},
    {K::UnknownSale, "unknown_sale", "sale-not-found", 404},
    {K::NotStarted, "not_started", "sale-not-started", 403},
    {K::Closed, "closed", "sale-closed", 403},
    {K::Paused, "paused", "sale-paused", 403},
    {K::ItemRequired, "item_required", "item-required", 400},
    {K::UnknownItem, "unknown_item", "item-not-found", 404},
    {K::SoldOut, "sold_out", "sold-out", 409},
    {K::InsufficientStock, "insufficient_stock", "insufficient-stock", 409},
    {K::PerUserLimit, "per_user_limit", "per-user-limit", 409},
    {K::Throttled, "throttled", "throttled", 429},
    {K::IdempotencyMismatch, "idempotency_mismatch", "idempotency-key-reused", 422},
    {K::RateLimited, "rate_limited", "rate-limited", 429},
    {K::PowRequired, "pow_required", "pow-required", 428},
    {K::PowTooEasy, "pow_too_easy", "pow-invalid", 403},
    {K::PowReplayed, "pow_replayed", "pow-replayed", 409},
    {K::AdmissionRequired, "admission_required", "admission-required", 428},
    {K::AdmissionInvalid, "admission_invalid", "admission-invalid", 403},
    {K::AdmissionExpired, "admission_expired", "admission-expired", 410},
    {K::AdmissionSpent, "admission_spent", "admission-spent", 409},
}};

// bookingOutcomeSpelling() indexes the table by Kind.
constexpr bool inKindOrder() {
    for (std::size_t i = 0; i < kSpellings.size(); ++i)
        if (std::size_t(kSpellings[i].kind) != i)
            return false;
    return true;
}
static_assert(inKindOrder(), "one row per BookingOutcome::Kind, in its order");
static_assert(std::size_t(K::AdmissionSpent) + 1 == kSpellings.size(), "a Kind without a row");

} // namespace

std::span<const BookingOutcomeSpelling> bookingOutcomeSpellings() {
    return kSpellings;
}

const BookingOutcomeSpelling &bookingOutcomeSpelling(BookingOutcome::Kind kind) {
    return kSpellings[std::size_t(kind)];
}

std::optional<BookingOutcome::Kind> bookingOutcomeOfCode(QByteArrayView code) {
    for (const BookingOutcomeSpelling &s : kSpellings)
        if (code == QByteArrayView(s.code))
            return s.kind;
    return std::nullopt;
}

std::optional<BookingOutcome> BookingOutcome::fromReply(const RedisValue &v) {
    if (!v.isArray() || v.elements.isEmpty())
        return std::nullopt;
    const auto kind = bookingOutcomeOfCode(v.at(0).bytes());
    if (!kind)
        return std::nullopt;
    // The fields after the code, per lua/book.lua's contract.
    BookingOutcome o;
    o.kind = *kind;
    switch (*kind) {
    case K::Accepted:
        o.reservationId = v.at(1).bytes();
        o.itemId = v.at(2).toInt();
        o.quantity = int(v.at(3).toInt());
        o.expiresAtMs = v.at(4).toInt();
        o.remaining = v.at(5).toInt();
        o.replayed = v.at(6).toInt() == 1;
        o.priceCents = v.at(7).toInt();
        break;
    case K::NotStarted:
        o.startsAtMs = v.at(1).toInt();
        o.nowMs = v.at(2).toInt();
        break;
    case K::InsufficientStock:
        o.remaining = v.at(1).toInt();
        break;
    case K::PerUserLimit:
        o.held = v.at(1).toInt();
        o.limit = v.at(2).toInt();
        break;
    case K::Throttled:
        o.retryAfterMs = v.at(1).toInt();
        break;
    case K::RateLimited:
        o.rateScope = v.at(1).bytes();
        o.retryAfterMs = v.at(2).toInt();
        break;
    case K::PowRequired:
    case K::PowTooEasy:
        o.powDifficulty = int(v.at(1).toInt());
        break;
    case K::SoldOut:
        o.wholeSaleSoldOut = v.at(1).toInt() == 1;
        break;
    case K::UnknownSale:
    case K::Closed:
    case K::Paused:
    case K::ItemRequired:
    case K::UnknownItem:
    case K::IdempotencyMismatch:
    case K::PowReplayed:
    case K::AdmissionRequired:
    case K::AdmissionInvalid:
    case K::AdmissionExpired:
    case K::AdmissionSpent:
        break;
    }
    return o;
}

} // namespace flashsale
