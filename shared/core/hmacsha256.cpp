#include "hmacsha256.h"

#include <QCryptographicHash>

namespace flashsale {

HmacSha256::HmacSha256(QByteArrayView key) {
    constexpr qsizetype kBlock = 64;
    const QByteArray k = key.size() > kBlock
                             ? QCryptographicHash::hash(key, QCryptographicHash::Sha256)
                             : key.toByteArray();
    m_innerPad = QByteArray(kBlock, 0x36);
    m_outerPad = QByteArray(kBlock, 0x5c);
    for (qsizetype i = 0; i < k.size(); ++i) {
        m_innerPad[i] = char(m_innerPad[i] ^ k[i]);
        m_outerPad[i] = char(m_outerPad[i] ^ k[i]);
    }
}

QByteArrayView HmacSha256::mac(QByteArrayView message) const {
    // Reused hashers: a MAC allocates nothing.
    thread_local QCryptographicHash inner(QCryptographicHash::Sha256);
    thread_local QCryptographicHash outer(QCryptographicHash::Sha256);
    inner.reset();
    inner.addData(m_innerPad);
    inner.addData(message);
    outer.reset();
    outer.addData(m_outerPad);
    outer.addData(inner.resultView());
    return outer.resultView();
}

QByteArray HmacSha256::hash(QByteArrayView key, QByteArrayView message) {
    return HmacSha256(key).macBytes(message);
}

} // namespace flashsale
