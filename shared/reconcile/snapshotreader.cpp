#include "snapshotreader.h"

#include "booking/salekeys.h"
#include "pg/pgarray.h"
#include "reconcile/deadletters.h"
#include "reconcile/job.h"

#include <optional>

namespace flashsale::reconcile {

namespace {

constexpr int kStreamChunk = 5000; // XRANGE / XPENDING entries per command
constexpr int kScanCount = 1000;   // SSCAN COUNT
constexpr int kResChunk = 1000;    // HMGETs of reservation hashes in flight at once
constexpr int kTieReads = 3; // reads of a snapshot while a booking's side of the cut is unknown

std::function<void(ReadStep, std::function<void()>)> &readHook() {
    static std::function<void(ReadStep, std::function<void()>)> hook;
    return hook;
}

// Goes on with `next` now, or when the test hook lets it.
void step(ReadStep done, std::function<void()> next) {
    if (readHook())
        return readHook()(done, std::move(next));
    next();
}

class Reader final : public Job<Reader, Snapshot> {
public:
    Reader(PgConnection &pg, RedisCommands &redis, qint64 saleId, Done done)
        : Job(pg, redis, std::move(done))
        , m_sale(saleId)
        , m_keys(saleId) {}

    void start() { readGroup(); }

private:
    // T0: the consumer group, before anything else: an entry delivered and not pending now was
    // committed already, so T1 shows its order.
    void readGroup() {
        redis(
            {"XINFO", "GROUPS", m_keys.stream()},
            [self = shared_from_this()](const RedisValue &v) {
                for (const RedisValue &g : v.elements) {
                    const auto info = g.fields();
                    if (info.value("name").bytes() == SaleKeys::consumerGroup()) {
                        self->m_hasGroup = true;
                        self->m_lastDelivered =
                            StreamId::parse(info.value("last-delivered-id").bytes());
                    }
                }
                if (!self->m_hasGroup)
                    return self->readPg();
                self->readPending("-");
            },
            [](const RedisValue &v) { return v.string.contains("no such key"); });
    }

    void readPending(const QByteArray &from) {
        redis({"XPENDING", m_keys.stream(), SaleKeys::consumerGroup(), from, "+",
               QByteArray::number(kStreamChunk)},
              [self = shared_from_this()](const RedisValue &v) {
                  QByteArray last;
                  for (const RedisValue &p : v.elements) {
                      last = p.at(0).bytes();
                      self->m_pending.insert(last);
                  }
                  if (v.elements.size() < kStreamChunk)
                      return self->readPg();
                  self->readPending("(" + last);
              });
    }

