#include "invariants.h"

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>

#include <algorithm>

namespace flashsale::bench {

namespace {

constexpr int kShown = 5; // ids shown per kind of offence

// Collects offences of one kind and renders "what: a, b, c and 7 more".
class Offences {
public:
    explicit Offences(QString what)
        : m_what(std::move(what)) {}
    void add(const QString &id) {
        ++m_count;
        if (m_shown.size() < kShown)
            m_shown << id;
    }
    qint64 count() const { return m_count; }
    // Appends the evidence line (if any offence) to `r` and fails it.
    void report(CheckResult &r) const {
        if (m_count == 0)
            return;
        r.pass = false;
        QString text =
            QStringLiteral("%1 (%2): %3").arg(m_what).arg(m_count).arg(m_shown.join(", "));
        if (m_count > m_shown.size())
            text += QStringLiteral(" and %1 more").arg(m_count - m_shown.size());
        r.evidence << text;
    }

private:
    QString m_what;
    QStringList m_shown;
    qint64 m_count = 0;
};

QString str(const QByteArray &b) {
    return QString::fromUtf8(b);
}

CheckResult newCheck(const QString &id, const QString &name) {
    CheckResult r;
    r.id = id;
    r.name = name;
    return r;
}

QString item(qint64 id) {
    return QStringLiteral("item %1").arg(id);
}

// What all the checks share, computed once: O(orders + ledger + stream).
struct Facts {
    QHash<QByteArray, const OrderRecord *> orderByRid;
    QHash<qint64, qint64> pendingUnits, paidUnits, activeUnits; // per item
    QHash<QByteArray, qint64> activeUnitsByUser;
    qint64 pending = 0, paid = 0, cancelled = 0, unitsOrdered = 0;

    // Redis' own view: every reservation it accepted (stream entries and the index set), the
    // units it holds for them (not released), and those without an order yet.
    QSet<QByteArray> redisAccepted;
    QHash<qint64, qint64> notPersistedUnits;    // per item: accepted, no order, not released
    QHash<qint64, qint64> awaitingReleaseUnits; // per item: cancelled, not released in Redis
    QHash<QByteArray, qint64> redisTakenByUser; // per user: accepted, not released
    QList<QByteArray> notPersisted;

    // The ledger.
    QHash<QByteArray, QByteArray> ledgerUserOfRid;         // distinct accepted reservation -> user
    QHash<QByteArray, const LedgerBooking *> ledgerAnswer; // its first answer
    qint64 ledgerUnits = 0; // units of distinct accepted reservations
    qint64 replays = 0;
    QHash<QPair<QString, QString>, QSet<QByteArray>> ridsOfKey; // (user, key) -> reservations
    // Orders the client never saw accepted, matched to an "unknown" attempt of their user.
    qint64 explained = 0;
    QList<const OrderRecord *> unexplained;
    QList<QPair<const OrderRecord *, QString>> keyReused; // order, the key that answered another

