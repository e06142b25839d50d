#pragma once

#include "admin/adminservice.h"

#include <QJsonObject>

namespace flashsale {

class PgConnection;
struct Config;

// The schedule.* operations of docs/ADMIN_PROTOCOL.md: create, list and cancel recurring sales
// (the scheduler creates their occurrences), each change audited.
//
// Owned by AdminService; called on the thread of the connection it is given, which must
// outlive it. Every Reply runs exactly once.
class AdminSchedules {
public:
    using Reply = AdminService::Reply;

    AdminSchedules(const Config &config, PgConnection &pg);

    void create(const QJsonObject &args, const QString &actor, Reply reply);
    void list(const QJsonObject &args, Reply reply);
    void cancel(const QJsonObject &args, const QString &actor, Reply reply);

private:
    const Config &m_config;
    PgConnection &m_pg;
};

} // namespace flashsale
