#pragma once

#include "core/fieldreader.h"

#include <QByteArray>
#include <QJsonObject>
#include <QJsonValue>
#include <QList>
#include <QString>
#include <QStringList>
#include <QUrl>

#include <expected>
#include <optional>

// The admin WebSocket protocol (/admin/v1/ws), defined once for the backend, flashsale-ctl and
// the console. docs/ADMIN_PROTOCOL.md describes every operation's arguments and results.
//
// Every message is one JSON object in one text frame, and carries "v": the protocol version.
//   client -> server   {"v":1, "id":"r7", "op":"sale.pause", "args":{"sale_id":12}}
//   server -> client   {"v":1, "id":"r7", "ok":true,  "result":{...}}
//                      {"v":1, "id":"r7", "ok":false, "error":{"code":"not-found",
//                                                     "message":"...", "details":[...]}}
//                      {"v":1, "event":"stats", "data":{...}}      (pushed, no id)
// A request id is 1..64 printable ASCII characters chosen by the client; the answer carries it
// back. A message that cannot be read far enough to find its id is answered with "id": null.
namespace flashsale::admin {

inline constexpr int kVersion = 1;
inline constexpr char kAdminPath[] = "/admin/v1/ws";

// The admin WebSocket URL from what a user typed: a ws:// or wss:// URL as it is (with
// /admin/v1/ws added when it has no path); an http(s):// API base URL mapped to
// ws(s)://host:port/admin/v1/ws. Fails with a sentence for the user on other schemes or a URL
// without a host. Shared by flashsale-ctl and the console.
[[nodiscard]] std::expected<QUrl, QString> resolveAdminUrl(const QString &text);

// A JSON value as one table cell: "-" for null, yes/no, integers without a decimal point,
// arrays and objects as compact JSON.
QString displayValue(const QJsonValue &value);

// An audit entry's change in one line: "state: active -> paused" (only the members that
// changed, when both sides are objects), 'created "Name"' for a creation, else
// "before -> after". `arrow` separates old from new.
QString describeChange(const QJsonValue &before, const QJsonValue &after,
                       const QString &arrow = QStringLiteral("->"));
inline constexpr qsizetype kMaxIdLength = 64;

enum class Op {
    Ping,             // {} -> {server_time_ms, version}
    SaleList,         // {state?, limit?} -> {sales:[...]}
    SaleGet,          // {sale_id} -> {sale}
    SaleCreate,       // a sale spec (one-off; a future start is warmed by the scheduler)
    SalePause,        // {sale_id} -> {sale}
    SaleResume,       // {sale_id} -> {sale}
    SaleStop,         // {sale_id} -> {sale}
    SaleAdjust,       // {sale_id, item_id?, delta} -> {item_id, stock_before, stock_after, ...}
    ScheduleCreate,   // a recurring schedule -> {schedule}
    ScheduleList,     // {} -> {schedules:[...]}
    ScheduleCancel,   // {schedule_id} -> {schedule}
    StatsSubscribe,   // {sale_id} -> {subscribed}; then "stats" events
    StatsUnsubscribe, // {sale_id?} -> {}
    ReconcileRun,     // {sale_id, repair?} -> the report
    ReconcileList,    // {sale_id?, limit?} -> {runs:[...]}
    AuditList,        // {sale_id?, before_id?, limit?} -> {entries:[...]}
    OperatorList,     // {} -> {operators:[{name, role, created_at, password_changed_at,
                      //                    disabled_at}]}
    OperatorCreate,   // {name, role, password} -> {operator} (the password is never echoed)
    OperatorSetRole,  // {name, role} -> {operator}
    OperatorRotatePassword, // {name, password} -> {operator}
    OperatorDisable,        // {name} -> {operator}
    // H4 merchant webhooks (issue 19)
    WebhooksList,        // {} -> {endpoints:[{id, url, events, configured, pending, delivered,
                         //                    dead, last_delivered_at}]}
    WebhooksDeadLetters, // {endpoint_id?, before_id?, limit?} -> {dead_letters, next_before_id}
    WebhooksReplay,      // {delivery_id} or {endpoint_id} -> {replayed, delivery_ids, audit_id}
    // H5 (issue 19): provider reconciliation
    PaymentsReconcile,     // {repair?} -> the report (repair needs Admin, like reconcile.run)
    PaymentsReconcileRuns, // {limit?} -> {runs:[...]}
    // issue 19: notify.
    NotificationFailures, // {limit?} -> {failures:[{event_id, order_id, user_id, kind,
                          //   failed_at, failure}], total, unsent}
    // issue 20: the order streams' dead letters (fs:{sale:ID}:dead), resolved by hand.
    OrdersDeadLetters,       // {sale_id?, include_resolved?} -> {deadletters:[{sale_id,
                             //   entry_id, user_id, qty, reason, at, age_s, resolution}]}
                             //   resolution: null | {action, operator, at, outcome}
    OrdersDeadLettersReplay, // {sale_id, entry_id} -> {entry_id, outcome: replayed|refused,
                             //   reason?}
    OrdersDeadLettersCancel, // {sale_id, entry_id, notify?} -> {entry_id, outcome: cancelled}
    // issue 16: operating a sale's waiting room (shared/admin/adminwaitingroom.h).
    SaleWaitingRoomGet, // {sale_id} -> {waiting_room: view}
    SaleWaitingRoomSet, // {sale_id, paused?, admit_per_minute?} -> {waiting_room: view|null,
                        //   audit_id}
};
QString opName(Op op);
std::optional<Op> opFromName(const QString &name);
QStringList opNames();
// Whether the operation changes anything (and so writes an audit record).
bool opMutates(Op op);

// An operator's role. Each role may do what the one before it may, and more:
//   viewer        reads: ping, sale.list/get, schedule.list, stats.*, reconcile.list, audit.list,
//                 webhooks.list/deadletters, orders.deadletters, sale.waiting_room.get
//   merchandiser  + sale.create/pause/resume/adjust, sale.waiting_room.set,
//                   schedule.create/cancel, the HTTP warm route,
//                   reconcile.run without repair (a dry run), notifications.failures,
//                   orders.deadletters.cancel (cancel-and-notify a buyer's dead letter)
//   admin         + sale.stop, reconcile.run with repair, operator.*, webhooks.replay,
//                   orders.deadletters.replay
// The server enforces this (an op the role may not call answers Forbidden); clients learn it
// from the hello's "allowed_ops" and need not know this table.
enum class Role { Viewer, Merchandiser, Admin };
QString roleName(Role role); // "viewer", "merchandiser", "admin"
std::optional<Role> roleFromName(const QString &name);
// The least role that may call `op` (reconcile.run with repair needs Admin: checked by the
// server on the arguments, not here).
Role minimumRole(Op op);
inline bool roleAllows(Role role, Op op) {
    return int(role) >= int(minimumRole(op));
}
QStringList allowedOpNames(Role role);

enum class AdminError {
    BadJson,              // not JSON, or not a JSON object
    BadMessage,           // a JSON object, but not a request: missing or mistyped v, id, op, args
    UnsupportedVersion,   // "v" is not kVersion
    UnknownOp,            // "op" names no operation
    InvalidArgs,          // "args" fail validation; details name each field by JSON pointer
    NotFound,             // the sale, item or schedule does not exist
    Conflict,             // not possible in the current state (stopped sale, too little stock)
    MessageTooLarge,      // the frame exceeds the server's limit
    Unavailable,          // Redis or PostgreSQL cannot be reached; retry later
    Internal,             // a bug; the server logs it
    Unauthorized,         // the login was refused (unknown operator, wrong password, disabled)
    Forbidden,            // the operator's role may not call this operation
    TooManyLoginAttempts, // too many failed logins from this address; retry after a minute
    Timeout,              // client side: no answer in time
    Disconnected,         // client side: the link dropped before the answer
};
QString errorName(AdminError code);
AdminError errorFromName(const QString &name); // unknown names read as Internal

struct AdminFailure {
    AdminError code = AdminError::Internal;
    QString message;
    FieldErrors details;