    // Issue 20. Accepted by the client, no order, and not in Redis either: what a Redis data
    // loss took before the worker read it (the fsync window). Orders Redis has no trace of that
    // have ended (paid, or cancelled: hold-lost by reconciliation or the expiry sweeper, or
    // declined or expired on their way); of them, those ended hold-lost.
    QList<QByteArray> lostWithRedis;
    QList<const OrderRecord *> endedWithoutTrace;
    qint64 holdLost = 0;
};

Facts gather(const CheckInput &in) {
    Facts f;
    f.orderByRid.reserve(in.pg.orders.size());
    f.activeUnitsByUser.reserve(in.pg.orders.size());
    f.ledgerUserOfRid.reserve(in.ledger.accepted.size());
    f.ledgerAnswer.reserve(in.ledger.accepted.size());
    f.ridsOfKey.reserve(in.ledger.accepted.size());
    for (const OrderRecord &o : in.pg.orders) {
        f.orderByRid.insert(o.reservationId, &o);
        f.unitsOrdered += o.quantity;
        if (o.status == "pending") {
            ++f.pending;
            f.pendingUnits[o.itemId] += o.quantity;
        } else if (o.status == "paid") {
            ++f.paid;
            f.paidUnits[o.itemId] += o.quantity;
        } else {
            ++f.cancelled;
            if (!in.redis.released.contains(o.reservationId))
                f.awaitingReleaseUnits[o.itemId] += o.quantity;
        }
        if (o.status != "cancelled") {
            f.activeUnits[o.itemId] += o.quantity;
            f.activeUnitsByUser[o.userId] += o.quantity;
        }
    }

    f.redisAccepted = in.redis.reservations;
    for (auto it = in.redis.booked.cbegin(); it != in.redis.booked.cend(); ++it)
        f.redisAccepted.insert(it.key());
    for (const QByteArray &rid : std::as_const(f.redisAccepted)) {
        const OrderRecord *o = f.orderByRid.value(rid);
        const StreamBooking b = in.redis.booked.value(rid);
        const QByteArray user = o ? o->userId : b.user;
        const qint64 qty = o ? o->quantity : b.quantity;
        if (!in.redis.released.contains(rid))
            f.redisTakenByUser[user] += qty;
        if (!o && !in.redis.released.contains(rid)) {
            f.notPersisted << rid;
            f.notPersistedUnits[b.itemId] += b.quantity;
        }
    }
    std::sort(f.notPersisted.begin(), f.notPersisted.end());

    for (const LedgerBooking &b : in.ledger.accepted) {
        const QByteArray rid = b.reservationId.toUtf8();
        if (b.replayed)
            ++f.replays;
        if (!b.key.isEmpty())
            f.ridsOfKey[{b.user, b.key}].insert(rid);
        if (!f.ledgerUserOfRid.contains(rid)) {
            f.ledgerUserOfRid.insert(rid, b.user.toUtf8());
            f.ledgerAnswer.insert(rid, &b);
            f.ledgerUnits += b.quantity;
        }
    }

    // An attempt whose answer the client never learnt may have booked. It can explain one
    // order of its user, of its item and quantity, unless its key was later answered with a
    // reservation: had the attempt booked, that answer would have been its replay. Retries of
    // one key that all went unanswered explain one order between them, for the same reason.
    struct Attempt {
        QString key;
        qint64 item;
        qint64 qty;
        bool used = false;
    };
    QHash<QByteArray, QList<Attempt>> attempts;
    for (const LedgerBooking &u : in.ledger.unknown)
        attempts[u.user.toUtf8()].append({u.key, u.itemId, u.quantity});
    QSet<QPair<QString, QString>> keysUsed;
    for (const OrderRecord &o : in.pg.orders) {
        if (f.ledgerUserOfRid.contains(o.reservationId))
            continue;
        bool matched = false;
        QString reusedKey;
        for (Attempt &a : attempts[o.userId]) {
            if (a.used || a.qty != o.quantity || (a.item != 0 && a.item != o.itemId))
                continue;
            const QPair<QString, QString> key{str(o.userId), a.key};
            if (!a.key.isEmpty() && (f.ridsOfKey.contains(key) || keysUsed.contains(key))) {
                reusedKey = a.key;
                continue;
            }
            a.used = true;
            if (!a.key.isEmpty())
                keysUsed.insert(key);
            matched = true;
            break;
        }
        if (matched) {
            ++f.explained;
        } else {
            f.unexplained << &o;
            if (!reusedKey.isEmpty())
                f.keyReused.append({&o, reusedKey});
        }
    }
    for (auto it = f.ledgerUserOfRid.cbegin(); it != f.ledgerUserOfRid.cend(); ++it)
        if (!f.orderByRid.contains(it.key()) && !f.redisAccepted.contains(it.key()))
            f.lostWithRedis << it.key();
    std::sort(f.lostWithRedis.begin(), f.lostWithRedis.end());
    for (const OrderRecord &o : in.pg.orders) {
        if (o.cancelReason == "hold-lost")
            ++f.holdLost;
        if (!f.redisAccepted.contains(o.reservationId) && o.status != "pending")
            f.endedWithoutTrace << &o;
    }
    return f;
}

CheckResult noOversell(const CheckInput &in, const Facts &f) {
    CheckResult r = newCheck(QStringLiteral("I1"), QStringLiteral("no oversell"));
    Offences redisOver(QStringLiteral("Redis remaining outside 0..stock")),
        redisTaken(QStringLiteral("Redis holds more units than the stock")),
        pgSold(QStringLiteral("inventory.sold outside 0..stock")),
        orderUnits(QStringLiteral("units in non-cancelled orders above the stock")),
        unknownItem(QStringLiteral("items in Redis stock but not in inventory"));
    QHash<qint64, qint64> redisTakenByItem;
    for (const QByteArray &rid : f.redisAccepted) {
        if (in.redis.released.contains(rid))
            continue;
        const OrderRecord *o = f.orderByRid.value(rid);
        const StreamBooking b = in.redis.booked.value(rid);
        redisTakenByItem[o ? o->itemId : b.itemId] += o ? o->quantity : b.quantity;
    }
    qint64 stock = 0, sold = 0, remaining = 0, taken = 0, active = 0;
    for (auto it = in.pg.inventory.cbegin(); it != in.pg.inventory.cend(); ++it) {
        const qint64 id = it.key();
        const qint64 s = it->stock;
        stock += s;
        sold += it->sold;
        active += f.activeUnits.value(id);
        taken += redisTakenByItem.value(id);
        const qint64 rem = in.redis.remaining.value(id, -1);
        remaining += std::max<qint64>(rem, 0);
        if (rem < 0 || rem > s)
            redisOver.add(QStringLiteral("%1 remaining %2 of %3")
                              .arg(item(id))
                              .arg(in.redis.remaining.contains(id) ? QString::number(rem)
                                                                   : QStringLiteral("(missing)"))
                              .arg(s));
        if (redisTakenByItem.value(id) > s)
            redisTaken.add(
                QStringLiteral("%1 holds %2 of %3").arg(item(id)).arg(redisTakenByItem[id]).arg(s));
        if (it->sold < 0 || it->sold > s)
            pgSold.add(QStringLiteral("%1 sold %2 of %3").arg(item(id)).arg(it->sold).arg(s));
        if (f.activeUnits.value(id) > s)
            orderUnits.add(
                QStringLiteral("%1 has %2 of %3").arg(item(id)).arg(f.activeUnits[id]).arg(s));
    }
    for (auto it = in.redis.remaining.cbegin(); it != in.redis.remaining.cend(); ++it) {
        if (!in.pg.inventory.contains(it.key()))
            unknownItem.add(item(it.key()));
    }
    r.summary = QStringLiteral("%1 items, stock %2; PostgreSQL: inventory.sold %3, units in "
                               "non-cancelled orders %4; Redis: remaining %5, units held %6")
                    .arg(in.pg.inventory.size())
                    .arg(stock)
                    .arg(sold)
                    .arg(active)
                    .arg(remaining)
                    .arg(taken);
    for (const Offences *o : {&redisOver, &redisTaken, &pgSold, &orderUnits, &unknownItem})
        o->report(r);
    return r;
}

CheckResult perUserCap(const CheckInput &in, const Facts &f) {
    CheckResult r = newCheck(QStringLiteral("I2"), QStringLiteral("per-user cap"));
    const qint64 limit = in.pg.perUserLimit;
    Offences pgOver(QStringLiteral("users above the cap in non-cancelled orders")),
        redisOver(QStringLiteral("Redis per-user counters above the cap")),
        disagree(QStringLiteral("Redis per-user counters that disagree with the units held"));
    qint64 maxHeld = 0;
    QList<QByteArray> users = f.activeUnitsByUser.keys();
    std::sort(users.begin(), users.end());
    for (const QByteArray &u : users) {
        const qint64 held = f.activeUnitsByUser.value(u);
        maxHeld = std::max(maxHeld, held);
        if (held > limit)
            pgOver.add(QStringLiteral("%1 holds %2").arg(str(u)).arg(held));
    }
    QSet<QByteArray> all(f.redisTakenByUser.keyBegin(), f.redisTakenByUser.keyEnd());
    for (auto it = in.redis.users.cbegin(); it != in.redis.users.cend(); ++it)
        all.insert(it.key());
    QList<QByteArray> sorted(all.cbegin(), all.cend());
    std::sort(sorted.begin(), sorted.end());
    for (const QByteArray &u : sorted) {
        const qint64 counter = in.redis.users.value(u);
        const qint64 expected = f.redisTakenByUser.value(u);
        if (counter > limit)
            redisOver.add(QStringLiteral("%1 counter %2").arg(str(u)).arg(counter));
        if (counter != expected)
            disagree.add(QStringLiteral("%1 counter %2, units held %3")
                             .arg(str(u))
                             .arg(counter)
                             .arg(expected));
    }
    r.summary = QStringLiteral("limit %1 (Redis meta %2); %3 users hold units, the most %4; "
                               "%5 Redis counters")
                    .arg(limit)
                    .arg(in.redis.limit)
                    .arg(users.size())
                    .arg(maxHeld)
                    .arg(in.redis.users.size());
    if (in.redis.limit != limit) {
        r.pass = false;
        r.evidence << QStringLiteral("Redis enforces limit %1, the sale says %2")
                          .arg(in.redis.limit)
                          .arg(limit);
    }
    for (const Offences *o : {&pgOver, &redisOver, &disagree})
        o->report(r);
    return r;
}

CheckResult acceptedMeansRecorded(const CheckInput &in, const Facts &f, const CheckOptions &opt) {
    CheckResult r = newCheck(QStringLiteral("I3"), QStringLiteral("accepted means recorded"));
    Offences missing(QStringLiteral("accepted by the client, no order")),
        unexplained(QStringLiteral("orders the client never saw accepted, no unknown attempt "
                                   "of the user explains them")),
        lost(QStringLiteral("accepted by Redis, no order")),
        phantom(QStringLiteral("orders Redis never accepted (no stream entry, not indexed)")),
        dead(QStringLiteral("dead-lettered stream entries"));
    QList<QByteArray> ledgerRids = f.ledgerUserOfRid.keys();
    std::sort(ledgerRids.begin(), ledgerRids.end());
    Offences differs(QStringLiteral("orders that differ from the answer the client got"));
    const QSet<QByteArray> lostWithRedis(f.lostWithRedis.cbegin(), f.lostWithRedis.cend());
    for (const QByteArray &rid : ledgerRids) {
        const OrderRecord *o = f.orderByRid.value(rid);
        if (!o) {
            if (!(opt.redisDataLoss && lostWithRedis.contains(rid)))
                missing.add(str(rid));
            continue;
        }
        const LedgerBooking *b = f.ledgerAnswer.value(rid);
        if (b->user.toUtf8() != o->userId || b->quantity != o->quantity
            || (b->itemId != 0 && b->itemId != o->itemId))
            differs.add(QStringLiteral("%1: answered %2 x%3 of item %4, order %5 x%6 of item %7")
                            .arg(str(rid), b->user)
                            .arg(b->quantity)
                            .arg(b->itemId)
                            .arg(str(o->userId))
                            .arg(o->quantity)
                            .arg(o->itemId));
    }
    for (const OrderRecord *o : f.unexplained)
        unexplained.add(QStringLiteral("%1 (order %2, user %3)")
                            .arg(str(o->reservationId))
                            .arg(o->id)
                            .arg(str(o->userId)));
    for (const QByteArray &rid : f.notPersisted)
        lost.add(str(rid));
    for (const OrderRecord &o : in.pg.orders) {
        if (f.redisAccepted.contains(o.reservationId))
            continue;
        if (opt.redisDataLoss && o.status != "pending")
            continue; // Redis lost it, and it has ended all the same (hold-lost, paid, ...)
        phantom.add(QStringLiteral("%1 (order %2)").arg(str(o.reservationId)).arg(o.id));
    }
    // Issue 20: a dead letter an operator replayed or cancelled is decided, not an offence.
    qint64 resolved = 0;
    for (auto it = in.redis.deadEntries.cbegin(); it != in.redis.deadEntries.cend(); ++it) {
        if (in.pg.deadLettersResolved.contains(it.key()))
            ++resolved;
        else
            dead.add(it.value());
    }
    for (qint64 i = in.redis.deadEntries.size(); i < in.redis.deadLetters; ++i)
        dead.add(QString()); // appended after the read
    r.summary =
        QStringLiteral("ledger: %1 distinct accepted reservations (%2 answers, %3 replays), %4 "
                       "unknown attempts; %5 orders; accepted-but-unknown-to-client %6; Redis "
                       "accepted %7; dead letters %8 (%9 resolved)")
            .arg(f.ledgerUserOfRid.size())
            .arg(in.ledger.accepted.size())
            .arg(f.replays)
            .arg(in.ledger.unknown.size())
            .arg(in.pg.orders.size())
            .arg(f.explained)
            .arg(f.redisAccepted.size())
            .arg(in.redis.deadLetters)
            .arg(resolved);
    if (opt.redisDataLoss)
        r.summary += QStringLiteral("; Redis data loss: %1 accepted bookings lost in the fsync "
                                    "window (no order, no trace in Redis), %2 ended orders "
                                    "Redis has no trace of, %3 orders ended hold-lost")
                         .arg(f.lostWithRedis.size())
                         .arg(f.endedWithoutTrace.size())
                         .arg(f.holdLost);
    for (const Offences *o : {&missing, &differs, &unexplained, &lost, &phantom, &dead})
        o->report(r);
    return r;
}

CheckResult ordersEqualAccepted(const CheckInput &in, const Facts &f, const CheckOptions &opt) {
    CheckResult r = newCheck(QStringLiteral("orders"), QStringLiteral("equal accepted bookings"));
    const qint64 orders = in.pg.orders.size();
    // Issue 20, --redis-data-loss: the bookings the data loss took before they became orders
    // are not expected as orders, and the hold-lost orders Redis forgot count as its own.
    const qint64 lost = opt.redisDataLoss ? f.lostWithRedis.size() : 0;
    const qint64 forgotten = opt.redisDataLoss ? f.endedWithoutTrace.size() : 0;
    const qint64 expected = f.ledgerUserOfRid.size() - lost + f.explained;
    r.summary = QStringLiteral("%1 orders; %2 accepted reservations + %3 explained unknowns = "
                               "%4; Redis accepted %5")
                    .arg(orders)
                    .arg(f.ledgerUserOfRid.size())
                    .arg(f.explained)
                    .arg(expected)
                    .arg(f.redisAccepted.size());
    if (orders != expected) {
        r.pass = false;
        r.evidence << QStringLiteral("orders %1 != accepted %2").arg(orders).arg(expected);
    }
    if (opt.redisDataLoss)
        r.summary += QStringLiteral(" (Redis data loss: %1 lost in the window, %2 ended "
                                    "orders Redis forgot)")
                         .arg(lost)
                         .arg(forgotten);
    if (orders != f.redisAccepted.size() + forgotten) {
        r.pass = false;
        r.evidence << QStringLiteral("orders %1 != reservations Redis accepted %2")
                          .arg(orders)
                          .arg(f.redisAccepted.size() + forgotten);
    }
    return r;
}

CheckResult oneEnding(const CheckInput &in, const Facts &f, const CheckOptions &opt) {
    CheckResult r = newCheck(QStringLiteral("I4"), QStringLiteral("one ending"));
    Offences pending(QStringLiteral("orders still pending")),
        twice(QStringLiteral("orders with more than one ending in order_history")),
        noHistory(QStringLiteral("ended orders without their ending in order_history")),
        wrongHistory(QStringLiteral("order_history disagrees with the order's status")),
        notReleased(QStringLiteral("cancelled orders whose units were not returned to Redis")),
        paidReleased(QStringLiteral("paid orders whose units were returned to Redis")),
        confirmedExpired(QStringLiteral("holds the client confirmed that expired under the "
                                        "payment"));
    // A confirmed hold has its payment in flight and must never be expired (ARCHITECTURE.md,
    // "Holds and their expiry").
    QSet<QByteArray> confirmed;
    for (const auto &[user, rid] : in.ledger.confirmed)
        confirmed.insert(rid.toUtf8());
    qint64 awaiting = 0;
    for (const OrderRecord &o : in.pg.orders) {
        // Formatted only for an offence: this runs once per order.
        auto id = [&o] {
            return QStringLiteral("order %1 (%2)").arg(o.id).arg(str(o.reservationId));
        };
        const QList<QByteArray> h = in.pg.history.value(o.id);
        const bool released = in.redis.released.contains(o.reservationId);
        if (o.status == "pending") {
            if (opt.expectAllEnded)
                pending.add(id());
            if (!h.isEmpty())
                wrongHistory.add(id()
                                 + QStringLiteral(" pending, history %1").arg(str(h.join(','))));
            continue;
        }
        if (h.size() > 1)
            twice.add(id() + QStringLiteral(": %1").arg(str(h.join(','))));
        else if (h.isEmpty())
            noHistory.add(id());
        else if (h.first() != o.status)
            wrongHistory.add(
                id() + QStringLiteral(" %1, history %2").arg(str(o.status), str(h.first())));
        if (o.status == "cancelled" && !released) {
            if (opt.expectAllEnded)
                notReleased.add(id());
            else
                ++awaiting;
        }
        if (o.status == "paid" && released)
            paidReleased.add(id());
        if (o.cancelReason == "expired" && confirmed.contains(o.reservationId))
            confirmedExpired.add(id());
    }
    r.summary =
        QStringLiteral("%1 orders: %2 paid + %3 cancelled + %4 pending; %5 "
                       "reservations released in Redis%6")
            .arg(in.pg.orders.size())
            .arg(f.paid)
            .arg(f.cancelled)
            .arg(f.pending)
            .arg(in.redis.released.size())
            .arg(awaiting ? QStringLiteral("; %1 cancellations awaiting release").arg(awaiting)
                          : QString());
    if (!confirmed.isEmpty())
        r.summary += QStringLiteral("; %1 holds confirmed by the client").arg(confirmed.size());
    if (!opt.expectAllEnded)
        r.summary += QStringLiteral(" (pending allowed: no --expect-all-ended)");
    for (const Offences *o : {&pending, &twice, &noHistory, &wrongHistory, &notReleased,
                              &paidReleased, &confirmedExpired})
        o->report(r);
    return r;
}

CheckResult eventsOnKafka(const CheckInput &in, const Facts &f) {
    CheckResult r = newCheck(QStringLiteral("I5"), QStringLiteral("events at least once"));
    const auto created = in.kafka.events.value("order.created");
    const auto paid = in.kafka.events.value("order.paid");
    const auto cancelled = in.kafka.events.value("order.cancelled");
    Offences noCreated(QStringLiteral("orders without order.created on Kafka")),
        noEnding(QStringLiteral("ended orders without their ending event on Kafka")),
        contradicting(QStringLiteral("orders with an ending event that contradicts their status")),
        orphan(QStringLiteral("events of reservations that have no order"));
    qint64 duplicates = 0, inFlight = 0;
    for (const OrderRecord &o : in.pg.orders) {
        // Formatted only for an offence: this runs once per order.
        auto id = [&o] {
            return QStringLiteral("order %1 (%2)").arg(o.id).arg(str(o.reservationId));
        };
        // An event still unpublished in the snapshot is on its way (the outbox drained before,
        // so only an ending that happened since), not missing.
        auto onItsWay = [&](const char *topic) {
            const bool yes = in.pg.outboxInFlight.contains(topic + (':' + o.reservationId));
            inFlight += yes;
            return yes;
        };
        const int c = created.value(o.reservationId);
        if (c == 0 && !onItsWay("order.created"))
            noCreated.add(id()
                          + (in.pg.outboxCreated.contains(o.reservationId)
                                 ? QStringLiteral(", in the outbox")
                                 : QStringLiteral(", never in the outbox")));
        const int p = paid.value(o.reservationId), x = cancelled.value(o.reservationId);
        duplicates += std::max(0, c - 1) + std::max(0, p - 1) + std::max(0, x - 1);
        if ((o.status == "paid" && p == 0 && !onItsWay("order.paid"))
            || (o.status == "cancelled" && x == 0 && !onItsWay("order.cancelled")))
            noEnding.add(id() + QLatin1Char(' ') + str(o.status));
        if ((o.status != "paid" && p > 0) || (o.status != "cancelled" && x > 0))
            contradicting.add(id()
                              + QStringLiteral(" %1, paid events %2, cancelled events %3")
                                    .arg(str(o.status))
                                    .arg(p)
                                    .arg(x));
    }
    for (const auto &topic : {created, paid, cancelled}) {
        for (auto it = topic.cbegin(); it != topic.cend(); ++it) {
            if (!f.orderByRid.contains(it.key()))
                orphan.add(str(it.key()));
        }
    }
    r.summary =
        QStringLiteral("%1 messages of this sale: order.created %2 for %3 orders, "
                       "order.paid %4, order.cancelled %5; redelivered duplicates %6; still in the "
                       "outbox %7")
            .arg(in.kafka.messages)
            .arg(created.size())
            .arg(in.pg.orders.size())
            .arg(paid.size())
            .arg(cancelled.size())
            .arg(duplicates)
            .arg(inFlight);
    for (const Offences *o : {&noCreated, &noEnding, &contradicting, &orphan})
        o->report(r);
    return r;
}

CheckResult effectsOnce(const CheckInput &in, const Facts &f, const CheckOptions &opt) {
    CheckResult r = newCheck(QStringLiteral("I5"), QStringLiteral("effects exactly once"));
    Offences twoPayments(QStringLiteral("orders with more than one payment row")),
        paidNotCaptured(QStringLiteral("paid orders without a captured payment")),
        capturedNotPaid(QStringLiteral("captured payments of orders not paid")),
        chargedTwice(QStringLiteral("orders the provider captured more than once")),
        wrongNote(QStringLiteral("notifications that match no ending of their order")),
        noNote(QStringLiteral("ended orders without their notification"));
    qint64 captured = 0;
    for (const OrderRecord &o : in.pg.orders) {
        // Formatted only for an offence: this runs once per order.
        auto id = [&o] {
            return QStringLiteral("order %1 (%2)").arg(o.id).arg(str(o.reservationId));
        };
        const QList<QByteArray> p = in.pg.payments.value(o.id);
        if (p.size() > 1)
            twoPayments.add(id() + QStringLiteral(": %1").arg(str(p.join(','))));
        const bool isCaptured = p.contains("captured");
        captured += isCaptured;
        if (o.status == "paid" && !isCaptured)
            paidNotCaptured.add(id()
                                + (p.isEmpty()
                                       ? QStringLiteral(", no payment")
                                       : QStringLiteral(", payment %1").arg(str(p.join(',')))));
        if (o.status != "paid" && isCaptured)
            capturedNotPaid.add(id() + QLatin1Char(' ') + str(o.status));
        if (in.redis.paysimCaptured.value(o.id) > 1)
            chargedTwice.add(id()
                             + QStringLiteral(" %1 captures").arg(in.redis.paysimCaptured[o.id]));
        if (o.status != "pending" && opt.expectAllEnded) {
            const QByteArray event =
                (o.status == "paid" ? "order.paid:" : "order.cancelled:") + o.reservationId;
            if (!in.pg.notifications.contains(event))
                noNote.add(id());
        }
    }
    for (auto it = in.pg.notifications.cbegin(); it != in.pg.notifications.cend(); ++it) {
        const qsizetype colon = it.key().indexOf(':');
        const QByteArray topic = it.key().left(colon), rid = it.key().mid(colon + 1);
        const OrderRecord *o = f.orderByRid.value(rid);
        const bool fits = o && o->id == it.value()
                          && ((topic == "order.paid" && o->status == "paid")
                              || (topic == "order.cancelled" && o->status == "cancelled"));
        if (!fits)
            wrongNote.add(str(it.key()));
    }
    r.summary =
        QStringLiteral("%1 paid orders, %2 captured payments, %3 payment rows; %4 "
                       "notifications (%5 undelivered); provider ledger %6")
            .arg(f.paid)
            .arg(captured)
            .arg(in.pg.payments.size())
            .arg(in.pg.notifications.size())
            .arg(in.pg.notificationsUndelivered)
            .arg(in.redis.paysim
                     ? QStringLiteral("%1 orders captured").arg(in.redis.paysimCaptured.size())
                     : QStringLiteral("not the simulator's (not checked)"));
    if (captured != f.paid) {
        r.pass = false;
        r.evidence
            << QStringLiteral("captured payments %1 != paid orders %2").arg(captured).arg(f.paid);
    }
    for (const Offences *o :
         {&twoPayments, &paidNotCaptured, &capturedNotPaid, &chargedTwice, &wrongNote, &noNote})
        o->report(r);
    return r;
}

CheckResult conservation(const CheckInput &in, const Facts &f) {
    CheckResult r = newCheck(QStringLiteral("I6"), QStringLiteral("conservation"));
    Offences redisSide(QStringLiteral("items where stock != Redis remaining + held + paid")),
        pgSide(QStringLiteral("items where inventory.sold != pending + paid units")),
        cross(QStringLiteral("items where Redis remaining != stock - inventory.sold")),
        unpersisted(QStringLiteral("accepted bookings not yet persisted after the drain"));
    qint64 stock = 0, remaining = 0, held = 0, paid = 0, notPersisted = 0, awaiting = 0;
    for (auto it = in.pg.inventory.cbegin(); it != in.pg.inventory.cend(); ++it) {
        const qint64 id = it.key();
        const qint64 rem = in.redis.remaining.value(id);
        const qint64 h = f.pendingUnits.value(id), p = f.paidUnits.value(id);
        const qint64 n = f.notPersistedUnits.value(id), a = f.awaitingReleaseUnits.value(id);
        stock += it->stock;
        remaining += rem;
        held += h;
        paid += p;
        notPersisted += n;
        awaiting += a;
        if (it->stock != rem + h + n + p + a)
            redisSide.add(
                QStringLiteral("%1: %2 != %3 + %4 + %5%6")
                    .arg(item(id))
                    .arg(it->stock)
                    .arg(rem)
                    .arg(h + n)
                    .arg(p)
                    .arg(a ? QStringLiteral(" + %1 awaiting release").arg(a) : QString()));
        if (it->sold != h + p)
            pgSide.add(QStringLiteral("%1: sold %2, pending + paid %3")
                           .arg(item(id))
                           .arg(it->sold)
                           .arg(h + p));
        if (rem != it->stock - it->sold - n - a)
            cross.add(QStringLiteral("%1: Redis %2, PostgreSQL %3")
                          .arg(item(id))
                          .arg(rem)
                          .arg(it->stock - it->sold - n - a));
    }
    for (const QByteArray &rid : f.notPersisted)
        unpersisted.add(str(rid));
    r.summary = QStringLiteral("stock %1 = remaining %2 + held %3 (pending %4, not persisted %5) "
                               "+ paid %6%7")
                    .arg(stock)
                    .arg(remaining)
                    .arg(held + notPersisted)
                    .arg(held)
                    .arg(notPersisted)
                    .arg(paid)
                    .arg(awaiting ? QStringLiteral(" + %1 cancelled awaiting release").arg(awaiting)
                                  : QString());
    for (const Offences *o : {&redisSide, &pgSide, &cross, &unpersisted})
        o->report(r);
    return r;
}

CheckResult idempotency(const CheckInput &in, const Facts &f) {
    CheckResult r = newCheck(QStringLiteral("I7"), QStringLiteral("idempotency"));
    Offences twoRids(QStringLiteral("keys answered with two reservations")),
        twoOrders(QStringLiteral("keys that produced two orders"));
    QList<QPair<QString, QString>> keys = f.ridsOfKey.keys();
    std::sort(keys.begin(), keys.end());
    for (const auto &k : keys) {
        const QSet<QByteArray> rids = f.ridsOfKey.value(k);
        if (rids.size() < 2)
            continue;
        QList<QByteArray> sorted(rids.cbegin(), rids.cend());
        std::sort(sorted.begin(), sorted.end());
        const QString id =
            QStringLiteral("(%1, %2) -> %3").arg(k.first, k.second, str(sorted.join(' ')));
        twoRids.add(id);
        qint64 orders = 0;
        for (const QByteArray &rid : sorted)
            orders += f.orderByRid.contains(rid);
        if (orders > 1)
            twoOrders.add(id);
    }
    for (const auto &[o, key] : f.keyReused)
        twoOrders.add(QStringLiteral("(%1, %2): order %3 (%4) can only come from an "
                                     "unanswered attempt of a key that has another reservation")
                          .arg(str(o->userId), key)
                          .arg(o->id)
                          .arg(str(o->reservationId)));
    r.summary = QStringLiteral("%1 keys, %2 accepted answers, %3 replays")
                    .arg(f.ridsOfKey.size())
                    .arg(in.ledger.accepted.size())
                    .arg(f.replays);
    twoRids.report(r);
    twoOrders.report(r);
    return r;
}

bool allowed(const QString &type, const QStringList &allow) {
    for (const QString &a : allow) {
        if (a == type || (a.endsWith(QLatin1Char('*')) && type.startsWith(a.chopped(1))))
            return true;
    }
    return false;
}

} // namespace

QString CheckResult::line() const {
    QString out =
        QStringLiteral("%1 %2 %3: %4")
            .arg(pass ? QStringLiteral("PASS") : QStringLiteral("FAIL"), id, name, summary);
    for (const QString &e : evidence)
        out += QStringLiteral("\n    ") + e;
    return out;
}

QJsonObject CheckResult::toJson() const {
    return {{QStringLiteral("id"), id},
            {QStringLiteral("name"), name},
            {QStringLiteral("pass"), pass},
            {QStringLiteral("summary"), summary},
            {QStringLiteral("evidence"), QJsonArray::fromStringList(evidence)}};
}

QList<CheckResult> checkInvariants(const CheckInput &in, const CheckOptions &options) {
    const Facts f = gather(in);
    QList<CheckResult> out{noOversell(in, f),
                           perUserCap(in, f),
                           acceptedMeansRecorded(in, f, options),
                           ordersEqualAccepted(in, f, options),
                           oneEnding(in, f, options),
                           eventsOnKafka(in, f),
                           effectsOnce(in, f, options),
                           conservation(in, f),
                           idempotency(in, f)};

    if (options.expectSold) {
        // Sold means kept: units of orders that did not end cancelled. A declined or expired
        // hold gives its units back and they may be sold again, so more units can have been
        // accepted than the stock without anything being oversold.
        CheckResult r = newCheck(QStringLiteral("sold"), QStringLiteral("units sold"));
        qint64 active = 0;
        for (auto it = f.activeUnits.cbegin(); it != f.activeUnits.cend(); ++it)
            active += it.value();
        r.summary = QStringLiteral("%1 units in non-cancelled orders, expected %2; %3 units "
                                   "accepted in all (orders), the client saw %4")
                        .arg(active)
                        .arg(*options.expectSold)
                        .arg(f.unitsOrdered)
                        .arg(f.ledgerUnits);
        r.pass = active == *options.expectSold;
        out << r;
    }
    if (in.report) {
        if (options.maxP99Ms) {
            CheckResult r = newCheck(QStringLiteral("latency"), QStringLiteral("p99"));
            r.summary = QStringLiteral("p99 %1 ms, limit %2 ms")
                            .arg(in.report->p99Ms)
                            .arg(*options.maxP99Ms);
            r.pass = in.report->p99Ms >= 0 && in.report->p99Ms <= *options.maxP99Ms;
            if (in.report->p99Ms < 0)
                r.evidence << QStringLiteral("the report has no latency_ms.p99");
            out << r;
        }
        CheckResult r = newCheck(QStringLiteral("errors"), QStringLiteral("only allowed answers"));
        QStringList seen;
        Offences bad(QStringLiteral("answer types not in --allow-types"));
        for (auto it = in.report->byType.cbegin(); it != in.report->byType.cend(); ++it) {
            seen << QStringLiteral("%1 %2").arg(it.key()).arg(it.value());
            // The load's successes: a booking or checkout held (accepted), a purchase confirmed,
            // a proof-of-work challenge issued.
            // With a waiting room also a join answered (joined) and a poll answered (its state,
            // queue:queued, queue:sold-out, ...).
            static const QStringList successes{
                QStringLiteral("accepted"), QStringLiteral("confirmed"),
                QStringLiteral("challenge"), QStringLiteral("joined")};
            if (!successes.contains(it.key()) && !it.key().startsWith(QLatin1String("queue:"))
                && it.value() > 0 && !allowed(it.key(), options.allowTypes))
                bad.add(QStringLiteral("%1 %2").arg(it.key()).arg(it.value()));
        }
        r.summary =
            QStringLiteral("%1 requests: %2; allowed: %3")
                .arg(in.report->requests)
                .arg(seen.join(QStringLiteral(", ")),
                     options.allowTypes.isEmpty() ? QStringLiteral("(none)")
                                                  : options.allowTypes.join(QLatin1Char(',')));
        bad.report(r);
        out << r;
        if (in.report->waitingRoom) {
            // "Every buyer told their outcome" (issue 16): each user of the load ended on an
            // answer that settles it (booked, sold-out, closed, expired, queue-full).
            CheckResult t = newCheck(QStringLiteral("told"), QStringLiteral("every buyer told"));
            qint64 told = 0, untold = 0;
            QStringList parts;
            for (auto it = in.report->told.cbegin(); it != in.report->told.cend(); ++it) {
                told += it.value();
                parts << QStringLiteral("%1 %2").arg(it.key()).arg(it.value());
            }
            Offences never(QStringLiteral("users never told"));
            for (auto it = in.report->untold.cbegin(); it != in.report->untold.cend(); ++it) {
                untold += it.value();
                never.add(QStringLiteral("%1 %2").arg(it.key()).arg(it.value()));
            }
            t.summary = QStringLiteral("%1 of %2 users told their outcome (%3), %4 untold")
                            .arg(told)
                            .arg(in.report->users)
                            .arg(parts.join(QStringLiteral(", ")))
                            .arg(untold);
            never.report(t);
            t.pass = t.pass && untold == 0 && told == in.report->users;
            out << t;
        }
    }
    return out;
}

std::optional<LoadReport> readLoadReport(const QString &path, QString *error) {
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly)) {
        *error = QStringLiteral("cannot read %1: %2").arg(path, f.errorString());
        return std::nullopt;
    }
    QJsonParseError pe;
    const QJsonDocument doc = QJsonDocument::fromJson(f.readAll(), &pe);
    if (!doc.isObject()) {
        *error = QStringLiteral("%1: not a JSON object (%2)").arg(path, pe.errorString());
        return std::nullopt;
    }
    const QJsonObject o = doc.object();
    LoadReport r;
    r.requests = o.value(QLatin1String("requests")).toInteger();
    r.p99Ms =
        o.value(QLatin1String("latency_ms")).toObject().value(QLatin1String("p99")).toDouble(-1);
    r.unknown = o.value(QLatin1String("unknown")).toInteger();
    r.users = o.value(QLatin1String("users")).toInteger();
    const QJsonObject by = o.value(QLatin1String("by_type")).toObject();
    for (auto it = by.begin(); it != by.end(); ++it)
        r.byType.insert(it.key(), it.value().toInteger());
    const QJsonObject wr = o.value(QLatin1String("waiting_room")).toObject();
    r.waitingRoom = !wr.isEmpty();
    for (const auto &[field, into] : {std::pair{QLatin1String("told"), &r.told},
                                      std::pair{QLatin1String("untold"), &r.untold}}) {
        const QJsonObject counts = wr.value(field).toObject();
        for (auto it = counts.begin(); it != counts.end(); ++it)
            into->insert(it.key(), it.value().toInteger());
    }
    return r;
}

} // namespace flashsale::bench
