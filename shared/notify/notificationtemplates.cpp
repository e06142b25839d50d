#include "notificationtemplates.h"

#include "kafka/kafkaclient.h"

#include <QJsonDocument>
#include <QJsonObject>

namespace flashsale {

Result<OrderEvent> OrderEvent::parse(const QByteArray &json) {
    const QJsonObject e = QJsonDocument::fromJson(json).object();
    OrderEvent ev;
    ev.eventId = e.value(QStringLiteral("event_id")).toString().toUtf8();
    ev.orderId = e.value(QStringLiteral("order_id")).toInteger();
    ev.userId = e.value(QStringLiteral("user_id")).toString().toUtf8();
    ev.saleId = e.value(QStringLiteral("sale_id")).toInteger();
    ev.itemId = e.value(QStringLiteral("item_id")).toInteger();
    ev.quantity = e.value(QStringLiteral("quantity")).toInt();
    ev.amountCents = e.value(QStringLiteral("amount_cents")).toInteger();
    ev.reason = e.value(QStringLiteral("reason")).toString();
    if (ev.eventId.isEmpty() || ev.orderId <= 0)
        return fail(ErrorCode::Invalid,
                    QStringLiteral("an order event needs event_id and order_id"));
    return ev;
}

QString formatAmount(qint64 cents) {
    const QString sign = cents < 0 ? QStringLiteral("-") : QString();
    const qint64 abs = cents < 0 ? -cents : cents;
    return sign + QString::number(abs / 100) + QLatin1Char('.')
           + QStringLiteral("%1").arg(abs % 100, 2, 10, QLatin1Char('0'));
}

QString cancelReasonShort(const QString &reason) {
    if (reason == QLatin1String("declined"))
        return QStringLiteral("payment declined");
    if (reason == QLatin1String("expired"))
        return QStringLiteral("not paid in time");
    if (reason == QLatin1String("admin"))
        return QStringLiteral("cancelled by the shop");
    // issue 20: a Redis data loss took the hold; a booking the shop could not record
    if (reason == QLatin1String("hold-lost") || reason == QLatin1String("dead-letter"))
        return QStringLiteral("could not be completed");
    return reason.isEmpty() ? QStringLiteral("cancelled") : reason;
}

QString cancelReasonSentence(const QString &reason) {
    if (reason == QLatin1String("declined"))
        return QStringLiteral("Your payment was declined, so we cancelled the order and released "
                              "the items for other buyers. You have not been charged.");
    if (reason == QLatin1String("expired"))
        return QStringLiteral("The order was not paid within the time the items were held for "
                              "you, so it was cancelled and the items released for other "
                              "buyers. You have not been charged; if a payment went through at "
                              "the last moment, it is refunded in full.");
    if (reason == QLatin1String("admin"))
        return QStringLiteral("Our staff cancelled the order. If you were charged for it, the "
                              "full amount is refunded.");
    if (reason == QLatin1String("hold-lost") || reason == QLatin1String("dead-letter")) // issue 20
        return QStringLiteral("We are sorry: a fault on our side lost the hold on your items, so "
                              "we could not complete the order and have cancelled it. You have "
                              "not been charged.");
    return QStringLiteral("The order was cancelled (%1). If you were charged for it, the full "
                          "amount is refunded.")
        .arg(reason.isEmpty() ? QStringLiteral("no reason given") : reason);
}

namespace {

// A paragraph broken into lines of at most width characters at spaces (a longer word stays
// whole), as plain-text email is read best (RFC 5322 recommends at most 78).
QString wrap(const QString &paragraph, int width = 72) {
    QString out, line;
    for (const QString &word : paragraph.split(QLatin1Char(' '), Qt::SkipEmptyParts)) {
        if (!line.isEmpty() && line.size() + 1 + word.size() > width) {
            out += line + QLatin1Char('\n');
            line.clear();
        }
        line += (line.isEmpty() ? QString() : QStringLiteral(" ")) + word;
    }
    return out + line;
}

QString itemLine(const OrderEvent &e, const CatalogueNames &names) {
    const QString item =
        names.item.isEmpty() ? QStringLiteral("item %1").arg(e.itemId) : names.item;
    const QString sale =
        names.sale.isEmpty() ? QStringLiteral("sale %1").arg(e.saleId) : names.sale;
    // A one-item sale is usually named after its item: say it once.
    if (item == sale)
        return item;
    return QStringLiteral("%1 (%2)").arg(item, sale);
}

} // namespace

Notification notificationFor(const QByteArray &topic, const OrderEvent &e,
                             const CatalogueNames &names) {
    Notification n;
    n.eventId = e.eventId;
    n.orderId = e.orderId;
    n.userId = e.userId;
    n.kind = topic;
    const QString details =
        QStringLiteral("  Order number:  %1\n"
                       "  Item:          %2\n"
                       "  Quantity:      %3\n")
            .arg(QString::number(e.orderId), itemLine(e, names), QString::number(e.quantity));
    if (topic == topics::kOrderPaid) {
        n.subject = QStringLiteral("Your order %1 is paid").arg(e.orderId);
        n.body = QStringLiteral("Hello,\n\n"
                                "%3\n\n"
                                "%1"
                                "  Amount paid:   %2\n\n"
                                "Please keep this email as your receipt.\n\n"
                                "-- \n"
                                "Flash sale\n")
                     .arg(details, formatAmount(e.amountCents),
                          wrap(QStringLiteral("Thank you for your order: we have received "
                                              "your payment and the items are yours.")));
    } else {
        n.subject = QStringLiteral("Your order %1 was cancelled: %2")
                        .arg(e.orderId)
                        .arg(cancelReasonShort(e.reason));
        n.body =
            QStringLiteral("Hello,\n\n"
                           "Your order %1 was cancelled.\n\n"
                           "%2\n\n"
                           "%3"
                           "  Order total:   %4\n\n"
                           "-- \n"
                           "Flash sale\n")
                .arg(e.orderId)
                .arg(wrap(cancelReasonSentence(e.reason)), details, formatAmount(e.amountCents));
    }
    return n;
}

} // namespace flashsale
