#include "waitingroomroutes.h"
#include "fairness/cohortshuffle.h"

#include "admission/admissiontoken.h"
#include "admission/entryreceipt.h"
#include "api/apiroutes.h"
#include "api/bookinginput.h"
#include "api/buyerauth.h"
#include "booking/bookingservice.h"
#include "booking/reservationid.h"
#include "booking/salekeys.h"
#include "booking/waitingroom.h"
#include "core/config.h"
#include "core/fieldreader.h"
#include "core/timeformat.h"
#include "http/httpserver.h"
#include "pg/pgconnection.h"
#include "redis/redisclient.h"
#include "redis/redisscript.h"

#include <QJsonArray>
#include <QJsonObject>

#include <cmath>
#include <memory>

namespace flashsale {

namespace {

QByteArray retryAfterSeconds(qint64 ms) {
    return QByteArray::number(qMax<qint64>(1, (ms + 999) / 1000));
}

QString queueUrl(qint64 saleId) {
    return QStringLiteral("/api/v1/sales/%1/queue").arg(saleId);
}

// GET .../fairness pages: at most this many entries (and the default).
constexpr qint64 kFairnessPageMax = 10'000;
// `after` beyond any cohort (--waiting-room-max-entries is at most this) is refused.
constexpr qint64 kFairnessAfterMax = 100'000'000;

// A decimal number of the query, or -1 when it is not one (sign, spaces, too long).
qint64 queryNumber(const QString &text) {
    if (text.isEmpty() || text.size() > 10)
        return -1;
    for (const QChar c : text)
        if (c < QLatin1Char('0') || c > QLatin1Char('9'))
            return -1;
    return text.toLongLong();
}

class WaitingRoomRoutes {
public:
    WaitingRoomRoutes(const Config &config, RedisCommands &redis, PgConnection &pg)
        : m_auth(config)
        , m_receipts(BuyerAuth::powSecret(config))
        , m_admission(BuyerAuth::powSecret(config))
        , m_service(redis, config.waitingRoomMaxEntries)
        , m_redis(redis)
        , m_pg(pg)
        , m_fairnessScript(RedisScript::load(QStringLiteral("queue_fairness"))) {
        m_service.setRateLimits(RateLimits{config.rateLimitIp, config.rateLimitIpBurst,
                                           config.rateLimitUser, config.rateLimitUserBurst});
    }

    void join(const ExchangePtr &ex, const QStringList &params);
    void status(const ExchangePtr &ex, const QStringList &params);
    void receiptKey(const ExchangePtr &ex);
    void fairness(const ExchangePtr &ex, const QStringList &params);

private:
    // The JSON of an entry (the answer of both routes); `user` is the buyer, whose admission
    // token it carries while the entry is admitted.
    // `withReceipt`: sign the entry's receipt (an Ed25519 signature, a quarter of a poll's CPU);
    // the join always does, the poll only when asked (?receipt=1), "receipt" null otherwise.
    QJsonObject entryJson(qint64 saleId, const QByteArray &user, const QueueOutcome &o,
                          bool withReceipt = true) const;
    // The problem of any outcome that is not an entry.
    static Problem problem(const QueueOutcome &o);

    // One page of the fairness publication, from Redis (queue_fairness.lua) or, once the
    // sale's keys are retired, from the archive in PostgreSQL: the same bytes either way.
    struct FairnessPage {
        qint64 lobbyMs = 0;
        qint64 closeMs = 0;
        qint64 nowMs = 0;
        QByteArray commitment;
        bool sealed = false;
        QByteArray seed, digest, shuffleSeed;
        qint64 cohortSize = -1;
        qint64 sealedMs = -1;
        QByteArrayList entries; // ranks after+1, after+2, ...
    };
    void archivedFairness(const ExchangePtr &ex, qint64 saleId, qint64 after, qint64 limit);
    void sendFairnessPage(const ExchangePtr &ex, qint64 saleId, qint64 after, qint64 limit,
                          const FairnessPage &page) const;

