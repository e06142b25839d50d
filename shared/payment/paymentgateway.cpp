#include "paymentgateway.h"

#include "redis/redisclient.h"
#include "redis/redisscript.h"

#include <QCryptographicHash>
#include <QJsonDocument>
#include <QJsonObject>
#include <QPointer>
#include <QTimer>

#include <optional>

namespace flashsale {

// ---- H5 (provider reconciliation): the simulator's payment list ----
namespace {

// The ledger's payment list (lua/paysim_record.lua has the layout).
const QByteArray kPaySimSeq = "fs:{paysim}:seq";
const QByteArray kPaySimPayments = "fs:{paysim}:payments";
const QByteArray kPaySimPayment = "fs:{paysim}:payment";

// Records the payment the first charge under `req.idempotencyKey` made, in creation order.
void recordSimPayment(RedisCommands &redis, const ChargeRequest &req, const QByteArray &ref,
                      bool approved) {
    static const RedisScript record = RedisScript::load(QStringLiteral("paysim_record"));
    redis.eval(record, {kPaySimSeq, kPaySimPayments, kPaySimPayment},
               {ref, QByteArray::number(req.orderId), approved ? "succeeded" : "declined",
                QByteArray::number(req.amountCents), req.idempotencyKey},
               [](const Result<RedisValue> &) {});
}

// One payment of the list, or nullopt when the JSON is not one.
std::optional<ProviderPayment> simPayment(const QByteArray &json) {
    const QJsonObject o = QJsonDocument::fromJson(json).object();
    ProviderPayment p;
    p.id = o.value(QStringLiteral("id")).toString().toUtf8();
    p.orderId = o.value(QStringLiteral("order_id")).toString().toLongLong();
    p.status = o.value(QStringLiteral("status")).toString().toUtf8();
    p.amountCents = o.value(QStringLiteral("amount_cents")).toInteger();
    p.createdMs = o.value(QStringLiteral("created_ms")).toInteger();
    p.idempotencyKey = o.value(QStringLiteral("idempotency_key")).toString().toUtf8();
    if (p.id.isEmpty() || p.status.isEmpty())
        return std::nullopt;
    return p;
}

} // namespace
// ---- end H5 ----

SimulatorGateway::SimulatorGateway(RedisCommands &redis, int latencyMs, int declinePercent,
                                   bool outage, QObject *parent)
    : QObject(parent)
    , m_redis(redis)
    , m_latencyMs(latencyMs)
    , m_declinePercent(declinePercent)
    , m_outage(outage) {}

void SimulatorGateway::charge(const ChargeRequest &req,
                              std::function<void(const Result<ChargeOutcome> &)> done) {
    QTimer::singleShot(m_latencyMs, this, [this, req, done = std::move(done)] {
        // A callback is dropped when the gateway is gone (its owner shut down meanwhile).
        m_redis.command({"GET", "fs:paysim:outage"}, [this, self = QPointer(this), req,
                                                      done](const Result<RedisValue> &o) {
            if (!self)
                return;
            if (!o) {
                done(std::unexpected(o.error()));
                return;
            }
            if (m_outage || o->bytes() == "1") {
                done(fail(ErrorCode::Unavailable,
                          QStringLiteral("payment provider unavailable (simulated outage)")));
                return;
            }
            const QByteArray h =
                QCryptographicHash::hash(QByteArray::number(req.orderId), QCryptographicHash::Sha1);
            const bool approved = int(quint8(h[0]) * 100 / 256) >= m_declinePercent;
            const QByteArray outcome = approved ? "approved" : "declined";
            const QByteArray ref = "sim-" + req.idempotencyKey;
            // SET NX: the first charge under a key decides; a retry under the same key gets
            // the same answer and charges nothing more.
            m_redis.command(
                {"SET", "fs:paysim:charge:" + req.idempotencyKey, outcome, "NX", "GET"},
                [this, self, req, done, outcome, ref](const Result<RedisValue> &r) {
                    if (!self)
                        return;
                    if (!r || r->isError()) {
                        done(fail(ErrorCode::Unavailable,
                                  QStringLiteral("simulator ledger unavailable")));
                        return;
                    }
                    const bool first = r->isNil();
                    const QByteArray decided = first ? outcome : r->bytes();
                    m_redis.command({"SADD", "fs:paysim:keys:" + QByteArray::number(req.orderId),
                                     req.idempotencyKey},
                                    [](const Result<RedisValue> &) {});
                    if (first && decided == "approved")
                        m_redis.command(
                            {"HINCRBY", "fs:paysim:captured", QByteArray::number(req.orderId), "1"},
                            [](const Result<RedisValue> &) {});
                    if (first) // H5: the payment list reconciliation reads
                        recordSimPayment(m_redis, req, ref, decided == "approved");
                    ChargeOutcome c;
                    c.approved = decided == "approved";
                    c.providerRef = ref;
                    if (!c.approved)
                        c.declineReason = QStringLiteral("card declined (simulated)");
                    done(c);
                });
        });
    });
}

void SimulatorGateway::refund(const ChargeRequest &req,
                              std::function<void(const Result<void> &)> done) {
    // Like a charge, a refund happens once per idempotency key: a retry under the same key
    // answers success and refunds nothing more.
    m_redis.command(
        {"SET", "fs:paysim:refund:" + req.idempotencyKey, req.providerRef, "NX"},
        [this, self = QPointer(this), req, done = std::move(done)](const Result<RedisValue> &r) {
            if (!self)
                return;
            if (!r || r->isError()) {
                done(fail(ErrorCode::Unavailable, QStringLiteral("simulator ledger unavailable")));
                return;
            }
            if (r->isNil()) { // refunded before under this key
                done(Result<void>{});
                return;
            }
            // The payment shows refunded in the list (listPayments). Without a providerRef, the
            // payment the payment service's key ("order-<id>") made.
            static const RedisScript markRefunded =
                RedisScript::load(QStringLiteral("paysim_refund"));
            const QByteArray ref = req.providerRef.isEmpty()
                                       ? "sim-order-" + QByteArray::number(req.orderId)
                                       : req.providerRef;
            m_redis.eval(markRefunded, {kPaySimPayment}, {ref}, [](const Result<RedisValue> &) {});
            m_redis.command({"HINCRBY", "fs:paysim:refunded", QByteArray::number(req.orderId), "1"},
                            [done](const Result<RedisValue> &h) {
                                if (!h || h->isError())
                                    done(fail(ErrorCode::Unavailable,
                                              QStringLiteral("simulator ledger unavailable")));
                                else
                                    done(Result<void>{});
                            });
        });
}

// ---- H5 (provider reconciliation) ----
void SimulatorGateway::listPayments(const QByteArray &startingAfter, int limit,
                                    std::function<void(const Result<ProviderPage> &)> done) {
    static const RedisScript list = RedisScript::load(QStringLiteral("paysim_list"));
    m_redis.eval(
        list, {kPaySimPayments, kPaySimPayment},
        {startingAfter, QByteArray::number(qBound(1, limit, 1000))},
        [startingAfter, done = std::move(done)](const Result<RedisValue> &r) {
            if (!r)
                return done(std::unexpected(r.error()));
            if (r->isError()) {
                if (r->string.startsWith("NOTFOUND"))
                    return done(
                        fail(ErrorCode::NotFound, QStringLiteral("simulator: no payment %1")
                                                      .arg(QString::fromUtf8(startingAfter))));
                return done(fail(ErrorCode::Unavailable, QStringLiteral("simulator ledger: ")
                                                             + QString::fromUtf8(r->string)));
            }
            ProviderPage page;
            page.hasMore = r->at(0).toInt() == 1;
            for (qsizetype i = 1; i < r->elements.size(); ++i) {
                if (auto p = simPayment(r->elements[i].bytes()))
                    page.data.append(*p);
            }
            done(page);
        });
}
// ---- end H5 ----

} // namespace flashsale