    QJsonObject toJson() const;
    static AdminFailure fromJson(const QJsonObject &o);
};

struct AdminRequest {
    QString id;
    Op op = Op::Ping;
    QJsonObject args;
};

// Server side. On failure, `id` is the request id when the message got far enough to carry a
// valid one (so the client can match the error), else empty (sent as null).
struct DecodeFailure {
    QString id;
    AdminFailure failure;
};
[[nodiscard]] std::expected<AdminRequest, DecodeFailure> decodeRequest(const QByteArray &text);
QByteArray encodeResult(const QString &id, const QJsonObject &result);
QByteArray encodeFailure(const QString &id, const AdminFailure &failure);
QByteArray encodeEvent(const QString &event, const QJsonObject &data);

// Client side.
QByteArray encodeRequest(const QString &id, Op op, const QJsonObject &args);
struct ServerMessage {
    enum class Kind { Result, Failure, Event };
    Kind kind = Kind::Result;
    QString id; // Result and Failure
    QJsonObject result;
    AdminFailure failure;
    QString event; // Event
    QJsonObject data;
};
[[nodiscard]] std::expected<ServerMessage, QString> decodeServerMessage(const QByteArray &text);

// Arguments of the orders.deadletters ops (issue 20), decoded in one place for the server,
// flashsale-ctl and the console. A decoder collects every problem (pointers under /args).
// An entry id is a Redis stream id: "<ms>-<seq>", both decimal.
struct DeadLetterListArgs {
    std::optional<qint64> saleId; // all sales when absent
    bool includeResolved = false; // resolved entries too (with their resolution)
};
struct DeadLetterReplayArgs {
    qint64 saleId = 0;
    QString entryId;
};
struct DeadLetterCancelArgs {
    qint64 saleId = 0;
    QString entryId;
    bool notify = true; // send the buyer the cancellation notification (default true)
};
bool isStreamEntryId(const QString &id);
[[nodiscard]] std::expected<DeadLetterListArgs, FieldErrors>
decodeDeadLetterListArgs(const QJsonObject &args);
[[nodiscard]] std::expected<DeadLetterReplayArgs, FieldErrors>
decodeDeadLetterReplayArgs(const QJsonObject &args);
[[nodiscard]] std::expected<DeadLetterCancelArgs, FieldErrors>
decodeDeadLetterCancelArgs(const QJsonObject &args);
QJsonObject encodeArgs(const DeadLetterListArgs &args);
QJsonObject encodeArgs(const DeadLetterReplayArgs &args);
QJsonObject encodeArgs(const DeadLetterCancelArgs &args);
// Values of "outcome" and of a resolution's "action".
inline constexpr char kDeadLetterReplayed[] = "replayed";
inline constexpr char kDeadLetterRefused[] = "refused";
inline constexpr char kDeadLetterCancelled[] = "cancelled";

// Pushed events.
// "hello" is sent once the login succeeded, before any answer: server_time_ms, version, ops,
// operator {name, role}, allowed_ops [op names the role may call], max_message_bytes.
inline constexpr char kEventHello[] = "hello";
inline constexpr char kEventStats[] = "stats";         // a subscribed sale's live stats
inline constexpr char kEventReconcile[] = "reconcile"; // a finished reconciliation run
inline constexpr char kEventSale[] = "sale";           // a sale changed (state, stock)
inline constexpr char kEventAudit[] = "audit";         // a new audit record

} // namespace flashsale::admin
