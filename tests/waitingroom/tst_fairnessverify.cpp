// flashsale-ctl `fairness verify` and the independent Python reference
// (tests/waitingroom/verify_reference.py) on a 2,000-entry publication sealed with
// fairness::CohortShuffle, as the sealer seals a cohort: the unmodified publication verifies in
// both; one flipped byte of each published field, two swapped ranks, a dropped and a
// duplicated entry each fail both (the ctl with exit 5 naming the field); so does a
// --commitment one nibble off. Then the ctl fetches the publication page by page, following
// "next", from a plain HTTP file server (python3 -m http.server), and reports an unreachable
// or refusing API with its own exit codes.
//
// The pages of the real GET /api/v1/sales/{id}/fairness route of a server that sealed a real
// cohort are verified by tests/waitingroom/tst_seal (both verifiers, from the API).

#include "fairness/cohortshuffle.h"
#include "testservers.h"

#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QRandomGenerator>
#include <QTcpSocket>
#include <QTemporaryDir>
#include <QTest>

using namespace flashsale;
using namespace flashsale::fairness;
using namespace flashsale::test;

namespace {

constexpr qint64 kSale = 4242;
constexpr int kEntries = 2000;

using Run = ProgramRun;

Run ctl(const QStringList &args) {
    return runProgram(ctlBinary(), args, {}, {"FLASHSALE_API_URL"});
}

Run reference(const QStringList &args) {
    return runProgram(QStringLiteral("python3"),
                      QStringList{QStringLiteral(FLASHSALE_VERIFY_REFERENCE)} + args);
}

// One byte changed so that the text stays of its kind: a hex digit another hex digit, a digit
// another digit (never a leading zero), a base64url character another one.
char flippedByte(char c) {
    if ((c >= '0' && c <= '8') || (c >= 'a' && c <= 'e'))
        return char(c + 1);
    if (c == '9')
        return '1';
    if (c == 'f')
        return 'a';
    return c == 'A' ? 'B' : 'A';
}

// `text` with one byte flipped `offset` bytes after the first occurrence of `anchor`.
QByteArray flipAfter(QByteArray text, const QByteArray &anchor, qsizetype offset) {
    const qsizetype at = text.indexOf(anchor);
    if (at < 0)
        return {};
    text[at + anchor.size() + offset] = flippedByte(text[at + anchor.size() + offset]);
    return text;
}

} // namespace

