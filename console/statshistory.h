#pragma once

#include <QHash>
#include <QJsonObject>
#include <QList>
#include <QObject>
#include <QPointF>
#include <QStringList>

namespace flashsale::console {

// The last five minutes of one sale's "stats" events, as time series for the dashboard's
// charts: accepted and rejected (per reason) requests per second, latency p50 and p99, and
// the remaining stock. Points are (server time in ms since the epoch, value). Kept apart from
// the widgets so that tests can read it. GUI thread only.
class StatsHistory final : public QObject {
    Q_OBJECT
public:
    static constexpr qint64 kWindowMs = 5 * 60 * 1000;

    struct Sample {
        qint64 atMs = 0;
        double accepted = 0;
        QHash<QString, double> rejected; // per second, by reason
        double p50 = -1;                 // -1: no requests in the latency window
        double p99 = -1;
        qint64 stock = 0;
        qint64 remaining = -1; // -1: not in Redis
    };

    explicit StatsHistory(QObject *parent = nullptr);

    // Forgets everything and follows `saleId` (0: none).
    void reset(qint64 saleId);
    qint64 saleId() const { return m_saleId; }

    // Adds a stats event of the followed sale and drops what is older than the window.
    // Returns false (and changes nothing) for another sale's event.
    bool add(const QJsonObject &stats);

    const QList<Sample> &samples() const { return m_samples; }
    QJsonObject latest() const { return m_latest; }
    // Rejection reasons seen since reset(), in the order they first appeared.
    QStringList reasons() const { return m_reasons; }

    QList<QPointF> acceptedSeries() const;
    QList<QPointF> rejectedSeries(const QString &reason) const;
    QList<QPointF> p50Series() const;
    QList<QPointF> p99Series() const;
    QList<QPointF> remainingSeries() const;
    double maxRate() const;    // the largest accepted or rejected rate in the window
    double maxLatency() const; // the largest p99 in the window

Q_SIGNALS:
    void changed();
    void cleared();

private:
    qint64 m_saleId = 0;
    QList<Sample> m_samples;
    QStringList m_reasons;
    QJsonObject m_latest;
};

} // namespace flashsale::console
