#include "ledger.h"

#include <QJsonArray>
#include <QJsonDocument>

namespace flashsale::paysim {

bool Ledger::declines(quint64 seed, const QString &orderId, double declinePercent) {
    const QByteArray input = QByteArray::number(seed) + ':' + orderId.toUtf8();
    quint64 h = 14695981039346656037ULL;
    for (const char c : input) {
        h ^= quint8(c);
        h *= 1099511628211ULL;
    }
    return double(h % 10000) < declinePercent * 100.0;
}

Ledger::Replay Ledger::replayPayment(const QString &key, const QString &orderId, qint64 amountCents,
                                     const QString &currency, Payment *first) const {
    const auto it = m_paymentKeys.constFind(key);
    if (it == m_paymentKeys.cend())
        return Replay::Miss;
    const Payment &p = m_payments.at(*it);
    if (p.orderId != orderId || p.amountCents != amountCents || p.currency != currency)
        return Replay::Mismatch;
    *first = p;
    if (p.status == QLatin1String("refunded")) {
        first->status = QStringLiteral("succeeded");
        first->refundId.clear();
    }
    return Replay::Hit;
}

Ledger::Replay Ledger::replayRefund(const QString &key, const QString &paymentId,
                                    Refund *first) const {
    const auto it = m_refundKeys.constFind(key);
    if (it == m_refundKeys.cend())
        return Replay::Miss;
    const Refund &r = m_refunds.at(*it);
    if (r.paymentId != paymentId)
        return Replay::Mismatch;
    *first = r;
    return Replay::Hit;
}

const Ledger::Payment &Ledger::addPayment(const QString &key, const QString &orderId,
                                          qint64 amountCents, const QString &currency,
                                          bool succeeded, qint64 nowMs) {
    Payment p;
    p.id = QStringLiteral("pay_%1").arg(m_payments.size() + 1);
    p.orderId = orderId;
    p.amountCents = amountCents;
    p.currency = currency;
    p.status = succeeded ? QStringLiteral("succeeded") : QStringLiteral("declined");
    p.createdMs = nowMs;
    p.idempotencyKey = key;
    m_paymentById.insert(p.id, m_payments.size());
    m_paymentKeys.insert(key, m_payments.size());
    m_paymentsByOrder[orderId].append(m_payments.size());
    m_entries.append(Entry{false, m_payments.size()});
    m_payments.append(p);
    return m_payments.last();
}

Ledger::RefundError Ledger::refund(const QString &key, const QString &paymentId, qint64 nowMs,
                                   Refund *out) {
    const auto it = m_paymentById.constFind(paymentId);
    if (it == m_paymentById.cend())
        return RefundError::NotFound;
    Payment &p = m_payments[*it];
    if (p.status == QLatin1String("refunded"))
        return RefundError::AlreadyRefunded;
    if (p.status != QLatin1String("succeeded"))
        return RefundError::NotRefundable;
    if (full())
        return RefundError::LedgerFull;
    Refund r;
    r.id = QStringLiteral("re_%1").arg(m_refunds.size() + 1);
    r.paymentId = p.id;
    r.orderId = p.orderId;
    r.amountCents = p.amountCents;
    r.createdMs = nowMs;
    p.status = QStringLiteral("refunded");
    p.refundId = r.id;
    if (!key.isEmpty())
        m_refundKeys.insert(key, m_refunds.size());
    m_entries.append(Entry{true, m_refunds.size()});
    m_refunds.append(r);
    *out = r;
    return RefundError::None;
}

const Ledger::Payment *Ledger::payment(const QString &id) const {
    const auto it = m_paymentById.constFind(id);
    return it == m_paymentById.cend() ? nullptr : &m_payments.at(*it);
}

QList<const Ledger::Payment *> Ledger::paymentsOfOrder(const QString &orderId) const {
    QList<const Payment *> out;
    for (const qsizetype i : m_paymentsByOrder.value(orderId))
        out.append(&m_payments.at(i));
    return out;
}

bool Ledger::paymentsAfter(const QString &startingAfter, qsizetype limit,
                           QList<const Payment *> *out, bool *hasMore) const {
    qsizetype from = 0;
    if (!startingAfter.isEmpty()) {
        const auto it = m_paymentById.constFind(startingAfter);
        if (it == m_paymentById.cend())
            return false;
        from = *it + 1;
    }
    const qsizetype to = qMin(m_payments.size(), from + qMax<qsizetype>(limit, 0));
    for (qsizetype i = from; i < to; ++i)
        out->append(&m_payments.at(i));
    *hasMore = to < m_payments.size();
    return true;
}

QJsonObject Ledger::toJson(const Payment &p) {
    QJsonObject o{{"id", p.id},
                  {"object", "payment"},
                  {"order_id", p.orderId},
                  {"amount_cents", p.amountCents},
                  {"currency", p.currency},
                  {"status", p.status},
                  {"created_ms", p.createdMs},
                  {"idempotency_key", p.idempotencyKey}};
    if (!p.refundId.isEmpty())
        o.insert(QStringLiteral("refund_id"), p.refundId);
    return o;
}

QJsonObject Ledger::toJson(const Refund &r) {
    return QJsonObject{{"id", r.id},
                       {"object", "refund"},
                       {"payment_id", r.paymentId},
                       {"order_id", r.orderId},
                       {"amount_cents", r.amountCents},
                       {"status", "succeeded"},
                       {"created_ms", r.createdMs}};
}

QByteArray Ledger::ledgerJson() const {
    qsizetype succeeded = 0;
    qsizetype declined = 0;
    qsizetype refunded = 0;
    for (const Payment &p : m_payments) {
        if (p.status == QLatin1String("declined"))
            ++declined;
        else if (p.status == QLatin1String("refunded"))
            ++refunded;
        else
            ++succeeded;
    }
    // Orders with more than one payment that took money (succeeded, or refunded since): what a
    // careless client does; flashsale-bench check (I5) and the fault matrix read it.
    QJsonArray twice;
    for (auto it = m_paymentsByOrder.cbegin(); it != m_paymentsByOrder.cend(); ++it) {
        int charged = 0;
        for (const qsizetype i : it.value())
            charged += m_payments.at(i).status != QLatin1String("declined") ? 1 : 0;
        if (charged > 1)
            twice.append(it.key());
    }
    const QJsonObject counts{{"payments", m_payments.size()},
                             {"succeeded", succeeded},
                             {"orders_charged_more_than_once", twice},
                             {"declined", declined},
                             {"refunded", refunded},
                             {"refunds", m_refunds.size()},
                             {"capacity", m_capacity}};
    QByteArray out = QJsonDocument(counts).toJson(QJsonDocument::Compact);
    out.chop(1); // the closing brace: the entries follow
    out += ",\"entries\":[";
    out.reserve(out.size() + m_entries.size() * 200);
    bool first = true;
    for (const Entry &e : m_entries) {
        if (!first)
            out += ',';
        first = false;
        out +=
            QJsonDocument(e.refund ? toJson(m_refunds.at(e.index)) : toJson(m_payments.at(e.index)))
                .toJson(QJsonDocument::Compact);
    }
    out += "]}";
    return out;
}

} // namespace flashsale::paysim
