// flashsale-bench load: the latency histogram's precision, the HTTP response parser on the byte
// streams a socket can deliver, and the real binary driving the real server (with redis-server
// and PostgreSQL behind it), whose ledger must agree with what the server sold.

#include "histogram.h"
#include "ledger.h"
#include "loadconfig.h"
#include "loadresults.h"
#include "loadworker.h"
#include "rawhttp.h"
#include "responseparser.h"
#include "testservers.h"
#include "usersession.h"

#include <QDateTime>
#include <QDir>
#include <QElapsedTimer>
#include <QJsonArray>
#include <QJsonDocument>
#include <QProcess>
#include <QSet>
#include <QTemporaryDir>
#include <QTest>
#include <QThread>

#include <algorithm>
#include <cmath>
#include <random>

#include <signal.h>
#include <unistd.h>

using namespace flashsale;
using namespace flashsale::bench;
using namespace flashsale::test;

namespace {

// The exact value at quantile q of sorted values, by the histogram's definition: the smallest
// value with at least q of the values at or below it.
double exactQuantile(const std::vector<qint64> &sorted, double q) {
    const qint64 rank = std::max<qint64>(1, qint64(std::ceil(q * double(sorted.size()))));
    return double(sorted[size_t(rank - 1)]);
}

std::vector<qint64> distribution(const QString &name, int n) {
    std::mt19937_64 rng(42);
    std::vector<qint64> v;
    v.reserve(size_t(n));
    if (name == QLatin1String("uniform 1 us..1 s")) {
        std::uniform_int_distribution<qint64> d(1, 1000000);
        for (int i = 0; i < n; ++i)
            v.push_back(d(rng));
    } else if (name == QLatin1String("exponential, mean 5 ms")) {
        std::exponential_distribution<double> d(1.0 / 5000.0);
        for (int i = 0; i < n; ++i)
            v.push_back(qint64(d(rng)));
    } else if (name == QLatin1String("lognormal, us to minutes")) {
        std::lognormal_distribution<double> d(9.0, 3.0); // median 8 ms, tail to minutes
        for (int i = 0; i < n; ++i)
            v.push_back(std::min<qint64>(qint64(d(rng)), 3600LL * 1000000));
    } else if (name == QLatin1String("bimodal 300 us / 2 s")) {
        std::normal_distribution<double> fast(300.0, 30.0), slow(2e6, 1e5);
        for (int i = 0; i < n; ++i)
            v.push_back(std::max<qint64>(1, qint64(i % 100 == 0 ? slow(rng) : fast(rng))));
    }
    return v;
}

// The pid of this process's child running `comm` (as /proc shows it, 15 characters at most),
// or 0: the Backend fixture does not say which pid its server has.
pid_t childPid(const QByteArray &comm) {
    const QStringList entries = QDir(QStringLiteral("/proc")).entryList(QDir::Dirs);
    for (const QString &e : entries) {
        QFile f(QStringLiteral("/proc/%1/stat").arg(e));
        if (!f.open(QIODevice::ReadOnly))
            continue;
        const QByteArray stat = f.readAll();
        const qsizetype open = stat.indexOf('('), close = stat.lastIndexOf(')');
        if (open < 0 || close < open)
            continue;
        const QList<QByteArray> rest = stat.mid(close + 2).split(' ');
        if (stat.mid(open + 1, close - open - 1) == comm && rest.size() > 1
            && rest.at(1).toLongLong() == getpid())
            return pid_t(e.toLongLong());
    }
    return 0;
}

QByteArray feedAll(ResponseParser &p, const QByteArray &bytes, int chunk) {
    QByteArray statuses;
    for (qsizetype at = 0; at < bytes.size(); at += chunk) {
        p.feed(bytes.constData() + at, std::min<qsizetype>(chunk, bytes.size() - at));
        HttpReply r;
        ResponseParser::State s;
        while ((s = p.next(&r)) == ResponseParser::State::Complete)
            statuses += QByteArray::number(r.status) + ":" + r.body + ";";
        if (s == ResponseParser::State::Error)
            return statuses + "ERROR";
    }
    return statuses;
}

} // namespace

class TestBenchLoad : public QObject {
    Q_OBJECT

private:
    RedisServer m_redisServer;
    PgDatabase m_db;
    Backend m_backend;
    QTemporaryDir m_dir;

