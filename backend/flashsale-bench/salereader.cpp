#include "salereader.h"

#include "booking/salekeys.h"
#include "booking/streamentry.h"

#include <QFile>
#include <QUrl>
#include <QVarLengthArray>

#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#include <cstring>
#include <memory>

namespace flashsale::bench {

namespace {

constexpr int kStreamChunk = 5000; // XRANGE entries per command
constexpr int kScanCount = 1000;
constexpr int kHmgetChunk = 1000;

using Reply = std::shared_ptr<redisReply>;

// One blocking command. Fails when the connection fails, and on an error reply unless
// `allowError` (the caller then looks at the reply itself).
[[nodiscard]] Result<Reply> command(redisContext *c, const QList<QByteArray> &argv,
                                    bool allowError = false) {
    QVarLengthArray<const char *> a;
    QVarLengthArray<size_t> l;
    for (const QByteArray &x : argv) {
        a.append(x.constData());
        l.append(size_t(x.size()));
    }
    auto *r = static_cast<redisReply *>(redisCommandArgv(c, int(a.size()), a.data(), l.data()));
    if (!r)
        return fail(ErrorCode::Unavailable,
                    QStringLiteral("Redis %1: %2")
                        .arg(QString::fromLatin1(argv.first()), QString::fromUtf8(c->errstr)));
    Reply reply(r, freeReplyObject);
    if (r->type == REDIS_REPLY_ERROR && !allowError)
        return fail(ErrorCode::Protocol,
                    QStringLiteral("Redis %1: %2")
                        .arg(QString::fromLatin1(argv.first()), QString::fromUtf8(r->str)));
    return reply;
}

QByteArray bytes(const redisReply *r) {
    if (!r)
        return {};
    if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)
        return QByteArray(r->str, qsizetype(r->len));
    if (r->type == REDIS_REPLY_INTEGER)
        return QByteArray::number(r->integer);
    return {};
}

// A flat [name, value, ...] reply (HGETALL, XINFO, stream entry fields) as a hash.
QHash<QByteArray, const redisReply *> pairs(const redisReply *r) {
    QHash<QByteArray, const redisReply *> out;
    if (!r || r->type != REDIS_REPLY_ARRAY)
        return out;
    for (size_t i = 0; i + 1 < r->elements; i += 2)
        out.insert(bytes(r->element[i]), r->element[i + 1]);
    return out;
}

// The value of `name` in a flat [name, value, ...] reply; a linear scan, cheaper than a hash for
// the handful of fields of a stream entry.
QByteArray field(const redisReply *r, const char *name) {
    const size_t len = strlen(name);
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2) {
        const redisReply *k = r->element[i];
        if (k->len == len && memcmp(k->str, name, len) == 0)
            return bytes(r->element[i + 1]);
    }
    return {};
}

using PgResultPtr = std::shared_ptr<PGresult>;

[[nodiscard]] Result<PgResultPtr> exec(PGconn *c, const QByteArray &sql,
                                       const QList<QByteArray> &params = {}) {
    QVarLengthArray<const char *> values;
    for (const QByteArray &p : params)
        values.append(p.constData());
    PgResultPtr r(PQexecParams(c, sql.constData(), int(values.size()), nullptr, values.data(),
                               nullptr, nullptr, 0),
                  PQclear);
    const ExecStatusType st = PQresultStatus(r.get());
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        const bool down = PQstatus(c) != CONNECTION_OK;
        return fail(down ? ErrorCode::Unavailable : ErrorCode::Protocol,
                    QStringLiteral("PostgreSQL: %1")
                        .arg(QString::fromUtf8(PQresultErrorMessage(r.get())).trimmed()));
    }
    return r;
}

QByteArray cell(const PgResultPtr &r, int row, int col) {
    return QByteArray(PQgetvalue(r.get(), row, col), PQgetlength(r.get(), row, col));
}

qint64 scalar(const PgResultPtr &r) {
    return PQntuples(r.get()) > 0 ? cell(r, 0, 0).toLongLong() : 0;
}

} // namespace

