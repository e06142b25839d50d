#include "adminservice.h"

#include "admin/adminaudit.h"
#include "admin/admindeadletters.h"
#include "admin/adminnotifications.h"
#include "admin/adminoperators.h"
#include "admin/adminproviderreconcile.h"
#include "admin/adminreconcile.h"
#include "admin/adminsales.h"
#include "admin/adminschedules.h"
#include "admin/adminwaitingroom.h"
#include "admin/adminwebhooks.h"
#include "admin/operatorauth.h"
#include "core/logging.h"

#include <QDateTime>
#include <QJsonArray>
#include <QJsonDocument>

namespace flashsale {

using admin::AdminError;
using admin::AdminFailure;
using admin::Op;

AdminFailure AdminService::failure(AdminError code, const QString &message, FieldErrors details) {
    return AdminFailure{code, message, std::move(details)};
}

AdminFailure AdminService::invalidArgs(const FieldErrors &errors) {
    return failure(
        AdminError::InvalidArgs,
        errors.size() == 1
            ? QStringLiteral("%1 %2.").arg(errors.first().pointer, errors.first().detail)
            : QStringLiteral("%1 arguments are invalid; see details.").arg(errors.size()),
        errors);
}

AdminFailure AdminService::dependencyFailure(const Error &error) {
    switch (error.code) {
    case ErrorCode::Unavailable:
    case ErrorCode::Timeout:
        return failure(AdminError::Unavailable, error.message);
    case ErrorCode::NotFound:
        return failure(AdminError::NotFound, error.message);
    case ErrorCode::Conflict:
        return failure(AdminError::Conflict, error.message);
    case ErrorCode::Invalid:
        return failure(AdminError::InvalidArgs, error.message);
    case ErrorCode::Protocol:
    case ErrorCode::Internal:
        break;
    }
    qCWarning(lcApp).noquote() << "admin operation failed:" << error.message;
    return failure(AdminError::Internal, error.message);
}

QJsonValue AdminService::jsonColumn(const QByteArray &text) {
    if (text.isNull())
        return QJsonValue();
    const QJsonDocument doc = QJsonDocument::fromJson(text);
    if (doc.isObject())
        return doc.object();
    if (doc.isArray())
        return doc.array();
    return QJsonValue();
}

AdminService::AdminService(const Config &config, PgConnection &pg, RedisCommands &redis,
                           SaleCatalog &catalog, Reconciler &reconciler)
    : m_sales(std::make_unique<AdminSales>(config, pg, redis, catalog))
    , m_schedules(std::make_unique<AdminSchedules>(config, pg))
    , m_reconcile(std::make_unique<AdminReconcile>(pg, reconciler))
    , m_audit(std::make_unique<AdminAudit>(pg))
    , m_operators(std::make_unique<AdminOperators>(pg))
    , m_webhooks(std::make_unique<AdminWebhooks>(pg))
    , m_providerReconcile(std::make_unique<AdminProviderReconcile>(config, pg, redis))
    , m_notifications(std::make_unique<AdminNotifications>(pg))
    , m_deadLetters(std::make_unique<AdminDeadLetters>(pg, redis))
    , m_waitingRoom(std::make_unique<AdminWaitingRoom>(pg, redis)) {}

AdminService::~AdminService() = default;

void AdminService::handle(const admin::AdminRequest &request, const OperatorIdentity &who,
                          Reply reply) {
    if (auto refused = OperatorAuthenticator::forbidden(who, request))
        return reply(std::unexpected(*refused));
    const QJsonObject &args = request.args;
    const QString &actor = who.name;
    switch (request.op) {
    case Op::Ping:
        reply(QJsonObject{{"server_time_ms", double(QDateTime::currentMSecsSinceEpoch())},
                          {"version", admin::kVersion}});
        return;
    case Op::SaleList:
        return m_sales->list(args, std::move(reply));
    case Op::SaleGet:
        return m_sales->get(args, std::move(reply));
    case Op::SaleCreate:
        return m_sales->create(args, actor, std::move(reply));
    case Op::SalePause:
    case Op::SaleResume:
    case Op::SaleStop:
        return m_sales->changeState(request.op, args, actor, std::move(reply));
    case Op::SaleAdjust:
        return m_sales->adjust(args, actor, std::move(reply));
    case Op::ScheduleCreate:
        return m_schedules->create(args, actor, std::move(reply));
    case Op::ScheduleList:
        return m_schedules->list(args, std::move(reply));
    case Op::ScheduleCancel:
        return m_schedules->cancel(args, actor, std::move(reply));
    case Op::ReconcileRun:
        return m_reconcile->run(args, actor, std::move(reply));
    case Op::ReconcileList:
        return m_reconcile->list(args, std::move(reply));
    case Op::AuditList:
        return m_audit->list(args, std::move(reply));
    case Op::StatsSubscribe:
    case Op::StatsUnsubscribe:
        break; // the session's
    case Op::OperatorList:
        return m_operators->list(args, std::move(reply));
    case Op::OperatorCreate:
        return m_operators->create(args, who, std::move(reply));
    case Op::OperatorSetRole:
        return m_operators->setRole(args, who, std::move(reply));
    case Op::OperatorRotatePassword:
        return m_operators->rotatePassword(args, who, std::move(reply));
    case Op::OperatorDisable:
        return m_operators->disable(args, who, std::move(reply));
    // H4 merchant webhooks (issue 19)
    case Op::WebhooksList:
        return m_webhooks->list(args, std::move(reply));
    case Op::WebhooksDeadLetters:
        return m_webhooks->deadLetters(args, std::move(reply));
    case Op::WebhooksReplay:
        return m_webhooks->replay(args, actor, std::move(reply));
    // H5 (issue 19): provider reconciliation
    case Op::PaymentsReconcile:
        return m_providerReconcile->run(args, actor, std::move(reply));
    case Op::PaymentsReconcileRuns:
        return m_providerReconcile->runs(args, std::move(reply));
    case Op::NotificationFailures: // issue 19: notify
        return m_notifications->failures(args, std::move(reply));
    case Op::OrdersDeadLetters: // issue 20
        return m_deadLetters->list(args, std::move(reply));
    case Op::OrdersDeadLettersReplay:
        return m_deadLetters->replay(args, actor, std::move(reply));
    case Op::OrdersDeadLettersCancel:
        return m_deadLetters->cancel(args, actor, std::move(reply));
    case Op::SaleWaitingRoomGet: // issue 16
    case Op::SaleWaitingRoomSet:
        return waitingRoom(request.op, args, actor, std::move(reply));
    }
    reply(std::unexpected(failure(
        AdminError::Internal, QStringLiteral("%1 is not handled here").arg(opName(request.op)))));
}

void AdminService::waitingRoom(Op op, const QJsonObject &args, const QString &actor, Reply reply) {
    const auto toAnswer = [reply](const AdminWaitingRoom::Answer &a) {
        if (!a)
            return reply(std::unexpected(a.error().toAdmin()));
        reply(*a);
    };
    const qint64 saleId = qint64(args.value(QStringLiteral("sale_id")).toDouble());
    if (op == Op::SaleWaitingRoomGet) {
        FieldReader r(args, QStringLiteral("/args"));
        r.integer(QStringLiteral("sale_id"), true, 1, kMaxId);
        r.rejectUnknown();
        if (!r.ok())
            return reply(std::unexpected(invalidArgs(r.errors())));
        return m_waitingRoom->get(saleId, toAnswer);
    }
    const auto settings = AdminWaitingRoom::decodeSettings(args, QStringLiteral("/args"), true);
    if (!settings)
        return reply(std::unexpected(invalidArgs(settings.error())));
    m_waitingRoom->set(saleId, *settings, actor, QStringLiteral("ws"), toAnswer);
}

} // namespace flashsale
