#pragma once

#include <QByteArray>
#include <QList>
#include <QString>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

namespace flashsale {

// A monotonically increasing count. Lock-free; any thread may call inc().
class Counter {
public:
    void inc(quint64 n = 1) { m_value.fetch_add(n, std::memory_order_relaxed); }
    quint64 value() const { return m_value.load(std::memory_order_relaxed); }

private:
    std::atomic<quint64> m_value{0};
};

// A set-to-value number. Lock-free; any thread may call set()/add().
class Gauge {
public:
    void set(qint64 v) { m_value.store(v, std::memory_order_relaxed); }
    void add(qint64 d) { m_value.fetch_add(d, std::memory_order_relaxed); }
    qint64 value() const { return m_value.load(std::memory_order_relaxed); }

private:
    std::atomic<qint64> m_value{0};
};

// A Prometheus histogram with fixed upper bounds (seconds). Lock-free observe().
class Histogram {
public:
    explicit Histogram(std::vector<double> bounds);
    void observe(double v);
    const std::vector<double> &bounds() const { return m_bounds; }
    quint64 bucket(size_t i) const { return m_buckets[i].load(std::memory_order_relaxed); }
    quint64 count() const { return m_count.load(std::memory_order_relaxed); }
    double sum() const { return double(m_sumMicros.load(std::memory_order_relaxed)) / 1e6; }

private:
    std::vector<double> m_bounds;
    std::unique_ptr<std::atomic<quint64>[]> m_buckets; // non-cumulative, one per bound + Inf
    std::atomic<quint64> m_count{0};
    std::atomic<quint64> m_sumMicros{0};
};

// The process-wide registry behind GET /metrics. Lookups take a mutex; the metric objects they
// return live as long as the registry and are updated lock-free, so hot paths look up once and
// keep the reference. Label sets are given pre-rendered: `route="/x",code="202"`.
class Metrics {
public:
    static Metrics &instance();

    Counter &counter(const QByteArray &name, const QByteArray &help, const QByteArray &labels = {});
    Gauge &gauge(const QByteArray &name, const QByteArray &help, const QByteArray &labels = {});
    Histogram &histogram(const QByteArray &name, const QByteArray &help,
                         const QByteArray &labels = {},
                         std::vector<double> bounds = latencyBounds());

    // Families rendered at scrape time by `render` (e.g. the process_* metrics), appended after
    // the registry's. `render` must be thread-safe and return whole families.
    void addCollector(std::function<QByteArray()> render);

    // Prometheus text exposition format 0.0.4.
    QByteArray render() const;

    static std::vector<double> latencyBounds();

private:
    enum class Kind { Counter, Gauge, Histogram };
    struct Family {
        Kind kind;
        QByteArray help;
        std::map<QByteArray, std::unique_ptr<Counter>> counters;
        std::map<QByteArray, std::unique_ptr<Gauge>> gauges;
        std::map<QByteArray, std::unique_ptr<Histogram>> histograms;
    };
    Family &family(const QByteArray &name, Kind kind, const QByteArray &help);

    mutable std::mutex m_lock;
    std::map<QByteArray, Family> m_families;
    std::vector<std::function<QByteArray()>> m_collectors;
};

// Escapes a label value for the exposition format.
QByteArray labelValue(const QByteArray &v);

} // namespace flashsale