    // T1: one snapshot for all three reads; queued together, so nothing else that shares the
    // connection can run inside this transaction.
    void readPg() {
        if (!connected())
            return failGone();
        const QList<QByteArray> sale{QByteArray::number(m_sale)};
        auto failed = std::make_shared<std::optional<Error>>();
        auto keep = [failed](const Result<PgResult> &r) {
            if (!r && !*failed)
                *failed = r.error();
            return bool(r);
        };
        auto self = shared_from_this();
        m_pg->query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", {},
                    [keep](const Result<PgResult> &r) { keep(r); });
        m_pg->query("SELECT hold_seconds FROM sales WHERE id = $1", sale,
                    [self, keep](const Result<PgResult> &r) {
                        if (keep(r) && !r->rows.isEmpty())
                            self->m_holdMs = r->rows[0][0].toLongLong() * 1000;
                    });
        m_pg->query("SELECT item_id, stock, sold FROM inventory WHERE sale_id = $1", sale,
                    [self, keep](const Result<PgResult> &r) {
                        if (!keep(r))
                            return;
                        for (const auto &row : r->rows)
                            self->m_s.inventory.insert(row[0].toLongLong(),
                                                       {row[1].toLongLong(), row[2].toLongLong()});
                    });
        m_pg->query("SELECT reservation_id, item_id, user_id, quantity, status, "
                    "payment_started_at IS NOT NULL, id, amount_cents, "
                    "(extract(epoch FROM expires_at) * 1000)::bigint FROM orders "
                    "WHERE sale_id = $1",
                    sale, [self, keep](const Result<PgResult> &r) {
                        if (!keep(r))
                            return;
                        for (const auto &row : r->rows) {
                            Reservation &res = self->m_s.reservations[row[0]];
                            res.inPg = true;
                            res.item = row[1].toLongLong();
                            res.user = row[2];
                            res.qty = row[3].toLongLong();
                            res.pgStatus = row[4];
                            res.paying = row[5] == "t";
                            res.orderId = row[6].toLongLong();
                            res.amountCents = row[7].toLongLong();
                            res.expiresMs = row[8].toLongLong();
                        }
                    });
        m_pg->query("COMMIT", {}, [self, failed](const Result<PgResult> &r) {
            if (self->ended())
                return;
            if (!*failed && !r)
                *failed = r.error();
            if (*failed)
                return self->fail((*failed)->code,
                                  QStringLiteral("PostgreSQL: ") + (*failed)->message);
            if (self->m_holdMs == 0)
                return self->fail(ErrorCode::NotFound,
                                  QStringLiteral("no sale %1").arg(self->m_sale));
            step(ReadStep::PgRead, [self] { self->readCounters(); });
        });
    }

    // T2, the cut: counters, released set, the stream's end and Redis's clock in one
    // transaction: every booking and release before it is in both the counters and the stream
    // (up to m_streamEnd), none after. Sent back to back from this thread, so no other command on
    // the client lands inside. The clock places a booking whose entry is gone by the time it is
    // looked for (recheckLost()): book.lua stamps each booking with Redis's TIME, in ms.
    void readCounters() {
        if (!connected())
            return failGone();
        const QList<QList<QByteArray>> commands{
            {"EXISTS", m_keys.meta()},
            {"HGETALL", m_keys.stock()},
            {"HGETALL", m_keys.users()},
            {"SMEMBERS", m_keys.released()},
            {"XREVRANGE", m_keys.stream(), "+", "-", "COUNT", "1"},
            {"TIME"}};
        transaction(commands, [self = shared_from_this()](const RedisValue &v) {
            if (!v.isArray() || v.elements.size() != 6)
                return self->fail(ErrorCode::Protocol,
                                  QStringLiteral("Redis EXEC: unexpected reply"));
            Snapshot &s = self->m_s;
            s.warm = v.at(0).toInt() == 1;
            for (const auto &[item, remaining] : v.at(1).pairs())
                s.stock.insert(item, remaining.toLongLong());
            for (const auto &[user, held] : v.at(2).pairs())
                s.users.insert(user, held.toLongLong());
            for (const RedisValue &m : v.at(3).elements)
                s.released.insert(m.bytes());
            self->m_streamEnd = v.at(4).at(0).at(0).bytes();
            // TIME: seconds and microseconds. A booking accepted before the cut has a ms stamp
            // <= cutMs, one accepted after it a stamp >= cutMs: only cutMs itself is both.
            s.cutMs = v.at(5).at(0).toInt() * 1000 + v.at(5).at(1).toInt() / 1000;
            step(ReadStep::Cut, [self] {
                if (self->m_streamEnd.isEmpty())
                    return self->scanReservations("0");
                self->readStream("-");
            });
        });
    }

    // The stream up to the cut. The worker trims only entries before the oldest pending one
    // (lua/trim.lua), all persisted: one that goes between two chunks is an order already, and
    // recheckLost() finds those committed after T1.
    void readStream(const QByteArray &from) {
        redis({"XRANGE", m_keys.stream(), from, m_streamEnd, "COUNT",
               QByteArray::number(kStreamChunk)},
              [self = shared_from_this()](const RedisValue &v) {
                  QByteArray last;
                  for (const RedisValue &e : v.elements) {
                      const StreamEntry entry = StreamEntry::fromReply(self->m_sale, e);
                      last = entry.id;
                      ++self->m_s.streamEntries;
                      self->addEntry(entry);
                  }
                  if (v.elements.size() < kStreamChunk || last == self->m_streamEnd)
                      return self->scanReservations("0");
                  self->readStream("(" + last);
              });
    }

