#include "signature.h"

#include "core/sodium.h"

#include <QVarLengthArray>
#include <QtGlobal>

#include <sodium.h>

#include <array>

namespace flashsale {

namespace {

using Mac = std::array<unsigned char, crypto_auth_hmacsha256_BYTES>;
using Status = WebhookVerdict::Status;
using Malformation = WebhookVerdict::Malformation;
using Staleness = WebhookVerdict::Staleness;

constexpr qsizetype kMacHexDigits = 2 * crypto_auth_hmacsha256_BYTES;
constexpr qsizetype kMaxTimestampDigits = 12;

// HMAC-SHA256(secret, "<t>.<body>"), fed in pieces so the body is never copied. libsodium's
// _init takes a key of any length (hashed first when longer than a block, as RFC 2104 says).
Mac mac(QByteArrayView secret, QByteArrayView timestamp, QByteArrayView body) {
    crypto_auth_hmacsha256_state state;
    const auto bytes = [](QByteArrayView v) {
        return reinterpret_cast<const unsigned char *>(v.data());
    };
    crypto_auth_hmacsha256_init(&state, bytes(secret), size_t(secret.size()));
    crypto_auth_hmacsha256_update(&state, bytes(timestamp), size_t(timestamp.size()));
    crypto_auth_hmacsha256_update(&state, bytes("."), 1);
    crypto_auth_hmacsha256_update(&state, bytes(body), size_t(body.size()));
    Mac out{};
    crypto_auth_hmacsha256_final(&state, out.data());
    sodium_memzero(&state, sizeof state);
    return out;
}

QByteArray hex(const Mac &m) {
    QByteArray out(kMacHexDigits + 1, Qt::Uninitialized); // sodium_bin2hex writes a NUL too
    sodium_bin2hex(out.data(), size_t(out.size()), m.data(), m.size());
    out.chop(1);
    return out;
}

// Exactly 64 hex digits (either case) into `out`; false for anything else.
bool fromHex(QByteArrayView digits, Mac &out) {
    if (digits.size() != kMacHexDigits)
        return false;
    size_t written = 0;
    const char *end = nullptr;
    return sodium_hex2bin(out.data(), out.size(), digits.data(), size_t(digits.size()), nullptr,
                          &written, &end)
               == 0
           && written == out.size() && end == digits.data() + digits.size();
}

// 1-12 decimal digits, no sign, no leading zero: one spelling per number, so the digits signed
// are the digits the receiver reads back.
bool validTimestamp(QByteArrayView digits) {
    if (digits.isEmpty() || digits.size() > kMaxTimestampDigits
        || (digits.size() > 1 && digits.front() == '0'))
        return false;
    for (char c : digits)
        if (c < '0' || c > '9')
            return false;
    return true;
}

// A key of an element: lowercase letters and digits ("t", "v1", and any later scheme's name).
bool validKey(QByteArrayView key) {
    if (key.isEmpty())
        return false;
    for (char c : key)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
            return false;
    return true;
}

} // namespace

QByteArray webhookSign(QByteArrayView secret, qint64 timestamp, QByteArrayView body) {
    return webhookSign(QList<QByteArray>{secret.toByteArray()}, timestamp, body);
}

QByteArray webhookSign(const QList<QByteArray> &secrets, qint64 timestamp, QByteArrayView body) {
    Q_ASSERT_X(timestamp >= 0, "webhookSign", "negative timestamp");
    const QByteArray t = QByteArray::number(qMax<qint64>(timestamp, 0));
    QByteArray header = "t=" + t;
    if (!sodiumReady())
        return header;
    for (const QByteArray &secret : secrets)
        if (!secret.isEmpty())
            header += ",v1=" + hex(mac(secret, t, body));
    return header;
}

WebhookVerdict webhookVerify(QByteArrayView header, QByteArrayView body,
                             const QList<QByteArray> &secrets, qint64 nowSeconds,
                             qint64 toleranceSeconds) {
    Q_ASSERT_X(toleranceSeconds >= 0, "webhookVerify", "negative tolerance");
    toleranceSeconds = qMax<qint64>(toleranceSeconds, 0);
    WebhookVerdict verdict;
    const auto malformed = [&verdict](Malformation m) {
        verdict.status = Status::Malformed;
        verdict.malformation = m;
        return verdict;
    };
    if (header.isEmpty())
        return malformed(Malformation::Empty);
    if (header.size() > kWebhookSignatureMaxBytes)
        return malformed(Malformation::TooLong);

    // The length bound caps the candidates: each "v1=<64 hex>" takes 68 bytes with its comma.
    QVarLengthArray<Mac, kWebhookSignatureMaxBytes / (kMacHexDigits + 4) + 1> candidates;
    QByteArrayView t;
    bool haveT = false;
    for (qsizetype pos = 0;;) {
        qsizetype comma = header.indexOf(',', pos);
        if (comma < 0)
            comma = header.size();
        const QByteArrayView element = header.sliced(pos, comma - pos);
        const qsizetype eq = element.indexOf('=');
        if (eq < 0 || !validKey(element.first(eq)))
            return malformed(Malformation::BadElement);
        const QByteArrayView key = element.first(eq), value = element.sliced(eq + 1);
        if (key == "t") {
            if (haveT)
                return malformed(Malformation::TwoTimestamps);
            if (!validTimestamp(value))
                return malformed(Malformation::BadTimestamp);
            t = value;
            haveT = true;
        } else if (key == "v1") {
            Mac m{};
            if (!fromHex(value, m))
                return malformed(Malformation::BadSignatureHex);
            candidates.append(m);
        }
        // Any other key is another scheme's (Stripe sends v0= in test mode): not ours to judge.
        if (comma == header.size())
            break;
        pos = comma + 1;
    }
    if (!haveT)
        return malformed(Malformation::NoTimestamp);
    if (candidates.isEmpty())
        return malformed(Malformation::NoSignature);
    verdict.timestamp = t.toLongLong();
    verdict.ageSeconds = nowSeconds - verdict.timestamp;

    if (sodiumReady())
        for (qsizetype i = 0; i < secrets.size() && verdict.secretIndex < 0; ++i) {
            if (secrets[i].isEmpty())
                continue;
            const Mac expected = mac(secrets[i], t, body);
            for (const Mac &candidate : candidates)
                if (sodium_memcmp(candidate.data(), expected.data(), expected.size()) == 0)
                    verdict.secretIndex = int(i);
        }
    if (verdict.secretIndex < 0) {
        verdict.status = Status::BadSignature;
        return verdict;
    }
    if (verdict.ageSeconds > toleranceSeconds)
        verdict.staleness = Staleness::TooOld;
    else if (verdict.ageSeconds < -toleranceSeconds)
        verdict.staleness = Staleness::TooNew;
    verdict.status = verdict.staleness == Staleness::Fresh ? Status::Ok : Status::Stale;
    return verdict;
}

QString webhookVerdictText(const WebhookVerdict &v) {
    const QString h = QString::fromLatin1(kWebhookSignatureHeader);
    switch (v.status) {
    case Status::Ok:
        return QStringLiteral("The %1 header is valid.").arg(h);
    case Status::BadSignature:
        return QStringLiteral("No signature in the %1 header matches the body and timestamp.")
            .arg(h);
    case Status::Stale:
        return v.staleness == Staleness::TooOld
                   ? QStringLiteral("The %1 timestamp is %2 s old, beyond the tolerance.")
                         .arg(h)
                         .arg(v.ageSeconds)
                   : QStringLiteral("The %1 timestamp is %2 s ahead, beyond the tolerance.")
                         .arg(h)
                         .arg(-v.ageSeconds);
    case Status::Malformed:
        break;
    }
    switch (v.malformation) {
    case Malformation::Empty:
        return QStringLiteral("The %1 header is missing or empty.").arg(h);
    case Malformation::TooLong:
        return QStringLiteral("The %1 header is longer than %2 bytes.")
            .arg(h)
            .arg(kWebhookSignatureMaxBytes);
    case Malformation::BadElement:
        return QStringLiteral("The %1 header is not a comma-separated list of key=value.").arg(h);
    case Malformation::NoTimestamp:
        return QStringLiteral("The %1 header has no t= timestamp.").arg(h);
    case Malformation::TwoTimestamps:
        return QStringLiteral("The %1 header has more than one t= timestamp.").arg(h);
    case Malformation::BadTimestamp:
        return QStringLiteral("The %1 timestamp is not unix seconds in decimal digits.").arg(h);
    case Malformation::NoSignature:
        return QStringLiteral("The %1 header has no v1= signature.").arg(h);
    case Malformation::BadSignatureHex:
        return QStringLiteral("A v1= signature of the %1 header is not 64 hex digits.").arg(h);
    case Malformation::None:
        break;
    }
    return QStringLiteral("The %1 header is malformed.").arg(h);
}

} // namespace flashsale