    // Creates a one-item sale open now; returns its id (0 on failure) and the item's in *item.
    qint64 createSale(int stock, int powDifficulty = 0, qint64 *item = nullptr) {
        const HttpResponse r = postJson(m_backend.port(), "/api/v1/admin/sales",
                                        QJsonObject{{"name", "bench"},
                                                    {"stock", stock},
                                                    {"price_cents", 100},
                                                    {"per_user_limit", 10},
                                                    {"admission_rate", 0},
                                                    {"pow_difficulty", powDifficulty},
                                                    {"starts_at", rfc3339(-1000)},
                                                    {"ends_at", rfc3339(3600000)}},
                                        Backend::kAdminToken);
        if (r.status != 201)
            qWarning("create sale: %d %s", r.status, r.body.constData());
        if (item)
            *item = r.json()
                        .value(QStringLiteral("items"))
                        .toArray()
                        .at(0)
                        .toObject()
                        .value(QStringLiteral("id"))
                        .toInteger();
        return r.json().value(QStringLiteral("id")).toInteger();
    }

    int remaining(qint64 sale) {
        return http(m_backend.port(), "GET", "/api/v1/sales/" + QByteArray::number(sale))
            .json()
            .value(QStringLiteral("remaining"))
            .toInt(-1);
    }

    static QJsonObject readJson(const QString &path) {
        QFile f(path);
        if (!f.open(QIODevice::ReadOnly))
            return {};
        return QJsonDocument::fromJson(f.readAll()).object();
    }

    static QStringList benchArgs(const QStringList &extra) {
        return QStringList{QStringLiteral("load")} + extra;
    }

private Q_SLOTS:
    void histogramPrecision_data() {
        QTest::addColumn<QString>("name");
        for (const char *name : {"uniform 1 us..1 s", "exponential, mean 5 ms",
                                 "lognormal, us to minutes", "bimodal 300 us / 2 s"})
            QTest::addRow("%s", name) << QString::fromLatin1(name);
    }

    void histogramPrecision() {
        QFETCH(QString, name);
        std::vector<qint64> values = distribution(name, 200000);
        Histogram h;
        for (qint64 v : values)
            h.record(v);
        std::sort(values.begin(), values.end());
        QCOMPARE(h.count(), qint64(values.size()));
        QCOMPARE(h.max(), values.back());
        QCOMPARE(h.min(), values.front());
        for (double q : {0.5, 0.9, 0.99, 0.999, 0.9999}) {
            const double exact = exactQuantile(values, q);
            const double got = h.quantile(q);
            // Within 0.1% (the buckets promise 0.05%), or 1 µs for the smallest values.
            QVERIFY2(
                std::abs(got - exact) <= std::max(1.0, exact * 0.001),
                qPrintable(
                    QStringLiteral("q %1: exact %2, histogram %3").arg(q).arg(exact).arg(got)));
        }
    }

    void histogramMerge() {
        std::vector<qint64> values =
            distribution(QStringLiteral("lognormal, us to minutes"), 100000);
        Histogram whole;
        Histogram parts[4];
        for (size_t i = 0; i < values.size(); ++i) {
            whole.record(values[i]);
            parts[i % 4].record(values[i]);
        }
        Histogram merged;
        for (const Histogram &p : parts)
            merged.merge(p);
        QCOMPARE(merged.count(), whole.count());
        QCOMPARE(merged.max(), whole.max());
        QCOMPARE(merged.min(), whole.min());
        for (double q : {0.0, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0})
            QCOMPARE(merged.quantile(q), whole.quantile(q));
        // Merging an empty histogram changes nothing; merging into one starts from the other.
        merged.merge(Histogram());
        QCOMPARE(merged.count(), whole.count());
    }

    void histogramRange() {
        Histogram h;
        QCOMPARE(h.quantile(0.5), 0.0);
        h.record(1);
        h.record(60LL * 60 * 1000000); // an hour
        h.record(Histogram::kMaxValue * 2);
        QCOMPARE(h.min(), qint64(1));
        QCOMPARE(h.max(), Histogram::kMaxValue * 2);
        QCOMPARE(h.quantile(0.0), 1.0);
        const double hour = h.quantile(0.5);
        QVERIFY(std::abs(hour - 3.6e9) <= 3.6e9 * 0.0005);
        QCOMPARE(h.quantile(1.0), double(Histogram::kMaxValue * 2));
    }

