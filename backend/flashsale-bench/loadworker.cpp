#include "loadworker.h"

#include "admission/buyertoken.h"
#include "usersession.h"

#include <QDateTime>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace flashsale::bench {

namespace {

constexpr qint64 kScanIntervalUs = 2000; // timeouts and reconnects are checked this often
constexpr qint64 kWarmupUs = 500000;     // the longest the start waits for connections
constexpr qint64 kLateUs = 10000;        // an open-loop send this late counts as "behind"

std::atomic<bool> g_stopRequested{false};
static_assert(std::atomic<bool>::is_always_lock_free, "set from a signal handler");

quint64 splitmix64(quint64 x) {
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

quint64 eventData(quint32 generation, int c) {
    return (quint64(generation) << 32) | quint32(c);
}

} // namespace

void LoadWorker::requestStop() {
    g_stopRequested.store(true, std::memory_order_relaxed);
}

bool LoadWorker::stopRequested() {
    return g_stopRequested.load(std::memory_order_relaxed);
}

qint64 LoadWorker::nowUs() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

bool LoadWorker::isBot(quint64 seed, qint64 userNumber, double fraction) {
    if (fraction <= 0.0)
        return false;
    const quint64 h = splitmix64(seed ^ (quint64(userNumber) * 0xD1B54A32D192ED03ULL));
    return double(h >> 11) / double(quint64(1) << 53) < fraction;
}

qint64 LoadWorker::arrivalCount(const LoadConfig &c) {
    const double n = std::floor((c.rateFrom + c.rateTo) / 2.0 * c.durationSeconds);
    return std::min<qint64>(qint64(n), c.users);
}

qint64 LoadWorker::arrivalOffsetUs(const LoadConfig &c, qint64 i) {
    // The rate grows linearly, r(t) = R0 + a t, so arrivals by t are N(t) = R0 t + a t^2 / 2;
    // arrival i is due when N(t) = i.
    const double r0 = c.rateFrom;
    const double a = (c.rateTo - c.rateFrom) / c.durationSeconds;
    double t;
    if (std::abs(a) < 1e-9)
        t = double(i) / r0;
    else
        t = (-r0 + std::sqrt(std::max(0.0, r0 * r0 + 2.0 * a * double(i)))) / a;
    return qint64(t * 1e6);
}

LoadWorker::LoadWorker(const LoadConfig &config, int index, qint64 startUs)
    : m_config(config)
    , m_index(index)
    , m_startUs(startUs)
    , m_rng(splitmix64(config.seed * 1000003ULL + quint64(index))) {
    const int threads = config.threads;
    const int count = config.connections / threads + (index < config.connections % threads);
    m_conns.resize(size_t(count));
    for (int i = 0; i < count; ++i) {
        // Number connections over all threads so every URL gets its share.
        m_conns[size_t(i)].homeUrl = int((qint64(i) * threads + index) % config.urls.size());
        m_conns[size_t(i)].url = m_conns[size_t(i)].homeUrl;
    }
    m_urlDownUntilUs.assign(size_t(config.urls.size()), 0);
    m_urlFailures.assign(size_t(config.urls.size()), 0);
    m_nextUser = index + 1;
    m_nextArrival = index;
    if (config.profile == LoadConfig::Profile::Ramp)
        m_arrivals = arrivalCount(config);
    if (config.maxRequests > 0)
        m_cap = config.maxRequests / threads + (index < config.maxRequests % threads);
    if (!config.tokenSecret.isEmpty())
        m_tokens = std::make_unique<BuyerTokens>(config.tokenSecret);
    m_results.waitingRoom = config.waitingRoom;
}

LoadWorker::~LoadWorker() {
    for (Connection &c : m_conns) {
        if (c.fd >= 0)
            ::close(c.fd);
        delete c.session;
    }
    for (const Ready &r : m_ready)
        delete r.session;
    while (!m_timers.empty()) {
        delete m_timers.top().session;
        m_timers.pop();
    }
    if (m_epoll >= 0)
        ::close(m_epoll);
}

bool LoadWorker::run(QString *error) {
    m_epoll = epoll_create1(EPOLL_CLOEXEC);
    if (m_epoll < 0) {
        *error = QStringLiteral("epoll_create1: %1").arg(QString::fromLocal8Bit(strerror(errno)));
        return false;
    }
    qint64 now = nowUs();
    m_lastConnectedUs = now;
    const qint64 warmupEnd = now + kWarmupUs;
    for (int c = 0; c < int(m_conns.size()); ++c)
        connect(c, now);

    bool pwait2 = true;
    epoll_event events[256];
    while (true) {
        now = nowUs();
        if (!m_started && now >= m_startUs
            && (m_connected == int(m_conns.size()) || now >= std::max(warmupEnd, m_startUs))) {
            m_started = true;
            // Without --start-at the run starts when the connections are up; the ramp's
            // schedule and --max-seconds count from then.
            if (m_config.startAtMs == 0)
                m_startUs = now;
            m_endUs = m_startUs + qint64(m_config.maxSeconds * 1e6);
        }
        if (!m_stopping && ((m_started && now >= m_endUs) || g_stopRequested.load()))
            stopAll(now);
        if (now >= m_nextScanUs) {
            scan(now);
            m_nextScanUs = now + kScanIntervalUs;
        }
        pump(now);
        if (m_cap > 0 && m_sent >= m_cap && !m_stopping)
            stopAll(now);
        if ((m_started || m_stopping) && m_busy == 0 && m_ready.empty() && m_timers.empty()
            && (m_stopping || !freshRemaining()))
            break;

        const qint64 wait = std::max<qint64>(0, nextWakeUs(now) - now);
        int n;
        if (pwait2) {
            timespec ts{time_t(wait / 1000000), long(wait % 1000000) * 1000};
            n = epoll_pwait2(m_epoll, events, 256, &ts, nullptr);
            if (n < 0 && errno == ENOSYS) {
                pwait2 = false;
                continue;
            }
        } else {
            n = epoll_wait(m_epoll, events, 256, int((wait + 999) / 1000));
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            *error = QStringLiteral("epoll_wait: %1").arg(QString::fromLocal8Bit(strerror(errno)));
            return false;
        }
        now = nowUs();
        for (int i = 0; i < n; ++i) {
            const int c = int(quint32(events[i].data.u64));
            const quint32 generation = quint32(events[i].data.u64 >> 32);
            // An earlier event of this batch may have closed (and reopened) the connection.
            if (c < int(m_conns.size()) && m_conns[size_t(c)].generation == generation)
                onEvent(c, events[i].events, now);
        }
    }
    for (int c = 0; c < int(m_conns.size()); ++c) {
        if (m_conns[size_t(c)].fd >= 0)
            closeConnection(c, now, -1);
    }
    return true;
}

bool LoadWorker::freshRemaining() const {
    if (m_config.profile == LoadConfig::Profile::Ramp)
        return m_nextArrival < m_arrivals;
    return m_nextUser <= m_config.users;
}

bool LoadWorker::canSend() const {
    return m_started && !m_stopping && (m_cap == 0 || m_sent < m_cap);
}

qint64 LoadWorker::nextWakeUs(qint64 now) const {
    qint64 wake = m_nextScanUs;
    if (!m_started)
        wake = std::min(wake, m_startUs);
    else if (!m_stopping)
        wake = std::min(wake, m_endUs);
    if (!m_timers.empty())
        wake = std::min(wake, m_timers.top().dueUs);
    if (m_started && !m_idle.empty() && m_config.profile == LoadConfig::Profile::Ramp
        && m_nextArrival < m_arrivals)
        wake = std::min(wake, m_startUs + arrivalOffsetUs(m_config, m_nextArrival));
    return std::max(wake, now);
}

UserSession *LoadWorker::newSession(qint64 userNumber) {
    const bool bot = isBot(m_config.seed, userNumber, m_config.botFraction);
    QByteArray token;
    if (m_tokens) {
        const qint64 wall = QDateTime::currentMSecsSinceEpoch();
        token = m_tokens->issue(m_config.userPrefix + QByteArray::number(userNumber), wall,
                                wall + 3600 * 1000);
    }
    ++m_results.usersStarted;
    if (bot)
        ++m_results.bots;
    return new UserSession(m_config, userNumber, bot, token);
}

bool LoadWorker::takeWork(qint64 now, Ready *out) {
    if (!canSend())
        return false;
    if (m_config.profile == LoadConfig::Profile::Ramp) {
        const bool arrivalDue = m_nextArrival < m_arrivals
                                && m_startUs + arrivalOffsetUs(m_config, m_nextArrival) <= now;
        const qint64 arrivalAt =
            arrivalDue ? m_startUs + arrivalOffsetUs(m_config, m_nextArrival) : 0;
        if (!m_ready.empty() && (!arrivalDue || m_ready.front().intendedUs <= arrivalAt)) {
            *out = m_ready.front();
            m_ready.pop_front();
            return true;
        }
        if (!arrivalDue)
            return false;
        UserSession *s = newSession(m_nextArrival + 1);
        m_nextArrival += m_config.threads;
        s->start(m_rng);
        *out = Ready{s, arrivalAt};
        return true;
    }
    if (!m_ready.empty()) {
        *out = m_ready.front();
        m_ready.pop_front();
        return true;
    }
    if (m_nextUser > m_config.users)
        return false;
    UserSession *s = newSession(m_nextUser);
    m_nextUser += m_config.threads;
    s->start(m_rng);
    *out = Ready{s, now};
    return true;
}

void LoadWorker::pump(qint64 now) {
    while (!m_timers.empty() && m_timers.top().dueUs <= now) {
        m_ready.push_back(Ready{m_timers.top().session, m_timers.top().dueUs});
        m_timers.pop();
    }
    // No connection has been up for a whole request timeout: every URL is down. The waiting
    // requests fail as refused (nothing was sent), so users retry or give up rather than
    // wait for ever.
    if (m_connected == 0 && now - m_lastConnectedUs > qint64(m_config.timeoutMs) * 1000) {
        Ready w;
        while (takeWork(now, &w)) {
            ++m_sent;
            ++m_results.requests;
            if (m_results.firstSendUs == 0)
                m_results.firstSendUs = now;
            m_results.lastDoneUs = now;
            ++m_results.byType[QByteArrayLiteral("transport:refused")];
            const UserSession::Step step =
                w.session->onFailure(TransportError::Refused, false, m_results, m_rng);
            apply(w.session, step.kind, step.delayUs, now);
        }
        return;
    }
    Ready w;
    while (!m_idle.empty() && takeWork(now, &w)) {
        const int c = m_idle.back();
        m_idle.pop_back();
        send(c, w.session, w.intendedUs, now);
    }
}

void LoadWorker::send(int c, UserSession *session, qint64 intendedUs, qint64 now) {
    Connection &k = m_conns[size_t(c)];
    k.state = ConnState::Busy;
    k.session = session;
    ++m_busy;
    k.out = session->request(m_config.urls.at(k.url));
    k.written = 0;
    k.sentUs = now;
    // Open loop: latency counts from when the request should have gone, so time spent
    // waiting for a connection is not hidden (coordinated omission).
    const bool open = m_config.profile == LoadConfig::Profile::Ramp;
    k.intendedUs = open ? std::min(intendedUs, now) : now;
    if (open) {
        const qint64 behind = now - k.intendedUs;
        m_results.behindMaxUs = std::max(m_results.behindMaxUs, behind);
        if (behind > kLateUs)
            ++m_results.behindCount;
    }
    k.deadlineUs = now + qint64(m_config.timeoutMs) * 1000;
    if (m_results.firstSendUs == 0)
        m_results.firstSendUs = now;
    ++m_sent;
    flush(c, now);
}

void LoadWorker::flush(int c, qint64 now) {
    Connection &k = m_conns[size_t(c)];
    while (k.written < k.out.size()) {
        const ssize_t n = ::send(k.fd, k.out.constData() + k.written,
                                 size_t(k.out.size() - k.written), MSG_NOSIGNAL);
        if (n > 0) {
            k.written += n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!k.wantWrite) {
                k.wantWrite = true;
                epoll_event ev{EPOLLIN | EPOLLOUT | EPOLLRDHUP, {}};
                ev.data.u64 = eventData(k.generation, c);
                epoll_ctl(m_epoll, EPOLL_CTL_MOD, k.fd, &ev);
            }
            return;
        }
        failRequest(c, TransportError::Reset, now);
        return;
    }
    if (k.wantWrite) {
        k.wantWrite = false;
        epoll_event ev{EPOLLIN | EPOLLRDHUP, {}};
        ev.data.u64 = eventData(k.generation, c);
        epoll_ctl(m_epoll, EPOLL_CTL_MOD, k.fd, &ev);
    }
}

