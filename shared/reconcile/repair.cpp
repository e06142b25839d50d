#include "repair.h"

#include "booking/salekeys.h"
#include "pg/pgarray.h"
#include "reconcile/job.h"
#include "reconcile/snapshotreader.h"

#include <QDateTime>
#include <QElapsedTimer>
#include <QTimer>

#include <algorithm>

namespace flashsale::reconcile {

namespace {

constexpr int kPollMs = 100;        // re-enqueued orders: PostgreSQL polled this often...
constexpr int kPollLimitMs = 10000; // ...for this long

QString signedNumber(qint64 n) {
    return (n > 0 ? QStringLiteral("+") : QString()) + QString::number(n);
}

class Repairer final : public Job<Repairer, QJsonArray> {
public:
    Repairer(PgConnection &pg, RedisCommands &redis, qint64 saleId, const Snapshot &snapshot,
             const Analysis &analysis, Done done)
        : Job(pg, redis, std::move(done))
        , m_sale(saleId)
        , m_keys(saleId)
        , m_subject(QStringLiteral("sale %1").arg(saleId))
        , m_warm(snapshot.warm)
        , m_analysis(analysis) {
        keep(snapshot);
        for (const QByteArray &rid : analysis.holdLost)
            m_reservations.insert(rid, snapshot.reservations.value(rid));
        for (const QByteArray &rid : analysis.holdRestore)
            m_reservations.insert(rid, snapshot.reservations.value(rid));
    }

    void start() { repairHolds(); }

private:
    void keep(const Snapshot &snapshot) {
        for (const QByteArray &rid : m_analysis.missing)
            m_reservations.insert(rid, snapshot.reservations.value(rid));
        for (const QByteArray &rid : m_analysis.unreleased)
            m_reservations.insert(rid, snapshot.reservations.value(rid));
    }

    // Step 0 (issue 20): orders whose hold Redis lost. A pending, unpaid one is ended: its hold
    // is declared lost in Redis after an atomic recheck (lua/mark_lost.lua; a hold that is back
    // is left alone), then cancelled as 'hold-lost' through the cancel path every cancellation
    // takes (flashsale_cancel_pending: inventory.sold, history, the order.cancelled event and so
    // the buyer's notification). A paid or paying one keeps its order and gets its hold back
    // (lua/restore_hold.lua). The sale is then read again, and the counters are repaired from
    // that second reading: what the first one measured no longer holds.
    void repairHolds() {
        if (m_analysis.holdLost.isEmpty() && m_analysis.holdRestore.isEmpty())
            return repairCounters();
        if (!m_warm) {
            add(QStringLiteral("skip_holds"), m_subject,
                QStringLiteral(
                    "the sale is not in Redis; %1 orders without a hold left as they are")
                    .arg(m_analysis.holdLost.size() + m_analysis.holdRestore.size()));
            return repairCounters();
        }
        static const RedisScript markLost = RedisScript::load(QStringLiteral("mark_lost"));
        static const RedisScript restoreHold = RedisScript::load(QStringLiteral("restore_hold"));
        auto lost = std::make_shared<QList<QByteArray>>();     // order ids to cancel
        auto lostRids = std::make_shared<QList<QByteArray>>(); // and their reservations
        auto present = std::make_shared<QList<QByteArray>>();
        auto restored = std::make_shared<QList<QByteArray>>();
        auto left =
            std::make_shared<qsizetype>(m_analysis.holdLost.size() + m_analysis.holdRestore.size());
        // Once every script answered (EVALSHA may fall back to EVAL, so not by a PING).
        auto answered = [self = shared_from_this(), lost, lostRids, present, restored, left] {
            if (--*left > 0)
                return;
            self->afterHolds(*lost, *present, *restored);
        };
        const qint64 now = QDateTime::currentMSecsSinceEpoch();
        for (const QByteArray &rid : std::as_const(m_analysis.holdLost)) {
            const Reservation &r = m_reservations[rid];
            eval(markLost,
                 {m_keys.reservation(rid), m_keys.released(), m_keys.meta(), m_keys.stock()},
                 {rid, QByteArray::number(r.qty)},
                 [lost, lostRids, present, rid, id = r.orderId, answered](const RedisValue &v) {
                     const QByteArray outcome = v.at(0).bytes();
                     if (outcome == "lost" || outcome == "released") {
                         *lost << QByteArray::number(id);
                         *lostRids << rid;
                     } else {
                         *present << rid;
                     }
                     answered();
                 });
        }
        for (const QByteArray &rid : std::as_const(m_analysis.holdRestore)) {
            const Reservation &r = m_reservations[rid];
            const qint64 lifetime = qMax<qint64>(r.expiresMs - now, 0) + 86400000;
            eval(restoreHold,
                 {m_keys.reservation(rid), m_keys.released(), m_keys.reservations(), m_keys.stock(),
                  m_keys.users(), m_keys.meta()},
                 {rid, QByteArray::number(r.item), r.user, QByteArray::number(r.qty),
                  QByteArray::number(r.qty > 0 ? r.amountCents / r.qty : 0),
                  QByteArray::number(r.expiresMs), QByteArray::number(lifetime)},
                 [restored, present, rid, answered](const RedisValue &v) {
                     if (v.at(0).bytes() == "restored")
                         *restored << rid;
                     else
                         *present << rid;
                     answered();
                 });
        }
    }

