#include "adminprotocol.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonParseError>

#include <cmath>
#include <utility>

namespace flashsale::admin {

namespace {

struct OpEntry {
    Op op;
    const char *name;
    bool mutates;
    Role minimum;
};
constexpr OpEntry kOps[] = {
    {Op::Ping, "ping", false, Role::Viewer},
    {Op::SaleList, "sale.list", false, Role::Viewer},
    {Op::SaleGet, "sale.get", false, Role::Viewer},
    {Op::SaleCreate, "sale.create", true, Role::Merchandiser},
    {Op::SalePause, "sale.pause", true, Role::Merchandiser},
    {Op::SaleResume, "sale.resume", true, Role::Merchandiser},
    {Op::SaleStop, "sale.stop", true, Role::Admin},
    {Op::SaleAdjust, "sale.adjust", true, Role::Merchandiser},
    {Op::ScheduleCreate, "schedule.create", true, Role::Merchandiser},
    {Op::ScheduleList, "schedule.list", false, Role::Viewer},
    {Op::ScheduleCancel, "schedule.cancel", true, Role::Merchandiser},
    {Op::StatsSubscribe, "stats.subscribe", false, Role::Viewer},
    {Op::StatsUnsubscribe, "stats.unsubscribe", false, Role::Viewer},
    {Op::ReconcileRun, "reconcile.run", true, Role::Merchandiser},
    {Op::ReconcileList, "reconcile.list", false, Role::Viewer},
    {Op::AuditList, "audit.list", false, Role::Viewer},
    {Op::OperatorList, "operator.list", false, Role::Admin},
    {Op::OperatorCreate, "operator.create", true, Role::Admin},
    {Op::OperatorSetRole, "operator.set-role", true, Role::Admin},
    {Op::OperatorRotatePassword, "operator.rotate-password", true, Role::Admin},
    {Op::OperatorDisable, "operator.disable", true, Role::Admin},
    // H4 merchant webhooks (issue 19): a replay re-sends to a merchant, as a repair does.
    {Op::WebhooksList, "webhooks.list", false, Role::Viewer},
    {Op::WebhooksDeadLetters, "webhooks.deadletters", false, Role::Viewer},
    {Op::WebhooksReplay, "webhooks.replay", true, Role::Admin},
    // H5 (issue 19): provider reconciliation
    {Op::PaymentsReconcile, "payments.reconcile", true, Role::Merchandiser},
    {Op::PaymentsReconcileRuns, "payments.reconcile.runs", false, Role::Viewer},
    {Op::NotificationFailures, "notifications.failures", false, Role::Merchandiser}, // issue 19
    // issue 20: a replay writes an order the worker refused once (after a fix), as a repair
    // does; a cancel ends one buyer's order, as a merchandiser may.
    {Op::OrdersDeadLetters, "orders.deadletters", false, Role::Viewer},
    {Op::OrdersDeadLettersReplay, "orders.deadletters.replay", true, Role::Admin},
    {Op::OrdersDeadLettersCancel, "orders.deadletters.cancel", true, Role::Merchandiser},
    // issue 16: pausing admission or changing its rate, as a merchandiser pauses a sale.
    {Op::SaleWaitingRoomGet, "sale.waiting_room.get", false, Role::Viewer},
    {Op::SaleWaitingRoomSet, "sale.waiting_room.set", true, Role::Merchandiser},
};

constexpr std::pair<Role, const char *> kRoles[] = {
    {Role::Viewer, "viewer"},
    {Role::Merchandiser, "merchandiser"},
    {Role::Admin, "admin"},
};

struct ErrorEntry {
    AdminError code;
    const char *name;
};
constexpr ErrorEntry kErrors[] = {
    {AdminError::BadJson, "bad-json"},
    {AdminError::BadMessage, "bad-message"},
    {AdminError::UnsupportedVersion, "unsupported-version"},
    {AdminError::UnknownOp, "unknown-op"},
    {AdminError::InvalidArgs, "invalid-args"},
    {AdminError::NotFound, "not-found"},
    {AdminError::Conflict, "conflict"},
    {AdminError::MessageTooLarge, "message-too-large"},
    {AdminError::Unavailable, "unavailable"},
    {AdminError::Internal, "internal"},
    {AdminError::Unauthorized, "unauthorized"},
    {AdminError::Forbidden, "forbidden"},
    {AdminError::TooManyLoginAttempts, "too-many-login-attempts"},
    {AdminError::Timeout, "timeout"},
    {AdminError::Disconnected, "disconnected"},
};

bool validId(const QString &id) {
    if (id.isEmpty() || id.size() > kMaxIdLength)
        return false;
    for (QChar c : id)
        if (c.unicode() < 0x21 || c.unicode() > 0x7e)
            return false;
    return true;
}

QByteArray compact(const QJsonObject &o) {
    return QJsonDocument(o).toJson(QJsonDocument::Compact);
}

DecodeFailure failed(const QString &id, AdminError code, const QString &message,
                     FieldErrors details = {}) {
    return DecodeFailure{id, AdminFailure{code, message, std::move(details)}};
}

} // namespace

QString opName(Op op) {
    for (const OpEntry &e : kOps)
        if (e.op == op)
            return QString::fromLatin1(e.name);
    return {};
}

std::optional<Op> opFromName(const QString &name) {
    for (const OpEntry &e : kOps)
        if (name == QLatin1String(e.name))
            return e.op;
    return std::nullopt;
}

QStringList opNames() {
    QStringList out;
    for (const OpEntry &e : kOps)
        out << QString::fromLatin1(e.name);
    return out;
}

bool opMutates(Op op) {
    for (const OpEntry &e : kOps)
        if (e.op == op)
            return e.mutates;
    return false;
}

Role minimumRole(Op op) {
    for (const OpEntry &e : kOps)
        if (e.op == op)
            return e.minimum;
    return Role::Admin;
}

QString roleName(Role role) {
    for (const auto &[r, name] : kRoles)
        if (r == role)
            return QString::fromLatin1(name);
    return {};
}

std::optional<Role> roleFromName(const QString &name) {
    for (const auto &[r, n] : kRoles)
        if (name == QLatin1String(n))
            return r;
    return std::nullopt;
}

QStringList allowedOpNames(Role role) {
    QStringList out;
    for (const OpEntry &e : kOps)
        if (int(role) >= int(e.minimum))
            out << QString::fromLatin1(e.name);
    return out;
}

QString errorName(AdminError code) {
    for (const ErrorEntry &e : kErrors)
        if (e.code == code)
            return QString::fromLatin1(e.name);
    return QStringLiteral("internal");
}

AdminError errorFromName(const QString &name) {
    for (const ErrorEntry &e : kErrors)
        if (name == QLatin1String(e.name))
            return e.code;
    return AdminError::Internal;
}

QJsonObject AdminFailure::toJson() const {
    QJsonObject o{{QStringLiteral("code"), errorName(code)}, {QStringLiteral("message"), message}};
    if (!details.isEmpty()) {
        QJsonArray arr;
        for (const FieldError &d : details)
            arr.append(QJsonObject{{QStringLiteral("pointer"), d.pointer},
                                   {QStringLiteral("detail"), d.detail}});
        o.insert(QStringLiteral("details"), arr);
    }
    return o;
}

AdminFailure AdminFailure::fromJson(const QJsonObject &o) {
    AdminFailure f;
    f.code = errorFromName(o.value(QStringLiteral("code")).toString());
    f.message = o.value(QStringLiteral("message")).toString();
    for (const QJsonValue &d : o.value(QStringLiteral("details")).toArray())
        f.details.append(FieldError{d.toObject().value(QStringLiteral("pointer")).toString(),
                                    d.toObject().value(QStringLiteral("detail")).toString()});
    return f;
}

std::expected<AdminRequest, DecodeFailure> decodeRequest(const QByteArray &text) {
    QJsonParseError error;
    const QJsonDocument doc = QJsonDocument::fromJson(text, &error);
    if (error.error != QJsonParseError::NoError)
        return std::unexpected(failed({}, AdminError::BadJson,
                                      QStringLiteral("Not JSON: %1 at offset %2.")
                                          .arg(error.errorString())
                                          .arg(error.offset)));
    if (!doc.isObject())
        return std::unexpected(
            failed({}, AdminError::BadJson, QStringLiteral("A message is one JSON object.")));
    const QJsonObject o = doc.object();

    // The id first, so that every later error can be matched by the client.
    QString id;
    const QJsonValue idValue = o.value(QStringLiteral("id"));
    if (idValue.isString() && validId(idValue.toString()))
        id = idValue.toString();
    else
        return std::unexpected(
            failed({}, AdminError::BadMessage,
                   QStringLiteral("\"id\" must be a string of 1 to %1 printable ASCII characters.")
                       .arg(kMaxIdLength),
                   {{QStringLiteral("/id"), QStringLiteral("missing or invalid")}}));

    const QJsonValue v = o.value(QStringLiteral("v"));
    if (!v.isDouble() || v.toDouble() != double(v.toInt()))
        return std::unexpected(
            failed(id, AdminError::BadMessage,
                   QStringLiteral("\"v\" must be the protocol version, %1.").arg(kVersion),
                   {{QStringLiteral("/v"), QStringLiteral("must be an integer")}}));
    if (v.toInt() != kVersion)
        return std::unexpected(failed(id, AdminError::UnsupportedVersion,
                                      QStringLiteral("Protocol version %1 is not supported; this "
                                                     "server speaks version %2.")
                                          .arg(v.toInt())
                                          .arg(kVersion)));

    const QJsonValue opValue = o.value(QStringLiteral("op"));
    if (!opValue.isString())
        return std::unexpected(
            failed(id, AdminError::BadMessage, QStringLiteral("\"op\" must be a string."),
                   {{QStringLiteral("/op"), QStringLiteral("must be a string")}}));
    const std::optional<Op> op = opFromName(opValue.toString());
    if (!op)
        return std::unexpected(
            failed(id, AdminError::UnknownOp,
                   QStringLiteral("Unknown operation \"%1\". Known: %2.")
                       .arg(opValue.toString().left(64), opNames().join(QStringLiteral(", ")))));

    const QJsonValue args = o.value(QStringLiteral("args"));
    if (!args.isUndefined() && !args.isNull() && !args.isObject())
        return std::unexpected(
            failed(id, AdminError::BadMessage, QStringLiteral("\"args\" must be an object."),
                   {{QStringLiteral("/args"), QStringLiteral("must be an object")}}));
    for (auto it = o.constBegin(); it != o.constEnd(); ++it) {
        static const QStringList known{QStringLiteral("v"), QStringLiteral("id"),
                                       QStringLiteral("op"), QStringLiteral("args")};
        if (!known.contains(it.key()))
            return std::unexpected(
                failed(id, AdminError::BadMessage,
                       QStringLiteral("Unknown member \"%1\".").arg(it.key().left(64)),
                       {{QLatin1Char('/') + it.key().left(64), QStringLiteral("unknown member")}}));
    }
    return AdminRequest{id, *op, args.toObject()};
}

QByteArray encodeResult(const QString &id, const QJsonObject &result) {
    return compact(QJsonObject{{QStringLiteral("v"), kVersion},
                               {QStringLiteral("id"), id},
                               {QStringLiteral("ok"), true},
                               {QStringLiteral("result"), result}});
}

QByteArray encodeFailure(const QString &id, const AdminFailure &failure) {
    return compact(QJsonObject{{QStringLiteral("v"), kVersion},
                               {QStringLiteral("id"), id.isEmpty() ? QJsonValue() : QJsonValue(id)},
                               {QStringLiteral("ok"), false},
                               {QStringLiteral("error"), failure.toJson()}});
}

QByteArray encodeEvent(const QString &event, const QJsonObject &data) {
    return compact(QJsonObject{{QStringLiteral("v"), kVersion},
                               {QStringLiteral("event"), event},
                               {QStringLiteral("data"), data}});
}

QByteArray encodeRequest(const QString &id, Op op, const QJsonObject &args) {
    return compact(QJsonObject{{QStringLiteral("v"), kVersion},
                               {QStringLiteral("id"), id},
                               {QStringLiteral("op"), opName(op)},
                               {QStringLiteral("args"), args}});
}

std::expected<ServerMessage, QString> decodeServerMessage(const QByteArray &text) {
    QJsonParseError error;
    const QJsonDocument doc = QJsonDocument::fromJson(text, &error);
    if (error.error != QJsonParseError::NoError || !doc.isObject())
        return std::unexpected(
            QStringLiteral("the server sent something that is not a JSON object"));
    const QJsonObject o = doc.object();
    if (o.value(QStringLiteral("v")).toInt() != kVersion)
        return std::unexpected(QStringLiteral("the server speaks protocol version %1, not %2")
                                   .arg(o.value(QStringLiteral("v")).toInt())
                                   .arg(kVersion));
    ServerMessage m;
    if (o.contains(QStringLiteral("event"))) {
        m.kind = ServerMessage::Kind::Event;
        m.event = o.value(QStringLiteral("event")).toString();
        m.data = o.value(QStringLiteral("data")).toObject();
        return m;
    }
    m.id = o.value(QStringLiteral("id")).toString();
    if (o.value(QStringLiteral("ok")).toBool()) {
        m.kind = ServerMessage::Kind::Result;
        m.result = o.value(QStringLiteral("result")).toObject();
    } else {
        m.kind = ServerMessage::Kind::Failure;
        m.failure = AdminFailure::fromJson(o.value(QStringLiteral("error")).toObject());
    }
    return m;
}

bool isStreamEntryId(const QString &id) {
    const qsizetype dash = id.indexOf(QLatin1Char('-'));
    if (dash <= 0 || dash == id.size() - 1 || id.size() > 41)
        return false;
    for (qsizetype i = 0; i < id.size(); ++i)
        if (i != dash && !id[i].isDigit())
            return false;
    return id.indexOf(QLatin1Char('-'), dash + 1) < 0;
}

namespace {

const QString kSaleId = QStringLiteral("sale_id");
const QString kEntryId = QStringLiteral("entry_id");

std::optional<QString> readEntryId(FieldReader &r) {
    const auto id =
        r.string(kEntryId, true, 3, 41, QStringLiteral("0123456789-"), QStringLiteral("0-9 -"));
    if (id && !isStreamEntryId(*id)) {
        r.addError(kEntryId, QStringLiteral("must be a stream entry id like 1733300000000-0"));
        return std::nullopt;
    }
    return id;
}

constexpr qint64 kMaxSaleId = Q_INT64_C(999999999999999999);

} // namespace

std::expected<DeadLetterListArgs, FieldErrors> decodeDeadLetterListArgs(const QJsonObject &args) {
    FieldReader r(args, QStringLiteral("/args"));
    DeadLetterListArgs out;
    out.saleId = r.integer(kSaleId, false, 1, kMaxSaleId);
    out.includeResolved = r.boolean(QStringLiteral("include_resolved"), false).value_or(false);
    r.rejectUnknown();
    if (!r.ok())
        return std::unexpected(r.errors());
    return out;
}

std::expected<DeadLetterReplayArgs, FieldErrors>
decodeDeadLetterReplayArgs(const QJsonObject &args) {
    FieldReader r(args, QStringLiteral("/args"));
    const auto sale = r.integer(kSaleId, true, 1, kMaxSaleId);
    const auto entry = readEntryId(r);
    r.rejectUnknown();
    if (!r.ok())
        return std::unexpected(r.errors());
    return DeadLetterReplayArgs{*sale, *entry};
}

std::expected<DeadLetterCancelArgs, FieldErrors>
decodeDeadLetterCancelArgs(const QJsonObject &args) {
    FieldReader r(args, QStringLiteral("/args"));
    const auto sale = r.integer(kSaleId, true, 1, kMaxSaleId);
    const auto entry = readEntryId(r);
    const auto notify = r.boolean(QStringLiteral("notify"), false);
    r.rejectUnknown();
    if (!r.ok())
        return std::unexpected(r.errors());
    return DeadLetterCancelArgs{*sale, *entry, notify.value_or(true)};
}

QJsonObject encodeArgs(const DeadLetterListArgs &args) {
    QJsonObject o;
    if (args.saleId)
        o.insert(kSaleId, double(*args.saleId));
    if (args.includeResolved)
        o.insert(QStringLiteral("include_resolved"), true);
    return o;
}

QJsonObject encodeArgs(const DeadLetterReplayArgs &args) {
    return QJsonObject{{kSaleId, double(args.saleId)}, {kEntryId, args.entryId}};
}

QJsonObject encodeArgs(const DeadLetterCancelArgs &args) {
    return QJsonObject{{kSaleId, double(args.saleId)},
                       {kEntryId, args.entryId},
                       {QStringLiteral("notify"), args.notify}};
}

std::expected<QUrl, QString> resolveAdminUrl(const QString &text) {
    QUrl url(text.trimmed(), QUrl::StrictMode);
    const QString scheme = url.scheme().toLower();
    if (!url.isValid() || url.host().isEmpty())
        return std::unexpected(
            QStringLiteral("\"%1\" is not a URL like ws://host:port/admin/v1/ws").arg(text));
    if (scheme == QLatin1String("ws") || scheme == QLatin1String("wss")) {
        if (url.path().isEmpty() || url.path() == QLatin1String("/"))
            url.setPath(QLatin1String(kAdminPath));
        return url;
    }
    if (scheme == QLatin1String("http") || scheme == QLatin1String("https")) {
        QUrl ws;
        ws.setScheme(scheme == QLatin1String("https") ? QStringLiteral("wss")
                                                      : QStringLiteral("ws"));
        ws.setHost(url.host());
        ws.setPort(url.port());
        ws.setPath(QLatin1String(kAdminPath));
        return ws;
    }
    return std::unexpected(
        QStringLiteral("\"%1\": the URL must start with ws://, wss://, http:// or https://")
            .arg(text));
}

QString displayValue(const QJsonValue &value) {
    switch (value.type()) {
    case QJsonValue::Null:
    case QJsonValue::Undefined:
        return QStringLiteral("-");
    case QJsonValue::Bool:
        return value.toBool() ? QStringLiteral("yes") : QStringLiteral("no");
    case QJsonValue::Double: {
        const double d = value.toDouble();
        if (d == std::floor(d) && std::abs(d) < 9.0e15)
            return QString::number(qint64(d));
        return QString::number(d, 'g', 6);
    }
    case QJsonValue::String:
        return value.toString();
    case QJsonValue::Array:
        return QString::fromUtf8(QJsonDocument(value.toArray()).toJson(QJsonDocument::Compact));
    case QJsonValue::Object:
        return QString::fromUtf8(QJsonDocument(value.toObject()).toJson(QJsonDocument::Compact));
    }
    return {};
}

QString describeChange(const QJsonValue &before, const QJsonValue &after, const QString &arrow) {
    const auto absent = [](const QJsonValue &v) { return v.isNull() || v.isUndefined(); };
    if (before.isObject() && after.isObject()) {
        const QJsonObject b = before.toObject();
        const QJsonObject a = after.toObject();
        QStringList keys = b.keys();
        for (const QString &k : a.keys())
            if (!keys.contains(k))
                keys << k;
        QStringList changes;
        for (const QString &k : keys)
            if (b.value(k) != a.value(k))
                changes << QStringLiteral("%1: %2 %3 %4")
                               .arg(k, displayValue(b.value(k)), arrow, displayValue(a.value(k)));
        return changes.join(QStringLiteral(", "));
    }
    // A creation records the whole new object; its name says enough in a table.
    if (absent(before) && after.isObject()) {
        const QJsonValue name = after.toObject().value(QStringLiteral("name"));
        return name.isString() ? QStringLiteral("created \"%1\"").arg(name.toString())
                               : QStringLiteral("created");
    }
    if (absent(before))
        return absent(after) ? QString() : displayValue(after);
    return displayValue(before) + QLatin1Char(' ') + arrow + QLatin1Char(' ') + displayValue(after);
}

} // namespace flashsale::admin
