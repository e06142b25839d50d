#include "powchallenge.h"

#include <QByteArrayList>
#include <QCryptographicHash>
#include <QMessageAuthenticationCode>
#include <QRandomGenerator>

namespace flashsale {

namespace {

constexpr auto kB64 = QByteArray::Base64UrlEncoding | QByteArray::OmitTrailingEquals;

bool sameBytes(const QByteArray &a, const QByteArray &b) {
    if (a.size() != b.size())
        return false;
    unsigned char diff = 0;
    for (qsizetype i = 0; i < a.size(); ++i)
        diff |= static_cast<unsigned char>(a[i] ^ b[i]);
    return diff == 0;
}

// Without a configured secret, challenges are signed with a key of this process alone: they
// verify only on the process that issued them.
QByteArray randomSecret() {
    quint64 r[4];
    QRandomGenerator::system()->fillRange(r, 4);
    return QByteArray(reinterpret_cast<const char *>(r), sizeof r);
}

int leadingZeroBits(const QByteArray &digest) {
    int bits = 0;
    for (char c : digest) {
        const auto b = static_cast<unsigned char>(c);
        if (b == 0) {
            bits += 8;
            continue;
        }
        for (int i = 7; i >= 0 && !(b & (1 << i)); --i)
            ++bits;
        break;
    }
    return bits;
}

} // namespace

PowChallenges::PowChallenges(const QByteArray &secret)
    // Its own key, so a challenge's MAC can never double as anything else signed with the secret.
    : m_key(QMessageAuthenticationCode::hash("flashsale-pow-v1",
                                             secret.isEmpty() ? randomSecret() : secret,
                                             QCryptographicHash::Sha256)) {}

const char *PowChallenges::errorText(Error e) {
    switch (e) {
    case Error::Malformed:
        return "The challenge is not one this server issues.";
    case Error::BadSignature:
        return "The challenge's signature is not valid.";
    case Error::WrongSale:
        return "The challenge was issued for another sale.";
    case Error::WrongUser:
        return "The challenge was issued to another user.";
    case Error::Expired:
        return "The challenge has expired; ask for a new one.";
    case Error::WrongSolution:
        return "The solution does not meet the challenge's difficulty.";
    }
    return "invalid proof of work";
}

QByteArray PowChallenges::issue(qint64 saleId, const QByteArray &userId, int difficulty,
                                qint64 expiresAtMs) const {
    quint64 nonce[2];
    QRandomGenerator::system()->fillRange(nonce, 2);
    const QByteArray body = "v1." + QByteArray::number(saleId) + '.' + userId.toBase64(kB64) + '.'
                            + QByteArray(reinterpret_cast<const char *>(nonce), 16).toHex() + '.'
                            + QByteArray::number(difficulty) + '.'
                            + QByteArray::number(expiresAtMs);
    return body + '.'
           + QMessageAuthenticationCode::hash(body, m_key, QCryptographicHash::Sha256)
                 .toBase64(kB64);
}

std::expected<PowChallenges::Checked, PowChallenges::Error>
PowChallenges::verify(const QByteArray &challenge, const QByteArray &solution, qint64 saleId,
                      const QByteArray &userId, qint64 nowMs) const {
    if (challenge.size() > 512 || solution.isEmpty() || solution.size() > 32)
        return std::unexpected(Error::Malformed);
    for (char c : solution)
        if (c < '0' || c > '9')
            return std::unexpected(Error::Malformed);
    const qsizetype lastDot = challenge.lastIndexOf('.');
    if (lastDot <= 0)
        return std::unexpected(Error::Malformed);
    const QByteArray body = challenge.left(lastDot);
    const QList<QByteArray> f = body.split('.');
    if (f.size() != 6 || f[0] != "v1" || f[3].size() != 32)
        return std::unexpected(Error::Malformed);
    const auto mac = QByteArray::fromBase64Encoding(challenge.mid(lastDot + 1),
                                                    kB64 | QByteArray::AbortOnBase64DecodingErrors);
    if (!mac
        || !sameBytes(*mac,
                      QMessageAuthenticationCode::hash(body, m_key, QCryptographicHash::Sha256)))
        return std::unexpected(Error::BadSignature);
    if (f[1].toLongLong() != saleId)
        return std::unexpected(Error::WrongSale);
    if (f[2] != userId.toBase64(kB64))
        return std::unexpected(Error::WrongUser);
    const qint64 expires = f[5].toLongLong();
    if (expires <= nowMs)
        return std::unexpected(Error::Expired);
    const int difficulty = f[4].toInt();
    if (work(challenge, solution) < difficulty)
        return std::unexpected(Error::WrongSolution);
    return Checked{f[3], difficulty, expires};
}

int PowChallenges::work(const QByteArray &challenge, const QByteArray &solution) {
    QCryptographicHash h(QCryptographicHash::Sha256);
    h.addData(challenge);
    h.addData(":");
    h.addData(solution);
    return leadingZeroBits(h.result());
}

QByteArray PowChallenges::solve(const QByteArray &challenge, int difficulty) {
    for (quint64 s = 0;; ++s) {
        const QByteArray candidate = QByteArray::number(s);
        if (work(challenge, candidate) >= difficulty)
            return candidate;
    }
}

} // namespace flashsale