    void parser_data() {
        QTest::addColumn<QByteArray>("bytes");
        QTest::addColumn<int>("chunk"); // bytes per read
        QTest::addColumn<bool>("eof");  // the peer closes after the bytes
        QTest::addColumn<QByteArray>("expected");

        const QByteArray ok = "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\n"
                              "Content-Length: 7\r\n\r\n{\"a\":1}";
        const QByteArray sold = "HTTP/1.1 409 Conflict\r\ncontent-length: 2\r\n\r\nno";
        QTest::addRow("whole") << ok << 4096 << false << QByteArray("202:{\"a\":1};");
        QTest::addRow("one byte per read") << ok << 1 << false << QByteArray("202:{\"a\":1};");
        QTest::addRow("split in the head") << ok << 20 << false << QByteArray("202:{\"a\":1};");
        QTest::addRow("pipelined")
            << ok + sold + ok << 4096 << false << QByteArray("202:{\"a\":1};409:no;202:{\"a\":1};");
        QTest::addRow("pipelined, 7-byte reads")
            << ok + sold << 7 << false << QByteArray("202:{\"a\":1};409:no;");
        QTest::addRow("partial body waits")
            << ok.left(ok.size() - 2) << 4096 << false << QByteArray();
        QTest::addRow("content-length 0")
            << QByteArray("HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: "
                          "0\r\n\r\n")
            << 4096 << false << QByteArray("204:;200:;");
        QTest::addRow("body to the close")
            << QByteArray("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil eof") << 5 << true
            << QByteArray("200:until eof;");
        QTest::addRow("cut short by the close")
            << ok.left(ok.size() - 3) << 4096 << true << QByteArray("ERROR");
        QTest::addRow("chunked refused")
            << QByteArray("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n") << 4096
            << false << QByteArray("ERROR");
        QTest::addRow("not HTTP") << QByteArray("SSH-2.0-OpenSSH\r\n\r\n") << 4096 << false
                                  << QByteArray("ERROR");
    }

    void parser() {
        QFETCH(QByteArray, bytes);
        QFETCH(int, chunk);
        QFETCH(bool, eof);
        QFETCH(QByteArray, expected);
        ResponseParser p;
        QByteArray got = feedAll(p, bytes, chunk);
        if (eof && !got.endsWith("ERROR")) {
            HttpReply r;
            const ResponseParser::State s = p.finish(&r);
            if (s == ResponseParser::State::Complete)
                got += QByteArray::number(r.status) + ":" + r.body + ";";
            else if (s == ResponseParser::State::Error)
                got += "ERROR";
        }
        QCOMPARE(got, expected);
    }

    void parserHeaders() {
        ResponseParser p;
        const QByteArray bytes =
            "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 2\r\nConnection: close\r\n"
            "Content-Length: 0\r\n\r\n"
            "HTTP/1.1 202 Accepted\r\nIdempotent-Replayed: true\r\nContent-Length: 0\r\n\r\n";
        p.feed(bytes.constData(), bytes.size());
        HttpReply r;
        QCOMPARE(p.next(&r), ResponseParser::State::Complete);
        QCOMPARE(r.status, 429);
        QCOMPARE(r.retryAfterMs, qint64(2000));
        QVERIFY(r.close);
        QVERIFY(!r.replayed);
        QCOMPARE(p.next(&r), ResponseParser::State::Complete);
        QCOMPARE(r.status, 202);
        QVERIFY(r.replayed);
        QVERIFY(!r.close);
        QCOMPARE(r.retryAfterMs, qint64(-1));
        QCOMPARE(p.next(&r), ResponseParser::State::NeedMore);
        QCOMPARE(p.finish(&r), ResponseParser::State::NeedMore); // a clean close
    }

    void jsonFields() {
        const QByteArray problem =
            R"({"detail":"x","retry_after_ms":250,"status":429,"type":"/problems/throttled"})";
        QCOMPARE(UserSession::problemSlug(problem), QByteArrayView("throttled"));
        QCOMPARE(UserSession::jsonField(problem, "retry_after_ms"), QByteArrayView("250"));
        QCOMPARE(UserSession::jsonField(problem, "status"), QByteArrayView("429"));
        QVERIFY(UserSession::jsonField(problem, "missing").isEmpty());
        QVERIFY(UserSession::problemSlug(R"({"reservation_id":"1-ab"})").isEmpty());
    }

    void rampSchedule() {
        LoadConfig c;
        c.users = 1000000;
        c.rateFrom = 1000;
        c.rateTo = 3000;
        c.durationSeconds = 10;
        QCOMPARE(LoadWorker::arrivalCount(c), qint64(20000));
        // The rate grows linearly: a quarter of the arrivals come in the first 3.66 s
        // (N(t) = 1000 t + 100 t^2 = 5000), the last one just before the end.
        QVERIFY(std::abs(LoadWorker::arrivalOffsetUs(c, 5000) - 3660254) < 1000);
        QVERIFY(std::abs(LoadWorker::arrivalOffsetUs(c, 19999) - 10000000) < 1000);
        c.rateTo = 1000;
        QCOMPARE(LoadWorker::arrivalOffsetUs(c, 500), qint64(500000));
    }

