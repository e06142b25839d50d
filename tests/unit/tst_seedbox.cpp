// The waiting room's seed box (fairness::SeedBox, libsodium crypto_box_seal): a seed sealed to
// the scheduler's public key opens with its secret key only, a changed byte or another key opens
// nothing, and a process's settings give one sealing key or a clear error.
#include "fairness/seedbox.h"

#include <QTest>

using flashsale::fairness::SeedBox;

namespace {
const QByteArray kSecret = QByteArray(32, '\x11').toHex();
const QByteArray kOther = QByteArray(32, '\x22').toHex();
const QByteArray kSeed = QByteArray("0123456789abcdef0123456789abcdef");
} // namespace

class TestSeedBox : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void sealsAndOpens() {
        const auto key = SeedBox::fromSecretHex(kSecret);
        QVERIFY(key);
        QCOMPARE(key->publicKey().size(), SeedBox::kKeyBytes);
        const QByteArray box = SeedBox::seal(kSeed, key->publicKey());
        QCOMPARE(box.size(), kSeed.size() + SeedBox::kOverheadBytes);
        QVERIFY(!box.contains(kSeed));
        QCOMPARE(key->open(box).value_or(QByteArray()), kSeed);
        // Every seal uses a new ephemeral key: two boxes of one seed differ.
        QVERIFY(SeedBox::seal(kSeed, key->publicKey()) != box);
        // The same secret always gives the same key pair (one value to store and rotate).
        QCOMPARE(SeedBox::fromSecretHex(kSecret.toUpper())->publicKey(), key->publicKey());
    }

    void opensNothingElse() {
        const auto key = SeedBox::fromSecretHex(kSecret);
        const auto other = SeedBox::fromSecretHex(kOther);
        QVERIFY(key && other);
        const QByteArray box = SeedBox::seal(kSeed, key->publicKey());
        QVERIFY(!other->open(box));
        for (qsizetype i : {qsizetype(0), qsizetype(31), qsizetype(40), box.size() - 1}) {
            QByteArray changed = box;
            changed[i] = char(changed[i] ^ 0x01);
            QVERIFY2(!key->open(changed), qPrintable(QString::number(i)));
        }
        QVERIFY(!key->open(box.left(SeedBox::kOverheadBytes)));
        QVERIFY(!key->open(QByteArray()));
    }

    void keysFromSettings() {
        QString error;
        const QByteArray pub = SeedBox::fromSecretHex(kSecret)->publicKey();
        QCOMPARE(SeedBox::sealingKey({}, {}, &error), QByteArray());
        QVERIFY(error.isEmpty());
        QCOMPARE(SeedBox::sealingKey(kSecret, {}, &error), pub);
        QCOMPARE(SeedBox::sealingKey({}, pub.toHex(), &error), pub);
        QCOMPARE(SeedBox::sealingKey(kSecret, pub.toHex(), &error), pub);
        QVERIFY(error.isEmpty());
        const QByteArray otherPub = SeedBox::fromSecretHex(kOther)->publicKey().toHex();
        QCOMPARE(SeedBox::sealingKey(kSecret, otherPub, &error), QByteArray());
        QVERIFY2(error.contains("is not the public key"), qPrintable(error));
        for (const QByteArray &bad : {QByteArray("abc"), QByteArray(64, 'g'), kSecret + "00"}) {
            error.clear();
            QVERIFY(!SeedBox::fromSecretHex(bad));
            QVERIFY(!SeedBox::publicKeyFromHex(bad));
            QCOMPARE(SeedBox::sealingKey(bad, {}, &error), QByteArray());
            QVERIFY(!error.isEmpty());
        }
    }
};

QTEST_APPLESS_MAIN(TestSeedBox)
#include "tst_seedbox.moc"
