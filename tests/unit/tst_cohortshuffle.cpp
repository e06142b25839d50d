// The waiting room's shuffle (shared/fairness/) without a server: HMAC-SHA256 (libsodium's, through
// core/hmacsha256.h) against RFC 4231, known answers computed once with Python's hashlib and hmac,
// determinism (input order, thread count), one changed byte of the seed or of an id changing the
// output, and a publication's pages merged and verified.

#include "core/hmacsha256.h"
#include "fairness/cohortshuffle.h"
#include "fairness/fairnesspublication.h"

#include <QCryptographicHash>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QRandomGenerator>
#include <QSet>
#include <QTest>

#include <algorithm>

using namespace flashsale;
using namespace flashsale::fairness;

namespace {

// Computed once with python3 (hashlib, hmac), independently of this code:
//   seed = bytes(range(32)); sale = 12
//   ids = [b"q3J9xZk0AbCdEfGh", b"Zk0-_aaaaaaaaaaa", b"0000000000000000", b"zzzzzzzzzzzzzzzz",
//          b"M_-9bq2LrT4uVwXy"]
//   commitment = hashlib.sha256(seed).hexdigest()
//   digest = hashlib.sha256(b"".join(i + b"\n" for i in sorted(ids))).hexdigest()
//   ss = hmac.new(seed, b"flashsale-waiting-room-v1\n12\n5\n" + digest.encode(),
//                 hashlib.sha256).digest()
//   sorted(ids, key=lambda i: (hmac.new(ss, i, hashlib.sha256).digest(), i))
const QByteArray kSeed = [] {
    QByteArray s(32, 0);
    for (int i = 0; i < 32; ++i)
        s[i] = char(i);
    return s;
}();
constexpr qint64 kSale = 12;
const QList<QByteArray> kIds{"q3J9xZk0AbCdEfGh", "Zk0-_aaaaaaaaaaa", "0000000000000000",
                             "zzzzzzzzzzzzzzzz", "M_-9bq2LrT4uVwXy"};
const QByteArray kCommitment = "630dcd2966c4336691125448bbb25b4ff412a49c732db2c8abc1b8581bd710dd";
const QByteArray kDigest = "f9598634f6e728e65c4e81ed97681c3ba7e117fa5b06ed5f579c463ee12a5609";
const QByteArray kShuffleSeed = "8ba4e0fee3316f3750c2d9d259818d608333fd1cc7cc06d142c9326a8de60841";
const QList<QByteArray> kRanked{"Zk0-_aaaaaaaaaaa", "M_-9bq2LrT4uVwXy", "zzzzzzzzzzzzzzzz",
                                "q3J9xZk0AbCdEfGh", "0000000000000000"};

// `count` random entry ids, as the API mints them (12 random bytes, base64url).
QList<QByteArray> randomIds(int count, quint32 seed) {
    QRandomGenerator rng(seed);
    QList<QByteArray> ids;
    ids.reserve(count);
    for (int i = 0; i < count; ++i)
        ids.append(CohortShuffle::newEntryId(rng));
    return ids;
}

// A sealed publication of `ids` as GET /fairness publishes it, split into pages of `pageSize`.
QList<QJsonObject> pages(const QByteArray &seed, qint64 sale, const QList<QByteArray> &ids,
                         int pageSize) {
    const CohortShuffle::Sealed s = CohortShuffle::seal(seed, sale, ids);
    QJsonObject header{{"sale_id", sale},
                       {"scheme", kScheme},
                       {"state", "sealed"},
                       {"commitment", QString::fromLatin1(CohortShuffle::commitment(seed))},
                       {"seed", QString::fromLatin1(seed.toHex())},
                       {"digest", QString::fromLatin1(s.digest)},
                       {"shuffle_seed", QString::fromLatin1(s.shuffleSeed.toHex())},
                       {"cohort_size", ids.size()}};
    QList<QJsonObject> out;
    for (qsizetype from = 0; from < s.ranked.size(); from += pageSize) {
        QJsonObject page = header;
        QJsonArray entries;
        for (qsizetype r = from; r < std::min(s.ranked.size(), from + pageSize); ++r)
            entries.append(QJsonArray{QString::fromLatin1(s.ranked[r]), r + 1});
        page.insert("entries", entries);
        page.insert("next", from + pageSize < s.ranked.size()
                                ? QJsonValue(QStringLiteral("/next?after=%1").arg(from + pageSize))
                                : QJsonValue(QJsonValue::Null));
        out.append(page);
    }
    return out;
}

} // namespace