    // One human's booking through a sequence of answers: when is its outcome "unknown"?
    void sessionOutcome_data() {
        QTest::addColumn<QStringList>("events"); // status[:slug][r = replayed], reset, refused
        QTest::addColumn<bool>("retry");
        QTest::addColumn<int>("accepted");
        QTest::addColumn<int>("unknown");

        QTest::addRow("accepted") << QStringList{"202"} << false << 1 << 0;
        QTest::addRow("sold out") << QStringList{"409:sold-out"} << false << 0 << 0;
        QTest::addRow("reset, no retry") << QStringList{"reset"} << false << 0 << 1;
        QTest::addRow("timeout, no retry") << QStringList{"timeout"} << false << 0 << 1;
        QTest::addRow("refused: nothing sent") << QStringList{"refused"} << false << 0 << 0;
        QTest::addRow("503, no retry") << QStringList{"503:backend-unavailable"} << false << 0 << 1;
        QTest::addRow("reset, then replayed") << QStringList{"reset", "202r"} << true << 1 << 0;
        QTest::addRow("reset, then sold out: the first one booked nothing")
            << QStringList{"reset", "409:sold-out"} << true << 0 << 0;
        QTest::addRow("reset, then throttled: decided after the replay check")
            << QStringList{"reset",         "429:throttled", "429:throttled",
                           "429:throttled", "429:throttled", "429:throttled"}
            << true << 0 << 0;
        QTest::addRow("reset, then rate limited to the end: still unknown")
            << QStringList{"reset",
                           "429:rate-limited",
                           "429:rate-limited",
                           "429:rate-limited",
                           "429:rate-limited",
                           "429:rate-limited"}
            << true << 0 << 1;
        QTest::addRow("timeouts until the retries run out")
            << QStringList{"timeout", "timeout", "timeout", "timeout", "timeout", "timeout"} << true
            << 0 << 1;
    }

    void sessionOutcome() {
        QFETCH(QStringList, events);
        QFETCH(bool, retry);
        QFETCH(int, accepted);
        QFETCH(int, unknown);
        LoadConfig config;
        config.saleId = 1;
        config.devUserIds = true;
        config.retry = retry;
        config.maxRetries = 5;
        LoadResults results;
        std::mt19937_64 rng(1);
        UserSession session(config, 7, false, {});
        UserSession::Step step = session.start(rng);
        for (qsizetype i = 0; i < events.size(); ++i) {
            QVERIFY2(step.kind != UserSession::Step::Done, "done before the answers ran out");
            const QString e = events.at(i);
            if (e == QLatin1String("reset") || e == QLatin1String("timeout")
                || e == QLatin1String("refused")) {
                const TransportError t = e == QLatin1String("reset")     ? TransportError::Reset
                                         : e == QLatin1String("timeout") ? TransportError::Timeout
                                                                         : TransportError::Refused;
                step = session.onFailure(t, t != TransportError::Refused, results, rng);
                continue;
            }
            HttpReply reply;
            reply.status = e.left(3).toInt();
            reply.replayed = e.endsWith(QLatin1Char('r'));
            const QByteArray slug = e.mid(4).toLatin1();
            if (reply.status == 202)
                reply.body = "{\"item_id\":3,\"quantity\":1,\"reservation_id\":\"1-ab\"}";
            else
                reply.body = "{\"type\":\"/problems/" + slug + "\"}";
            step = session.onReply(reply, slug, results, rng);
        }
        QCOMPARE(int(step.kind), int(UserSession::Step::Done));
        QCOMPARE(results.acceptedLines.size(), accepted);
        QCOMPARE(results.unknownLines.size(), unknown);
        QCOMPARE(results.unknown, qint64(unknown));
        for (const LedgerBooking &b : results.acceptedLines) {
            QCOMPARE(b.key, QStringLiteral("u7-1"));
            QCOMPARE(b.reservationId, QStringLiteral("1-ab"));
            QCOMPARE(b.itemId, qint64(3));
        }
        if (unknown > 0)
            QCOMPARE(results.unknownLines.first().key, QStringLiteral("u7-1"));
    }

    void usage_data() {
        QTest::addColumn<QStringList>("args");
        QTest::addRow("no url") << QStringList{"--sale", "1", "--dev-user-ids"};
        QTest::addRow("no identity") << QStringList{"--url", "http://127.0.0.1:1", "--sale", "1"};
        QTest::addRow("unknown option") << QStringList{"--url", "http://127.0.0.1:1", "--sale",
                                                       "1",     "--dev-user-ids",     "--nope"};
        QTest::addRow("zero users") << QStringList{
            "--url", "http://127.0.0.1:1", "--sale", "1", "--dev-user-ids", "--users", "0"};
        QTest::addRow("ramp without rates") << QStringList{
            "--url", "http://127.0.0.1:1", "--sale", "1", "--dev-user-ids", "--profile", "ramp"};
        QTest::addRow("checkout without items") << QStringList{
            "--url", "http://127.0.0.1:1", "--sale", "1", "--dev-user-ids", "--flow", "checkout"};
    }