QString DrainStatus::describe(bool allEnded) const {
    QString s = QStringLiteral("stream undelivered %1, pending %2; outbox unpublished %3")
                    .arg(streamUndelivered)
                    .arg(streamPending)
                    .arg(outboxUnpublished);
    if (allEnded)
        s += QStringLiteral("; orders pending %1, payments charging %2, endings not notified %3, "
                            "cancelled not released %4")
                 .arg(ordersPending)
                 .arg(paymentsCharging)
                 .arg(endingsNotNotified)
                 .arg(cancelledNotReleased);
    return s;
}

SaleReader::SaleReader(qint64 saleId)
    : m_saleId(saleId) {}

SaleReader::~SaleReader() {
    if (m_redis)
        redisFree(m_redis);
    if (m_pg)
        PQfinish(m_pg);
}

namespace {

// A connected, authenticated context on host:port (the password: the URL's, or the file named by
// FLASHSALE_REDIS_PASSWORD_FILE, as the server takes it).
Result<redisContext *> connectNode(const QByteArray &host, int port, const QUrl &url) {
    const timeval timeout{10, 0};
    redisContext *c = redisConnectWithTimeout(host.constData(), port, timeout);
    if (!c || c->err) {
        const QString why = c ? QString::fromUtf8(c->errstr) : QStringLiteral("out of memory");
        if (c)
            redisFree(c);
        return fail(
            ErrorCode::Unavailable,
            QStringLiteral("Redis %1:%2: %3").arg(QString::fromUtf8(host)).arg(port).arg(why));
    }
    redisSetTimeout(c, timeout);
    QByteArray password = url.password().toUtf8();
    if (password.isEmpty()) {
        const QString file = qEnvironmentVariable("FLASHSALE_REDIS_PASSWORD_FILE");
        if (!file.isEmpty()) {
            QFile f(file);
            if (!f.open(QIODevice::ReadOnly)) {
                redisFree(c);
                return fail(
                    ErrorCode::Invalid,
                    QStringLiteral("cannot read FLASHSALE_REDIS_PASSWORD_FILE %1").arg(file));
            }
            password = f.readLine().trimmed();
        }
    }
    if (!password.isEmpty()) {
        QList<QByteArray> auth{"AUTH"};
        if (!url.userName().isEmpty())
            auth << url.userName().toUtf8();
        auth << password;
        if (auto r = command(c, auth); !r) {
            redisFree(c);
            return std::unexpected(r.error());
        }
    }
    return c;
}

} // namespace

Result<void> SaleReader::connect(const QString &redisUrl, const QString &pgUrl) {
    const QUrl url(redisUrl);
    if (!url.isValid() || url.scheme() != QLatin1String("redis") || url.host().isEmpty())
        return fail(ErrorCode::Invalid, QStringLiteral("not a redis:// URL: %1").arg(redisUrl));
    m_url = url;
    auto node = connectNode(url.host().toUtf8(), url.port(6379), url);
    if (!node)
        return std::unexpected(node.error());
    m_redis = *node;
    // A node of a Redis Cluster (issue 21): every key of the sale is in one slot (its hash tag),
    // so the check reads the node that serves that slot, whichever seed it was given.
    auto info = command(m_redis, {"INFO", "cluster"});
    if (info && bytes(info->get()).contains("cluster_enabled:1")) {
        auto slot = command(m_redis, {"CLUSTER", "KEYSLOT", SaleKeys(m_saleId).meta()});
        auto owners = command(m_redis, {"CLUSTER", "SLOTS"});
        if (!slot || !owners)
            return std::unexpected(!slot ? slot.error() : owners.error());
        const long long want = (*slot)->integer;
        const redisReply *ranges = owners->get();
        for (size_t i = 0; i < ranges->elements; ++i) {
            const redisReply *r = ranges->element[i];
            if (r->elements < 3 || want < r->element[0]->integer || want > r->element[1]->integer)
                continue;
            const QByteArray host = bytes(r->element[2]->element[0]);
            const int port = int(r->element[2]->element[1]->integer);
            auto owner = connectNode(host.isEmpty() ? url.host().toUtf8() : host, port, url);
            if (!owner)
                return std::unexpected(owner.error());
            redisFree(m_redis);
            m_redis = *owner;
            break;
        }
    } else {
        const QString db = url.path().mid(1);
        if (!db.isEmpty() && db != QLatin1String("0")) {
            if (auto r = command(m_redis, {"SELECT", db.toUtf8()}); !r)
                return std::unexpected(r.error());
        }
    }
    m_pg = PQconnectdb(pgUrl.toUtf8().constData());
    if (PQstatus(m_pg) != CONNECTION_OK)
        return fail(ErrorCode::Unavailable,
                    QStringLiteral("PostgreSQL: %1")
                        .arg(QString::fromUtf8(PQerrorMessage(m_pg)).trimmed()));
    return {};
}

