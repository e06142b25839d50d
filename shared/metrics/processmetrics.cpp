#include "processmetrics.h"

#include <QFile>
#include <QList>

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

namespace flashsale {

namespace {

QByteArray readFile(const char *path) {
    QFile f(QString::fromLatin1(path));
    // /proc files report size 0: read until the end, not size() bytes.
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

QByteArray family(const char *name, const char *type, const char *help, const QByteArray &value) {
    return QByteArray("# HELP ") + name + ' ' + help + "\n# TYPE " + name + ' ' + type + '\n' + name
           + ' ' + value + '\n';
}

QByteArray number(double v) {
    return QByteArray::number(v, 'f', 3);
}

// Seconds since the epoch at which the machine booted (/proc/stat "btime").
qint64 bootTime() {
    for (const QByteArray &line : readFile("/proc/stat").split('\n'))
        if (line.startsWith("btime "))
            return line.mid(6).trimmed().toLongLong();
    return -1;
}

} // namespace

QByteArray renderProcessMetrics() {
    QByteArray out;
    // /proc/self/stat: "pid (comm) state ppid ...": fields counted after the comm's last ')'
    // (the comm may hold spaces and parentheses). Field 14 is utime, 15 stime (clock ticks),
    // 22 starttime (ticks after boot), 23 vsize (bytes), 24 rss (pages).
    const QByteArray stat = readFile("/proc/self/stat");
    const qsizetype close = stat.lastIndexOf(')');
    const long ticks = ::sysconf(_SC_CLK_TCK);
    const long page = ::sysconf(_SC_PAGESIZE);
    if (close > 0 && ticks > 0 && page > 0) {
        const QList<QByteArray> f = stat.mid(close + 2).trimmed().split(' ');
        // f[0] is field 3 (state).
        auto field = [&f](int n) { return n - 3 < f.size() ? f[n - 3].toULongLong() : 0ULL; };
        if (f.size() >= 22) {
            out += family("process_cpu_seconds_total", "counter",
                          "Total user and system CPU time spent in seconds.",
                          number(double(field(14) + field(15)) / double(ticks)));
            out += family("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
                          QByteArray::number(field(23)));
            out +=
                family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
                       QByteArray::number(field(24) * quint64(page)));
            const qint64 boot = bootTime();
            if (boot > 0)
                out += family("process_start_time_seconds", "gauge",
                              "Start time of the process since unix epoch in seconds.",
                              number(double(boot) + double(field(22)) / double(ticks)));
        }
    }
    // Every entry of /proc/self/fd but "." and ".." (the one this listing opens counts, as in
    // the client libraries).
    if (DIR *d = ::opendir("/proc/self/fd")) {
        qint64 n = 0;
        while (const dirent *e = ::readdir(d))
            if (e->d_name[0] != '.')
                ++n;
        ::closedir(d);
        out += family("process_open_fds", "gauge", "Number of open file descriptors.",
                      QByteArray::number(n));
    }
    struct rlimit rl {};
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0)
        out += family("process_max_fds", "gauge", "Maximum number of open file descriptors.",
                      rl.rlim_cur == RLIM_INFINITY ? QByteArray("+Inf")
                                                   : QByteArray::number(quint64(rl.rlim_cur)));
    return out;
}

} // namespace flashsale
