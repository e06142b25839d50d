#include "statshistory.h"

namespace flashsale::console {

StatsHistory::StatsHistory(QObject *parent)
    : QObject(parent) {}

void StatsHistory::reset(qint64 saleId) {
    m_saleId = saleId;
    m_samples.clear();
    m_reasons.clear();
    m_latest = {};
    Q_EMIT cleared();
}

bool StatsHistory::add(const QJsonObject &stats) {
    if (m_saleId == 0 || stats.value(QStringLiteral("sale_id")).toInteger() != m_saleId)
        return false;
    Sample s;
    s.atMs = qint64(stats.value(QStringLiteral("at_ms")).toDouble());
    const QJsonObject requests = stats.value(QStringLiteral("requests")).toObject();
    s.accepted = requests.value(QStringLiteral("accepted_per_s")).toDouble();
    const QJsonObject rejected = requests.value(QStringLiteral("rejected_per_s")).toObject();
    for (auto it = rejected.constBegin(); it != rejected.constEnd(); ++it) {
        s.rejected.insert(it.key(), it.value().toDouble());
        if (!m_reasons.contains(it.key()))
            m_reasons << it.key();
    }
    const QJsonObject latency = stats.value(QStringLiteral("latency_ms")).toObject();
    if (latency.value(QStringLiteral("count")).toDouble() > 0) {
        s.p50 = latency.value(QStringLiteral("p50")).toDouble(-1);
        s.p99 = latency.value(QStringLiteral("p99")).toDouble(-1);
    }
    s.stock = stats.value(QStringLiteral("stock")).toInteger();
    s.remaining = stats.value(QStringLiteral("remaining")).toInteger(-1);
    // Out of order (a resubscription after a reconnect): keep the series sorted by time.
    if (!m_samples.isEmpty() && s.atMs <= m_samples.last().atMs)
        m_samples.removeIf([&s](const Sample &o) { return o.atMs >= s.atMs; });
    m_samples.append(s);
    const qint64 oldest = s.atMs - kWindowMs;
    while (!m_samples.isEmpty() && m_samples.first().atMs < oldest)
        m_samples.removeFirst();
    m_latest = stats;
    Q_EMIT changed();
    return true;
}

QList<QPointF> StatsHistory::acceptedSeries() const {
    QList<QPointF> out;
    out.reserve(m_samples.size());
    for (const Sample &s : m_samples)
        out.append(QPointF(double(s.atMs), s.accepted));
    return out;
}

QList<QPointF> StatsHistory::rejectedSeries(const QString &reason) const {
    QList<QPointF> out;
    out.reserve(m_samples.size());
    for (const Sample &s : m_samples)
        out.append(QPointF(double(s.atMs), s.rejected.value(reason, 0)));
    return out;
}

QList<QPointF> StatsHistory::p50Series() const {
    QList<QPointF> out;
    for (const Sample &s : m_samples)
        if (s.p50 >= 0)
            out.append(QPointF(double(s.atMs), s.p50));
    return out;
}

QList<QPointF> StatsHistory::p99Series() const {
    QList<QPointF> out;
    for (const Sample &s : m_samples)
        if (s.p99 >= 0)
            out.append(QPointF(double(s.atMs), s.p99));
    return out;
}

QList<QPointF> StatsHistory::remainingSeries() const {
    QList<QPointF> out;
    for (const Sample &s : m_samples)
        if (s.remaining >= 0)
            out.append(QPointF(double(s.atMs), double(s.remaining)));
    return out;
}

double StatsHistory::maxRate() const {
    double m = 0;
    for (const Sample &s : m_samples) {
        m = qMax(m, s.accepted);
        for (double r : s.rejected)
            m = qMax(m, r);
    }
    return m;
}

double StatsHistory::maxLatency() const {
    double m = 0;
    for (const Sample &s : m_samples)
        m = qMax(m, s.p99);
    return m;
}

} // namespace flashsale::console