    void afterHolds(const QList<QByteArray> &lost, const QList<QByteArray> &present,
                    const QList<QByteArray> &restored) {
        if (!restored.isEmpty())
            add(QStringLiteral("restore_hold"), m_subject,
                QStringLiteral("%1 paid or paying orders got their hold back in Redis: %2")
                    .arg(restored.size())
                    .arg(ridList(restored)));
        if (!present.isEmpty())
            add(QStringLiteral("hold_present"), m_subject,
                QStringLiteral("the hold is in Redis again, order left alone: %1")
                    .arg(ridList(present)));
        if (lost.isEmpty())
            return measureAgain();
        pg("SELECT reservation_id FROM flashsale_cancel_pending($1::bigint[], 'hold-lost')",
           {pgArray(lost)}, [self = shared_from_this()](const PgResult &r) {
               QList<QByteArray> cancelled;
               for (const auto &row : r.rows)
                   cancelled << row.value(0);
               std::sort(cancelled.begin(), cancelled.end());
               self->add(QStringLiteral("cancel_hold_lost"), self->m_subject,
                         QStringLiteral("%1 pending orders whose hold Redis lost cancelled "
                                        "(hold-lost, buyer notified): %2")
                             .arg(cancelled.size())
                             .arg(ridList(cancelled)));
               self->measureAgain();
           });
    }

    void measureAgain() {
        if (!connected())
            return failGone();
        readSnapshot(*m_pg, *m_redis, m_sale,
                     [self = shared_from_this()](const Result<Snapshot> &s) {
                         if (self->ended())
                             return;
                         if (!s)
                             return self->fail(s.error().code, s.error().message);
                         self->m_analysis = analyse(self->m_sale, *s);
                         self->m_warm = s->warm;
                         self->keep(*s);
                         self->repairCounters();
                     });
    }

    void add(const QString &action, const QString &subject, const QString &detail) {
        m_repairs.append(QJsonObject{{QStringLiteral("action"), action},
                                     {QStringLiteral("subject"), subject},
                                     {QStringLiteral("detail"), detail}});
    }

    // Redis counters from PostgreSQL: the measured drift, applied as deltas, so bookings and
    // releases since the measurement are kept.
    void repairCounters() {
        const Analysis &a = m_analysis;
        if (a.stockDelta.isEmpty() && a.userDelta.isEmpty() && a.unreleased.isEmpty())
            return repairSold();
        if (!m_warm) {
            add(QStringLiteral("skip_counters"), m_subject,
                QStringLiteral("the sale is not in Redis; warm it, then reconcile again"));
            return repairSold();
        }
        QList<QByteArray> keys{m_keys.stock(), m_keys.users(), m_keys.released(), m_keys.meta()};
        QList<QByteArray> args{QByteArray::number(a.stockDelta.size()),
                               QByteArray::number(a.userDelta.size()),
                               QByteArray::number(a.unreleased.size())};
        for (auto it = a.stockDelta.cbegin(); it != a.stockDelta.cend(); ++it) {
            args << QByteArray::number(it.key()) << QByteArray::number(it.value());
            add(QStringLiteral("adjust_counter"), QStringLiteral("item %1").arg(it.key()),
                QStringLiteral("remaining %1").arg(signedNumber(it.value())));
        }
        int userRows = 0;
        for (auto it = a.userDelta.cbegin(); it != a.userDelta.cend(); ++it) {
            args << it.key() << QByteArray::number(it.value());
            if (userRows++ < kMaxUserRows)
                add(QStringLiteral("adjust_counter"),
                    QStringLiteral("user %1").arg(QString::fromUtf8(it.key())),
                    QStringLiteral("held %1").arg(signedNumber(it.value())));
        }
        for (const QByteArray &rid : a.unreleased) {
            const Reservation &r = m_reservations[rid];
            keys << m_keys.reservation(rid);
            args << rid << QByteArray::number(r.item) << r.user << QByteArray::number(r.qty);
        }
        if (!a.unreleased.isEmpty())
            add(QStringLiteral("mark_released"), m_subject,
                QStringLiteral("cancelled in PostgreSQL, now released in Redis too (so a later "
                               "release cannot return them twice): %1")
                    .arg(ridList(a.unreleased)));
        if (a.userDelta.size() > kMaxUserRows)
            add(QStringLiteral("adjust_counter"), m_subject,
                QStringLiteral("and %1 more users").arg(a.userDelta.size() - kMaxUserRows));
        static const RedisScript apply = RedisScript::load(QStringLiteral("reconcile_apply"));
        eval(apply, keys, args,
             [self = shared_from_this()](const RedisValue &) { self->repairSold(); });
    }