    // Reconciliation reads an entry as book.lua wrote it, not as the worker's parser judges it:
    // a book entry the worker would dead-letter still holds its units in Redis, so its user,
    // item and quantity count as written, and it is appended again as it is.
    void addEntry(const StreamEntry &e) {
        const QByteArray rid = e.reservationId();
        if (rid.isEmpty())
            return;
        const QByteArray type = e.type();
        if (type == StreamEntry::kConfirm) {
            m_s.reservations[rid].confirmed = true;
            return;
        }
        if (type != StreamEntry::kBook)
            return;
        Reservation &r = m_s.reservations[rid];
        if (!m_hasGroup || StreamId::parse(e.id) > m_lastDelivered || m_pending.contains(e.id))
            r.inFlight = true;
        if (r.inStream)
            return;
        r.inStream = true;
        r.bookEntry = e;
        if (!r.inPg) {
            r.user = e.field(StreamEntry::kUser);
            r.item = e.field(StreamEntry::kItem).toLongLong();
            r.qty = e.field(StreamEntry::kQuantity).toLongLong();
        }
    }

    // The sale's index of accepted reservation ids (book.lua adds each one), read in chunks:
    // O(the sale's bookings), where a SCAN of the keyspace would be O(every key in Redis).
    void scanReservations(const QByteArray &cursor) {
        redis({"SSCAN", m_keys.reservations(), cursor, "COUNT", QByteArray::number(kScanCount)},
              [self = shared_from_this()](const RedisValue &v) {
                  Snapshot &s = self->m_s;
                  for (const RedisValue &k : v.at(1).elements) {
                      ++s.resKeys;
                      s.reservations[k.bytes()].inRes = true;
                  }
                  const QByteArray nextCursor = v.at(0).bytes();
                  if (nextCursor != "0")
                      return self->scanReservations(nextCursor);
                  QList<QByteArray> resOnly;
                  for (auto it = s.reservations.cbegin(); it != s.reservations.cend(); ++it) {
                      // One in PostgreSQL needs no more: its order says who, what, how many
                      // (its entry may have been trimmed once persisted).
                      if (it->inRes && !it->inStream && !it->inPg)
                          resOnly << it.key();
                  }
                  if (resOnly.isEmpty())
                      return self->finish(s);
                  self->readTailEnd(resOnly);
              });
    }

    // An id in the set without a book entry up to the cut is either a booking made after T2
    // (its entry is then further on in the stream: book.lua writes both at once) or one whose
    // entry was lost. Read the stream from the cut to its end now to tell them apart.
    void readTailEnd(const QList<QByteArray> &resOnly) {
        redis({"XREVRANGE", m_keys.stream(), "+", "-", "COUNT", "1"},
              [self = shared_from_this(), resOnly](const RedisValue &v) {
                  const QByteArray end = v.at(0).at(0).bytes();
                  if (end.isEmpty() || end == self->m_streamEnd)
                      return self->recheckLost(resOnly);
                  self->readTail(
                      resOnly, std::make_shared<QSet<QByteArray>>(),
                      self->m_streamEnd.isEmpty() ? QByteArray("-") : "(" + self->m_streamEnd, end);
              });
    }

