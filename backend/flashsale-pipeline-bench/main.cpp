// flashsale-pipeline-bench: how fast the stream worker turns accepted bookings into orders,
// next to the ceiling of the same SQL fed straight to PostgreSQL, measured in one run.
//
// It creates a database of its own (and drops it after), applies the migrations, then per round:
//   ceiling  the worker's statement (OrderBatch::persistSql) run directly, batch after batch,
//            for N synthetic orders of a fresh sale;
//   worker   N "book" entries XADDed to a fresh sale's stream, then a real
//            flashsale-server --roles worker drains it; timed from its first order to its last.
// Blocking I/O is fine here: this is a measuring tool, not a server.

#include "booking/salekeys.h"
#include "booking/streamentry.h"
#include "pg/migrator.h"
#include "redis/redisvalue.h"
#include "worker/orderbatch.h"

#include <QCommandLineParser>
#include <QCoreApplication>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QProcess>
#include <QRandomGenerator>
#include <QTemporaryDir>
#include <QThread>
#include <QUrl>

#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#include <algorithm>
#include <cstdio>

using namespace flashsale;

namespace {

QProcess *g_worker = nullptr; // killed on every way out, so no worker outlives its run

[[noreturn]] void die(const QString &msg) {
    std::fprintf(stderr, "flashsale-pipeline-bench: %s\n", qPrintable(msg));
    if (g_worker)
        g_worker->kill();
    std::exit(1);
}

QByteArray sql(PGconn *c, const QByteArray &statement, const QList<QByteArray> &params = {}) {
    QVarLengthArray<const char *> values;
    for (const QByteArray &p : params)
        values.append(p.constData());
    PGresult *r = PQexecParams(c, statement.constData(), int(values.size()), nullptr, values.data(),
                               nullptr, nullptr, 0);
    const ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        die(QStringLiteral("SQL failed: %1").arg(QString::fromUtf8(PQresultErrorMessage(r))));
    const QByteArray v = PQntuples(r) > 0 ? QByteArray(PQgetvalue(r, 0, 0)) : QByteArray();
    PQclear(r);
    return v;
}

// Returns (sale id, item id).
QPair<qint64, qint64> createSale(PGconn *c, int stock) {
    const QByteArray sale =
        sql(c, "INSERT INTO sales (name, per_user_limit, starts_at, ends_at, hold_seconds, "
               "admission_rate, admission_burst) VALUES ('bench', 1000, now(), now() + "
               "interval '1 day', 300, 0, 1) RETURNING id");
    const QByteArray item =
        sql(c,
            "INSERT INTO sale_items (sale_id, name, price_cents, stock) VALUES ($1, "
            "'bench item', 100, $2) RETURNING id",
            {sale, QByteArray::number(stock)});
    sql(c, "INSERT INTO inventory (item_id, sale_id, stock) VALUES ($1, $2, $3)",
        {item, sale, QByteArray::number(stock)});
    return {sale.toLongLong(), item.toLongLong()};
}

QByteArray rid(qint64 sale, qint64 i) {
    return QByteArray::number(sale) + '-' + QByteArray::number(i, 16).rightJustified(32, '0');
}

double ceiling(PGconn *c, int entries, int batchSize) {
    const auto [sale, item] = createSale(c, entries);
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    QElapsedTimer t;
    t.start();
    for (int from = 0; from < entries; from += batchSize) {
        OrderBatch b;
        for (int i = from; i < std::min(entries, from + batchSize); ++i)
            b.orders.append(OrderRow{rid(sale, i), sale, item,
                                     "user-" + QByteArray::number(i % 100000), 1, 100, now,
                                     now + 300000});
        sql(c, OrderBatch::persistSql(), b.persistParams());
    }
    const double secs = t.nsecsElapsed() / 1e9;
    if (sql(c, "SELECT count(*) FROM orders WHERE sale_id = $1", {QByteArray::number(sale)}).toInt()
        != entries)
        die(QStringLiteral("ceiling round wrote the wrong number of orders"));
    return entries / secs;
}

double worker(PGconn *c, redisContext *r, const QString &redisUrl, const QString &pgUrl,
              int entries, int batchSize) {
    const auto [sale, item] = createSale(c, entries);
    const SaleKeys k(sale);
    const QByteArray stream = k.stream();
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    // Sale ids restart in every bench database: drop what an earlier run left under this id.
    freeReplyObject(redisCommand(r, "DEL %b %b", stream.constData(), size_t(stream.size()),
                                 k.deadLetters().constData(), size_t(k.deadLetters().size())));
    freeReplyObject(redisCommand(r, "DEL %s", SaleKeys::saleIndex().constData()));
    // Fill the stream the way book.lua writes it, pipelined in chunks.
    for (int from = 0; from < entries; from += 1000) {
        const int to = std::min(entries, from + 1000);
        for (int i = from; i < to; ++i) {
            const QList<QByteArray> argv =
                StreamEntry::book(OrderRow{rid(sale, i), sale, item,
                                           "user-" + QByteArray::number(i % 100000), 1, 100, now,
                                           now + 300000})
                    .xadd();
            QVarLengthArray<const char *> a;
            QVarLengthArray<size_t> l;
            for (const QByteArray &x : argv) {
                a.append(x.constData());
                l.append(size_t(x.size()));
            }
            redisAppendCommandArgv(r, int(a.size()), a.data(), l.data());
        }
        for (int i = from; i < to; ++i) {
            void *reply = nullptr;
            if (redisGetReply(r, &reply) != REDIS_OK)
                die(QStringLiteral("redis: %1").arg(QString::fromUtf8(r->errstr)));
            freeReplyObject(reply);
        }
    }
    freeReplyObject(redisCommand(r, "SADD %s %lld", SaleKeys::saleIndex().constData(), sale));

    QTemporaryDir dir;
    QProcess server;
    server.setProgram(QCoreApplication::applicationDirPath() + QStringLiteral("/flashsale-server"));
    server.setArguments({QStringLiteral("--roles"), QStringLiteral("worker"),
                         QStringLiteral("--redis-url"), redisUrl, QStringLiteral("--pg-url"), pgUrl,
                         QStringLiteral("--worker-batch"), QString::number(batchSize),
                         QStringLiteral("--worker-consumer"),
                         QStringLiteral("bench-%1").arg(sale)});
    server.setStandardErrorFile(dir.filePath(QStringLiteral("worker.log")));
    g_worker = &server;
    server.start();
    if (!server.waitForStarted())
        die(QStringLiteral("cannot start flashsale-server"));
    // Progress is read from the consumer group in Redis, which costs the database nothing:
    // timed from the worker's first read to the moment every entry is acknowledged, which the
    // worker does only after the batch committed. The orders are counted once at the end.
    auto group = [&]() {
        auto *reply = static_cast<redisReply *>(
            redisCommand(r, "XINFO GROUPS %b", stream.constData(), size_t(stream.size())));
        const RedisValue groups = reply ? RedisValue::fromHiredis(reply) : RedisValue{};
        freeReplyObject(reply);
        return groups.at(0).fields();
    };
    QElapsedTimer t;
    t.start();
    qint64 firstNs = -1;
    for (;;) {
        if (t.elapsed() > 600000)
            die(QStringLiteral("the worker did not finish in 10 minutes"));
        const auto g = group();
        const qint64 read = g.value("entries-read").toInt();
        if (firstNs < 0 && read > 0)
            firstNs = t.nsecsElapsed();
        if (read == entries && g.contains("pending") && g.value("pending").toInt(-1) == 0)
            break;
        QThread::msleep(1);
    }
    const double secs = (t.nsecsElapsed() - firstNs) / 1e9;
    const int written =
        sql(c, "SELECT count(*) FROM orders WHERE sale_id = " + QByteArray::number(sale)).toInt();
    if (written != entries) {
        QFile log(dir.filePath(QStringLiteral("worker.log")));
        log.open(QIODevice::ReadOnly);
        die(QStringLiteral("the worker wrote %1 orders for %2 entries; its log:\n%3")
                .arg(written)
                .arg(entries)
                .arg(QString::fromUtf8(log.readAll().right(3000))));
    }
    server.terminate();
    server.waitForFinished();
    g_worker = nullptr;
    return entries / secs;
}

} // namespace

