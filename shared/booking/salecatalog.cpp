#include "salecatalog.h"

#include "booking/salekeys.h"
#include "core/config.h"
#include "core/logging.h"
#include "core/timeformat.h"
#include "fairness/cohortshuffle.h"
#include "fairness/seedbox.h"
#include "pg/pgconnection.h"
#include "redis/redisclient.h"

#include <QDateTime>
#include <QJsonArray>
#include <QJsonDocument>
#include <QRandomGenerator>

#include <memory>

namespace flashsale {

namespace {

constexpr qint64 kMaxStock = 10'000'000;
constexpr qint64 kMaxPrice = 100'000'000'00LL;
// A waiting room's lobby opens this long before the start unless the operator says otherwise.
constexpr qint64 kDefaultLobbyMs = 30 * 60 * 1000;
constexpr int kSeedBytes = 32;

// A fresh secret seed (the shuffle's, docs/WAITING_ROOM.md) from the system's CSPRNG.
QByteArray newSeed() {
    QByteArray seed(kSeedBytes, Qt::Uninitialized);
    QRandomGenerator::system()->generate(reinterpret_cast<quint32 *>(seed.data()),
                                         reinterpret_cast<quint32 *>(seed.data() + kSeedBytes));
    return seed;
}

QByteArray pgTime(qint64 ms) {
    return isoTime(ms).toUtf8();
}

} // namespace

std::expected<SaleSpec, FieldErrors> SaleSpec::fromJson(const QJsonObject &body,
                                                        const Config &config, qint64 nowMs) {
    FieldReader r(body);
    SaleSpec spec;
    spec.holdSeconds = config.holdSeconds;
    spec.admissionRate = config.admissionRate;
    spec.admissionBurst = config.admissionBurst;

    const auto name = r.string(QStringLiteral("name"), true, 1, 200);
    const auto limit = r.integer(QStringLiteral("per_user_limit"), false, 1, 1000);
    const auto starts = r.timestamp(QStringLiteral("starts_at"), true);
    const auto ends = r.timestamp(QStringLiteral("ends_at"), true);
    const auto hold = r.integer(QStringLiteral("hold_seconds"), false, 1, 86400);
    const auto rate = r.integer(QStringLiteral("admission_rate"), false, 0, 10'000'000);
    const auto burst = r.integer(QStringLiteral("admission_burst"), false, 1, 10'000'000);
    const auto pow = r.integer(QStringLiteral("pow_difficulty"), false, 0, 28);
    const auto wr = r.boolean(QStringLiteral("waiting_room"), false);
    const auto lobby = r.timestamp(QStringLiteral("lobby_opens_at"), false);
    const auto grace = r.integer(QStringLiteral("grace_ms"), false, 0, 60000);
    const auto admitPm = r.integer(QStringLiteral("admit_per_minute"), false, 1, 1000000);
    const auto admTtl = r.integer(QStringLiteral("admission_ttl_seconds"), false, 10, 3600);
    const auto epb = r.integer(QStringLiteral("entries_per_buyer"), false, 1, 1);
    const auto epa = r.integer(QStringLiteral("entries_per_address"), false, 0, 1000);
    const bool hasItems = body.contains(QStringLiteral("items"));
    const bool hasStock = body.contains(QStringLiteral("stock"));
    if (hasItems && hasStock) {
        r.addError(QStringLiteral("stock"), QStringLiteral("give either stock or items, not both"));
    } else if (hasItems) {
        FieldErrors itemErrors;
        if (const auto items = r.array(QStringLiteral("items"), true, 1, 100'000)) {
            FieldErrors nested;
            for (qsizetype i = 0; i < items->size(); ++i) {
                const QString prefix = QStringLiteral("/items/%1").arg(i);
                if (!items->at(i).isObject()) {
                    nested.append(FieldError{prefix, QStringLiteral("must be an object")});
                    continue;
                }
                FieldReader ir(items->at(i).toObject(), prefix, &nested);
                const auto n = ir.string(QStringLiteral("name"), true, 1, 200);
                const auto s = ir.integer(QStringLiteral("stock"), true, 0, kMaxStock);
                const auto p = ir.integer(QStringLiteral("price_cents"), true, 0, kMaxPrice);
                ir.rejectUnknown();
                if (n && s && p)
                    spec.items.append(Item{0, *n, *s, *p});
            }
            for (const FieldError &e : nested)
                r.addError(e.pointer.mid(1), e.detail); // addError prefixes the '/' again
        }
    } else {
        const auto stock = r.integer(QStringLiteral("stock"), true, 0, kMaxStock);
        const auto price = r.integer(QStringLiteral("price_cents"), true, 0, kMaxPrice);
        if (stock && price && name)
            spec.items.append(Item{0, *name, *stock, *price});
    }
    if (hasItems)
        (void)r.integer(QStringLiteral("price_cents"), false, 0, kMaxPrice); // allowed, unused
    r.rejectUnknown();

    if (starts && ends && *ends <= *starts)
        r.addError(QStringLiteral("ends_at"), QStringLiteral("must be after starts_at"));
    if (ends && *ends <= nowMs)
        r.addError(QStringLiteral("ends_at"), QStringLiteral("must be in the future"));
    const bool withRoom = wr.value_or(false);
    if (!withRoom) {
        for (const char *field :
             {"lobby_opens_at", "grace_ms", "admit_per_minute", "admission_ttl_seconds",
              "entries_per_buyer", "entries_per_address"})
            if (body.contains(QLatin1String(field)))
                r.addError(QLatin1String(field),
                           QStringLiteral("goes with \"waiting_room\": true"));
    }
    // The lobby opens 30 minutes before the start by default, or now when that is later.
    const qint64 lobbyMs = lobby ? *lobby : starts ? qMax(nowMs, *starts - kDefaultLobbyMs) : 0;
    if (withRoom && starts && lobbyMs >= *starts)
        r.addError(lobby ? QStringLiteral("lobby_opens_at") : QStringLiteral("starts_at"),
                   lobby ? QStringLiteral("must be before starts_at")
                         : QStringLiteral("must be in the future for a waiting room (its lobby "
                                          "opens before the start)"));
    if (!r.ok())
        return std::unexpected(r.errors());

    spec.name = *name;
    spec.perUserLimit = int(limit.value_or(10));
    spec.startsAtMs = *starts;
    spec.endsAtMs = *ends;
    if (hold)
        spec.holdSeconds = int(*hold);
    if (rate)
        spec.admissionRate = int(*rate);
    spec.powDifficulty = int(pow.value_or(0));
    if (burst)
        spec.admissionBurst = int(*burst);
    else if (rate && *rate > 0)
        spec.admissionBurst = int(*rate);
    if (withRoom) {
        SaleSpec::WaitingRoom room;
        room.lobbyOpensAtMs = lobbyMs;
        room.graceMs = int(grace.value_or(room.graceMs));
        room.admitPerMinute = int(admitPm.value_or(room.admitPerMinute));
        room.admissionTtlSeconds = int(admTtl.value_or(room.admissionTtlSeconds));
        room.entriesPerBuyer = int(epb.value_or(room.entriesPerBuyer));
        room.entriesPerAddress = int(epa.value_or(room.entriesPerAddress));
        spec.waitingRoom = room;
    }
    return spec;
}

SaleCatalog::SaleCatalog(PgConnection &pg, RedisCommands &redis)
    : m_pg(pg)
    , m_redis(redis)
    , m_warm(RedisScript::load(QStringLiteral("warm"))) {}

void SaleCatalog::create(const SaleSpec &spec, bool warmNow,
                         std::function<void(const Result<SaleSpec> &, qint64 saleId)> done) {
    QJsonArray items;
    for (const SaleSpec::Item &i : spec.items)
        items.append(
            QJsonObject{{"name", i.name}, {"stock", i.stock}, {"price_cents", i.priceCents}});
    // A waiting room's secret seed and its public commitment, hex SHA-256(seed). The seed is
    // sealed to the scheduler's key (fairness::SeedBox) when one is set, else stored plain.
    SaleSpec created = spec;
    QByteArray boxHex;
    QByteArray boxKind = "plain";
    if (created.waitingRoom) {
        QByteArray seed = newSeed();
        created.waitingRoom->commitment = fairness::CohortShuffle::commitment(seed);
        if (m_seedKey.isEmpty()) {
            boxHex = seed.toHex();
        } else {
            boxHex = fairness::SeedBox::seal(seed, m_seedKey).toHex();
            boxKind = fairness::SeedBox::kKind;
        }
        seed.fill('\0');
    }
    const SaleSpec::WaitingRoom room = created.waitingRoom.value_or(SaleSpec::WaitingRoom{});
    // One statement, so the sale, its items, their inventory rows and the sale's fairness row
    // commit together or not at all. Item ids come back in the order the items were given.
    static const QByteArray sql = R"(
WITH s AS (
    INSERT INTO sales (name, per_user_limit, starts_at, ends_at, hold_seconds,
                       admission_rate, admission_burst, state, schedule_id, pow_difficulty,
                       waiting_room, lobby_opens_at, grace_ms, admit_per_minute,
                       admission_ttl_seconds, entries_per_buyer, entries_per_address)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
    ON CONFLICT (schedule_id, starts_at) WHERE schedule_id IS NOT NULL DO NOTHING
    RETURNING id),
i AS (
    INSERT INTO sale_items (sale_id, name, price_cents, stock)
    SELECT s.id, x.name, x.price_cents, x.stock
    FROM s, ROWS FROM (jsonb_to_recordset($8::jsonb)
                       AS (name text, price_cents bigint, stock integer)) WITH ORDINALITY
            AS x (name, price_cents, stock, ord)
    ORDER BY x.ord
    RETURNING id, sale_id, stock),
v AS (
    INSERT INTO inventory (item_id, sale_id, stock)
    SELECT id, sale_id, stock FROM i),
f AS (
    INSERT INTO sale_fairness (sale_id, commitment, seed_box, seed_box_kind)
    SELECT s.id, $19, decode($20, 'hex'), $21 FROM s WHERE $12::boolean)
SELECT (SELECT id FROM s) AS sale_id, i.id AS item_id FROM i ORDER BY i.id)";
    m_pg.query(
        sql,
        {spec.name.toUtf8(),
         QByteArray::number(spec.perUserLimit),
         pgTime(spec.startsAtMs),
         pgTime(spec.endsAtMs),
         QByteArray::number(spec.holdSeconds),
         QByteArray::number(spec.admissionRate),
         QByteArray::number(spec.admissionBurst),
         QJsonDocument(items).toJson(QJsonDocument::Compact),
         spec.state.toUtf8(),
         spec.scheduleId > 0 ? QByteArray::number(spec.scheduleId) : QByteArray(),
         QByteArray::number(spec.powDifficulty),
         created.waitingRoom ? "true" : "false",
         created.waitingRoom ? pgTime(room.lobbyOpensAtMs) : QByteArray(),
         QByteArray::number(room.graceMs),
         QByteArray::number(room.admitPerMinute),
         QByteArray::number(room.admissionTtlSeconds),
         QByteArray::number(room.entriesPerBuyer),
         QByteArray::number(room.entriesPerAddress),
         created.waitingRoom ? room.commitment : QByteArray(),
         boxHex,
         boxKind},
        [this, spec = created, warmNow, done = std::move(done)](const Result<PgResult> &r) mutable {
            if (!r) {
                done(std::unexpected(r.error()), 0);
                return;
            }
            if (r->rows.isEmpty() && spec.scheduleId > 0) {
                done(fail(ErrorCode::Conflict,
                          QStringLiteral("schedule %1 already has a sale starting at %2")
                              .arg(spec.scheduleId)
                              .arg(isoTime(spec.startsAtMs))),
                     0);
                return;
            }
            if (r->rows.size() != spec.items.size()) {
                done(
                    fail(ErrorCode::Protocol, QStringLiteral("sale insert returned %1 items for %2")
                                                  .arg(r->rows.size())
                                                  .arg(spec.items.size())),
                    0);
                return;
            }
            const qint64 saleId = r->rows.first().at(0).toLongLong();
            for (qsizetype i = 0; i < r->rows.size(); ++i)
                spec.items[i].id = r->rows[i].at(1).toLongLong();
            if (!warmNow) {
                done(spec, saleId);
                return;
            }
            warmRedis(saleId, spec, [spec, saleId, done = std::move(done)](const Result<bool> &w) {
                if (!w) {
                    done(fail(ErrorCode::Unavailable,
                              QStringLiteral("sale %1 was stored but not warmed into Redis (%2); "
                                             "retry with POST /api/v1/admin/sales/%1/warm")
                                  .arg(saleId)
                                  .arg(w.error().message)),
                         saleId);
                    return;
                }
                done(spec, saleId);
            });
        });
}

void SaleCatalog::warm(qint64 saleId, std::function<void(const Result<bool> &)> done) {
    static const QByteArray sql = R"(
SELECT s.name, s.per_user_limit,
       (extract(epoch FROM s.starts_at) * 1000)::bigint, (extract(epoch FROM s.ends_at) * 1000)::bigint,
       s.hold_seconds, s.admission_rate, s.admission_burst, s.state,
       i.id, i.name, v.stock - v.sold, i.price_cents, s.pow_difficulty,
       s.waiting_room, (extract(epoch FROM s.lobby_opens_at) * 1000)::bigint, s.grace_ms,
       s.admit_per_minute, s.admission_ttl_seconds, s.entries_per_buyer,
       s.entries_per_address, f.commitment, s.admission_paused
FROM sales s JOIN sale_items i ON i.sale_id = s.id JOIN inventory v ON v.item_id = i.id
LEFT JOIN sale_fairness f ON f.sale_id = s.id
WHERE s.id = $1
ORDER BY i.id)";
    m_pg.query(sql, {QByteArray::number(saleId)},
               [this, saleId, done = std::move(done)](const Result<PgResult> &r) mutable {
                   if (!r) {
                       done(std::unexpected(r.error()));
                       return;
                   }
                   if (r->rows.isEmpty()) {
                       done(fail(ErrorCode::NotFound, QStringLiteral("no sale %1").arg(saleId)));
                       return;
                   }
                   const auto &first = r->rows.first();
                   SaleSpec spec;
                   spec.name = QString::fromUtf8(first[0]);
                   spec.perUserLimit = first[1].toInt();
                   spec.startsAtMs = first[2].toLongLong();
                   spec.endsAtMs = first[3].toLongLong();
                   spec.holdSeconds = first[4].toInt();
                   spec.admissionRate = first[5].toInt();
                   spec.admissionBurst = first[6].toInt();
                   spec.state = QString::fromUtf8(first[7]);
                   spec.powDifficulty = first[12].toInt();
                   if (first[13] == "t") {
                       SaleSpec::WaitingRoom room;
                       room.lobbyOpensAtMs = first[14].toLongLong();
                       room.graceMs = first[15].toInt();
                       room.admitPerMinute = first[16].toInt();
                       room.admissionTtlSeconds = first[17].toInt();
                       room.entriesPerBuyer = first[18].toInt();
                       room.entriesPerAddress = first[19].toInt();
                       room.commitment = first[20];
                       room.paused = first[21] == "t";
                       spec.waitingRoom = room;
                   }
                   for (const auto &row : r->rows)
                       spec.items.append(
                           SaleSpec::Item{row[8].toLongLong(), QString::fromUtf8(row[9]),
                                          row[10].toLongLong(), row[11].toLongLong()});
                   warmRedis(saleId, spec, std::move(done));
               });
}

