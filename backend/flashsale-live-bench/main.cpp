// flashsale-live-bench: holds N buyer live sockets (/api/v1/sales/{id}/live) open against one or
// more flashsale-server processes on 127.0.0.1 and measures what they cost (issue 16, item 6;
// docs/BENCHMARKS.md, "100,000 buyer live sockets").
//
//   flashsale-live-bench --ports P[,P...] --sale ID --connections N [--rate 5000] [--hold 10]
//                        [--per-process 15000] [--per-source 20000] [--server-pids PID[,PID...]]
//                        [--connect-timeout 30] [--json FILE]
//
// Plain sockets and epoll, no Qt. The handshake is written by hand (RFC 6455 section 4.1: a
// random 16-byte Sec-WebSocket-Key in base64, from getrandom); every frame the client sends (a
// pong, the closing frame) is masked with a fresh key from getrandom, as section 5.3 requires.
//
// Processes. One process may hold at most RLIMIT_NOFILE descriptors (20,000 on the machines here,
// and not raisable without CAP_SYS_RESOURCE), so the tool forks ceil(N / --per-process) workers.
// Connection i goes to port i mod |ports|, from source address 127.0.0.(2 + i / --per-source),
// bound before connect with IP_BIND_ADDRESS_NO_PORT, so that N = 100,000 fits in the ephemeral
// port range of each source address. Only loopback addresses are ever used.
//
// Phases, each bounded in time:
//   connect  every worker opens its share at --rate / workers per second; a socket counts as
//            open once the server answered 101. A socket not open --connect-timeout seconds after
//            its connect() is a failure. The phase ends when every socket is open or failed.
//   hold     the parent waits until every worker is done connecting, then reads the servers'
//            /proc/PID/{stat,status} and tells the workers to start counting for --hold seconds:
//            frames per second, and for each tick (a server process' "server_time_ms") when the
//            first and the last of that server's sockets received it. Closes by the server and
//            pings are counted. At the end the parent reads /proc again.
//   close    every worker sends a masked close frame (1000) on each socket and closes it.
//
// Output: a summary on stdout, and with --json one JSON object (read by deploy/bench/live-sockets).
// Exit 0 when the run completed (whatever it measured), 2 on bad usage, 1 when it could not run.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace {

struct Options {
    std::vector<int> ports;
    long long sale = 0;
    int connections = 0;
    int rate = 5000;
    int hold = 10;
    int perProcess = 15000;
    int perSource = 20000;
    int connectTimeout = 30;
    std::vector<int> serverPids;
    std::string json;
};

int64_t nowNs() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

double cpuSeconds() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec)
           + double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

void randomBytes(void *out, size_t n) {
    auto *p = static_cast<unsigned char *>(out);
    while (n > 0) {
        const ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            std::perror("getrandom");
            std::_Exit(1);
        }
        p += got;
        n -= size_t(got);
    }
}

std::string base64(const unsigned char *in, size_t n) {
    static const char *k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    for (size_t i = 0; i < n; i += 3) {
        const uint32_t v = uint32_t(in[i]) << 16 | (i + 1 < n ? uint32_t(in[i + 1]) << 8 : 0)
                           | (i + 2 < n ? uint32_t(in[i + 2]) : 0);
        out += k[v >> 18 & 63];
        out += k[v >> 12 & 63];
        out += i + 1 < n ? k[v >> 6 & 63] : '=';
        out += i + 2 < n ? k[v & 63] : '=';
    }
    return out;
}

// A client frame (RFC 6455 5.2): FIN, the opcode, the mask bit, a fresh random masking key.
std::string maskedFrame(int opcode, std::string_view payload) {
    std::string f;
    f += char(0x80 | opcode);
    if (payload.size() < 126) {
        f += char(0x80 | payload.size());
    } else {
        f += char(0x80 | 126);
        f += char(payload.size() >> 8);
        f += char(payload.size() & 0xff);
    }
    unsigned char key[4];
    randomBytes(key, sizeof key);
    f.append(reinterpret_cast<const char *>(key), 4);
    for (size_t i = 0; i < payload.size(); ++i)
        f += char(payload[i] ^ key[i % 4]);
    return f;
}

