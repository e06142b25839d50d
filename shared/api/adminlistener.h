#pragma once

#include "core/config.h"
#include "core/result.h"
#include "http/requestframer.h"

#include <QObject>
#include <QString>
#include <QThread>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace flashsale {

class AdminListenerWorker;

// The process's admin listener (docs/API.md, "Operations"): GET /metrics, /healthz and /readyz
// on --metrics-listen / --metrics-port, in every process whatever its --roles (-1, the default,
// serves nothing). Its own thread ("metrics"), socket (a plain bind, no SO_REUSEPORT, so a second
// process on the same port fails instead of sharing scrapes) and Redis and PostgreSQL
// connections. The connection limits are the API's (--max-connections etc.), counted in the
// counter it is given (the API's, so one cap covers both); every WebSocket upgrade is refused
// and every other path is 404.
//
//   /healthz  200 while the process runs (the listener's thread answers).
//   /readyz   200 when every dependency the process's roles need is reachable, else 503 with a
//             problem+json naming each one: PostgreSQL (every role) and Redis (api, worker,
//             payment, scheduler) pinged over the listener's own connections, plus the checks
//             the roles registered with addCheck() (the API threads' own connections, Kafka).
//
// Created, started and stopped from the main thread.
class AdminListener final : public QObject {
    Q_OBJECT
public:
    AdminListener(const Config &config, std::shared_ptr<std::atomic<int>> openConnections,
                  QObject *parent = nullptr);
    ~AdminListener() override;

    // A dependency /readyz reports under `name`: `ok` returns empty when it is fine, else why it
    // is not. Called on the listener's thread, so it must be thread-safe. May be called before
    // or after start().
    void addCheck(const QString &name, std::function<QString()> ok);

    // Listens (when --metrics-port >= 0) and returns the port bound (0 when off), or the error.
    [[nodiscard]] Result<quint16> start();
    void stop();
    quint16 port() const { return m_port; }

    struct Check {
        QString name;
        std::function<QString()> ok;
    };
    // The checks registered so far (thread-safe copy).
    std::vector<Check> checks() const;

private:
    const Config &m_config;
    ConnectionLimits m_limits;
    std::shared_ptr<std::atomic<int>> m_open;
    mutable std::mutex m_checksLock;
    std::vector<Check> m_checks;
    QThread *m_thread = nullptr;
    AdminListenerWorker *m_worker = nullptr;
    quint16 m_port = 0;
};

} // namespace flashsale
