// Webhook signatures (shared/webhook/signature.h) without a server: known answers computed
// with openssl, a round trip, rotation between two secrets, the tolerance's edges in both
// directions, every malformed header, one changed byte anywhere, and the header length bound.

#include "webhook/signature.h"

#include <QCryptographicHash>
#include <QMessageAuthenticationCode>
#include <QTest>

using namespace flashsale;

using Status = WebhookVerdict::Status;
using Malformation = WebhookVerdict::Malformation;
using Staleness = WebhookVerdict::Staleness;

Q_DECLARE_METATYPE(WebhookVerdict::Status)
Q_DECLARE_METATYPE(WebhookVerdict::Malformation)
Q_DECLARE_METATYPE(WebhookVerdict::Staleness)

namespace {

constexpr qint64 kT = 1700000000; // 2023-11-14T22:13:20Z
const QByteArray kSecret = "whsec_test_secret";
const QByteArray kPrevious = "whsec_previous_secret";
const QByteArray kThird = "whsec_third_secret";
const QByteArray kBody = R"({"id":"evt_1","type":"payment.succeeded"})";

// Computed independently of libsodium, with OpenSSL:
//   printf '%s' '1700000000.{"id":"evt_1","type":"payment.succeeded"}' |
//     openssl dgst -sha256 -hmac 'whsec_test_secret'
const QByteArray kMacSecret = "0a731970e30844c135c2ba545c0b030783248e5151afff97d4b4cac22ffa7321";
//   ... -hmac 'whsec_previous_secret'
const QByteArray kMacPrevious = "8a04c4b739d2d7aa0660ee0e28f642a44f31a0f29776efa6c642f0032d903667";
//   ... -hmac 'whsec_third_secret'
const QByteArray kMacThird = "230e427f0aa2f6f896d3ed854a974a76b0c7c426f34e40b35d86c7e6f46cce58";

QByteArray header(const QByteArray &mac, qint64 t = kT) {
    return "t=" + QByteArray::number(t) + ",v1=" + mac;
}

// `s` with the byte at `i` changed (a digit stays a digit, a hex digit stays a hex digit).
QByteArray flipped(QByteArray s, qsizetype i) {
    const char c = s[i];
    s[i] = (c >= '0' && c <= '8') || (c >= 'a' && c <= 'e') ? char(c + 1)
           : c == '9'                                       ? '0'
           : c == 'f'                                       ? 'a'
                                                            : char(c ^ 0x01);
    return s;
}

} // namespace

class TestWebhookSignature : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void knownAnswer_data() {
        QTest::addColumn<QByteArray>("secret");
        QTest::addColumn<qint64>("t");
        QTest::addColumn<QByteArray>("body");
        QTest::addColumn<QByteArray>("mac");