    void readTail(const QList<QByteArray> &resOnly, std::shared_ptr<QSet<QByteArray>> later,
                  const QByteArray &from, const QByteArray &end) {
        redis({"XRANGE", m_keys.stream(), from, end, "COUNT", QByteArray::number(kStreamChunk)},
              [self = shared_from_this(), resOnly, later, end](const RedisValue &v) {
                  QByteArray last;
                  for (const RedisValue &e : v.elements) {
                      const StreamEntry entry = StreamEntry::fromReply(self->m_sale, e);
                      last = entry.id;
                      if (entry.type() == StreamEntry::kBook)
                          later->insert(entry.reservationId());
                  }
                  if (v.elements.size() == kStreamChunk && last != end)
                      return self->readTail(resOnly, later, "(" + last, end);
                  Snapshot &s = self->m_s;
                  QList<QByteArray> lost;
                  for (const QByteArray &rid : resOnly) {
                      if (!later->contains(rid)) {
                          lost << rid;
                          continue;
                      }
                      // Not part of this snapshot: neither its counters nor its entry are.
                      ++s.resLater;
                      Reservation &r = s.reservations[rid];
                      r.inRes = false;
                      if (!r.inPg && !r.confirmed)
                          s.reservations.remove(rid);
                  }
                  self->recheckLost(lost);
              });
    }

    // The worker trims what it has persisted (lua/trim.lua), right after writing it, so under
    // load most bookings not in the T1 snapshot are found only in the set (read after the cut),
    // their entries gone from the stream: in no stream range, and in PostgreSQL now. Such a
    // booking may be on either side of the cut, and only its order says which: accepted_at is
    // book.lua's Redis TIME, and Redis runs one command at a time, so
    //   - accepted after the cut's ms: made after the cut, so not in its counters. It is left
    //     to the next run, like an id whose entry is in the tail (resLater);
    //   - accepted before the cut's ms: in the counters, so taken, with PostgreSQL's user, item
    //     and quantity (what the booking wrote), whatever its reservation hash holds or whether
    //     it still exists. Counted as in flight (its order is not in T1), not missing;
    //   - accepted in the cut's ms: either. Counted as taken, and the whole snapshot is read
    //     again (readSnapshot(), up to kTieReads times): counting a later booking as taken
    //     makes Redis look one booking short (a repair would lower it: units withheld, never
    //     oversold), where the other way would make a repair hand the units out twice.
    // This assumes Redis's clock does not step back between a booking and the cut.
    // Only those not in PostgreSQL now are lost; their hashes are read next.
    void recheckLost(const QList<QByteArray> &lost) {
        if (lost.isEmpty())
            return readResHashes(lost, 0);
        pg("SELECT reservation_id, user_id, item_id, quantity, "
           "round(extract(epoch FROM accepted_at) * 1000)::bigint FROM orders "
           "WHERE reservation_id = ANY ($1::text[])",
           {pgArray(lost)}, [self = shared_from_this(), lost](const PgResult &r) {
               Snapshot &s = self->m_s;
               QSet<QByteArray> persisted;
               for (const auto &row : r.rows) {
                   const auto it = s.reservations.find(row.value(0));
                   if (it == s.reservations.end() || it->inPg)
                       continue;
                   persisted.insert(row.value(0));
                   const qint64 acceptedMs = row.value(4).toLongLong();
                   if (acceptedMs > s.cutMs) {
                       ++s.resLater;
                       s.reservations.erase(it);
                       continue;
                   }
                   if (acceptedMs == s.cutMs)
                       ++s.resAtCut;
                   it->user = row.value(1);
                   it->item = row.value(2).toLongLong();
                   it->qty = row.value(3).toLongLong();
                   it->inRes = true;
                   it->inFlight = true;
               }
               QList<QByteArray> gone;
               for (const QByteArray &rid : lost) {
                   if (!persisted.contains(rid))
                       gone << rid;
               }
               self->readResHashes(gone, 0);
           });
    }

