#pragma once

#include <QByteArray>
#include <QString>

namespace flashsale {

// Generated catalogue content for scheduled sales, so that a recurring sale needs nothing from
// outside: a product name per item and an SVG picture drawn from the item id.
QString generatedItemName(qint64 scheduleId, qint64 startsAtMs, int index);
// A small, deterministic SVG (the same id and name always give the same picture).
QByteArray itemImageSvg(qint64 itemId, const QString &name, qint64 priceCents);

} // namespace flashsale
