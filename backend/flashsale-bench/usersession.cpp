#include "usersession.h"

#include "admission/powchallenge.h"
#include "loadresults.h"

#include <QDateTime>
#include <QUrl>

#include <algorithm>
#include <optional>

namespace flashsale::bench {

namespace {

// Answers a human tries again after (with --retry): the server was busy, or the sale had not
// opened yet by the server's clock (the local one may run ahead of it).
bool isRetryable(const HttpReply &r, QByteArrayView slug) {
    return r.status >= 500 || r.status == 429 || r.status == 408
           || (r.status == 403 && slug == "sale-not-started");
}

// Milliseconds from one ISO 8601 instant of a body to another; nullopt when either is missing.
std::optional<qint64> msBetween(QByteArrayView body, QByteArrayView from, QByteArrayView to) {
    const QDateTime a = QDateTime::fromString(
        QString::fromLatin1(UserSession::jsonField(body, from)), Qt::ISODateWithMs);
    const QDateTime b = QDateTime::fromString(QString::fromLatin1(UserSession::jsonField(body, to)),
                                              Qt::ISODateWithMs);
    if (!a.isValid() || !b.isValid())
        return std::nullopt;
    return a.msecsTo(b);
}

// How long until the sale opens, by the server's clock, from a sale-not-started problem;
// -1 when the body does not say.
qint64 msUntilStart(QByteArrayView body) {
    const auto ms = msBetween(body, "server_time", "starts_at");
    return ms ? std::max<qint64>(0, *ms) : -1;
}

} // namespace

const char *transportErrorLabel(TransportError e) {
    switch (e) {
    case TransportError::Reset:
        return "transport:reset";
    case TransportError::Timeout:
        return "transport:timeout";
    case TransportError::Refused:
        return "transport:refused";
    }
    return "transport:error";
}

UserSession::UserSession(const LoadConfig &config, qint64 userNumber, bool bot,
                         QByteArrayView token)
    : m_config(config)
    , m_userId(config.userPrefix + QByteArray::number(userNumber))
    , m_token(token.toByteArray())
    , m_bot(bot)
    , m_bookingsLeft(bot ? config.botAttempts : config.unitsPerUser) {}

QByteArrayView UserSession::jsonField(QByteArrayView body, QByteArrayView name) {
    // Compact JSON from QJsonDocument: "name":value, no spaces. A nested object's field of the
    // same name could match first, but the server's bodies name the fields read here once.
    qsizetype from = 0;
    while (true) {
        const qsizetype at = body.indexOf(name, from);
        if (at < 1)
            return {};
        from = at + 1;
        const qsizetype after = at + name.size();
        if (body.at(at - 1) != '"' || after + 1 >= body.size() || body.at(after) != '"'
            || body.at(after + 1) != ':')
            continue;
        qsizetype v = after + 2;
        if (v < body.size() && body.at(v) == '"') {
            const qsizetype end = body.indexOf('"', v + 1);
            return end < 0 ? QByteArrayView() : body.sliced(v + 1, end - v - 1);
        }
        qsizetype end = v;
        while (end < body.size() && body.at(end) != ',' && body.at(end) != '}')
            ++end;
        return body.sliced(v, end - v);
    }
}

QByteArrayView UserSession::problemSlug(QByteArrayView body) {
    const QByteArrayView type = jsonField(body, "type");
    const qsizetype slash = type.lastIndexOf('/');
    return slash < 0 ? type : type.sliced(slash + 1);
}

UserSession::Step UserSession::start(std::mt19937_64 &rng) {
    const Step first = beginBooking(rng);
    if (m_config.waitingRoom)
        m_phase = Phase::Join;
    return first;
}

UserSession::Step UserSession::beginBooking(std::mt19937_64 &rng) {
    ++m_bookingNo;
    m_key = m_userId + (m_bot ? "-b" : "-") + QByteArray::number(m_bookingNo);
    m_itemId = m_config.items.isEmpty()
                   ? 0
                   : m_config.items.at(qsizetype(rng() % quint64(m_config.items.size())));
    m_retries = 0;
    m_ambiguous = false;
    m_ambiguousReason = "";
    m_code.clear();
    m_phase = m_config.pow ? Phase::Challenge : Phase::Book;
    return Step{Step::Send, 0};
}

UserSession::Step UserSession::finishBooking(LoadResults &results, std::mt19937_64 &rng) {
    abandon(results);
    if (--m_bookingsLeft > 0)
        return beginBooking(rng);
    return Step{Step::Done, 0};
}

void UserSession::markAmbiguous(const char *reason) {
    // Only booking requests can be accepted unseen; a challenge or a purchase cannot book.
    if (m_phase != Phase::Book)
        return;
    m_ambiguous = true;
    m_ambiguousReason = reason;
}

UserSession::Step UserSession::retryOrFinish(qint64 retryAfterMs, LoadResults &results,
                                             std::mt19937_64 &rng) {
    if (m_bot || !m_config.retry || m_retries >= m_config.maxRetries)
        return finishBooking(results, rng);
    ++m_retries;
    ++results.retries;
    const qint64 baseUs = qint64(m_config.backoffMs) * 1000;
    const qint64 capUs = qint64(m_config.backoffMaxMs) * 1000;
    qint64 delayUs;
    if (retryAfterMs >= 0) {
        // The server said when; a little jitter keeps the retries from arriving as one wave.
        delayUs = retryAfterMs * 1000 + qint64(rng() % quint64(baseUs + 1));
    } else {
        // Full jitter: uniform in [0, min(cap, base * 2^retry)].
        const qint64 ceiling = std::min(capUs, baseUs << std::min(m_retries - 1, 30));
        delayUs = qint64(rng() % quint64(ceiling + 1));
    }
    // A purchase, a join or a poll retries itself; a booking (with --pow) needs a fresh
    // challenge, as the last one may have been spent.
    if (m_phase == Phase::Challenge || m_phase == Phase::Book)
        m_phase = m_config.pow ? Phase::Challenge : Phase::Book;
    return Step{Step::Wait, delayUs};
}

QByteArray UserSession::request(const BaseUrl &url) const {
    QByteArray method = "POST";
    QByteArray path;
    QByteArray body;
    bool withKey = false;
    bool withPow = false;
    const QByteArray sale = QByteArray::number(m_config.saleId);
    switch (m_phase) {
    case Phase::Challenge:
        path = url.basePath + "/api/v1/sales/" + sale + "/challenge";
        body = m_config.devUserIds ? "{\"user_id\":\"" + m_userId + "\"}" : QByteArray("{}");
        break;
    case Phase::Book:
        withKey = true;
        withPow = m_config.pow;
        if (m_config.flow == LoadConfig::Flow::Checkout) {
            path = url.basePath + "/checkout?id=" + QByteArray::number(m_itemId);
            if (m_config.devUserIds)
                path += "&user_id=" + m_userId;
        } else {
            path = url.basePath + "/api/v1/sales/" + sale + "/book";
            body = "{\"quantity\":" + QByteArray::number(m_config.quantity);
            if (m_itemId != 0)
                body += ",\"item_id\":" + QByteArray::number(m_itemId);
            if (m_config.devUserIds)
                body += ",\"user_id\":\"" + m_userId + "\"";
            body += '}';
        }
        break;
    case Phase::Purchase:
        // The code goes in the body, never the query string (access logs); the hold is the
        // user's own, so the server wants this user's token (loadconfig requires one).
        path = url.basePath + "/purchase";
        body = "{\"code\":\"" + m_code + "\"}";
        break;
    case Phase::Join:
        path = url.basePath + "/api/v1/sales/" + sale + "/queue";
        body = m_config.devUserIds ? "{\"user_id\":\"" + m_userId + "\"}" : QByteArray("{}");
        break;
    case Phase::Poll:
        method = "GET";
        path = url.basePath + "/api/v1/sales/" + sale + "/queue";
        if (m_config.devUserIds)
            path += "?user_id=" + m_userId;
        break;
    }
    QByteArray r;
    r.reserve(256 + body.size() + m_token.size() + m_challenge.size() + m_admission.size());
    r += method + ' ' + path + " HTTP/1.1\r\nHost: " + url.host + "\r\n";
    if (!body.isEmpty())
        r += "Content-Type: application/json\r\n";
    r += "Content-Length: " + QByteArray::number(body.size()) + "\r\n";
    if (!m_token.isEmpty())
        r += "Authorization: Bearer " + m_token + "\r\n";
    if (withKey)
        r += "Idempotency-Key: " + m_key + "\r\n";
    if (withKey && !m_admission.isEmpty())
        r += "X-Admission-Token: " + m_admission + "\r\n";
    if (withPow)
        r += "X-Pow-Challenge: " + m_challenge + "\r\nX-Pow-Solution: " + m_solution + "\r\n";
    r += "\r\n";
    r += body;
    return r;
}

QByteArray UserSession::label(const HttpReply &reply) const {
    if (reply.status >= 200 && reply.status < 300) {
        switch (m_phase) {
        case Phase::Challenge:
            return QByteArrayLiteral("challenge");
        case Phase::Book:
            return QByteArrayLiteral("accepted");
        case Phase::Purchase:
            return QByteArrayLiteral("confirmed");
        case Phase::Join:
            return QByteArrayLiteral("joined");
        case Phase::Poll:
            return "queue:" + jsonField(reply.body, "state").toByteArray();
        }
    }
    const QByteArrayView slug = problemSlug(reply.body);
    if (!slug.isEmpty())
        return slug.toByteArray();
    return "http-" + QByteArray::number(reply.status);
}

UserSession::Step UserSession::onReply(const HttpReply &reply, QByteArrayView slug,
                                       LoadResults &results, std::mt19937_64 &rng) {
    qint64 retryAfterMs = reply.retryAfterMs;
    const QByteArrayView bodyRetry = jsonField(reply.body, "retry_after_ms");
    if (!bodyRetry.isEmpty()) {
        bool ok = false;
        const qint64 v = bodyRetry.toLongLong(&ok);
        if (ok && v >= 0)
            retryAfterMs = v;
    }
    if (reply.status == 403 && slug == "sale-not-started") {
        const qint64 until = msUntilStart(reply.body);
        if (until >= 0)
            retryAfterMs = until;
    }

    switch (m_phase) {
    case Phase::Challenge: {
        if (reply.status == 201) {
            m_challenge = jsonField(reply.body, "challenge").toByteArray();
            const int difficulty = jsonField(reply.body, "difficulty").toInt();
            // Solving runs on this thread's loop: a real client pays this time too, and the
            // work is what the proof of work is there to cost.
            m_solution = PowChallenges::solve(m_challenge, difficulty);
            m_phase = Phase::Book;
            return Step{Step::Send, 0};
        }
        if (isRetryable(reply, slug))
            return retryOrFinish(retryAfterMs, results, rng);
        return finishBooking(results, rng);
    }
    case Phase::Book: {
        if (reply.status == 202) {
            m_ambiguous = false;
            ++results.accepted;
            if (reply.replayed)
                ++results.replays;
            LedgerBooking b;
            b.user = QString::fromUtf8(m_userId);
            b.key = QString::fromUtf8(m_key);
            b.reservationId = QString::fromUtf8(jsonField(reply.body, "reservation_id"));
            const qint64 item = jsonField(reply.body, "item_id").toLongLong();
            b.itemId = item > 0 ? item : m_itemId;
            const int quantity = jsonField(reply.body, "quantity").toInt();
            b.quantity = quantity > 0 ? quantity : m_config.quantity;
            b.replayed = reply.replayed;
            m_code = b.reservationId.toUtf8();
            results.acceptedLines.append(b);
            if (m_config.flow == LoadConfig::Flow::Checkout && !m_code.isEmpty()) {
                m_phase = Phase::Purchase;
                m_retries = 0;
                return Step{Step::Send, 0};
            }
            if (m_config.waitingRoom)
                return told("booked", results);
            return finishBooking(results, rng);
        }
        // What settles an earlier unanswered request for this key: any answer decided after
        // book.lua's idempotent-replay check. 5xx is undecided; a rate limit (checked before
        // the replay) and 408 (the request was never read) say nothing about the earlier one.
        if (reply.status >= 500)
            markAmbiguous(reply.status == 503 ? "http-503" : "http-5xx");
        else if (reply.status != 408 && !(reply.status == 429 && slug == "rate-limited"))
            m_ambiguous = false;
        if (m_config.waitingRoom) {
            m_untoldWhy = "book:" + label(reply);
            // Final answers a buyer is told; an admission that ran out or was refused is
            // looked up again (the poll says expired, or admitted with a new token).
            if (slug == "sold-out" || slug == "sale-closed")
                return told(slug, results);
            if (slug.startsWith("admission-")) {
                m_admission.clear();
                m_phase = Phase::Poll;
                return Step{Step::Send, 0};
            }
        }
        if (isRetryable(reply, slug))
            return retryOrFinish(retryAfterMs, results, rng);
        return finishBooking(results, rng);
    }
    case Phase::Join:
    case Phase::Poll:
        if (reply.status == 200 || reply.status == 201) {
            m_retries = 0;
            return onQueueAnswer(reply, results, rng);
        }
        m_untoldWhy = (m_phase == Phase::Join ? "join:" : "poll:") + label(reply);
        if (slug == "sale-closed")
            return told("closed", results);
        if (slug == "queue-full")
            return told("queue-full", results);
        if (isRetryable(reply, slug) || (reply.status == 403 && slug == "lobby-not-open"))
            return retryOrFinish(retryAfterMs, results, rng);
        return finishBooking(results, rng);
    case Phase::Purchase:
        if (reply.status == 202) {
            ++results.confirmed;
            results.confirmedLines.append({QString::fromUtf8(m_userId), QString::fromUtf8(m_code)});
            return finishBooking(results, rng);
        }
        if (isRetryable(reply, slug))
            return retryOrFinish(retryAfterMs, results, rng);
        return finishBooking(results, rng);
    }
    return Step{Step::Done, 0};
}

UserSession::Step UserSession::onQueueAnswer(const HttpReply &reply, LoadResults &results,
                                             std::mt19937_64 &rng) {
    const QByteArrayView state = jsonField(reply.body, "state");
    if (m_phase == Phase::Join) {
        if (!m_joined) {
            m_joined = true;
            ++results.wrJoined;
            results.wrCohort += jsonField(reply.body, "cohort") == "true";
        }
    } else {
        ++results.wrPolls;
    }
    const bool fromJoin = m_phase == Phase::Join;
    m_phase = Phase::Poll;
    const qint64 maxUs = qint64(m_config.pollMaxMs) * 1000;
    if (state == "lobby") {
        // Nothing changes before the cohort closes: come back then, spread over one poll
        // interval, as the buyer page does (it counts down to cohort_closes_at).
        const auto untilClose =
            fromJoin ? msBetween(reply.body, "joined_at", "cohort_closes_at") : std::nullopt;
        if (untilClose && *untilClose >= 0)
            return Step{Step::Wait, *untilClose * 1000 + qint64(rng() % quint64(maxUs + 1))};
        return pollIn(maxUs, rng);
    }
    if (state == "queued") {
        bool ok = false;
        const double eta = jsonField(reply.body, "eta_seconds").toDouble(&ok);
        return pollIn(ok ? std::clamp(qint64(eta * 1e6), qint64(250000), maxUs) : maxUs, rng);
    }
    if (state == "admitted") {
        m_admission = jsonField(reply.body, "token").toByteArray();
        if (m_admission.isEmpty()) {
            m_untoldWhy = "admitted-without-token";
            return finishBooking(results, rng);
        }
        ++results.wrAdmitted;
        m_phase = Phase::Book;
        return Step{Step::Send, 0};
    }
    if (state == "booked" || state == "sold-out" || state == "closed" || state == "expired")
        return told(state, results);
    m_untoldWhy = "state:" + state.toByteArray();
    return finishBooking(results, rng);
}

UserSession::Step UserSession::told(QByteArrayView outcome, LoadResults &results) {
    if (!m_told) {
        m_told = true;
        ++results.wrTold[outcome.toByteArray()];
    }
    abandon(results);
    return Step{Step::Done, 0};
}

UserSession::Step UserSession::pollIn(qint64 delayUs, std::mt19937_64 &rng) {
    const qint64 spread = delayUs / 2;
    return Step{Step::Wait, delayUs - spread / 2 + qint64(rng() % quint64(spread + 1))};
}

UserSession::Step UserSession::onFailure(TransportError error, bool sent, LoadResults &results,
                                         std::mt19937_64 &rng) {
    if (m_config.waitingRoom)
        m_untoldWhy = transportErrorLabel(error);
    if (sent)
        markAmbiguous(error == TransportError::Timeout ? "timeout" : "connection-reset");
    return retryOrFinish(-1, results, rng);
}

void UserSession::abandon(LoadResults &results) {
    if (m_config.waitingRoom && !m_told) {
        // The session ends (no retry left, or the run stopped) without an outcome.
        m_told = true;
        ++results.wrUntold[m_untoldWhy.isEmpty() ? QByteArray("stopped") : m_untoldWhy];
    }
    if (!m_ambiguous)
        return;
    ++results.unknown;
    LedgerBooking b;
    b.user = QString::fromUtf8(m_userId);
    b.key = QString::fromUtf8(m_key);
    b.itemId = m_itemId;
    b.quantity = m_config.quantity;
    b.reason = QString::fromLatin1(m_ambiguousReason);
    results.unknownLines.append(b);
    m_ambiguous = false;
}

} // namespace flashsale::bench
