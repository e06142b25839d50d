#pragma once

#include "core/result.h"
#include "notify/notificationservice.h"

#include <QByteArray>
#include <QString>

namespace flashsale {

// The order event a notification is made from: the payload of order.paid and order.cancelled
// (sql/002_orders.sql, order_event()).
struct OrderEvent {
    QByteArray eventId;
    qint64 orderId = 0;
    QByteArray userId;
    qint64 saleId = 0;
    qint64 itemId = 0;
    int quantity = 0;
    qint64 amountCents = 0;
    QString reason; // order.cancelled: expired, declined, admin (sql/002_orders.sql)

    // Parses a payload. Fails (ErrorCode::Invalid) without an event_id or a positive order_id:
    // such a message is skipped, there is nobody to write to.
    [[nodiscard]] static Result<OrderEvent> parse(const QByteArray &json);
};

// What the buyer sees of the sale and item, when the catalogue still has them; empty names fall
// back to the ids.
struct CatalogueNames {
    QString sale;
    QString item;
};

// The notification of an order event: its subject and its plain-text body, as a buyer reads it
// (the order, the item, the quantity and the amount; for a cancellation the reason in words and
// whether money moved). topic is order.paid or order.cancelled. Pure; the same input gives the
// same text, so a retry sends the same message.
Notification notificationFor(const QByteArray &topic, const OrderEvent &event,
                             const CatalogueNames &names);

// The reason of a cancellation as the buyer's sentence ("Your payment was declined...").
// An unknown reason is named as it is.
QString cancelReasonSentence(const QString &reason);
// The reason in a few words for the subject ("payment declined").
QString cancelReasonShort(const QString &reason);
// 3998 -> "39.98".
QString formatAmount(qint64 cents);

} // namespace flashsale