void LoadWorker::apply(UserSession *session, int stepKind, qint64 delayUs, qint64 now) {
    if (stepKind == UserSession::Step::Done) {
        delete session;
        return;
    }
    if (m_stopping || (m_cap > 0 && m_sent >= m_cap)) {
        // It will never be sent: what it had pending is settled as far as it will be.
        session->abandon(m_results);
        delete session;
        return;
    }
    if (stepKind == UserSession::Step::Send) {
        // The user's next step goes first: a user acts back to back on its own answers.
        m_ready.push_front(Ready{session, now});
    } else if (delayUs <= 0) {
        m_ready.push_back(Ready{session, now});
    } else {
        m_timers.push(Timer{now + delayUs, session});
    }
}

void LoadWorker::failRequest(int c, TransportError error, qint64 now) {
    Connection &k = m_conns[size_t(c)];
    UserSession *s = k.session;
    const bool sent = k.written > 0;
    k.session = nullptr;
    --m_busy;
    ++m_results.requests;
    ++m_results.byType[QByteArray(transportErrorLabel(error))];
    m_results.lastDoneUs = now;
    closeConnection(c, now, 0);
    const UserSession::Step step = s->onFailure(error, sent, m_results, m_rng);
    apply(s, step.kind, step.delayUs, now);
}