// /proc/PID/stat: utime + stime in seconds; /proc/PID/status: VmRSS in KiB. -1 when unreadable.
double procCpuSeconds(int pid) {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = std::fopen(path, "r");
    if (!f)
        return -1;
    char buf[2048];
    const size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    buf[n] = 0;
    const char *p = std::strrchr(buf, ')'); // the command name may hold spaces
    if (!p)
        return -1;
    unsigned long long utime = 0, stime = 0;
    // Fields after ")": state(3) ... utime(14) stime(15).
    if (std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime)
        != 2)
        return -1;
    return double(utime + stime) / double(sysconf(_SC_CLK_TCK));
}

long procRssKiB(int pid) {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = std::fopen(path, "r");
    if (!f)
        return -1;
    char line[256];
    long kib = -1;
    while (std::fgets(line, sizeof line, f))
        if (std::sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    std::fclose(f);
    return kib;
}

// ---- a worker: its share of the sockets ---------------------------------------------------------

struct Conn {
    int fd = -1;
    int port = 0; // index in Options::ports
    enum State : uint8_t { Idle, Connecting, Handshaking, Open, Done } state = Idle;
    int64_t startedNs = 0;
    uint32_t ticksInHold = 0;
    std::string in; // bytes of an unfinished handshake answer or frame
};

struct TickSeen {
    int64_t firstNs = 0;
    int64_t lastNs = 0;
    int count = 0;
};

struct WorkerResult {
    int opened = 0, failed = 0, closedByServer = 0, pings = 0;
    int64_t connectNs = 0;
    double holdCpu = 0;
    uint32_t minTicksPerSocket = 0;
    std::map<std::pair<int, long long>, TickSeen> ticks; // (port index, server_time_ms)
    std::vector<long long> framesPerSecond;
    std::map<std::string, int> failures; // reason -> count
};

class Worker {
public:
    Worker(const Options &o, int first, int count, int up, int down)
        : m_o(o)
        , m_first(first)
        , m_up(up)
        , m_down(down)
        , m_conns(size_t(count)) {}

    int run();

private:
    void openOne(size_t i);
    void onEvent(size_t i, uint32_t events);
    void onBytes(Conn &c, const char *data, size_t n);
    bool onFrame(Conn &c, int opcode, std::string_view payload);
    void fail(Conn &c, const char *why);
    void finish(Conn &c);
    void report();

    const Options &m_o;
    int m_first, m_up, m_down;
    std::vector<Conn> m_conns;
    int m_ep = -1;
    int m_pending = 0; // connecting or handshaking
    bool m_holding = false;
    int64_t m_holdStartNs = 0;
    WorkerResult m_r;
};

void Worker::openOne(size_t i) {
    Conn &c = m_conns[i];
    const int global = m_first + int(i);
    c.port = global % int(m_o.ports.size());
    c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0)
        return fail(c, "socket");
    const int one = 1;
    ::setsockopt(c.fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = htonl((127u << 24) | uint32_t(2 + global / m_o.perSource));
    if (::bind(c.fd, reinterpret_cast<sockaddr *>(&src), sizeof src) != 0)
        return fail(c, "bind");
    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    dst.sin_port = htons(uint16_t(m_o.ports[size_t(c.port)]));
    dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c.startedNs = nowNs();
    c.state = Conn::Connecting;
    ++m_pending;
    if (::connect(c.fd, reinterpret_cast<sockaddr *>(&dst), sizeof dst) != 0
        && errno != EINPROGRESS)
        return fail(c, "connect");
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
    ev.data.u64 = i;
    if (::epoll_ctl(m_ep, EPOLL_CTL_ADD, c.fd, &ev) != 0)
        return fail(c, "epoll_ctl");
}

void Worker::fail(Conn &c, const char *why) {
    if (c.state == Conn::Connecting || c.state == Conn::Handshaking)
        --m_pending;
    if (c.state == Conn::Open)
        ++m_r.closedByServer;
    else
        ++m_r.failed, ++m_r.failures[why];
    if (c.fd >= 0)
        ::close(c.fd);
    c.fd = -1;
    c.state = Conn::Done;
    std::string().swap(c.in);
}

void Worker::onEvent(size_t i, uint32_t events) {
    Conn &c = m_conns[i];
    if (c.state == Conn::Connecting && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0)
            return fail(c, "connect-refused");
        unsigned char key[16];
        randomBytes(key, sizeof key);
        char req[512];
        const int n =
            std::snprintf(req, sizeof req,
                          "GET /api/v1/sales/%lld/live HTTP/1.1\r\n"
                          "Host: 127.0.0.1:%d\r\n"
                          "Upgrade: websocket\r\n"
                          "Connection: Upgrade\r\n"
                          "Sec-WebSocket-Key: %s\r\n"
                          "Sec-WebSocket-Version: 13\r\n\r\n",
                          m_o.sale, m_o.ports[size_t(c.port)], base64(key, sizeof key).c_str());
        if (::send(c.fd, req, size_t(n), MSG_NOSIGNAL) != n)
            return fail(c, "handshake-send");
        c.state = Conn::Handshaking;
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLRDHUP;
        ev.data.u64 = i;
        ::epoll_ctl(m_ep, EPOLL_CTL_MOD, c.fd, &ev);
        return;
    }
    if (events & EPOLLIN) {
        static char buf[1 << 16];
        for (;;) {
            const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
            if (n > 0) {
                onBytes(c, buf, size_t(n));
                if (c.state == Conn::Done)
                    return;
                if (size_t(n) < sizeof buf)
                    break;
                continue;
            }
            if (n == 0)
                return fail(c, c.state == Conn::Open ? "closed" : "closed-in-handshake");
            if (errno == EAGAIN || errno == EINTR)
                break;
            return fail(c, "recv");
        }
    }
    if (events & (EPOLLERR | EPOLLHUP | EPOLLRDHUP))
        fail(c, c.state == Conn::Open ? "closed" : "closed-in-handshake");
}

