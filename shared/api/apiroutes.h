#pragma once

#include "admission/admissiontoken.h"
#include "api/buyerauth.h"
#include "http/httpexchange.h"
#include "protocol/adminprotocol.h"

#include <QHash>

#include <functional>
#include <memory>
#include <optional>

class QHostAddress;

namespace flashsale {

class AdminWaitingRoom;
class BookingService;
class HttpServer;
class OperatorAuthenticator;
struct OperatorIdentity;
class PgConnection;
class RedisCommands;
class SaleCatalog;
class StatsRecorder;
struct BookingOutcome;
struct Config;
struct Error;

// The HTTP API of one API thread: routes, input validation, and the one place where outcomes
// and errors become HTTP responses (see docs/API.md); a booking outcome's problem type and status
// come from its row in booking/outcome.h. GET /metrics is not served here: it has its own
// listener (ApiServer, MetricsRoute), away from the public port. All objects
// given are owned by the caller, live on the caller's thread, and must outlive the routes.
class ApiRoutes {
public:
    ApiRoutes(const Config &config, BookingService &booking, SaleCatalog &catalog,
              RedisCommands &redis, PgConnection &pg);
    ~ApiRoutes();

    void install(HttpServer &server);
    // Booking outcomes and latencies are counted here for the live stats (optional).
    void setStatsRecorder(StatsRecorder *recorder) { m_stats = recorder; }
    // How many Redis and PostgreSQL connections of the process's API threads are down; /readyz
    // is 200 only when this thread's answer and this are both fine (optional).
    void setConnectionsDown(std::function<int()> down) { m_connectionsDown = std::move(down); }
    // Checks the operators of the admin routes (POST /api/v1/admin/*); without it they answer
    // 401. Owned by the caller, on this thread.
    void setAdminAuthenticator(OperatorAuthenticator *authenticator) {
        m_adminAuth = authenticator;
    }

    // The problem for a non-accepted booking outcome.
    static Problem bookingProblem(const BookingOutcome &outcome);
    // The problem for a failed dependency call: 503 with Retry-After for unavailable/slow,
    // 500 otherwise.
    static Problem dependencyProblem(const Error &error);

private:
    void book(const ExchangePtr &ex, const QStringList &params);
    void checkout(const ExchangePtr &ex);
    void purchase(const ExchangePtr &ex);
    void getSale(const ExchangePtr &ex, const QStringList &params);
    void reservation(const ExchangePtr &ex, const QStringList &params);
    void createSale(const ExchangePtr &ex);
    void createSaleAs(const ExchangePtr &ex, const QString &actor);
    void warmSale(const ExchangePtr &ex, const QStringList &params);
    // GET / PATCH /api/v1/admin/sales/{id}/waiting-room (issue 16; AdminWaitingRoom).
    void waitingRoomView(const ExchangePtr &ex, const QStringList &params);
    void waitingRoomSet(const ExchangePtr &ex, const QStringList &params);
    void ready(const ExchangePtr &ex);
    void problemType(const ExchangePtr &ex, const QStringList &params);
    void itemImage(const ExchangePtr &ex, const QStringList &params);
    void challenge(const ExchangePtr &ex, const QStringList &params);
    void devToken(const ExchangePtr &ex);
    void page(const ExchangePtr &ex, const QString &file);

    // BuyerAuth's, for the routes here (api/buyerauth.h says how each fails).
    std::optional<QByteArray> buyer(const ExchangePtr &ex, const QString &claimed,
                                    const QString &claimedPointer);
    // Fills the proof-of-work fields of `req`; false after sending the problem.
    bool readProofOfWork(const ExchangePtr &ex, struct BookingRequest &req);
    // Fills req.admissionEntry from X-Admission-Token (none sent: left empty, book.lua says
    // whether the sale asks for one); false after sending the problem: 403 admission-invalid
    // (malformed, forged, another sale's or another buyer's), 410 admission-expired.
    bool readAdmission(const ExchangePtr &ex, struct BookingRequest &req);
    QByteArray clientIp(const ExchangePtr &ex) const;

    // Logs the request's operator in (Authorization: Basic, or the bootstrap Bearer token) and
    // calls `then` on this thread when their role is at least `needed`. Otherwise answers the
    // problem itself: 401 unauthorized, 403 forbidden, 429 too-many-login-attempts (with
    // Retry-After), 503 backend-unavailable. X-Flashsale-Actor is ignored.
    void authorizeAdmin(const ExchangePtr &ex, admin::Role needed, const QString &what,
                        std::function<void(const OperatorIdentity &)> then);
    // Answers 409 sold-out for a sale BookingService::knownSoldOut() says is sold out, with the
    // bytes, counters and live stats a sold-out answer from Redis gets.
    void answerSoldOut(const ExchangePtr &ex, qint64 saleId);
    // Runs the booking and answers with 202 or the problem.
    void submitBooking(const ExchangePtr &ex, const struct BookingRequest &request,
                       bool checkoutCode);

    const Config &m_config;
    BookingService &m_booking;
    SaleCatalog &m_catalog;
    RedisCommands &m_redis;
    PgConnection &m_pg;
    StatsRecorder *m_stats = nullptr;
    std::function<int()> m_connectionsDown;
    OperatorAuthenticator *m_adminAuth = nullptr;
    BuyerAuth m_auth;
    AdmissionTokens m_admission;
    std::unique_ptr<AdminWaitingRoom> m_waitingRoomAdmin; // issue 16
    // The sold-out problem of each sale answered by answerSoldOut(), serialized once: its
    // canonical path (the instance member) and the body.
    struct SoldOutBody {
        QString path;
        QByteArray body;
    };
    QHash<qint64, SoldOutBody> m_soldOutBodies;
};

} // namespace flashsale
