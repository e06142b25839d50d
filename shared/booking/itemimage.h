#pragma once

#include <QByteArray>
#include <QString>

namespace flashsale {

// Generated catalogue content for scheduled sales, so that a recurring sale needs nothing from
// outside: a product name per item and an SVG picture drawn from the item id. Pure functions,
// callable from any thread.

// A readable product name, "Amber Kettle #42": an adjective and a product noun picked from the
// occurrence (schedule id and start) and the index, then the 1-based index. Deterministic, and
// unique within one sale because of the number. Never longer than 40 characters.
QString generatedItemName(qint64 scheduleId, qint64 startsAtMs, int index);

// A small, deterministic SVG document (UTF-8, 240 x 240, with xmlns): the same id, name and
// price always give the same bytes. Colour and shape come from the id; the name (shortened to
// fit) and the price ("$19.99") are drawn as XML-escaped text. Control characters in the name
// are dropped, so the document is well-formed whatever the name holds. Served as
// image/svg+xml at GET /api/v1/items/{id}/image.svg.
QByteArray itemImageSvg(qint64 itemId, const QString &name, qint64 priceCents);

} // namespace flashsale