void Worker::onBytes(Conn &c, const char *data, size_t n) {
    c.in.append(data, n);
    if (c.state == Conn::Handshaking) {
        const size_t end = c.in.find("\r\n\r\n");
        if (end == std::string::npos) {
            if (c.in.size() > 8192)
                fail(c, "handshake-too-long");
            return;
        }
        if (c.in.compare(0, 12, "HTTP/1.1 101") != 0)
            return fail(c, "handshake-refused");
        c.in.erase(0, end + 4);
        c.state = Conn::Open;
        --m_pending;
        ++m_r.opened;
    }
    size_t pos = 0;
    while (c.state == Conn::Open) {
        const size_t avail = c.in.size() - pos;
        if (avail < 2)
            break;
        const auto *b = reinterpret_cast<const unsigned char *>(c.in.data() + pos);
        const int opcode = b[0] & 0x0f;
        uint64_t len = b[1] & 0x7f;
        size_t header = 2;
        if (b[1] & 0x80)
            return fail(c, "masked-server-frame");
        if (len == 126) {
            if (avail < 4)
                break;
            len = uint64_t(b[2]) << 8 | b[3];
            header = 4;
        } else if (len == 127) {
            if (avail < 10)
                break;
            len = 0;
            for (int k = 0; k < 8; ++k)
                len = len << 8 | b[2 + k];
            header = 10;
        }
        if (len > (1u << 20))
            return fail(c, "frame-too-large");
        if (avail < header + len)
            break;
        if (!onFrame(c, opcode, std::string_view(c.in.data() + pos + header, size_t(len))))
            return;
        pos += header + size_t(len);
    }
    c.in.erase(0, pos);
    if (c.in.capacity() > 4096 && c.in.empty())
        std::string().swap(c.in);
}