    void usage() {
        QFETCH(QStringList, args);
        QProcess p;
        p.start(QStringLiteral(FLASHSALE_BENCH_BIN), benchArgs(args));
        QVERIFY(p.waitForFinished(10000));
        QCOMPARE(p.exitCode(), 2);
        QVERIFY(p.readAllStandardError().contains("flashsale-bench load: "));
    }

    void initTestCase() {
        QVERIFY(m_dir.isValid());
        QVERIFY2(m_redisServer.start(), qPrintable(m_redisServer.error()));
        QVERIFY2(m_db.create(), qPrintable(m_db.error()));
        QVERIFY2(m_backend.start({{"FLASHSALE_REDIS_URL", m_redisServer.url()},
                                  {"FLASHSALE_PG_URL", m_db.url()}},
                                 {QStringLiteral("--roles"), QStringLiteral("api")}),
                 qPrintable(m_backend.error()));
        QTRY_COMPARE_WITH_TIMEOUT(http(m_backend.port(), "GET", "/readyz").status, 200, 10000);
    }

    // 500 buyers, 50 units: exactly 50 accepted, each recorded once, the rest sold out.
    void burstSellsExactlyTheStock() {
        const qint64 sale = createSale(50);
        QVERIFY(sale > 0);
        const QString ledger = m_dir.filePath(QStringLiteral("burst.jsonl"));
        const QString report = m_dir.filePath(QStringLiteral("burst.json"));
        QProcess p;
        p.start(QStringLiteral(FLASHSALE_BENCH_BIN),
                benchArgs({"--url", m_backend.url(), "--sale", QString::number(sale), "--users",
                           "500", "--user-prefix", "burst", "--dev-user-ids", "--connections", "50",
                           "--threads", "2", "--ledger", ledger, "--report", report,
                           "--max-seconds", "20"}));
        QVERIFY(p.waitForFinished(30000));
        QVERIFY2(p.exitCode() == 0, p.readAllStandardError().constData());

        QString error;
        const auto l = readLedger(ledger, &error);
        QVERIFY2(l, qPrintable(error));
        QVERIFY(l->ended);
        QCOMPARE(l->saleId, sale);
        QCOMPARE(l->users, qint64(500));
        QCOMPARE(l->accepted.size(), 50);
        QCOMPARE(l->unknown.size(), 0);
        QSet<QString> reservations, users;
        for (const LedgerBooking &b : l->accepted) {
            reservations.insert(b.reservationId);
            users.insert(b.user);
            QVERIFY(b.reservationId.startsWith(QString::number(sale) + QLatin1Char('-')));
            QCOMPARE(b.key, b.user + QStringLiteral("-1"));
            QVERIFY(!b.replayed);
        }
        QCOMPARE(reservations.size(), 50);
        QCOMPARE(users.size(), 50);
        QCOMPARE(l->requests, qint64(500));
        QCOMPARE(l->byStatus, (QHash<QString, qint64>{{"202", 50}, {"409", 450}}));

        const QJsonObject r = readJson(report);
        QCOMPARE(r.value(QStringLiteral("requests")).toInteger(), qint64(500));
        QCOMPARE(r.value(QStringLiteral("by_status")).toObject(),
                 (QJsonObject{{"202", 50}, {"409", 450}}));
        QCOMPARE(r.value(QStringLiteral("by_type")).toObject(),
                 (QJsonObject{{"accepted", 50}, {"sold-out", 450}}));
        QCOMPARE(r.value(QStringLiteral("unknown")).toInteger(), qint64(0));
        const QJsonObject lat = r.value(QStringLiteral("latency_ms")).toObject();
        QVERIFY(lat.value(QStringLiteral("p50")).toDouble() > 0);
        QVERIFY(lat.value(QStringLiteral("p50")).toDouble()
                <= lat.value(QStringLiteral("p99")).toDouble());
        QVERIFY(lat.value(QStringLiteral("p99")).toDouble()
                <= lat.value(QStringLiteral("max")).toDouble());
        QCOMPARE(remaining(sale), 0);
    }