    // inventory.sold from the orders. Done before re-enqueueing too, not only after: the worker
    // adds a re-created order's units to sold, and with sold still counting the lost order that
    // insert would break inventory_no_oversell on a sold-out item (and the worker would
    // dead-letter the order). After the rebuild, sold counts exactly the orders there are, and
    // every insert adds its own units.
    void repairSold() {
        if (!m_analysis.soldDrift)
            return reenqueue();
        rebuildSold([self = shared_from_this()] { self->reenqueue(); });
    }

    void rebuildSold(std::function<void()> next) {
        pg("SELECT * FROM flashsale_rebuild_sold($1)", {QByteArray::number(m_sale)},
           [self = shared_from_this(), next](const PgResult &r) {
               for (const auto &row : r.rows)
                   self->add(QStringLiteral("rebuild_sold"),
                             QStringLiteral("item %1").arg(QString::fromLatin1(row[0])),
                             QStringLiteral("inventory.sold %1 -> %2")
                                 .arg(QString::fromLatin1(row[1]), QString::fromLatin1(row[2])));
               next();
           });
    }

    // Lost bookings back onto the stream. The worker inserts ON CONFLICT DO NOTHING on the
    // reservation id, so an entry that turns out to be a duplicate changes nothing.
    void reenqueue() {
        QList<QByteArray> sent;
        QList<QByteArray> unusable;
        for (const QByteArray &rid : std::as_const(m_analysis.missing)) {
            const Reservation &r = m_reservations[rid];
            if (r.bookEntry.fields.isEmpty()) {
                unusable << rid;
                continue;
            }
            redis(r.bookEntry.xadd(), [](const RedisValue &) {});
            // The buyer had confirmed: mark the re-created order as paying, as the original
            // confirm entry did not find it.
            if (r.confirmed)
                redis(StreamEntry::confirm(m_sale, rid, QDateTime::currentMSecsSinceEpoch()).xadd(),
                      [](const RedisValue &) {});
            sent << rid;
        }
        if (!unusable.isEmpty())
            add(QStringLiteral("reenqueue_skipped"), m_subject,
                QStringLiteral("no fields left to rebuild the booking from: %1")
                    .arg(ridList(unusable)));
        if (sent.isEmpty())
            return finish(m_repairs);
        add(QStringLiteral("reenqueue"), m_subject,
            QStringLiteral("%1 bookings appended to the stream again: %2")
                .arg(sent.size())
                .arg(ridList(sent)));
        m_waiting.start();
        // Behind the XADDs on the same connection: they are all answered when this is.
        redis({"PING"},
              [self = shared_from_this(), sent](const RedisValue &) { self->awaitOrders(sent); });
    }

    void awaitOrders(const QList<QByteArray> &rids) {
        pg("SELECT count(*) FROM orders WHERE reservation_id = ANY ($1::text[])", {pgArray(rids)},
           [self = shared_from_this(), rids](const PgResult &r) {
               const qint64 persisted = r.rows.value(0).value(0).toLongLong();
               if (persisted >= rids.size()) {
                   self->add(QStringLiteral("orders_persisted"), self->m_subject,
                             QStringLiteral("%1 re-enqueued orders written by the worker after "
                                            "%2 ms")
                                 .arg(persisted)
                                 .arg(self->m_waiting.elapsed()));
                   // Now that they are in, count sold once more from the orders (a no-op
                   // unless something else moved it meanwhile).
                   return self->rebuildSold([self] { self->finish(self->m_repairs); });
               }
               if (self->m_waiting.elapsed() >= kPollLimitMs) {
                   self->add(QStringLiteral("orders_not_persisted"), self->m_subject,
                             QStringLiteral("%1 of %2 re-enqueued orders not in PostgreSQL after "
                                            "%3 s; is a worker running? inventory.sold not "
                                            "rebuilt again")
                                 .arg(rids.size() - persisted)
                                 .arg(rids.size())
                                 .arg(kPollLimitMs / 1000));
                   return self->finish(self->m_repairs);
               }
               if (!self->connected())
                   return self->failGone();
               QTimer::singleShot(kPollMs, self->m_pg.data(),
                                  [self, rids] { self->awaitOrders(rids); });
           });
    }

    const qint64 m_sale;
    const SaleKeys m_keys;
    const QString m_subject; // "sale ID"
    bool m_warm;
    Analysis m_analysis;
    // The missing and the cancelled-but-unreleased reservations, with their fields.
    QHash<QByteArray, Reservation> m_reservations;
    QJsonArray m_repairs;
    QElapsedTimer m_waiting;
};

} // namespace

void repair(PgConnection &pg, RedisCommands &redis, qint64 saleId, const Snapshot &snapshot,
            const Analysis &analysis, std::function<void(const Result<QJsonArray> &)> done) {
    std::make_shared<Repairer>(pg, redis, saleId, snapshot, analysis, std::move(done))->start();
}

} // namespace flashsale::reconcile