// Returns false when the socket is gone.
bool Worker::onFrame(Conn &c, int opcode, std::string_view payload) {
    if (opcode == 0x8) { // the server closes: answer, and count it
        const std::string f =
            maskedFrame(0x8, payload.substr(0, std::min<size_t>(2, payload.size())));
        ::send(c.fd, f.data(), f.size(), MSG_NOSIGNAL);
        fail(c, "closed");
        return false;
    }
    if (opcode == 0x9) {
        ++m_r.pings;
        const std::string f = maskedFrame(0xA, payload);
        ::send(c.fd, f.data(), f.size(), MSG_NOSIGNAL);
        return true;
    }
    if (opcode != 0x1 || !m_holding)
        return true;
    const int64_t t = nowNs();
    const int64_t sec = (t - m_holdStartNs) / 1000000000;
    if (sec < 0 || sec >= int64_t(m_r.framesPerSecond.size()))
        return true;
    ++m_r.framesPerSecond[size_t(sec)];
    static constexpr std::string_view kTick = "\"type\":\"tick\"";
    static constexpr std::string_view kTime = "\"server_time_ms\":";
    if (payload.find(kTick) == std::string_view::npos)
        return true;
    const size_t at = payload.find(kTime);
    if (at == std::string_view::npos)
        return true;
    const long long ms = std::strtoll(payload.data() + at + kTime.size(), nullptr, 10);
    TickSeen &s = m_r.ticks[{c.port, ms}];
    if (s.count++ == 0)
        s.firstNs = t;
    s.lastNs = t;
    ++c.ticksInHold;
    return true;
}

void Worker::finish(Conn &c) {
    if (c.state == Conn::Open) {
        const char code[2] = {char(1000 >> 8), char(1000 & 0xff)};
        const std::string f = maskedFrame(0x8, std::string_view(code, 2));
        ::send(c.fd, f.data(), f.size(), MSG_NOSIGNAL);
    }
    if (c.fd >= 0)
        ::close(c.fd);
    c.fd = -1;
}

