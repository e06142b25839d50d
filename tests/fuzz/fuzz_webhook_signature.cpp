// libFuzzer target: the Flashsale-Signature header (shared/webhook/signature.h), as the payment
// webhook route will read it from an untrusted caller.
//
// Input (FuzzedDataProvider): the header value, the raw body, then from the end of the data the
// clock ("now") and the tolerance. Properties, beyond "no crash, leak or undefined behaviour":
//   - a header longer than the bound is TooLong, whatever it holds;
//   - Malformed comes with a malformation, and nothing else does;
//   - Ok and Stale name a held secret whose HMAC over "<t>.<body>" (computed here with Qt's own
//     HMAC) is one of the header's v1 values, and the tolerance decides between them, with the
//     right direction;
//   - the body signed at the fuzzed t verifies back (Ok at t, secret 0, and with the previous
//     secret alone: secret 0 again), and a third secret's signature never verifies.

#include "webhook/signature.h"

#include <QCryptographicHash>
#include <QMessageAuthenticationCode>

#include <fuzzer/FuzzedDataProvider.h>

#include <cstdio>
#include <cstdlib>

using namespace flashsale;

namespace {

const QByteArray kSecret = "whsec_test_secret";
const QByteArray kPrevious = "whsec_previous_secret";
const QByteArray kThird = "whsec_third_secret";

void check(bool ok, const char *what) {
    if (!ok) {
        std::fprintf(stderr, "property violated: %s\n", what);
        std::abort();
    }
}

QByteArray bytes(FuzzedDataProvider &in, size_t max) {
    const std::string s = in.ConsumeRandomLengthString(max);
    return QByteArray(s.data(), qsizetype(s.size()));
}

QByteArray hexMac(const QByteArray &secret, qint64 t, const QByteArray &body) {
    return QMessageAuthenticationCode::hash(QByteArray::number(t) + '.' + body, secret,
                                            QCryptographicHash::Sha256)
        .toHex();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    FuzzedDataProvider in(data, size);
    const QByteArray header = bytes(in, 2 * kWebhookSignatureMaxBytes);
    const QByteArray body = bytes(in, 4096);
    const qint64 now = in.ConsumeIntegralInRange<qint64>(0, 4'000'000'000'000LL);
    const qint64 tolerance = in.ConsumeIntegralInRange<qint64>(0, 100'000);
    const QList<QByteArray> held{kSecret, kPrevious};

    using Status = WebhookVerdict::Status;
    using Malformation = WebhookVerdict::Malformation;
    using Staleness = WebhookVerdict::Staleness;
    const WebhookVerdict v = webhookVerify(header, body, held, now, tolerance);
    check(!webhookVerdictText(v).isEmpty(), "every verdict has a text");
    if (header.size() > kWebhookSignatureMaxBytes)
        check(v.status == Status::Malformed && v.malformation == Malformation::TooLong,
              "a header over the bound is TooLong");
    check((v.status == Status::Malformed) == (v.malformation != Malformation::None),
          "Malformed, and only Malformed, has a malformation");
    if (v.status == Status::Ok || v.status == Status::Stale) {
        check(v.secretIndex == 0 || v.secretIndex == 1, "a genuine call names a held secret");
        check(v.timestamp >= 0 && v.timestamp < 1'000'000'000'000LL, "t is 1-12 digits");
        const QByteArray mac = hexMac(held[v.secretIndex], v.timestamp, body);
        check(header.toLower().contains("v1=" + mac), "the matching v1 is the secret's HMAC");
        check(v.ageSeconds == now - v.timestamp, "age is now - t");
        const qint64 age = v.ageSeconds;
        if (v.status == Status::Ok)
            check(v.staleness == Staleness::Fresh && age <= tolerance && -age <= tolerance,
                  "Ok is within the tolerance");
        else
            check((v.staleness == Staleness::TooOld && age > tolerance)
                      || (v.staleness == Staleness::TooNew && -age > tolerance),
                  "Stale is beyond the tolerance, in the direction it says");
    } else {
        check(v.secretIndex == -1, "no secret is named unless one matched");
    }

    const qint64 t = now % 1'000'000'000'000LL;
    const WebhookVerdict back = webhookVerify(webhookSign(kSecret, t, body), body, held, t);
    check(back.ok() && back.secretIndex == 0 && back.timestamp == t, "a signed body verifies");
    const WebhookVerdict both =
        webhookVerify(webhookSign(held, t, body), body, {kPrevious}, t, tolerance);
    check(both.ok() && both.secretIndex == 0, "signed with both, the previous alone verifies");
    check(webhookVerify(webhookSign(kThird, t, body), body, held, t).status == Status::BadSignature,
          "a secret not held never verifies");
    return 0;
}