Result<DrainStatus> SaleReader::drainStatus(bool allEnded) {
    DrainStatus d;
    const SaleKeys keys(m_saleId);
    const QByteArray stream = keys.stream();

    // The worker group: pending entries, and what it has not read yet.
    auto groups = command(m_redis, {"XINFO", "GROUPS", stream}, true);
    if (!groups)
        return std::unexpected(groups.error());
    const redisReply *g = groups->get();
    if (g->type == REDIS_REPLY_ERROR) {
        if (!QByteArray(g->str).contains("no such key"))
            return fail(ErrorCode::Protocol,
                        QStringLiteral("Redis XINFO GROUPS: %1").arg(QString::fromUtf8(g->str)));
        // No stream: nothing was ever booked.
    } else {
        const redisReply *workers = nullptr;
        for (size_t i = 0; i < g->elements; ++i) {
            if (bytes(pairs(g->element[i]).value("name")) == SaleKeys::consumerGroup())
                workers = g->element[i];
        }
        if (!workers) {
            auto len = command(m_redis, {"XLEN", stream});
            if (!len)
                return std::unexpected(len.error());
            d.streamUndelivered = len->get()->integer;
        } else {
            const auto info = pairs(workers);
            d.streamPending = bytes(info.value("pending")).toLongLong();
            const redisReply *lag = info.value("lag");
            // Found by the chaos run: after Redis replays its AOF the group's entries-read
            // counter can be off, and "lag" then says tens of thousands undelivered on an empty
            // stream the group has read to its end. The group at the stream's last id has
            // nothing left to read, whatever lag says.
            auto streamInfo = command(m_redis, {"XINFO", "STREAM", stream}, true);
            if (!streamInfo)
                return std::unexpected(streamInfo.error());
            const QByteArray lastGenerated =
                streamInfo->get()->type == REDIS_REPLY_ARRAY
                    ? bytes(pairs(streamInfo->get()).value("last-generated-id"))
                    : QByteArray();
            if (!lastGenerated.isEmpty()
                && lastGenerated == bytes(info.value("last-delivered-id"))) {
                d.streamUndelivered = 0;
            } else if (lag && lag->type == REDIS_REPLY_INTEGER) {
                d.streamUndelivered = lag->integer;
            } else {
                // Redis cannot tell the lag (entries deleted): count what follows the group's
                // last-delivered id, up to a cap that is enough to say "not drained".
                auto after = command(m_redis, {"XRANGE", stream,
                                               "(" + bytes(info.value("last-delivered-id")), "+",
                                               "COUNT", "10000"});
                if (!after)
                    return std::unexpected(after.error());
                d.streamUndelivered = qint64(after->get()->elements);
            }
        }
    }

    const QList<QByteArray> sale{QByteArray::number(m_saleId)};
    auto outbox = exec(m_pg,
                       "SELECT count(*) FROM outbox WHERE published_at IS NULL "
                       "AND (payload->>'sale_id')::bigint = $1",
                       sale);
    if (!outbox)
        return std::unexpected(outbox.error());
    d.outboxUnpublished = scalar(*outbox);
    if (!allEnded)
        return d;

    auto ended = exec(
        m_pg,
        "SELECT count(*) FILTER (WHERE o.status = 'pending'), "
        "       (SELECT count(*) FROM payments p JOIN orders o2 ON o2.id = p.order_id "
        "        WHERE o2.sale_id = $1 AND p.status = 'charging'), "
        "       count(*) FILTER (WHERE o.status <> 'pending' AND NOT EXISTS ("
        "           SELECT 1 FROM notifications n WHERE n.delivered_at IS NOT NULL AND n.event_id ="
        "           CASE o.status WHEN 'paid' THEN 'order.paid:' ELSE 'order.cancelled:' END"
        "           || o.reservation_id)), "
        "       coalesce(string_agg(o.reservation_id, ' ') FILTER (WHERE o.status = "
        "'cancelled'), '') "
        "FROM orders o WHERE o.sale_id = $1",
        sale);
    if (!ended)
        return std::unexpected(ended.error());
    d.ordersPending = cell(*ended, 0, 0).toLongLong();
    d.paymentsCharging = cell(*ended, 0, 1).toLongLong();
    d.endingsNotNotified = cell(*ended, 0, 2).toLongLong();
    const QList<QByteArray> cancelled = cell(*ended, 0, 3).split(' ');
    for (qsizetype from = 0; from < cancelled.size(); from += kHmgetChunk) {
        if (cancelled[from].isEmpty())
            break;
        QList<QByteArray> argv{"SMISMEMBER", keys.released()};
        argv += cancelled.mid(from, kHmgetChunk);
        auto r = command(m_redis, argv);
        if (!r)
            return std::unexpected(r.error());
        for (size_t i = 0; i < r->get()->elements; ++i)
            d.cancelledNotReleased += r->get()->element[i]->integer == 0;
    }
    return d;
}

