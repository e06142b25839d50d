#pragma once

#include "loadconfig.h"
#include "loadresults.h"
#include "responseparser.h"
#include "usersession.h"

#include <QByteArray>

#include <deque>
#include <memory>
#include <queue>
#include <random>
#include <vector>

namespace flashsale {
class BuyerTokens;
}

namespace flashsale::bench {

// One load thread: an epoll loop over its share of the connections, driving its share of the
// users (user n belongs to thread (n - 1) % threads; ramp arrival i to thread i % threads).
//
//   fresh users / ramp arrivals ──┐
//   retries due (timer heap) ─────┼─▶ ready queue ──▶ idle keep-alive connection ──▶ answer
//   next step of a user ──────────┘                    (one request in flight each)    │
//             ▲                                                                        │
//             └──────────────── UserSession::onReply / onFailure ◀────────────────────┘
//
// Connections spread over the --url list; one that closes or fails is reopened, on another URL
// while its own refuses. Construct, then run() on the thread that owns it; results() after
// run() returns. Never throws; socket errors become transport outcomes.
class LoadWorker {
public:
    // `startUs` (steady clock µs) is when the first request may go: the --start-at instant, or
    // shortly after start-up so connections can open first.
    LoadWorker(const LoadConfig &config, int index, qint64 startUs);
    ~LoadWorker();
    LoadWorker(const LoadWorker &) = delete;
    LoadWorker &operator=(const LoadWorker &) = delete;

    // Runs until every user is done, the request cap is reached or --max-seconds pass.
    // Returns false (with `error`) only when the loop could not be set up.
    bool run(QString *error);
    LoadResults &results() { return m_results; }

    // Asks every worker to stop as at --max-seconds (async-signal-safe: SIGINT, SIGTERM), so an
    // interrupted run still writes its ledger.
    static void requestStop();
    static bool stopRequested();
    // Steady clock, µs: the time base of every timestamp here.
    static qint64 nowUs();
    // Whether user n is a bot: a function of the seed, so runs repeat.
    static bool isBot(quint64 seed, qint64 userNumber, double fraction);
    // Ramp: the time of arrival i (0-based), µs after the start.
    static qint64 arrivalOffsetUs(const LoadConfig &config, qint64 i);
    static qint64 arrivalCount(const LoadConfig &config);

private:
    enum class ConnState { Down, Connecting, Idle, Busy };
    struct Connection {
        int fd = -1;
        quint32 generation = 0; // bumped on every close, so stale epoll events are dropped
        ConnState state = ConnState::Down;
        int url = 0; // index into config.urls
        int homeUrl = 0;
        qint64 deadlineUs = 0;  // connect or request timeout
        qint64 reconnectUs = 0; // Down: when to try again
        int failures = 0;       // connect failures in a row
        QByteArray out;
        qsizetype written = 0;
        bool wantWrite = false;
        ResponseParser parser;
        UserSession *session = nullptr; // the request in flight (Busy)
        qint64 sentUs = 0;
        qint64 intendedUs = 0;
    };
    struct Ready {
        UserSession *session = nullptr;
        qint64 intendedUs = 0;
    };
    struct Timer {
        qint64 dueUs;
        UserSession *session;
        bool operator>(const Timer &o) const { return dueUs > o.dueUs; }
    };

    void connect(int c, qint64 now);
    void onConnected(int c, qint64 now);
    void connectFailed(int c, qint64 now);
    void closeConnection(int c, qint64 now, qint64 reconnectDelayUs);
    void onEvent(int c, quint32 events, qint64 now);
    void onReadable(int c, qint64 now);
    void flush(int c, qint64 now);
    void failRequest(int c, TransportError error, qint64 now);
    void send(int c, UserSession *session, qint64 intendedUs, qint64 now);
    void pump(qint64 now);
    void scan(qint64 now);
    void apply(UserSession *session, int stepKind, qint64 delayUs, qint64 now);
    bool takeWork(qint64 now, Ready *out);
    bool canSend() const;
    bool freshRemaining() const;
    qint64 nextWakeUs(qint64 now) const;
    UserSession *newSession(qint64 userNumber);
    void stopAll(qint64 now);
    int pickUrl(int c, qint64 now) const;

    const LoadConfig &m_config;
    const int m_index;
    qint64 m_startUs;
    bool m_started = false;
    qint64 m_endUs = 0; // --max-seconds after the start
    int m_epoll = -1;
    std::vector<Connection> m_conns;
    std::vector<int> m_idle; // idle connections, most recently used last
    std::deque<Ready> m_ready;
    std::priority_queue<Timer, std::vector<Timer>, std::greater<Timer>> m_timers;
    std::vector<qint64> m_urlDownUntilUs; // a URL that refused is avoided until then
    std::vector<int> m_urlFailures;
    int m_connected = 0;
    qint64 m_lastConnectedUs = 0; // the last time any connection was up
    int m_busy = 0;
    qint64 m_nextUser = 0;    // burst: next user number of this thread
    qint64 m_nextArrival = 0; // ramp: next arrival index of this thread
    qint64 m_arrivals = 0;    // ramp: arrivals over all threads
    qint64 m_sent = 0;
    qint64 m_cap = 0; // this thread's share of --requests (0: none)
    bool m_stopping = false;
    qint64 m_nextScanUs = 0;
    std::mt19937_64 m_rng;
    std::unique_ptr<BuyerTokens> m_tokens;
    LoadResults m_results;
};

} // namespace flashsale::bench
