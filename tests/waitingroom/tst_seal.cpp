// The waiting room's seal (issue 16, docs/WAITING_ROOM.md "The seal") on the real flashsale-server
// with the api and scheduler roles, over a real Redis and PostgreSQL: 200 buyers join the lobby
// over HTTP, 20 more after the boundary (FIFO); the scheduler seals on its own; the publication
// (GET /api/v1/sales/{id}/fairness, paged) lists exactly the cohort with ranks 1..N, each
// buyer's GET .../queue shows the same rank, PostgreSQL holds the revealed seed, the audit row
// and the archive, and both verifiers (flashsale-ctl and the Python reference) accept it. A redo
// of the seal writes identical bytes. Problem JSON for bad requests.
// FLASHSALE_TEST_BENCH=1 also times the seal of 1,000,000 entries (docs/BENCHMARKS.md).

#include "admission/buyertoken.h"
#include "booking/salekeys.h"
#include "booking/waitingroom.h"
#include "fairness/seedbox.h"
#include "pg/pgconnection.h"
#include "rawhttp.h"
#include "redis/redisclient.h"
#include "testservers.h"
#include "waitingroom/sealer.h"

#include <QDateTime>
#include <QElapsedTimer>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QRandomGenerator>
#include <QSet>
#include <QTest>
#include <QWebSocket>

#include "fairness/cohortshuffle.h"

using namespace flashsale;
using namespace flashsale::test;

namespace {

// 32 random bytes in hex: a seed-box secret.
QByteArray randomKeyHex() {
    QByteArray key(32, Qt::Uninitialized);
    QRandomGenerator::system()->generate(reinterpret_cast<quint32 *>(key.data()),
                                         reinterpret_cast<quint32 *>(key.data() + key.size()));
    return key.toHex();
}

constexpr int kCohort = 200;
constexpr int kLate = 20;

} // namespace

class TestSeal : public QObject {
    Q_OBJECT

private:
    RedisServer m_redisServer;
    std::unique_ptr<RedisSync> m_redis;
    PgDatabase m_db;
    Backend m_backend;
    quint16 m_port = 0;
    BuyerTokens m_tokens{Backend::kBuyerTokenSecret};
    // The seed box's secret (--waiting-room-seed-key): new seeds are sealed to its public key.
    const QByteArray m_seedKey = randomKeyHex();
    qint64 m_sale = 0;
    QString m_commitment;
    QHash<QByteArray, QByteArray> m_cohortEntry; // user -> entry id
    QHash<QByteArray, QByteArray> m_lateEntry;
    QHash<QByteArray, qint64> m_rankOf; // entry id -> published rank (sealEndToEnd)

    QByteArray token(const QByteArray &user) {
        return m_tokens.issue(user, nowMs(), nowMs() + 600000);
    }

    qint64 createSale(const QJsonObject &extra) {
        QJsonObject body{
            {"name", "Seal"}, {"starts_at", rfc3339(60000)}, {"ends_at", rfc3339(3600000)},
            {"stock", 10},    {"price_cents", 100},          {"per_user_limit", 1}};
        for (auto it = extra.constBegin(); it != extra.constEnd(); ++it)
            body.insert(it.key(), it.value());
        const HttpResponse r = postJson(m_port, "/api/v1/admin/sales", body, Backend::kAdminToken);
        if (r.status != 201)
            qWarning("create sale: %d %s", r.status, r.body.constData());
        return r.json().value("id").toInteger();
    }

    HttpResponse join(qint64 sale, const QByteArray &user) {
        return http(m_port, "POST", "/api/v1/sales/" + QByteArray::number(sale) + "/queue", {},
                    {{"Authorization", "Bearer " + token(user)}});
    }

    HttpResponse status(qint64 sale, const QByteArray &user) {
        return http(m_port, "GET", "/api/v1/sales/" + QByteArray::number(sale) + "/queue", {},
                    {{"Authorization", "Bearer " + token(user)}});
    }

    HttpResponse fairness(qint64 sale, const QByteArray &query = {}) {
        return http(m_port, "GET",
                    "/api/v1/sales/" + QByteArray::number(sale) + "/fairness" + query);
    }

    QString apiUrl() const { return QStringLiteral("http://127.0.0.1:%1").arg(m_port); }