class TestFairnessVerify : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    QJsonObject m_publication; // merged, as `--save` writes it
    QByteArray m_text;         // its compact JSON
    QString m_file;
    QByteArray m_seed;
    QList<QByteArray> m_ranked;

    QString writeFile(const QString &name, const QByteArray &bytes) {
        const QString path = m_dir.filePath(name);
        QFile f(path);
        if (!f.open(QIODevice::WriteOnly) || f.write(bytes) != bytes.size())
            return {};
        return path;
    }

    QJsonArray entries() const { return m_publication.value("entries").toArray(); }
    QByteArray withEntries(const QJsonArray &entries) const {
        QJsonObject o = m_publication;
        o.insert("entries", entries);
        return QJsonDocument(o).toJson(QJsonDocument::Compact);
    }
    // The anchor of the entry ranked `rank` in the compact text: `["<id>",`.
    QByteArray entryAnchor(int rank) const { return "[\"" + m_ranked[rank - 1] + "\","; }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY(m_dir.isValid());
        QVERIFY2(QFile::exists(ctlBinary()), qPrintable(ctlBinary()));
        // A cohort as the API mints it (12 random bytes each, base64url) and a secret seed, sealed
        // as the sealer seals it.
        QRandomGenerator rng(16);
        QList<QByteArray> ids;
        for (int i = 0; i < kEntries; ++i)
            ids << CohortShuffle::newEntryId(rng);
        m_seed = QByteArray(32, Qt::Uninitialized);
        rng.fillRange(reinterpret_cast<quint32 *>(m_seed.data()), 8);
        const CohortShuffle::Sealed s = CohortShuffle::seal(m_seed, kSale, ids);
        m_ranked = s.ranked;
        QJsonArray list;
        for (int r = 0; r < kEntries; ++r)
            list.append(QJsonArray{QString::fromLatin1(s.ranked[r]), r + 1});
        m_publication = {{"sale_id", kSale},
                         {"scheme", kScheme},
                         {"state", "sealed"},
                         {"lobby_opens_at", "2026-12-04T22:00:00.000Z"},
                         {"cohort_closes_at", "2026-12-04T22:30:03.000Z"},
                         {"commitment", QString::fromLatin1(CohortShuffle::commitment(m_seed))},
                         {"receipt_key", QString(64, '0')},
                         {"seed", QString::fromLatin1(m_seed.toHex())},
                         {"digest", QString::fromLatin1(s.digest)},
                         {"shuffle_seed", QString::fromLatin1(s.shuffleSeed.toHex())},
                         {"cohort_size", kEntries},
                         {"sealed_at", "2026-12-04T22:30:04.120Z"},
                         {"entries", list},
                         {"next", QJsonValue::Null}};
        m_text = QJsonDocument(m_publication).toJson(QJsonDocument::Compact);
        m_file = writeFile("publication.json", m_text);
        QVERIFY(!m_file.isEmpty());
    }

    void unmodifiedVerifies() {
        const QString sale = QString::number(kSale);
        const QString commitment = m_publication.value("commitment").toString();
        const Run r = ctl(
            {"fairness", "verify", sale, "--input", m_file, "--commitment", commitment.toUpper()});
        QVERIFY2(r.exitCode == 0, qPrintable(r.describe()));
        QVERIFY2(r.out.contains(QStringLiteral("the shuffle verifies")), qPrintable(r.out));
        QVERIFY2(r.out.contains(QStringLiteral("ranks exactly 1..2000")), qPrintable(r.out));
        const Run py = reference({sale, "--input", m_file, "--commitment", commitment, "--entry",
                                  QString::fromLatin1(m_ranked[41])});
        QVERIFY2(py.exitCode == 0, qPrintable(py.describe()));
        QVERIFY2(py.out.contains(QStringLiteral("has rank 42 of 2000")), qPrintable(py.out));
        // A buyer whose entry (from the receipt) is not listed learns it.
        const Run absent = reference({sale, "--input", m_file, "--entry", "AAAAAAAAAAAAAAAA"});
        QVERIFY2(absent.exitCode == 1, qPrintable(absent.describe()));
        QVERIFY2(absent.err.contains(QStringLiteral("NOT listed")), qPrintable(absent.describe()));

        // --json says the same to a script; --save writes back the very same document.
        const QString saved = m_dir.filePath("saved.json");
        const Run j =
            ctl({"--json", "fairness", "verify", sale, "--input", m_file, "--save", saved});
        QVERIFY2(j.exitCode == 0, qPrintable(j.describe()));
        const QJsonObject o = QJsonDocument::fromJson(j.out.toUtf8()).object();
        QCOMPARE(o.value("verified").toBool(), true);
        QCOMPARE(o.value("mismatches").toInt(), 0);
        QCOMPARE(o.value("cohort_size").toInt(), kEntries);
        QFile f(saved);
        QVERIFY(f.open(QIODevice::ReadOnly));
        QCOMPARE(QJsonDocument::fromJson(f.readAll()).object(), m_publication);
    }

    void mutationFails_data() {
        QTest::addColumn<QByteArray>("mutated");
        QTest::addColumn<QString>("field"); // named by the ctl as the first mismatch
        // One byte of each field, in the published text (the flipped byte stays of its kind, so
        // only the recomputation can tell).
        QTest::newRow("commitment") << flipAfter(m_text, "\"commitment\":\"", 7) << "commitment";
        QTest::newRow("seed") << flipAfter(m_text, "\"seed\":\"", 7) << "seed";
        QTest::newRow("digest") << flipAfter(m_text, "\"digest\":\"", 7) << "digest";
        QTest::newRow("shuffle_seed")
            << flipAfter(m_text, "\"shuffle_seed\":\"", 7) << "shuffle_seed";
        QTest::newRow("cohort_size") << flipAfter(m_text, "\"cohort_size\":", 0) << "cohort_size";
        QTest::newRow("cohort_size smaller")
            << QByteArray(m_text).replace("\"cohort_size\":2000", "\"cohort_size\":1000")
            << "cohort_size";
        QTest::newRow("one entry id") << flipAfter(m_text, entryAnchor(17), -3) << "entry";
        QTest::newRow("one rank") << flipAfter(m_text, entryAnchor(17), 1) << "rank";

        QJsonArray swapped = entries();
        QJsonArray a = swapped[4].toArray(), b = swapped[899].toArray();
        const QJsonValue rankOfA = a[1];
        a[1] = b[1];
        b[1] = rankOfA;
        swapped[4] = a;
        swapped[899] = b;
        QTest::newRow("two ranks swapped") << withEntries(swapped) << "rank";
        QJsonArray dropped = entries();
        dropped.removeAt(100);
        QTest::newRow("an entry dropped") << withEntries(dropped) << "entries";
        QJsonArray doubled = entries();
        doubled.append(doubled[100]);
        QTest::newRow("an entry duplicated") << withEntries(doubled) << "entry";
    }
    void mutationFails() {
        QFETCH(QByteArray, mutated);
        QFETCH(QString, field);
        QVERIFY(!mutated.isEmpty());
        QVERIFY(mutated != m_text);
        const QString path =
            writeFile(QStringLiteral("mutated-%1.json").arg(QTest::currentDataTag()), mutated);
        const QString sale = QString::number(kSale);
        const Run r = ctl({"fairness", "verify", sale, "--input", path});
        QVERIFY2(r.exitCode == 5, qPrintable(r.describe()));
        QVERIFY2(r.err.contains(QStringLiteral("the first, in %1: ").arg(field)),
                 qPrintable(r.describe()));
        const Run py = reference({sale, "--input", path});
        QVERIFY2(py.exitCode == 1, qPrintable(py.describe()));
        QVERIFY2(py.err.contains(QStringLiteral("does NOT verify")), qPrintable(py.describe()));
    }

    void commitmentOneNibbleOff() {
        QByteArray expected = m_publication.value("commitment").toString().toLatin1();
        expected[63] = flippedByte(expected[63]);
        const QString sale = QString::number(kSale);
        const Run r = ctl({"fairness", "verify", sale, "--input", m_file, "--commitment",
                           QString::fromLatin1(expected)});
        QVERIFY2(r.exitCode == 5, qPrintable(r.describe()));
        QVERIFY2(r.err.contains(QStringLiteral("1 mismatch; the first, in commitment: ")),
                 qPrintable(r.describe()));
        const Run py =
            reference({sale, "--input", m_file, "--commitment", QString::fromLatin1(expected)});
        QVERIFY2(py.exitCode == 1, qPrintable(py.describe()));
    }

    void lobbyShowsOnlyTheCommitment() {
        // Before the seal only the commitment is public: nothing to verify yet (exit 1), unless
        // it is not the one the buyer saw (exit 5).
        QJsonObject lobby = m_publication;
        for (const char *secret : {"seed", "digest", "shuffle_seed", "cohort_size", "sealed_at"})
            lobby.insert(secret, QJsonValue::Null);
        lobby.insert("state", "lobby");
        lobby.insert("entries", QJsonArray{});
        const QString path =
            writeFile("lobby.json", QJsonDocument(lobby).toJson(QJsonDocument::Compact));
        const QString sale = QString::number(kSale);
        const QString commitment = m_publication.value("commitment").toString();
        const Run early =
            ctl({"fairness", "verify", sale, "--input", path, "--commitment", commitment});
        QVERIFY2(early.exitCode == 1, qPrintable(early.describe()));
        QVERIFY2(early.err.contains(QStringLiteral("not sealed yet (state lobby)")),
                 qPrintable(early.describe()));
        QVERIFY2(early.err.contains(commitment), qPrintable(early.describe()));
        QString other = commitment;
        other[0] = other[0] == QLatin1Char('0') ? QLatin1Char('1') : QLatin1Char('0');
        const Run wrong = ctl({"fairness", "verify", sale, "--input", path, "--commitment", other});
        QVERIFY2(wrong.exitCode == 5, qPrintable(wrong.describe()));
        QVERIFY2(wrong.err.contains(QStringLiteral("the first, in commitment: ")),
                 qPrintable(wrong.describe()));
    }

    void anotherSalesPublicationFails() {
        const Run r = ctl({"fairness", "verify", QString::number(kSale + 1), "--input", m_file});
        QVERIFY2(r.exitCode == 5, qPrintable(r.describe()));
        QVERIFY2(r.err.contains(QStringLiteral("in sale_id")), qPrintable(r.describe()));
    }

    void usageErrors_data() {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<QString>("says");
        QTest::newRow("no sale") << QStringList{"fairness", "verify"} << "needs a SALE";
        QTest::newRow("both sources")
            << QStringList{"fairness", "verify", "1", "--input", "x", "--api", "http://h"}
            << "not both";
        QTest::newRow("short commitment")
            << QStringList{"fairness", "verify", "1", "--commitment", "abc"} << "64 hex";
        QTest::newRow("not http") << QStringList{"fairness", "verify", "1", "--api", "ftp://h"}
                                  << "--api";
    }
    void usageErrors() {
        QFETCH(QStringList, args);
        QFETCH(QString, says);
        const Run r = ctl(args);
        QVERIFY2(r.exitCode == 2, qPrintable(r.describe()));
        QVERIFY2(r.err.contains(says), qPrintable(r.describe()));
    }

    void fetchesEveryPage() {
        // The publication in pages of 500 behind a plain HTTP file server: the ctl must follow
        // every "next" and verify what it merged; one page that repeats another header fails.
        QTemporaryDir root;
        QVERIFY(root.isValid());
        const QString base = QStringLiteral("api/v1/sales/%1/").arg(kSale);
        QVERIFY(QDir(root.path()).mkpath(base));
        const QJsonArray all = entries();
        for (int page = 0; page * 500 < kEntries; ++page) {
            QJsonObject o = m_publication;
            QJsonArray part;
            for (int i = page * 500; i < std::min(kEntries, (page + 1) * 500); ++i)
                part.append(all[i]);
            o.insert("entries", part);
            o.insert("next", (page + 1) * 500 < kEntries ? QJsonValue(
                                 QStringLiteral("/%1fairness-%2").arg(base).arg(page + 1))
                                                         : QJsonValue(QJsonValue::Null));
            const QString name =
                page == 0 ? QStringLiteral("fairness") : QStringLiteral("fairness-%1").arg(page);
            QFile f(root.filePath(base + name));
            QVERIFY(f.open(QIODevice::WriteOnly));
            f.write(QJsonDocument(o).toJson(QJsonDocument::Compact));
        }
        const quint16 port = freePort();
        QProcess server;
        server.setStandardErrorFile(QProcess::nullDevice()); // its access log
        server.start("python3", {"-m", "http.server", "--bind", "127.0.0.1", "--directory",
                                 root.path(), QString::number(port)});
        QVERIFY(server.waitForStarted());
        const auto stop = qScopeGuard([&server] { killProcess(server); });
        QTRY_VERIFY_WITH_TIMEOUT(
            [port] {
                QTcpSocket s;
                s.connectToHost(QStringLiteral("127.0.0.1"), port);
                return s.waitForConnected(200);
            }(),
            10000);
        const QString api = QStringLiteral("http://127.0.0.1:%1").arg(port);
        const QString sale = QString::number(kSale);
        const QString saved = m_dir.filePath("fetched.json");
        const Run r = fairnessVerify(api, kSale, {"--save", saved});
        QVERIFY2(r.exitCode == 0, qPrintable(r.describe()));
        QFile f(saved);
        QVERIFY(f.open(QIODevice::ReadOnly));
        QCOMPARE(QJsonDocument::fromJson(f.readAll()).object(), m_publication);
        const Run py = reference({sale, "--api", api});
        QVERIFY2(py.exitCode == 0, qPrintable(py.describe()));

        // The third page says another seed than the first: refused, whatever its entries.
        QFile third(root.filePath(base + "fairness-2"));
        QVERIFY(third.open(QIODevice::ReadOnly));
        QJsonObject o = QJsonDocument::fromJson(third.readAll()).object();
        third.close();
        QByteArray seed = m_seed;
        seed[0] = char(seed[0] ^ 1);
        o.insert("seed", QString::fromLatin1(seed.toHex()));
        QVERIFY(third.open(QIODevice::WriteOnly | QIODevice::Truncate));
        third.write(QJsonDocument(o).toJson(QJsonDocument::Compact));
        third.close();
        const Run mixed = ctl({"fairness", "verify", sale, "--api", api});
        QVERIFY2(mixed.exitCode == 5, qPrintable(mixed.describe()));
        QVERIFY2(mixed.err.contains(QStringLiteral("page 3")), qPrintable(mixed.describe()));
        QVERIFY2(mixed.err.contains(QStringLiteral("seed")), qPrintable(mixed.describe()));

        // A sale the API does not publish: its answer, exit 1. No API at all: exit 3.
        const Run missing = ctl({"fairness", "verify", "77", "--api", api});
        QVERIFY2(missing.exitCode == 1, qPrintable(missing.describe()));
        QVERIFY2(missing.err.contains(QStringLiteral("HTTP 404")), qPrintable(missing.describe()));
        // A page beyond any this API sends (64 MB) is not read to its end.
        QVERIFY(QDir(root.path()).mkpath("api/v1/sales/78"));
        QFile huge(root.filePath("api/v1/sales/78/fairness"));
        QVERIFY(huge.open(QIODevice::WriteOnly));
        const QByteArray mb(1 << 20, ' ');
        for (int i = 0; i < 65; ++i)
            QCOMPARE(huge.write(mb), mb.size());
        huge.close();
        const Run big = ctl({"fairness", "verify", "78", "--api", api});
        QVERIFY2(big.exitCode == 1, qPrintable(big.describe()));
        QVERIFY2(big.err.contains(QStringLiteral("more than 64 MB")), qPrintable(big.describe()));

        killProcess(server);
        const Run down = ctl({"fairness", "verify", sale, "--api", api});
        QVERIFY2(down.exitCode == 3, qPrintable(down.describe()));
    }
};

QTEST_GUILESS_MAIN(TestFairnessVerify)
#include "tst_fairnessverify.moc"
