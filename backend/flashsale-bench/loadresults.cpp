#include "loadresults.h"

#include <QStringList>

#include <algorithm>

namespace flashsale::bench {

namespace {

double ms(double us) {
    // Three decimals: the histogram is good to 0.05%, so µs resolution is all there is.
    return double(qRound64(us)) / 1000.0;
}

} // namespace

void LoadResults::merge(const LoadResults &o) {
    latency.merge(o.latency);
    for (auto it = o.byStatus.begin(); it != o.byStatus.end(); ++it)
        byStatus[it.key()] += it.value();
    for (auto it = o.byType.begin(); it != o.byType.end(); ++it)
        byType[it.key()] += it.value();
    requests += o.requests;
    retries += o.retries;
    replays += o.replays;
    unknown += o.unknown;
    accepted += o.accepted;
    confirmed += o.confirmed;
    behindMaxUs = std::max(behindMaxUs, o.behindMaxUs);
    behindCount += o.behindCount;
    if (o.firstSendUs != 0)
        firstSendUs = firstSendUs == 0 ? o.firstSendUs : std::min(firstSendUs, o.firstSendUs);
    lastDoneUs = std::max(lastDoneUs, o.lastDoneUs);
    usersStarted += o.usersStarted;
    bots += o.bots;
    arrivalsMissed += o.arrivalsMissed;
    acceptedLines += o.acceptedLines;
    unknownLines += o.unknownLines;
    confirmedLines += o.confirmedLines;
}

double LoadResults::seconds() const {
    if (firstSendUs == 0 || lastDoneUs <= firstSendUs)
        return 0.0;
    return double(lastDoneUs - firstSendUs) / 1e6;
}

QJsonObject LoadResults::byStatusJson(const QHash<int, qint64> &byStatus) {
    QJsonObject o;
    for (auto it = byStatus.begin(); it != byStatus.end(); ++it)
        o.insert(QString::number(it.key()), it.value());
    return o;
}

QJsonObject LoadResults::report() const {
    const double s = seconds();
    QJsonObject types;
    for (auto it = byType.begin(); it != byType.end(); ++it)
        types.insert(QString::fromUtf8(it.key()), it.value());
    return QJsonObject{
        {"requests", requests},
        {"seconds", double(qRound64(s * 1000.0)) / 1000.0},
        {"rps", s > 0 ? double(qRound64(double(requests) / s * 10.0)) / 10.0 : 0.0},
        {"latency_ms", QJsonObject{{"p50", ms(latency.quantile(0.5))},
                                   {"p90", ms(latency.quantile(0.9))},
                                   {"p99", ms(latency.quantile(0.99))},
                                   {"p999", ms(latency.quantile(0.999))},
                                   {"max", ms(double(latency.max()))},
                                   {"mean", ms(latency.mean())}}},
        {"by_status", byStatusJson(byStatus)},
        {"by_type", types},
        {"unknown", unknown},
        {"retries", retries},
        {"replays", replays},
        {"accepted", accepted},
        {"confirmed", confirmed},
        {"users", usersStarted},
        {"bots", bots},
        {"behind_ms_max", ms(double(behindMaxUs))},
        {"behind_requests", behindCount},
        {"arrivals_missed", arrivalsMissed},
    };
}

QString LoadResults::summary() const {
    const double s = seconds();
    QStringList lines;
    lines << QStringLiteral("requests  %1 in %2 s = %3 req/s  (%4 users, %5 bots)")
                 .arg(requests)
                 .arg(s, 0, 'f', 3)
                 .arg(s > 0 ? double(requests) / s : 0.0, 0, 'f', 0)
                 .arg(usersStarted)
                 .arg(bots);
    lines << QStringLiteral("latency   p50 %1  p90 %2  p99 %3  p99.9 %4  max %5 ms  (%6 answers)")
                 .arg(ms(latency.quantile(0.5)))
                 .arg(ms(latency.quantile(0.9)))
                 .arg(ms(latency.quantile(0.99)))
                 .arg(ms(latency.quantile(0.999)))
                 .arg(ms(double(latency.max())))
                 .arg(latency.count());
    QList<int> statuses = byStatus.keys();
    std::sort(statuses.begin(), statuses.end());
    QStringList st;
    for (int k : statuses)
        st << QStringLiteral("%1: %2").arg(k).arg(byStatus.value(k));
    lines << QStringLiteral("status    ") + (st.isEmpty() ? QStringLiteral("-") : st.join(u"  "));
    QList<QByteArray> types = byType.keys();
    std::sort(types.begin(), types.end(), [this](const QByteArray &a, const QByteArray &b) {
        return byType.value(a) != byType.value(b) ? byType.value(a) > byType.value(b) : a < b;
    });
    QStringList ty;
    for (const QByteArray &k : types)
        ty << QStringLiteral("%1: %2").arg(QString::fromUtf8(k)).arg(byType.value(k));
    lines << QStringLiteral("outcomes  ") + (ty.isEmpty() ? QStringLiteral("-") : ty.join(u"  "));
    lines << QStringLiteral("bookings  accepted %1 (replays %2)  confirmed %3  unknown %4  "
                            "retries %5")
                 .arg(accepted)
                 .arg(replays)
                 .arg(confirmed)
                 .arg(unknown)
                 .arg(retries);
    if (behindCount > 0 || arrivalsMissed > 0) {
        lines << QStringLiteral("BEHIND    %1 requests went out over 10 ms after their intended "
                                "time (at most %2 ms late) and %3 arrivals never went out: the "
                                "schedule outran the connections (a slow server, or too few "
                                "--connections). Latencies count from the intended time.")
                     .arg(behindCount)
                     .arg(ms(double(behindMaxUs)))
                     .arg(arrivalsMissed);
    }
    return lines.join(QLatin1Char('\n'));
}

} // namespace flashsale::bench