void LoadWorker::onEvent(int c, quint32 events, qint64 now) {
    Connection &k = m_conns[size_t(c)];
    if (k.state == ConnState::Connecting) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(k.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            err = errno;
        if (err == 0 && (events & EPOLLOUT))
            onConnected(c, now);
        else if (err != 0 || (events & (EPOLLERR | EPOLLHUP)))
            connectFailed(c, now);
        return;
    }
    if ((events & EPOLLOUT) && k.state == ConnState::Busy && k.written < k.out.size()) {
        const quint32 generation = k.generation;
        flush(c, now);
        if (k.generation != generation)
            return; // the write failed and the connection was replaced
    }
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        onReadable(c, now);
}

void LoadWorker::onReadable(int c, qint64 now) {
    Connection &k = m_conns[size_t(c)];
    char buffer[65536];
    bool eof = false;
    while (true) {
        const ssize_t n = ::recv(k.fd, buffer, sizeof buffer, 0);
        if (n > 0) {
            k.parser.feed(buffer, n);
            if (n < ssize_t(sizeof buffer))
                break;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        eof = true; // 0: the peer closed; < 0: reset
        break;
    }
    while (true) {
        HttpReply reply;
        ResponseParser::State st = ResponseParser::State::NeedMore;
        if (k.state == ConnState::Busy) {
            st = k.parser.next(&reply);
            if (st == ResponseParser::State::NeedMore && eof)
                st = k.parser.finish(&reply);
        } else if (k.parser.hasPartial()) {
            st = ResponseParser::State::Error; // an answer nobody asked for
        }
        if (st == ResponseParser::State::NeedMore)
            break;
        if (st == ResponseParser::State::Error) {
            if (k.state == ConnState::Busy)
                failRequest(c, TransportError::Reset, now);
            else
                closeConnection(c, now, 0);
            return;
        }
        UserSession *s = k.session;
        k.session = nullptr;
        --m_busy;
        ++m_results.requests;
        ++m_results.byStatus[reply.status];
        const QByteArrayView slug = UserSession::problemSlug(reply.body);
        const QByteArray type = s->label(reply);
        if (type == "joined")
            m_results.wrLastJoinUs = std::max(m_results.wrLastJoinUs, now);
        ++m_results.byType[type];
        m_results.latency.record(now - k.intendedUs);
        m_results.lastDoneUs = now;
        const bool close = reply.close || eof;
        if (close) {
            closeConnection(c, now, 0);
        } else {
            k.state = ConnState::Idle;
            m_idle.push_back(c);
        }
        const UserSession::Step step = s->onReply(reply, slug, m_results, m_rng);
        apply(s, step.kind, step.delayUs, now);
        if (close)
            return;
    }
    if (!eof)
        return;
    if (k.state == ConnState::Busy)
        failRequest(c, TransportError::Reset, now);
    else
        closeConnection(c, now, 0);
}

int LoadWorker::pickUrl(int c, qint64 now) const {
    const int n = int(m_config.urls.size());
    const int home = m_conns[size_t(c)].homeUrl;
    for (int i = 0; i < n; ++i) {
        const int u = (home + i) % n;
        if (m_urlDownUntilUs[size_t(u)] <= now)
            return u;
    }
    return -1;
}

void LoadWorker::connect(int c, qint64 now) {
    Connection &k = m_conns[size_t(c)];
    const int url = pickUrl(c, now);
    if (url < 0) {
        // Every URL refused lately: try again when the first one may be back.
        k.reconnectUs = *std::min_element(m_urlDownUntilUs.begin(), m_urlDownUntilUs.end());
        return;
    }
    k.url = url;
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        // Out of descriptors, most likely: the connection waits rather than failing requests.
        k.reconnectUs = now + 100000;
        return;
    }
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(m_config.urls.at(url).port);
    addr.sin_addr.s_addr = m_config.urls.at(url).address;
    k.fd = fd;
    ++k.generation;
    const int r = ::connect(fd, reinterpret_cast<const sockaddr *>(&addr), sizeof addr);
    if (r < 0 && errno != EINPROGRESS) {
        connectFailed(c, now);
        return;
    }
    epoll_event ev{EPOLLOUT | EPOLLIN | EPOLLRDHUP, {}};
    ev.data.u64 = eventData(k.generation, c);
    epoll_ctl(m_epoll, EPOLL_CTL_ADD, fd, &ev);
    k.state = ConnState::Connecting;
    k.deadlineUs = now + qint64(m_config.connectTimeoutMs) * 1000;
    if (r == 0)
        onConnected(c, now);
}

