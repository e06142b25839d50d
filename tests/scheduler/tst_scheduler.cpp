// The sale scheduler against real Redis and PostgreSQL. Scheduler objects run in-process on a
// fake clock the test moves, so warm-up, opening and closing are checked to the millisecond:
// a one-off sale is warmed, opened and closed on time; a recurring schedule materialises one
// 10,000-item sale per occurrence; of two schedulers only the lease holder acts, and the other
// takes over when it stops; live sales are reconciled on schedule.

#include "booking/itemimage.h"
#include "booking/salecatalog.h"
#include "booking/salekeys.h"
#include "core/config.h"
#include "pg/migrator.h"
#include "pg/pgconnection.h"
#include "redis/redisclient.h"
#include "scheduler/scheduler.h"
#include "testservers.h"

#include <QDateTime>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QJsonDocument>
#include <QJsonObject>
#include <QPointer>
#include <QSet>
#include <QSignalSpy>
#include <QTest>
#include <QTimer>
#include <QXmlStreamReader>

using namespace flashsale;
using namespace flashsale::test;

namespace {

constexpr qint64 kMinute = 60'000;
constexpr qint64 kHour = 60 * kMinute;

// Two connections, as one scheduler process has them.
struct Connections {
    std::unique_ptr<PgConnection> pg;
    std::unique_ptr<RedisClient> redis;
};

} // namespace

class TstScheduler : public QObject {
    Q_OBJECT

private:
    RedisServer m_redisServer;
    PgDatabase m_db;
    std::unique_ptr<RedisSync> m_redis;
    Connections m_conn;
    qint64 m_now = 0; // the fake clock every scheduler here reads
    qint64 m_base = 0;

    Config config(int leaseSeconds = 30, int reconcileSeconds = 0) const {
        Config c;
        c.pgUrl = m_db.url();
        c.redisUrl = m_redisServer.url();
        c.schedulerTickMs = 50;
        c.leaseSeconds = leaseSeconds;
        c.warmupSeconds = 60;
        c.reconcileIntervalSeconds = reconcileSeconds;
        return c;
    }

    Scheduler::Clock clock() {
        return [this] { return m_now; };
    }

    Connections openConnections() {
        Connections c;
        c.pg = std::make_unique<PgConnection>(m_db.url());
        const auto endpoint = RedisClient::Endpoint::fromUrl(m_redisServer.url());
        c.redis = std::make_unique<RedisClient>(*endpoint, std::chrono::milliseconds(5000));
        QSignalSpy pgUp(c.pg.get(), &PgConnection::connected);
        QSignalSpy redisUp(c.redis.get(), &RedisClient::connected);
        c.pg->start();
        c.redis->start();
        if (!QTest::qWaitFor([&] { return pgUp.count() > 0 && redisUp.count() > 0; }, 10000))
            qWarning("connections did not come up");
        return c;
    }

    // Runs the event loop until `pending` reaches 0 (callbacks decrement it and call `wake`).
    // A local loop rather than QTest::qWaitFor, which naps 10 ms between rounds of events and
    // would add hundreds of milliseconds to reading a 10,000-row result.
    static bool runUntilDone(const std::shared_ptr<int> &pending, QEventLoop &loop,
                             int timeoutMs = 60000) {
        if (*pending > 0) {
            QTimer::singleShot(timeoutMs, &loop, &QEventLoop::quit);
            loop.exec();
        }
        return *pending == 0;
    }
    static std::function<void()> countdown(const std::shared_ptr<int> &pending, QEventLoop &loop) {
        return [pending, wake = QPointer<QEventLoop>(&loop)] {
            if (--*pending == 0 && wake)
                wake->quit();
        };
    }

    // Runs one pass of each scheduler at once and waits until all have finished.
    static bool tick(std::initializer_list<Scheduler *> schedulers) {
        QEventLoop loop;
        auto pending = std::make_shared<int>(int(schedulers.size()));
        for (Scheduler *s : schedulers)
            s->tick(countdown(pending, loop));
        return runUntilDone(pending, loop);
    }

