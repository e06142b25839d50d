#include "deadletters.h"

#include "booking/salekeys.h"
#include "pg/pgarray.h"
#include "reconcile/job.h"

#include <QMap>

#include <algorithm>

namespace flashsale::reconcile {

namespace {

constexpr int kMaxPerSale = 10000;

const QByteArray kResolutionsSql =
    "SELECT sale_id, entry_id, action, operator, outcome, "
    "(extract(epoch FROM at) * 1000)::bigint FROM stream_dead_letter_resolutions "
    "WHERE sale_id = ANY ($1::bigint[])";

class Reader final : public Job<Reader, QList<DeadLetter>> {
public:
    Reader(PgConnection &pg, RedisCommands &redis, std::optional<qint64> sale,
           std::optional<QByteArray> entry, bool includeResolved, Done done)
        : Job(pg, redis, std::move(done))
        , m_sale(sale)
        , m_entry(std::move(entry))
        , m_includeResolved(includeResolved) {}

    void start() {
        if (m_sale)
            return readSales({*m_sale});
        redis({"SMEMBERS", SaleKeys::saleIndex()},
              [self = shared_from_this()](const RedisValue &v) {
                  QList<qint64> sales;
                  for (const RedisValue &e : v.elements)
                      if (const qint64 id = e.bytes().toLongLong(); id > 0)
                          sales << id;
                  std::sort(sales.begin(), sales.end());
                  self->readSales(sales);
              });
    }

private:
    void readSales(const QList<qint64> &sales) {
        m_sales = sales;
        if (sales.isEmpty())
            return finish(QList<DeadLetter>{});
        auto left = std::make_shared<int>(int(sales.size()));
        for (qint64 sale : sales) {
            const QByteArray from = m_entry ? *m_entry : QByteArray("-");
            const QByteArray to = m_entry ? *m_entry : QByteArray("+");
            redis({"XRANGE", SaleKeys(sale).deadLetters(), from, to, "COUNT",
                   QByteArray::number(kMaxPerSale)},
                  [self = shared_from_this(), sale, left](const RedisValue &v) {
                      for (const RedisValue &e : v.elements)
                          self->m_bySale[sale].append(DeadLetter::fromReply(sale, e));
                      if (--*left == 0)
                          self->readResolutions();
                  });
        }
    }

    void readResolutions() {
        QList<QByteArray> ids;
        for (qint64 s : std::as_const(m_sales))
            ids << QByteArray::number(s);
        pg(kResolutionsSql, {pgArray(ids)}, [self = shared_from_this()](const PgResult &r) {
            QHash<QPair<qint64, QByteArray>, DeadLetterResolution> done;
            for (const auto &row : r.rows)
                done.insert({row[0].toLongLong(), row[1]},
                            DeadLetterResolution{QString::fromUtf8(row[2]),
                                                 QString::fromUtf8(row[3]),
                                                 QString::fromUtf8(row[4]), row[5].toLongLong()});
            QList<DeadLetter> out;
            for (auto it = self->m_bySale.begin(); it != self->m_bySale.end(); ++it)
                for (DeadLetter &d : it.value()) {
                    const auto found = done.constFind({d.saleId, d.entryId});
                    if (found != done.constEnd())
                        d.resolution = *found;
                    if (!d.resolution || self->m_includeResolved)
                        out << d;
                }
            self->finish(out);
        });
    }

    const std::optional<qint64> m_sale;
    const std::optional<QByteArray> m_entry;
    const bool m_includeResolved;
    QList<qint64> m_sales;
    QMap<qint64, QList<DeadLetter>> m_bySale;
};

} // namespace

DeadLetter DeadLetter::fromReply(qint64 saleId, const RedisValue &reply) {
    const StreamEntry raw = StreamEntry::fromReply(saleId, reply);
    DeadLetter d;
    d.saleId = saleId;
    d.entryId = raw.id;
    d.entry.saleId = saleId;
    for (const auto &[name, value] : raw.fields) {
        if (name.startsWith("field:"))
            d.entry.fields.append({name.mid(6), value});
        else if (name == "reason")
            d.reason = value;
        else if (name == "source_id")
            d.sourceId = value;
    }
    d.entry.id = d.sourceId;
    return d;
}

void readDeadLetters(PgConnection &pg, RedisCommands &redis, std::optional<qint64> sale,
                     bool includeResolved,
                     std::function<void(const Result<QList<DeadLetter>> &)> done) {
    std::make_shared<Reader>(pg, redis, sale, std::nullopt, includeResolved, std::move(done))
        ->start();
}

void readDeadLetter(PgConnection &pg, RedisCommands &redis, qint64 sale, const QByteArray &entryId,
                    std::function<void(const Result<DeadLetter> &)> done) {
    std::make_shared<Reader>(
        pg, redis, sale, entryId, true,
        [sale, entryId, done](const Result<QList<DeadLetter>> &r) {
            if (!r)
                return done(std::unexpected(r.error()));
            if (r->isEmpty())
                return done(
                    fail(ErrorCode::NotFound, QStringLiteral("sale %1 has no dead letter %2")
                                                  .arg(sale)
                                                  .arg(QString::fromLatin1(entryId))));
            done(r->first());
        })
        ->start();
}

} // namespace flashsale::reconcile
