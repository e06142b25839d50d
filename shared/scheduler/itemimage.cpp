#include "itemimage.h"

namespace flashsale {

QString generatedItemName(qint64 scheduleId, qint64 startsAtMs, int index) {
    return QStringLiteral("Item %1").arg(index + 1);
}

QByteArray itemImageSvg(qint64 itemId, const QString &name, qint64 priceCents) {
    return QByteArray();
}

} // namespace flashsale
