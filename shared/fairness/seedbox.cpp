#include "seedbox.h"

#include "core/sodium.h"

#include <sodium.h>

namespace flashsale::fairness {

namespace {

static_assert(SeedBox::kKeyBytes == crypto_box_PUBLICKEYBYTES);
static_assert(SeedBox::kKeyBytes == crypto_box_SECRETKEYBYTES);
static_assert(SeedBox::kKeyBytes == crypto_box_SEEDBYTES);
static_assert(SeedBox::kOverheadBytes == crypto_box_SEALBYTES);

unsigned char *bytes(QByteArray &a) {
    return reinterpret_cast<unsigned char *>(a.data());
}

const unsigned char *bytes(QByteArrayView v) {
    return reinterpret_cast<const unsigned char *>(v.data());
}

// 32 bytes from exactly 64 hex digits (libsodium's decoder: constant time, strict).
std::optional<QByteArray> keyFromHex(QByteArrayView hex) {
    if (hex.size() != 2 * SeedBox::kKeyBytes)
        return std::nullopt;
    QByteArray key(SeedBox::kKeyBytes, Qt::Uninitialized);
    size_t written = 0;
    if (sodium_hex2bin(bytes(key), size_t(key.size()), hex.data(), size_t(hex.size()), nullptr,
                       &written, nullptr)
            != 0
        || written != size_t(SeedBox::kKeyBytes)) {
        sodium_memzero(key.data(), size_t(key.size()));
        return std::nullopt;
    }
    return key;
}

} // namespace

std::optional<SeedBox> SeedBox::fromSecretHex(QByteArrayView hex) {
    requireSodium("the waiting room's seed box");
    auto seed = keyFromHex(hex);
    if (!seed)
        return std::nullopt;
    SeedBox box;
    box.m_public = QByteArray(kKeyBytes, Qt::Uninitialized);
    box.m_secret = QByteArray(kKeyBytes, Qt::Uninitialized);
    crypto_box_seed_keypair(bytes(box.m_public), bytes(box.m_secret), bytes(*seed));
    sodium_memzero(seed->data(), size_t(seed->size()));
    return box;
}

SeedBox::~SeedBox() {
    // Only when this object owns the only copy: QByteArray shares its data between copies.
    if (!m_secret.isEmpty() && !m_secret.isDetached())
        return;
    if (!m_secret.isEmpty())
        sodium_memzero(m_secret.data(), size_t(m_secret.size()));
}

std::optional<QByteArray> SeedBox::open(QByteArrayView box) const {
    if (box.size() <= kOverheadBytes)
        return std::nullopt;
    QByteArray seed(box.size() - kOverheadBytes, Qt::Uninitialized);
    if (crypto_box_seal_open(bytes(seed), bytes(box), quint64(box.size()), bytes(m_public),
                             bytes(m_secret))
        != 0)
        return std::nullopt;
    return seed;
}

std::optional<QByteArray> SeedBox::publicKeyFromHex(QByteArrayView hex) {
    return keyFromHex(hex);
}

QByteArray SeedBox::sealingKey(QByteArrayView secretHex, QByteArrayView publicHex, QString *error) {
    std::optional<QByteArray> fromSecret;
    if (!secretHex.isEmpty()) {
        const auto box = fromSecretHex(secretHex);
        if (!box) {
            *error = QStringLiteral("--waiting-room-seed-key must be 64 hex digits");
            return {};
        }
        fromSecret = box->publicKey();
    }
    if (publicHex.isEmpty())
        return fromSecret.value_or(QByteArray());
    const auto key = publicKeyFromHex(publicHex);
    if (!key) {
        *error = QStringLiteral("--waiting-room-seed-public-key must be 64 hex digits");
        return {};
    }
    if (fromSecret && *fromSecret != *key) {
        *error = QStringLiteral("--waiting-room-seed-public-key is not the public key of "
                                "--waiting-room-seed-key");
        return {};
    }
    return *key;
}

QByteArray SeedBox::seal(QByteArrayView seed, const QByteArray &publicKey) {
    requireSodium("the waiting room's seed box");
    Q_ASSERT(publicKey.size() == kKeyBytes);
    QByteArray box(seed.size() + kOverheadBytes, Qt::Uninitialized);
    crypto_box_seal(bytes(box), bytes(seed), quint64(seed.size()), bytes(publicKey));
    return box;
}

} // namespace flashsale::fairness
