#include "analysis.h"

#include <QStringList>

#include <algorithm>

namespace flashsale::reconcile {

namespace {

QJsonObject row(const QString &check, const QString &subject, qint64 expected, qint64 found,
                const QString &detail) {
    return {{QStringLiteral("check"), check},
            {QStringLiteral("subject"), subject},
            {QStringLiteral("expected"), expected},
            {QStringLiteral("found"), found},
            {QStringLiteral("drift"), found - expected},
            {QStringLiteral("detail"), detail}};
}

// Units are taken while a reservation is accepted somewhere, not released in Redis and not
// cancelled in PostgreSQL.
bool taken(const Reservation &r, const QByteArray &rid, const Snapshot &s) {
    return (r.inStream || r.inRes || r.inPg) && !s.released.contains(rid)
           && r.pgStatus != "cancelled" && r.qty > 0;
}

} // namespace

Analysis analyse(qint64 saleId, const Snapshot &s) {
    Analysis a;
    const QString sale = QStringLiteral("sale %1").arg(saleId);

    QHash<qint64, qint64> takenByItem;
    QHash<QByteArray, qint64> takenByUser;
    QHash<qint64, qint64> activeOrderUnits;
    QList<QByteArray> missing, withoutRedis;
    qint64 inFlight = 0, orders = 0, deadLettered = 0;
    for (auto it = s.reservations.cbegin(); it != s.reservations.cend(); ++it) {
        const Reservation &r = it.value();
        if (taken(r, it.key(), s)) {
            takenByItem[r.item] += r.qty;
            takenByUser[r.user] += r.qty;
        }
        if (r.inPg && r.pgStatus == "cancelled" && !s.released.contains(it.key()))
            a.unreleased << it.key();
        if (r.inPg) {
            ++orders;
            if (r.pgStatus == "pending" || r.pgStatus == "paid") {
                activeOrderUnits[r.item] += r.qty;
                if (!r.inStream && !r.inRes) {
                    withoutRedis << it.key();
                    if (r.pgStatus == "pending" && !r.paying)
                        a.holdLost << it.key();
                    else if (!s.released.contains(it.key()))
                        a.holdRestore << it.key();
                }
            }
        } else if (r.inStream || r.inRes) {
            if (r.inFlight)
                ++inFlight;
            else if (s.deadLetterRids.contains(it.key()))
                ++deadLettered; // the worker refused it: an operator's (orders.deadletters)
            else
                missing << it.key();
        }
    }
    std::sort(missing.begin(), missing.end());
    std::sort(a.unreleased.begin(), a.unreleased.end());
    std::sort(withoutRedis.begin(), withoutRedis.end());
    std::sort(a.holdLost.begin(), a.holdLost.end());
    std::sort(a.holdRestore.begin(), a.holdRestore.end());

    auto add = [&a](const QJsonObject &r) {
        if (r.value(QStringLiteral("drift")).toInteger() != 0)
            a.ok = false;
        a.rows.append(r);
    };

    // 1. conservation: Redis remaining = inventory.stock - taken, per item.
    {
        QJsonArray itemRows;
        qint64 expectedSum = 0, foundSum = 0;
        int differ = 0;
        QSet<qint64> items(s.inventory.keyBegin(), s.inventory.keyEnd());
        for (auto it = s.stock.cbegin(); it != s.stock.cend(); ++it)
            items.insert(it.key().toLongLong());
        QList<qint64> sorted(items.cbegin(), items.cend());
        std::sort(sorted.begin(), sorted.end());
        for (qint64 item : sorted) {
            const QByteArray key = QByteArray::number(item);
            const bool inPg = s.inventory.contains(item);
            const qint64 expected = inPg ? s.inventory[item].stock - takenByItem.value(item) : 0;
            const qint64 found = s.stock.value(key);
            expectedSum += expected;
            foundSum += found;
            if (found == expected)
                continue;
            ++differ;
            if (inPg)
                a.stockDelta[item] = expected - found;
            if (itemRows.size() < kMaxItemRows) {
                QString detail = !inPg ? QStringLiteral("item not in PostgreSQL's inventory")
                                 : !s.stock.contains(key)
                                     ? QStringLiteral("item missing from Redis stock")
                                     : QStringLiteral("stock %1, taken %2")
                                           .arg(s.inventory[item].stock)
                                           .arg(takenByItem.value(item));
                itemRows.append(row(QStringLiteral("conservation"),
                                    QStringLiteral("item %1").arg(item), expected, found, detail));
            }
        }
        // The summary row carries the sums; per-item rows (only where they differ) carry drift
        // that the sums could hide by cancelling out.
        QJsonObject summary =
            row(QStringLiteral("conservation"), sale, expectedSum, foundSum,
                QStringLiteral("%1 of %2 items differ").arg(differ).arg(sorted.size()));
        if (differ > 0 && expectedSum == foundSum)
            summary.insert(QStringLiteral("detail"),
                           summary.value(QStringLiteral("detail")).toString()
                               + QStringLiteral(" (drifts cancel out in the sum)"));
        add(summary);
        if (differ > 0)
            a.ok = false;
        for (const QJsonValue &r : std::as_const(itemRows))
            add(r.toObject());
    }

    // 2. inventory_sold: PostgreSQL's own counter against its orders.
    {
        qint64 expectedSum = 0, foundSum = 0;
        int differ = 0;
        QJsonArray itemRows;
        for (auto it = s.inventory.cbegin(); it != s.inventory.cend(); ++it) {
            const qint64 expected = activeOrderUnits.value(it.key());
            expectedSum += expected;
            foundSum += it->sold;
            if (expected == it->sold)
                continue;
            ++differ;
            a.soldDrift = true;
            if (itemRows.size() < kMaxItemRows)
                itemRows.append(row(QStringLiteral("inventory_sold"),
                                    QStringLiteral("item %1").arg(it.key()), expected, it->sold,
                                    QStringLiteral("inventory.sold against pending+paid orders")));
        }
        add(row(QStringLiteral("inventory_sold"), sale, expectedSum, foundSum,
                QStringLiteral("%1 of %2 items differ").arg(differ).arg(s.inventory.size())));
        if (differ > 0)
            a.ok = false;
        for (const QJsonValue &r : std::as_const(itemRows))
            add(r.toObject());
    }

    // 3. missing_orders: accepted by Redis, not in PostgreSQL, and not on its way there.
    add(row(QStringLiteral("missing_orders"), sale, 0, missing.size(),
            missing.isEmpty()
                ? QStringLiteral("%1 accepted bookings still in flight").arg(inFlight)
                : QStringLiteral("accepted, not in flight, no order: %1").arg(ridList(missing))));
    a.missing = missing;

    // 4. orders_without_redis: active orders Redis never accepted (or has forgotten).
    add(row(QStringLiteral("orders_without_redis"), sale, 0, withoutRedis.size(),
            withoutRedis.isEmpty()
                ? QString()
                : QStringLiteral("no stream entry and no reservation hash: %1 (%2 pending: "
                                 "hold_lost; %3 paid or paying: hold restored by a repair)")
                      .arg(ridList(withoutRedis))
                      .arg(a.holdLost.size())
                      .arg(a.holdRestore.size())));

    // 5. user_counts: Redis units held per user against the units they have taken.
    {
        QSet<QByteArray> users(takenByUser.keyBegin(), takenByUser.keyEnd());
        for (auto it = s.users.cbegin(); it != s.users.cend(); ++it)
            users.insert(it.key());
        QList<QByteArray> sorted(users.cbegin(), users.cend());
        std::sort(sorted.begin(), sorted.end());
        qint64 expectedSum = 0, foundSum = 0;
        QJsonArray userRows;
        for (const QByteArray &u : sorted) {
            const qint64 expected = takenByUser.value(u);
            const qint64 found = s.users.value(u);
            expectedSum += expected;
            foundSum += found;
            if (expected == found)
                continue;
            a.userDelta[u] = expected - found;
            if (userRows.size() < kMaxUserRows)
                userRows.append(row(QStringLiteral("user_counts"),
                                    QStringLiteral("user %1").arg(QString::fromUtf8(u)), expected,
                                    found, QString()));
        }
        add(row(
            QStringLiteral("user_counts"), sale, expectedSum, foundSum,
            QStringLiteral("%1 of %2 users differ").arg(a.userDelta.size()).arg(sorted.size())));
        if (!a.userDelta.isEmpty())
            a.ok = false;
        for (const QJsonValue &r : std::as_const(userRows))
            add(r.toObject());
    }

    // 6. hold_lost (issue 20): pending, unpaid orders whose hold Redis lost. Nothing would ever
    // end them (the expiry sweeper's release finds no hold); a repair cancels them as hold-lost.
    add(row(
        QStringLiteral("hold_lost"), sale, 0, a.holdLost.size(),
        a.holdLost.isEmpty()
            ? QString()
            : QStringLiteral("pending orders whose hold Redis lost: %1").arg(ridList(a.holdLost))));

    // 7. dead_letters (issue 20): bookings the worker refused, not resolved by an operator yet.
    // Not missing orders: re-enqueueing them would only dead-letter them again.
    {
        QString detail;
        if (!s.unresolvedDeadLetters.isEmpty())
            detail = QStringLiteral("unresolved dead-letter entries (orders.deadletters): %1")
                         .arg(ridList(s.unresolvedDeadLetters));
        add(row(QStringLiteral("dead_letters"), sale, 0, s.unresolvedDeadLetters.size(), detail));
    }

    a.stats = {{QStringLiteral("reservations"), qint64(s.reservations.size())},
               {QStringLiteral("orders"), orders},
               {QStringLiteral("stream_entries"), s.streamEntries},
               {QStringLiteral("res_keys"), s.resKeys},
               {QStringLiteral("released"), qint64(s.released.size())},
               {QStringLiteral("in_flight"), inFlight},
               {QStringLiteral("dead_lettered"), deadLettered},
               {QStringLiteral("dead_letters_unresolved"), qint64(s.unresolvedDeadLetters.size())},
               {QStringLiteral("later_than_snapshot"), s.resLater}};
    return a;
}

QString ridList(const QList<QByteArray> &rids) {
    QStringList shown;
    for (qsizetype i = 0; i < rids.size() && i < kMaxRids; ++i)
        shown << QString::fromLatin1(rids[i]);
    QString text = shown.join(QStringLiteral(", "));
    if (rids.size() > kMaxRids)
        text += QStringLiteral(" and %1 more").arg(rids.size() - kMaxRids);
    return text;
}

} // namespace flashsale::reconcile