    BuyerAuth m_auth;
    EntryReceipts m_receipts;
    AdmissionTokens m_admission;
    WaitingRoomService m_service;
    RedisCommands &m_redis;
    PgConnection &m_pg;
    RedisScript m_fairnessScript;
};

QJsonObject WaitingRoomRoutes::entryJson(qint64 saleId, const QByteArray &user,
                                         const QueueOutcome &o, bool withReceipt) const {
    const QueueEntry &e = o.entry;
    // Before the seal nobody has a place yet: the cohort's order does not exist until the
    // shuffle, and the FIFO's follows the cohort's size. An admitted entry carries its
    // admission token until it books (booked) or its admission runs out (expired).
    // Sold out: no unit left (the line's stock, read with the entry), told to everyone who
    // has not booked and is not holding an admission (a unit may still come back to them).
    const bool admitted = e.admittedUntilMs > o.nowMs;
    const bool soldOut = e.line && e.line->remaining <= 0;
    const QString state = e.done == "booked"                            ? QStringLiteral("booked")
                          : !e.saleOpen                                 ? QStringLiteral("closed")
                          : admitted                                    ? QStringLiteral("admitted")
                          : e.done == "noshow" || e.admittedUntilMs > 0 ? QStringLiteral("expired")
                          : soldOut                                     ? QStringLiteral("sold-out")
                          : o.nowMs < e.closeMs                         ? QStringLiteral("lobby")
                                                                        : QStringLiteral("queued");
    // The line, once the seal gave the entry a rank (status only; a join answers null).
    QJsonValue line;
    if (e.line && e.line->sealed && e.rank > 0) {
        const QueueLine &l = *e.line;
        const auto rate = l.measuredPerMinute(o.nowMs);
        // Admitted: it is your turn now; booked or expired: no turn to wait for.
        const auto eta = admitted            ? std::optional<qint64>(0)
                         : !e.done.isEmpty() ? std::nullopt
                                             : l.etaSeconds(e.rank, o.nowMs);
        line = QJsonObject{
            {"cursor", l.cursor},
            {"ahead", l.ahead(e.rank)},
            {"outstanding", l.outstanding},
            {"remaining", l.remaining},
            {"admit_rate_per_minute",
             rate ? QJsonValue(std::round(*rate * 10) / 10) : QJsonValue()},
            {"eta_seconds", eta ? QJsonValue(*eta) : QJsonValue()},
            {"likely_sold_out", !admitted && e.done.isEmpty() && l.likelySoldOut(e.rank)},
            {"paused", l.paused},
        };
    }
    QJsonValue admission;
    if (admitted && e.saleOpen)
        admission = QJsonObject{{"token", QString::fromLatin1(m_admission.issue(
                                              saleId, e.entryId, user, e.admittedUntilMs))},
                                {"expires_at", isoTime(e.admittedUntilMs)}};
    const QJsonValue receipt =
        withReceipt ? QJsonValue(QString::fromLatin1(m_receipts.sign(
            EntryReceiptFields{saleId, e.entryId, e.joinedMs, e.cohort, e.position, e.commitment})))
                    : QJsonValue();
    return QJsonObject{
        {"sale_id", saleId},
        {"entry_id", QString::fromLatin1(e.entryId)},
        {"state", state},
        {"cohort", e.cohort},
        {"reason", e.addressCap ? QJsonValue(QStringLiteral("address-cap")) : QJsonValue()},
        {"joined_at", isoTime(e.joinedMs)},
        {"cohort_closes_at", isoTime(e.closeMs)},
        {"commitment", QString::fromLatin1(e.commitment)},
        {"position", QJsonValue()},
        // After the seal: the place in line (1 first) and the cohort's size; null before (and
        // for a cohort entry while the ranks are being written: "being ranked").
        {"rank", e.rank > 0 ? QJsonValue(e.rank) : QJsonValue()},
        {"cohort_size", e.cohortSize >= 0 ? QJsonValue(e.cohortSize) : QJsonValue()},
        {"line", line},
        {"admission", admission},
        {"receipt", receipt},
        {"queue_url", queueUrl(saleId)},
    };
}

Problem WaitingRoomRoutes::problem(const QueueOutcome &o) {
    using K = QueueOutcome::Kind;
    switch (o.kind) {
    case K::UnknownSale:
        return Problem::make(404, QStringLiteral("sale-not-found"));
    case K::NoWaitingRoom:
        return Problem::make(404, QStringLiteral("waiting-room-not-found"));
    case K::Closed:
        return Problem::make(403, QStringLiteral("sale-closed"));
    case K::LobbyNotOpen: {
        Problem p =
            Problem::make(403, QStringLiteral("lobby-not-open"),
                          QStringLiteral("The waiting room opens at %1.").arg(isoTime(o.lobbyMs)));
        p.with(QStringLiteral("lobby_opens_at"), isoTime(o.lobbyMs))
            .with(QStringLiteral("server_time"), isoTime(o.nowMs))
            .header("Retry-After", retryAfterSeconds(o.lobbyMs - o.nowMs));
        return p;
    }
    case K::RateLimited: {
        Problem p = Problem::make(
            429, QStringLiteral("rate-limited"),
            QStringLiteral("Too many requests from this %1; retry in %2 ms.")
                .arg(o.scope == "ip" ? QStringLiteral("address") : QStringLiteral("user"))
                .arg(o.retryAfterMs));
        p.with(QStringLiteral("scope"), QString::fromUtf8(o.scope))
            .with(QStringLiteral("retry_after_ms"), o.retryAfterMs)
            .header("Retry-After", retryAfterSeconds(o.retryAfterMs));
        return p;
    }
    case K::PowRequired: {
        Problem p = Problem::make(
            428, QStringLiteral("pow-required"),
            QStringLiteral("Joining this sale's waiting room asks for a proof of work of %1 bits.")
                .arg(o.difficulty));
        p.with(QStringLiteral("difficulty"), o.difficulty);
        return p;
    }
    case K::PowTooEasy: {
        Problem p =
            Problem::make(403, QStringLiteral("pow-invalid"),
                          QStringLiteral("The sale asks for %1 bits; ask for a new challenge.")
                              .arg(o.difficulty));
        p.with(QStringLiteral("difficulty"), o.difficulty);
        return p;
    }
    case K::PowReplayed:
        return Problem::make(409, QStringLiteral("pow-replayed"));
    case K::QueueFull: {
        Problem p = Problem::make(409, QStringLiteral("queue-full"));
        p.with(QStringLiteral("max_entries"), o.maxEntries);
        return p;
    }
    case K::NotInQueue:
        return Problem::make(404, QStringLiteral("not-in-queue"));
    case K::Joined:
    case K::Existing:
        break;
    }
    return Problem::make(500, QStringLiteral("internal"),
                         QStringLiteral("unexpected waiting-room outcome"));
}

void WaitingRoomRoutes::join(const ExchangePtr &ex, const QStringList &params) {
    const qint64 saleId = parseId(params.value(0));
    if (saleId == 0)
        return ex->sendProblem(Problem::make(404, QStringLiteral("sale-not-found")));
    QString claimed;
    if (!ex->body().trimmed().isEmpty()) {
        auto body = parseJsonObject(ex->header("Content-Type"), ex->body());
        if (!body)
            return ex->sendProblem(body.error());
        FieldReader r(*body);
        claimed = r.string(QStringLiteral("user_id"), false, 1, 64, kUserIdChars, kUserIdCharsText)
                      .value_or(QString());
        r.rejectUnknown();
        if (!r.ok())
            return ex->sendProblem(invalidRequest(r.errors()));
    }
    const auto user = m_auth.buyer(ex, claimed, QStringLiteral("/user_id"));
    if (!user)
        return;
    const auto pow = m_auth.proofOfWork(ex, saleId, *user);
    if (!pow)
        return;
    JoinRequest req;
    req.saleId = saleId;
    req.userId = *user;
    req.clientAddress = m_auth.clientIp(ex);
    req.powDifficulty = pow->difficulty;
    req.powNonce = pow->nonce;
    req.powTtlMs = pow->ttlMs;
    m_service.join(req, fairness::CohortShuffle::newEntryId(),
                   [this, ex, saleId, user = *user](const Result<QueueOutcome> &r) {
                       if (!r)
                           return ex->sendProblem(ApiRoutes::dependencyProblem(r.error()));
                       using K = QueueOutcome::Kind;
                       if (r->kind != K::Joined && r->kind != K::Existing)
                           return ex->sendProblem(problem(*r));
                       const int code = r->kind == K::Joined ? 201 : 200;
                       const auto answer = [this, ex, saleId, user, code](const QueueOutcome &o) {
                           ex->sendJson(code, entryJson(saleId, user, o),
                                        {{"Location", queueUrl(saleId).toUtf8()},
                                         {"Cache-Control", "no-store"}});
                       };
                       if (r->nowMs < r->entry.closeMs)
                           return answer(*r);
                       // After the cohort closed the line exists: a join is answered as the poll
                       // would be, with the rank, the line and "sold-out" when no unit is left, so
                       // a late buyer is told at once. One read more, for late joins only; if it
                       // fails, the entry (made or found) is answered as the join saw it.
                       m_service.status(saleId, user,
                                        [answer, joined = *r](const Result<QueueOutcome> &s) {
                                            answer(s && s->kind == K::Existing ? *s : joined);
                                        });
                   });
}

void WaitingRoomRoutes::status(const ExchangePtr &ex, const QStringList &params) {
    const qint64 saleId = parseId(params.value(0));
    if (saleId == 0)
        return ex->sendProblem(Problem::make(404, QStringLiteral("sale-not-found")));
    // Only user_id (dev mode without a token) and receipt=0|1 are taken from the query.
    QString claimed;
    bool withReceipt = false;
    for (const auto &[key, value] : ex->query().queryItems(QUrl::FullyDecoded)) {
        if (key == QLatin1String("receipt")) {
            if (value != QLatin1String("0") && value != QLatin1String("1"))
                return ex->sendProblem(
                    invalidRequest(QStringLiteral("query:receipt"), QStringLiteral("is 0 or 1")));
            withReceipt = value == QLatin1String("1");
            continue;
        }
        if (key != QLatin1String("user_id"))
            return ex->sendProblem(
                invalidRequest(QStringLiteral("query:") + key, QStringLiteral("is not accepted")));
        claimed = value;
    }
    const auto user = m_auth.buyer(ex, claimed, QStringLiteral("query:user_id"));
    if (!user)
        return;
    m_service.status(saleId, *user,
                     [this, ex, saleId, withReceipt, user = *user](const Result<QueueOutcome> &r) {
                         if (!r)
                             return ex->sendProblem(ApiRoutes::dependencyProblem(r.error()));
                         if (r->kind != QueueOutcome::Kind::Existing)
                             return ex->sendProblem(problem(*r));
                         ex->sendJson(200, entryJson(saleId, user, *r, withReceipt),
                                      {{"Cache-Control", "no-store"}});
                     });
}

void WaitingRoomRoutes::receiptKey(const ExchangePtr &ex) {
    ex->sendJson(200,
                 QJsonObject{{"algorithm", "ed25519"},
                             {"public_key", QString::fromLatin1(m_receipts.publicKey().toHex())},
                             {"message", "fs-receipt-v1|<sale_id>|<entry_id>|<joined_ms>|<c or "
                                         "f>|<position>|<commitment>"},
                             {"receipt", "base64url(message) \".\" base64url(signature)"}});
}

// GET /api/v1/sales/{id}/fairness?after=R&limit=L: one page of the publication
// (docs/WAITING_ROOM.md "The publication"; the format fairness::FairnessPublication and
// flashsale-ctl fairness verify read). Public: the ids are anonymous and the order is meant to be
// checked by anyone. One EVALSHA of lua/queue_fairness.lua (read only). Sealed pages never change,
// so they are cacheable for a day; earlier answers are not cached.
void WaitingRoomRoutes::fairness(const ExchangePtr &ex, const QStringList &params) {
    const qint64 saleId = parseId(params.value(0));
    if (saleId == 0)
        return ex->sendProblem(Problem::make(404, QStringLiteral("sale-not-found")));
    qint64 after = 0;
    qint64 limit = kFairnessPageMax;
    for (const auto &[key, value] : ex->query().queryItems(QUrl::FullyDecoded)) {
        if (key == QLatin1String("after")) {
            after = queryNumber(value);
            if (after < 0 || after > kFairnessAfterMax)
                return ex->sendProblem(invalidRequest(
                    QStringLiteral("query:after"),
                    QStringLiteral("must be a whole number from 0 to %1").arg(kFairnessAfterMax)));
        } else if (key == QLatin1String("limit")) {
            limit = queryNumber(value);
            if (limit < 1 || limit > kFairnessPageMax)
                return ex->sendProblem(invalidRequest(
                    QStringLiteral("query:limit"),
                    QStringLiteral("must be a whole number from 1 to %1").arg(kFairnessPageMax)));
        } else {
            return ex->sendProblem(
                invalidRequest(QStringLiteral("query:") + key, QStringLiteral("is not accepted")));
        }
    }
    const SaleKeys k(saleId);
    m_redis.eval(
        m_fairnessScript, {k.meta(), k.waitingRoomMeta(), k.waitingRoomRanked()},
        {QByteArray::number(after), QByteArray::number(limit)},
        [this, ex, saleId, after, limit](const Result<RedisValue> &r) {
            if (!r)
                return ex->sendProblem(ApiRoutes::dependencyProblem(r.error()));
            const QByteArray code = r->at(0).bytes();
            if (code == "unknown_sale") // retired (or never warmed): the archive may have it
                return archivedFairness(ex, saleId, after, limit);
            if (code == "no_waiting_room")
                return ex->sendProblem(
                    Problem::make(404, QStringLiteral("waiting-room-not-found")));
            if (code != "page" || r->elements.size() < 11)
                return ex->sendProblem(
                    ApiRoutes::dependencyProblem(redisScriptError("queue_fairness.lua", *r)));
            FairnessPage page;
            page.lobbyMs = r->at(1).toInt();
            page.closeMs = r->at(2).toInt();
            page.commitment = r->at(3).bytes();
            page.sealed = r->at(4).toInt() == 1;
            page.seed = r->at(5).bytes();
            page.digest = r->at(6).bytes();
            page.shuffleSeed = r->at(7).bytes();
            page.cohortSize = r->at(8).toInt();
            page.sealedMs = r->at(9).toInt();
            page.nowMs = r->at(10).toInt();
            for (qsizetype i = 11; i < r->elements.size(); ++i)
                page.entries.append(r->at(i).bytes());
            sendFairnessPage(ex, saleId, after, limit, page);
        });
}

void WaitingRoomRoutes::archivedFairness(const ExchangePtr &ex, qint64 saleId, qint64 after,
                                         qint64 limit) {
    // Only a seal whose archive is complete (archived_at) is served from PostgreSQL: the ranks
    // of a sale whose keys are gone cannot change any more. One statement for the page.
    static const QByteArray sql = R"(
SELECT f.commitment, f.seed, f.digest, f.shuffle_seed, f.cohort_size,
       (extract(epoch FROM f.sealed_at) * 1000)::bigint,
       (extract(epoch FROM s.lobby_opens_at) * 1000)::bigint,
       (extract(epoch FROM s.starts_at) * 1000)::bigint + s.grace_ms,
       (extract(epoch FROM now()) * 1000)::bigint,
       (SELECT coalesce(string_agg(e.entry_id, ',' ORDER BY e.rank), '')
          FROM (SELECT entry_id, rank FROM waiting_room_entries
                WHERE sale_id = s.id AND rank > $2 ORDER BY rank LIMIT $3) e)
FROM sales s JOIN sale_fairness f ON f.sale_id = s.id
WHERE s.id = $1 AND s.waiting_room AND f.archived_at IS NOT NULL)";
    m_pg.query(sql,
               {QByteArray::number(saleId), QByteArray::number(after), QByteArray::number(limit)},
               [this, ex, saleId, after, limit](const Result<PgResult> &r) {
                   if (!r)
                       return ex->sendProblem(ApiRoutes::dependencyProblem(r.error()));
                   if (r->rows.isEmpty())
                       return ex->sendProblem(Problem::make(404, QStringLiteral("sale-not-found")));
                   const auto &row = r->rows.first();
                   FairnessPage page;
                   page.commitment = row.value(0);
                   page.sealed = true;
                   page.seed = row.value(1);
                   page.digest = row.value(2);
                   page.shuffleSeed = row.value(3);
                   page.cohortSize = row.value(4).toLongLong();
                   page.sealedMs = row.value(5).toLongLong();
                   page.lobbyMs = row.value(6).toLongLong();
                   page.closeMs = row.value(7).toLongLong();
                   page.nowMs = row.value(8).toLongLong();
                   if (!row.value(9).isEmpty())
                       page.entries = row.value(9).split(',');
                   sendFairnessPage(ex, saleId, after, limit, page);
               });
}

void WaitingRoomRoutes::sendFairnessPage(const ExchangePtr &ex, qint64 saleId, qint64 after,
                                         qint64 limit, const FairnessPage &p) const {
    const auto textOrNull = [&](const QByteArray &v) {
        return p.sealed ? QJsonValue(QString::fromLatin1(v)) : QJsonValue();
    };
    QJsonArray entries;
    const qsizetype count = p.entries.size();
    for (qsizetype i = 0; i < count; ++i)
        entries.append(QJsonArray{QString::fromLatin1(p.entries.at(i)), after + 1 + i});
    const bool more = p.sealed && after + count < p.cohortSize;
    const QJsonObject page{
        {"sale_id", saleId},
        {"scheme", QLatin1String(fairness::kScheme)},
        {"state", p.sealed              ? QStringLiteral("sealed")
                  : p.nowMs < p.closeMs ? QStringLiteral("lobby")
                                        : QStringLiteral("sealing")},
        {"lobby_opens_at", isoTime(p.lobbyMs)},
        {"cohort_closes_at", isoTime(p.closeMs)},
        {"commitment", QString::fromLatin1(p.commitment)},
        {"receipt_key", QString::fromLatin1(m_receipts.publicKey().toHex())},
        {"seed", textOrNull(p.seed)},
        {"digest", textOrNull(p.digest)},
        {"shuffle_seed", textOrNull(p.shuffleSeed)},
        {"cohort_size", p.sealed ? QJsonValue(p.cohortSize) : QJsonValue()},
        {"sealed_at", p.sealed ? QJsonValue(isoTime(p.sealedMs)) : QJsonValue()},
        {"entries", entries},
        {"next", more ? QJsonValue(QStringLiteral("/api/v1/sales/%1/fairness?after=%2&limit=%3")
                                       .arg(saleId)
                                       .arg(after + count)
                                       .arg(limit))
                      : QJsonValue()},
    };
    if (!p.sealed)
        return ex->sendJson(200, page, {{"Cache-Control", "no-store"}});
    ex->sendJson(200, page,
                 {{"Cache-Control", "public, max-age=86400, immutable"},
                  {"ETag", '"' + p.digest.left(32) + '.' + QByteArray::number(after) + '.'
                               + QByteArray::number(limit) + '"'}});
}

} // namespace

void installWaitingRoomRoutes(HttpServer &server, const Config &config, RedisCommands &redis,
                              PgConnection &pg) {
    auto routes = std::make_shared<WaitingRoomRoutes>(config, redis, pg);
    server.addRoute("POST", QStringLiteral("/api/v1/sales/{id}/queue"),
                    [routes](const ExchangePtr &ex, const QStringList &p) { routes->join(ex, p); });
    server.addRoute(
        "GET", QStringLiteral("/api/v1/sales/{id}/queue"),
        [routes](const ExchangePtr &ex, const QStringList &p) { routes->status(ex, p); });
    server.addRoute(
        "GET", QStringLiteral("/api/v1/waiting-room/receipt-key"),
        [routes](const ExchangePtr &ex, const QStringList &) { routes->receiptKey(ex); });
    server.addRoute(
        "GET", QStringLiteral("/api/v1/sales/{id}/fairness"),
        [routes](const ExchangePtr &ex, const QStringList &p) { routes->fairness(ex, p); });
}

} // namespace flashsale
