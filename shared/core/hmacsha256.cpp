#include "hmacsha256.h"

#include <cstring>

namespace flashsale {

namespace {

constexpr std::uint32_t kRound[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

constexpr std::uint32_t rotr(std::uint32_t x, int n) {
    return (x >> n) | (x << (32 - n));
}

} // namespace

void Sha256::compress(const unsigned char *block) {
    std::uint32_t w[64];
    for (int i = 0; i < 16; ++i)
        w[i] = std::uint32_t(block[4 * i]) << 24 | std::uint32_t(block[4 * i + 1]) << 16
               | std::uint32_t(block[4 * i + 2]) << 8 | std::uint32_t(block[4 * i + 3]);
    for (int i = 16; i < 64; ++i) {
        const std::uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
        const std::uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    std::uint32_t a = m_state[0], b = m_state[1], c = m_state[2], d = m_state[3];
    std::uint32_t e = m_state[4], f = m_state[5], g = m_state[6], h = m_state[7];
    for (int i = 0; i < 64; ++i) {
        const std::uint32_t t1 =
            h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + kRound[i] + w[i];
        const std::uint32_t t2 =
            (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    m_state[0] += a;
    m_state[1] += b;
    m_state[2] += c;
    m_state[3] += d;
    m_state[4] += e;
    m_state[5] += f;
    m_state[6] += g;
    m_state[7] += h;
}

void Sha256::addData(QByteArrayView data) {
    const auto *p = reinterpret_cast<const unsigned char *>(data.data());
    qsizetype n = data.size();
    m_length += std::uint64_t(n);
    if (m_buffered > 0) {
        const qsizetype take = std::min<qsizetype>(n, 64 - m_buffered);
        std::memcpy(m_buffer + m_buffered, p, size_t(take));
        m_buffered += take;
        p += take;
        n -= take;
        if (m_buffered < 64)
            return;
        compress(m_buffer);
        m_buffered = 0;
    }
    for (; n >= 64; p += 64, n -= 64)
        compress(p);
    std::memcpy(m_buffer, p, size_t(n));
    m_buffered = n;
}

Sha256::Digest Sha256::result() const {
    Sha256 end = *this;
    const std::uint64_t bits = m_length * 8;
    unsigned char tail[72] = {0x80};
    // 0x80, zeros up to 56 mod 64, then the length in bits, big-endian.
    const qsizetype pad = (m_buffered < 56 ? 56 : 120) - m_buffered;
    for (int i = 0; i < 8; ++i)
        tail[pad + i] = static_cast<unsigned char>(bits >> (56 - 8 * i));
    end.addData(QByteArrayView(reinterpret_cast<const char *>(tail), pad + 8));
    Digest out;
    for (int i = 0; i < 8; ++i)
        for (int j = 0; j < 4; ++j)
            out[size_t(4 * i + j)] = static_cast<unsigned char>(end.m_state[i] >> (24 - 8 * j));
    return out;
}

Sha256::Digest Sha256::hash(QByteArrayView data) {
    Sha256 h;
    h.addData(data);
    return h.result();
}

QByteArray Sha256::hashHex(QByteArrayView data) {
    const Digest d = hash(data);
    return QByteArray(reinterpret_cast<const char *>(d.data()), kSize).toHex();
}

HmacSha256::HmacSha256(QByteArrayView key) {
    constexpr qsizetype kBlock = 64;
    unsigned char k[kBlock] = {};
    if (key.size() > kBlock) {
        const Sha256::Digest d = Sha256::hash(key);
        std::memcpy(k, d.data(), d.size());
    } else {
        std::memcpy(k, key.data(), size_t(key.size()));
    }
    char inner[kBlock], outer[kBlock];
    for (qsizetype i = 0; i < kBlock; ++i) {
        inner[i] = char(k[i] ^ 0x36);
        outer[i] = char(k[i] ^ 0x5c);
    }
    m_inner.addData(QByteArrayView(inner, kBlock));
    m_outer.addData(QByteArrayView(outer, kBlock));
}

Sha256::Digest HmacSha256::digest(QByteArrayView message) const {
    Sha256 inner = m_inner;
    inner.addData(message);
    const Sha256::Digest in = inner.result();
    Sha256 outer = m_outer;
    outer.addData(QByteArrayView(reinterpret_cast<const char *>(in.data()), Sha256::kSize));
    return outer.result();
}

QByteArrayView HmacSha256::mac(QByteArrayView message) const {
    thread_local Sha256::Digest out;
    out = digest(message);
    return QByteArrayView(reinterpret_cast<const char *>(out.data()), kSize);
}

QByteArray HmacSha256::hash(QByteArrayView key, QByteArrayView message) {
    return HmacSha256(key).macBytes(message);
}

} // namespace flashsale