    // The reservation hashes of ids found only in the set: what they hold is all that is left of
    // those bookings, enough to rebuild the book entry (its "ts" is expires_ms - hold).
    void readResHashes(const QList<QByteArray> &rids, qsizetype from) {
        if (from >= rids.size())
            return readDeadLetters();
        const qsizetype to = std::min<qsizetype>(rids.size(), from + kResChunk);
        auto left = std::make_shared<qsizetype>(to - from);
        for (qsizetype i = from; i < to; ++i) {
            const QByteArray rid = rids[i];
            redis({"HMGET", m_keys.reservation(rid), "user", "item", "qty", "price", "status",
                   "expires_ms"},
                  [self = shared_from_this(), rids, to, left, rid](const RedisValue &v) {
                      self->addResHash(rid, v);
                      if (--*left == 0)
                          self->readResHashes(rids, to);
                  });
        }
    }

    void addResHash(const QByteArray &rid, const RedisValue &hash) {
        Reservation &r = m_s.reservations[rid];
        if (hash.at(0).isNil()) {
            r.inRes = false; // expired between SSCAN and now
            if (!r.inPg)
                m_s.reservations.remove(rid);
            return;
        }
        const QByteArray user = hash.at(0).bytes();
        const qint64 item = hash.at(1).toInt();
        const qint64 qty = hash.at(2).toInt();
        const qint64 expires = hash.at(5).toInt();
        if (!r.inPg) {
            r.user = user;
            r.item = item;
            r.qty = qty;
        }
        if (hash.at(4).bytes() == "confirmed")
            r.confirmed = true;
        r.bookEntry =
            StreamEntry::book(OrderRow{rid, m_sale, item, user, int(qty), hash.at(3).toInt() * qty,
                                       expires - m_holdMs, expires});
    }

    // Last, the dead-letter stream and its resolutions: read after the orders, so an entry
    // resolved meanwhile has its order in PostgreSQL (counted in the next run as such).
    void readDeadLetters() {
        if (!connected())
            return failGone();
        reconcile::readDeadLetters(*m_pg, *m_redis, m_sale, true,
                                   [self = shared_from_this()](const Result<QList<DeadLetter>> &r) {
                                       if (self->ended())
                                           return;
                                       if (!r)
                                           return self->fail(r.error().code, r.error().message);
                                       for (const DeadLetter &d : *r) {
                                           if (!d.reservationId().isEmpty())
                                               self->m_s.deadLetterRids.insert(d.reservationId(),
                                                                               d.entryId);
                                           if (!d.resolution)
                                               self->m_s.unresolvedDeadLetters << d.entryId;
                                       }
                                       self->finish(self->m_s);
                                   });
    }

    const qint64 m_sale;
    const SaleKeys m_keys;
    // T0
    bool m_hasGroup = false;
    StreamId m_lastDelivered;
    QSet<QByteArray> m_pending; // the group's pending entry ids
    // T1
    qint64 m_holdMs = 0; // the sale's hold, for rebuilding a book entry's "ts"
    // T2
    QByteArray m_streamEnd; // the stream's last id at the cut ("" = empty stream)
    Snapshot m_s;
};

} // namespace

namespace {

// A snapshot with a booking in the cut's own millisecond (recheckLost()) is read again, from T0.
void readUntilPlaced(QPointer<PgConnection> pg, QPointer<RedisCommands> redis, qint64 saleId,
                     int reads, std::function<void(const Result<Snapshot> &)> done) {
    std::make_shared<Reader>(
        *pg, *redis, saleId,
        [pg, redis, saleId, reads, done = std::move(done)](const Result<Snapshot> &r) {
            if (!r || r->resAtCut == 0 || reads >= kTieReads || !pg || !redis)
                return done(r);
            readUntilPlaced(pg, redis, saleId, reads + 1, done);
        })
        ->start();
}

} // namespace

void readSnapshot(PgConnection &pg, RedisCommands &redis, qint64 saleId,
                  std::function<void(const Result<Snapshot> &)> done) {
    readUntilPlaced(&pg, &redis, saleId, 1, std::move(done));
}

void setReadHookForTest(std::function<void(ReadStep, std::function<void()>)> hook) {
    readHook() = std::move(hook);
}

} // namespace flashsale::reconcile