    // Everything the seal wrote, as bytes: Redis' lists, hashes and fields, PostgreSQL's rows.
    QByteArray sealedBytes(qint64 sale) {
        const SaleKeys k(sale);
        QByteArray out;
        for (const QByteArray &id : m_redis->command({"LRANGE", k.waitingRoomRanked(), "0", "-1"}))
            out += id + ',';
        out += '|';
        const auto ranks = m_redis->hash(k.waitingRoomRanks());
        QList<QByteArray> keys = ranks.keys();
        std::sort(keys.begin(), keys.end());
        for (const QByteArray &id : keys)
            out += id + '=' + ranks.value(id) + ',';
        out += '|';
        const auto meta = m_redis->hash(k.waitingRoomMeta());
        for (const char *f : {"cohort_n", "close_ms", "seed", "digest", "shuffle_seed", "sealed_ms",
                              "ranked", "positions", "commitment"})
            out += QByteArray(f) + '=' + meta.value(f) + ',';
        out += '|'
               + m_db.scalar("SELECT concat_ws(',', seed, digest, shuffle_seed, cohort_size, "
                             "sealed_at) FROM sale_fairness WHERE sale_id = "
                             + QByteArray::number(sale));
        out += '|'
               + m_db.scalar("SELECT md5(string_agg(rank || ':' || entry_id, ',' ORDER BY "
                             "rank)) FROM waiting_room_entries WHERE sale_id = "
                             + QByteArray::number(sale));
        return out;
    }

