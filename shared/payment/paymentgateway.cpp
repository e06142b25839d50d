#include "paymentgateway.h"

#include "redis/redisclient.h"

#include <QCryptographicHash>
#include <QPointer>
#include <QTimer>

namespace flashsale {

SimulatorGateway::SimulatorGateway(RedisClient &redis, int latencyMs, int declinePercent,
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

} // namespace flashsale