void LoadWorker::onConnected(int c, qint64 now) {
    Connection &k = m_conns[size_t(c)];
    k.state = ConnState::Idle;
    k.failures = 0;
    k.parser.reset();
    epoll_event ev{EPOLLIN | EPOLLRDHUP, {}};
    ev.data.u64 = eventData(k.generation, c);
    epoll_ctl(m_epoll, EPOLL_CTL_MOD, k.fd, &ev);
    ++m_connected;
    m_lastConnectedUs = now;
    m_urlDownUntilUs[size_t(k.url)] = 0;
    m_urlFailures[size_t(k.url)] = 0;
    m_idle.push_back(c);
}

void LoadWorker::connectFailed(int c, qint64 now) {
    Connection &k = m_conns[size_t(c)];
    if (k.fd >= 0)
        ::close(k.fd);
    k.fd = -1;
    ++k.generation;
    k.state = ConnState::Down;
    ++k.failures;
    // The URL is avoided for a while (growing to 1 s), so connections move to the others.
    const int f = std::min(++m_urlFailures[size_t(k.url)], 5);
    m_urlDownUntilUs[size_t(k.url)] = now + (qint64(31250) << f);
    k.reconnectUs = now;
}

void LoadWorker::closeConnection(int c, qint64 now, qint64 reconnectDelayUs) {
    Connection &k = m_conns[size_t(c)];
    if (k.fd >= 0)
        ::close(k.fd); // also leaves the epoll set
    k.fd = -1;
    ++k.generation;
    if (k.state == ConnState::Idle)
        m_idle.erase(std::remove(m_idle.begin(), m_idle.end(), c), m_idle.end());
    if (k.state == ConnState::Idle || k.state == ConnState::Busy) {
        if (--m_connected == 0)
            m_lastConnectedUs = now;
    }
    k.state = ConnState::Down;
    k.parser.reset();
    k.out.clear();
    k.written = 0;
    k.wantWrite = false;
    if (reconnectDelayUs < 0)
        return;
    k.reconnectUs = now + reconnectDelayUs;
    if (reconnectDelayUs == 0 && !m_stopping)
        connect(c, now);
}

