#include "reservationid.h"

#include "core/sodium.h"

#include <QtGlobal>

#include <sodium.h>

namespace flashsale {

QByteArray newReservationId(qint64 saleId) {
    requireSodium("random reservation ids");
    unsigned char bytes[16];
    randombytes_buf(bytes, sizeof bytes);
    return QByteArray::number(saleId) + '-'
           + QByteArray(reinterpret_cast<const char *>(bytes), sizeof bytes).toHex();
}

qint64 reservationSale(const QByteArray &rid) {
    const qsizetype dash = rid.indexOf('-');
    if (dash <= 0 || rid.size() - dash - 1 != 32)
        return 0;
    for (qsizetype i = dash + 1; i < rid.size(); ++i) {
        const char c = rid[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return 0;
    }
    if (dash > 18 || rid[0] < '1' || rid[0] > '9')
        return 0;
    for (qsizetype i = 1; i < dash; ++i)
        if (rid[i] < '0' || rid[i] > '9')
            return 0;
    return rid.left(dash).toLongLong();
}

} // namespace flashsale
