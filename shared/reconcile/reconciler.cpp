#include "reconciler.h"

#include "audit/audit.h"
#include "booking/salekeys.h"
#include "core/timeformat.h"
#include "pg/pgarray.h"
#include "pg/pgconnection.h"
#include "redis/redisclient.h"

#include <QDateTime>
#include <QElapsedTimer>
#include <QHash>
#include <QJsonArray>
#include <QJsonDocument>
#include <QLoggingCategory>
#include <QMap>
#include <QPointer>
#include <QRandomGenerator>
#include <QSet>
#include <QTimer>

#include <compare>
#include <memory>

namespace flashsale {

Q_LOGGING_CATEGORY(lcReconcile, "flashsale.reconcile", QtInfoMsg)

namespace {

constexpr int kStreamChunk = 5000; // XRANGE / XPENDING entries per command
constexpr int kScanCount = 1000;
constexpr int kResChunk = 1000;     // HMGETs of reservation hashes in flight at once
constexpr int kMaxRids = 50;        // reservation ids listed in one row's detail
constexpr int kMaxUserRows = 20;    // per-user rows in the report
constexpr int kMaxItemRows = 200;   // per-item rows (per check) in the report
constexpr int kPollMs = 100;        // re-enqueued orders: PostgreSQL polled this often...
constexpr int kPollLimitMs = 10000; // ...for this long
constexpr int kLockMs = 120000;     // a crashed repair's lock ends by itself after this

// A stream id "ms-seq", ordered as Redis orders them.
struct StreamId {
    quint64 ms = 0;
    quint64 seq = 0;

    static StreamId parse(const QByteArray &text) {
        const qsizetype dash = text.indexOf('-');
        StreamId id;
        id.ms = text.left(dash < 0 ? text.size() : dash).toULongLong();
        id.seq = dash < 0 ? 0 : text.mid(dash + 1).toULongLong();
        return id;
    }
    auto operator<=>(const StreamId &) const = default;
};

using Fields = QList<QPair<QByteArray, QByteArray>>;

// Everything known of one reservation id, from the three places it can be seen.
struct Reservation {
    QByteArray user;
    qint64 item = 0;
    qint64 qty = 0;
    Fields bookFields; // the book entry's fields, or rebuilt from the res hash, for re-enqueue
    bool inStream = false;
    bool inRes = false;
    bool inPg = false;
    bool inFlight = false; // a stream entry of it was pending or not yet delivered at T0
    bool confirmed = false;
    QByteArray pgStatus;
};

struct InventoryRow {
    qint64 stock = 0;
    qint64 sold = 0;
};

struct Snapshot {
    // T0: the consumer group.
    bool hasGroup = false;
    StreamId lastDelivered;
    QSet<QByteArray> pending; // PEL entry ids
    // T1: PostgreSQL, one REPEATABLE READ transaction.
    qint64 holdMs = 0;
    QMap<qint64, InventoryRow> inventory;
    // T2: Redis counters, read atomically with the stream's last id.
    bool warm = false;
    QHash<QByteArray, qint64> stock;
    QHash<QByteArray, qint64> users;
    QSet<QByteArray> released;
    QByteArray streamEnd; // last entry id at T2 ("" = empty stream)
    qint64 streamEntries = 0;
    qint64 resKeys = 0;
    qint64 resLater = 0; // res keys of bookings made after T2, left for the next run
    QHash<QByteArray, Reservation> reservations;
};

// What the checks found, and what repairing it takes.
struct Analysis {
    QJsonArray rows;
    bool ok = true;
    QMap<qint64, qint64> stockDelta;    // item -> expected - found (non-zero only)
    QMap<QByteArray, qint64> userDelta; // user -> expected - found (non-zero only)
    QList<QByteArray> missing;          // reservation ids without an order, not in flight
    QList<QByteArray> unreleased;       // cancelled in PostgreSQL, not released in Redis
    bool soldDrift = false;
    QJsonObject stats;
};

QJsonObject row(const QString &check, const QString &subject, qint64 expected, qint64 found,
                const QString &detail) {
    return {{QStringLiteral("check"), check},
            {QStringLiteral("subject"), subject},
            {QStringLiteral("expected"), expected},
            {QStringLiteral("found"), found},
            {QStringLiteral("drift"), found - expected},
            {QStringLiteral("detail"), detail}};
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

QByteArray field(const Fields &fields, const QByteArray &name) {
    for (const auto &f : fields) {
        if (f.first == name)
            return f.second;
    }
    return {};
}

Fields pairsOf(const RedisValue &flat) {
    Fields out;
    for (qsizetype i = 0; i + 1 < flat.elements.size(); i += 2)
        out.append({flat.elements[i].bytes(), flat.elements[i + 1].bytes()});
    return out;
}

// Units are taken while a reservation is accepted somewhere, not released in Redis and not
// cancelled in PostgreSQL.
bool taken(const Reservation &r, const QByteArray &rid, const Snapshot &s) {
    return (r.inStream || r.inRes || r.inPg) && !s.released.contains(rid)
           && r.pgStatus != "cancelled" && r.qty > 0;
}

Analysis analyse(qint64 saleId, const Snapshot &s) {
    Analysis a;
    const QString sale = QStringLiteral("sale %1").arg(saleId);

    QHash<qint64, qint64> takenByItem;
    QHash<QByteArray, qint64> takenByUser;
    QHash<qint64, qint64> activeOrderUnits;
    QList<QByteArray> missing, withoutRedis;
    qint64 inFlight = 0, orders = 0;
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
                if (!r.inStream && !r.inRes)
                    withoutRedis << it.key();
            }
        } else if (r.inStream || r.inRes) {
            if (r.inFlight)
                ++inFlight;
            else
                missing << it.key();
        }
    }
    std::sort(missing.begin(), missing.end());
    std::sort(a.unreleased.begin(), a.unreleased.end());
    std::sort(withoutRedis.begin(), withoutRedis.end());

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
            withoutRedis.isEmpty() ? QString()
                                   : QStringLiteral("no stream entry and no reservation hash: %1")
                                         .arg(ridList(withoutRedis))));

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

    a.stats = {{QStringLiteral("reservations"), qint64(s.reservations.size())},
               {QStringLiteral("orders"), orders},
               {QStringLiteral("stream_entries"), s.streamEntries},
               {QStringLiteral("res_keys"), s.resKeys},
               {QStringLiteral("released"), qint64(s.released.size())},
               {QStringLiteral("in_flight"), inFlight},
               {QStringLiteral("later_than_snapshot"), s.resLater}};
    return a;
}