void LoadWorker::scan(qint64 now) {
    for (int c = 0; c < int(m_conns.size()); ++c) {
        Connection &k = m_conns[size_t(c)];
        switch (k.state) {
        case ConnState::Connecting:
            if (now >= k.deadlineUs)
                connectFailed(c, now);
            break;
        case ConnState::Busy:
            if (now >= k.deadlineUs)
                failRequest(c, TransportError::Timeout, now);
            break;
        case ConnState::Down:
            if (!m_stopping && now >= k.reconnectUs)
                connect(c, now);
            break;
        case ConnState::Idle:
            break;
        }
    }
}

void LoadWorker::stopAll(qint64 now) {
    m_stopping = true;
    for (const Ready &r : m_ready) {
        r.session->abandon(m_results);
        delete r.session;
    }
    m_ready.clear();
    while (!m_timers.empty()) {
        m_timers.top().session->abandon(m_results);
        delete m_timers.top().session;
        m_timers.pop();
    }
    if (m_config.profile == LoadConfig::Profile::Ramp && m_nextArrival < m_arrivals) {
        // Arrivals due before the stop that never went out: the client could not keep up.
        const qint64 stopAt = now - m_startUs;
        for (qint64 i = m_nextArrival; i < m_arrivals && arrivalOffsetUs(m_config, i) <= stopAt;
             i += m_config.threads)
            ++m_results.arrivalsMissed;
    }
}

} // namespace flashsale::bench