int main(int argc, char *argv[]) {
    QCoreApplication app(argc, argv);
    QCommandLineParser p;
    p.setApplicationDescription(
        QStringLiteral("Orders persisted per second: the stream worker against the SQL ceiling."));
    p.addHelpOption();
    const QCommandLineOption redisOpt(QStringLiteral("redis-url"),
                                      QStringLiteral("Redis; use a database of its own, e.g. /9."),
                                      QStringLiteral("url"));
    const QCommandLineOption pgOpt(QStringLiteral("pg-url"),
                                   QStringLiteral("A PostgreSQL URL allowed to CREATE DATABASE."),
                                   QStringLiteral("url"));
    const QCommandLineOption entriesOpt(QStringLiteral("entries"),
                                        QStringLiteral("Bookings per round."), QStringLiteral("n"),
                                        QStringLiteral("200000"));
    const QCommandLineOption batchOpt(QStringLiteral("batch"),
                                      QStringLiteral("Orders per transaction."),
                                      QStringLiteral("n"), QStringLiteral("1000"));
    const QCommandLineOption roundsOpt(QStringLiteral("rounds"),
                                       QStringLiteral("Rounds, each ceiling then worker."),
                                       QStringLiteral("n"), QStringLiteral("3"));
    p.addOptions({redisOpt, pgOpt, entriesOpt, batchOpt, roundsOpt});
    p.process(app);
    if (!p.isSet(redisOpt) || !p.isSet(pgOpt))
        die(QStringLiteral("--redis-url and --pg-url are required"));
    const int entries = p.value(entriesOpt).toInt();
    const int batch = p.value(batchOpt).toInt();
    const int rounds = p.value(roundsOpt).toInt();

    const QString db = QStringLiteral("flashsale_bench_%1").arg(QCoreApplication::applicationPid());
    PGconn *admin = PQconnectdb(p.value(pgOpt).toUtf8().constData());
    if (PQstatus(admin) != CONNECTION_OK)
        die(QString::fromUtf8(PQerrorMessage(admin)));
    sql(admin, "CREATE DATABASE " + db.toUtf8());
    QUrl url(p.value(pgOpt));
    url.setPath(QLatin1Char('/') + db);
    const QString pgUrl = url.toString();
    if (auto m = applyMigrations(pgUrl); !m)
        die(m.error().message);
    PGconn *c = PQconnectdb(pgUrl.toUtf8().constData());
    // Sale ids (and so Redis keys) of this run differ from any earlier run's.
    sql(c, "SELECT setval('sales_id_seq', "
               + QByteArray::number(QDateTime::currentSecsSinceEpoch() % 10000000 * 100) + ")");
    const QUrl ru(p.value(redisOpt));
    redisContext *r = redisConnect(ru.host().toUtf8().constData(), ru.port(6379));
    if (!r || r->err)
        die(QStringLiteral("cannot connect to Redis"));
    // The local stack's Redis wants a password: read it as flashsale-server does (its workers,
    // started below, inherit the variable).
    if (const QString file = qEnvironmentVariable("FLASHSALE_REDIS_PASSWORD_FILE");
        !file.isEmpty()) {
        QFile f(file);
        if (!f.open(QIODevice::ReadOnly))
            die(QStringLiteral("cannot read FLASHSALE_REDIS_PASSWORD_FILE %1").arg(file));
        const QByteArray password = f.readAll().trimmed();
        auto *reply = static_cast<redisReply *>(
            redisCommand(r, "AUTH %b", password.constData(), size_t(password.size())));
        const bool ok = reply && reply->type == REDIS_REPLY_STATUS;
        freeReplyObject(reply);
        if (!ok)
            die(QStringLiteral("Redis refused the password in %1").arg(file));
    }
    const int redisDb = ru.path().mid(1).toInt();
    if (redisDb == 0)
        die(QStringLiteral(
            "give --redis-url a database of its own (e.g. /9): the bench rewrites fs:sales there"));
    freeReplyObject(redisCommand(r, "SELECT %d", redisDb));

    QList<double> ceilings, workers;
    for (int round = 1; round <= rounds; ++round) {
        ceilings << ceiling(c, entries, batch);
        workers << worker(c, r, p.value(redisOpt), pgUrl, entries, batch);
        std::printf("round %d: ceiling %.0f orders/s, worker %.0f orders/s (%.2f)\n", round,
                    ceilings.last(), workers.last(), workers.last() / ceilings.last());
        std::fflush(stdout);
    }
    auto median = [](QList<double> v) {
        std::sort(v.begin(), v.end());
        return v[v.size() / 2];
    };
    std::printf("%d orders per round, batches of %d, %d rounds; medians:\n", entries, batch,
                rounds);
    std::printf("| ceiling (statement straight to PostgreSQL) | %.0f orders/s |\n",
                median(ceilings));
    std::printf("| stream worker (XREADGROUP, commit, XACK) | %.0f orders/s |\n", median(workers));
    std::printf("ratio worker/ceiling = %.2f\n", median(workers) / median(ceilings));

    PQfinish(c);
    sql(admin, "DROP DATABASE " + db.toUtf8() + " WITH (FORCE)");
    PQfinish(admin);
    redisFree(r);
    return 0;
}