QJsonArray driftRows(const QJsonArray &rows) {
    QJsonArray out;
    for (const QJsonValue &r : rows) {
        if (r.toObject().value(QStringLiteral("drift")).toInteger() != 0)
            out.append(r);
    }
    return out;
}

// "operator" or "schedule": the trigger as reconcile_runs and the report spell it.
QString triggerText(Reconciler::Trigger trigger) {
    switch (trigger) {
    case Reconciler::Trigger::Operator:
        return QStringLiteral("operator");
    case Reconciler::Trigger::Schedule:
        return QStringLiteral("schedule");
    }
    return QStringLiteral("operator");
}

QString redisError(const Result<RedisValue> &r) {
    return r ? QString::fromUtf8(r->string) : r.error().message;
}

} // namespace

// One run: a chain of asynchronous steps that keeps itself alive through the callbacks it hands
// out. It ends by calling `done` once, unless the Reconciler was destroyed meanwhile.
class ReconcileRun : public std::enable_shared_from_this<ReconcileRun> {
public:
    ReconcileRun(PgConnection &pg, RedisClient &redis, qint64 saleId, Reconciler::Options options,
                 std::function<void(const Result<QJsonObject> &)> done, std::weak_ptr<int> owner)
        : m_pg(&pg)
        , m_redis(&redis)
        , m_sale(saleId)
        , m_keys(saleId)
        , m_options(std::move(options))
        , m_done(std::move(done))
        , m_owner(std::move(owner)) {}

    void start() {
        m_startedMs = QDateTime::currentMSecsSinceEpoch();
        if (!m_options.repair) {
            collect([self = shared_from_this()](Snapshot s) {
                self->m_first = analyse(self->m_sale, s);
                self->m_final = self->m_first;
                self->store();
            });
            return;
        }
        lock();
    }

private:
    using Next = std::function<void(Snapshot)>;

    bool alive() const { return !m_owner.expired() && m_pg && m_redis; }

    void finish(const Result<QJsonObject> &result) {
        if (m_finished)
            return;
        m_finished = true;
        if (!result)
            qCWarning(lcReconcile).noquote()
                << "sale" << m_sale << "reconciliation failed:" << result.error().message;
        if (m_locked && m_redis) {
            static const RedisScript unlock = RedisScript::load(QStringLiteral("reconcile_unlock"));
            m_redis->eval(unlock, {lockKey()}, {m_token}, [](const Result<RedisValue> &) {});
        }
        if (!m_owner.expired() && m_done)
            m_done(result);
    }
    void failWith(ErrorCode code, const QString &message) { finish(fail(code, message)); }

    QByteArray lockKey() const { return m_keys.reconcileLock(); }