        QTest::addRow("the reference event") << kSecret << kT << kBody << kMacSecret;
        QTest::addRow("the reference event, the previous secret")
            << kPrevious << kT << kBody << kMacPrevious;
        // printf '%s' '0.' | openssl dgst -sha256 -hmac 'whsec_test_secret'
        QTest::addRow("t = 0, an empty body")
            << kSecret << 0LL << QByteArray()
            << QByteArray("e359a4b07054a77815d22548b11f4936e8b16e4160347fcbc7fbeac890d07c42");
        // A key longer than SHA-256's 64-byte block is hashed first (RFC 2104):
        //   printf '%s' '1700000300.' | openssl dgst -sha256 -hmac "$(printf 'k%.0s' $(seq 100))"
        QTest::addRow("a 100-byte secret, an empty body")
            << QByteArray(100, 'k') << 1700000300LL << QByteArray()
            << QByteArray("0f4649ef09c1701c9da96e395ccf047832d7ac7f8b430a573e89dff2bd83ae64");
    }

    void knownAnswer() {
        QFETCH(QByteArray, secret);
        QFETCH(qint64, t);
        QFETCH(QByteArray, body);
        QFETCH(QByteArray, mac);

        QCOMPARE(webhookSign(secret, t, body), header(mac, t));
        const WebhookVerdict v = webhookVerify(header(mac, t), body, {secret}, t);
        QCOMPARE(v.status, Status::Ok);
        QCOMPARE(v.timestamp, t);
        QCOMPARE(v.secretIndex, 0);
    }

    void signingWithTwoSecretsGivesOneV1EachInOrder() {
        QCOMPARE(webhookSign(QList<QByteArray>{kSecret, kPrevious}, kT, kBody),
                 header(kMacSecret) + ",v1=" + kMacPrevious);
        // An empty secret signs nothing, and a header without v1 is refused.
        QCOMPARE(webhookSign(QList<QByteArray>{QByteArray(), kSecret}, kT, kBody),
                 header(kMacSecret));
        const QByteArray unsigned_ = webhookSign(QByteArray(), kT, kBody);
        QCOMPARE(unsigned_, QByteArray("t=1700000000"));
        QCOMPARE(webhookVerify(unsigned_, kBody, {kSecret}, kT).malformation,
                 Malformation::NoSignature);
    }

    void roundTrip_data() {
        QTest::addColumn<QByteArray>("body");
        QTest::addRow("JSON") << kBody;
        QTest::addRow("empty") << QByteArray();
        QTest::addRow("binary, with NUL bytes and commas") << QByteArray("\0,\xff=\r\n.", 7);
        QTest::addRow("one MiB") << QByteArray(1 << 20, 'x');
    }

    void roundTrip() {
        QFETCH(QByteArray, body);
        const qint64 now = 1794398400; // 2026-11-11T12:00:00Z
        const QByteArray h = webhookSign(kSecret, now, body);
        const WebhookVerdict v = webhookVerify(h, body, {kSecret}, now + 1);
        QCOMPARE(v.status, Status::Ok);
        QCOMPARE(v.malformation, Malformation::None);
        QCOMPARE(v.staleness, Staleness::Fresh);
        QCOMPARE(v.timestamp, now);
        QCOMPARE(v.ageSeconds, qint64(1));
        QCOMPARE(v.secretIndex, 0);
        // The MAC is an ordinary HMAC-SHA256: Qt's own agrees with libsodium's.
        const QByteArray qt = QMessageAuthenticationCode::hash(QByteArray::number(now) + '.' + body,
                                                               kSecret, QCryptographicHash::Sha256);
        QCOMPARE(h, "t=" + QByteArray::number(now) + ",v1=" + qt.toHex());
    }

    // The receiver holds [current, previous] during a rotation; the sender signs with one of
    // them or both. A secret the receiver does not hold never verifies.
    void rotation_data() {
        QTest::addColumn<QByteArray>("sent");
        QTest::addColumn<QList<QByteArray>>("held");
        QTest::addColumn<Status>("status");
        QTest::addColumn<int>("secretIndex");

        const QList<QByteArray> both{kSecret, kPrevious};
        QTest::addRow("signed with the current, both held")
            << header(kMacSecret) << both << Status::Ok << 0;
        QTest::addRow("signed with the previous, both held")
            << header(kMacPrevious) << both << Status::Ok << 1;
        QTest::addRow("signed with both, both held")
            << header(kMacSecret) + ",v1=" + kMacPrevious << both << Status::Ok << 0;
        QTest::addRow("signed with both, only the previous held")
            << header(kMacSecret) + ",v1=" + kMacPrevious << QList<QByteArray>{kPrevious}
            << Status::Ok << 0;
        QTest::addRow("held in the other order")
            << header(kMacSecret) << QList<QByteArray>{kPrevious, kSecret} << Status::Ok << 1;
        QTest::addRow("signed with a third secret")
            << header(kMacThird) << both << Status::BadSignature << -1;
        QTest::addRow("the third first, the current second")
            << header(kMacThird) + ",v1=" + kMacSecret << both << Status::Ok << 0;
        QTest::addRow("signed with the previous, only the current held")
            << header(kMacPrevious) << QList<QByteArray>{kSecret} << Status::BadSignature << -1;
        QTest::addRow("no secret held")
            << header(kMacSecret) << QList<QByteArray>{} << Status::BadSignature << -1;
    }

    void rotation() {
        QFETCH(QByteArray, sent);
        QFETCH(QList<QByteArray>, held);
        QFETCH(Status, status);
        QFETCH(int, secretIndex);

        const WebhookVerdict v = webhookVerify(sent, kBody, held, kT);
        QCOMPARE(v.status, status);
        QCOMPARE(v.secretIndex, secretIndex);
    }

    // An empty secret is never a key, even when the sender did sign with HMAC's empty key.
    void anEmptySecretVerifiesNothing() {
        const QByteArray emptyKeyMac = QMessageAuthenticationCode::hash(
            QByteArray::number(kT) + '.' + kBody, QByteArray(), QCryptographicHash::Sha256);
        const WebhookVerdict v =
            webhookVerify(header(emptyKeyMac.toHex()), kBody, {QByteArray()}, kT);
        QCOMPARE(v.status, Status::BadSignature);
    }

    void tolerance_data() {
        QTest::addColumn<qint64>("age"); // now - t
        QTest::addColumn<qint64>("tolerance");
        QTest::addColumn<Status>("status");
        QTest::addColumn<Staleness>("staleness");

        QTest::addRow("now") << 0LL << 300LL << Status::Ok << Staleness::Fresh;
        QTest::addRow("exactly the tolerance old")
            << 300LL << 300LL << Status::Ok << Staleness::Fresh;
        QTest::addRow("one second beyond, old")
            << 301LL << 300LL << Status::Stale << Staleness::TooOld;
        QTest::addRow("exactly the tolerance ahead")
            << -300LL << 300LL << Status::Ok << Staleness::Fresh;
        QTest::addRow("one second beyond, ahead")
            << -301LL << 300LL << Status::Stale << Staleness::TooNew;
        QTest::addRow("a day old") << 86400LL << 300LL << Status::Stale << Staleness::TooOld;
        QTest::addRow("zero tolerance, now") << 0LL << 0LL << Status::Ok << Staleness::Fresh;
        QTest::addRow("zero tolerance, a second old")
            << 1LL << 0LL << Status::Stale << Staleness::TooOld;
        QTest::addRow("zero tolerance, a second ahead")
            << -1LL << 0LL << Status::Stale << Staleness::TooNew;
    }

    void tolerance() {
        QFETCH(qint64, age);
        QFETCH(qint64, tolerance);
        QFETCH(Status, status);
        QFETCH(Staleness, staleness);

        const WebhookVerdict v =
            webhookVerify(header(kMacSecret), kBody, {kSecret}, kT + age, tolerance);
        QCOMPARE(v.status, status);
        QCOMPARE(v.staleness, staleness);
        QCOMPARE(v.ageSeconds, age);
        QCOMPARE(v.timestamp, kT);
        QCOMPARE(v.secretIndex, 0); // a stale call is still a genuine one
    }

    void theDefaultToleranceIsFiveMinutes() {
        QCOMPARE(webhookVerify(header(kMacSecret), kBody, {kSecret}, kT + 300).status, Status::Ok);
        QCOMPARE(webhookVerify(header(kMacSecret), kBody, {kSecret}, kT + 301).status,
                 Status::Stale);
    }

    // The signature is judged before the time: a forgery is a forgery whatever its t says.
    void aForgedStaleCallIsBadSignature() {
        const WebhookVerdict v = webhookVerify(header(kMacThird), kBody, {kSecret}, kT + 86400);
        QCOMPARE(v.status, Status::BadSignature);
        QCOMPARE(v.staleness, Staleness::Fresh);
    }

    void malformed_data() {
        QTest::addColumn<QByteArray>("value");
        QTest::addColumn<Malformation>("malformation");

        const QByteArray v1 = ",v1=" + kMacSecret;
        QTest::addRow("empty") << QByteArray() << Malformation::Empty;
        QTest::addRow("one byte over the bound")
            << header(kMacSecret) + ",x=" + QByteArray(kWebhookSignatureMaxBytes, 'a')
            << Malformation::TooLong;
        QTest::addRow("garbage") << QByteArray("garbage") << Malformation::BadElement;
        QTest::addRow("an element without =")
            << QByteArray("t=1700000000,v1") << Malformation::BadElement;
        QTest::addRow("an empty key") << "t=1700000000,=x" + v1 << Malformation::BadElement;
        QTest::addRow("an uppercase key") << "T=1700000000" + v1 << Malformation::BadElement;
        QTest::addRow("a space after the comma")
            << "t=1700000000, v1=" + kMacSecret << Malformation::BadElement;
        QTest::addRow("a trailing comma") << header(kMacSecret) + ',' << Malformation::BadElement;
        QTest::addRow("a leading comma") << ',' + header(kMacSecret) << Malformation::BadElement;
        QTest::addRow("two commas") << "t=1700000000,," + v1 << Malformation::BadElement;
        QTest::addRow("no t") << "v1=" + kMacSecret << Malformation::NoTimestamp;
        QTest::addRow("two t, the same")
            << "t=1700000000,t=1700000000" + v1 << Malformation::TwoTimestamps;
        QTest::addRow("t empty") << "t=" + v1 << Malformation::BadTimestamp;
        QTest::addRow("t not a number") << "t=abc" + v1 << Malformation::BadTimestamp;
        QTest::addRow("t negative") << "t=-1700000000" + v1 << Malformation::BadTimestamp;
        QTest::addRow("t with a plus sign") << "t=+1700000000" + v1 << Malformation::BadTimestamp;
        QTest::addRow("t with a leading zero")
            << "t=01700000000" + v1 << Malformation::BadTimestamp;
        QTest::addRow("t with a fraction") << "t=1700000000.5" + v1 << Malformation::BadTimestamp;
        QTest::addRow("t in milliseconds, 13 digits")
            << "t=1700000000000" + v1 << Malformation::BadTimestamp;
        QTest::addRow("t with a trailing space")
            << "t=1700000000 " + v1 << Malformation::BadTimestamp;
        QTest::addRow("no v1") << QByteArray("t=1700000000") << Malformation::NoSignature;
        QTest::addRow("only another scheme's signature")
            << "t=1700000000,v0=" + kMacSecret << Malformation::NoSignature;
        QTest::addRow("v1 empty") << QByteArray("t=1700000000,v1=")
                                  << Malformation::BadSignatureHex;
        QTest::addRow("v1 of 63 digits")
            << header(kMacSecret.first(63)) << Malformation::BadSignatureHex;
        QTest::addRow("v1 of 65 digits")
            << header(kMacSecret + '0') << Malformation::BadSignatureHex;
        QTest::addRow("v1 with a non-hex digit")
            << header(kMacSecret.first(63) + 'g') << Malformation::BadSignatureHex;
        QTest::addRow("v1 base64, not hex")
            << header(QByteArray::fromHex(kMacSecret).toBase64()) << Malformation::BadSignatureHex;
        QTest::addRow("a good v1, then a bad one")
            << header(kMacSecret) + ",v1=zz" << Malformation::BadSignatureHex;
    }

    void malformed() {
        QFETCH(QByteArray, value);
        QFETCH(Malformation, malformation);

        const WebhookVerdict v = webhookVerify(value, kBody, {kSecret}, kT);
        QCOMPARE(v.status, Status::Malformed);
        QCOMPARE(v.malformation, malformation);
        QCOMPARE(v.secretIndex, -1);
        QVERIFY(!webhookVerdictText(v).isEmpty());
    }

    // Forms that look odd but are the scheme's: other schemes are ignored, hex in either case.
    void lenientWhereTheSchemeAllows_data() {
        QTest::addColumn<QByteArray>("value");
        QTest::addRow("another scheme beside v1") << "t=1700000000,v0=anything,v1=" + kMacSecret;
        QTest::addRow("v1 before t") << "v1=" + kMacSecret + ",t=1700000000";
        QTest::addRow("uppercase hex") << header(kMacSecret.toUpper());
    }

    void lenientWhereTheSchemeAllows() {
        QFETCH(QByteArray, value);
        QCOMPARE(webhookVerify(value, kBody, {kSecret}, kT).status, Status::Ok);
    }

    // One byte changed in the body, the timestamp or the signature: the MAC no longer matches.
    // The changed timestamp stays within the tolerance, so only the signature can refuse it.
    void oneChangedByteFails_data() {
        QTest::addColumn<QByteArray>("value");
        QTest::addColumn<QByteArray>("body");

        const QByteArray good = header(kMacSecret);
        QTest::addRow("the body's first byte") << good << flipped(kBody, 0);
        QTest::addRow("a byte in the body's middle") << good << flipped(kBody, kBody.size() / 2);
        QTest::addRow("the body's last byte") << good << flipped(kBody, kBody.size() - 1);
        QTest::addRow("a byte more in the body") << good << kBody + ' ';
        QTest::addRow("a byte less in the body") << good << kBody.chopped(1);
        QTest::addRow("the timestamp's last digit") << flipped(good, 11) << kBody;
        QTest::addRow("the timestamp's first digit, 1 -> 2")
            << header(kMacSecret, 2700000000) << kBody;
        QTest::addRow("the signature's first digit") << flipped(good, 16) << kBody;
        QTest::addRow("the signature's last digit") << flipped(good, good.size() - 1) << kBody;
    }

    void oneChangedByteFails() {
        QFETCH(QByteArray, value);
        QFETCH(QByteArray, body);

        QCOMPARE(webhookVerify(header(kMacSecret), kBody, {kSecret}, kT).status, Status::Ok);
        const WebhookVerdict v =
            webhookVerify(value, body, {kSecret, kPrevious}, kT, /*tolerance=*/2000000000);
        QCOMPARE(v.status, Status::BadSignature);
        QCOMPARE(v.secretIndex, -1);
    }

    // A header of exactly the bound is read; one byte more is refused before it is parsed, even
    // with a valid signature in it.
    void headerLengthBound() {
        const QByteArray signed_ = webhookSign(QList<QByteArray>{kSecret, kPrevious}, kT, kBody);
        QByteArray atBound = signed_ + ",x=";
        atBound += QByteArray(kWebhookSignatureMaxBytes - atBound.size(), 'a');
        QCOMPARE(atBound.size(), kWebhookSignatureMaxBytes);
        QCOMPARE(webhookVerify(atBound, kBody, {kSecret}, kT).status, Status::Ok);

        const WebhookVerdict over = webhookVerify(atBound + 'a', kBody, {kSecret}, kT);
        QCOMPARE(over.status, Status::Malformed);
        QCOMPARE(over.malformation, Malformation::TooLong);

        // Seven v1 fit within the bound and the seventh still counts.
        QByteArray seven = "t=1700000000";
        for (int i = 0; i < 6; ++i)
            seven += ",v1=" + kMacThird;
        seven += ",v1=" + kMacSecret;
        QVERIFY(seven.size() <= kWebhookSignatureMaxBytes);
        QCOMPARE(webhookVerify(seven, kBody, {kSecret}, kT).status, Status::Ok);
    }

    void verdictTextSaysWhichWay() {
        const WebhookVerdict old = webhookVerify(header(kMacSecret), kBody, {kSecret}, kT + 400);
        QCOMPARE(webhookVerdictText(old),
                 QStringLiteral("The Flashsale-Signature timestamp is 400 s old, beyond the "
                                "tolerance."));
        const WebhookVerdict ahead = webhookVerify(header(kMacSecret), kBody, {kSecret}, kT - 400);
        QCOMPARE(webhookVerdictText(ahead),
                 QStringLiteral("The Flashsale-Signature timestamp is 400 s ahead, beyond the "
                                "tolerance."));
    }
};

QTEST_APPLESS_MAIN(TestWebhookSignature)
#include "tst_webhooksignature.moc"
