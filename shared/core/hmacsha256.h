#pragma once

#include <QByteArray>
#include <QByteArrayView>

#include <sodium.h>

#include <array>

namespace flashsale {

// SHA-256 and HMAC-SHA256 from libsodium (crypto_hash_sha256, crypto_auth_hmacsha256), over Qt's
// byte views. Nothing here computes a hash itself: the classes hold libsodium's states, which are
// plain structs, so copying one copies the hash so far. That is what lets HMAC-SHA256 start every
// MAC from its key's precomputed state (QCryptographicHash can neither be copied nor stops
// allocating): the waiting room's seal hashes a million ids, the API a proof of work per booking.
// libsodium is started (sodium_init) on first use; the process stops if it cannot start.
// Checked against RFC 4231 and Python's hashlib/hmac in tests/unit/tst_cohortshuffle.

// SHA-256 fed in pieces.
class Sha256 {
public:
    static constexpr qsizetype kSize = crypto_hash_sha256_BYTES;
    using Digest = std::array<unsigned char, kSize>;

    Sha256();

    void addData(QByteArrayView data);
    // The digest of everything added; the object is left as it was (a copy of it ends).
    Digest result() const;

    static Digest hash(QByteArrayView data);
    static QByteArray hashHex(QByteArrayView data);

private:
    crypto_hash_sha256_state m_state;
};

// HMAC-SHA256 (RFC 2104) under one key, keyed once: libsodium's state after the key's inner and
// outer pads is kept and copied per message, so a MAC of a short message (an entry id, a
// challenge) costs two SHA-256 compressions and allocates nothing. Used where MACs are many:
// proof-of-work challenges on every booking (admission/), the cohort shuffle's million keyed
// hashes (fairness/). Immutable after construction: mac() may run on many threads at once. The
// keyed state is wiped when the object goes.
class HmacSha256 {
public:
    static constexpr qsizetype kSize = crypto_auth_hmacsha256_BYTES;

    // Any key length; one longer than SHA-256's block (64 bytes) is hashed first (RFC 2104).
    explicit HmacSha256(QByteArrayView key);
    HmacSha256(const HmacSha256 &) = default;
    HmacSha256 &operator=(const HmacSha256 &) = default;
    ~HmacSha256();

    Sha256::Digest digest(QByteArrayView message) const;
    // The 32-byte MAC of `message`; the view is valid until the next call on this thread.
    QByteArrayView mac(QByteArrayView message) const;
    // The same, as an owning copy.
    QByteArray macBytes(QByteArrayView message) const { return mac(message).toByteArray(); }

    // One MAC without keeping the keyed state.
    static QByteArray hash(QByteArrayView key, QByteArrayView message);

private:
    crypto_auth_hmacsha256_state m_keyed; // after the key's inner and outer pads
};

} // namespace flashsale