    // Redis command with the common failure handling: a transport failure or an error reply
    // ends the run, unless `allowError` accepts the error reply.
    void redis(const QList<QByteArray> &argv, std::function<void(const RedisValue &)> next,
               std::function<bool(const RedisValue &)> allowError = {}) {
        if (!alive()) {
            failWith(ErrorCode::Unavailable, QStringLiteral("connection gone"));
            return;
        }
        m_redis->command(argv, [self = shared_from_this(), argv, next = std::move(next),
                                allowError = std::move(allowError)](const Result<RedisValue> &r) {
            if (self->m_finished)
                return;
            if (!r) {
                self->failWith(r.error().code,
                               QStringLiteral("Redis %1: %2")
                                   .arg(QString::fromLatin1(argv.first()), r.error().message));
                return;
            }
            if (r->isError() && !(allowError && allowError(*r))) {
                self->failWith(ErrorCode::Internal,
                               QStringLiteral("Redis %1: %2")
                                   .arg(QString::fromLatin1(argv.first()), redisError(r)));
                return;
            }
            next(*r);
        });
    }

    void pg(const QByteArray &sql, const QList<QByteArray> &params,
            std::function<void(const PgResult &)> next) {
        if (!alive()) {
            failWith(ErrorCode::Unavailable, QStringLiteral("connection gone"));
            return;
        }
        m_pg->query(sql, params,
                    [self = shared_from_this(), next = std::move(next)](const Result<PgResult> &r) {
                        if (self->m_finished)
                            return;
                        if (!r) {
                            self->failWith(r.error().code,
                                           QStringLiteral("PostgreSQL: ") + r.error().message);
                            return;
                        }
                        next(*r);
                    });
    }

    // Repairs of one sale must not overlap: each applies deltas measured before it started.
    void lock() {
        m_token = QByteArray::number(QRandomGenerator::global()->generate64(), 16);
        redis(
            {"SET", lockKey(), m_token, "NX", "PX", QByteArray::number(kLockMs)},
            [self = shared_from_this()](const RedisValue &v) {
                if (v.isNil()) {
                    self->failWith(
                        ErrorCode::Conflict,
                        QStringLiteral("a repair of sale %1 is already running").arg(self->m_sale));
                    return;
                }
                self->m_locked = true;
                self->collect([self](Snapshot s) {
                    self->m_first = analyse(self->m_sale, s);
                    self->m_warm = s.warm;
                    for (const QByteArray &rid : std::as_const(self->m_first.missing))
                        self->m_missing.insert(rid, s.reservations.value(rid));
                    for (const QByteArray &rid : std::as_const(self->m_first.unreleased))
                        self->m_missing.insert(rid, s.reservations.value(rid));
                    self->repairCounters();
                });
            });
    }

    // ---- Reading: T0 group state, T1 PostgreSQL, T2 Redis data --------------------------------

    void collect(Next next) {
        auto s = std::make_shared<Snapshot>();
        redis(
            {"XINFO", "GROUPS", m_keys.stream()},
            [self = shared_from_this(), s, next](const RedisValue &v) {
                for (const RedisValue &g : v.elements) {
                    const Fields info = pairsOf(g);
                    if (field(info, "name") == SaleKeys::consumerGroup()) {
                        s->hasGroup = true;
                        s->lastDelivered = StreamId::parse(field(info, "last-delivered-id"));
                    }
                }
                if (!s->hasGroup) {
                    self->readPg(s, next);
                    return;
                }
                self->readPending(s, "-", next);
            },
            [](const RedisValue &v) { return v.string.contains("no such key"); });
    }

    void readPending(std::shared_ptr<Snapshot> s, const QByteArray &from, Next next) {
        redis({"XPENDING", m_keys.stream(), SaleKeys::consumerGroup(), from, "+",
               QByteArray::number(kStreamChunk)},
              [self = shared_from_this(), s, next](const RedisValue &v) {
                  QByteArray last;
                  for (const RedisValue &p : v.elements) {
                      last = p.at(0).bytes();
                      s->pending.insert(last);
                  }
                  if (v.elements.size() < kStreamChunk) {
                      self->readPg(s, next);
                      return;
                  }
                  self->readPending(s, "(" + last, next);
              });
    }