class TestCohortShuffle : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void hmacMatchesRfc4231() {
        // RFC 4231 test cases 1 (a short key) and 6 (a key longer than a block: hashed first).
        QCOMPARE(HmacSha256(QByteArray(20, 0x0b)).macBytes("Hi There").toHex(),
                 "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
        QCOMPARE(HmacSha256::hash(QByteArray(131, char(0xaa)),
                                  "Test Using Larger Than Block-Size Key - Hash Key First")
                     .toHex(),
                 "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    }

    void knownAnswers() {
        QCOMPARE(CohortShuffle::commitment(kSeed), kCommitment);
        QCOMPARE(CohortShuffle::digest(kIds), kDigest);
        QCOMPARE(CohortShuffle::shuffleSeed(kSeed, kSale, kIds.size(), kDigest).toHex(),
                 kShuffleSeed);
        QCOMPARE(CohortShuffle::rank(kIds, QByteArray::fromHex(kShuffleSeed)), kRanked);
        const CohortShuffle::Sealed s = CohortShuffle::seal(kSeed, kSale, kIds);
        QCOMPARE(s.digest, kDigest);
        QCOMPARE(s.shuffleSeed.toHex(), kShuffleSeed);
        QCOMPARE(s.ranked, kRanked);
    }

    void digestSortsBytewise() {
        // Ids of any length (the general path) and 16-byte ids (sorted as fixed-size values)
        // both hash the bytewise-sorted list, each id followed by "\n".
        QCOMPARE(
            CohortShuffle::digest({"b", "a\xff", "a", "ccc"}),
            QCryptographicHash::hash("a\na\xff\nb\nccc\n", QCryptographicHash::Sha256).toHex());
        QList<QByteArray> ids = randomIds(1000, 9);
        ids.append("zzzzzzzzzzzzzzz\xff"); // a byte above ASCII sorts last (unsigned)
        QList<QByteArray> sorted = ids;
        std::sort(sorted.begin(), sorted.end());
        QCOMPARE(sorted.last(), QByteArray("zzzzzzzzzzzzzzz\xff"));
        QCOMPARE(CohortShuffle::digest(ids), CohortShuffle::digestOfSorted(sorted));
    }

    void malformedIdIsNamed() {
        QList<QJsonObject> ps = pages(kSeed, kSale, randomIds(30, 13), 100);
        QJsonArray entries = ps[0].value("entries").toArray();
        QJsonArray third = entries[2].toArray();
        third[0] = third[0].toString().left(15); // one character short
        entries[2] = third;
        ps[0].insert("entries", entries);
        FairnessPublication p;
        QVERIFY(p.addPage(ps[0]).has_value());
        const FairnessPublication::Verdict v = p.verify();
        QCOMPARE(v.field, QStringLiteral("entry"));
        QVERIFY2(v.first.contains(QLatin1String("entry #3")), qPrintable(v.first));
    }

    void emptyCohort() {
        // No one joined: the digest is SHA-256 of nothing, and there is nothing to rank.
        const CohortShuffle::Sealed s = CohortShuffle::seal(kSeed, kSale, {});
        QCOMPARE(s.digest, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        QVERIFY(s.ranked.isEmpty());
    }

    void entryIdFormat_data() {
        QTest::addColumn<QByteArray>("id");
        QTest::addColumn<bool>("valid");
        QTest::newRow("base64url") << QByteArray("q3J9xZk0AbCdEf-_") << true;
        QTest::newRow("15 chars") << QByteArray("q3J9xZk0AbCdEf-") << false;
        QTest::newRow("17 chars") << QByteArray("q3J9xZk0AbCdEf-_A") << false;
        QTest::newRow("plus (base64, not url)") << QByteArray("q3J9xZk0AbCdEf+_") << false;
        QTest::newRow("newline") << QByteArray("q3J9xZk0AbCdEf\n_") << false;
        QTest::newRow("empty") << QByteArray() << false;
    }
    void entryIdFormat() {
        QFETCH(QByteArray, id);
        QFETCH(bool, valid);
        QCOMPARE(CohortShuffle::isEntryId(id), valid);
    }
    void newEntryIdsAreWellFormedAndDistinct() {
        QSet<QByteArray> seen;
        for (int i = 0; i < 1000; ++i) {
            const QByteArray id = CohortShuffle::newEntryId();
            QVERIFY2(CohortShuffle::isEntryId(id), id.constData());
            seen.insert(id);
        }
        QCOMPARE(seen.size(), 1000);
    }

    void deterministic() {
        // The same cohort in any arrival order, on any number of threads, ranks the same.
        const QList<QByteArray> ids = randomIds(50000, 7);
        const CohortShuffle::Sealed one = CohortShuffle::seal(kSeed, kSale, ids, 1);
        QList<QByteArray> reversed(ids.crbegin(), ids.crend());
        const CohortShuffle::Sealed other = CohortShuffle::seal(kSeed, kSale, reversed, 4);
        QCOMPARE(other.digest, one.digest);
        QCOMPARE(other.shuffleSeed, one.shuffleSeed);
        QVERIFY(other.ranked == one.ranked);
        QCOMPARE(CohortShuffle::seal(kSeed, kSale, ids, 2).ranked.size(), ids.size());
        // And not the arrival order: a shuffle that kept it would pass everything above.
        QVERIFY(one.ranked != ids);
        QVERIFY(one.ranked.first() != std::min_element(ids.begin(), ids.end()).operator*());
    }

    void oneByteChangesTheOutput_data() {
        QTest::addColumn<QByteArray>("seed");
        QTest::addColumn<QList<QByteArray>>("ids");
        QTest::addColumn<qint64>("sale");
        QTest::addColumn<bool>("sameDigest");
        const QList<QByteArray> ids = randomIds(1000, 11);
        const auto seedWith = [](int i, char bit) {
            QByteArray s = kSeed;
            s[i] = char(s[i] ^ bit);
            return s;
        };
        const auto idsWith = [&ids](int which, int at) {
            QList<QByteArray> changed = ids;
            QByteArray &id = changed[which];
            id[at] = id[at] == 'A' ? 'B' : 'A';
            return changed;
        };
        QTest::newRow("seed byte 0") << seedWith(0, 0x01) << ids << kSale << true;
        QTest::newRow("seed byte 31") << seedWith(31, char(0x80)) << ids << kSale << true;
        QTest::newRow("first char of one id") << kSeed << idsWith(0, 0) << kSale << false;
        QTest::newRow("last char of another id") << kSeed << idsWith(999, 15) << kSale << false;
        QTest::newRow("another sale") << kSeed << ids << kSale + 1 << true;
    }
    void oneByteChangesTheOutput() {
        QFETCH(QByteArray, seed);
        QFETCH(QList<QByteArray>, ids);
        QFETCH(qint64, sale);
        QFETCH(bool, sameDigest);
        const QList<QByteArray> base = randomIds(1000, 11);
        const CohortShuffle::Sealed before = CohortShuffle::seal(kSeed, kSale, base);
        const CohortShuffle::Sealed after = CohortShuffle::seal(seed, sale, ids);
        QCOMPARE(after.digest == before.digest, sameDigest);
        QCOMPARE_NE(after.shuffleSeed, before.shuffleSeed);
        QCOMPARE(CohortShuffle::commitment(seed) != kCommitment, seed != kSeed);
        // The order of the ids both cohorts share moves: compare the shared ones' positions.
        QList<QByteArray> sharedBefore, sharedAfter;
        for (const QByteArray &id : before.ranked)
            if (ids.contains(id))
                sharedBefore.append(id);
        for (const QByteArray &id : after.ranked)
            if (base.contains(id))
                sharedAfter.append(id);
        QCOMPARE(sharedAfter.size(), sharedBefore.size());
        QVERIFY(sharedAfter != sharedBefore);
    }

    void publicationPagesMergeAndVerify() {
        const QList<QByteArray> ids = randomIds(2500, 3);
        FairnessPublication p;
        int pagesRead = 0;
        for (const QJsonObject &page : pages(kSeed, kSale, ids, 1000)) {
            auto next = p.addPage(page);
            QVERIFY2(next.has_value(), qPrintable(next.error()));
            ++pagesRead;
            QCOMPARE(next->isEmpty(), pagesRead == 3);
        }
        QCOMPARE(p.entries().size(), 2500);
        QVERIFY(p.isSealed());
        const FairnessPublication::Verdict ok = p.verify(CohortShuffle::commitment(kSeed), 2);
        QVERIFY2(ok.ok(), qPrintable(ok.field + QStringLiteral(": ") + ok.first));

        // A round trip through the merged document verifies the same.
        auto again =
            FairnessPublication::fromJson(QJsonDocument(p.toJson()).toJson(QJsonDocument::Compact));
        QVERIFY(again.has_value());
        QVERIFY(again->verify().ok());

        // The commitment seen in the lobby, one nibble off.
        QByteArray seen = CohortShuffle::commitment(kSeed);
        seen[10] = seen[10] == '0' ? '1' : '0';
        const FairnessPublication::Verdict bad = p.verify(seen);
        QCOMPARE(bad.field, QStringLiteral("commitment"));
        QCOMPARE(bad.mismatches, 1);
    }

    void laterPageWithAnotherHeaderIsRefused() {
        const QList<QJsonObject> ps = pages(kSeed, kSale, randomIds(20, 5), 10);
        FairnessPublication p;
        QVERIFY(p.addPage(ps[0]).has_value());
        QJsonObject second = ps[1];
        second.insert("seed", QString::fromLatin1(QByteArray(32, 'x').toHex()));
        auto refused = p.addPage(second);
        QVERIFY(!refused.has_value());
        QVERIFY2(refused.error().contains(QLatin1String("seed")), qPrintable(refused.error()));
    }

    void unsealedPublicationShowsOnlyTheCommitment() {
        QJsonObject lobby{{"sale_id", 12},
                          {"scheme", kScheme},
                          {"state", "lobby"},
                          {"commitment", QString::fromLatin1(kCommitment)},
                          {"seed", QJsonValue::Null},
                          {"entries", QJsonArray{}},
                          {"next", QJsonValue::Null}};
        FairnessPublication p;
        QVERIFY(p.addPage(lobby).has_value());
        QVERIFY(!p.isSealed());
        QVERIFY(p.verify(kCommitment).ok());
        QCOMPARE(p.verify(QByteArray(64, 'a')).field, QStringLiteral("commitment"));
    }
};

QTEST_GUILESS_MAIN(TestCohortShuffle)
#include "tst_cohortshuffle.moc"