Result<PgView> SaleReader::readPg() {
    PgView v;
    const QList<QByteArray> sale{QByteArray::number(m_saleId)};
    if (auto b = exec(m_pg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); !b)
        return std::unexpected(b.error());
    // Whatever happens below, the transaction ends; a failed one is rolled back.
    struct End {
        PGconn *c;
        ~End() { PQclear(PQexec(c, "ROLLBACK")); }
    } end{m_pg};

    auto s = exec(m_pg, "SELECT per_user_limit FROM sales WHERE id = $1", sale);
    if (!s)
        return std::unexpected(s.error());
    v.saleFound = PQntuples(s->get()) > 0;
    if (!v.saleFound)
        return v;
    v.perUserLimit = scalar(*s);

    auto inv = exec(m_pg, "SELECT item_id, stock, sold FROM inventory WHERE sale_id = $1", sale);
    if (!inv)
        return std::unexpected(inv.error());
    for (int i = 0; i < PQntuples(inv->get()); ++i)
        v.inventory.insert(cell(*inv, i, 0).toLongLong(),
                           {cell(*inv, i, 1).toLongLong(), cell(*inv, i, 2).toLongLong()});

    auto orders = exec(m_pg,
                       "SELECT id, reservation_id, item_id, user_id, quantity, status, "
                       "coalesce(cancel_reason, '') FROM orders WHERE sale_id = $1 ORDER BY id",
                       sale);
    if (!orders)
        return std::unexpected(orders.error());
    const int n = PQntuples(orders->get());
    v.orders.reserve(n);
    for (int i = 0; i < n; ++i)
        v.orders.append({cell(*orders, i, 0).toLongLong(), cell(*orders, i, 1),
                         cell(*orders, i, 2).toLongLong(), cell(*orders, i, 3),
                         cell(*orders, i, 4).toLongLong(), cell(*orders, i, 5),
                         cell(*orders, i, 6)});

    auto history = exec(m_pg,
                        "SELECT h.order_id, h.status FROM order_history h "
                        "JOIN orders o ON o.id = h.order_id WHERE o.sale_id = $1 ORDER BY h.id",
                        sale);
    if (!history)
        return std::unexpected(history.error());
    for (int i = 0; i < PQntuples(history->get()); ++i)
        v.history[cell(*history, i, 0).toLongLong()].append(cell(*history, i, 1));

    auto payments = exec(m_pg,
                         "SELECT p.order_id, p.status FROM payments p "
                         "JOIN orders o ON o.id = p.order_id WHERE o.sale_id = $1",
                         sale);
    if (!payments)
        return std::unexpected(payments.error());
    for (int i = 0; i < PQntuples(payments->get()); ++i)
        v.payments[cell(*payments, i, 0).toLongLong()].append(cell(*payments, i, 1));

    auto notes = exec(m_pg,
                      "SELECT n.event_id, n.order_id, n.delivered_at IS NOT NULL "
                      "FROM notifications n JOIN orders o ON o.id = n.order_id "
                      "WHERE o.sale_id = $1",
                      sale);
    if (!notes)
        return std::unexpected(notes.error());
    for (int i = 0; i < PQntuples(notes->get()); ++i) {
        v.notifications.insert(cell(*notes, i, 0), cell(*notes, i, 1).toLongLong());
        v.notificationsUndelivered += cell(*notes, i, 2) != "t";
    }

    // Issue 20: dead letters an operator resolved (sql/013).
    auto resolved =
        exec(m_pg, "SELECT entry_id FROM stream_dead_letter_resolutions WHERE sale_id = $1", sale);
    if (!resolved)
        return std::unexpected(resolved.error());
    for (int i = 0; i < PQntuples(resolved->get()); ++i)
        v.deadLettersResolved.insert(cell(*resolved, i, 0));

    // The outbox has no sale column; its payload names the sale (order_event in 002_orders).
    auto outbox = exec(m_pg,
                       "SELECT topic, payload->>'reservation_id', published_at IS NULL "
                       "FROM outbox WHERE (payload->>'sale_id')::bigint = $1",
                       sale);
    if (!outbox)
        return std::unexpected(outbox.error());
    for (int i = 0; i < PQntuples(outbox->get()); ++i) {
        if (cell(*outbox, i, 0) == "order.created")
            ++v.outboxCreated[cell(*outbox, i, 1)];
        if (cell(*outbox, i, 2) == "t") {
            ++v.outboxUnpublished;
            v.outboxInFlight.insert(cell(*outbox, i, 0) + ':' + cell(*outbox, i, 1));
        }
    }
    return v;
}

