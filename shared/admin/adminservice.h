#pragma once

#include "core/fieldreader.h"
#include "core/result.h"
#include "protocol/adminprotocol.h"

#include <QJsonObject>

#include <expected>
#include <functional>
#include <memory>

namespace flashsale {

class AdminAudit;
class AdminDeadLetters;   // issue 20
class AdminNotifications; // issue 19: notify
class AdminOperators;
class AdminProviderReconcile;
class AdminReconcile;
class AdminSales;
class AdminSchedules;
class AdminWaitingRoom; // issue 16
class AdminWebhooks;
class PgConnection;
class RedisCommands;
class Reconciler;
class SaleCatalog;
struct Config;
struct OperatorIdentity;

// The admin operations of docs/ADMIN_PROTOCOL.md, for one API thread: routes each request to
// the area that answers it (validation, the changes in PostgreSQL and Redis, their audit
// records) and holds what the areas share: the failures they answer with. Subscriptions are
// the session's business (AdminSession); everything else is answered here.
//
//   sale.*       AdminSales        schedule.*   AdminSchedules
//   reconcile.*  AdminReconcile    audit.list   AdminAudit       ping  here
//   operator.*   AdminOperators    webhooks.*   AdminWebhooks
//   payments.reconcile*  AdminProviderReconcile
//   orders.deadletters*  AdminDeadLetters (issue 20)
//   sale.waiting_room.*  AdminWaitingRoom (issue 16)
//
// Every request is checked against the caller's role first (Forbidden otherwise), and every
// change is audited with the caller's operator name as the actor.
//
// Owns its areas. Owned by, and called on, the thread of the connections it is given, which
// must outlive it.
class AdminService {
public:
    using Answer = std::expected<QJsonObject, admin::AdminFailure>;
    using Reply = std::function<void(const Answer &)>;

    AdminService(const Config &config, PgConnection &pg, RedisCommands &redis, SaleCatalog &catalog,
                 Reconciler &reconciler);
    ~AdminService();

    // Answers `request` from the authenticated `who` through `reply`, exactly once: Forbidden
    // when who's role may not make it; stats.subscribe and stats.unsubscribe are the session's
    // and answered Internal here.
    void handle(const admin::AdminRequest &request, const OperatorIdentity &who, Reply reply);

    // Sale objects for the session's pushes (AdminSales::loadSale).
    AdminSales &sales() { return *m_sales; }

    // The largest id an argument may name.
    static constexpr qint64 kMaxId = Q_INT64_C(999999999999999999);
    static admin::AdminFailure failure(admin::AdminError code, const QString &message,
                                       FieldErrors details = {});
    // InvalidArgs naming each invalid argument (its JSON pointer under /args) in details.
    static admin::AdminFailure invalidArgs(const FieldErrors &errors);
    // The failure for a dependency error (Redis, PostgreSQL): Unavailable for unreachable or
    // slow, Internal (logged) for a defect.
    static admin::AdminFailure dependencyFailure(const Error &error);
    // A jsonb column's text as JSON (an object or array), null for SQL NULL or anything else.
    static QJsonValue jsonColumn(const QByteArray &text);

private:
    // sale.waiting_room.get / .set: the arguments checked here, the work AdminWaitingRoom's.
    void waitingRoom(admin::Op op, const QJsonObject &args, const QString &actor, Reply reply);

    std::unique_ptr<AdminSales> m_sales;
    std::unique_ptr<AdminSchedules> m_schedules;
    std::unique_ptr<AdminReconcile> m_reconcile;
    std::unique_ptr<AdminAudit> m_audit;
    std::unique_ptr<AdminOperators> m_operators;
    std::unique_ptr<AdminWebhooks> m_webhooks;
    std::unique_ptr<AdminProviderReconcile> m_providerReconcile; // H5, issue 19
    std::unique_ptr<AdminNotifications> m_notifications;         // issue 19: notify
    std::unique_ptr<AdminDeadLetters> m_deadLetters;             // issue 20
    std::unique_ptr<AdminWaitingRoom> m_waitingRoom;             // issue 16
};

} // namespace flashsale
