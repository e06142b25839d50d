#include "hmacsha256.h"
#include "sodium.h"

#include <QtGlobal>

namespace flashsale {

namespace {

void startSodium() {
    requireSodium("SHA-256, HMAC-SHA256");
}

const unsigned char *bytes(QByteArrayView v) {
    return reinterpret_cast<const unsigned char *>(v.data());
}

} // namespace

Sha256::Sha256() {
    startSodium();
    crypto_hash_sha256_init(&m_state);
}

void Sha256::addData(QByteArrayView data) {
    crypto_hash_sha256_update(&m_state, bytes(data), size_t(data.size()));
}

Sha256::Digest Sha256::result() const {
    crypto_hash_sha256_state end = m_state; // _final changes the state it ends
    Digest out;
    crypto_hash_sha256_final(&end, out.data());
    return out;
}

Sha256::Digest Sha256::hash(QByteArrayView data) {
    startSodium();
    Digest out;
    crypto_hash_sha256(out.data(), bytes(data), size_t(data.size()));
    return out;
}

QByteArray Sha256::hashHex(QByteArrayView data) {
    const Digest d = hash(data);
    return QByteArray(reinterpret_cast<const char *>(d.data()), kSize).toHex();
}

HmacSha256::HmacSha256(QByteArrayView key) {
    startSodium();
    crypto_auth_hmacsha256_init(&m_keyed, bytes(key), size_t(key.size()));
}

HmacSha256::~HmacSha256() {
    sodium_memzero(&m_keyed, sizeof m_keyed);
}

Sha256::Digest HmacSha256::digest(QByteArrayView message) const {
    crypto_auth_hmacsha256_state state = m_keyed; // a plain struct: the keyed pads, copied
    crypto_auth_hmacsha256_update(&state, bytes(message), size_t(message.size()));
    Sha256::Digest out;
    crypto_auth_hmacsha256_final(&state, out.data());
    return out;
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