void SaleCatalog::warmRedis(qint64 saleId, const SaleSpec &spec,
                            std::function<void(const Result<bool> &)> done) {
    const SaleKeys k(saleId);
    QList<QByteArray> args{spec.state.toUtf8(),
                           QByteArray::number(spec.startsAtMs),
                           QByteArray::number(spec.endsAtMs),
                           QByteArray::number(spec.perUserLimit),
                           QByteArray::number(spec.admissionRate),
                           QByteArray::number(spec.admissionBurst),
                           QByteArray::number(qint64(spec.holdSeconds) * 1000),
                           spec.name.toUtf8(),
                           QByteArray::number(spec.powDifficulty)};
    const SaleSpec::WaitingRoom room = spec.waitingRoom.value_or(SaleSpec::WaitingRoom{});
    args << (spec.waitingRoom ? "1" : "0")
         << QByteArray::number(spec.waitingRoom ? room.lobbyOpensAtMs : 0)
         << QByteArray::number(room.graceMs) << QByteArray::number(room.admitPerMinute)
         << QByteArray::number(qint64(room.admissionTtlSeconds) * 1000)
         << QByteArray::number(room.entriesPerAddress) << room.commitment;
    for (const SaleSpec::Item &i : spec.items)
        args << QByteArray::number(i.id) << QByteArray::number(i.stock)
             << QByteArray::number(i.priceCents);
    for (const SaleSpec::Item &i : spec.items)
        args << i.name.toUtf8();

    // warm.lua, one SET per item owner (each its own slot on a cluster, where one MSET would be
    // CROSSSLOT), then the index; the answer waits for the last of them.
    auto written = std::make_shared<std::optional<bool>>();
    auto failed = std::make_shared<std::optional<Error>>();
    auto remaining = std::make_shared<int>(int(spec.items.size()) + (spec.waitingRoom ? 3 : 2));
    auto finish = [written, failed, remaining, done = std::move(done)](const Result<RedisValue> &r,
                                                                       bool isWarm) {
        if (!r)
            *failed = r.error();
        else if (r->isError())
            *failed = Error{ErrorCode::Protocol, QString::fromUtf8(r->string)};
        else if (isWarm)
            *written = r->toInt() == 1;
        if (--*remaining > 0)
            return;
        if (*failed)
            done(std::unexpected(**failed));
        else
            done(written->value_or(false));
    };
    m_redis.eval(m_warm, {k.meta(), k.stock(), k.price(), k.items(), k.waitingRoomMeta()}, args,
                 [this, saleId, finish](const Result<RedisValue> &r) {
                     if (r && !r->isError()) {
                         markWarmed(saleId);
                         // Indexed once its meta exists: on a cluster fs:sales lives on another
                         // node, and a worker that found the sale indexed without its meta would
                         // take it for a retired one.
                         m_redis.command(
                             {"SADD", SaleKeys::saleIndex(), QByteArray::number(saleId)},
                             [finish](const Result<RedisValue> &a) { finish(a, false); });
                     } else {
                         finish(RedisValue{}, false); // not indexed
                     }
                     finish(r, true);
                 });
    for (const SaleSpec::Item &i : spec.items)
        m_redis.command({"SET", SaleKeys::itemOwner(i.id), QByteArray::number(saleId)},
                        [finish](const Result<RedisValue> &r) { finish(r, false); });
    // An operator's pause of admission outlives the sale's Redis keys: PostgreSQL has the last
    // word whenever the sale is (re)warmed. After warm.lua on the same connection, so in order.
    if (spec.waitingRoom)
        m_redis.command({"HSET", k.waitingRoomMeta(), "paused", room.paused ? "1" : "0"},
                        [finish](const Result<RedisValue> &r) { finish(r, false); });
}

QJsonValue SaleCatalog::waitingRoomJson(const std::optional<SaleSpec::WaitingRoom> &room) {
    if (!room)
        return QJsonValue();
    return QJsonObject{{"lobby_opens_at", isoTime(room->lobbyOpensAtMs)},
                       {"grace_ms", room->graceMs},
                       {"admit_per_minute", room->admitPerMinute},
                       {"admission_ttl_seconds", room->admissionTtlSeconds},
                       {"entries_per_buyer", room->entriesPerBuyer},
                       {"entries_per_address", room->entriesPerAddress},
                       {"commitment", room->commitment.isEmpty()
                                          ? QJsonValue()
                                          : QJsonValue(QString::fromLatin1(room->commitment))}};
}

void SaleCatalog::markWarmed(qint64 saleId) {
    m_pg.query("UPDATE sales SET warmed_at = now() WHERE id = $1 AND warmed_at IS NULL",
               {QByteArray::number(saleId)}, [saleId](const Result<PgResult> &r) {
                   if (!r)
                       qCWarning(lcApp)
                           << "sale" << saleId
                           << "is warm but warmed_at was not recorded:" << r.error().message;
               });
}

} // namespace flashsale