    // A sale stored in PostgreSQL only, as an operator creates one far ahead.
    // `lobbyMs` > 0 gives the sale a waiting room whose lobby opens then.
    qint64 createSale(const QString &name, qint64 startsMs, qint64 endsMs, int stock,
                      qint64 lobbyMs = 0) {
        SaleCatalog catalog(*m_conn.pg, *m_conn.redis);
        SaleSpec spec;
        spec.name = name;
        spec.startsAtMs = startsMs;
        spec.endsAtMs = endsMs;
        spec.perUserLimit = 2;
        if (lobbyMs > 0) {
            spec.waitingRoom = SaleSpec::WaitingRoom{};
            spec.waitingRoom->lobbyOpensAtMs = lobbyMs;
        }
        spec.items.append(SaleSpec::Item{0, name + QStringLiteral(" item"), stock, 500});
        qint64 id = -1;
        catalog.create(spec, false,
                       [&id](const Result<SaleSpec> &r, qint64 saleId) { id = r ? saleId : 0; });
        if (!QTest::qWaitFor([&id] { return id >= 0; }, 10000) || id == 0)
            qWarning("sale not created");
        return id;
    }

    qint64 createSchedule(const QByteArray &name, qint64 firstStartMs, int everySeconds,
                          int durationSeconds, int itemCount) {
        return m_db
            .scalar("INSERT INTO sale_schedules (name, first_start, every_seconds, "
                    "duration_seconds, item_count, units_per_item, price_cents, per_user_limit, "
                    "hold_seconds, admission_rate, admission_burst, created_by) VALUES ('"
                    + name + "', '" + isoMs(firstStartMs) + "', " + QByteArray::number(everySeconds)
                    + ", " + QByteArray::number(durationSeconds) + ", "
                    + QByteArray::number(itemCount)
                    + ", 3, 1999, 10, 300, 0, 1, 'test') RETURNING id")
            .toLongLong();
    }

    static QByteArray isoMs(qint64 ms) {
        return QDateTime::fromMSecsSinceEpoch(ms, Qt::UTC).toString(Qt::ISODateWithMs).toUtf8();
    }