    void readPg(std::shared_ptr<Snapshot> s, Next next) {
        if (!alive()) {
            failWith(ErrorCode::Unavailable, QStringLiteral("connection gone"));
            return;
        }
        // One snapshot for all three reads; queued together, so nothing else that shares the
        // connection can run inside this transaction.
        const QList<QByteArray> sale{QByteArray::number(m_sale)};
        auto failed = std::make_shared<std::optional<Error>>();
        auto keep = [failed](const Result<PgResult> &r) {
            if (!r && !*failed)
                *failed = r.error();
            return bool(r);
        };
        m_pg->query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", {},
                    [keep](const Result<PgResult> &r) { keep(r); });
        m_pg->query("SELECT hold_seconds FROM sales WHERE id = $1", sale,
                    [s, keep](const Result<PgResult> &r) {
                        if (keep(r) && !r->rows.isEmpty())
                            s->holdMs = r->rows[0][0].toLongLong() * 1000;
                    });
        m_pg->query("SELECT item_id, stock, sold FROM inventory WHERE sale_id = $1", sale,
                    [s, keep](const Result<PgResult> &r) {
                        if (!keep(r))
                            return;
                        for (const auto &row : r->rows)
                            s->inventory.insert(row[0].toLongLong(),
                                                {row[1].toLongLong(), row[2].toLongLong()});
                    });
        m_pg->query("SELECT reservation_id, item_id, user_id, quantity, status FROM orders "
                    "WHERE sale_id = $1",
                    sale, [s, keep](const Result<PgResult> &r) {
                        if (!keep(r))
                            return;
                        for (const auto &row : r->rows) {
                            Reservation &res = s->reservations[row[0]];
                            res.inPg = true;
                            res.item = row[1].toLongLong();
                            res.user = row[2];
                            res.qty = row[3].toLongLong();
                            res.pgStatus = row[4];
                        }
                    });
        m_pg->query("COMMIT", {},
                    [self = shared_from_this(), s, next, failed](const Result<PgResult> &r) {
                        if (self->m_finished)
                            return;
                        if (!*failed && !r)
                            *failed = r.error();
                        if (*failed) {
                            self->failWith((*failed)->code,
                                           QStringLiteral("PostgreSQL: ") + (*failed)->message);
                            return;
                        }
                        if (s->holdMs == 0) {
                            self->failWith(ErrorCode::NotFound,
                                           QStringLiteral("no sale %1").arg(self->m_sale));
                            return;
                        }
                        self->readCounters(s, next);
                    });
    }

    void readCounters(std::shared_ptr<Snapshot> s, Next next) {
        if (!alive()) {
            failWith(ErrorCode::Unavailable, QStringLiteral("connection gone"));
            return;
        }
        // Counters, released set and the stream's end in one transaction: every booking and
        // release before it is in both the counters and the stream (up to streamEnd), none after.
        // Sent back to back from this thread, so no other command on the client lands inside.
        const QList<QList<QByteArray>> commands{
            {"MULTI"},
            {"EXISTS", m_keys.meta()},
            {"HGETALL", m_keys.stock()},
            {"HGETALL", m_keys.users()},
            {"SMEMBERS", m_keys.released()},
            {"XREVRANGE", m_keys.stream(), "+", "-", "COUNT", "1"}};
        for (const auto &c : commands)
            m_redis->command(c, [](const Result<RedisValue> &) {});
        redis({"EXEC"}, [self = shared_from_this(), s, next](const RedisValue &v) {
            if (!v.isArray() || v.elements.size() != 5) {
                self->failWith(ErrorCode::Protocol, QStringLiteral("Redis EXEC: unexpected reply"));
                return;
            }
            s->warm = v.at(0).toInt() == 1;
            for (const auto &[k, val] : pairsOf(v.at(1)))
                s->stock.insert(k, val.toLongLong());
            for (const auto &[k, val] : pairsOf(v.at(2)))
                s->users.insert(k, val.toLongLong());
            for (const RedisValue &m : v.at(3).elements)
                s->released.insert(m.bytes());
            s->streamEnd = v.at(4).at(0).at(0).bytes();
            if (s->streamEnd.isEmpty()) {
                self->scanRes(s, "0", next);
                return;
            }
            self->readStream(s, "-", next);
        });
    }

    void readStream(std::shared_ptr<Snapshot> s, const QByteArray &from, Next next) {
        redis({"XRANGE", m_keys.stream(), from, s->streamEnd, "COUNT",
               QByteArray::number(kStreamChunk)},
              [self = shared_from_this(), s, next](const RedisValue &v) {
                  QByteArray last;
                  for (const RedisValue &e : v.elements) {
                      last = e.at(0).bytes();
                      ++s->streamEntries;
                      self->addEntry(*s, last, pairsOf(e.at(1)));
                  }
                  if (v.elements.size() < kStreamChunk || last == s->streamEnd) {
                      self->scanRes(s, "0", next);
                      return;
                  }
                  self->readStream(s, "(" + last, next);
              });
    }

    void addEntry(Snapshot &s, const QByteArray &id, const Fields &fields) {
        const QByteArray type = field(fields, "type");
        const QByteArray rid = field(fields, "rid");
        if (rid.isEmpty())
            return;
        if (type == "confirm") {
            s.reservations[rid].confirmed = true;
            return;
        }
        if (type != "book")
            return;
        Reservation &r = s.reservations[rid];
        const StreamId sid = StreamId::parse(id);
        if (!s.hasGroup || sid > s.lastDelivered || s.pending.contains(id))
            r.inFlight = true;
        if (!r.inStream) {
            r.inStream = true;
            r.bookFields = fields;
            if (!r.inPg) {
                r.user = field(fields, "user");
                r.item = field(fields, "item").toLongLong();
                r.qty = field(fields, "qty").toLongLong();
            }
        }
    }

    void scanRes(std::shared_ptr<Snapshot> s, const QByteArray &cursor, Next next) {
        // The sale's index of accepted reservation ids (book.lua adds each one), read in chunks:
        // O(the sale's bookings), where a SCAN of the keyspace would be O(every key in Redis).
        redis({"SSCAN", m_keys.reservations(), cursor, "COUNT", QByteArray::number(kScanCount)},
              [self = shared_from_this(), s, next](const RedisValue &v) {
                  for (const RedisValue &k : v.at(1).elements) {
                      const QByteArray rid = k.bytes();
                      ++s->resKeys;
                      Reservation &r = s->reservations[rid];
                      r.inRes = true;
                  }
                  const QByteArray nextCursor = v.at(0).bytes();
                  if (nextCursor != "0") {
                      self->scanRes(s, nextCursor, next);
                      return;
                  }
                  QList<QByteArray> resOnly;
                  for (auto it = s->reservations.cbegin(); it != s->reservations.cend(); ++it) {
                      if (it->inRes && !it->inStream)
                          resOnly << it.key();
                  }
                  if (resOnly.isEmpty()) {
                      next(*s);
                      return;
                  }
                  self->readTailEnd(s, resOnly, next);
              });
    }

    // A res key without a book entry up to streamEnd is either a booking made after T2 (its
    // entry is then further on in the stream: book.lua writes both at once) or one whose entry
    // was lost. Read the stream from streamEnd to its end now to tell them apart.
    void readTailEnd(std::shared_ptr<Snapshot> s, QList<QByteArray> resOnly, Next next) {
        redis({"XREVRANGE", m_keys.stream(), "+", "-", "COUNT", "1"},
              [self = shared_from_this(), s, resOnly, next](const RedisValue &v) {
                  const QByteArray end = v.at(0).at(0).bytes();
                  auto later = std::make_shared<QSet<QByteArray>>();
                  if (end.isEmpty() || end == s->streamEnd) {
                      self->readResHashes(s, resOnly, 0, next);
                      return;
                  }
                  self->readTail(s, resOnly, later,
                                 s->streamEnd.isEmpty() ? QByteArray("-") : "(" + s->streamEnd, end,
                                 next);
              });
    }

    void readTail(std::shared_ptr<Snapshot> s, QList<QByteArray> resOnly,
                  std::shared_ptr<QSet<QByteArray>> later, const QByteArray &from,
                  const QByteArray &end, Next next) {
        redis({"XRANGE", m_keys.stream(), from, end, "COUNT", QByteArray::number(kStreamChunk)},
              [self = shared_from_this(), s, resOnly, later, end, next](const RedisValue &v) {
                  QByteArray last;
                  for (const RedisValue &e : v.elements) {
                      last = e.at(0).bytes();
                      const Fields f = pairsOf(e.at(1));
                      if (field(f, "type") == "book")
                          later->insert(field(f, "rid"));
                  }
                  if (v.elements.size() == kStreamChunk && last != end) {
                      self->readTail(s, resOnly, later, "(" + last, end, next);
                      return;
                  }
                  QList<QByteArray> lost;
                  for (const QByteArray &rid : resOnly) {
                      if (!later->contains(rid)) {
                          lost << rid;
                          continue;
                      }
                      // Not part of this snapshot: neither its counters nor its entry are.
                      ++s->resLater;
                      Reservation &r = s->reservations[rid];
                      r.inRes = false;
                      if (!r.inPg && !r.confirmed)
                          s->reservations.remove(rid);
                  }
                  self->readResHashes(s, lost, 0, next);
              });
    }

    // The reservation hashes of the res-only ids: what they hold is all that is left of them.
    void readResHashes(std::shared_ptr<Snapshot> s, QList<QByteArray> rids, qsizetype from,
                       Next next) {
        if (from >= rids.size()) {
            next(*s);
            return;
        }
        const qsizetype to = std::min<qsizetype>(rids.size(), from + kResChunk);
        auto left = std::make_shared<qsizetype>(to - from);
        for (qsizetype i = from; i < to; ++i) {
            const QByteArray rid = rids[i];
            redis({"HMGET", m_keys.reservation(rid), "user", "item", "qty", "price", "status",
                   "expires_ms"},
                  [self = shared_from_this(), s, rids, to, left, rid, next](const RedisValue &v) {
                      Reservation &r = s->reservations[rid];
                      if (!v.at(0).isNil()) {
                          if (!r.inPg) {
                              r.user = v.at(0).bytes();
                              r.item = v.at(1).toInt();
                              r.qty = v.at(2).toInt();
                          }
                          if (v.at(4).bytes() == "confirmed")
                              r.confirmed = true;
                          const qint64 expires = v.at(5).toInt();
                          // book.lua's "ts" is the acceptance time, expires_ms - hold.
                          r.bookFields = {{"type", "book"},
                                          {"rid", rid},
                                          {"user", v.at(0).bytes()},
                                          {"item", v.at(1).bytes()},
                                          {"qty", v.at(2).bytes()},
                                          {"price", v.at(3).bytes()},
                                          {"ts", QByteArray::number(expires - s->holdMs)},
                                          {"expires_ms", v.at(5).bytes()}};
                      } else {
                          r.inRes = false; // expired between SCAN and now
                          if (!r.inPg)
                              s->reservations.remove(rid);
                      }
                      if (--*left == 0)
                          self->readResHashes(s, rids, to, next);
                  });
        }
    }

    // ---- Repairing ------------------------------------------------------------------------------

    void addRepair(const QString &action, const QString &subject, const QString &detail) {
        m_repairs.append(QJsonObject{{QStringLiteral("action"), action},
                                     {QStringLiteral("subject"), subject},
                                     {QStringLiteral("detail"), detail}});
    }

    // (c) Redis counters from PostgreSQL: the measured drift, applied as deltas.
    void repairCounters() {
        const Analysis &a = m_first;
        if (a.stockDelta.isEmpty() && a.userDelta.isEmpty() && a.unreleased.isEmpty()) {
            repairSold();
            return;
        }
        if (!m_warm) {
            addRepair(QStringLiteral("skip_counters"), QStringLiteral("sale %1").arg(m_sale),
                      QStringLiteral("the sale is not in Redis; warm it, then reconcile again"));
            repairSold();
            return;
        }
        QList<QByteArray> keys{m_keys.stock(), m_keys.users(), m_keys.released()};
        QList<QByteArray> args{QByteArray::number(a.stockDelta.size()),
                               QByteArray::number(a.userDelta.size()),
                               QByteArray::number(a.unreleased.size())};
        for (auto it = a.stockDelta.cbegin(); it != a.stockDelta.cend(); ++it) {
            args << QByteArray::number(it.key()) << QByteArray::number(it.value());
            addRepair(
                QStringLiteral("adjust_counter"), QStringLiteral("item %1").arg(it.key()),
                QStringLiteral("remaining %1%2").arg(it.value() > 0 ? "+" : "").arg(it.value()));
        }
        int userRows = 0;
        for (auto it = a.userDelta.cbegin(); it != a.userDelta.cend(); ++it) {
            args << it.key() << QByteArray::number(it.value());
            if (userRows++ < kMaxUserRows)
                addRepair(
                    QStringLiteral("adjust_counter"),
                    QStringLiteral("user %1").arg(QString::fromUtf8(it.key())),
                    QStringLiteral("held %1%2").arg(it.value() > 0 ? "+" : "").arg(it.value()));
        }
        for (const QByteArray &rid : a.unreleased) {
            const Reservation &r = m_missing[rid];
            keys << m_keys.reservation(rid);
            args << rid << QByteArray::number(r.item) << r.user << QByteArray::number(r.qty);
        }
        if (!a.unreleased.isEmpty())
            addRepair(QStringLiteral("mark_released"), QStringLiteral("sale %1").arg(m_sale),
                      QStringLiteral("cancelled in PostgreSQL, now released in Redis too (so a "
                                     "later release cannot return them twice): %1")
                          .arg(ridList(a.unreleased)));
        if (a.userDelta.size() > kMaxUserRows)
            addRepair(QStringLiteral("adjust_counter"), QStringLiteral("sale %1").arg(m_sale),
                      QStringLiteral("and %1 more users").arg(a.userDelta.size() - kMaxUserRows));
        if (!alive()) {
            failWith(ErrorCode::Unavailable, QStringLiteral("connection gone"));
            return;
        }
        static const RedisScript apply = RedisScript::load(QStringLiteral("reconcile_apply"));
        m_redis->eval(apply, keys, args, [self = shared_from_this()](const Result<RedisValue> &r) {
            if (self->m_finished)
                return;
            if (!r || r->isError()) {
                self->failWith(r ? ErrorCode::Internal : r.error().code,
                               QStringLiteral("Redis reconcile_apply: ") + redisError(r));
                return;
            }
            self->repairSold();
        });
    }

    // (b) inventory.sold from the orders. Done before re-enqueueing too, not only after: the
    // worker adds a re-created order's units to sold, and with sold still counting the lost
    // order that insert would break inventory_no_oversell on a sold-out item (and the worker
    // would dead-letter the order). After the rebuild, sold counts exactly the orders there are,
    // and every insert adds its own units.
    void repairSold() {
        if (!m_first.soldDrift) {
            reenqueue();
            return;
        }
        rebuildSold([self = shared_from_this()] { self->reenqueue(); });
    }

    void rebuildSold(std::function<void()> next) {
        pg("SELECT * FROM flashsale_rebuild_sold($1)", {QByteArray::number(m_sale)},
           [self = shared_from_this(), next](const PgResult &r) {
               for (const auto &row : r.rows) {
                   self->addRepair(
                       QStringLiteral("rebuild_sold"),
                       QStringLiteral("item %1").arg(QString::fromLatin1(row[0])),
                       QStringLiteral("inventory.sold %1 -> %2")
                           .arg(QString::fromLatin1(row[1]), QString::fromLatin1(row[2])));
               }
               next();
           });
    }

    // (a) Lost bookings back onto the stream. The worker inserts ON CONFLICT DO NOTHING on the
    // reservation id, so an entry that turns out to be a duplicate changes nothing.
    void reenqueue() {
        QList<QByteArray> sent;
        QList<QByteArray> unusable;
        for (const QByteArray &rid : std::as_const(m_first.missing)) {
            const Reservation &r = m_missing.value(rid);
            Fields f = r.bookFields;
            if (f.isEmpty()) {
                unusable << rid;
                continue;
            }
            QList<QByteArray> argv{"XADD", m_keys.stream(), "*"};
            for (const auto &[k, v] : f)
                argv << k << v;
            redis(argv, [](const RedisValue &) {});
            if (r.confirmed) {
                // The buyer had confirmed: mark the re-created order as paying, as the original
                // confirm entry did not find it.
                redis({"XADD", m_keys.stream(), "*", "type", "confirm", "rid", rid, "ts",
                       QByteArray::number(QDateTime::currentMSecsSinceEpoch())},
                      [](const RedisValue &) {});
            }
            sent << rid;
        }
        if (!unusable.isEmpty())
            addRepair(QStringLiteral("reenqueue_skipped"), QStringLiteral("sale %1").arg(m_sale),
                      QStringLiteral("no fields left to rebuild the booking from: %1")
                          .arg(ridList(unusable)));
        if (sent.isEmpty()) {
            recheck();
            return;
        }
        addRepair(QStringLiteral("reenqueue"), QStringLiteral("sale %1").arg(m_sale),
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
                   self->addRepair(QStringLiteral("orders_persisted"),
                                   QStringLiteral("sale %1").arg(self->m_sale),
                                   QStringLiteral("%1 re-enqueued orders written by the worker "
                                                  "after %2 ms")
                                       .arg(persisted)
                                       .arg(self->m_waiting.elapsed()));
                   // Now that they are in, count sold once more from the orders (a no-op
                   // unless something else moved it meanwhile).
                   self->rebuildSold([self] { self->recheck(); });
                   return;
               }
               if (self->m_waiting.elapsed() >= kPollLimitMs) {
                   self->addRepair(
                       QStringLiteral("orders_not_persisted"),
                       QStringLiteral("sale %1").arg(self->m_sale),
                       QStringLiteral("%1 of %2 re-enqueued orders not in PostgreSQL after %3 s; "
                                      "is a worker running? inventory.sold not rebuilt again")
                           .arg(rids.size() - persisted)
                           .arg(rids.size())
                           .arg(kPollLimitMs / 1000));
                   self->recheck();
                   return;
               }
               if (!self->alive()) {
                   self->failWith(ErrorCode::Unavailable, QStringLiteral("connection gone"));
                   return;
               }
               QTimer::singleShot(kPollMs, self->m_pg.data(),
                                  [self, rids] { self->awaitOrders(rids); });
           });
    }

    void recheck() {
        collect([self = shared_from_this()](Snapshot s) {
            self->m_final = analyse(self->m_sale, s);
            self->store();
        });
    }

    // ---- Recording ------------------------------------------------------------------------------

    void store() {
        const Analysis &a = m_final;
        QJsonObject report{
            {QStringLiteral("sale_id"), m_sale},
            {QStringLiteral("mode"),
             m_options.repair ? QStringLiteral("repair") : QStringLiteral("dry_run")},
            {QStringLiteral("trigger"), triggerText(m_options.trigger)},
            {QStringLiteral("actor"), m_options.actor},
            {QStringLiteral("started_at"), isoTime(m_startedMs)},
            {QStringLiteral("finished_at"), isoTime(QDateTime::currentMSecsSinceEpoch())},
            {QStringLiteral("ok"), a.ok},
            {QStringLiteral("checks"), a.rows},
            {QStringLiteral("repairs"), m_repairs},
            {QStringLiteral("stats"), a.stats}};
        if (m_options.repair)
            report.insert(QStringLiteral("checks_before"), m_first.rows);
        const QByteArray json = QJsonDocument(report).toJson(QJsonDocument::Compact);
        // The run id is the row's own id, so it goes into the stored report in the same
        // statement.
        pg(R"(WITH n AS (SELECT nextval(pg_get_serial_sequence('reconcile_runs', 'id')) AS id)
INSERT INTO reconcile_runs (id, sale_id, mode, trigger, actor, started_at, ok, report)
SELECT n.id, $1, $2, $3, $4, to_timestamp($5::bigint / 1000.0), $6,
       $7::jsonb || jsonb_build_object('run_id', n.id)
FROM n RETURNING id)",
           {QByteArray::number(m_sale), m_options.repair ? "repair" : "dry_run",
            triggerText(m_options.trigger).toUtf8(), m_options.actor.toUtf8(),
            QByteArray::number(m_startedMs), a.ok ? "true" : "false", json},
           [self = shared_from_this(), report](const PgResult &r) mutable {
               const qint64 runId = r.rows.value(0).value(0).toLongLong();
               report.insert(QStringLiteral("run_id"), runId);
               qCInfo(lcReconcile).noquote()
                   << QStringLiteral("sale %1 reconciled (run %2, %3): %4")
                          .arg(self->m_sale)
                          .arg(runId)
                          .arg(self->m_options.repair ? "repair" : "dry run",
                               self->m_final.ok ? "no drift" : "drift left");
               if (!self->m_options.repair) {
                   self->finish(report);
                   return;
               }
               self->audit(runId, report);
           });
    }

    void audit(qint64 runId, const QJsonObject &report) {
        if (!alive()) {
            failWith(ErrorCode::Unavailable, QStringLiteral("connection gone"));
            return;
        }
        AuditRecord record;
        record.actor = m_options.actor;
        record.action = QStringLiteral("reconcile.repair");
        record.saleId = m_sale;
        record.before = QJsonObject{{QStringLiteral("drift"), driftRows(m_first.rows)}};
        record.after = QJsonObject{{QStringLiteral("drift"), driftRows(m_final.rows)}};
        record.detail = {{QStringLiteral("run_id"), runId},
                         {QStringLiteral("trigger"), triggerText(m_options.trigger)},
                         {QStringLiteral("repairs"), m_repairs}};
        writeAudit(*m_pg, record, [self = shared_from_this(), report](const Result<qint64> &r) {
            if (!r) {
                self->failWith(r.error().code,
                               QStringLiteral("run stored, audit record not written: ")
                                   + r.error().message);
                return;
            }
            self->finish(report);
        });
    }

    QPointer<PgConnection> m_pg;
    QPointer<RedisClient> m_redis;
    qint64 m_sale;
    SaleKeys m_keys;
    Reconciler::Options m_options;
    std::function<void(const Result<QJsonObject> &)> m_done;
    std::weak_ptr<int> m_owner;
    qint64 m_startedMs = 0;
    QByteArray m_token;
    bool m_locked = false;
    bool m_warm = false;
    bool m_finished = false;
    Analysis m_first;
    Analysis m_final;
    // Missing and cancelled-but-unreleased reservations of the first snapshot, with their fields.
    QHash<QByteArray, Reservation> m_missing;
    QJsonArray m_repairs;
    QElapsedTimer m_waiting;
};

struct Reconciler::Impl {
    PgConnection &pg;
    RedisClient &redis;
    std::shared_ptr<int> owner = std::make_shared<int>(0);
};

Reconciler::Reconciler(PgConnection &pg, RedisClient &redis)
    : d(std::make_unique<Impl>(Impl{pg, redis})) {}

Reconciler::~Reconciler() = default;

void Reconciler::run(qint64 saleId, const Options &options,
                     std::function<void(const Result<QJsonObject> &)> done) {
    if (saleId <= 0) {
        done(fail(ErrorCode::Invalid, QStringLiteral("sale id must be positive")));
        return;
    }
    auto run =
        std::make_shared<ReconcileRun>(d->pg, d->redis, saleId, options, std::move(done), d->owner);
    run->start();
}

} // namespace flashsale
