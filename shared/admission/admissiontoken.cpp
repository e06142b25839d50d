#include "admissiontoken.h"

#include "admission/powchallenge.h" // constantTimeEquals

#include <QRandomGenerator>

namespace flashsale {

namespace {

constexpr auto kB64 = QByteArray::Base64UrlEncoding | QByteArray::OmitTrailingEquals;
constexpr QByteArrayView kLabel = "flashsale-admission-v1";

QByteArray keyOf(const QByteArray &secret) {
    QByteArray s = secret;
    if (s.isEmpty()) {
        s.resize(32);
        QRandomGenerator::system()->fillRange(reinterpret_cast<quint32 *>(s.data()), 8);
    }
    // Its own key: HMAC(secret, label), so a token's MAC can never double as anything else
    // signed with the buyer-token secret.
    return HmacSha256::hash(s, kLabel);
}

bool base64UrlChars(QByteArrayView v) {
    for (const char c : v)
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'
              || c == '_'))
            return false;
    return true;
}

bool digits(QByteArrayView v) {
    if (v.isEmpty() || v.size() > 18)
        return false;
    for (const char c : v)
        if (c < '0' || c > '9')
            return false;
    return true;
}

} // namespace

AdmissionTokens::AdmissionTokens(const QByteArray &secret)
    : m_mac(keyOf(secret)) {}

const char *AdmissionTokens::errorText(Error e) {
    switch (e) {
    case Error::Malformed:
        return "The admission token is not one this server issues.";
    case Error::BadSignature:
        return "The admission token's signature is not valid.";
    case Error::WrongSale:
        return "The admission token is for another sale.";
    case Error::WrongUser:
        return "The admission token is another buyer's.";
    case Error::Expired:
        return "The admission has expired.";
    }
    return "invalid admission token";
}

QByteArray AdmissionTokens::issue(qint64 saleId, const QByteArrayView entryId,
                                  const QByteArray &userId, qint64 expiresAtMs) const {
    const QByteArray body = "at1." + QByteArray::number(saleId) + '.' + entryId.toByteArray() + '.'
                            + userId.toBase64(kB64) + '.' + QByteArray::number(expiresAtMs);
    return body + '.' + m_mac.mac(body).toByteArray().toBase64(kB64);
}

std::expected<AdmissionTokens::Checked, AdmissionTokens::Error>
AdmissionTokens::verify(QByteArrayView token, qint64 saleId, const QByteArray &userId,
                        qint64 nowMs) const {
    if (token.isEmpty() || token.size() > 512)
        return std::unexpected(Error::Malformed);
    qsizetype dots[5];
    int found = 0;
    for (qsizetype i = 0; i < token.size(); ++i) {
        if (token[i] == '.') {
            if (found == 5)
                return std::unexpected(Error::Malformed);
            dots[found++] = i;
        }
    }
    if (found != 5)
        return std::unexpected(Error::Malformed);
    auto field = [&](int n) { // the n-th dot-separated field, 0-based
        const qsizetype from = n == 0 ? 0 : dots[n - 1] + 1;
        const qsizetype to = n == 5 ? token.size() : dots[n];
        return token.sliced(from, to - from);
    };
    if (field(0) != "at1" || !digits(field(1)) || field(2).isEmpty() || field(2).size() > 64
        || !base64UrlChars(field(2)) || !base64UrlChars(field(3)) || !digits(field(4))
        || !base64UrlChars(field(5)))
        return std::unexpected(Error::Malformed);
    const auto mac = QByteArray::fromBase64Encoding(field(5).toByteArray(),
                                                    kB64 | QByteArray::AbortOnBase64DecodingErrors);
    if (!mac || !constantTimeEquals(*mac, m_mac.mac(token.first(dots[4]))))
        return std::unexpected(Error::BadSignature);
    if (field(1).toLongLong() != saleId)
        return std::unexpected(Error::WrongSale);
    if (field(3) != userId.toBase64(kB64))
        return std::unexpected(Error::WrongUser);
    const qint64 expires = field(4).toLongLong();
    if (expires <= nowMs)
        return std::unexpected(Error::Expired);
    return Checked{field(2).toByteArray(), expires};
}

} // namespace flashsale