    // The server freezes (SIGSTOP) for longer than the request timeout while users arrive, so
    // requests it has read time out unanswered and it decides them later. With --retry and the
    // same Idempotency-Key every time, no user ends up with two reservations and every unit
    // sold is one the ledger knows about.
    void retryThroughStoppedServerBooksNothingTwice() {
        const int stock = 2000;
        const qint64 sale = createSale(stock);
        QVERIFY(sale > 0);
        const pid_t server = childPid("flashsale-serve");
        QVERIFY(server > 0);
        const QString ledger = m_dir.filePath(QStringLiteral("outage.jsonl"));
        const QString report = m_dir.filePath(QStringLiteral("outage.json"));
        QProcess p;
        p.setProcessChannelMode(QProcess::ForwardedErrorChannel);
        // An open-loop ramp keeps sending while the server is frozen.
        p.start(QStringLiteral(FLASHSALE_BENCH_BIN), benchArgs({"--url",
                                                                m_backend.url(),
                                                                "--sale",
                                                                QString::number(sale),
                                                                "--users",
                                                                "1200",
                                                                "--user-prefix",
                                                                "outage",
                                                                "--dev-user-ids",
                                                                "--connections",
                                                                "32",
                                                                "--profile",
                                                                "ramp",
                                                                "--rate-from",
                                                                "400",
                                                                "--rate-to",
                                                                "400",
                                                                "--duration",
                                                                "3",
                                                                "--retry",
                                                                "--max-retries",
                                                                "10",
                                                                "--backoff-ms",
                                                                "100",
                                                                "--backoff-max-ms",
                                                                "1000",
                                                                "--timeout-ms",
                                                                "400",
                                                                "--ledger",
                                                                ledger,
                                                                "--report",
                                                                report,
                                                                "--max-seconds",
                                                                "20"}));
        QVERIFY(p.waitForStarted(5000));
        QThread::msleep(1000);
        ::kill(server, SIGSTOP);
        QThread::msleep(1200);
        ::kill(server, SIGCONT);
        QVERIFY(p.waitForFinished(30000));
        const QByteArray out = p.readAllStandardOutput();
        QVERIFY2(p.exitCode() == 0, out.constData());
        qInfo("%s", out.constData());

        QString error;
        const auto l = readLedger(ledger, &error);
        QVERIFY2(l, qPrintable(error));
        QVERIFY(l->ended);
        // (user, key) -> one reservation; one reservation per user.
        QHash<QString, QString> byKey;
        QHash<QString, QSet<QString>> byUser;
        for (const LedgerBooking &b : l->accepted) {
            const QString k = b.user + QLatin1Char('|') + b.key;
            QVERIFY2(!byKey.contains(k) || byKey.value(k) == b.reservationId, qPrintable(k));
            byKey.insert(k, b.reservationId);
            byUser[b.user].insert(b.reservationId);
        }
        for (auto it = byUser.begin(); it != byUser.end(); ++it)
            QVERIFY2(it.value().size() == 1, qPrintable(it.key()));
        const QJsonObject r = readJson(report);
        const QJsonObject types = r.value(QStringLiteral("by_type")).toObject();
        // The outage was seen and retried through.
        QVERIFY(r.value(QStringLiteral("retries")).toInteger() > 0);
        QVERIFY(types.value(QStringLiteral("transport:timeout")).toInteger() > 0);
        // Every user got an answer in the end: 1200 users, 2000 units, nobody turned away.
        QCOMPARE(byUser.size() + l->unknown.size(), 1200);
        // What Redis sold is what the ledger holds, plus at most the unknowns.
        const int sold = stock - remaining(sale);
        QVERIFY2(sold >= byUser.size() && sold <= byUser.size() + l->unknown.size(),
                 qPrintable(QStringLiteral("sold %1, ledger %2 users, %3 unknown")
                                .arg(sold)
                                .arg(byUser.size())
                                .arg(l->unknown.size())));
    }

    // Two API processes behind one list of URLs; one is killed (SIGKILL) while users arrive.
    // Its connections move to the other, the cut-off requests are retried with their keys, and
    // every user ends with exactly one reservation that Redis also counts.
    void failoverWhenOneOfTwoProcessesDies() {
        Backend second;
        QVERIFY2(second.start({{"FLASHSALE_REDIS_URL", m_redisServer.url()},
                               {"FLASHSALE_PG_URL", m_db.url()}},
                              {QStringLiteral("--roles"), QStringLiteral("api")}),
                 qPrintable(second.error()));
        const int stock = 5000;
        const qint64 sale = createSale(stock);
        QVERIFY(sale > 0);
        const QString ledger = m_dir.filePath(QStringLiteral("failover.jsonl"));
        const QString report = m_dir.filePath(QStringLiteral("failover.json"));
        QProcess p;
        p.setProcessChannelMode(QProcess::ForwardedErrorChannel);
        p.start(QStringLiteral(FLASHSALE_BENCH_BIN),
                benchArgs({"--url",
                           m_backend.url() + QLatin1Char(',') + second.url(),
                           "--sale",
                           QString::number(sale),
                           "--users",
                           "1500",
                           "--user-prefix",
                           "fo",
                           "--dev-user-ids",
                           "--connections",
                           "32",
                           "--threads",
                           "2",
                           "--profile",
                           "ramp",
                           "--rate-from",
                           "1000",
                           "--rate-to",
                           "1000",
                           "--duration",
                           "1.5",
                           "--retry",
                           "--timeout-ms",
                           "2000",
                           "--ledger",
                           ledger,
                           "--report",
                           report,
                           "--max-seconds",
                           "20"}));
        QVERIFY(p.waitForStarted(5000));
        QThread::msleep(700);
        second.kill();
        QVERIFY(p.waitForFinished(30000));
        const QByteArray out = p.readAllStandardOutput();
        QVERIFY2(p.exitCode() == 0, out.constData());
        qInfo("%s", out.constData());

        QString error;
        const auto l = readLedger(ledger, &error);
        QVERIFY2(l, qPrintable(error));
        QHash<QString, QSet<QString>> byUser;
        for (const LedgerBooking &b : l->accepted)
            byUser[b.user].insert(b.reservationId);
        for (auto it = byUser.begin(); it != byUser.end(); ++it)
            QVERIFY2(it.value().size() == 1, qPrintable(it.key()));
        QCOMPARE(l->unknown.size(), 0);
        QCOMPARE(byUser.size(), 1500);
        QCOMPARE(stock - remaining(sale), 1500);
    }

