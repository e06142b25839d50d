#pragma once

#include <QByteArray>
#include <QString>

#include <optional>

namespace flashsale::fairness {

// The waiting room's secret seed at rest (docs/WAITING_ROOM.md, "The seed"): sealed with
// libsodium's crypto_box_seal (X25519, XSalsa20-Poly1305) to the scheduler's public key the
// moment the sale is created, so that PostgreSQL, its backups and replicas, and every process
// that holds only the public key (the API) cannot read it before the seal. Only a holder of the
// secret key (--waiting-room-seed-key; the scheduler, whose leader seals) can open it.
//
// The key pair is derived from a 32-byte secret (crypto_box_seed_keypair), so the whole key is
// one value to store, rotate and hand to the scheduler. Rotating it leaves the boxes of sales
// created before unopenable by the new key: rotate between sales, or keep the old key until
// their seals are done.
class SeedBox {
public:
    static constexpr const char *kKind = "x25519"; // sale_fairness.seed_box_kind
    static constexpr int kKeyBytes = 32;
    static constexpr int kOverheadBytes = 48; // crypto_box_SEALBYTES

    // From the secret's 64 hex digits; nullopt when it is not 32 bytes of hex.
    static std::optional<SeedBox> fromSecretHex(QByteArrayView hex);
    SeedBox(const SeedBox &other) = default;
    SeedBox &operator=(const SeedBox &other) = default;
    ~SeedBox();

    QByteArray publicKey() const { return m_public; } // 32 bytes
    // The seed in `box`, or nullopt when the box was not sealed to this key or was altered.
    std::optional<QByteArray> open(QByteArrayView box) const;

    // A 32-byte public key from 64 hex digits; nullopt otherwise.
    static std::optional<QByteArray> publicKeyFromHex(QByteArrayView hex);
    // `seed` sealed to `publicKey` (32 bytes): seed.size() + kOverheadBytes bytes, different at
    // every call (an ephemeral key pair each time).
    static QByteArray seal(QByteArrayView seed, const QByteArray &publicKey);

    // The public key a process seals new seeds to, from its settings (--waiting-room-seed-key,
    // --waiting-room-seed-public-key, hex): the public key, or the one the secret gives. An
    // empty array when neither is set (seeds are then stored plain). Sets `error` and returns
    // an empty array when a value is malformed or the two do not belong together.
    static QByteArray sealingKey(QByteArrayView secretHex, QByteArrayView publicHex,
                                 QString *error);

private:
    SeedBox() = default;
    QByteArray m_public;
    QByteArray m_secret;
};

} // namespace flashsale::fairness
