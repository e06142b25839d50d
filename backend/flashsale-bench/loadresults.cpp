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
    wrJoined += o.wrJoined;
    wrCohort += o.wrCohort;
    wrPolls += o.wrPolls;
    wrAdmitted += o.wrAdmitted;
    wrLastJoinUs = std::max(wrLastJoinUs, o.wrLastJoinUs);
    for (auto it = o.wrTold.begin(); it != o.wrTold.end(); ++it)
        wrTold[it.key()] += it.value();
    for (auto it = o.wrUntold.begin(); it != o.wrUntold.end(); ++it)
        wrUntold[it.key()] += it.value();
    waitingRoom = waitingRoom || o.waitingRoom;
    acceptedLines += o.acceptedLines;
    unknownLines += o.unknownLines;
    confirmedLines += o.confirmedLines;
}

double LoadResults::joinSeconds() const {
    if (firstSendUs == 0 || wrLastJoinUs <= firstSendUs)
        return 0.0;
    return double(wrLastJoinUs - firstSendUs) / 1e6;
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

namespace {

QJsonObject countsJson(const QHash<QByteArray, qint64> &counts) {
    QJsonObject o;
    for (auto it = counts.begin(); it != counts.end(); ++it)
        o.insert(QString::fromUtf8(it.key()), it.value());
    return o;
}

qint64 total(const QHash<QByteArray, qint64> &counts) {
    qint64 n = 0;
    for (qint64 v : counts)
        n += v;
    return n;
}

// "a: 3  b: 1", largest first.
QString countsLine(const QHash<QByteArray, qint64> &counts) {
    QList<QByteArray> keys = counts.keys();
    std::sort(keys.begin(), keys.end(), [&counts](const QByteArray &a, const QByteArray &b) {
        return counts.value(a) != counts.value(b) ? counts.value(a) > counts.value(b) : a < b;
    });
    QStringList parts;
    for (const QByteArray &k : keys)
        parts << QStringLiteral("%1: %2").arg(QString::fromUtf8(k)).arg(counts.value(k));
    return parts.isEmpty() ? QStringLiteral("-") : parts.join(u"  ");
}

} // namespace

QJsonObject LoadResults::report() const {
    const double s = seconds();
    QJsonObject o{
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
        {"by_type", countsJson(byType)},
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
    if (waitingRoom)
        o.insert(QStringLiteral("waiting_room"),
                 QJsonObject{
                     {"joined", wrJoined},
                     {"joins_seconds", double(qRound64(joinSeconds() * 1000.0)) / 1000.0},
                     {"joins_per_second",
                      joinSeconds() > 0 ? double(qRound64(double(wrJoined) / joinSeconds())) : 0.0},
                     {"cohort", wrCohort},
                     {"polls", wrPolls},
                     {"admitted", wrAdmitted},
                     {"told", countsJson(wrTold)},
                     {"told_total", total(wrTold)},
                     {"untold", countsJson(wrUntold)},
                     {"untold_total", total(wrUntold)}});
    return o;
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
    lines << QStringLiteral("outcomes  ") + countsLine(byType);
    lines << QStringLiteral("bookings  accepted %1 (replays %2)  confirmed %3  unknown %4  "
                            "retries %5")
                 .arg(accepted)
                 .arg(replays)
                 .arg(confirmed)
                 .arg(unknown)
                 .arg(retries);
    if (waitingRoom) {
        lines << QStringLiteral("queue     joined %1 in %2 s = %3 joins/s (cohort %4)  polls %5  "
                                "admitted %6")
                     .arg(wrJoined)
                     .arg(joinSeconds(), 0, 'f', 3)
                     .arg(joinSeconds() > 0 ? double(wrJoined) / joinSeconds() : 0.0, 0, 'f', 0)
                     .arg(wrCohort)
                     .arg(wrPolls)
                     .arg(wrAdmitted);
        lines << QStringLiteral("told      %1 of %2 users: %3")
                     .arg(total(wrTold))
                     .arg(usersStarted)
                     .arg(countsLine(wrTold));
        if (!wrUntold.isEmpty())
            lines << QStringLiteral("UNTOLD    %1 users never learnt their outcome: %2")
                         .arg(total(wrUntold))
                         .arg(countsLine(wrUntold));
    }
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
