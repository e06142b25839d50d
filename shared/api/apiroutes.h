#pragma once

#include "http/httpexchange.h"

namespace flashsale {

class BookingService;
class HttpServer;
class PgConnection;
class RedisClient;
class SaleCatalog;
class StatsRecorder;
struct BookingOutcome;
struct Config;
struct Error;

// The HTTP API of one API thread: routes, input validation, and the one place where outcomes
// and errors become HTTP statuses and problem types (see docs/API.md). All objects given are
// owned by the caller, live on the caller's thread, and must outlive the routes.
class ApiRoutes {
public:
    ApiRoutes(const Config &config, BookingService &booking, SaleCatalog &catalog,
              RedisClient &redis, PgConnection &pg);

    void install(HttpServer &server);
    // Booking outcomes and latencies are counted here for the live stats (optional).
    void setStatsRecorder(StatsRecorder *recorder) { m_stats = recorder; }

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
    void warmSale(const ExchangePtr &ex, const QStringList &params);
    void ready(const ExchangePtr &ex);
    void metrics(const ExchangePtr &ex);
    void problemType(const ExchangePtr &ex, const QStringList &params);
    void itemImage(const ExchangePtr &ex, const QStringList &params);

    // Sends 401 and returns false unless the request carries the admin bearer token.
    bool authorizeAdmin(const ExchangePtr &ex) const;
    // Runs the booking and answers with 202 or the problem.
    void submitBooking(const ExchangePtr &ex, const struct BookingRequest &request,
                       bool checkoutCode);

    const Config &m_config;
    BookingService &m_booking;
    SaleCatalog &m_catalog;
    RedisClient &m_redis;
    PgConnection &m_pg;
    StatsRecorder *m_stats = nullptr;
};

} // namespace flashsale
