#include "waitingroomview.h"

#include "booking/bookingservice.h"
#include "booking/salekeys.h"
#include "core/timeformat.h"
#include "redis/redisclient.h"

#include <QJsonValue>

#include <cmath>

namespace flashsale {

qint64 WaitingRoomView::waiting() const {
    return sealed ? qMax<qint64>(0, cohortSize + fifo - cursor) : lobby + fifo;
}

std::optional<double> WaitingRoomView::sellOutSeconds() const {
    if (remaining <= 0)
        return 0.0;
    if (paused || !admittedPerMinute || *admittedPerMinute <= 0)
        return std::nullopt;
    return double(remaining) * 60.0 / *admittedPerMinute;
}

QJsonObject WaitingRoomView::toJson() const {
    const auto orNull = [](const std::optional<double> &v) {
        return v ? QJsonValue(std::round(*v * 1000.0) / 1000.0) : QJsonValue();
    };
    return QJsonObject{
        {"sale_id", saleId},
        {"sale_state", QString::fromUtf8(saleState)},
        {"lobby", lobby},
        {"fifo", fifo},
        {"cohort_size", cohortSize < 0 ? QJsonValue() : QJsonValue(cohortSize)},
        {"sealed", sealed},
        {"cursor", cursor},
        {"waiting", waiting()},
        {"admitted", admitted},
        {"outstanding", outstanding},
        {"noshows", noshows},
        {"booked", booked},
        {"paused", paused},
        {"sold_out", soldOut},
        {"remaining", remaining},
        {"admit_per_minute", admitPerMinute},
        {"admitted_per_minute", orNull(admittedPerMinute)},
        {"sell_out_seconds", orNull(sellOutSeconds())},
        {"now", isoTime(nowMs)},
    };
}

std::optional<WaitingRoomView> WaitingRoomView::fromReply(qint64 saleId, const RedisValue &r) {
    if (!r.isArray() || r.elements.isEmpty())
        return std::nullopt;
    WaitingRoomView v;
    v.saleId = saleId;
    const QByteArray code = r.at(0).bytes();
    if (code == "unknown_sale" || code == "no_waiting_room") {
        v.kind = code == "unknown_sale" ? Kind::UnknownSale : Kind::NoWaitingRoom;
        return v;
    }
    if (code != "view" || r.elements.size() != 17)
        return std::nullopt;
    v.kind = Kind::View;
    v.lobby = r.at(1).toInt();
    v.fifo = r.at(2).toInt();
    v.cohortSize = r.at(3).toInt(-1);
    v.sealed = r.at(4).toInt() == 1;
    v.cursor = r.at(5).toInt();
    v.admitted = r.at(6).toInt();
    v.outstanding = r.at(7).toInt();
    v.noshows = r.at(8).toInt();
    v.booked = r.at(9).toInt();
    v.paused = r.at(10).toInt() == 1;
    v.soldOut = r.at(11).toInt() == 1;
    v.remaining = r.at(12).toInt();
    v.admitPerMinute = r.at(13).toInt();
    if (const QByteArray rate = r.at(14).bytes(); !rate.isEmpty()) {
        bool ok = false;
        const double d = rate.toDouble(&ok);
        if (!ok)
            return std::nullopt;
        v.admittedPerMinute = d;
    }
    v.nowMs = r.at(15).toInt();
    v.saleState = r.at(16).bytes();
    return v;
}

WaitingRoomViewReader::WaitingRoomViewReader(RedisClient &redis)
    : m_redis(redis)
    , m_script(RedisScript::load(QStringLiteral("queue_view"))) {}

void WaitingRoomViewReader::read(qint64 saleId,
                                 std::function<void(const Result<WaitingRoomView> &)> done) {
    const SaleKeys k(saleId);
    m_redis.eval(m_script,
                 {k.meta(), k.waitingRoomMeta(), k.waitingRoomCohort(), k.waitingRoomFifo(),
                  k.waitingRoomAdmitted(), k.stock()},
                 {}, [saleId, done = std::move(done)](const Result<RedisValue> &r) {
                     if (!r)
                         return done(std::unexpected(r.error()));
                     const auto v = WaitingRoomView::fromReply(saleId, *r);
                     if (!v)
                         return done(std::unexpected(redisScriptError("queue_view.lua", *r)));
                     done(*v);
                 });
}

} // namespace flashsale
