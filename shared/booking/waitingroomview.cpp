#include "waitingroomview.h"

#include "booking/bookingservice.h"
#include "booking/salekeys.h"
#include "booking/waitingroom.h"
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
    if (code != "view" || r.elements.size() != 9 + QueueLine::kFields)
        return std::nullopt;
    const auto line = QueueLine::fromReply(r, 9);
    if (!line)
        return std::nullopt;
    v.kind = Kind::View;
    v.lobby = r.at(1).toInt();
    v.fifo = r.at(2).toInt();
    v.noshows = r.at(3).toInt();
    v.booked = r.at(4).toInt();
    v.soldOut = r.at(5).toInt() == 1;
    v.paused = r.at(6).toInt() == 1;
    v.nowMs = r.at(7).toInt();
    v.saleState = r.at(8).bytes();
    v.cohortSize = line->cohortSize;
    v.sealed = line->sealed;
    v.cursor = line->cursor;
    v.admitted = line->admitted;
    v.outstanding = line->outstanding;
    v.remaining = line->remaining;
    v.admitPerMinute = line->admitPerMinute;
    v.admittedPerMinute = line->measuredPerMinute(v.nowMs);
    return v;
}

WaitingRoomViewReader::WaitingRoomViewReader(RedisCommands &redis)
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
