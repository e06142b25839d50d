#include "saleprobe.h"

#include "booking/salekeys.h"
#include "redis/redisclient.h"

#include <memory>

namespace flashsale {

void SaleProbe::read(qint64 saleId, std::function<void(const Reading &)> done) {
    struct State {
        Reading reading;
        int left = 3;
        std::function<void(const Reading &)> done;
    };
    auto s = std::make_shared<State>();
    s->reading.saleId = saleId;
    s->done = std::move(done);
    auto finish = [s] {
        if (--s->left == 0)
            s->done(s->reading);
    };
    const SaleKeys k(saleId);
    m_redis.command({"HVALS", k.stock()}, [s, finish](const Result<RedisValue> &r) {
        if (!r) {
            s->reading.stockError = r.error();
        } else if (r->isArray()) {
            s->reading.stockRead = true;
            s->reading.items = int(r->elements.size());
            for (const RedisValue &v : r->elements)
                s->reading.remaining += v.toInt();
        }
        finish();
    });
    m_redis.command({"XINFO", "GROUPS", k.stream()}, [s, finish](const Result<RedisValue> &r) {
        // One record of name/value pairs per group:
        //   [[name, workers, consumers, n, pending, n, last-delivered-id, id, entries-read, n,
        //     lag, n], ...]
        // No stream yet is an error reply: nothing accepted, so no group either.
        if (r && r->isArray()) {
            for (const RedisValue &group : r->elements) {
                const auto f = group.fields();
                if (f.value("name").bytes() != SaleKeys::consumerGroup())
                    continue;
                s->reading.pending = f.value("pending").toInt();
                if (!f.value("lag").isNil())
                    s->reading.lag = f.value("lag").toInt();
            }
        }
        finish();
    });
    m_redis.command({"XLEN", k.deadLetters()}, [s, finish](const Result<RedisValue> &r) {
        if (r && !r->isError())
            s->reading.deadLetters = r->toInt();
        finish();
    });
}

} // namespace flashsale
