#include "metrics.h"

#include <algorithm>
#include <cmath>

namespace flashsale {

Histogram::Histogram(std::vector<double> bounds)
    : m_bounds(std::move(bounds))
    , m_buckets(new std::atomic<quint64>[m_bounds.size() + 1]) {
    for (size_t i = 0; i <= m_bounds.size(); ++i)
        m_buckets[i].store(0);
}

void Histogram::observe(double v) {
    const auto it = std::lower_bound(m_bounds.begin(), m_bounds.end(), v);
    m_buckets[size_t(it - m_bounds.begin())].fetch_add(1, std::memory_order_relaxed);
    m_count.fetch_add(1, std::memory_order_relaxed);
    m_sumMicros.fetch_add(quint64(std::llround(std::max(0.0, v) * 1e6)), std::memory_order_relaxed);
}

Metrics &Metrics::instance() {
    static Metrics m;
    return m;
}

std::vector<double> Metrics::latencyBounds() {
    return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
            0.025,  0.05,    0.1,    0.25,  0.5,    1.0,   2.5};
}

Metrics::Family &Metrics::family(const QByteArray &name, Kind kind, const QByteArray &help) {
    auto it = m_families.find(name);
    if (it == m_families.end())
        it = m_families.emplace(name, Family{kind, help, {}, {}, {}}).first;
    return it->second;
}

Counter &Metrics::counter(const QByteArray &name, const QByteArray &help,
                          const QByteArray &labels) {
    std::lock_guard lock(m_lock);
    auto &slot = family(name, Kind::Counter, help).counters[labels];
    if (!slot)
        slot = std::make_unique<Counter>();
    return *slot;
}

Gauge &Metrics::gauge(const QByteArray &name, const QByteArray &help, const QByteArray &labels) {
    std::lock_guard lock(m_lock);
    auto &slot = family(name, Kind::Gauge, help).gauges[labels];
    if (!slot)
        slot = std::make_unique<Gauge>();
    return *slot;
}

Histogram &Metrics::histogram(const QByteArray &name, const QByteArray &help,
                              const QByteArray &labels, std::vector<double> bounds) {
    std::lock_guard lock(m_lock);
    auto &slot = family(name, Kind::Histogram, help).histograms[labels];
    if (!slot)
        slot = std::make_unique<Histogram>(std::move(bounds));
    return *slot;
}

namespace {

QByteArray series(const QByteArray &name, const QByteArray &labels, const QByteArray &extra = {}) {
    QByteArray l = labels;
    if (!extra.isEmpty())
        l = l.isEmpty() ? extra : l + ',' + extra;
    return l.isEmpty() ? name : name + '{' + l + '}';
}

QByteArray number(double v) {
    if (std::isinf(v))
        return v > 0 ? "+Inf" : "-Inf";
    return QByteArray::number(v, 'g', 10);
}

} // namespace

void Metrics::addCollector(std::function<QByteArray()> render) {
    std::lock_guard lock(m_lock);
    m_collectors.push_back(std::move(render));
}

QByteArray Metrics::render() const {
    std::lock_guard lock(m_lock);
    QByteArray out;
    out.reserve(8192);
    for (const auto &[name, f] : m_families) {
        static const char *types[] = {"counter", "gauge", "histogram"};
        out += "# HELP " + name + ' ' + f.help + '\n';
        out += "# TYPE " + name + ' ' + types[int(f.kind)] + '\n';
        for (const auto &[labels, c] : f.counters)
            out += series(name, labels) + ' ' + QByteArray::number(c->value()) + '\n';
        for (const auto &[labels, g] : f.gauges)
            out += series(name, labels) + ' ' + QByteArray::number(g->value()) + '\n';
        for (const auto &[labels, h] : f.histograms) {
            quint64 cumulative = 0;
            for (size_t i = 0; i < h->bounds().size(); ++i) {
                cumulative += h->bucket(i);
                out += series(name + "_bucket", labels, "le=\"" + number(h->bounds()[i]) + '"')
                       + ' ' + QByteArray::number(cumulative) + '\n';
            }
            cumulative += h->bucket(h->bounds().size());
            out += series(name + "_bucket", labels, "le=\"+Inf\"") + ' '
                   + QByteArray::number(cumulative) + '\n';
            out += series(name + "_sum", labels) + ' ' + number(h->sum()) + '\n';
            out += series(name + "_count", labels) + ' ' + QByteArray::number(cumulative) + '\n';
        }
    }
    for (const auto &collect : m_collectors)
        out += collect();
    return out;
}

QByteArray labelValue(const QByteArray &v) {
    QByteArray out;
    out.reserve(v.size());
    for (char c : v) {
        if (c == '\\' || c == '"')
            out += '\\';
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out += c;
    }
    return out;
}

} // namespace flashsale