    QByteArray saleColumn(qint64 sale, const QByteArray &expression) const {
        return m_db.scalar("SELECT " + expression
                           + " FROM sales WHERE id = " + QByteArray::number(sale));
    }
    // A lifecycle timestamp in ms since the epoch, or -1 while NULL.
    qint64 saleTime(qint64 sale, const QByteArray &column) const {
        const QByteArray v =
            saleColumn(sale, "coalesce((extract(epoch FROM " + column + ") * 1000)::bigint, -1)");
        return v.toLongLong();
    }
    int count(const QByteArray &fromWhere) const {
        return m_db.scalar("SELECT count(*) FROM " + fromWhere).toInt();
    }
    bool warmInRedis(qint64 sale) const {
        return m_redis->integer({"EXISTS", SaleKeys(sale).meta()}) == 1;
    }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY2(m_redisServer.start(), qPrintable(m_redisServer.error()));
        QVERIFY2(m_db.create(), qPrintable(m_db.error()));
        const auto migrated = applyMigrations(m_db.url());
        QVERIFY2(migrated, qPrintable(migrated ? QString() : migrated.error().message));
        m_redis = std::make_unique<RedisSync>(m_redisServer.port());
        m_conn = openConnections();
        // Whole minutes, so generated names ("... 2030-01-01 12:00 UTC") are predictable.
        m_base = (QDateTime::currentMSecsSinceEpoch() / kHour + 24) * kHour;
    }

    void init() {
        m_db.scalar("TRUNCATE sales, sale_schedules, audit_log, reconcile_runs, leases CASCADE");
        m_redis->command({"FLUSHALL"});
        m_now = m_base;
    }

    void itemNamesAreReadableAndUniqueWithinASale() {
        QSet<QString> names;
        for (int i = 0; i < 10000; ++i) {
            const QString n = generatedItemName(7, m_base, i);
            QVERIFY2(n.endsWith(QStringLiteral(" #%1").arg(i + 1)), qPrintable(n));
            QVERIFY(n.size() <= 40);
            QCOMPARE(n.count(QLatin1Char(' ')), 2); // "Adjective Noun #n"
            names.insert(n);
        }
        QCOMPARE(names.size(), 10000);
        QCOMPARE(generatedItemName(7, m_base, 41), generatedItemName(7, m_base, 41));
        // Another occurrence gets other products, not the same list again.
        int same = 0;
        for (int i = 0; i < 100; ++i)
            same += generatedItemName(7, m_base, i) == generatedItemName(7, m_base + kHour, i);
        QVERIFY2(same < 20, qPrintable(QString::number(same)));
    }

    void itemImageIsValidDeterministicSvg_data() {
        QTest::addColumn<qint64>("itemId");
        QTest::addColumn<QString>("name");
        QTest::addColumn<qint64>("priceCents");
        QTest::addColumn<QString>("price");
        QTest::addRow("plain") << qint64(1) << QStringLiteral("Amber Kettle #1") << qint64(1999)
                               << QStringLiteral("$19.99");
        QTest::addRow("markup") << qint64(42) << QStringLiteral("<b>Tom & \"Jerry's\"</b>")
                                << qint64(5) << QStringLiteral("$0.05");
        QTest::addRow("control characters") << qint64(43) << QStringLiteral("Bell\x07 and\x01 nul")
                                            << qint64(100) << QStringLiteral("$1.00");
        QTest::addRow("long unicode") << qint64(9000000001) << QString(120, QChar(0x00e9))
                                      << qint64(123456) << QStringLiteral("$1234.56");
    }

    void itemImageIsValidDeterministicSvg() {
        QFETCH(qint64, itemId);
        QFETCH(QString, name);
        QFETCH(qint64, priceCents);
        QFETCH(QString, price);
        const QByteArray svg = itemImageSvg(itemId, name, priceCents);
        QCOMPARE(svg, itemImageSvg(itemId, name, priceCents));
        QVERIFY(svg.size() < 4096);

        QXmlStreamReader xml(svg);
        QStringList texts;
        QString label;
        bool sawRoot = false;
        while (!xml.atEnd()) {
            xml.readNext();
            if (xml.isStartElement() && !sawRoot) {
                sawRoot = true;
                QCOMPARE(xml.name().toString(), QStringLiteral("svg"));
                QCOMPARE(xml.namespaceUri().toString(),
                         QStringLiteral("http://www.w3.org/2000/svg"));
                label = xml.attributes().value(QStringLiteral("aria-label")).toString();
            }
            if (xml.isStartElement() && xml.name() == QStringLiteral("text"))
                texts << xml.readElementText();
        }
        QVERIFY2(!xml.hasError(), qPrintable(xml.errorString() + QLatin1Char(' ') + svg));
        QVERIFY(sawRoot);
        QCOMPARE(texts.size(), 2);
        QCOMPARE(texts.at(1), price);
        // The name survives escaping, less the characters XML cannot carry.
        QString expected = name;
        expected.removeIf([](QChar c) { return c.unicode() < 0x20; });
        QCOMPARE(label, expected);
        QVERIFY(expected.startsWith(texts.at(0).chopped(texts.at(0).endsWith(QChar(0x2026)))));
        // Another id, another picture.
        QVERIFY(itemImageSvg(itemId + 1, name, priceCents) != svg);
    }

    // A sale with a waiting room must be in Redis, with its commitment, when its lobby opens:
    // the warm-up counts from lobby_opens_at, not from the start.
    void waitingRoomSaleIsWarmedBeforeItsLobby() {
        const qint64 start = m_base + 9 * kHour + 457;
        const qint64 lobby = start - 30 * kMinute;
        const qint64 sale = createSale(QStringLiteral("Lobby"), start, start + kHour, 3, lobby);
        QVERIFY(sale > 0);
        Scheduler s(config(), *m_conn.pg, *m_conn.redis, QStringLiteral("solo"), clock());
        QSignalSpy warmed(&s, &Scheduler::saleWarmed);
        m_now = lobby - 60'000 - 1; // 1 ms before the warm-up of the lobby
        QVERIFY(tick({&s}));
        QVERIFY(!warmInRedis(sale));
        QCOMPARE(warmed.count(), 0);
        m_now = lobby - 60'000;
        QVERIFY(tick({&s}));
        QVERIFY(warmInRedis(sale));
        QCOMPARE(warmed.count(), 1);
        const QHash<QByteArray, QByteArray> meta = m_redis->hash(SaleKeys(sale).meta());
        QCOMPARE(meta.value("wr"), QByteArray("1"));
        QCOMPARE(meta.value("lobby_ms").toLongLong(), lobby);
        QCOMPARE(meta.value("grace_ms"), QByteArray("3000"));
        const QByteArray commitment = m_db.scalar(
            "SELECT commitment FROM sale_fairness WHERE sale_id = " + QByteArray::number(sale));
        QCOMPARE(commitment.size(), 64);
        QCOMPARE(m_redis->hash(SaleKeys(sale).waitingRoomMeta()).value("commitment"), commitment);
    }

    void oneOffSaleIsWarmedOpenedAndClosedOnTime() {
        const qint64 start = m_base + 6 * kHour + 123; // not on a second: timing is to the ms
        const qint64 end = start + 10 * kMinute;
        const qint64 sale = createSale(QStringLiteral("One-off"), start, end, 7);
        QVERIFY(sale > 0);

        Scheduler s(config(), *m_conn.pg, *m_conn.redis, QStringLiteral("solo"), clock());
        QSignalSpy warmed(&s, &Scheduler::saleWarmed);
        QSignalSpy opened(&s, &Scheduler::saleOpened);
        QSignalSpy closed(&s, &Scheduler::saleClosed);
        QSignalSpy retired(&s, &Scheduler::saleRetired);
        QSignalSpy leadership(&s, &Scheduler::leadershipChanged);

        QVERIFY(tick({&s}));
        QVERIFY(s.isLeader());
        QCOMPARE(leadership.count(), 1);
        QVERIFY(!warmInRedis(sale));

        m_now = start - 60'000 - 1; // 1 ms before the warm-up begins
        QVERIFY(tick({&s}));
        QVERIFY(!warmInRedis(sale));
        QCOMPARE(saleTime(sale, "warmed_at"), -1);
        QCOMPARE(warmed.count(), 0);

        m_now = start - 60'000;
        QVERIFY(tick({&s}));
        QVERIFY(warmInRedis(sale));
        const QHash<QByteArray, QByteArray> meta = m_redis->hash(SaleKeys(sale).meta());
        QCOMPARE(meta.value("starts_ms").toLongLong(), start);
        QCOMPARE(meta.value("ends_ms").toLongLong(), end);
        QCOMPARE(meta.value("limit"), QByteArray("2"));
        const QList<QByteArray> stock = m_redis->command({"HGETALL", SaleKeys(sale).stock()});
        QCOMPARE(stock.size(), 2);
        QCOMPARE(stock.at(1), QByteArray("7"));
        QVERIFY(saleTime(sale, "warmed_at") > 0);
        QCOMPARE(warmed.count(), 1);
        QCOMPARE(saleTime(sale, "opened_at"), -1);

        m_now = start - 1;
        QVERIFY(tick({&s}));
        QCOMPARE(saleTime(sale, "opened_at"), -1);
        QCOMPARE(opened.count(), 0);

        m_now = start;
        QVERIFY(tick({&s}));
        QCOMPARE(saleTime(sale, "opened_at"), start);
        QCOMPARE(opened.count(), 1);
        QCOMPARE(opened.first().first().toLongLong(), sale);

        m_now = end - 1;
        QVERIFY(tick({&s}));
        QCOMPARE(saleTime(sale, "closed_at"), -1);
        QCOMPARE(m_redis->integer({"PTTL", SaleKeys(sale).meta()}), -1); // open: kept
        m_now = end;
        QVERIFY(tick({&s}));
        QCOMPARE(saleTime(sale, "closed_at"), end);
        QCOMPARE(closed.count(), 1);
        // Closed: every key of the sale expires at the close plus the retention (1 day).
        QTRY_COMPARE(retired.count(), 1);
        const qint64 expiresAt = end + qint64(Config().saleRetentionSeconds) * 1000;
        QCOMPARE(retired.first().at(1).toLongLong(), expiresAt);
        for (const QByteArray &key : {SaleKeys(sale).meta(), SaleKeys(sale).stock(),
                                      SaleKeys(sale).price(), SaleKeys(sale).items()})
            QCOMPARE(m_redis->integer({"PEXPIRETIME", key}), expiresAt);
        QVERIFY(tick({&s}));
        QCOMPARE(opened.count(), 1);
        QCOMPARE(closed.count(), 1);
        QCOMPARE(warmed.count(), 1);

        // Each step once in the audit log, by this scheduler.
        QCOMPARE(count("audit_log WHERE action = 'sale.warm' AND actor = 'scheduler@solo'"), 1);
        QCOMPARE(count("audit_log WHERE action = 'sale.open' AND actor = 'scheduler@solo'"), 1);
        QCOMPARE(count("audit_log WHERE action = 'sale.close' AND actor = 'scheduler@solo'"), 1);
        QCOMPARE(count("audit_log"), 3);

        // stop() gives the lease up.
        bool released = false;
        s.stop([&released] { released = true; });
        QTRY_VERIFY(released);
        QVERIFY(!s.isLeader());
        QCOMPARE(count("leases"), 0);
    }

    void stoppedSaleIsNeitherWarmedNorOpened() {
        const qint64 start = m_base + kHour;
        const qint64 sale = createSale(QStringLiteral("Stopped"), start, start + kMinute, 3);
        m_db.scalar("UPDATE sales SET state = 'stopped' WHERE id = " + QByteArray::number(sale));
        Scheduler s(config(), *m_conn.pg, *m_conn.redis, QStringLiteral("solo"), clock());
        m_now = start;
        QVERIFY(tick({&s}));
        QVERIFY(s.isLeader());
        QVERIFY(!warmInRedis(sale));
        QCOMPARE(saleTime(sale, "opened_at"), -1);
    }

    void recurringScheduleCreatesOneSalePerOccurrence() {
        const qint64 first = m_base + 2 * kHour;
        const qint64 schedule = createSchedule("Hourly", first, 3600, 600, 10000);
        QVERIFY(schedule > 0);
        Scheduler s(config(), *m_conn.pg, *m_conn.redis, QStringLiteral("solo"), clock());
        QSignalSpy created(&s, &Scheduler::saleCreated);
        const QByteArray ofSchedule = "sales WHERE schedule_id = " + QByteArray::number(schedule);

        m_now = first - 60'000 - 1;
        QVERIFY(tick({&s}));
        QCOMPARE(count(ofSchedule), 0);

        // The warm-up begins: the first occurrence is created with all its items and warmed.
        m_now = first - 60'000;
        QElapsedTimer timer;
        timer.start();
        QVERIFY(tick({&s}));
        const qint64 passMs = timer.elapsed();
        QCOMPARE(count(ofSchedule), 1);
        QCOMPARE(created.count(), 1);
        const qint64 sale = created.first().first().toLongLong();
        QCOMPARE(created.first().at(1).toLongLong(), schedule);
        QCOMPARE(saleColumn(sale, "name"), "Hourly "
                                               + QDateTime::fromMSecsSinceEpoch(first, Qt::UTC)
                                                     .toString(QStringLiteral("yyyy-MM-dd HH:mm"))
                                                     .toUtf8()
                                               + " UTC");
        QCOMPARE(saleTime(sale, "starts_at"), first);
        QCOMPARE(saleTime(sale, "ends_at"), first + 600'000);
        QCOMPARE(saleColumn(sale, "per_user_limit"), QByteArray("10"));
        const QByteArray items = "sale_items WHERE sale_id = " + QByteArray::number(sale);
        QCOMPARE(count(items), 10000);
        QCOMPARE(m_db.scalar("SELECT count(DISTINCT name) FROM " + items).toInt(), 10000);
        QCOMPARE(count(items + " AND stock = 3 AND price_cents = 1999"), 10000);
        QCOMPARE(count("inventory WHERE sale_id = " + QByteArray::number(sale)), 10000);
        QVERIFY(saleTime(sale, "warmed_at") > 0);
        QCOMPARE(m_redis->integer({"HLEN", SaleKeys(sale).stock()}), 10000);
        QCOMPARE(m_redis->integer({"HLEN", SaleKeys(sale).items()}), 10000);
        QCOMPARE(m_redis->hash(SaleKeys(sale).meta()).value("limit"), QByteArray("10"));
        const QByteArray createMs = m_db.scalar(
            "SELECT detail->>'create_ms' FROM audit_log WHERE action = 'schedule.occurrence'");
        qInfo("10,000-item occurrence: created and warmed in %s ms (whole pass %lld ms)",
              createMs.constData(), passMs);
        QVERIFY2(createMs.toInt() < 3000, createMs.constData());

        // Later passes in the same occurrence create nothing more.
        QVERIFY(tick({&s}));
        m_now = first;
        QVERIFY(tick({&s}));
        m_now = first + 30 * kMinute; // the first has ended; the next is not due yet
        QVERIFY(tick({&s}));
        QCOMPARE(count(ofSchedule), 1);
        QCOMPARE(saleTime(sale, "opened_at"), first);
        QCOMPARE(saleTime(sale, "closed_at"), first + 30 * kMinute);

        // The next occurrence, an interval later, with the schedule's current settings.
        m_db.scalar("UPDATE sale_schedules SET item_count = 5 WHERE id "
                    "= "
                    + QByteArray::number(schedule));
        m_now = first + kHour - 60'000;
        QVERIFY(tick({&s}));
        QVERIFY(tick({&s}));
        QCOMPARE(count(ofSchedule), 2);
        QCOMPARE(created.count(), 2);
        const qint64 next = created.at(1).first().toLongLong();
        QCOMPARE(saleTime(next, "starts_at"), first + kHour);
        QCOMPARE(count("sale_items WHERE sale_id = " + QByteArray::number(next)), 5);
        QVERIFY(warmInRedis(next));
        QCOMPARE(count("audit_log WHERE action = 'schedule.occurrence' AND actor = "
                       "'scheduler@solo'"),
                 2);

        // A scheduler that was down for a while creates the occurrence running now, not the
        // ones it missed.
        m_now = first + 5 * kHour + 2 * kMinute;
        QVERIFY(tick({&s}));
        QCOMPARE(count(ofSchedule), 3);
        QCOMPARE(saleTime(created.at(2).first().toLongLong(), "starts_at"), first + 5 * kHour);
        QCOMPARE(saleTime(created.at(2).first().toLongLong(), "opened_at"), m_now);

        // A cancelled schedule creates nothing more.
        m_db.scalar("UPDATE sale_schedules SET active = false");
        m_now = first + 6 * kHour;
        QVERIFY(tick({&s}));
        QCOMPARE(count(ofSchedule), 3);
    }

    // The two halves of materialising the hourly sale, timed apart (docs/SCHEDULER.md quotes
    // them): one INSERT statement with a jsonb array of 10,000 items, then one warm.lua call.
    void tenThousandItemsInsertAndWarm() {
        SaleCatalog catalog(*m_conn.pg, *m_conn.redis);
        SaleSpec spec;
        spec.name = QStringLiteral("Timing");
        spec.startsAtMs = m_base + kHour;
        spec.endsAtMs = m_base + 2 * kHour;
        for (int i = 0; i < 10000; ++i)
            spec.items.append(SaleSpec::Item{0, generatedItemName(1, m_base, i), 1, 1999});
        QElapsedTimer timer;
        timer.start();
        QEventLoop loop;
        auto pending = std::make_shared<int>(1);
        qint64 sale = 0;
        catalog.create(
            spec, false,
            [&sale, done = countdown(pending, loop)](const Result<SaleSpec> &r, qint64 id) {
                sale = r ? id : 0;
                done();
            });
        QVERIFY(runUntilDone(pending, loop, 10000));
        const qint64 insertMs = timer.restart();
        QVERIFY(sale > 0);
        std::optional<Result<bool>> warmed;
        *pending = 1;
        catalog.warm(sale, [&warmed, done = countdown(pending, loop)](const Result<bool> &r) {
            warmed = r;
            done();
        });
        QVERIFY(runUntilDone(pending, loop, 10000));
        const qint64 warmMs = timer.elapsed();
        QVERIFY(warmed->has_value() && **warmed);
        QCOMPARE(m_redis->integer({"HLEN", SaleKeys(sale).stock()}), 10000);
        // Reported, not asserted: a timed assertion fails on a loaded machine, not on a slow
        // change (the figures of record are in docs/BENCHMARKS.md).
        qInfo("10,000 items: INSERT %lld ms, warm (read back + warm.lua + MSET) %lld ms", insertMs,
              warmMs);
        QCOMPARE(m_redis->integer({"HLEN", SaleKeys(sale).price()}), 10000);
    }

    void onlyTheLeaseHolderActs() {
        const qint64 first = m_base + kHour;
        const qint64 schedule = createSchedule("Race", first, 60, 30, 4);
        const QByteArray ofSchedule = "sales WHERE schedule_id = " + QByteArray::number(schedule);
        Connections other = openConnections();
        Scheduler a(config(1), *m_conn.pg, *m_conn.redis, QStringLiteral("a"), clock());
        Scheduler b(config(1), *other.pg, *other.redis, QStringLiteral("b"), clock());

        // Both tick at once, each on its own connections, through three occurrences.
        for (int i = 0; i < 3; ++i) {
            m_now = first + i * kMinute - 30'000;
            QVERIFY(tick({&a, &b}));
            QVERIFY(tick({&b, &a}));
            QCOMPARE(a.isLeader() + b.isLeader(), 1);
            m_now = first + i * kMinute;
            QVERIFY(tick({&a, &b}));
        }
        Scheduler &leader = a.isLeader() ? a : b;
        Scheduler &follower = a.isLeader() ? b : a;
        QSignalSpy followerLeads(&follower, &Scheduler::leadershipChanged);
        QCOMPARE(count(ofSchedule), 3);
        QCOMPARE(m_db.scalar("SELECT count(DISTINCT starts_at) FROM " + ofSchedule).toInt(), 3);
        QCOMPARE(m_db.scalar("SELECT count(DISTINCT actor) FROM audit_log").toInt(), 1);
        QCOMPARE(m_db.scalar("SELECT min(actor) FROM audit_log"), leader.actor().toUtf8());
        QCOMPARE(count("sales WHERE opened_at IS NOT NULL"), 3);
        QCOMPARE(count("audit_log WHERE action = 'sale.open'"), 3);
        QCOMPARE(count("audit_log WHERE action = 'schedule.occurrence'"), 3);

        // The leader stops and releases: the other takes over on its next tick and acts.
        bool released = false;
        leader.stop([&released] { released = true; });
        QTRY_VERIFY(released);
        m_now = first + 3 * kMinute - 30'000;
        QVERIFY(tick({&follower, &leader}));
        QVERIFY(follower.isLeader());
        QVERIFY(!leader.isLeader());
        QCOMPARE(followerLeads.count(), 1);
        QCOMPARE(count(ofSchedule), 4);
        QCOMPARE(count("audit_log WHERE action = 'schedule.occurrence' AND actor = '"
                       + follower.actor().toUtf8() + "' AND after->>'starts_at' = '"
                       + isoMs(first + 3 * kMinute) + "'"),
                 1);

        // The new leader now just stops renewing (as if it crashed): a third scheduler waits
        // until the lease lapses (1 s), then acts.
        Scheduler c(config(1), *m_conn.pg, *m_conn.redis, QStringLiteral("c"), clock());
        QVERIFY(tick({&c}));
        QVERIFY(!c.isLeader());
        m_now = first + 4 * kMinute - 30'000;
        QVERIFY(tick({&c}));
        QCOMPARE(count(ofSchedule), 4);
        QElapsedTimer lapse;
        lapse.start();
        QTRY_VERIFY_WITH_TIMEOUT((tick({&c}), c.isLeader()), 5000);
        QVERIFY2(lapse.elapsed() < 2500, qPrintable(QString::number(lapse.elapsed())));
        QCOMPARE(count(ofSchedule), 5);
        QCOMPARE(count("audit_log WHERE action = 'schedule.occurrence' AND actor = 'scheduler@c'"),
                 1);

        // The old leader comes back: it has lost the lease, says so and does nothing.
        const QByteArray byFollower = "audit_log WHERE actor = '" + follower.actor().toUtf8() + "'";
        const int before = count(byFollower);
        m_now = first + 5 * kMinute - 30'000;
        QVERIFY(tick({&c}));
        QVERIFY(tick({&follower}));
        QVERIFY(!follower.isLeader());
        QCOMPARE(followerLeads.count(), 2);
        QCOMPARE(count(byFollower), before);
        QCOMPARE(count(ofSchedule), 6); // created by c
        QCOMPARE(count("audit_log WHERE action = 'schedule.occurrence' AND actor = 'scheduler@c'"),
                 2);
    }

    void liveSalesAreReconciledOnSchedule() {
        const qint64 start = m_base + kHour;
        const qint64 live = createSale(QStringLiteral("Live"), start, start + kHour, 5);
        // Closed 10 minutes before the check: still reconciled. Closed 2 hours before: not.
        const qint64 recent =
            createSale(QStringLiteral("Recent"), start - kHour, start - 10 * kMinute + 30'000, 5);
        const qint64 old =
            createSale(QStringLiteral("Old"), start - 3 * kHour, start - 2 * kHour, 5);
        for (const qint64 id : {recent, old})
            m_db.scalar("UPDATE sales SET warmed_at = starts_at, opened_at = starts_at, "
                        "closed_at = ends_at WHERE id = "
                        + QByteArray::number(id));

        Scheduler s(config(30, 60), *m_conn.pg, *m_conn.redis, QStringLiteral("solo"), clock());
        QSignalSpy finished(&s, &Scheduler::reconcileFinished);

        // The first leader pass reconciles what is live then: only the recently closed sale.
        m_now = start - 30'000;
        QVERIFY(tick({&s}));
        QTRY_COMPARE(finished.count(), 1);
        QCOMPARE(finished.at(0).at(0).toLongLong(), recent);
        QVERIFY(warmInRedis(live));

        // The live sale opens, but the next round is due only a full interval later.
        m_now = start;
        QVERIFY(tick({&s}));
        QCOMPARE(saleTime(live, "opened_at"), start);
        QTest::qWait(200); // a wait on purpose: no round may start in it
        QCOMPARE(finished.count(), 1);

        m_now = start + 30'000; // 60 s after the first round
        QVERIFY(tick({&s}));
        QTRY_COMPARE(finished.count(), 3);
        QCOMPARE(finished.at(1).at(0).toLongLong(), live);
        QCOMPARE(finished.at(2).at(0).toLongLong(), recent);

        // Whatever the reconciler answered, the scheduler went on: it still leads and acts.
        const qint64 later =
            createSale(QStringLiteral("Later"), start + 2 * kMinute, start + 3 * kMinute, 1);
        m_now = start + 2 * kMinute;
        QVERIFY(tick({&s}));
        QVERIFY(s.isLeader());
        QCOMPARE(saleTime(later, "opened_at"), start + 2 * kMinute);
        QTRY_COMPARE(finished.count(), 6); // the next round: live, recent and later

        bool allOk = true;
        for (const auto &call : finished)
            allOk = allOk && call.at(1).toBool();
        if (allOk) {
            // The real reconciler records each run; they ran one after another.
            QCOMPARE(count("reconcile_runs WHERE trigger = 'schedule' AND mode = 'dry_run' AND "
                           "actor = 'scheduler@solo'"),
                     int(finished.count()));
            QCOMPARE(count("reconcile_runs r JOIN reconcile_runs p ON p.id < r.id "
                           "WHERE r.started_at < p.finished_at"),
                     0);
        } else {
            qInfo("the reconciler answered errors (not built yet?); the scheduler carried on");
        }
        QCOMPARE(count("reconcile_runs WHERE sale_id = " + QByteArray::number(old)), 0);
    }

    // Issue 20: a pending order whose hold Redis lost (a data loss) is not left for an operator
    // to find: the scheduled dry run that sees it is followed by a repair, which ends it as
    // hold-lost with the buyer's cancellation event.
    void holdLostOrdersAreRepairedOnSchedule() {
        const qint64 start = m_base + 5 * kHour;
        const qint64 sale = createSale(QStringLiteral("Stranded"), start, start + kHour, 5);
        Scheduler s(config(30, 60), *m_conn.pg, *m_conn.redis, QStringLiteral("mender"), clock());
        QSignalSpy repaired(&s, &Scheduler::holdLostRepaired);
        m_now = start - 30'000;
        QVERIFY(tick({&s}));
        m_now = start;
        QVERIFY(tick({&s}));
        QCOMPARE(saleTime(sale, "opened_at"), start);
        QVERIFY(warmInRedis(sale));
        // An order PostgreSQL has and Redis forgot: no hash, no stream entry, not counted.
        const QByteArray rid = QByteArray::number(sale) + "-" + QByteArray(31, '0') + "1";
        m_db.scalar("WITH o AS (INSERT INTO orders (reservation_id, sale_id, item_id, user_id, "
                    "quantity, amount_cents, status, accepted_at, expires_at) SELECT '"
                    + rid
                    + "', sale_id, id, 'stranded', 1, 500, 'pending', now(), now() + interval "
                      "'1 hour' FROM sale_items WHERE sale_id = "
                    + QByteArray::number(sale)
                    + " RETURNING item_id) UPDATE inventory SET sold = sold + 1 WHERE item_id IN "
                      "(SELECT item_id FROM o) RETURNING 1");
        QCOMPARE(m_db.scalar("SELECT status FROM orders WHERE reservation_id = '" + rid + "'"),
                 QByteArray("pending"));

        m_now = start + 60'000; // the next round is due
        QVERIFY(tick({&s}));
        QTRY_COMPARE_WITH_TIMEOUT(repaired.count(), 1, 30000);
        QCOMPARE(repaired.at(0).at(0).toLongLong(), sale);
        QVERIFY(repaired.at(0).at(1).toBool());
        QCOMPARE(m_db.scalar("SELECT status || '/' || cancel_reason FROM orders WHERE "
                             "reservation_id = '"
                             + rid + "'"),
                 QByteArray("cancelled/hold-lost"));
        QCOMPARE(count("outbox WHERE topic = 'order.cancelled' AND key = '" + rid + "'"), 1);
        QCOMPARE(count("reconcile_runs WHERE sale_id = " + QByteArray::number(sale)
                       + " AND mode = 'repair' AND trigger = 'schedule'"),
                 1);
        QCOMPARE(
            m_db.scalar("SELECT sold FROM inventory WHERE sale_id = " + QByteArray::number(sale)),
            QByteArray("0"));
    }
};

QTEST_GUILESS_MAIN(TstScheduler)
#include "tst_scheduler.moc"
