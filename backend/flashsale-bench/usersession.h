#pragma once

#include "loadconfig.h"
#include "responseparser.h"

#include <QByteArray>
#include <QByteArrayView>

#include <random>

namespace flashsale::bench {

struct LoadResults;

// How a request ended without an HTTP answer.
enum class TransportError {
    Reset,   // reset or closed by the peer before the whole answer
    Timeout, // no whole answer within --timeout-ms
    Refused, // no connection to any --url could be made; nothing was sent
};

// "transport:reset", "transport:timeout", "transport:refused": the report's by_type label.
const char *transportErrorLabel(TransportError e);

// One simulated user: what it sends next and what it does with each answer (docs/API.md).
//
//   human: per booking (--units-per-user of them, key "<user>-<n>")
//            [challenge -> solve] -> book -> [purchase]      (--pow, --flow checkout)
//          with --retry, a transport error, 5xx, 429 or 403 sale-not-started is retried after
//          a backoff (or the wait the server names) with the same key, up to --max-retries
//   bot:   --bot-attempts bookings, key "<user>-b<n>", back to back, never retrying
//   --waiting-room: join -> poll ... poll -> book with X-Admission-Token (one booking, key
//          "<user>-1"); the user waits out the lobby (until the cohort closes, by the server's
//          clock in the join answer) and between polls (the ETA given, 250 ms to --poll-max-ms,
//          with jitter). It ends when told an outcome: booked, sold-out, closed, expired,
//          queue-full; or, with no retry left or at the run's end, untold.
//
// A booking whose outcome the user never learnt (a request sent but not answered, or answered
// 5xx, and no later answer for the same key that settles it) is an "unknown" ledger line.
//
// Owned and driven by one LoadWorker thread; the results go to that thread's LoadResults.
class UserSession {
public:
    // What the worker does next with this session.
    struct Step {
        enum Kind { Send, Wait, Done } kind = Done;
        qint64 delayUs = 0; // Wait only
    };

    UserSession(const LoadConfig &config, qint64 userNumber, bool bot, QByteArrayView token);

    // Starts the first booking; always Send.
    Step start(std::mt19937_64 &rng);
    // The request to send next, for a connection to `url`.
    QByteArray request(const BaseUrl &url) const;
    // The by_type label of an answer to the request in flight: "accepted" / "confirmed" /
    // "challenge" for successes, the problem slug for problems, "http-<status>" otherwise.
    QByteArray label(const HttpReply &reply) const;
    // An answer to the request from request(); records bookings, replays and retries.
    Step onReply(const HttpReply &reply, QByteArrayView slug, LoadResults &results,
                 std::mt19937_64 &rng);
    // The request failed without an answer; `sent` says whether any byte reached the socket.
    Step onFailure(TransportError error, bool sent, LoadResults &results, std::mt19937_64 &rng);
    // The run stops before this session is done: an unsettled booking becomes "unknown".
    void abandon(LoadResults &results);

    bool isBot() const { return m_bot; }
    const QByteArray &userId() const { return m_userId; }

    // The raw value of a top-level JSON field in a compact server body (a string without its
    // quotes, a number as text); empty when absent. Enough for the server's own answers.
    static QByteArrayView jsonField(QByteArrayView body, QByteArrayView name);
    // "sold-out" from {"type":"/problems/sold-out",...}; empty when the body is no problem.
    static QByteArrayView problemSlug(QByteArrayView body);

private:
    enum class Phase { Challenge, Book, Purchase, Join, Poll };

    // Waiting room: what to do with a join's or a poll's 2xx answer (its "state").
    Step onQueueAnswer(const HttpReply &reply, LoadResults &results, std::mt19937_64 &rng);
    // Waiting room: the user learnt its outcome ("booked", "sold-out", ...); the session ends.
    Step told(QByteArrayView outcome, LoadResults &results);
    // Waiting room: the next poll in `delayUs`, with jitter (75-125%).
    Step pollIn(qint64 delayUs, std::mt19937_64 &rng);

    Step beginBooking(std::mt19937_64 &rng);
    Step finishBooking(LoadResults &results, std::mt19937_64 &rng);
    // A retry after a backoff, or the end of the booking when no retry is left.
    Step retryOrFinish(qint64 retryAfterMs, LoadResults &results, std::mt19937_64 &rng);
    void markAmbiguous(const char *reason);

    const LoadConfig &m_config;
    QByteArray m_userId;
    QByteArray m_token;
    bool m_bot = false;
    int m_bookingsLeft = 0;
    int m_bookingNo = 0;

    // The booking in progress.
    Phase m_phase = Phase::Book;
    QByteArray m_key;
    qint64 m_itemId = 0;
    int m_retries = 0;
    bool m_ambiguous = false; // a request for this key may have been accepted unseen
    const char *m_ambiguousReason = "";
    QByteArray m_challenge;
    QByteArray m_solution;
    QByteArray m_code; // the hold to confirm (checkout flow)

    // Waiting room.
    QByteArray m_admission; // the admission token, once admitted
    bool m_joined = false;  // the join was answered 2xx (counted once)
    bool m_told = false;    // an outcome was learnt, or its absence counted (once)
    QByteArray m_untoldWhy; // the last answer that was no outcome, for the untold count
};

} // namespace flashsale::bench
