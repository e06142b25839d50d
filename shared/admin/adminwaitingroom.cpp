#include "adminwaitingroom.h"

#include "audit/audit.h"
#include "booking/salekeys.h"
#include "core/logging.h"
#include "pg/pgconnection.h"
#include "redis/redisclient.h"

namespace flashsale {

using admin::AdminError;
using Kind = AdminWaitingRoom::Failure::Kind;

namespace {

AdminWaitingRoom::Failure opFailure(Kind kind, const QString &message, FieldErrors details = {}) {
    return AdminWaitingRoom::Failure{kind, message, std::move(details)};
}

AdminWaitingRoom::Failure notWarm(qint64 saleId) {
    return opFailure(Kind::NotWarm,
                     QStringLiteral("Sale %1 is not in Redis: it is warmed --warmup-seconds before "
                                    "its lobby opens, and retired after it ends.")
                         .arg(saleId));
}

QJsonObject settingsJson(qint64 admitPerMinute, bool paused) {
    return QJsonObject{{"admit_per_minute", admitPerMinute}, {"paused", paused}};
}

} // namespace

admin::AdminFailure AdminWaitingRoom::Failure::toAdmin() const {
    AdminError code = AdminError::Internal;
    switch (kind) {
    case Kind::InvalidArgs:
        code = AdminError::InvalidArgs;
        break;
    case Kind::UnknownSale:
    case Kind::NoWaitingRoom:
        code = AdminError::NotFound;
        break;
    case Kind::NotWarm:
        code = AdminError::Conflict;
        break;
    case Kind::Unavailable:
        code = AdminError::Unavailable;
        break;
    case Kind::Internal:
        break;
    }
    return admin::AdminFailure{code, message, details};
}

AdminWaitingRoom::AdminWaitingRoom(PgConnection &pg, RedisCommands &redis)
    : m_pg(pg)
    , m_redis(redis)
    , m_views(redis)
    , m_settings(RedisScript::load(QStringLiteral("queue_settings"))) {}

std::expected<AdminWaitingRoom::Settings, FieldErrors>
AdminWaitingRoom::decodeSettings(const QJsonObject &object, const QString &pointerPrefix,
                                 bool withSaleId) {
    FieldReader r(object, pointerPrefix);
    if (withSaleId)
        r.integer(QStringLiteral("sale_id"), true, 1, Q_INT64_C(999999999999999999));
    Settings s;
    s.paused = r.boolean(QStringLiteral("paused"), false);
    s.admitPerMinute = r.integer(QStringLiteral("admit_per_minute"), false, kMinAdmitPerMinute,
                                 kMaxAdmitPerMinute);
    r.rejectUnknown();
    if (r.ok() && !s.paused && !s.admitPerMinute)
        r.addError(QStringLiteral("paused"),
                   QStringLiteral("or admit_per_minute is required: say what to change"));
    if (!r.ok())
        return std::unexpected(r.errors());
    return s;
}

AdminWaitingRoom::Failure AdminWaitingRoom::dependency(const Error &error) {
    if (error.code == ErrorCode::Unavailable || error.code == ErrorCode::Timeout)
        return opFailure(Kind::Unavailable, error.message);
    qCWarning(lcApp).noquote() << "waiting-room operation failed:" << error.message;
    return opFailure(Kind::Internal, error.message);
}

void AdminWaitingRoom::loadSale(qint64 saleId,
                                std::function<void(const std::expected<qint64, Failure> &)> done) {
    m_pg.query(
        "SELECT waiting_room, admit_per_minute FROM sales WHERE id = $1",
        {QByteArray::number(saleId)}, [saleId, done = std::move(done)](const Result<PgResult> &r) {
            if (!r)
                return done(std::unexpected(dependency(r.error())));
            if (r->rows.isEmpty())
                return done(std::unexpected(opFailure(
                    Kind::UnknownSale, QStringLiteral("Sale %1 does not exist.").arg(saleId))));
            if (r->rows.first().value(0) != "t")
                return done(std::unexpected(
                    opFailure(Kind::NoWaitingRoom,
                              QStringLiteral("Sale %1 has no waiting room.").arg(saleId))));
            done(r->rows.first().value(1).toLongLong());
        });
}

void AdminWaitingRoom::get(qint64 saleId, Done done) {
    loadSale(saleId, [this, saleId, done = std::move(done)](const auto &sale) {
        if (!sale)
            return done(std::unexpected(sale.error()));
        m_views.read(saleId, [saleId, done](const Result<WaitingRoomView> &v) {
            if (!v)
                return done(std::unexpected(dependency(v.error())));
            if (v->kind != WaitingRoomView::Kind::View)
                return done(std::unexpected(notWarm(saleId)));
            done(QJsonObject{{"waiting_room", v->toJson()}});
        });
    });
}

void AdminWaitingRoom::set(qint64 saleId, const Settings &settings, const QString &actor,
                           const QString &via, Done done) {
    loadSale(saleId, [=, this](const std::expected<qint64, Failure> &sale) {
        if (!sale)
            return done(std::unexpected(sale.error()));
        // Whether Redis holds the sale decides what can change: a sale that is not warm has no
        // admission to pause; a rate can be set before warming (warming copies it).
        m_views.read(saleId, [=, this](const Result<WaitingRoomView> &before) {
            if (!before)
                return done(std::unexpected(dependency(before.error())));
            const bool warm = before->kind == WaitingRoomView::Kind::View;
            if (settings.paused && !warm)
                return done(std::unexpected(notWarm(saleId)));
            const qint64 pgBefore = *sale;
            const qint64 rate = settings.admitPerMinute.value_or(pgBefore);
            const bool pausedBefore = warm && before->paused;
            const bool pausedAfter = settings.paused.value_or(pausedBefore);
            const QJsonObject beforeJson =
                settingsJson(warm ? before->admitPerMinute : pgBefore, pausedBefore);
            const QJsonObject afterJson = settingsJson(rate, pausedAfter);

            auto answer = [=, this](const QJsonValue &view) {
                writeAudit(m_pg,
                           {actor, QStringLiteral("sale.waiting_room.set"), saleId, beforeJson,
                            afterJson, QJsonObject{{"via", via}}},
                           [=](const Result<qint64> &id) {
                               if (!id)
                                   return done(std::unexpected(dependency(id.error())));
                               done(QJsonObject{{"waiting_room", view}, {"audit_id", *id}});
                           });
            };
            auto redisStep = [=, this] {
                if (!warm)
                    return answer(QJsonValue());
                const SaleKeys k(saleId);
                m_redis.eval(
                    m_settings, {k.meta(), k.waitingRoomMeta()},
                    {settings.admitPerMinute ? QByteArray::number(*settings.admitPerMinute)
                                             : QByteArray(""),
                     settings.paused ? QByteArray(*settings.paused ? "1" : "0") : QByteArray("")},
                    [=, this](const Result<RedisValue> &v) {
                        if (!v || !v->isArray() || v->at(0).bytes() != "ok")
                            return done(std::unexpected(opFailure(
                                Kind::Unavailable,
                                QStringLiteral("Sale %1's waiting room was not updated in Redis "
                                               "(%2); PostgreSQL may hold the new rate already: "
                                               "repeat the operation.")
                                    .arg(saleId)
                                    .arg(v ? QString::fromUtf8(v->at(0).bytes() + v->string)
                                           : v.error().message))));
                        m_views.read(saleId, [=](const Result<WaitingRoomView> &after) {
                            answer(after && after->kind == WaitingRoomView::Kind::View
                                       ? QJsonValue(after->toJson())
                                       : QJsonValue());
                        });
                    });
            };
            // PostgreSQL first, as the rate and the pause outlive the sale's Redis keys (warming
            // copies both back).
            m_pg.query("UPDATE sales SET admit_per_minute = $2, admission_paused = $3 "
                       "WHERE id = $1",
                       {QByteArray::number(saleId), QByteArray::number(rate),
                        pausedAfter ? "true" : "false"},
                       [=](const Result<PgResult> &u) {
                           if (!u)
                               return done(std::unexpected(dependency(u.error())));
                           redisStep();
                       });
        });
    });
}

} // namespace flashsale