    // --waiting-room, end to end with the scheduler sealing and admitting: 200 buyers join the
    // lobby, wait for the seal, poll, and the 10 admitted book with their admission tokens.
    // Every buyer is told an outcome: 10 booked, 190 sold out; nobody is left untold.
    void waitingRoomTellsEveryBuyer() {
        Backend scheduler;
        QVERIFY2(scheduler.start({{"FLASHSALE_REDIS_URL", m_redisServer.url()},
                                  {"FLASHSALE_PG_URL", m_db.url()},
                                  {"FLASHSALE_SCHEDULER_TICK_MS", "100"}},
                                 {QStringLiteral("--roles"), QStringLiteral("scheduler")}),
                 qPrintable(scheduler.error()));
        // The cohort closes 4 s from now (starts_at + grace_ms): time for 200 joins.
        const HttpResponse created = postJson(m_backend.port(), "/api/v1/admin/sales",
                                              QJsonObject{{"name", "bench waiting room"},
                                                          {"stock", 10},
                                                          {"price_cents", 100},
                                                          {"per_user_limit", 1},
                                                          {"admission_rate", 0},
                                                          {"starts_at", rfc3339(3500)},
                                                          {"ends_at", rfc3339(3600000)},
                                                          {"waiting_room", true},
                                                          {"lobby_opens_at", rfc3339(-1000)},
                                                          {"grace_ms", 500},
                                                          {"admit_per_minute", 6000},
                                                          {"entries_per_address", 0}},
                                              Backend::kAdminToken);
        QVERIFY2(created.status == 201, created.body.constData());
        const qint64 sale = created.json().value(QStringLiteral("id")).toInteger();
        const QString ledger = m_dir.filePath(QStringLiteral("wr.jsonl"));
        const QString report = m_dir.filePath(QStringLiteral("wr.json"));
        QProcess p;
        p.start(QStringLiteral(FLASHSALE_BENCH_BIN), benchArgs({"--url",
                                                                m_backend.url(),
                                                                "--sale",
                                                                QString::number(sale),
                                                                "--users",
                                                                "200",
                                                                "--user-prefix",
                                                                "wr",
                                                                "--dev-user-ids",
                                                                "--waiting-room",
                                                                "--poll-max-ms",
                                                                "500",
                                                                "--retry",
                                                                "--connections",
                                                                "16",
                                                                "--ledger",
                                                                ledger,
                                                                "--report",
                                                                report,
                                                                "--max-seconds",
                                                                "60"}));
        QVERIFY(p.waitForFinished(90000));
        QVERIFY2(p.exitCode() == 0, p.readAllStandardError().constData());

        const QJsonObject r = readJson(report);
        const QJsonObject wr = r.value(QStringLiteral("waiting_room")).toObject();
        QCOMPARE(wr.value(QStringLiteral("joined")).toInt(), 200);
        QCOMPARE(wr.value(QStringLiteral("cohort")).toInt(), 200);
        QVERIFY(wr.value(QStringLiteral("joins_per_second")).toDouble() > 0);
        QCOMPARE(wr.value(QStringLiteral("told")).toObject(),
                 (QJsonObject{{"booked", 10}, {"sold-out", 190}}));
        QCOMPARE(wr.value(QStringLiteral("untold_total")).toInt(), 0);
        QVERIFY(wr.value(QStringLiteral("admitted")).toInt() >= 10);
        QVERIFY(wr.value(QStringLiteral("polls")).toInt() >= 200);
        const QJsonObject types = r.value(QStringLiteral("by_type")).toObject();
        QCOMPARE(types.value(QStringLiteral("joined")).toInt(), 200);
        QCOMPARE(types.value(QStringLiteral("accepted")).toInt(), 10);
        QString error;
        const auto l = readLedger(ledger, &error);
        QVERIFY2(l, qPrintable(error));
        QCOMPARE(l->accepted.size(), 10);
        QCOMPARE(l->unknown.size(), 0);
        QCOMPARE(remaining(sale), 0);
        // The shuffle the buyers went through recomputes from what is published.
        const ProgramRun verify = fairnessVerify(m_backend.url(), sale);
        QVERIFY2(verify.exitCode == 0, qPrintable(verify.describe()));
    }

