#include "streamentry.h"

#include "booking/reservationid.h"
#include "booking/salekeys.h"
#include "redis/redisvalue.h"

namespace flashsale {

namespace {

constexpr qint64 kMaxQuantity = 1000000;

std::optional<qint64> positive(const QByteArray &text, bool allowZero = false) {
    bool ok = false;
    const qint64 v = text.toLongLong(&ok);
    if (!ok || v < 0 || (!allowZero && v == 0))
        return std::nullopt;
    return v;
}

StreamEntry::Parsed poison(const QByteArray &rid, const QByteArray &reason) {
    StreamEntry::Parsed p;
    p.reservationId = rid;
    p.reason = reason;
    return p;
}

} // namespace

StreamId StreamId::parse(const QByteArray &text) {
    const qsizetype dash = text.indexOf('-');
    StreamId id;
    id.ms = text.left(dash < 0 ? text.size() : dash).toULongLong();
    id.seq = dash < 0 ? 0 : text.mid(dash + 1).toULongLong();
    return id;
}

StreamEntry StreamEntry::fromReply(qint64 saleId, const RedisValue &entry) {
    return {saleId, entry.at(0).bytes(), entry.at(1).pairs()};
}

StreamEntry StreamEntry::book(const OrderRow &o) {
    const qint64 price = o.quantity > 0 ? o.amountCents / o.quantity : 0;
    return {o.saleId,
            {},
            {{kType, kBook},
             {kReservation, o.reservationId},
             {kUser, o.userId},
             {kItem, QByteArray::number(o.itemId)},
             {kQuantity, QByteArray::number(o.quantity)},
             {kPrice, QByteArray::number(price)},
             {kAccepted, QByteArray::number(o.acceptedMs)},
             {kExpires, QByteArray::number(o.expiresMs)}}};
}

StreamEntry StreamEntry::confirm(qint64 saleId, const QByteArray &rid, qint64 tsMs) {
    return {saleId,
            {},
            {{kType, kConfirm}, {kReservation, rid}, {kAccepted, QByteArray::number(tsMs)}}};
}

QByteArray StreamEntry::field(const QByteArray &name) const {
    for (const auto &f : fields) {
        if (f.first == name)
            return f.second;
    }
    return {};
}

StreamEntry::Parsed StreamEntry::parse() const {
    const QByteArray t = type();
    const QByteArray rid = reservationId();
    if (reservationSale(rid) != saleId || saleId <= 0)
        return poison(rid, "reservation id missing or not of this sale");
    if (t == kConfirm) {
        Parsed p;
        p.kind = Parsed::Kind::Confirm;
        p.reservationId = rid;
        return p;
    }
    if (t != kBook)
        return poison(rid, "unknown entry type '" + t + "'");
    const auto item = positive(field(kItem));
    const auto qty = positive(field(kQuantity));
    const auto price = positive(field(kPrice), true);
    const auto ts = positive(field(kAccepted));
    const auto expires = positive(field(kExpires));
    const QByteArray user = field(kUser);
    if (!item || !qty || !price || !ts || !expires || user.isEmpty() || *qty > kMaxQuantity)
        return poison(rid, "malformed book entry");
    Parsed p;
    p.kind = Parsed::Kind::Book;
    p.reservationId = rid;
    p.order = OrderRow{rid, saleId, *item, user, int(*qty), *price * *qty, *ts, *expires};
    return p;
}

StreamEntry StreamEntry::retried(qint64 nowMs) const {
    StreamEntry again{saleId, {}, {}};
    for (const auto &f : fields) {
        if (f.first != kFirstTried)
            again.fields.append(f);
    }
    const std::optional<qint64> first = firstTriedMs();
    again.fields.append({kFirstTried, first ? field(kFirstTried) : QByteArray::number(nowMs)});
    return again;
}

std::optional<qint64> StreamEntry::firstTriedMs() const {
    const QByteArray first = field(kFirstTried);
    if (first.isEmpty())
        return std::nullopt;
    return first.toLongLong();
}

QList<QByteArray> StreamEntry::xadd() const {
    QList<QByteArray> argv{"XADD", SaleKeys(saleId).stream(), "*"};
    argv.reserve(3 + 2 * fields.size());
    for (const auto &[name, value] : fields)
        argv << name << value;
    return argv;
}

} // namespace flashsale