void Worker::report() {
    std::string out;
    char line[256];
    std::snprintf(line, sizeof line, "W %d %d %d %d %" PRId64 " %.6f %u\n", m_r.opened, m_r.failed,
                  m_r.closedByServer, m_r.pings, m_r.connectNs, m_r.holdCpu, m_r.minTicksPerSocket);
    out += line;
    for (const auto &[why, n] : m_r.failures) {
        std::snprintf(line, sizeof line, "F %s %d\n", why.c_str(), n);
        out += line;
    }
    for (size_t s = 0; s < m_r.framesPerSecond.size(); ++s) {
        std::snprintf(line, sizeof line, "S %zu %lld\n", s, m_r.framesPerSecond[s]);
        out += line;
    }
    for (const auto &[key, s] : m_r.ticks) {
        std::snprintf(line, sizeof line, "T %d %lld %" PRId64 " %" PRId64 " %d\n", key.first,
                      key.second, s.firstNs, s.lastNs, s.count);
        out += line;
    }
    out += "E\n";
    size_t off = 0;
    while (off < out.size()) {
        const ssize_t n = ::write(m_up, out.data() + off, out.size() - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += size_t(n);
    }
}

int Worker::run() {
    rlimit rl{};
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    m_ep = ::epoll_create1(EPOLL_CLOEXEC);
    epoll_event dev{};
    dev.events = EPOLLIN;
    dev.data.u64 = UINT64_MAX;
    ::epoll_ctl(m_ep, EPOLL_CTL_ADD, m_down, &dev);

    const int workers = (m_o.connections + m_o.perProcess - 1) / m_o.perProcess;
    const double rate = double(m_o.rate) / workers;
    const int64_t t0 = nowNs();
    const int64_t timeoutNs = int64_t(m_o.connectTimeout) * 1000000000;
    size_t next = 0;
    bool toldReady = false;
    int64_t holdEndNs = 0;
    int64_t lastScanNs = t0;
    std::vector<epoll_event> evs(1024);
    for (;;) {
        const int64_t now = nowNs();
        // Connect at the bounded rate.
        const auto due =
            std::min<size_t>(m_conns.size(), size_t(double(now - t0) / 1e9 * rate) + 1);
        while (next < due)
            openOne(next++);
        // Sockets not open within the connect timeout are failures.
        if (m_pending > 0 && now - lastScanNs > 250000000) {
            lastScanNs = now;
            for (Conn &c : m_conns)
                if ((c.state == Conn::Connecting || c.state == Conn::Handshaking)
                    && now - c.startedNs > timeoutNs)
                    fail(c, "connect-timeout");
        }
        if (!toldReady && next == m_conns.size() && m_pending == 0) {
            m_r.connectNs = now - t0;
            toldReady = true;
            if (::write(m_up, "R\n", 2) != 2)
                return 1;
        }
        if (m_holding && now >= holdEndNs)
            break;
        const int wait = next < m_conns.size() ? 1 : 50;
        const int n = ::epoll_wait(m_ep, evs.data(), int(evs.size()), wait);
        for (int k = 0; k < n; ++k) {
            if (evs[size_t(k)].data.u64 == UINT64_MAX) {
                char go[64] = {};
                const ssize_t got = ::read(m_down, go, sizeof go - 1);
                if (got <= 0)
                    return 1; // the parent is gone
                m_holdStartNs = std::strtoll(go, nullptr, 10);
                holdEndNs = m_holdStartNs + int64_t(m_o.hold) * 1000000000;
                m_r.framesPerSecond.assign(size_t(m_o.hold), 0);
                m_r.holdCpu = cpuSeconds();
                m_holding = true;
                continue;
            }
            onEvent(size_t(evs[size_t(k)].data.u64), evs[size_t(k)].events);
        }
    }
    m_r.holdCpu = cpuSeconds() - m_r.holdCpu;
    m_r.minTicksPerSocket = UINT32_MAX;
    for (const Conn &c : m_conns)
        m_r.minTicksPerSocket =
            std::min(m_r.minTicksPerSocket, c.state == Conn::Open ? c.ticksInHold : 0u);
    if (m_conns.empty())
        m_r.minTicksPerSocket = 0;
    report();
    for (Conn &c : m_conns)
        finish(c);
    return 0;
}

// ---- the parent
// ----------------------------------------------------------------------------------

bool parseList(const char *s, std::vector<int> &out) {
    out.clear();
    std::string v(s);
    size_t at = 0;
    while (at <= v.size()) {
        const size_t comma = std::min(v.find(',', at), v.size());
        const std::string item = v.substr(at, comma - at);
        char *end = nullptr;
        const long n = std::strtol(item.c_str(), &end, 10);
        if (item.empty() || *end != 0 || n <= 0 || n > 4194304)
            return false;
        out.push_back(int(n));
        at = comma + 1;
    }
    return !out.empty();
}

int usage(const char *why) {
    std::fprintf(stderr,
                 "flashsale-live-bench: %s\n"
                 "usage: flashsale-live-bench --ports P[,P...] --sale ID --connections N "
                 "[--rate 5000] [--hold 10]\n"
                 "       [--per-process 15000] [--per-source 20000] [--server-pids PID[,PID...]] "
                 "[--connect-timeout 30] [--json FILE]\n",
                 why);
    return 2;
}

double percentile(std::vector<double> v, double p) {
    if (v.empty())
        return 0;
    std::sort(v.begin(), v.end());
    const size_t i = std::min(v.size() - 1, size_t(p * double(v.size() - 1) + 0.5));
    return v[i];
}

} // namespace

