#pragma once

#include <QByteArray>
#include <QByteArrayView>

#include <optional>
#include <span>

namespace flashsale {

struct RedisValue;

// What book.lua decided. Only the fields of the outcome's kind are set.
struct BookingOutcome {
    enum class Kind {
        Accepted,
        UnknownSale,
        NotStarted,
        Closed,
        Paused,
        ItemRequired,
        UnknownItem,
        SoldOut,
        InsufficientStock,
        PerUserLimit,
        Throttled,
        IdempotencyMismatch,
        RateLimited, // rateScope names the limit ("ip" or "user"); retryAfterMs when to retry
        PowRequired, // the sale asks for a proof of work of powDifficulty bits
        PowTooEasy,  // the one presented is below the sale's powDifficulty
        PowReplayed, // the challenge was spent by an earlier booking
        // A sale with a waiting room (docs/WAITING_ROOM.md, "Admission"):
        AdmissionRequired, // no X-Admission-Token
        AdmissionInvalid,  // the entry is not the buyer's, or was never admitted
        AdmissionExpired,  // admitted, but the admission ran out (a no-show)
        AdmissionSpent,    // the admission already booked
    };
    Kind kind = Kind::UnknownSale;
    QByteArray reservationId;
    qint64 itemId = 0;
    int quantity = 0;
    qint64 expiresAtMs = 0;
    qint64 remaining = 0;
    qint64 priceCents = 0;
    bool replayed = false;
    qint64 startsAtMs = 0;
    qint64 nowMs = 0;
    qint64 retryAfterMs = 0;
    qint64 held = 0;
    qint64 limit = 0;
    QByteArray rateScope;
    int powDifficulty = 0;
    bool wholeSaleSoldOut = false; // SoldOut: every item of the sale is at 0, not only this one

    // book.lua's reply read: the outcome and the fields its kind carries, or nullopt when the
    // reply is not an array or its first element is no outcome's code (the caller's error).
    static std::optional<BookingOutcome> fromReply(const RedisValue &reply);
};

// Every spelling of a booking outcome, in one table (outcome.cpp):
//
//   code      book.lua's first reply element, the `outcome` label of flashsale_bookings_total
//             and the name live stats count it under (rejected_per_s): one name, snake_case.
//   problem   the slug of its problem type, /problems/<slug> (docs/API.md); null for accepted.
//             Several refusals share a type with refusals made before book.lua runs (a sale id
//             that cannot exist is sale-not-found too; a bad proof of work is pow-invalid),
//             so a problem type is not always the outcome's code in kebab-case.
//   status    the HTTP status it is answered with.
//
// Codes, labels, problem types and statuses are external contracts (dashboards, docs/API.md,
// the buyer page, flashsale-bench); change one only with all of its consumers.
struct BookingOutcomeSpelling {
    BookingOutcome::Kind kind;
    const char *code;
    const char *problem;
    int status;
};

// The table, one row per Kind, in the Kind's order.
std::span<const BookingOutcomeSpelling> bookingOutcomeSpellings();
// The row of `kind`.
const BookingOutcomeSpelling &bookingOutcomeSpelling(BookingOutcome::Kind kind);
// The outcome whose code is `code`, or nullopt.
std::optional<BookingOutcome::Kind> bookingOutcomeOfCode(QByteArrayView code);

// What live stats count a booking under when Redis could not decide it (503): not an outcome
// of book.lua, so it has no row above.
inline constexpr char kBookingUndecided[] = "unavailable";

} // namespace flashsale
