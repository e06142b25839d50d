#pragma once

#include "core/config.h"
#include "core/result.h"
#include "http/guardedtcpserver.h"
#include "redis/redisclient.h"

#include <QList>
#include <QObject>
#include <QThread>

#include <atomic>
#include <memory>

namespace flashsale {

class ApiWorker;
class LoginThrottle;
class RedisSubscriber;
class StockBackNotices;

// The API role: N threads, each with its own SO_REUSEPORT listening socket on one port, its own
// QHttpServer, Redis connection and PostgreSQL connection, all driven by that thread's event
// loop. Nothing is shared between threads but the metrics registry, the connection count and
// the stock-back notices: one Redis connection of the process, on the thread that starts the
// server, subscribes to flashsale:stock-back and tells every thread's sold-out memory
// (BookingService) when a unit of a sale comes back.
// The API port never serves /metrics: the process's AdminListener does (api/adminlistener.h),
// counting its connections in openConnections() so one cap covers both.
//
// Created, started and stopped from the main thread.
class ApiServer final : public QObject {
    Q_OBJECT
public:
    explicit ApiServer(const Config &config, QObject *parent = nullptr);
    ~ApiServer() override;

    // Opens the sockets and starts every thread; returns once all of them listen. Returns the
    // port bound (useful with --port 0), or the first error.
    [[nodiscard]] Result<quint16> start();
    void stop();
    // The count of open connections the API's cap applies to (the admin listener adds its own).
    std::shared_ptr<std::atomic<int>> openConnections() const;
    // Redis and PostgreSQL connections of API threads that are not up (0 once all are).
    int connectionsDown() const;

private:
    // One connection subscribed to flashsale:stock-back, feeding m_stockBack.
    void startStockBackSubscriber(const RedisClient::Endpoint &endpoint);

    const Config &m_config;
    ConnectionLimits m_limits;
    std::shared_ptr<std::atomic<int>> m_open;
    std::shared_ptr<std::atomic<int>> m_down;      // Redis/PostgreSQL connections of threads not up
    std::shared_ptr<LoginThrottle> m_throttle;     // failed admin logins, shared by every thread
    std::shared_ptr<StockBackNotices> m_stockBack; // read by every thread's BookingService
    std::unique_ptr<RedisSubscriber> m_subscriber; // feeds m_stockBack (this thread)
    QList<QThread *> m_threads;
    QList<ApiWorker *> m_workers;
};

} // namespace flashsale
