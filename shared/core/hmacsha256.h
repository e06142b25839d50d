#pragma once

#include <QByteArray>
#include <QByteArrayView>

#include <array>
#include <cstdint>

namespace flashsale {

// SHA-256 (FIPS 180-4) as a small value type: copying one copies the state of the hash so far
// (112 bytes), which is what lets HMAC-SHA256 below start every MAC from its key's precomputed
// pads instead of hashing them again. QCryptographicHash can neither be copied nor stops
// allocating; the waiting room's seal hashes a million ids, the API a proof of work per
// booking. Checked against QCryptographicHash and RFC 4231 in tests/unit/tst_cohortshuffle.
class Sha256 {
public:
    static constexpr qsizetype kSize = 32;
    using Digest = std::array<unsigned char, kSize>;

    void addData(QByteArrayView data);
    // The digest of everything added; the object is left as it was (it is a copy that ends).
    Digest result() const;

    static Digest hash(QByteArrayView data);
    static QByteArray hashHex(QByteArrayView data);

private:
    void compress(const unsigned char *block);

    std::uint32_t m_state[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    std::uint64_t m_length = 0; // bytes added
    unsigned char m_buffer[64];
    qsizetype m_buffered = 0;
};

// HMAC-SHA256 (RFC 2104) under one key, with the hash state after each of the key's two pads
// computed once: a MAC of a short message (an entry id, a challenge) costs two SHA-256 blocks
// and allocates nothing. Used where MACs are many: proof-of-work challenges on every booking
// (admission/), the cohort shuffle's million keyed hashes (fairness/). Qt only, so the console
// and flashsale-ctl can link it. Immutable after construction: mac() may run on many threads
// at once.
class HmacSha256 {
public:
    static constexpr qsizetype kSize = Sha256::kSize;

    // A key longer than SHA-256's block (64 bytes) is hashed first, as RFC 2104 says.
    explicit HmacSha256(QByteArrayView key);

    Sha256::Digest digest(QByteArrayView message) const;
    // The 32-byte MAC of `message`; the view is valid until the next call on this thread.
    QByteArrayView mac(QByteArrayView message) const;
    // The same, as an owning copy.
    QByteArray macBytes(QByteArrayView message) const { return mac(message).toByteArray(); }

    // One MAC without keeping the pads.
    static QByteArray hash(QByteArrayView key, QByteArrayView message);

private:
    Sha256 m_inner, m_outer; // after the inner and the outer pad
};

} // namespace flashsale
