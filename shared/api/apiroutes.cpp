#include "apiroutes.h"

#include "admin/adminwaitingroom.h"
#include "admin/operatorauth.h"
#include "api/bookinginput.h"
#include "api/paymentwebhook.h"
#include "api/waitingroomroutes.h"
#include "audit/audit.h"
#include "booking/bookingservice.h"
#include "booking/itemimage.h"
#include "booking/reservationid.h"
#include "booking/salecatalog.h"
#include "booking/salekeys.h"
#include "core/config.h"
#include "core/fieldreader.h"
#include "core/logging.h"
#include "core/timeformat.h"
#include "http/httpserver.h"
#include "metrics/metrics.h"
#include "pg/pgconnection.h"
#include "redis/redisclient.h"
#include "stats/livestats.h"

#include <QCryptographicHash>
#include <QDateTime>
#include <QFile>
#include <QHostAddress>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonParseError>
#include <QPointer>
#include <QRegularExpression>

#include <memory>
#include <optional>

namespace flashsale {

namespace {

QByteArray retryAfterSeconds(qint64 ms) {
    return QByteArray::number(qMax<qint64>(1, (ms + 999) / 1000));
}

Problem invalid(const FieldErrors &errors) {
    return invalidRequest(errors);
}

// The JSON object in the body, or nullopt after answering 400/415 itself.
std::optional<QJsonObject> jsonBody(const ExchangePtr &ex) {
    auto object = parseJsonObject(ex->header("Content-Type"), ex->body());
    if (!object) {
        ex->sendProblem(object.error());
        return std::nullopt;
    }
    return *object;
}

// The Idempotency-Key header, or nullopt after answering 400 itself.
std::optional<QByteArray> idempotencyKey(const ExchangePtr &ex) {
    auto key = parseIdempotencyKey(ex->header("Idempotency-Key"));
    if (!key) {
        ex->sendProblem(key.error());
        return std::nullopt;
    }
    return *key;
}

// The one answer for a reservation the caller may not see: unknown, or another buyer's.
void reservationNotFound(const ExchangePtr &ex) {
    ex->sendProblem(Problem::make(404, QStringLiteral("reservation-not-found")));
}

Counter &bookingCounter(BookingOutcome::Kind kind) {
    thread_local QHash<int, Counter *> cache;
    if (Counter *c = cache.value(int(kind)))
        return *c;
    Counter &c = Metrics::instance().counter(
        "flashsale_bookings_total", "Booking decisions of book.lua, by outcome.",
        QByteArray("outcome=\"") + bookingOutcomeSpelling(kind).code + '"');
    cache.insert(int(kind), &c);
    return c;
}

} // namespace

ApiRoutes::ApiRoutes(const Config &config, BookingService &booking, SaleCatalog &catalog,
                     RedisCommands &redis, PgConnection &pg)
    : m_config(config)
    , m_booking(booking)
    , m_catalog(catalog)
    , m_redis(redis)
    , m_pg(pg)
    , m_auth(config)
    , m_admission(BuyerAuth::powSecret(config))
    , m_waitingRoomAdmin(std::make_unique<AdminWaitingRoom>(pg, redis)) {
    m_booking.setRateLimits(RateLimits{config.rateLimitIp, config.rateLimitIpBurst,
                                       config.rateLimitUser, config.rateLimitUserBurst});
}

std::optional<QByteArray> ApiRoutes::buyer(const ExchangePtr &ex, const QString &claimed,
                                           const QString &claimedPointer) {
    return m_auth.buyer(ex, claimed, claimedPointer);
}

bool ApiRoutes::readProofOfWork(const ExchangePtr &ex, BookingRequest &req) {
    const auto pow = m_auth.proofOfWork(ex, req.saleId, req.userId);
    if (!pow)
        return false;
    req.powDifficulty = pow->difficulty;
    req.powNonce = pow->nonce;
    req.powTtlMs = pow->ttlMs;
    return true;
}

bool ApiRoutes::readAdmission(const ExchangePtr &ex, BookingRequest &req) {
    const QByteArray token = ex->header("x-admission-token");
    if (token.isEmpty())
        return true;
    const auto checked =
        m_admission.verify(token, req.saleId, req.userId, QDateTime::currentMSecsSinceEpoch());
    if (!checked) {
        const bool expired = checked.error() == AdmissionTokens::Error::Expired;
        ex->sendProblem(Problem::make(
            expired ? 410 : 403,
            expired ? QStringLiteral("admission-expired") : QStringLiteral("admission-invalid"),
            QString::fromLatin1(AdmissionTokens::errorText(checked.error()))));
        return false;
    }
    req.admissionEntry = checked->entryId;
    return true;
}

QByteArray ApiRoutes::clientIp(const ExchangePtr &ex) const {
    return m_auth.clientIp(ex);
}

void ApiRoutes::install(HttpServer &s) {
    s.addRoute("GET", QStringLiteral("/healthz"), [](const ExchangePtr &ex, const QStringList &) {
        ex->sendJson(200, QJsonObject{{"status", "ok"}});
    });
    s.addRoute("GET", QStringLiteral("/readyz"),
               [this](const ExchangePtr &ex, const QStringList &) { ready(ex); });
    s.addRoute("GET", QStringLiteral("/problems/{slug}"),
               [this](const ExchangePtr &ex, const QStringList &p) { problemType(ex, p); });
    s.addRoute("POST", QStringLiteral("/api/v1/admin/sales"),
               [this](const ExchangePtr &ex, const QStringList &) { createSale(ex); });
    s.addRoute("POST", QStringLiteral("/api/v1/admin/sales/{id}/warm"),
               [this](const ExchangePtr &ex, const QStringList &p) { warmSale(ex, p); });
    s.addRoute("GET", QStringLiteral("/api/v1/admin/sales/{id}/waiting-room"),
               [this](const ExchangePtr &ex, const QStringList &p) { waitingRoomView(ex, p); });
    s.addRoute("PATCH", QStringLiteral("/api/v1/admin/sales/{id}/waiting-room"),
               [this](const ExchangePtr &ex, const QStringList &p) { waitingRoomSet(ex, p); });
    s.addRoute("GET", QStringLiteral("/api/v1/sales/{id}"),
               [this](const ExchangePtr &ex, const QStringList &p) { getSale(ex, p); });
    s.addRoute("POST", QStringLiteral("/api/v1/sales/{id}/book"),
               [this](const ExchangePtr &ex, const QStringList &p) { book(ex, p); });
    s.addRoute("GET", QStringLiteral("/api/v1/reservations/{id}"),
               [this](const ExchangePtr &ex, const QStringList &p) { reservation(ex, p); });
    s.addRoute("POST", QStringLiteral("/checkout"),
               [this](const ExchangePtr &ex, const QStringList &) { checkout(ex); });
    s.addRoute("POST", QStringLiteral("/purchase"),
               [this](const ExchangePtr &ex, const QStringList &) { purchase(ex); });
    s.addRoute("GET", QStringLiteral("/api/v1/items/{id}/image.svg"),
               [this](const ExchangePtr &ex, const QStringList &p) { itemImage(ex, p); });
    s.addRoute("POST", QStringLiteral("/api/v1/sales/{id}/challenge"),
               [this](const ExchangePtr &ex, const QStringList &p) { challenge(ex, p); });
    if (m_config.devUserIds)
        s.addRoute("POST", QStringLiteral("/api/v1/dev/tokens"),
                   [this](const ExchangePtr &ex, const QStringList &) { devToken(ex); });
    // The buyer page and its files (resources/www).
    s.addRoute("GET", QStringLiteral("/buy/{id}"),
               [this](const ExchangePtr &ex, const QStringList &) { page(ex, "buy.html"); });
    s.addRoute("GET", QStringLiteral("/static/{name}"),
               [this](const ExchangePtr &ex, const QStringList &p) { page(ex, p.value(0)); });
    installPaymentWebhook(s, m_config, m_pg, m_redis);    // issue 19: provider (H3)
    installWaitingRoomRoutes(s, m_config, m_redis, m_pg); // issue 16: the waiting room
    // Upgrades only; who may upgrade is decided earlier, by the connection's upgrade gate.
    s.addWebSocketRoute(QStringLiteral("/admin/v1/ws"));
    s.addWebSocketRoute(QStringLiteral("/api/v1/sales/{id}/live"));
}

void ApiRoutes::challenge(const ExchangePtr &ex, const QStringList &params) {
    const qint64 saleId = parseId(params.value(0));
    if (saleId == 0)
        return ex->sendProblem(Problem::make(404, QStringLiteral("sale-not-found")));
    QString claimed;
    if (!ex->body().trimmed().isEmpty()) {
        const auto body = jsonBody(ex);
        if (!body)
            return;
        FieldReader r(*body);
        claimed = r.string(QStringLiteral("user_id"), false, 1, 64, kUserIdChars, kUserIdCharsText)
                      .value_or(QString());
        r.rejectUnknown();
        if (!r.ok())
            return ex->sendProblem(invalid(r.errors()));
    }
    const auto buyerId = buyer(ex, claimed, QStringLiteral("/user_id"));
    if (!buyerId)
        return;
    const SaleKeys k(saleId);
    auto meta = std::make_shared<QList<QByteArray>>();
    m_redis.command({"HMGET", k.meta(), "pow", "rate", "burst", "state"},
                    [meta](const Result<RedisValue> &r) {
                        if (r && r->isArray())
                            for (const RedisValue &v : r->elements)
                                meta->append(v.isNil() ? QByteArray() : v.bytes());
                    });
    // Pipelined behind the HMGET: the bucket's fill says how crowded the sale is. book.lua
    // computes the same difficulty at booking time and refuses challenges issued easier.
    m_redis.command({"HMGET", k.bucket(), "tokens", "ts"}, [this, ex, saleId, meta,
                                                            user = *buyerId](
                                                               const Result<RedisValue> &b) {
        if (!b)
            return ex->sendProblem(dependencyProblem(b.error()));
        if (meta->size() != 4 || meta->at(3).isNull())
            return ex->sendProblem(Problem::make(404, QStringLiteral("sale-not-found")));
        const int base = meta->at(0).toInt();
        int difficulty = base;
        const double rate = meta->at(1).toDouble();
        const double burst = qMax(1.0, meta->at(2).toDouble());
        if (base > 0 && rate > 0 && b->isArray() && !b->elements.value(0).isNil()) {
            const qint64 now = QDateTime::currentMSecsSinceEpoch();
            const double tokens =
                qMin(burst, b->elements[0].bytes().toDouble()
                                + qMax<qint64>(0, now - b->elements[1].toInt()) * rate / 1000.0);
            const double fill = tokens / burst;
            difficulty += fill >= 0.5 ? 0 : fill >= 0.25 ? 1 : fill >= 0.1 ? 2 : 4;
        }
        difficulty = qMin(difficulty, 28);
        const qint64 expires = QDateTime::currentMSecsSinceEpoch() + 60000;
        ex->sendJson(201, QJsonObject{{"challenge", QString::fromLatin1(m_auth.challenges().issue(
                                                        saleId, user, difficulty, expires))},
                                      {"difficulty", difficulty},
                                      {"algorithm", "sha256-leading-zero-bits"},
                                      {"expires_at", isoTime(expires)}});
    });
}

void ApiRoutes::devToken(const ExchangePtr &ex) {
    const auto body = jsonBody(ex);
    if (!body)
        return;
    FieldReader r(*body);
    const auto user =
        r.string(QStringLiteral("user_id"), true, 1, 64, kUserIdChars, kUserIdCharsText);
    // Within the lifetime verify() accepts, so every token issued here passes.
    const auto ttl =
        r.integer(QStringLiteral("ttl_seconds"), false, 10, m_config.buyerTokenMaxLifetimeSeconds);
    r.rejectUnknown();
    if (!r.ok())
        return ex->sendProblem(invalid(r.errors()));
    if (!m_auth.tokens().enabled())
        return ex->sendProblem(Problem::make(503, QStringLiteral("backend-unavailable"),
                                             QStringLiteral("No --buyer-token-secret is "
                                                            "configured, so no tokens can be "
                                                            "issued.")));
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    const qint64 expires =
        now + qMin<qint64>(ttl.value_or(3600), m_config.buyerTokenMaxLifetimeSeconds) * 1000;
    ex->sendJson(201, QJsonObject{{"token", QString::fromLatin1(m_auth.tokens().issue(
                                                user->toUtf8(), now, expires))},
                                  {"user_id", *user},
                                  {"expires_at", isoTime(expires / 1000 * 1000)}});
}

void ApiRoutes::page(const ExchangePtr &ex, const QString &file) {
    static const QRegularExpression safe(QStringLiteral("^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}$"));
    QFile f(QStringLiteral(":/resources/www/") + file);
    if (!safe.match(file).hasMatch() || !f.open(QIODevice::ReadOnly))
        return ex->sendProblem(
            Problem::make(404, QStringLiteral("not-found"),
                          QStringLiteral("Nothing is served at %1.").arg(ex->path())));
    static const QList<QPair<QString, QByteArray>> types{{".html", "text/html; charset=utf-8"},
                                                         {".js", "text/javascript; charset=utf-8"},
                                                         {".css", "text/css; charset=utf-8"},
                                                         {".svg", "image/svg+xml"},
                                                         {".png", "image/png"},
                                                         {".json", "application/json"},
                                                         {".ico", "image/x-icon"}};
    QByteArray type = "application/octet-stream";
    for (const auto &[suffix, t] : types)
        if (file.endsWith(suffix))
            type = t;
    ex->send(200, type, f.readAll(), {{"Cache-Control", "no-cache"}});
}

void ApiRoutes::itemImage(const ExchangePtr &ex, const QStringList &params) {
    const qint64 itemId = parseId(params.value(0));
    auto notFound = [ex] {
        ex->sendProblem(Problem::make(404, QStringLiteral("not-found"),
                                      QStringLiteral("No item %1 is on sale.")
                                          .arg(ex->path().section(QLatin1Char('/'), 4, 4))));
    };
    if (itemId == 0)
        return notFound();
    // The item's sale, then its name and price, all from the hot path's copy in Redis.
    m_redis.command({"GET", SaleKeys::itemOwner(itemId)}, [this, ex, itemId, notFound](
                                                              const Result<RedisValue> &owner) {
        if (!owner)
            return ex->sendProblem(dependencyProblem(owner.error()));
        if (owner->isNil())
            return notFound();
        const SaleKeys k(owner->toInt());
        const QByteArray id = QByteArray::number(itemId);
        m_redis.command({"HGET", k.items(), id}, [this, ex, k, id, itemId,
                                                  notFound](const Result<RedisValue> &name) {
            if (!name)
                return ex->sendProblem(dependencyProblem(name.error()));
            if (name->isNil())
                return notFound();
            m_redis.command({"HGET", k.price(), id}, [ex, itemId, name = name->bytes()](
                                                         const Result<RedisValue> &price) {
                if (!price)
                    return ex->sendProblem(dependencyProblem(price.error()));
                ex->send(200, "image/svg+xml",
                         itemImageSvg(itemId, QString::fromUtf8(name), price->toInt()),
                         {{"Cache-Control", "public, max-age=86400"}});
            });
        });
    });
}

Problem ApiRoutes::bookingProblem(const BookingOutcome &o) {
    using K = BookingOutcome::Kind;
    const BookingOutcomeSpelling &spelling = bookingOutcomeSpelling(o.kind);
    if (!spelling.problem) // accepted is no problem
        return Problem::make(500, QStringLiteral("internal"),
                             QStringLiteral("unexpected booking outcome"));
    // The slugs as QStrings once, not one allocation per refusal: sold out is most answers.
    static const QList<QString> slugs = [] {
        QList<QString> out;
        for (const BookingOutcomeSpelling &s : bookingOutcomeSpellings())
            out.append(s.problem ? QString::fromLatin1(s.problem) : QString());
        return out;
    }();
    // Type and status from the table; the detail and the members each outcome carries here.
    Problem p = Problem::make(spelling.status, slugs.at(qsizetype(o.kind)));
    switch (o.kind) {
    case K::ItemRequired:
        p.detail = QStringLiteral("This sale has several items; send item_id.");
        break;
    case K::NotStarted:
        p.detail = QStringLiteral("The sale opens at %1.").arg(isoTime(o.startsAtMs));
        p.with(QStringLiteral("starts_at"), isoTime(o.startsAtMs))
            .with(QStringLiteral("server_time"), isoTime(o.nowMs))
            .header("Retry-After", retryAfterSeconds(o.startsAtMs - o.nowMs));
        break;
    case K::SoldOut:
        p.with(QStringLiteral("remaining"), 0);
        break;
    case K::InsufficientStock:
        p.detail = QStringLiteral("Only %1 units remain.").arg(o.remaining);
        p.with(QStringLiteral("remaining"), o.remaining);
        break;
    case K::PerUserLimit:
        p.detail = QStringLiteral("You hold %1 of at most %2 units.").arg(o.held).arg(o.limit);
        p.with(QStringLiteral("held"), o.held).with(QStringLiteral("limit"), o.limit);
        break;
    case K::Throttled:
        p.with(QStringLiteral("retry_after_ms"), o.retryAfterMs)
            .header("Retry-After", retryAfterSeconds(o.retryAfterMs));
        break;
    case K::RateLimited:
        p.detail =
            QStringLiteral("Too many bookings from this %1; retry in %2 ms.")
                .arg(o.rateScope == "ip" ? QStringLiteral("address") : QStringLiteral("user"))
                .arg(o.retryAfterMs);
        p.with(QStringLiteral("scope"), QString::fromUtf8(o.rateScope))
            .with(QStringLiteral("retry_after_ms"), o.retryAfterMs)
            .header("Retry-After", retryAfterSeconds(o.retryAfterMs));
        break;
    case K::PowRequired:
        p.detail =
            QStringLiteral("This sale asks for a proof of work of %1 bits.").arg(o.powDifficulty);
        p.with(QStringLiteral("difficulty"), o.powDifficulty);
        break;
    case K::PowTooEasy:
        p.detail = QStringLiteral("The sale now asks for %1 bits; ask for a new challenge.")
                       .arg(o.powDifficulty);
        p.with(QStringLiteral("difficulty"), o.powDifficulty);
        break;
    case K::Accepted:
    case K::UnknownSale:
    case K::UnknownItem:
    case K::Closed:
    case K::Paused:
    case K::IdempotencyMismatch:
    case K::AdmissionRequired:
        p.detail = QStringLiteral("This sale books through its waiting room: join it at "
                                  "queue_url and book with the X-Admission-Token it gives.");
        break;
    case K::PowReplayed:
    case K::AdmissionInvalid:
    case K::AdmissionExpired:
    case K::AdmissionSpent:
        break;
    }
    return p;
}

Problem ApiRoutes::dependencyProblem(const Error &e) {
    if (e.code == ErrorCode::Unavailable || e.code == ErrorCode::Timeout) {
        return Problem::make(503, QStringLiteral("backend-unavailable"), e.message)
            .header("Retry-After", "1");
    }
    qCWarning(lcHttp) << "internal error:" << e.message;
    return Problem::make(500, QStringLiteral("internal"), e.message);
}

void ApiRoutes::authorizeAdmin(const ExchangePtr &ex, admin::Role needed, const QString &what,
                               std::function<void(const OperatorIdentity &)> then) {
    const auto unauthorized = [](const QString &detail) {
        return Problem::make(401, QStringLiteral("unauthorized"), detail)
            .header("WWW-Authenticate", "Basic realm=\"flashsale-admin\", charset=\"UTF-8\"");
    };
    auto credential = parseAuthorization(ex->header("Authorization"));
    if (!credential || !m_adminAuth) {
        ex->sendProblem(unauthorized(credential ? QStringLiteral("The admin API is off.")
                                                : credential.error()));
        return;
    }
    const QByteArray address = clientIp(ex);
    m_adminAuth->authenticate(
        *credential, address,
        [ex, needed, what, unauthorized, then = std::move(then)](const LoginResult &r) {
            if (!r) {
                const LoginFailure &f = r.error();
                if (f.code == admin::AdminError::TooManyLoginAttempts) {
                    Problem p =
                        Problem::make(429, QStringLiteral("too-many-login-attempts"), f.message);
                    p.header("Retry-After", QByteArray::number(f.retryAfterSeconds));
                    ex->sendProblem(p);
                } else if (f.code == admin::AdminError::Unavailable) {
                    ex->sendProblem(
                        Problem::make(503, QStringLiteral("backend-unavailable"), f.message)
                            .header("Retry-After", "1"));
                } else {
                    ex->sendProblem(unauthorized(f.message));
                }
                return;
            }
            if (int(r->role) < int(needed)) {
                Problem p = Problem::make(
                    403, QStringLiteral("forbidden"),
                    QStringLiteral("%1 (role %2) may not %3; it needs role %4.")
                        .arg(r->name, admin::roleName(r->role), what, admin::roleName(needed)));
                ex->sendProblem(p);
                return;
            }
            then(*r);
        });
}

// flashsale_booking_duration_seconds: every answer of the booking routes (POST
// /api/v1/sales/{id}/book and the seed's POST /checkout, both a book.lua decision), whatever the
// outcome; the HighLatency alert's input. Resolved once.
static Histogram *bookingLatency() {
    static Histogram &h = Metrics::instance().histogram(
        "flashsale_booking_duration_seconds",
        "Time from a booking request's arrival to its answer (POST .../book and /checkout), all "
        "outcomes.");
    return &h;
}

void ApiRoutes::book(const ExchangePtr &ex, const QStringList &params) {
    ex->alsoObserveIn(bookingLatency());
    const qint64 saleId = parseId(params.value(0));
    if (saleId == 0) {
        ex->sendProblem(Problem::make(404, QStringLiteral("sale-not-found")));
        return;
    }
    // A sale whose every item is sold out is answered before the body is parsed or the buyer
    // checked: whoever asks, the answer would be sold-out, which GET /api/v1/sales/{id} tells
    // anyone anyway. A request with an Idempotency-Key still reaches Redis, which may hold an
    // earlier 202 to replay. A body that is malformed, or names an item the sale does not have,
    // gets sold-out too (docs/API.md, "Sold-out answers from memory").
    if (m_booking.knownSoldOut(saleId) && ex->header("Idempotency-Key").isEmpty()) {
        answerSoldOut(ex, saleId);
        return;
    }
    const auto body = jsonBody(ex);
    if (!body)
        return;
    const auto key = idempotencyKey(ex);
    if (!key)
        return;
    const auto fields = parseBookingBody(*body);
    if (!fields) {
        ex->sendProblem(fields.error());
        return;
    }
    const auto buyerId = buyer(ex, fields->userId, QStringLiteral("/user_id"));
    if (!buyerId)
        return;
    BookingRequest req;
    req.saleId = saleId;
    req.userId = *buyerId;
    req.clientIp = clientIp(ex);
    req.arrivalUs = ex->receivedAtUs();
    if (!readProofOfWork(ex, req) || !readAdmission(ex, req))
        return;
    req.itemId = fields->itemId;
    req.quantity = fields->quantity;
    req.idempotencyKey = *key;
    submitBooking(ex, req, false);
}

void ApiRoutes::answerSoldOut(const ExchangePtr &ex, qint64 saleId) {
    const auto started = std::chrono::steady_clock::now();
    // The bytes the normal path would send: the problem's JSON with this path as its instance,
    // serialized once per sale (a request spelling the path otherwise gets its own).
    SoldOutBody &cached = m_soldOutBodies[saleId];
    QByteArray body;
    if (cached.path == ex->path()) {
        body = cached.body;
    } else {
        BookingOutcome soldOut;
        soldOut.kind = BookingOutcome::Kind::SoldOut;
        body = bookingProblem(soldOut).toJson(ex->path());
        if (cached.path.isEmpty()
            && ex->path() == QStringLiteral("/api/v1/sales/%1/book").arg(saleId))
            cached = SoldOutBody{ex->path(), body};
    }
    // Counted as the normal path counts a sold-out answer from memory (submitBooking).
    if (m_stats)
        m_stats->record(
            saleId, bookingOutcomeSpelling(BookingOutcome::Kind::SoldOut).code,
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    bookingCounter(BookingOutcome::Kind::SoldOut).inc();
    ex->send(409, "application/problem+json", body);
}

void ApiRoutes::submitBooking(const ExchangePtr &ex, const BookingRequest &req, bool checkoutCode) {
    // A client that closed its connection before this process read its booking gave up on it
    // (its own timeout, while this process or its host was stalled) and may already have retried
    // and been refused: booking now would give it an order it was never told of. Refusals are not
    // stored under the Idempotency-Key, so only this check keeps the late copy from booking.
    if (ex->clientGone()) {
        static Counter &abandoned = Metrics::instance().counter(
            "flashsale_bookings_abandoned_total",
            "Bookings not decided because their client had closed the connection (given up "
            "waiting) before the API read them; nothing was booked.");
        abandoned.inc();
        ex->sendProblem(Problem::make(503, QStringLiteral("client-closed"),
                                      QStringLiteral("The connection was closed before the booking "
                                                     "was decided; nothing was booked."))
                            .header("Retry-After", "0"));
        return;
    }
    const qint64 saleId = req.saleId;
    const auto started = std::chrono::steady_clock::now();
    QPointer<StatsRecorder> stats(m_stats);
    m_booking.book(req, [ex, saleId, checkoutCode, started,
                         stats](const Result<BookingOutcome> &r) {
        if (stats) {
            const double seconds =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
            // Live stats only for sales that exist and have not ended: a request about a sale
            // that is not there (or no longer open) must not create its per-second keys (I9).
            if (!r)
                stats->recordUndecided(saleId, kBookingUndecided, seconds);
            else if (r->kind != BookingOutcome::Kind::UnknownSale
                     && r->kind != BookingOutcome::Kind::Closed)
                stats->record(saleId, bookingOutcomeSpelling(r->kind).code, seconds);
        }
        if (!r) {
            ex->sendProblem(dependencyProblem(r.error()));
            return;
        }
        bookingCounter(r->kind).inc();
        if (r->kind != BookingOutcome::Kind::Accepted) {
            Problem p = bookingProblem(*r);
            if (r->kind == BookingOutcome::Kind::AdmissionRequired)
                p.with(QStringLiteral("queue_url"),
                       QStringLiteral("/api/v1/sales/%1/queue").arg(saleId));
            ex->sendProblem(p);
            return;
        }
        QJsonObject o{{"reservation_id", QString::fromUtf8(r->reservationId)},
                      {"status", "reserved"},
                      {"sale_id", saleId},
                      {"item_id", r->itemId},
                      {"quantity", r->quantity},
                      {"amount_cents", r->priceCents * r->quantity},
                      {"expires_at", isoTime(r->expiresAtMs)}};
        if (checkoutCode)
            o.insert(QStringLiteral("code"), QString::fromUtf8(r->reservationId));
        HeaderList headers{{"Location", "/api/v1/reservations/" + r->reservationId}};
        if (r->replayed)
            headers.append(qMakePair(QByteArray("Idempotent-Replayed"), QByteArray("true")));
        ex->sendJson(202, o, headers);
    });
}

void ApiRoutes::checkout(const ExchangePtr &ex) {
    ex->alsoObserveIn(bookingLatency());
    const auto query = parseCheckoutQuery(ex->query());
    if (!query) {
        ex->sendProblem(query.error());
        return;
    }
    const qint64 itemId = query->itemId;
    const auto key = idempotencyKey(ex);
    if (!key)
        return;
    const auto buyerId = buyer(ex, query->userId, QStringLiteral("query:user_id"));
    if (!buyerId)
        return;
    m_booking.saleOfItem(
        itemId, [this, ex, user = *buyerId, itemId, key = *key](const Result<qint64> &sale) {
            if (!sale) {
                ex->sendProblem(dependencyProblem(sale.error()));
                return;
            }
            if (*sale == 0) {
                ex->sendProblem(Problem::make(404, QStringLiteral("item-not-found")));
                return;
            }
            BookingRequest req;
            req.saleId = *sale;
            req.userId = user;
            req.itemId = itemId;
            req.quantity = 1;
            req.idempotencyKey = key;
            req.clientIp = clientIp(ex);
            req.arrivalUs = ex->receivedAtUs();
            if (!readProofOfWork(ex, req) || !readAdmission(ex, req))
                return;
            submitBooking(ex, req, true);
        });
}

void ApiRoutes::purchase(const ExchangePtr &ex) {
    const auto parsed = parsePurchaseCode(ex->header("x-checkout-code"), ex->header("content-type"),
                                          ex->body(), ex->query());
    if (!parsed) {
        ex->sendProblem(parsed.error());
        return;
    }
    const QByteArray code = *parsed;
    // Only the hold's own buyer may confirm it, in every mode: dev mode issues tokens
    // (POST /api/v1/dev/tokens) rather than skipping the check. Anyone else learns nothing, not
    // even that the code exists.
    if (ex->header("authorization").isEmpty())
        return reservationNotFound(ex);
    const auto owner = buyer(ex, QString(), QString());
    if (!owner)
        return;
    m_booking.confirm(
        code,
        [ex](const Result<ConfirmOutcome> &r) {
            if (!r) {
                ex->sendProblem(dependencyProblem(r.error()));
                return;
            }
            switch (r->kind) {
            case ConfirmOutcome::Kind::Forbidden: // another buyer's: answered as if unknown
            case ConfirmOutcome::Kind::Unknown:
                reservationNotFound(ex);
                return;
            case ConfirmOutcome::Kind::Confirmed: {
                HeaderList headers;
                if (r->replayed)
                    headers.append(
                        qMakePair(QByteArray("Idempotent-Replayed"), QByteArray("true")));
                ex->sendJson(202,
                             QJsonObject{{"code", QString::fromUtf8(r->reservationId)},
                                         {"reservation_id", QString::fromUtf8(r->reservationId)},
                                         {"status", "confirmed"},
                                         {"user_id", QString::fromUtf8(r->userId)},
                                         {"item_id", r->itemId},
                                         {"quantity", r->quantity},
                                         {"amount_cents", r->priceCents * r->quantity}},
                             headers);
                return;
            }
            case ConfirmOutcome::Kind::Expired:
                ex->sendProblem(Problem::make(
                    410, QStringLiteral("hold-expired"),
                    QStringLiteral("The hold expired at %1.").arg(isoTime(r->expiredAtMs))));
                return;
            case ConfirmOutcome::Kind::Ended:
                ex->sendProblem(Problem::make(409, QStringLiteral("reservation-ended"))
                                    .with(QStringLiteral("reservation_status"),
                                          QString::fromUtf8(r->endedStatus)));
                return;
            }
        },
        *owner);
}

void ApiRoutes::getSale(const ExchangePtr &ex, const QStringList &params) {
    const qint64 saleId = parseId(params.value(0));
    if (saleId == 0) {
        ex->sendProblem(Problem::make(404, QStringLiteral("sale-not-found")));
        return;
    }
    m_booking.saleView(saleId, [ex](const Result<std::optional<QJsonObject>> &r) {
        if (!r)
            ex->sendProblem(dependencyProblem(r.error()));
        else if (!*r)
            ex->sendProblem(Problem::make(404, QStringLiteral("sale-not-found")));
        else
            ex->sendJson(200, **r);
    });
}

void ApiRoutes::createSale(const ExchangePtr &ex) {
    authorizeAdmin(ex, admin::Role::Merchandiser, QStringLiteral("create sales"),
                   [this, ex](const OperatorIdentity &who) { createSaleAs(ex, who.name); });
}

void ApiRoutes::createSaleAs(const ExchangePtr &ex, const QString &actor) {
    const auto body = jsonBody(ex);
    if (!body)
        return;
    auto spec = SaleSpec::fromJson(*body, m_config, QDateTime::currentMSecsSinceEpoch());
    if (!spec) {
        ex->sendProblem(invalid(spec.error()));
        return;
    }
    m_catalog.create(*spec, true, [this, ex, actor](const Result<SaleSpec> &r, qint64 saleId) {
        if (!r) {
            Problem p = dependencyProblem(r.error());
            if (saleId)
                p.with(QStringLiteral("id"), saleId);
            ex->sendProblem(p);
            return;
        }
        QJsonArray items;
        for (const SaleSpec::Item &i : r->items) {
            items.append(QJsonObject{
                {"id", i.id}, {"name", i.name}, {"stock", i.stock}, {"price_cents", i.priceCents}});
        }
        qCInfo(lcBooking) << "created sale" << saleId << r->name << "with" << r->items.size()
                          << "items";
        const QJsonObject sale{{"id", saleId},
                               {"name", r->name},
                               {"per_user_limit", r->perUserLimit},
                               {"starts_at", isoTime(r->startsAtMs)},
                               {"ends_at", isoTime(r->endsAtMs)},
                               {"hold_seconds", r->holdSeconds},
                               {"admission_rate", r->admissionRate},
                               {"admission_burst", r->admissionBurst},
                               {"pow_difficulty", r->powDifficulty},
                               {"waiting_room", SaleCatalog::waitingRoomJson(r->waitingRoom)},
                               {"items", items}};
        // Answered once the audit row is written, so a 201 always has its row.
        writeAudit(m_pg,
                   {actor, QStringLiteral("sale.create"), saleId, QJsonValue(), sale,
                    QJsonObject{{"via", "http"}}},
                   [ex, sale, saleId](const Result<qint64> &) {
                       ex->sendJson(201, sale,
                                    {{"Location", "/api/v1/sales/" + QByteArray::number(saleId)}});
                   });
    });
}

void ApiRoutes::warmSale(const ExchangePtr &ex, const QStringList &params) {
    const qint64 saleId = parseId(params.value(0));
    authorizeAdmin(
        ex, admin::Role::Merchandiser, QStringLiteral("warm sales"),
        [this, ex, saleId](const OperatorIdentity &who) {
            if (saleId == 0) {
                ex->sendProblem(Problem::make(404, QStringLiteral("sale-not-found")));
                return;
            }
            m_catalog.warm(saleId, [this, ex, saleId, actor = who.name](const Result<bool> &r) {
                if (!r && r.error().code == ErrorCode::NotFound) {
                    ex->sendProblem(Problem::make(404, QStringLiteral("sale-not-found")));
                    return;
                }
                if (!r) {
                    ex->sendProblem(dependencyProblem(r.error()));
                    return;
                }
                const bool warmed = *r;
                writeAudit(m_pg,
                           {actor, QStringLiteral("sale.warm"), saleId, QJsonValue(),
                            QJsonObject{{"warmed", warmed}}, QJsonObject{{"via", "http"}}},
                           [ex, saleId, warmed](const Result<qint64> &) {
                               ex->sendJson(200, QJsonObject{{"id", saleId}, {"warmed", warmed}});
                           });
            });
        });
}

namespace {

// The problem of a failed waiting-room operation (AdminWaitingRoom).
Problem waitingRoomProblem(const AdminWaitingRoom::Failure &f) {
    using K = AdminWaitingRoom::Failure::Kind;
    switch (f.kind) {
    case K::InvalidArgs:
        return invalid(f.details);
    case K::UnknownSale:
        return Problem::make(404, QStringLiteral("sale-not-found"), f.message);
    case K::NoWaitingRoom:
        return Problem::make(404, QStringLiteral("waiting-room-not-found"), f.message);
    case K::NotWarm:
        return Problem::make(409, QStringLiteral("sale-not-warm"), f.message);
    case K::Unavailable:
        return Problem::make(503, QStringLiteral("backend-unavailable"), f.message)
            .header("Retry-After", "1");
    case K::Internal:
        break;
    }
    return Problem::make(500, QStringLiteral("internal"), f.message);
}

} // namespace

ApiRoutes::~ApiRoutes() = default;

void ApiRoutes::waitingRoomView(const ExchangePtr &ex, const QStringList &params) {
    const qint64 saleId = parseId(params.value(0));
    authorizeAdmin(ex, admin::Role::Viewer, QStringLiteral("read waiting rooms"),
                   [this, ex, saleId](const OperatorIdentity &) {
                       if (saleId == 0)
                           return ex->sendProblem(
                               Problem::make(404, QStringLiteral("sale-not-found")));
                       m_waitingRoomAdmin->get(saleId, [ex](const AdminWaitingRoom::Answer &a) {
                           if (!a)
                               return ex->sendProblem(waitingRoomProblem(a.error()));
                           ex->sendJson(200, a->value(QStringLiteral("waiting_room")).toObject(),
                                        {{"Cache-Control", "no-store"}});
                       });
                   });
}

void ApiRoutes::waitingRoomSet(const ExchangePtr &ex, const QStringList &params) {
    const qint64 saleId = parseId(params.value(0));
    authorizeAdmin(
        ex, admin::Role::Merchandiser, QStringLiteral("operate waiting rooms"),
        [this, ex, saleId](const OperatorIdentity &who) {
            if (saleId == 0)
                return ex->sendProblem(Problem::make(404, QStringLiteral("sale-not-found")));
            const auto body = jsonBody(ex);
            if (!body)
                return;
            const auto settings = AdminWaitingRoom::decodeSettings(*body, QString(), false);
            if (!settings)
                return ex->sendProblem(invalid(settings.error()));
            m_waitingRoomAdmin->set(saleId, *settings, who.name, QStringLiteral("http"),
                                    [ex](const AdminWaitingRoom::Answer &a) {
                                        if (!a)
                                            return ex->sendProblem(waitingRoomProblem(a.error()));
                                        ex->sendJson(200, *a);
                                    });
        });
}

void ApiRoutes::ready(const ExchangePtr &ex) {
    struct State {
        QString redis;
        QString postgres;
        int waiting = 2;
    };
    auto state = std::make_shared<State>();
    auto finish = [ex, state, down = m_connectionsDown] {
        if (--state->waiting > 0)
            return;
        // Every thread must be able to serve, not only the one that took this request.
        const int others = down ? down() : 0;
        if (others > 0 && state->redis == QLatin1String("ok"))
            state->redis =
                QStringLiteral("ok here; %1 connections of other API threads down").arg(others);
        const bool ok =
            state->redis == QLatin1String("ok") && state->postgres == QLatin1String("ok");
        if (ok) {
            ex->sendJson(200,
                         QJsonObject{{"status", "ready"}, {"redis", "ok"}, {"postgres", "ok"}});
        } else {
            ex->sendProblem(
                Problem::make(
                    503, QStringLiteral("backend-unavailable"),
                    QStringLiteral("redis: %1; postgres: %2").arg(state->redis, state->postgres))
                    .with(QStringLiteral("redis"), state->redis)
                    .with(QStringLiteral("postgres"), state->postgres)
                    .header("Retry-After", "1"));
        }
    };
    m_redis.command({"PING"}, [state, finish](const Result<RedisValue> &r) {
        state->redis = !r             ? r.error().message
                       : r->isError() ? QString::fromUtf8(r->string)
                                      : QStringLiteral("ok");
        finish();
    });
    m_pg.query("SELECT 1", {}, [state, finish](const Result<PgResult> &r) {
        state->postgres = r ? QStringLiteral("ok") : r.error().message;
        finish();
    });
}

void ApiRoutes::reservation(const ExchangePtr &ex, const QStringList &params) {
    const QByteArray rid = params.value(0).toUtf8();
    const qint64 sale = reservationSale(rid);
    // Only the buyer who holds it may read a reservation, in every mode (dev mode included: it
    // issues tokens). No token, another buyer's token and an id that does not exist all get the
    // same 404, so an id's existence is not revealed. A token that is bad in itself is a 401.
    if (sale == 0 || ex->header("authorization").isEmpty())
        return reservationNotFound(ex);
    const auto owner = buyer(ex, QString(), QString());
    if (!owner)
        return;
    // PostgreSQL first: once the worker wrote the order, it is the truth. Before that the hold
    // exists in Redis only, and the answer is "reserved".
    static const QByteArray sql = R"(
SELECT id, status, cancel_reason, sale_id, item_id, user_id, quantity, amount_cents,
       (extract(epoch FROM expires_at) * 1000)::bigint, payment_started_at IS NOT NULL
FROM orders WHERE reservation_id = $1)";
    m_pg.query(sql, {rid}, [this, ex, rid, sale, owner = *owner](const Result<PgResult> &r) {
        if (!r) {
            ex->sendProblem(dependencyProblem(r.error()));
            return;
        }
        if (!r->rows.isEmpty()) {
            const QList<QByteArray> &o = r->rows.first();
            if (o[5] != owner)
                return reservationNotFound(ex);
            QJsonObject body{{"reservation_id", QString::fromUtf8(rid)},
                             {"order_id", o[0].toLongLong()},
                             {"status", QString::fromUtf8(o[1])},
                             {"sale_id", o[3].toLongLong()},
                             {"item_id", o[4].toLongLong()},
                             {"user_id", QString::fromUtf8(o[5])},
                             {"quantity", o[6].toInt()},
                             {"amount_cents", o[7].toLongLong()},
                             {"expires_at", isoTime(o[8].toLongLong())},
                             {"payment_started", o[9] == "t"}};
            if (!o[2].isNull())
                body.insert(QStringLiteral("cancel_reason"), QString::fromUtf8(o[2]));
            ex->sendJson(200, body);
            return;
        }
        m_redis.command(
            {"HGETALL", SaleKeys(sale).reservation(rid)},
            [ex, rid, sale, owner](const Result<RedisValue> &h) {
                if (!h) {
                    ex->sendProblem(dependencyProblem(h.error()));
                    return;
                }
                const auto f = h->fields();
                if (f.isEmpty() || f.value("user").bytes() != owner)
                    return reservationNotFound(ex);
                ex->sendJson(
                    200,
                    QJsonObject{{"reservation_id", QString::fromUtf8(rid)},
                                {"status", "reserved"},
                                {"sale_id", sale},
                                {"item_id", f.value("item").toInt()},
                                {"user_id", QString::fromUtf8(f.value("user").bytes())},
                                {"quantity", int(f.value("qty").toInt())},
                                {"amount_cents", f.value("price").toInt() * f.value("qty").toInt()},
                                {"expires_at", isoTime(f.value("expires_ms").toInt())},
                                {"payment_started", f.value("status").bytes() == "confirmed"}});
            });
    });
}

void ApiRoutes::problemType(const ExchangePtr &ex, const QStringList &params) {
    for (const ProblemType &t : problemTypes()) {
        if (params.value(0) == QLatin1String(t.slug)) {
            ex->sendJson(200,
                         QJsonObject{{"type", QStringLiteral("/problems/") + QLatin1String(t.slug)},
                                     {"status", t.status},
                                     {"title", QString::fromUtf8(t.title)},
                                     {"description", QString::fromUtf8(t.description)}});
            return;
        }
    }
    ex->sendProblem(Problem::make(404, QStringLiteral("not-found")));
}

} // namespace flashsale
