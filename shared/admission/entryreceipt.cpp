#include "entryreceipt.h"

#include "core/sodium.h"

#include <QList>
#include <QtGlobal>

#include <sodium.h>

namespace flashsale {

namespace {

constexpr QByteArrayView kScheme = "fs-receipt-v1";
constexpr QByteArrayView kKeyLabel = "flashsale-receipt-v1";
constexpr auto kB64 = QByteArray::Base64UrlEncoding | QByteArray::OmitTrailingEquals;

const unsigned char *bytes(QByteArrayView v) {
    return reinterpret_cast<const unsigned char *>(v.data());
}

// A decimal without sign or leading zeros (0 itself allowed), at most 18 digits.
std::optional<qint64> number(QByteArrayView v) {
    if (v.isEmpty() || v.size() > 18 || (v.size() > 1 && v[0] == '0'))
        return std::nullopt;
    for (const char c : v)
        if (c < '0' || c > '9')
            return std::nullopt;
    return v.toLongLong();
}

std::optional<QByteArray> fromBase64Url(QByteArrayView text) {
    for (const char c : text)
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'
              || c == '_'))
            return std::nullopt;
    auto decoded = QByteArray::fromBase64Encoding(text.toByteArray(),
                                                  kB64 | QByteArray::AbortOnBase64DecodingErrors);
    if (!decoded)
        return std::nullopt;
    return *decoded;
}

} // namespace

EntryReceipts::EntryReceipts(const QByteArray &secret) {
    requireSodium("waiting-room receipts (Ed25519)");
    m_publicKey.resize(crypto_sign_PUBLICKEYBYTES);
    m_secretKey.resize(crypto_sign_SECRETKEYBYTES);
    auto *pk = reinterpret_cast<unsigned char *>(m_publicKey.data());
    auto *sk = reinterpret_cast<unsigned char *>(m_secretKey.data());
    if (secret.isEmpty()) {
        crypto_sign_keypair(pk, sk);
        return;
    }
    unsigned char seed[crypto_auth_hmacsha256_BYTES];
    static_assert(sizeof seed == crypto_sign_SEEDBYTES);
    crypto_auth_hmacsha256_state state;
    crypto_auth_hmacsha256_init(&state, bytes(secret), size_t(secret.size()));
    crypto_auth_hmacsha256_update(&state, bytes(kKeyLabel), size_t(kKeyLabel.size()));
    crypto_auth_hmacsha256_final(&state, seed);
    crypto_sign_seed_keypair(pk, sk, seed);
    sodium_memzero(&state, sizeof state);
    sodium_memzero(seed, sizeof seed);
}

QByteArray EntryReceipts::message(const EntryReceiptFields &f) {
    return kScheme.toByteArray() + '|' + QByteArray::number(f.saleId) + '|' + f.entryId + '|'
           + QByteArray::number(f.joinedMs) + '|' + (f.cohort ? 'c' : 'f') + '|'
           + QByteArray::number(f.position) + '|' + f.commitment;
}

QByteArray EntryReceipts::sign(const EntryReceiptFields &fields) const {
    const QByteArray msg = message(fields);
    QByteArray sig(crypto_sign_BYTES, Qt::Uninitialized);
    crypto_sign_detached(reinterpret_cast<unsigned char *>(sig.data()), nullptr, bytes(msg),
                         size_t(msg.size()), bytes(m_secretKey));
    return msg.toBase64(kB64) + '.' + sig.toBase64(kB64);
}

std::optional<EntryReceiptFields> EntryReceipts::verify(QByteArrayView receipt,
                                                        QByteArrayView publicKey) {
    requireSodium("waiting-room receipts (Ed25519)");
    if (publicKey.size() != crypto_sign_PUBLICKEYBYTES || receipt.size() > 1024)
        return std::nullopt;
    const qsizetype dot = receipt.indexOf('.');
    if (dot <= 0)
        return std::nullopt;
    const auto msg = fromBase64Url(receipt.first(dot));
    const auto sig = fromBase64Url(receipt.sliced(dot + 1));
    if (!msg || !sig || sig->size() != crypto_sign_BYTES)
        return std::nullopt;
    if (crypto_sign_verify_detached(bytes(*sig), bytes(*msg), size_t(msg->size()), bytes(publicKey))
        != 0)
        return std::nullopt;
    const QList<QByteArray> parts = msg->split('|');
    if (parts.size() != 7 || parts[0] != kScheme || (parts[4] != "c" && parts[4] != "f"))
        return std::nullopt;
    const auto sale = number(parts[1]);
    const auto joined = number(parts[3]);
    const auto position = number(parts[5]);
    if (!sale || !joined || !position)
        return std::nullopt;
    return EntryReceiptFields{*sale, parts[2], *joined, parts[4] == "c", *position, parts[6]};
}

} // namespace flashsale