    // Runs the Sealer in this process, on connections of its own.
    // With `withKey` false, a sealer without --waiting-room-seed-key.
    Result<Sealer::Report> sealHere(qint64 sale, int timeoutMs = 120000, bool withKey = true) {
        auto endpoint = RedisClient::Endpoint::fromUrl(m_redisServer.url());
        if (!endpoint)
            return std::unexpected(endpoint.error());
        RedisClient redis(*endpoint, std::chrono::milliseconds(30000));
        PgConnection pg(m_db.url());
        redis.start();
        pg.start();
        Sealer::Options options;
        if (withKey)
            options.seedKey = fairness::SeedBox::fromSecretHex(m_seedKey);
        Sealer sealer(pg, redis, QStringLiteral("test"), std::move(options));
        std::optional<Result<Sealer::Report>> result;
        QElapsedTimer t;
        t.start();
        // The connections come up on the event loop; the first commands may find them down.
        while (t.elapsed() < timeoutMs) {
            result.reset();
            sealer.seal(sale, [&](const Result<Sealer::Report> &r) { result = r; });
            while (!result && t.elapsed() < timeoutMs)
                QTest::qWait(5);
            if (result && !*result && result->error().code == ErrorCode::Unavailable) {
                QTest::qWait(50);
                continue;
            }
            break;
        }
        if (!result)
            return fail(ErrorCode::Timeout, QStringLiteral("the seal did not finish"));
        return *result;
    }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY2(m_redisServer.start(), qPrintable(m_redisServer.error()));
        m_redis = std::make_unique<RedisSync>(m_redisServer.port());
        QVERIFY2(m_db.create(), qPrintable(m_db.error()));
        QVERIFY2(m_backend.start({{"FLASHSALE_REDIS_URL", m_redisServer.url()},
                                  {"FLASHSALE_PG_URL", m_db.url()},
                                  {"FLASHSALE_ROLES", "api,scheduler"},
                                  {"FLASHSALE_SCHEDULER_TICK_MS", "100"},
                                  {"FLASHSALE_DEV_USER_IDS", "0"},
                                  {"FLASHSALE_WAITING_ROOM_SEED_KEY", m_seedKey}}),
                 qPrintable(m_backend.error()));
        m_port = m_backend.port();
        QTRY_COMPARE_WITH_TIMEOUT(http(m_port, "GET", "/readyz").status, 200, 10000);
    }

    // The whole path: lobby, joins, the boundary on Redis' clock, the scheduler's seal, the
    // publication, the buyers' ranks, PostgreSQL, and both verifiers.
    void sealEndToEnd() {
        // The cohort closes 8 s from now: time for 200 joins on a loaded machine.
        const qint64 closeAt = nowMs() + 8000;
        m_sale = createSale({{"waiting_room", true},
                             {"lobby_opens_at", rfc3339(-1000)},
                             {"starts_at", rfc3339(7000)},
                             {"grace_ms", 1000},
                             {"entries_per_address", 0}});
        QVERIFY(m_sale > 0);

        // Before the seal: the commitment only.
        HttpResponse lobby = fairness(m_sale);
        QCOMPARE(lobby.status, 200);
        QJsonObject page = lobby.json();
        QCOMPARE(page.value("state").toString(), QStringLiteral("lobby"));
        QVERIFY(page.value("seed").isNull());
        QVERIFY(page.value("digest").isNull());
        QVERIFY(page.value("shuffle_seed").isNull());
        QVERIFY(page.value("cohort_size").isNull());
        QVERIFY(page.value("sealed_at").isNull());
        QVERIFY(page.value("next").isNull());
        QCOMPARE(page.value("entries").toArray().size(), 0);
        QCOMPARE(lobby.headers.value("cache-control"), QByteArray("no-store"));
        m_commitment = page.value("commitment").toString();
        QCOMPARE(m_commitment.size(), 64);
        // The seed at rest is sealed to the scheduler's key: 32 bytes + 48 of box, and not the
        // seed (whose SHA-256 is the commitment).
        QCOMPARE(m_db.scalar("SELECT seed_box_kind || ':' || length(seed_box) || ':' || "
                             "(encode(sha256(seed_box), 'hex') = commitment) FROM sale_fairness "
                             "WHERE sale_id = "
                             + QByteArray::number(m_sale)),
                 QByteArray("x25519:80:false"));

        for (int i = 0; i < kCohort; ++i) {
            const QByteArray user = "c" + QByteArray::number(i);
            const HttpResponse r = join(m_sale, user);
            QVERIFY2(r.status == 201, r.body.constData());
            QVERIFY2(r.json().value("cohort").toBool(), r.body.constData());
            QCOMPARE(r.json().value("commitment").toString(), m_commitment);
            m_cohortEntry.insert(user, r.json().value("entry_id").toString().toLatin1());
        }
        QVERIFY2(nowMs() < closeAt - 200, "the joins took too long for this test's boundary");
        // Status before the seal: no rank yet.
        const QJsonObject before = status(m_sale, "c0").json();
        QVERIFY(before.value("rank").isNull());
        QVERIFY(before.value("cohort_size").isNull());

        // After the boundary (Redis' clock; give it a margin): FIFO.
        QTest::qWait(int(std::max<qint64>(0, closeAt - nowMs() + 300)));
        for (int i = 0; i < kLate; ++i) {
            const QByteArray user = "f" + QByteArray::number(i);
            const HttpResponse r = join(m_sale, user);
            QVERIFY2(r.status == 201, r.body.constData());
            QVERIFY2(!r.json().value("cohort").toBool(), r.body.constData());
            m_lateEntry.insert(user, r.json().value("entry_id").toString().toLatin1());
        }

        // The scheduler seals on its own, within a few ticks.
        QTRY_COMPARE_WITH_TIMEOUT(fairness(m_sale).json().value("state").toString(),
                                  QStringLiteral("sealed"), 15000);

        // Every page, 64 entries at a time, following "next".
        QByteArray query = "?limit=64";
        QJsonObject header;
        QHash<QByteArray, qint64> rankOf;
        QList<qint64> ranks;
        int pages = 0;
        while (!query.isNull()) {
            const HttpResponse r = fairness(m_sale, query);
            QCOMPARE(r.status, 200);
            QCOMPARE(r.headers.value("cache-control"),
                     QByteArray("public, max-age=86400, immutable"));
            QVERIFY(!r.headers.value("etag").isEmpty());
            QJsonObject p = r.json();
            for (const QJsonValue &e : p.value("entries").toArray()) {
                const QJsonArray pair = e.toArray();
                rankOf.insert(pair.at(0).toString().toLatin1(), pair.at(1).toInteger());
                ranks.append(pair.at(1).toInteger());
            }
            const QJsonValue next = p.take("next");
            p.remove("entries");
            if (header.isEmpty())
                header = p;
            QCOMPARE(p, header); // every page repeats the same header
            ++pages;
            query = next.isNull()
                        ? QByteArray()
                        : next.toString().toLatin1().mid(next.toString().indexOf(QLatin1Char('?')));
            QVERIFY(pages < 100);
        }
        QCOMPARE(pages, (kCohort + 63) / 64);
        QCOMPARE(header.value("cohort_size").toInteger(), kCohort);
        QCOMPARE(header.value("commitment").toString(), m_commitment);
        QCOMPARE(header.value("seed").toString().size(), 64);
        // Ranks are a permutation of 1..N over exactly the cohort's entries; no FIFO entry.
        std::sort(ranks.begin(), ranks.end());
        for (int i = 0; i < kCohort; ++i)
            QCOMPARE(ranks.value(i), qint64(i + 1));
        QCOMPARE(QSet<QByteArray>(rankOf.keyBegin(), rankOf.keyEnd()),
                 QSet<QByteArray>(m_cohortEntry.cbegin(), m_cohortEntry.cend()));
        for (const QByteArray &late : std::as_const(m_lateEntry))
            QVERIFY(!rankOf.contains(late));

        // Each buyer sees the published rank; a FIFO buyer comes after the cohort.
        QTRY_VERIFY_WITH_TIMEOUT(!status(m_sale, "c0").json().value("rank").isNull(), 10000);
        for (const QByteArray user : {"c0", "c1", "c199"}) {
            const QJsonObject s = status(m_sale, user).json();
            // The scheduler admits from the seal on (admissionEndToEnd): never more than the
            // 10 units left (--waiting-room-admit-factor 1), so ranks past 10 wait.
            const qint64 rank = rankOf.value(m_cohortEntry.value(user));
            if (rank > 10)
                QCOMPARE(s.value("state").toString(), QStringLiteral("queued"));
            else
                QVERIFY2(s.value("state") == QStringLiteral("queued")
                             || s.value("state") == QStringLiteral("admitted"),
                         qPrintable(s.value("state").toString()));
            QCOMPARE(s.value("rank").toInteger(), rankOf.value(m_cohortEntry.value(user)));
            QCOMPARE(s.value("cohort_size").toInteger(), kCohort);
        }
        m_rankOf = rankOf;
        const QJsonObject fifo = status(m_sale, "f0").json();
        QCOMPARE(fifo.value("rank").toInteger(), kCohort + 1);

        // PostgreSQL: the revealed seed (SHA-256 = the commitment), the archive, one audit row.
        const QByteArray sale = QByteArray::number(m_sale);
        QTRY_COMPARE_WITH_TIMEOUT(
            m_db.scalar("SELECT archived_at IS NOT NULL FROM sale_fairness WHERE sale_id = "
                        + sale),
            QByteArray("t"), 10000);
        QCOMPARE(m_db.scalar("SELECT encode(sha256(decode(seed, 'hex')), 'hex') = commitment "
                             "AND cohort_size = 200 AND digest = '"
                             + header.value("digest").toString().toLatin1()
                             + "' FROM sale_fairness WHERE sale_id = " + sale),
                 QByteArray("t"));
        QCOMPARE(m_db.scalar("SELECT count(*) FROM waiting_room_entries WHERE sale_id = " + sale),
                 QByteArray("200"));
        QCOMPARE(m_db.scalar("SELECT entry_id FROM waiting_room_entries WHERE sale_id = " + sale
                             + " AND rank = "
                             + QByteArray::number(rankOf.value(m_cohortEntry.value("c7")))),
                 m_cohortEntry.value("c7"));
        QCOMPARE(m_db.scalar("SELECT count(*) FROM audit_log WHERE action = 'waiting_room.seal' "
                             "AND sale_id = "
                             + sale + " AND actor LIKE 'scheduler@%'"),
                 QByteArray("1"));

        // Both verifiers, from the API, with the commitment seen in the lobby.
        const ProgramRun ctl = fairnessVerify(apiUrl(), m_sale, {"--commitment", m_commitment});
        QVERIFY2(ctl.exitCode == 0, qPrintable(ctl.describe()));
        const ProgramRun py =
            runProgram(QStringLiteral("python3"),
                       {QStringLiteral(FLASHSALE_VERIFY_REFERENCE), QString::number(m_sale),
                        "--api", apiUrl(), "--commitment", m_commitment, "--entry",
                        QString::fromLatin1(m_cohortEntry.value("c3"))});
        QVERIFY2(py.exitCode == 0, qPrintable(py.describe()));
    }

    // After the seal the scheduler admits in rank order (lua/queue_admit.lua every pass):
    // rank 1 is admitted with a token and books with it, once; the token is spent; never more
    // are admitted than units remain; a FIFO buyer has no admission and is told to queue.
    void admissionEndToEnd() {
        QVERIFY2(m_sale > 0 && !m_rankOf.isEmpty(), "needs sealEndToEnd");
        QByteArray first, eleventh;
        for (auto it = m_cohortEntry.cbegin(); it != m_cohortEntry.cend(); ++it) {
            if (m_rankOf.value(it.value()) == 1)
                first = it.key();
            if (m_rankOf.value(it.value()) == 11)
                eleventh = it.key();
        }
        QVERIFY(!first.isEmpty() && !eleventh.isEmpty());
        QTRY_COMPARE_WITH_TIMEOUT(status(m_sale, first).json().value("state").toString(),
                                  QStringLiteral("admitted"), 10000);
        const QJsonObject admitted = status(m_sale, first).json();
        const QByteArray admission =
            admitted.value("admission").toObject().value("token").toString().toLatin1();
        QVERIFY2(admission.startsWith("at1."), admitted.value("admission").toString().toUtf8());
        // Ten units, factor 1: rank 11 waits however many passes run.
        QTest::qWait(1500);
        QCOMPARE(status(m_sale, eleventh).json().value("state").toString(),
                 QStringLiteral("queued"));

        const QByteArray path = "/api/v1/sales/" + QByteArray::number(m_sale) + "/book";
        const HttpResponse booked = postJson(m_port, path, QJsonObject{{"quantity", 1}},
                                             token(first), {{"X-Admission-Token", admission}});
        QVERIFY2(booked.status == 202, booked.body.constData());
        QCOMPARE(status(m_sale, first).json().value("state").toString(), QStringLiteral("booked"));
        const HttpResponse again = postJson(m_port, path, QJsonObject{{"quantity", 1}},
                                            token(first), {{"X-Admission-Token", admission}});
        QCOMPARE(again.status, 409);
        QCOMPARE(again.problemType(), QStringLiteral("/problems/admission-spent"));
        const HttpResponse fifo = postJson(m_port, path, QJsonObject{{"quantity", 1}}, token("f0"));
        QCOMPARE(fifo.status, 428);
        QCOMPARE(fifo.problemType(), QStringLiteral("/problems/admission-required"));
        // One booking in the sale's stream (this backend runs no worker): the admitted buyer's.
        QCOMPARE(m_redis->integer({"XLEN", SaleKeys(m_sale).stream()}), 1);
    }

    // Position and ETA (docs/WAITING_ROOM.md): after admissionEndToEnd (10 units, rank 1
    // booked, ranks 2..10 admitted and holding), GET .../queue shows each buyer's line and the
    // live socket pushes the sale-wide line; with no stock left everyone still waiting is told
    // "sold-out" by both, and stock that comes back turns it into a chance again.
    void positionAndLiveLine() {
        QVERIFY2(m_sale > 0 && !m_rankOf.isEmpty(), "needs admissionEndToEnd");
        QHash<qint64, QByteArray> userAt; // rank -> user
        for (auto it = m_cohortEntry.cbegin(); it != m_cohortEntry.cend(); ++it)
            userAt.insert(m_rankOf.value(it.value()), it.key());

        // Rank 11: nobody ahead is still waiting, but the 9 admitted hold the 9 units left.
        QTest::qWait(1100); // the rate is measured from a mark at least a second old
        const QJsonObject eleventh = status(m_sale, userAt.value(11)).json();
        QCOMPARE(eleventh.value("state").toString(), QStringLiteral("queued"));
        QJsonObject line = eleventh.value("line").toObject();
        QCOMPARE(line.value("cursor").toInteger(), 10);
        QCOMPARE(line.value("ahead").toInteger(), 0);
        QCOMPARE(line.value("outstanding").toInteger(), 9);
        QCOMPARE(line.value("remaining").toInteger(), 9);
        QVERIFY(line.value("likely_sold_out").toBool());
        QVERIFY(line.value("eta_seconds").isNull());
        QVERIFY(line.value("admit_rate_per_minute").toDouble() > 0);
        QCOMPARE(line.value("paused").toBool(), false);
        // Rank 150: 139 ahead; a FIFO buyer: the whole cohort's rest ahead.
        line = status(m_sale, userAt.value(150)).json().value("line").toObject();
        QCOMPARE(line.value("ahead").toInteger(), 139);
        QVERIFY(line.value("likely_sold_out").toBool());
        line = status(m_sale, "f0").json().value("line").toObject();
        QCOMPARE(line.value("ahead").toInteger(), kCohort - 10);
        // An admitted buyer: nobody ahead, not "likely sold out" (a unit is held for them).
        const QJsonObject second = status(m_sale, userAt.value(2)).json();
        QCOMPARE(second.value("state").toString(), QStringLiteral("admitted"));
        QCOMPARE(second.value("line").toObject().value("ahead").toInteger(), 0);
        QCOMPARE(second.value("line").toObject().value("likely_sold_out").toBool(), false);
        QCOMPARE(second.value("line").toObject().value("eta_seconds").toInteger(-1), 0);

        // The live socket: the same line, sale-wide.
        QWebSocket live;
        QList<QJsonObject> ticks;
        QObject::connect(&live, &QWebSocket::textMessageReceived, [&](const QString &t) {
            const QJsonObject o = QJsonDocument::fromJson(t.toUtf8()).object();
            if (o.value("type") == QLatin1String("tick"))
                ticks.append(o);
        });
        live.open(
            QUrl(QStringLiteral("ws://127.0.0.1:%1/api/v1/sales/%2/live").arg(m_port).arg(m_sale)));
        QTRY_VERIFY_WITH_TIMEOUT(!ticks.isEmpty(), 5000);
        QJsonObject queue = ticks.last().value("queue").toObject();
        QCOMPARE(queue.value("state").toString(), QStringLiteral("admitting"));
        QCOMPARE(queue.value("cohort_size").toInteger(), kCohort);
        QCOMPARE(queue.value("cursor").toInteger(), 10);
        QCOMPARE(queue.value("outstanding").toInteger(), 9);
        QCOMPARE(queue.value("remaining").toInteger(), 9);
        QVERIFY(queue.value("cohort_closes_at_ms").toDouble()
                > queue.value("lobby_opens_at_ms").toDouble());

        // Sold out (the stock hash at 0, as nine bookings would leave it): told by both.
        const SaleKeys k(m_sale);
        const auto stock = m_redis->hash(k.stock());
        QCOMPARE(stock.size(), 1);
        const QByteArray item = stock.keys().first();
        m_redis->command({"HSET", k.stock(), item, "0"});
        QCOMPARE(status(m_sale, userAt.value(11)).json().value("state").toString(),
                 QStringLiteral("sold-out"));
        QCOMPARE(status(m_sale, "f0").json().value("state").toString(), QStringLiteral("sold-out"));
        QCOMPARE(status(m_sale, userAt.value(2)).json().value("state").toString(),
                 QStringLiteral("admitted")); // holding an admission: a unit may come back
        QCOMPARE(status(m_sale, userAt.value(1)).json().value("state").toString(),
                 QStringLiteral("booked"));
        // A buyer joining now is told at once, with its place behind everyone.
        const HttpResponse late = join(m_sale, "late-after-sellout");
        QCOMPARE(late.status, 201);
        QCOMPARE(late.json().value("state").toString(), QStringLiteral("sold-out"));
        QVERIFY(!late.json().value("cohort").toBool());
        QVERIFY(late.json().value("rank").toInteger() > kCohort);
        QVERIFY(late.json().value("line").toObject().value("likely_sold_out").toBool());
        ticks.clear();
        QTRY_VERIFY_WITH_TIMEOUT(!ticks.isEmpty(), 3000);
        QCOMPARE(ticks.last().value("queue").toObject().value("state").toString(),
                 QStringLiteral("sold-out"));
        m_redis->command({"HSET", k.stock(), item, stock.value(item)});
        QCOMPARE(status(m_sale, userAt.value(11)).json().value("state").toString(),
                 QStringLiteral("queued"));

        // A sale without a waiting room has no "queue" in its ticks.
        const qint64 plain = createSale({});
        QVERIFY(plain > 0);
        QWebSocket other;
        QJsonObject plainTick;
        QObject::connect(&other, &QWebSocket::textMessageReceived, [&](const QString &t) {
            plainTick = QJsonDocument::fromJson(t.toUtf8()).object();
        });
        other.open(
            QUrl(QStringLiteral("ws://127.0.0.1:%1/api/v1/sales/%2/live").arg(m_port).arg(plain)));
        QTRY_VERIFY_WITH_TIMEOUT(plainTick.value("type") == QLatin1String("tick"), 5000);
        QVERIFY(!plainTick.contains("queue"));
    }

    // The ETA's arithmetic (QueueLine): measured rate, the sale's setting until one is
    // measured, nothing when paused or likely sold out.
    void etaArithmetic() {
        QueueLine l;
        l.sealed = true;
        l.cursor = 100;
        l.remaining = 1000;
        l.outstanding = 50;
        l.admitted = 150;
        l.admitPerMinute = 600;
        const qint64 now = 1'000'000;
        // No mark yet: the setting, 600/min = 10/s; rank 201 has 100 ahead -> 10 s.
        QCOMPARE(l.ahead(201), 100);
        QCOMPARE(l.etaSeconds(201, now).value_or(-1), 10);
        // Measured: 120 admitted in the last 60 s = 120/min; 100 ahead -> 50 s.
        l.rateMarkMs = now - 60000;
        l.rateMarkCount = 30;
        QCOMPARE(l.measuredPerMinute(now).value_or(-1), 120.0);
        QCOMPARE(l.etaSeconds(201, now).value_or(-1), 50);
        QCOMPARE(l.etaSeconds(50, now).value_or(-1), 0); // already past the cursor
        l.paused = true;
        QVERIFY(!l.etaSeconds(201, now));
        l.paused = false;
        QVERIFY(!l.likelySoldOut(201));
        QVERIFY(l.likelySoldOut(1051)); // 950 ahead + 50 held >= 1000 left
        QVERIFY(!l.etaSeconds(1051, now));
    }

    // A new leader after a crash redoes the seal: the very same bytes everywhere, and no
    // second audit row.
    void redoWritesTheSameBytes() {
        QVERIFY(m_sale > 0);
        const QByteArray before = sealedBytes(m_sale);
        QVERIFY(before.contains("ranked=1"));
        const auto r = sealHere(m_sale);
        QVERIFY2(r, r ? "" : qPrintable(r.error().message));
        QVERIFY(r->sealed);
        QVERIFY(!r->first);
        QCOMPARE(r->cohortSize, kCohort);
        QCOMPARE(sealedBytes(m_sale), before);
        QCOMPARE(m_db.scalar("SELECT count(*) FROM audit_log WHERE action = 'waiting_room.seal' "
                             "AND sale_id = "
                             + QByteArray::number(m_sale)),
                 QByteArray("1"));
        QCOMPARE(fairnessVerify(apiUrl(), m_sale).exitCode, 0);
    }

    // Before the boundary the seal writes nothing; a seed that does not open the commitment is
    // refused and nothing is published.
    void earlyAndMismatchWriteNothing() {
        const qint64 sale = createSale({{"waiting_room", true},
                                        {"lobby_opens_at", rfc3339(-1000)},
                                        {"starts_at", rfc3339(600000)}});
        QVERIFY(sale > 0);
        QVERIFY(join(sale, "e1").status == 201);
        const SaleKeys k(sale);
        auto r = sealHere(sale);
        QVERIFY2(r, r ? "" : qPrintable(r.error().message));
        QVERIFY(!r->sealed);
        QVERIFY(!m_redis->hash(k.waitingRoomMeta()).contains("cohort_n"));

        // Past the boundary in Redis. A sealer without the key cannot open the seed's box, nor
        // can anyone open a box with one byte changed: refused, nothing public.
        m_redis->command({"HSET", k.meta(), "starts_ms", QByteArray::number(nowMs() - 10000)});
        r = sealHere(sale, 120000, false);
        QVERIFY(!r);
        QVERIFY2(r.error().message.contains("no --waiting-room-seed-key"),
                 qPrintable(r.error().message));
        m_db.scalar("UPDATE sale_fairness SET seed_box = overlay(seed_box PLACING "
                    "decode(lpad(to_hex(get_byte(seed_box, 40) # 1), 2, '0'), 'hex') FROM 41) "
                    "WHERE sale_id = "
                    + QByteArray::number(sale));
        r = sealHere(sale);
        QVERIFY(!r);
        QVERIFY2(r.error().message.contains("does not open"), qPrintable(r.error().message));
        QVERIFY(m_redis->hash(k.waitingRoomMeta()).value("ranked").isEmpty());
        // A seed stored plain that is not the committed one: refused.
        m_db.scalar("UPDATE sale_fairness SET seed_box = decode(repeat('ab', 32), 'hex'), "
                    "seed_box_kind = 'plain' WHERE sale_id = "
                    + QByteArray::number(sale));
        r = sealHere(sale);
        QVERIFY(!r);
        QVERIFY2(r.error().message.contains("commitment"), qPrintable(r.error().message));
        QVERIFY(m_redis->hash(k.waitingRoomMeta()).value("ranked").isEmpty());
        QCOMPARE(m_redis->integer({"EXISTS", k.waitingRoomRanked()}), 0);
        QCOMPARE(fairness(sale).json().value("state").toString(), QStringLiteral("sealing"));
        QVERIFY(fairness(sale).json().value("seed").isNull());
    }

    // A sale stopped while its lobby was open is still sealed at its boundary: the seed is
    // revealed, so the commitment buyers saw can be checked, and nobody is admitted.
    void stoppedSaleIsStillSealed() {
        const qint64 closeAt = nowMs() + 3000;
        const qint64 sale = createSale({{"waiting_room", true},
                                        {"lobby_opens_at", rfc3339(-1000)},
                                        {"starts_at", rfc3339(2500)},
                                        {"grace_ms", 500},
                                        {"entries_per_address", 0}});
        QVERIFY(sale > 0);
        for (const QByteArray user : {"s1", "s2", "s3"})
            QCOMPARE(join(sale, user).status, 201);
        QVERIFY2(nowMs() < closeAt, "the joins took too long for this test's boundary");
        // Stopped as the admin's sale.stop does it: PostgreSQL and Redis.
        const QByteArray id = QByteArray::number(sale);
        m_db.scalar("UPDATE sales SET state = 'stopped' WHERE id = " + id);
        m_redis->command({"HSET", SaleKeys(sale).meta(), "state", "stopped"});
        QCOMPARE(join(sale, "s4").status, 403); // sale-closed
        QTRY_COMPARE_WITH_TIMEOUT(fairness(sale).json().value("state").toString(),
                                  QStringLiteral("sealed"), 15000);
        QCOMPARE(fairness(sale).json().value("cohort_size").toInteger(), 3);
        QCOMPARE(fairnessVerify(apiUrl(), sale).exitCode, 0);
        QTest::qWait(500); // admission passes run: nobody is admitted to a stopped sale
        QCOMPARE(m_redis->integer({"ZCARD", SaleKeys(sale).waitingRoomAdmitted()}), 0);
        QCOMPARE(status(sale, "s1").json().value("state").toString(), QStringLiteral("closed"));
    }

    void problems_data() {
        QTest::addColumn<QByteArray>("path");
        QTest::addColumn<int>("status");
        QTest::addColumn<QString>("type");
        QTest::newRow("unknown sale")
            << QByteArray("/api/v1/sales/999999/fairness") << 404 << "sale-not-found";
        QTest::newRow("malformed sale")
            << QByteArray("/api/v1/sales/x1/fairness") << 404 << "sale-not-found";
        QTest::newRow("after=-1") << QByteArray("?after=-1") << 400 << "invalid-request";
        QTest::newRow("after=abc") << QByteArray("?after=abc") << 400 << "invalid-request";
        QTest::newRow("limit=0") << QByteArray("?limit=0") << 400 << "invalid-request";
        QTest::newRow("limit=10001") << QByteArray("?limit=10001") << 400 << "invalid-request";
        QTest::newRow("unknown key") << QByteArray("?page=2") << 400 << "invalid-request";
        QTest::newRow("no waiting room") << QByteArray("plain") << 404 << "waiting-room-not-found";
    }

    void problems() {
        QFETCH(QByteArray, path);
        QFETCH(int, status);
        QFETCH(QString, type);
        QVERIFY(m_sale > 0);
        if (path == "plain") {
            const qint64 plain = createSale({});
            QVERIFY(plain > 0);
            path = "/api/v1/sales/" + QByteArray::number(plain) + "/fairness";
        } else if (path.startsWith('?')) {
            path = "/api/v1/sales/" + QByteArray::number(m_sale) + "/fairness" + path;
        }
        const qint64 keys = m_redis->integer({"DBSIZE"});
        const HttpResponse r = http(m_port, "GET", path);
        QCOMPARE(r.status, status);
        QCOMPARE(m_redis->integer({"DBSIZE"}), keys); // no key for a bad request (I9)
        QCOMPARE(r.headers.value("content-type"), QByteArray("application/problem+json"));
        QVERIFY2(r.json().value("type").toString().endsWith(type), r.body.constData());
    }

    // FLASHSALE_TEST_BENCH=1: the seal of 1,000,000 entries pushed straight into wr:cohort,
    // sealed in this process, its stages timed; then verified through the API.
    // After --sale-retention-seconds the sale's Redis keys are gone: the publication is then
    // served from the archive in PostgreSQL, the same pages, and still verifies.
    void archiveServesAfterRetirement() {
        QVERIFY(m_sale > 0);
        const QJsonObject live = fairness(m_sale, "?after=5&limit=7").json();
        QCOMPARE(live.value("entries").toArray().size(), 7);
        // Retire the sale's keys as their expiry would.
        const QByteArray pattern = "fs:{sale:" + QByteArray::number(m_sale) + "}:*";
        const QList<QByteArray> keys = m_redis->command({"KEYS", pattern});
        QVERIFY(!keys.isEmpty());
        for (const QByteArray &key : keys)
            m_redis->command({"DEL", key});
        QCOMPARE(m_redis->command({"KEYS", pattern}).size(), 0);

        const HttpResponse archived = fairness(m_sale, "?after=5&limit=7");
        QCOMPARE(archived.status, 200);
        QCOMPARE(archived.json(), live);
        QCOMPARE(archived.headers.value("cache-control"),
                 QByteArray("public, max-age=86400, immutable"));
        const ProgramRun ctl = fairnessVerify(apiUrl(), m_sale, {"--commitment", m_commitment});
        QVERIFY2(ctl.exitCode == 0, qPrintable(ctl.describe()));
        // Nothing was written back to Redis by the reads (I9).
        QCOMPARE(m_redis->command({"KEYS", pattern}).size(), 0);
        // A sale that never had a seal stays unknown.
        QCOMPARE(fairness(987654321).status, 404);
    }

    void benchMillion() {
        if (qEnvironmentVariableIntValue("FLASHSALE_TEST_BENCH") != 1)
            QSKIP("set FLASHSALE_TEST_BENCH=1 to time the seal of 1,000,000 entries");
        const int n = qEnvironmentVariableIntValue("FLASHSALE_TEST_BENCH_ENTRIES") > 0
                          ? qEnvironmentVariableIntValue("FLASHSALE_TEST_BENCH_ENTRIES")
                          : 1'000'000;
        const qint64 sale = createSale({{"waiting_room", true},
                                        {"lobby_opens_at", rfc3339(-1000)},
                                        {"starts_at", rfc3339(600000)}});
        QVERIFY(sale > 0);
        const SaleKeys k(sale);
        QRandomGenerator rng(1616);
        for (int from = 0; from < n; from += 10000) {
            QList<QByteArray> argv{"RPUSH", k.waitingRoomCohort()};
            for (int i = from; i < std::min(n, from + 10000); ++i)
                argv << fairness::CohortShuffle::newEntryId(rng);
            m_redis->command(argv);
        }
        QCOMPARE(m_redis->integer({"LLEN", k.waitingRoomCohort()}), n);
        // The boundary passed in Redis only: the scheduler (PostgreSQL's start) leaves it alone.
        m_redis->command({"HSET", k.meta(), "starts_ms", QByteArray::number(nowMs() - 10000)});
        QElapsedTimer t;
        t.start();
        const auto r = sealHere(sale, 600000);
        const qint64 ms = t.elapsed();
        QVERIFY2(r, r ? "" : qPrintable(r.error().message));
        QVERIFY(r->sealed);
        qInfo().noquote() << "seal of" << n << "entries:" << ms << "ms in all; stages (ms):"
                          << QJsonDocument(r->stageMs).toJson(QJsonDocument::Compact);
        QElapsedTimer v;
        v.start();
        const ProgramRun ctl = fairnessVerify(apiUrl(), sale);
        QVERIFY2(ctl.exitCode == 0, qPrintable(ctl.describe()));
        qInfo().noquote() << "flashsale-ctl fairness verify over the API:" << v.elapsed() << "ms";
    }

    void cleanupTestCase() { m_backend.stop(); }
};

QTEST_GUILESS_MAIN(TestSeal)
#include "tst_seal.moc"