int main(int argc, char **argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "-h" || a == "--help")
            return usage("holds N buyer live sockets and measures their cost"), 0;
        if (i + 1 >= argc)
            return usage(("missing value for " + a).c_str());
        const char *v = argv[++i];
        auto num = [&](int &out, int lo, int hi) {
            char *end = nullptr;
            const long n = std::strtol(v, &end, 10);
            if (*end != 0 || n < lo || n > hi)
                return false;
            out = int(n);
            return true;
        };
        bool ok = true;
        if (a == "--ports")
            ok = parseList(v, o.ports)
                 && std::all_of(o.ports.begin(), o.ports.end(), [](int p) { return p < 65536; });
        else if (a == "--sale")
            ok = (o.sale = std::strtoll(v, nullptr, 10)) > 0;
        else if (a == "--connections")
            ok = num(o.connections, 1, 1000000);
        else if (a == "--rate")
            ok = num(o.rate, 1, 100000);
        else if (a == "--hold")
            ok = num(o.hold, 1, 3600);
        else if (a == "--per-process")
            ok = num(o.perProcess, 1, 1000000);
        else if (a == "--per-source")
            ok = num(o.perSource, 1, 28000);
        else if (a == "--connect-timeout")
            ok = num(o.connectTimeout, 1, 600);
        else if (a == "--server-pids")
            ok = parseList(v, o.serverPids);
        else if (a == "--json")
            o.json = v;
        else
            return usage(("unknown option " + a).c_str());
        if (!ok)
            return usage(("bad value for " + a).c_str());
    }
    if (o.ports.empty() || o.sale <= 0 || o.connections <= 0)
        return usage("--ports, --sale and --connections are required");
    if (2 + (o.connections - 1) / o.perSource > 254)
        return usage("more sources than 127.0.0.2..127.0.0.255: raise --per-source");
    rlimit rl{};
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rlim_t(o.perProcess) + 64 > rl.rlim_max)
        return usage("--per-process is above this process' RLIMIT_NOFILE hard limit");

    const int workers = (o.connections + o.perProcess - 1) / o.perProcess;
    // A bound on the whole run, whatever happens: connecting, the timeout, holding, reporting.
    const int64_t deadlineNs =
        nowNs() + (int64_t(o.connections / o.rate) + o.connectTimeout + o.hold + 60) * 1000000000;
    const double cpu0 = cpuSeconds();
    std::vector<pid_t> pids;
    std::vector<int> ups, downs;
    for (int w = 0; w < workers; ++w) {
        int up[2], down[2];
        if (::pipe2(up, O_CLOEXEC) != 0 || ::pipe2(down, O_CLOEXEC) != 0)
            return std::perror("pipe"), 1;
        const int first = w * (o.connections / workers) + std::min(w, o.connections % workers);
        const int count = o.connections / workers + (w < o.connections % workers ? 1 : 0);
        const pid_t pid = ::fork();
        if (pid < 0)
            return std::perror("fork"), 1;
        if (pid == 0) {
            ::close(up[0]);
            ::close(down[1]);
            for (int fd : ups)
                ::close(fd);
            for (int fd : downs)
                ::close(fd);
            ::alarm(unsigned((deadlineNs - nowNs()) / 1000000000 + 5)); // a last bound
            std::_Exit(Worker(o, first, count, up[1], down[0]).run());
        }
        ::close(up[1]);
        ::close(down[0]);
        pids.push_back(pid);
        ups.push_back(up[0]);
        downs.push_back(down[1]);
    }
    auto killAll = [&] {
        for (pid_t p : pids)
            ::kill(p, SIGKILL);
        for (pid_t p : pids)
            ::waitpid(p, nullptr, 0);
    };

    std::vector<long> rssBefore, rssHold;
    std::vector<double> cpuHold0, cpuHold1;
    for (int pid : o.serverPids)
        rssBefore.push_back(procRssKiB(pid));

    // Wait for every worker to be done connecting ("R"), then start the hold together.
    std::vector<std::string> bufs(static_cast<size_t>(workers));
    auto readUntil = [&](const std::string &marker) {
        std::vector<bool> done(size_t(workers), false);
        int left = workers;
        while (left > 0) {
            std::vector<pollfd> pf;
            for (int w = 0; w < workers; ++w)
                if (!done[size_t(w)])
                    pf.push_back({ups[size_t(w)], POLLIN, 0});
            const int64_t ms = (deadlineNs - nowNs()) / 1000000;
            if (ms <= 0 || ::poll(pf.data(), pf.size(), int(std::min<int64_t>(ms, 1000))) < 0)
                return false;
            for (const pollfd &p : pf) {
                if (!(p.revents & (POLLIN | POLLHUP)))
                    continue;
                const size_t w = size_t(std::find(ups.begin(), ups.end(), p.fd) - ups.begin());
                char buf[65536];
                const ssize_t n = ::read(p.fd, buf, sizeof buf);
                if (n <= 0)
                    return false;
                bufs[w].append(buf, size_t(n));
                if (bufs[w].find(marker) != std::string::npos) {
                    done[w] = true;
                    --left;
                }
            }
        }
        return true;
    };
    if (!readUntil("R\n")) {
        std::fprintf(stderr,
                     "flashsale-live-bench: a worker failed or the connect phase timed out\n");
        killAll();
        return 1;
    }
    for (int pid : o.serverPids)
        cpuHold0.push_back(procCpuSeconds(pid));
    const int64_t holdStart = nowNs();
    const std::string go = std::to_string(holdStart) + "\n";
    for (int fd : downs)
        if (::write(fd, go.data(), go.size()) != ssize_t(go.size()))
            return killAll(), 1;
    // The servers' RSS is read in the middle of the hold, their CPU over the whole window.
    ::usleep(useconds_t(o.hold) * 500000);
    for (int pid : o.serverPids)
        rssHold.push_back(procRssKiB(pid));
    const int64_t holdEnd = holdStart + int64_t(o.hold) * 1000000000;
    while (nowNs() < holdEnd)
        ::usleep(10000);
    for (int pid : o.serverPids)
        cpuHold1.push_back(procCpuSeconds(pid));
    if (!readUntil("E\n")) {
        std::fprintf(stderr, "flashsale-live-bench: a worker did not report\n");
        killAll();
        return 1;
    }
    for (pid_t p : pids)
        ::waitpid(p, nullptr, 0);

    // Merge the workers' reports.
    long long opened = 0, failed = 0, closed = 0, pings = 0;
    int64_t connectNs = 0;
    double clientHoldCpu = 0;
    unsigned minTicks = UINT32_MAX;
    std::map<std::string, long long> failures;
    std::vector<long long> fps(size_t(o.hold), 0);
    std::map<std::pair<int, long long>, TickSeen> ticks;
    for (const std::string &b : bufs) {
        size_t at = b.find("R\n") + 2;
        while (at < b.size()) {
            const size_t eol = b.find('\n', at);
            const std::string line = b.substr(at, eol - at);
            at = eol + 1;
            int a1, a2, a3, a4;
            long long ll, ll2;
            int64_t i1, i2;
            double d;
            unsigned u;
            char word[64];
            if (std::sscanf(line.c_str(), "W %d %d %d %d %" SCNd64 " %lf %u", &a1, &a2, &a3, &a4,
                            &i1, &d, &u)
                == 7) {
                opened += a1, failed += a2, closed += a3, pings += a4;
                connectNs = std::max(connectNs, i1);
                clientHoldCpu += d;
                minTicks = std::min(minTicks, u);
            } else if (std::sscanf(line.c_str(), "F %63s %lld", word, &ll) == 2) {
                failures[word] += ll;
            } else if (std::sscanf(line.c_str(), "S %d %lld", &a1, &ll) == 2) {
                if (a1 >= 0 && size_t(a1) < fps.size())
                    fps[size_t(a1)] += ll;
            } else if (std::sscanf(line.c_str(), "T %d %lld %" SCNd64 " %" SCNd64 " %d", &a1, &ll2,
                                   &i1, &i2, &a2)
                       == 5) {
                TickSeen &s = ticks[{a1, ll2}];
                s.firstNs = s.count == 0 ? i1 : std::min(s.firstNs, i1);
                s.lastNs = std::max(s.lastNs, i2);
                s.count += a2;
            }
        }
    }
    // A tick counts for the spread when every socket of its server received it inside the hold.
    std::vector<long long> perPort(o.ports.size(), 0);
    for (int i = 0; i < o.connections; ++i)
        ++perPort[size_t(i) % o.ports.size()];
    std::vector<double> spreads;
    long long partialTicks = 0;
    for (const auto &[key, s] : ticks) {
        if (s.count == perPort[size_t(key.first)])
            spreads.push_back(double(s.lastNs - s.firstNs) / 1e6);
        else
            ++partialTicks;
    }
    std::vector<double> fpsSorted(fps.begin(), fps.end());
    const double fpsMedian = percentile(fpsSorted, 0.5);
    double serverCpu = 0;
    long rssDeltaKiB = 0, rssHoldKiB = 0;
    for (size_t k = 0; k < o.serverPids.size(); ++k) {
        serverCpu += cpuHold1[k] - cpuHold0[k];
        rssDeltaKiB += rssHold[k] - rssBefore[k];
        rssHoldKiB += rssHold[k];
    }
    const double serverCpuPerSec = serverCpu / o.hold;
    const double clientCpuPerSec = clientHoldCpu / o.hold;
    rusage children{};
    getrusage(RUSAGE_CHILDREN, &children);
    const double clientTotalCpu =
        double(children.ru_utime.tv_sec + children.ru_stime.tv_sec)
        + double(children.ru_utime.tv_usec + children.ru_stime.tv_usec) / 1e6 + cpuSeconds() - cpu0;
    if (minTicks == UINT32_MAX)
        minTicks = 0;

    std::string failText;
    for (const auto &[why, n] : failures)
        failText += (failText.empty() ? "" : ",") + why + "=" + std::to_string(n);
    std::printf("connections %d (workers %d, ports %zu): opened %lld, failed %lld%s%s%s, "
                "closed by server %lld, pings %lld\n",
                o.connections, workers, o.ports.size(), opened, failed,
                failText.empty() ? "" : " (", failText.c_str(), failText.empty() ? "" : ")", closed,
                pings);
    std::printf("connect phase %.2f s (%.0f/s)\n", double(connectNs) / 1e9,
                double(opened) / (double(connectNs) / 1e9));
    std::printf("hold %d s: frames/s median %.0f; ticks complete %zu, partial %lld; spread p50 "
                "%.1f ms, p99 %.1f ms; fewest ticks on one socket %u\n",
                o.hold, fpsMedian, spreads.size(), partialTicks, percentile(spreads, 0.5),
                percentile(spreads, 0.99), minTicks);
    if (!o.serverPids.empty())
        std::printf(
            "server: RSS %ld KiB -> %ld KiB (%.2f KiB/socket), CPU %.3f s/s while holding\n",
            rssHoldKiB - rssDeltaKiB, rssHoldKiB,
            opened ? double(rssDeltaKiB) / double(opened) : 0.0, serverCpuPerSec);
    std::printf("client: CPU %.3f s/s while holding, %.2f s in all\n", clientCpuPerSec,
                clientTotalCpu);
    if (!o.json.empty()) {
        FILE *f = std::fopen(o.json.c_str(), "w");
        if (!f)
            return std::perror(o.json.c_str()), 1;
        std::fprintf(
            f,
            "{\"connections\":%d,\"workers\":%d,\"ports\":%zu,\"opened\":%lld,\"failed\":%lld,"
            "\"closed_by_server\":%lld,\"pings\":%lld,\"connect_s\":%.3f,\"hold_s\":%d,"
            "\"frames_per_s_median\":%.0f,\"ticks_complete\":%zu,\"ticks_partial\":%lld,"
            "\"spread_p50_ms\":%.2f,\"spread_p99_ms\":%.2f,\"min_ticks_per_socket\":%u,"
            "\"server_rss_before_kib\":%ld,\"server_rss_hold_kib\":%ld,"
            "\"server_rss_per_socket_kib\":%.3f,\"server_cpu_per_s\":%.4f,"
            "\"client_cpu_per_s\":%.4f,\"client_cpu_total_s\":%.2f,\"failures\":\"%s\"}\n",
            o.connections, workers, o.ports.size(), opened, failed, closed, pings,
            double(connectNs) / 1e9, o.hold, fpsMedian, spreads.size(), partialTicks,
            percentile(spreads, 0.5), percentile(spreads, 0.99), minTicks, rssHoldKiB - rssDeltaKiB,
            rssHoldKiB, opened ? double(rssDeltaKiB) / double(opened) : 0.0, serverCpuPerSec,
            clientCpuPerSec, clientTotalCpu, failText.c_str());
        std::fclose(f);
    }
    return 0;
}