Result<RedisView> SaleReader::readRedis(const QList<qint64> &orderIds) {
    RedisView v;
    const SaleKeys keys(m_saleId);
    const QByteArray stream = keys.stream();

    // The counters and the released set with the stream's last id, in one MULTI: book.lua and
    // release.lua move each counter together with its stream entry or released mark, so this is
    // one consistent cut of all of them.
    for (const QList<QByteArray> &argv :
         QList<QList<QByteArray>>{{"MULTI"},
                                  {"HMGET", keys.meta(), "state", "limit"},
                                  {"HGETALL", keys.stock()},
                                  {"HGETALL", keys.users()},
                                  {"SMEMBERS", keys.released()},
                                  {"XREVRANGE", stream, "+", "-", "COUNT", "1"}}) {
        if (auto r = command(m_redis, argv); !r)
            return std::unexpected(r.error());
    }
    auto exec = command(m_redis, {"EXEC"});
    if (!exec)
        return std::unexpected(exec.error());
    const redisReply *x = exec->get();
    if (x->type != REDIS_REPLY_ARRAY || x->elements != 5)
        return fail(ErrorCode::Protocol, QStringLiteral("Redis EXEC: unexpected reply"));
    v.warm = x->element[0]->elements == 2 && x->element[0]->element[0]->type != REDIS_REPLY_NIL;
    if (v.warm)
        v.limit = bytes(x->element[0]->element[1]).toLongLong();
    const auto stock = pairs(x->element[1]);
    for (auto it = stock.cbegin(); it != stock.cend(); ++it)
        v.remaining.insert(it.key().toLongLong(), bytes(it.value()).toLongLong());
    const auto users = pairs(x->element[2]);
    for (auto it = users.cbegin(); it != users.cend(); ++it)
        v.users.insert(it.key(), bytes(it.value()).toLongLong());
    for (size_t i = 0; i < x->element[3]->elements; ++i)
        v.released.insert(bytes(x->element[3]->element[i]));
    QByteArray streamEnd;
    if (x->element[4]->elements > 0)
        streamEnd = bytes(x->element[4]->element[0]->element[0]);

    // The stream up to the cut, in chunks. The worker trims only entries it has persisted and
    // acknowledged (lua/trim.lua): those are orders, and the reservation index below still
    // names them, so an entry trimmed between two chunks is not missed.
    if (!streamEnd.isEmpty()) {
        const StreamId end = StreamId::parse(streamEnd);
        QByteArray from = "-";
        for (;;) {
            auto r = command(m_redis, {"XRANGE", stream, from, streamEnd, "COUNT",
                                       QByteArray::number(kStreamChunk)});
            if (!r)
                return std::unexpected(r.error());
            const redisReply *entries = r->get();
            QByteArray last;
            for (size_t i = 0; i < entries->elements; ++i) {
                const redisReply *e = entries->element[i];
                last = bytes(e->element[0]);
                const redisReply *f = e->element[1];
                if (field(f, "type") != "book")
                    continue;
                ++v.bookEntries;
                const QByteArray rid = field(f, "rid");
                if (!v.booked.contains(rid))
                    v.booked.insert(rid, {field(f, "user"), field(f, "item").toLongLong(),
                                          field(f, "qty").toLongLong()});
            }
            if (entries->elements < size_t(kStreamChunk) || last.isEmpty()
                || StreamId::parse(last) >= end)
                break;
            from = "(" + last;
        }
    }

    // The reservation index (SSCAN: the set of a big sale is large).
    QByteArray cursor = "0";
    do {
        auto r = command(m_redis, {"SSCAN", keys.reservations(), cursor, "COUNT",
                                   QByteArray::number(kScanCount)});
        if (!r)
            return std::unexpected(r.error());
        cursor = bytes(r->get()->element[0]);
        const redisReply *members = r->get()->element[1];
        for (size_t i = 0; i < members->elements; ++i)
            v.reservations.insert(bytes(members->element[i]));
    } while (cursor != "0");

    auto dead = command(m_redis, {"XLEN", keys.deadLetters()});
    if (!dead)
        return std::unexpected(dead.error());
    v.deadLetters = dead->get()->integer;
    // Every entry (issue 20: resolved ones are told apart by PostgreSQL), in chunks.
    QByteArray from = "-";
    while (v.deadLetters > 0) {
        auto chunk = command(m_redis, {"XRANGE", keys.deadLetters(), from, "+", "COUNT", "1000"});
        if (!chunk)
            return std::unexpected(chunk.error());
        const redisReply *list = chunk->get();
        for (size_t i = 0; i < list->elements; ++i) {
            const redisReply *e = list->element[i];
            const redisReply *f = e->element[1];
            const QByteArray id = bytes(e->element[0]);
            v.deadEntries.insert(id, QStringLiteral("%1 (rid %2): %3")
                                         .arg(QString::fromUtf8(field(f, "source_id")),
                                              QString::fromUtf8(field(f, "field:rid")),
                                              QString::fromUtf8(field(f, "reason"))));
            from = "(" + id;
        }
        if (list->elements < 1000)
            break;
    }

    // The simulator's capture ledger, when this stack charges through it. Not a key of the sale:
    // on a Redis Cluster it may live on another node, which a MOVED names.
    redisContext *ledger = m_redis;
    std::unique_ptr<redisContext, decltype(&redisFree)> other(nullptr, &redisFree);
    auto paysim = command(m_redis, {"EXISTS", "fs:paysim:captured"});
    if (!paysim && paysim.error().message.contains(QLatin1String("MOVED "))) {
        // "Redis EXISTS: MOVED <slot> <host>:<port>"
        const QString to = paysim.error().message.section(QLatin1Char(' '), -1);
        auto node = connectNode(to.section(QLatin1Char(':'), 0, -2).toUtf8(),
                                to.section(QLatin1Char(':'), -1).toInt(), m_url);
        if (!node)
            return std::unexpected(node.error());
        other.reset(*node);
        ledger = other.get();
        paysim = command(ledger, {"EXISTS", "fs:paysim:captured"});
    }
    if (!paysim)
        return std::unexpected(paysim.error());
    v.paysim = paysim->get()->integer == 1;
    for (qsizetype from = 0; v.paysim && from < orderIds.size(); from += kHmgetChunk) {
        QList<QByteArray> argv{"HMGET", "fs:paysim:captured"};
        const QList<qint64> chunk = orderIds.mid(from, kHmgetChunk);
        for (qint64 id : chunk)
            argv << QByteArray::number(id);
        auto r = command(ledger, argv);
        if (!r)
            return std::unexpected(r.error());
        for (size_t i = 0; i < r->get()->elements; ++i) {
            const QByteArray c = bytes(r->get()->element[i]);
            if (!c.isEmpty())
                v.paysimCaptured.insert(chunk[qsizetype(i)], c.toLongLong());
        }
    }
    return v;
}

} // namespace flashsale::bench
