#pragma once

#include <QByteArray>
#include <QByteArrayView>

namespace flashsale {

// HMAC-SHA256 (RFC 2104) under one key, with the key's inner and outer pads computed once, so a
// MAC costs the SHA-256 blocks of the message and nothing else (no allocation, no key hashing).
// Used where MACs are many: proof-of-work challenges on every booking (admission/), the cohort
// shuffle's million keyed hashes (fairness/). Qt only, so the console and flashsale-ctl can link
// it. An instance is immutable after construction; mac() may be called from any thread at once.
class HmacSha256 {
public:
    static constexpr qsizetype kSize = 32;

    // A key longer than SHA-256's block (64 bytes) is hashed first, as RFC 2104 says.
    explicit HmacSha256(QByteArrayView key);

    // The 32-byte MAC of `message`; the view is valid until the next call on this thread.
    QByteArrayView mac(QByteArrayView message) const;
    // The same, as an owning copy.
    QByteArray macBytes(QByteArrayView message) const { return mac(message).toByteArray(); }

    // One MAC without keeping the pads.
    static QByteArray hash(QByteArrayView key, QByteArrayView message);

private:
    QByteArray m_innerPad, m_outerPad;
};

} // namespace flashsale