    // Each way a user can behave, end to end: what the server answered, counted by outcome.
    void flows_data() {
        QTest::addColumn<QStringList>("args"); // "{item}" is replaced by the sale's item id
        QTest::addColumn<int>("stock");
        QTest::addColumn<int>("pow");
        QTest::addColumn<QJsonObject>("byType"); // empty: checked by the row's own rule
        QTest::addColumn<int>("confirmed");

        QTest::addRow("proof of work")
            << QStringList{"--users", "30", "--pow", "--dev-user-ids"} << 10 << 6
            << QJsonObject{{"challenge", 30}, {"accepted", 10}, {"sold-out", 20}} << 0;
        QTest::addRow("buyer tokens, 12 bookings against a cap of 10")
            << QStringList{"--users",          "5",
                           "--units-per-user", "12",
                           "--token-secret",   QString::fromLatin1(Backend::kBuyerTokenSecret)}
            << 1000 << 0 << QJsonObject{{"accepted", 50}, {"per-user-limit", 10}} << 0;
        QTest::addRow("checkout then purchase")
            << QStringList{"--users",        "20",
                           "--flow",         "checkout",
                           "--items",        "{item}",
                           "--token-secret", QString::fromLatin1(Backend::kBuyerTokenSecret)}
            << 15 << 0 << QJsonObject{{"accepted", 15}, {"confirmed", 15}, {"sold-out", 5}} << 15;
        QTest::addRow("bots") << QStringList{"--users", "50", "--bots", "0.2", "--dev-user-ids"}
                              << 1000 << 0 << QJsonObject() << 0;
    }

    void flows() {
        QFETCH(QStringList, args);
        QFETCH(int, stock);
        QFETCH(int, pow);
        QFETCH(QJsonObject, byType);
        QFETCH(int, confirmed);
        qint64 item = 0;
        const qint64 sale = createSale(stock, pow, &item);
        QVERIFY(sale > 0);
        args.replaceInStrings(QStringLiteral("{item}"), QString::number(item));
        const QString ledger = m_dir.filePath(QStringLiteral("flow-%1.jsonl").arg(sale));
        const QString report = m_dir.filePath(QStringLiteral("flow-%1.json").arg(sale));
        QProcess p;
        p.start(QStringLiteral(FLASHSALE_BENCH_BIN),
                benchArgs(args
                          + QStringList{"--url", m_backend.url(), "--sale", QString::number(sale),
                                        "--user-prefix", QStringLiteral("f%1-").arg(sale),
                                        "--connections", "8", "--ledger", ledger, "--report",
                                        report, "--max-seconds", "20"}));
        QVERIFY(p.waitForFinished(30000));
        QVERIFY2(p.exitCode() == 0, p.readAllStandardError().constData());
        const QJsonObject r = readJson(report);
        const QJsonObject types = r.value(QStringLiteral("by_type")).toObject();
        if (byType.isEmpty()) {
            // Bots: each books 20 times back to back and is stopped at the cap of 10; humans
            // book once. Who is a bot follows from the seed.
            int bots = 0;
            for (int n = 1; n <= 50; ++n)
                bots += LoadWorker::isBot(1, n, 0.2);
            QVERIFY(bots > 0 && bots < 50);
            QCOMPARE(r.value(QStringLiteral("bots")).toInt(), bots);
            byType =
                QJsonObject{{"accepted", 50 - bots + 10 * bots}, {"per-user-limit", 10 * bots}};
            QCOMPARE(r.value(QStringLiteral("requests")).toInt(), 50 - bots + 20 * bots);
        }
        QCOMPARE(types, byType);
        QString error;
        const auto l = readLedger(ledger, &error);
        QVERIFY2(l, qPrintable(error));
        QCOMPARE(l->accepted.size(), byType.value(QStringLiteral("accepted")).toInt());
        QCOMPARE(l->confirmed.size(), confirmed);
        QCOMPARE(l->unknown.size(), 0);
        QCOMPARE(stock - remaining(sale), l->accepted.size());
    }
};

QTEST_GUILESS_MAIN(TestBenchLoad)
#include "tst_benchload.moc"
