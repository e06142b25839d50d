#include "powchallenge.h"

#include <QByteArrayList>
#include <QCryptographicHash>
#include <QMessageAuthenticationCode>
#include <QRandomGenerator>

namespace flashsale {

namespace {

constexpr auto kB64 = QByteArray::Base64UrlEncoding | QByteArray::OmitTrailingEquals;

// Without a configured secret, challenges are signed with a key of this process alone: they
// verify only on the process that issued them.
QByteArray randomSecret() {
    quint64 r[4];
    QRandomGenerator::system()->fillRange(r, 4);
    return QByteArray(reinterpret_cast<const char *>(r), sizeof r);
}

int leadingZeroBits(QByteArrayView digest) {
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
    : m_key(QMessageAuthenticationCode::hash(
        "flashsale-pow-v1", secret.isEmpty() ? randomSecret() : secret, QCryptographicHash::Sha256))
    , m_mac(m_key) {}

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
    return body + '.' + hmac(body).toByteArray().toBase64(kB64);
}

std::expected<PowChallenges::Checked, PowChallenges::Error>
PowChallenges::verify(const QByteArray &challenge, const QByteArray &solution, qint64 saleId,
                      const QByteArray &userId, qint64 nowMs) const {
    // On every booking of a sale that asks for work: parsed in place, hashed with reused
    // hashers and precomputed HMAC pads, so a check costs a few SHA-256 blocks and no allocation
    // beyond the fields returned.
    if (challenge.size() > 512 || solution.isEmpty() || solution.size() > 32)
        return std::unexpected(Error::Malformed);
    for (char c : solution)
        if (c < '0' || c > '9')
            return std::unexpected(Error::Malformed);
    qsizetype dots[6];
    int found = 0;
    for (qsizetype i = 0; i < challenge.size() && found < 7; ++i) {
        if (challenge[i] == '.') {
            if (found == 6)
                return std::unexpected(Error::Malformed);
            dots[found++] = i;
        }
    }
    if (found != 6)
        return std::unexpected(Error::Malformed);
    auto field = [&](int n) { // the n-th dot-separated field, 0-based
        const qsizetype from = n == 0 ? 0 : dots[n - 1] + 1;
        const qsizetype to = n == 6 ? challenge.size() : dots[n];
        return QByteArrayView(challenge).sliced(from, to - from);
    };
    if (field(0) != "v1" || field(3).size() != 32)
        return std::unexpected(Error::Malformed);
    const QByteArrayView body = QByteArrayView(challenge).first(dots[5]);
    const auto mac = QByteArray::fromBase64Encoding(field(6).toByteArray(),
                                                    kB64 | QByteArray::AbortOnBase64DecodingErrors);
    if (!mac || !constantTimeEquals(*mac, hmac(body).toByteArray()))
        return std::unexpected(Error::BadSignature);
    bool ok = false;
    if (field(1).toLongLong(&ok) != saleId || !ok)
        return std::unexpected(Error::WrongSale);
    if (field(2) != userId.toBase64(kB64))
        return std::unexpected(Error::WrongUser);
    const qint64 expires = field(5).toLongLong();
    if (expires <= nowMs)
        return std::unexpected(Error::Expired);
    const int difficulty = field(4).toInt();
    if (work(challenge, solution) < difficulty)
        return std::unexpected(Error::WrongSolution);
    return Checked{field(3).toByteArray(), difficulty, expires};
}

bool constantTimeEquals(QByteArrayView a, QByteArrayView b) {
    if (a.size() != b.size())
        return false;
    unsigned char diff = 0;
    for (qsizetype i = 0; i < a.size(); ++i)
        diff |= static_cast<unsigned char>(a[i] ^ b[i]);
    return diff == 0;
}

int PowChallenges::work(const QByteArray &challenge, const QByteArray &solution) {
    thread_local QCryptographicHash h(QCryptographicHash::Sha256);
    h.reset();
    h.addData(challenge);
    h.addData(":");
    h.addData(solution);
    return leadingZeroBits(h.resultView());
}

QByteArray PowChallenges::solve(const QByteArray &challenge, int difficulty) {
    for (quint64 s = 0;; ++s) {
        const QByteArray candidate = QByteArray::number(s);
        if (work(challenge, candidate) >= difficulty)
            return candidate;
    }
}

} // namespace flashsale
