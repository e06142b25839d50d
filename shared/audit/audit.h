#pragma once

#include "core/result.h"

#include <QJsonObject>
#include <QJsonValue>
#include <QString>

#include <functional>

namespace flashsale {

class PgConnection;

// One row of audit_log: who changed what, when, and the state before and after.
struct AuditRecord {
    QString actor;  // "admin@127.0.0.1 (alice)", "scheduler@host-1234"
    QString action; // "sale.pause", "sale.adjust", "reconcile.repair", "schedule.occurrence", ...
    qint64 saleId = 0; // 0 = not about one sale
    QJsonValue before;
    QJsonValue after;
    QJsonObject detail;
};

// Inserts the record; `done` (optional) gets the new row's id.
void writeAudit(PgConnection &pg, const AuditRecord &record,
                std::function<void(const Result<qint64> &)> done = {});

} // namespace flashsale
