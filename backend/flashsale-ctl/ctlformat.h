#pragma once

#include "protocol/adminprotocol.h"

#include <QJsonObject>
#include <QList>
#include <QString>

// How flashsale-ctl shows results to a person: pure functions from the protocol's JSON to text
// (aligned tables, key/value blocks), each line ending in '\n'. Missing members show as "-".
namespace flashsale::ctl {

// "error: not-found: No sale 12.\n  /args/sale_id: no such sale\n"
QString formatFailure(const admin::AdminFailure &failure);

// One JSON document on one line (with '\n'), for --json.
QString formatJsonLine(const QJsonObject &object);

// A cell: strings as they are, integers without ".0", null/absent as "-", objects and arrays
// as compact JSON.
QString formatCell(const QJsonValue &value);
// An RFC 3339 time shortened for a table: "2026-11-21 12:00:00Z" (milliseconds dropped).
QString formatTime(const QJsonValue &value);

QString formatSales(const QJsonArray &sales);         // sale.list
QString formatSaleDetail(const QJsonObject &sale);    // sale.get: fields, then the items
QString formatAdjust(const QJsonObject &result);      // sale.adjust
QString formatSchedules(const QJsonArray &schedules); // schedule.list, .create, .cancel
QString formatStats(const QJsonObject &stats);        // one stats event
QString formatReconcile(const QJsonObject &report);   // reconcile.run: checks and repairs
QString formatReconcileRuns(const QJsonArray &runs);  // reconcile.list
// H5 (issue 19): payments.reconcile (checks, findings, repairs) and payments.reconcile.runs
QString formatProviderReconcile(const QJsonObject &report);
QString formatProviderReconcileRuns(const QJsonArray &runs);
QString formatAudit(const QJsonArray &entries);       // audit.list
QString formatOperators(const QJsonArray &operators); // operator.list and the other operator.*
// H4 merchant webhooks (issue 19)
QString formatWebhookEndpoints(const QJsonArray &endpoints); // webhooks.list
QString formatDeadLetters(const QJsonObject &page);          // webhooks.deadletters
QString formatReplay(const QJsonObject &result);             // webhooks.replay
// issue 20: the order streams' dead letters
QString formatOrderDeadLetters(const QJsonArray &letters);  // orders.deadletters
QString formatDeadLetterOutcome(const QJsonObject &result); // orders.deadletters.replay/cancel
// issue 16: sale.waiting_room.get (a view), and sale.waiting_room.set's answer (what changed,
// then the view when the sale is in Redis).
QString formatWaitingRoom(const QJsonObject &view);
QString formatWaitingRoomSet(qint64 saleId, const QJsonObject &result);
// A duration for people: "45s", "3m 05s", "2h 10m"; "-" for null.
QString formatSeconds(const QJsonValue &seconds);
// notifications.failures (issue 19: notify): the counts, then the failures.
QString formatNotificationFailures(const QJsonObject &result);

// ping: round trips in ms (any order), the clock skew and the server's version.
QString formatPing(const QString &url, QList<double> roundTripsMs, qint64 skewMs,
                   const QString &version);
QJsonObject pingSummary(QList<double> roundTripsMs, qint64 skewMs, const QString &version);
// The q-quantile (0..1) of `values` by nearest rank; 0 for an empty list.
double quantile(QList<double> values, double q);

} // namespace flashsale::ctl
