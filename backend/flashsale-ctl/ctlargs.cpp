#include "ctlargs.h"

#include <QCommandLineParser>
#include <QDateTime>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QRandomGenerator>
#include <QRegularExpression>

#include <optional>

namespace flashsale::ctl {

using admin::Op;

namespace {

struct OptionSpec {
    QString name;
    QString value; // empty: a flag
    QString help;
};

struct CommandSpec {
    QString words; // "sale create"
    Op op;
    QString operands; // "ID", "[ID]" or empty
    QString summary;
    QList<OptionSpec> options;
    bool local = false; // run here, not sent to the admin endpoint (Invocation::local)
};

const QList<OptionSpec> &globalOptions() {
    static const QList<OptionSpec> options{
        {QStringLiteral("url"), QStringLiteral("URL"),
         QStringLiteral("admin WebSocket URL (ws://host:port/admin/v1/ws), or an http:// API base "
                        "URL; default $FLASHSALE_ADMIN_URL, else $FLASHSALE_API_URL, else %1")
             .arg(QLatin1String(kDefaultAdminUrl))},
        {QStringLiteral("operator"), QStringLiteral("NAME"),
         QStringLiteral("log in as this operator; default $FLASHSALE_OPERATOR. Without one, the "
                        "bootstrap token $FLASHSALE_ADMIN_TOKEN is used")},
        {QStringLiteral("password-file"), QStringLiteral("FILE"),
         QStringLiteral("the operator's password: the file's first line (- reads stdin); default "
                        "$FLASHSALE_OPERATOR_PASSWORD. Never given on the command line")},
        {QStringLiteral("ca-file"), QStringLiteral("FILE"),
         QStringLiteral("PEM CA certificates trusted for wss:// besides the system ones (the "
                        "local stack's CA); default $FLASHSALE_CA_FILE")},
        {QStringLiteral("json"),
         {},
         QStringLiteral("machine output: the raw result object(s), one JSON document per line")},
        {QStringLiteral("timeout-ms"), QStringLiteral("MS"),
         QStringLiteral("how long to wait to connect and for each answer; default 10000")},
    };
    return options;
}

const QList<CommandSpec> &commandSpecs() {
    const QString time = QStringLiteral("T");
    static const QList<CommandSpec> specs{
        {QStringLiteral("sale list"),
         Op::SaleList,
         {},
         QStringLiteral("list sales, newest first"),
         {{QStringLiteral("state"), QStringLiteral("S"),
           QStringLiteral("only sales in state S: active, paused or stopped")},
          {QStringLiteral("limit"), QStringLiteral("N"), QStringLiteral("at most N (1-500)")}}},
        {QStringLiteral("sale get"),
         Op::SaleGet,
         QStringLiteral("ID"),
         QStringLiteral("show one sale and its items"),
         {}},
        {QStringLiteral("sale create"),
         Op::SaleCreate,
         {},
         QStringLiteral("create a sale: --stock with --price-cents, --items, or --generate"),
         {{QStringLiteral("name"), QStringLiteral("NAME"), QStringLiteral("the sale's name")},
          {QStringLiteral("starts-at"), time, QStringLiteral("start: RFC 3339, now, +10m, ...")},
          {QStringLiteral("ends-at"), time, QStringLiteral("end: RFC 3339, now, +1h, ...")},
          {QStringLiteral("stock"), QStringLiteral("N"), QStringLiteral("units of one item")},
          {QStringLiteral("price-cents"), QStringLiteral("C"),
           QStringLiteral("price of the one item (or of each generated item)")},
          {QStringLiteral("items"), QStringLiteral("FILE.json"),
           QStringLiteral("items from a file: [{\"name\",\"stock\",\"price_cents\"}, ...]")},
          {QStringLiteral("generate"), QStringLiteral("COUNT"),
           QStringLiteral("generate COUNT items on the server")},
          {QStringLiteral("units-per-item"), QStringLiteral("U"),
           QStringLiteral("stock of each generated item")},
          {QStringLiteral("per-user-limit"), QStringLiteral("L"),
           QStringLiteral("units one user may hold")},
          {QStringLiteral("hold-seconds"), QStringLiteral("S"),
           QStringLiteral("how long a reservation is held")},
          {QStringLiteral("admission-rate"), QStringLiteral("R"),
           QStringLiteral("admitted booking attempts per second (0: no limit)")},
          {QStringLiteral("admission-burst"), QStringLiteral("B"),
           QStringLiteral("admission bucket size")},
          {QStringLiteral("waiting-room"),
           {},
           QStringLiteral("give the sale a waiting room (docs/WAITING_ROOM.md)")},
          {QStringLiteral("lobby-opens-at"), time,
           QStringLiteral("with --waiting-room: when joins open (default starts-at - 30m)")},
          {QStringLiteral("grace-ms"), QStringLiteral("MS"),
           QStringLiteral("with --waiting-room: the cohort stays open this long after the start")},
          {QStringLiteral("admit-per-minute"), QStringLiteral("N"),
           QStringLiteral("with --waiting-room: buyers admitted per minute")},
          {QStringLiteral("admission-ttl-seconds"), QStringLiteral("S"),
           QStringLiteral("with --waiting-room: how long an admitted buyer has to book")},
          {QStringLiteral("entries-per-address"), QStringLiteral("N"),
           QStringLiteral("with --waiting-room: cohort entries per address (0: no cap)")}}},
        {QStringLiteral("sale pause"),
         Op::SalePause,
         QStringLiteral("ID"),
         QStringLiteral("pause an active sale"),
         {}},
        {QStringLiteral("sale resume"),
         Op::SaleResume,
         QStringLiteral("ID"),
         QStringLiteral("resume a paused sale"),
         {}},
        {QStringLiteral("sale stop"),
         Op::SaleStop,
         QStringLiteral("ID"),
         QStringLiteral("stop a sale for good"),
         {}},
        {QStringLiteral("sale adjust"),
         Op::SaleAdjust,
         QStringLiteral("ID"),
         QStringLiteral("add or remove stock (write a negative delta as --delta=-5)"),
         {{QStringLiteral("item"), QStringLiteral("ITEM"),
           QStringLiteral("item id (required for a sale of several items)")},
          {QStringLiteral("delta"), QStringLiteral("N"),
           QStringLiteral("units to add (+N) or remove (-N); use --delta=-N")}}},
        {QStringLiteral("schedule create"),
         Op::ScheduleCreate,
         {},
         QStringLiteral("create a recurring sale schedule"),
         {{QStringLiteral("name"), QStringLiteral("NAME"), QStringLiteral("the schedule's name")},
          {QStringLiteral("first-start"), time, QStringLiteral("first occurrence")},
          {QStringLiteral("every"), QStringLiteral("DURATION"),
           QStringLiteral("period: 1h, 30m, 3600 (seconds); server default 1h")},
          {QStringLiteral("duration"), QStringLiteral("DURATION"),
           QStringLiteral("how long each sale lasts; server default 10m")},
          {QStringLiteral("items"), QStringLiteral("N"), QStringLiteral("items per sale")},
          {QStringLiteral("units-per-item"), QStringLiteral("U"),
           QStringLiteral("stock of each item")},
          {QStringLiteral("price-cents"), QStringLiteral("C"),
           QStringLiteral("price of each item")},
          {QStringLiteral("per-user-limit"), QStringLiteral("L"),
           QStringLiteral("units one user may hold")},
          {QStringLiteral("hold-seconds"), QStringLiteral("S"),
           QStringLiteral("how long a reservation is held")},
          {QStringLiteral("admission-rate"), QStringLiteral("R"),
           QStringLiteral("admitted booking attempts per second")},
          {QStringLiteral("admission-burst"), QStringLiteral("B"),
           QStringLiteral("admission bucket size")}}},
        {QStringLiteral("schedule list"),
         Op::ScheduleList,
         {},
         QStringLiteral("list schedules"),
         {}},
        {QStringLiteral("schedule cancel"),
         Op::ScheduleCancel,
         QStringLiteral("ID"),
         QStringLiteral("cancel a schedule (sales already created stay)"),
         {}},
        {QStringLiteral("stats"),
         Op::StatsSubscribe,
         QStringLiteral("ID"),
         QStringLiteral("live stats of a sale: one event, or --watch"),
         {{QStringLiteral("watch"), {}, QStringLiteral("keep printing until Ctrl-C or --count")},
          {QStringLiteral("interval-ms"), QStringLiteral("N"),
           QStringLiteral("time between events (250-5000)")},
          {QStringLiteral("count"), QStringLiteral("N"),
           QStringLiteral("with --watch: stop after N events")}}},
        // issue 16: a sale's waiting room, read (sale.waiting_room.get) or, with --pause,
        // --resume or --rate, changed (sale.waiting_room.set, audited).
        {QStringLiteral("queue"),
         Op::SaleWaitingRoomGet,
         QStringLiteral("SALE"),
         QStringLiteral("a sale's waiting room: the line, admission and its pace; or change it"),
         {{QStringLiteral("watch"), {}, QStringLiteral("redraw every second until Ctrl-C")},
          {QStringLiteral("pause"), {}, QStringLiteral("pause admission (audited)")},
          {QStringLiteral("resume"), {}, QStringLiteral("resume admission (audited)")},
          {QStringLiteral("rate"), QStringLiteral("N"),
           QStringLiteral("admit N buyers per minute, 1-1000000 (audited)")}}},
        {QStringLiteral("reconcile"),
         Op::ReconcileRun,
         QStringLiteral("ID"),
         QStringLiteral("compare Redis with PostgreSQL for a sale; exit 4 on drift"),
         {{QStringLiteral("repair"), {}, QStringLiteral("also repair what drifted")}}},
        {QStringLiteral("reconcile list"),
         Op::ReconcileList,
         QStringLiteral("[ID]"),
         QStringLiteral("past reconciliation runs, newest first"),
         {{QStringLiteral("limit"), QStringLiteral("N"), QStringLiteral("at most N (1-200)")}}},
        {QStringLiteral("audit"),
         Op::AuditList,
         {},
         QStringLiteral("the audit log, newest first"),
         {{QStringLiteral("sale"), QStringLiteral("ID"), QStringLiteral("only this sale")},
          {QStringLiteral("limit"), QStringLiteral("N"), QStringLiteral("at most N (1-500)")},
          {QStringLiteral("before-id"), QStringLiteral("ID"),
           QStringLiteral("entries older than this one (paging)")}}},
        // issue 19: notify.
        {QStringLiteral("notifications failures"),
         Op::NotificationFailures,
         {},
         QStringLiteral("emails refused for good, newest first; how many are unsent"),
         {{QStringLiteral("limit"), QStringLiteral("N"), QStringLiteral("at most N (1-500)")}}},
        {QStringLiteral("operator list"),
         Op::OperatorList,
         {},
         QStringLiteral("list operators and their roles (role admin)"),
         {}},
        {QStringLiteral("operator create"),
         Op::OperatorCreate,
         QStringLiteral("NAME"),
         QStringLiteral("create an operator (a password is generated unless given)"),
         {{QStringLiteral("role"), QStringLiteral("ROLE"),
           QStringLiteral("viewer, merchandiser or admin")},
          {QStringLiteral("new-password-file"), QStringLiteral("FILE"),
           QStringLiteral("the new password: the file's first line (- reads stdin); at least 12 "
                          "characters")}}},
        {QStringLiteral("operator set-role"),
         Op::OperatorSetRole,
         QStringLiteral("NAME"),
         QStringLiteral("change an operator's role (their sessions end)"),
         {{QStringLiteral("role"), QStringLiteral("ROLE"),
           QStringLiteral("viewer, merchandiser or admin")}}},
        {QStringLiteral("operator rotate"),
         Op::OperatorRotatePassword,
         QStringLiteral("NAME"),
         QStringLiteral("set a new password (generated unless given); sessions end"),
         {{QStringLiteral("new-password-file"), QStringLiteral("FILE"),
           QStringLiteral("the new password: the file's first line (- reads stdin)")}}},
        {QStringLiteral("operator disable"),
         Op::OperatorDisable,
         QStringLiteral("NAME"),
         QStringLiteral("disable an operator (their sessions end)"),
         {}},
        // H4 merchant webhooks (issue 19)
        {QStringLiteral("webhooks list"),
         Op::WebhooksList,
         {},
         QStringLiteral("merchant webhook endpoints and their pending, delivered and dead counts"),
         {}},
        {QStringLiteral("webhooks deadletters"),
         Op::WebhooksDeadLetters,
         {},
         QStringLiteral("merchant webhook deliveries that ran out of attempts, newest first"),
         {{QStringLiteral("endpoint"), QStringLiteral("ENDPOINT"),
           QStringLiteral("only this endpoint's")},
          {QStringLiteral("limit"), QStringLiteral("N"), QStringLiteral("at most N (1-500)")},
          {QStringLiteral("before-id"), QStringLiteral("ID"),
           QStringLiteral("deliveries older than this one (paging)")}}},
        {QStringLiteral("webhooks replay"),
         Op::WebhooksReplay,
         QStringLiteral("[ID]"),
         QStringLiteral("send dead letter ID again, or all of --endpoint's (role admin; audited)"),
         {{QStringLiteral("endpoint"), QStringLiteral("ENDPOINT"),
           QStringLiteral("replay every dead letter of this endpoint")}}},
        // issue 20: the order streams' dead letters
        {QStringLiteral("deadletters list"),
         Op::OrdersDeadLetters,
         {},
         QStringLiteral("bookings the worker could not write, with reason"),
         {{QStringLiteral("sale"), QStringLiteral("ID"), QStringLiteral("only this sale")},
          {QStringLiteral("all"), {}, QStringLiteral("resolved ones too, with their resolution")}}},
        {QStringLiteral("deadletters replay"),
         Op::OrdersDeadLettersReplay,
         QStringLiteral("SALE ENTRY"),
         QStringLiteral("write its order again after a fix; exit 4 if refused"),
         {}},
        {QStringLiteral("deadletters cancel"),
         Op::OrdersDeadLettersCancel,
         QStringLiteral("SALE ENTRY"),
         QStringLiteral("cancel its order and notify the buyer"),
         {{QStringLiteral("no-notify"), {}, QStringLiteral("do not notify the buyer")}}},
        // H5 (issue 19): provider reconciliation
        {QStringLiteral("payments reconcile"),
         Op::PaymentsReconcile,
         {},
         QStringLiteral("compare the provider's payments with the orders; exit 4 on drift"),
         {{QStringLiteral("repair"),
           {},
           QStringLiteral("also apply the outcomes that were missed (role admin)")}}},
        {QStringLiteral("payments runs"),
         Op::PaymentsReconcileRuns,
         {},
         QStringLiteral("past provider reconciliation runs, newest first"),
         {{QStringLiteral("limit"), QStringLiteral("N"), QStringLiteral("at most N (1-200)")}}},
        // issue 16: the waiting room's shuffle, checked by anyone, over the public API
        {QStringLiteral("fairness verify"),
         Op::Ping, // unused: a local command
         QStringLiteral("SALE"),
         QStringLiteral("recompute a sale's published shuffle; exit 5 if anything differs"),
         {{QStringLiteral("api"), QStringLiteral("URL"),
           QStringLiteral("the public API's base URL; default $FLASHSALE_API_URL, else %1")
               .arg(QLatin1String(kDefaultApiUrl))},
          {QStringLiteral("commitment"), QStringLiteral("HEX"),
           QStringLiteral("the commitment you saw in the lobby or in your receipt (64 hex)")},
          {QStringLiteral("save"), QStringLiteral("FILE"),
           QStringLiteral("also write the publication, its pages merged, to FILE")},
          {QStringLiteral("input"), QStringLiteral("FILE"),
           QStringLiteral("verify a publication saved before instead of fetching it")}},
         true},
        {QStringLiteral("ping"),
         Op::Ping,
         {},
         QStringLiteral("round-trip times and the server's clock skew"),
         {{QStringLiteral("count"), QStringLiteral("N"), QStringLiteral("pings to send (1)")}}},
    };
    return specs;
}

void addOptions(QCommandLineParser &parser, const QList<OptionSpec> &options) {
    for (const OptionSpec &o : options)
        parser.addOption(QCommandLineOption(o.name, o.help, o.value));
}

// "  --name VALUE   help", the help wrapped at 100 columns under its own column.
QString optionsHelp(const QList<OptionSpec> &options) {
    constexpr int kIndent = 27;
    constexpr int kWidth = 100;
    QString out;
    for (const OptionSpec &o : options) {
        QString line = QStringLiteral("  --%1%2")
                           .arg(o.name, o.value.isEmpty() ? QString() : QLatin1Char(' ') + o.value);
        line = line.leftJustified(kIndent - 1) + QLatin1Char(' ');
        qsizetype used = line.size();
        for (const QString &word : o.help.split(QLatin1Char(' '))) {
            if (used > kIndent && used + 1 + word.size() > kWidth) {
                out += line + QLatin1Char('\n');
                line = QString(kIndent, QLatin1Char(' '));
                used = kIndent;
            } else if (used > kIndent) {
                line += QLatin1Char(' ');
                ++used;
            }
            line += word;
            used += word.size();
        }
        out += line + QLatin1Char('\n');
    }
    return out;
}

[[nodiscard]] std::expected<qint64, QString> parseInteger(const QString &text,
                                                          const QString &what) {
    bool ok = false;
    QString t = text.trimmed();
    if (t.startsWith(QLatin1Char('+')))
        t.remove(0, 1);
    const qint64 v = t.toLongLong(&ok);
    if (!ok)
        return std::unexpected(QStringLiteral("%1 must be an integer, not \"%2\"").arg(what, text));
    return v;
}

[[nodiscard]] std::expected<qint64, QString> parseId(const QString &text, const QString &what) {
    auto v = parseInteger(text, what);
    if (!v || *v <= 0)
        return std::unexpected(
            QStringLiteral("%1 must be a positive integer, not \"%2\"").arg(what, text));
    return v;
}

// Which global options take a value, so that the scan for command words can skip the value.
bool globalTakesValue(const QString &token) {
    if (!token.startsWith(QLatin1String("--")) || token.contains(QLatin1Char('=')))
        return false;
    const QString name = token.mid(2);
    for (const OptionSpec &o : globalOptions())
        if (o.name == name)
            return !o.value.isEmpty();
    return false;
}

// A secret from a file's first line ("-": standard input), without the line end.
[[nodiscard]] std::expected<QString, QString> readSecret(const QString &option, const QString &path,
                                                         const SecretSources &sources) {
    QByteArray data;
    if (path == QLatin1String("-")) {
        if (!sources.readStdin)
            return std::unexpected(QStringLiteral("--%1 -: no standard input").arg(option));
        data = sources.readStdin();
    } else {
        QFile file(path);
        if (!file.open(QIODevice::ReadOnly))
            return std::unexpected(
                QStringLiteral("cannot read --%1 %2: %3").arg(option, path, file.errorString()));
        data = file.read(64 * 1024);
    }
    const qsizetype eol = data.indexOf('\n');
    QByteArray line = eol < 0 ? data : data.left(eol);
    if (line.endsWith('\r'))
        line.chop(1);
    if (line.isEmpty())
        return std::unexpected(QStringLiteral("--%1 %2 is empty").arg(option, path));
    return QString::fromUtf8(line);
}

// 24 random bytes from the operating system's CSPRNG, base64url: 32 characters.
QString generatePassword() {
    QByteArray raw(24, Qt::Uninitialized);
    QRandomGenerator::system()->fillRange(reinterpret_cast<quint32 *>(raw.data()), raw.size() / 4);
    return QString::fromLatin1(
        raw.toBase64(QByteArray::Base64UrlEncoding | QByteArray::OmitTrailingEquals));
}

[[nodiscard]] std::expected<QJsonArray, QString> readItemsFile(const QString &path) {
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return std::unexpected(
            QStringLiteral("cannot read --items file %1: %2").arg(path, file.errorString()));
    QJsonParseError error;
    const QJsonDocument doc = QJsonDocument::fromJson(file.readAll(), &error);
    if (error.error != QJsonParseError::NoError)
        return std::unexpected(QStringLiteral("--items file %1 is not JSON: %2 at offset %3")
                                   .arg(path, error.errorString())
                                   .arg(error.offset));
    if (doc.isArray())
        return doc.array();
    if (doc.isObject() && doc.object().value(QStringLiteral("items")).isArray())
        return doc.object().value(QStringLiteral("items")).toArray();
    return std::unexpected(
        QStringLiteral("--items file %1 must hold an array of items, or {\"items\": [...]}")
            .arg(path));
}

// Builds the operation's args from the parsed options. Each helper adds a member only when its
// option was given, so the server's defaults apply otherwise.
class ArgsBuilder {
public:
    ArgsBuilder(const QCommandLineParser &parser, qint64 nowMs)
        : m_parser(parser)
        , m_now(nowMs) {}

    bool has(const QString &option) const { return m_parser.isSet(option); }
    QString value(const QString &option) const { return m_parser.value(option); }

    void string(QJsonObject &o, const QString &option, const QString &key) {
        if (has(option))
            o.insert(key, value(option));
    }
    void integer(QJsonObject &o, const QString &option, const QString &key) {
        if (!has(option))
            return;
        auto v = parseInteger(value(option), QStringLiteral("--") + option);
        if (v)
            o.insert(key, *v);
        else
            fail(v.error());
    }
    void id(QJsonObject &o, const QString &option, const QString &key) {
        if (!has(option))
            return;
        auto v = parseId(value(option), QStringLiteral("--") + option);
        if (v)
            o.insert(key, *v);
        else
            fail(v.error());
    }
    void time(QJsonObject &o, const QString &option, const QString &key) {
        if (!has(option))
            return;
        auto v = parseTime(value(option), m_now);
        if (v)
            o.insert(key, *v);
        else
            fail(QStringLiteral("--%1: %2").arg(option, v.error()));
    }
    void duration(QJsonObject &o, const QString &option, const QString &key) {
        if (!has(option))
            return;
        auto v = parseDuration(value(option));
        if (v)
            o.insert(key, *v);
        else
            fail(QStringLiteral("--%1: %2").arg(option, v.error()));
    }
    void require(const QString &option) {
        if (!has(option))
            fail(QStringLiteral("--%1 is required").arg(option));
    }
    void fail(const QString &message) {
        if (m_error.isEmpty())
            m_error = message;
    }
    const QString &error() const { return m_error; }

private:
    const QCommandLineParser &m_parser;
    qint64 m_now;
    QString m_error;
};

[[nodiscard]] std::expected<QJsonObject, QString> buildArgs(const CommandSpec &spec,
                                                            const QCommandLineParser &parser,
                                                            const QStringList &operands,
                                                            qint64 nowMs) {
    ArgsBuilder b(parser, nowMs);
    QJsonObject args;

    const bool needsName = spec.operands == QLatin1String("NAME");
    const bool needsId =
        spec.operands == QLatin1String("ID") || spec.operands == QLatin1String("SALE");
    const bool optionalId = spec.operands == QLatin1String("[ID]");
    const bool saleEntry = spec.operands == QLatin1String("SALE ENTRY"); // issue 20
    const qsizetype maxOperands = saleEntry ? 2 : (needsId || optionalId || needsName) ? 1 : 0;
    if (operands.size() > maxOperands)
        return std::unexpected(QStringLiteral("%1: unexpected argument \"%2\"")
                                   .arg(spec.words, operands.value(maxOperands)));
    if (needsId && operands.isEmpty())
        return std::unexpected(QStringLiteral("%1 needs an ID").arg(spec.words));
    if (needsName && operands.isEmpty())
        return std::unexpected(QStringLiteral("%1 needs an operator NAME").arg(spec.words));
    if (saleEntry && operands.size() < 2)
        return std::unexpected(QStringLiteral("%1 needs a SALE id and a dead-letter ENTRY id "
                                              "(flashsale-ctl deadletters list shows them)")
                                   .arg(spec.words));
    if (saleEntry) {
        auto sale = parseId(operands.first(), QStringLiteral("SALE"));
        if (!sale)
            return std::unexpected(sale.error());
        if (!admin::isStreamEntryId(operands.at(1)))
            return std::unexpected(
                QStringLiteral("ENTRY must be a dead-letter entry id like 1733300000000-0, not "
                               "\"%1\"")
                    .arg(operands.at(1)));
        args.insert(QStringLiteral("sale_id"), *sale);
        args.insert(QStringLiteral("entry_id"), operands.at(1));
    } else if (needsName) {
        args.insert(QStringLiteral("name"), operands.first());
    } else if (!operands.isEmpty()) {
        const QString key = spec.op == Op::ScheduleCancel   ? QStringLiteral("schedule_id")
                            : spec.op == Op::WebhooksReplay ? QStringLiteral("delivery_id")
                                                            : QStringLiteral("sale_id");
        auto id = parseId(operands.first(), QStringLiteral("ID"));
        if (!id)
            return std::unexpected(id.error());
        args.insert(key, *id);
    }

    switch (spec.op) {
    case Op::OrdersDeadLetters: // issue 20
        b.id(args, QStringLiteral("sale"), QStringLiteral("sale_id"));
        if (b.has(QStringLiteral("all")))
            args.insert(QStringLiteral("include_resolved"), true);
        break;
    case Op::OrdersDeadLettersCancel: // issue 20
        args.insert(QStringLiteral("notify"), !b.has(QStringLiteral("no-notify")));
        break;
    case Op::WebhooksDeadLetters: // H4
        b.string(args, QStringLiteral("endpoint"), QStringLiteral("endpoint_id"));
        b.integer(args, QStringLiteral("limit"), QStringLiteral("limit"));
        b.id(args, QStringLiteral("before-id"), QStringLiteral("before_id"));
        break;
    case Op::WebhooksReplay: // H4
        b.string(args, QStringLiteral("endpoint"), QStringLiteral("endpoint_id"));
        if (args.contains(QStringLiteral("endpoint_id"))
            == args.contains(QStringLiteral("delivery_id")))
            b.fail(QStringLiteral("webhooks replay: give a delivery ID or --endpoint ENDPOINT, not "
                                  "both"));
        break;
    case Op::SaleList:
        b.string(args, QStringLiteral("state"), QStringLiteral("state"));
        b.integer(args, QStringLiteral("limit"), QStringLiteral("limit"));
        break;
    case Op::SaleCreate: {
        b.require(QStringLiteral("name"));
        b.require(QStringLiteral("starts-at"));
        b.require(QStringLiteral("ends-at"));
        b.string(args, QStringLiteral("name"), QStringLiteral("name"));
        b.time(args, QStringLiteral("starts-at"), QStringLiteral("starts_at"));
        b.time(args, QStringLiteral("ends-at"), QStringLiteral("ends_at"));
        const int sources = int(b.has(QStringLiteral("stock")))
                            + int(b.has(QStringLiteral("items")))
                            + int(b.has(QStringLiteral("generate")));
        if (sources != 1)
            b.fail(QStringLiteral("give exactly one of --stock (with --price-cents), --items FILE "
                                  "or --generate COUNT"));
        if (b.has(QStringLiteral("units-per-item")) && !b.has(QStringLiteral("generate")))
            b.fail(QStringLiteral("--units-per-item goes with --generate"));
        if (b.has(QStringLiteral("stock"))) {
            b.require(QStringLiteral("price-cents"));
            b.integer(args, QStringLiteral("stock"), QStringLiteral("stock"));
            b.integer(args, QStringLiteral("price-cents"), QStringLiteral("price_cents"));
        } else if (b.has(QStringLiteral("items"))) {
            if (b.has(QStringLiteral("price-cents")))
                b.fail(QStringLiteral("--price-cents does not go with --items (each item has "
                                      "its own price_cents)"));
            auto items = readItemsFile(b.value(QStringLiteral("items")));
            if (items)
                args.insert(QStringLiteral("items"), *items);
            else
                b.fail(items.error());
        } else if (b.has(QStringLiteral("generate"))) {
            QJsonObject generate;
            b.integer(generate, QStringLiteral("generate"), QStringLiteral("count"));
            b.integer(generate, QStringLiteral("units-per-item"), QStringLiteral("units_per_item"));
            b.integer(generate, QStringLiteral("price-cents"), QStringLiteral("price_cents"));
            args.insert(QStringLiteral("generate"), generate);
        }
        b.integer(args, QStringLiteral("per-user-limit"), QStringLiteral("per_user_limit"));
        b.integer(args, QStringLiteral("hold-seconds"), QStringLiteral("hold_seconds"));
        b.integer(args, QStringLiteral("admission-rate"), QStringLiteral("admission_rate"));
        b.integer(args, QStringLiteral("admission-burst"), QStringLiteral("admission_burst"));
        if (b.has(QStringLiteral("waiting-room"))) {
            args.insert(QStringLiteral("waiting_room"), true);
            b.time(args, QStringLiteral("lobby-opens-at"), QStringLiteral("lobby_opens_at"));
            b.integer(args, QStringLiteral("grace-ms"), QStringLiteral("grace_ms"));
            b.integer(args, QStringLiteral("admit-per-minute"), QStringLiteral("admit_per_minute"));
            b.integer(args, QStringLiteral("admission-ttl-seconds"),
                      QStringLiteral("admission_ttl_seconds"));
            b.integer(args, QStringLiteral("entries-per-address"),
                      QStringLiteral("entries_per_address"));
        } else {
            for (const char *flag : {"lobby-opens-at", "grace-ms", "admit-per-minute",
                                     "admission-ttl-seconds", "entries-per-address"})
                if (b.has(QLatin1String(flag)))
                    b.fail(
                        QStringLiteral("--%1 goes with --waiting-room").arg(QLatin1String(flag)));
        }
        break;
    }
    case Op::SaleAdjust:
        b.require(QStringLiteral("delta"));
        b.id(args, QStringLiteral("item"), QStringLiteral("item_id"));
        b.integer(args, QStringLiteral("delta"), QStringLiteral("delta"));
        break;
    case Op::ScheduleCreate:
        b.require(QStringLiteral("name"));
        b.require(QStringLiteral("first-start"));
        b.string(args, QStringLiteral("name"), QStringLiteral("name"));
        b.time(args, QStringLiteral("first-start"), QStringLiteral("first_start"));
        b.duration(args, QStringLiteral("every"), QStringLiteral("every_seconds"));
        b.duration(args, QStringLiteral("duration"), QStringLiteral("duration_seconds"));
        b.integer(args, QStringLiteral("items"), QStringLiteral("item_count"));
        b.integer(args, QStringLiteral("units-per-item"), QStringLiteral("units_per_item"));
        b.integer(args, QStringLiteral("price-cents"), QStringLiteral("price_cents"));
        b.integer(args, QStringLiteral("per-user-limit"), QStringLiteral("per_user_limit"));
        b.integer(args, QStringLiteral("hold-seconds"), QStringLiteral("hold_seconds"));
        b.integer(args, QStringLiteral("admission-rate"), QStringLiteral("admission_rate"));
        b.integer(args, QStringLiteral("admission-burst"), QStringLiteral("admission_burst"));
        break;
    case Op::StatsSubscribe:
        b.integer(args, QStringLiteral("interval-ms"), QStringLiteral("interval_ms"));
        if (b.has(QStringLiteral("count")) && !b.has(QStringLiteral("watch")))
            b.fail(QStringLiteral("--count goes with --watch"));
        break;
    case Op::SaleWaitingRoomGet: // issue 16: queue SALE [--watch | --pause | --resume | --rate N]
        if (b.has(QStringLiteral("pause")) && b.has(QStringLiteral("resume")))
            b.fail(QStringLiteral("give --pause or --resume, not both"));
        if (b.has(QStringLiteral("pause")) || b.has(QStringLiteral("resume")))
            args.insert(QStringLiteral("paused"), b.has(QStringLiteral("pause")));
        b.integer(args, QStringLiteral("rate"), QStringLiteral("admit_per_minute"));
        if (b.has(QStringLiteral("watch")) && args.size() > 1)
            b.fail(QStringLiteral("--watch only reads: it does not go with --pause, --resume or "
                                  "--rate"));
        break;
    case Op::ReconcileRun:
        if (b.has(QStringLiteral("repair")))
            args.insert(QStringLiteral("repair"), true);
        break;
    case Op::ReconcileList:
    case Op::NotificationFailures: // issue 19: notify
        b.integer(args, QStringLiteral("limit"), QStringLiteral("limit"));
        break;
    case Op::PaymentsReconcile: // H5
        if (b.has(QStringLiteral("repair")))
            args.insert(QStringLiteral("repair"), true);
        break;
    case Op::PaymentsReconcileRuns: // H5
        b.integer(args, QStringLiteral("limit"), QStringLiteral("limit"));
        break;
    case Op::OperatorCreate:
    case Op::OperatorSetRole:
        b.require(QStringLiteral("role"));
        b.string(args, QStringLiteral("role"), QStringLiteral("role"));
        break;
    case Op::AuditList:
        b.id(args, QStringLiteral("sale"), QStringLiteral("sale_id"));
        b.integer(args, QStringLiteral("limit"), QStringLiteral("limit"));
        b.id(args, QStringLiteral("before-id"), QStringLiteral("before_id"));
        break;
    default:
        break;
    }
    if (!b.error().isEmpty())
        return std::unexpected(b.error());
    return args;
}

// fairness verify SALE [--api URL] [--commitment HEX] [--save F] [--input F] (issue 16).
[[nodiscard]] std::optional<QString> parseFairness(const QCommandLineParser &parser,
                                                   const QStringList &operands,
                                                   const QProcessEnvironment &env,
                                                   Invocation::Fairness &f) {
    if (operands.size() != 1)
        return operands.isEmpty() ? QStringLiteral("fairness verify needs a SALE id")
                                  : QStringLiteral("fairness verify: unexpected argument \"%1\"")
                                        .arg(operands.at(1));
    auto sale = parseId(operands.first(), QStringLiteral("SALE"));
    if (!sale)
        return sale.error();
    f.saleId = *sale;
    f.inputPath = parser.value(QStringLiteral("input"));
    f.savePath = parser.value(QStringLiteral("save"));
    if (parser.isSet(QStringLiteral("input")) && parser.isSet(QStringLiteral("api")))
        return QStringLiteral("give --input FILE or --api URL, not both");
    QString api = parser.value(QStringLiteral("api"));
    if (api.isEmpty())
        api = env.value(QStringLiteral("FLASHSALE_API_URL"));
    if (api.isEmpty())
        api = QLatin1String(kDefaultApiUrl);
    f.api = QUrl(api, QUrl::StrictMode);
    if (!f.api.isValid() || f.api.host().isEmpty()
        || (f.api.scheme() != QLatin1String("http") && f.api.scheme() != QLatin1String("https")))
        return QStringLiteral("--api must be an http:// or https:// base URL, not \"%1\"").arg(api);
    if (parser.isSet(QStringLiteral("commitment"))) {
        static const QRegularExpression hex(QStringLiteral("^[0-9a-fA-F]{64}$"));
        const QString c = parser.value(QStringLiteral("commitment")).trimmed();
        if (!hex.match(c).hasMatch())
            return QStringLiteral("--commitment must be 64 hex digits (SHA-256), not \"%1\"")
                .arg(c);
        f.commitment = c.toLower().toLatin1();
    }
    return std::nullopt;
}

QString commandHelp(const CommandSpec &spec) {
    QString out = QStringLiteral("Usage: flashsale-ctl [global options] %1").arg(spec.words);
    if (!spec.operands.isEmpty())
        out += QLatin1Char(' ') + spec.operands;
    if (!spec.options.isEmpty())
        out += QStringLiteral(" [options]");
    out += QStringLiteral("\n\n%1.\n").arg(spec.summary);
    if (!spec.options.isEmpty())
        out += QStringLiteral("\nOptions:\n") + optionsHelp(spec.options);
    out += QStringLiteral("\nGlobal options:\n") + optionsHelp(globalOptions());
    return out;
}

} // namespace

QString usageText() {
    QString out =
        QStringLiteral("Usage: flashsale-ctl [global options] COMMAND [arguments] [options]\n"
                       "\n"
                       "Operates flash sales through the admin WebSocket (/admin/v1/ws).\n"
                       "\n"
                       "Commands:\n");
    for (const CommandSpec &spec : commandSpecs()) {
        QString left = QStringLiteral("  ") + spec.words;
        if (!spec.operands.isEmpty())
            left += QLatin1Char(' ') + spec.operands;
        out += left.leftJustified(26) + QLatin1Char(' ') + spec.summary + QLatin1Char('\n');
    }
    out += QStringLiteral("\nGlobal options:\n") + optionsHelp(globalOptions());
    out += QStringLiteral(
        "  -h, --help               this text; COMMAND --help lists the command's options\n"
        "\n"
        "Times: RFC 3339 with a zone (2026-11-21T12:00:00Z), or now, +10m, -1h, now+1h30m\n"
        "(relative times are computed here and sent in UTC). Durations: 3600, 90s, 10m, 1h, 1d.\n"
        "A negative number is an option value only when attached: --delta=-5.\n"
        "\n"
        "Exit codes:\n"
        "  0  success\n"
        "  1  the server answered with an error (printed as \"error: CODE: MESSAGE\"), or timed "
        "out\n"
        "  2  usage error; nothing was sent\n"
        "  3  cannot connect, the login was refused, or the connection dropped\n"
        "  4  reconcile found drift\n"
        "  5  fairness verify: the published shuffle does not recompute (the first mismatch is\n"
        "     printed)\n"
        "\n"
        "Logging in: --operator NAME with the password from --password-file or\n"
        "$FLASHSALE_OPERATOR_PASSWORD (HTTP Basic on the handshake), or else the bootstrap token\n"
        "$FLASHSALE_ADMIN_TOKEN. Secrets are never taken as command-line values: argv is visible\n"
        "to every user in ps. Credentials go over ws:// only to loopback; use wss:// (and\n"
        "--ca-file for the local stack's CA) for any other host.\n");
    return out;
}

std::expected<QString, QString> parseTime(const QString &spec, qint64 nowMs) {
    const QString s = spec.trimmed();
    static const QRegularExpression relative(
        QStringLiteral("^(now)?(?:([+-])((?:[0-9]+[smhd])+))?$"),
        QRegularExpression::CaseInsensitiveOption);
    const QRegularExpressionMatch m = relative.match(s);
    if (!s.isEmpty() && m.hasMatch() && (m.hasCaptured(1) || m.hasCaptured(2))) {
        qint64 ms = nowMs;
        if (m.hasCaptured(3)) {
            auto seconds = parseDuration(m.captured(3));
            if (!seconds)
                return std::unexpected(seconds.error());
            ms += (m.captured(2) == QLatin1String("-") ? -1 : 1) * *seconds * 1000;
        }
        return QDateTime::fromMSecsSinceEpoch(ms, Qt::UTC).toString(Qt::ISODateWithMs);
    }
    QString iso = s;
    if (iso.size() > 10 && iso[10] == QLatin1Char(' '))
        iso[10] = QLatin1Char('T');
    static const QRegularExpression zone(QStringLiteral("(Z|z|[+-][0-9]{2}:?[0-9]{2})$"));
    const QDateTime t = QDateTime::fromString(iso, Qt::ISODateWithMs);
    if (!t.isValid())
        return std::unexpected(
            QStringLiteral("\"%1\" is not a time: use RFC 3339 (2026-11-21T12:00:00Z), now, or "
                           "a relative time like +10m")
                .arg(spec));
    if (!zone.match(iso).hasMatch())
        return std::unexpected(
            QStringLiteral("\"%1\" has no time zone: add Z for UTC or an offset like +01:00")
                .arg(spec));
    return t.toUTC().toString(Qt::ISODateWithMs);
}

std::expected<qint64, QString> parseDuration(const QString &spec) {
    const QString s = spec.trimmed();
    static const QRegularExpression plain(QStringLiteral("^[0-9]+$"));
    static const QRegularExpression parts(QStringLiteral("^(?:[0-9]+[smhd])+$"),
                                          QRegularExpression::CaseInsensitiveOption);
    const auto bad = [&] {
        return std::unexpected(
            QStringLiteral("\"%1\" is not a duration: use seconds (3600) or 90s, 10m, 1h, 1d, "
                           "1h30m")
                .arg(spec));
    };
    if (plain.match(s).hasMatch()) {
        bool ok = false;
        const qint64 v = s.toLongLong(&ok);
        if (!ok)
            return bad();
        return v;
    }
    if (!parts.match(s).hasMatch())
        return bad();
    static const QRegularExpression part(QStringLiteral("([0-9]+)([smhd])"),
                                         QRegularExpression::CaseInsensitiveOption);
    qint64 total = 0;
    for (auto it = part.globalMatch(s); it.hasNext();) {
        const QRegularExpressionMatch p = it.next();
        bool ok = false;
        const qint64 n = p.captured(1).toLongLong(&ok);
        const QChar unit = p.captured(2).at(0).toLower();
        const qint64 factor = unit == QLatin1Char('s')   ? 1
                              : unit == QLatin1Char('m') ? 60
                              : unit == QLatin1Char('h') ? 3600
                                                         : 86400;
        if (!ok || n > std::numeric_limits<qint64>::max() / factor / 1000 / 4)
            return bad();
        total += n * factor;
    }
    return total;
}

std::expected<Invocation, QString> parseInvocation(const QStringList &arguments,
                                                   const QProcessEnvironment &env, qint64 nowMs,
                                                   const SecretSources &sources) {
    // Find the command words: the first arguments that are neither options nor the values of
    // global options.
    QStringList words;
    for (qsizetype i = 1; i < arguments.size() && words.size() < 2; ++i) {
        const QString &a = arguments[i];
        if (a == QLatin1String("--"))
            break;
        if (a.startsWith(QLatin1Char('-'))) {
            if (globalTakesValue(a))
                ++i;
            continue;
        }
        if (!words.isEmpty() && !words.first().isEmpty()) {
            // Only a known verb is a second word; anything else ("12") is an operand.
            bool verb = false;
            for (const CommandSpec &spec : commandSpecs())
                verb = verb || spec.words == words.first() + QLatin1Char(' ') + a;
            if (!verb)
                break;
        }
        words << a;
    }

    const CommandSpec *spec = nullptr;
    const QString joined = words.join(QLatin1Char(' '));
    for (const CommandSpec &s : commandSpecs())
        if (s.words == joined)
            spec = &s;

    QCommandLineParser parser;
    parser.setSingleDashWordOptionMode(QCommandLineParser::ParseAsLongOptions);
    addOptions(parser, globalOptions());
    parser.addOption(
        QCommandLineOption({QStringLiteral("h"), QStringLiteral("help")}, QStringLiteral("help")));
    if (spec)
        addOptions(parser, spec->options);

    if (!parser.parse(arguments)) {
        QString message = parser.errorText();
        static const QRegularExpression negative(QStringLiteral("^Unknown option '[0-9]"));
        if (negative.match(message).hasMatch())
            message += QStringLiteral(" (write a negative value attached: --delta=-5)");
        return std::unexpected(message);
    }

    Invocation inv;
    if (parser.isSet(QStringLiteral("help"))) {
        inv.help = true;
        inv.helpText = spec ? commandHelp(*spec) : usageText();
        return inv;
    }
    if (!spec) {
        if (words.isEmpty())
            return std::unexpected(QStringLiteral("no command given"));
        QStringList verbs;
        for (const CommandSpec &s : commandSpecs())
            if (s.words.startsWith(words.first() + QLatin1Char(' ')))
                verbs << s.words.section(QLatin1Char(' '), 1);
        if (!verbs.isEmpty())
            return std::unexpected(QStringLiteral("\"%1\" needs one of: %2")
                                       .arg(words.first(), verbs.join(QStringLiteral(", "))));
        return std::unexpected(QStringLiteral("unknown command \"%1\"").arg(joined));
    }

    inv.json = parser.isSet(QStringLiteral("json"));
    if (parser.isSet(QStringLiteral("timeout-ms"))) {
        auto t = parseInteger(parser.value(QStringLiteral("timeout-ms")),
                              QStringLiteral("--timeout-ms"));
        if (!t || *t < 1 || *t > 3600000)
            return std::unexpected(QStringLiteral("--timeout-ms must be 1 to 3600000"));
        inv.timeoutMs = int(*t);
    }
    inv.command = spec->words;
    if (spec->local) { // issue 16: no admin endpoint, no login
        QStringList operands = parser.positionalArguments();
        operands.erase(operands.begin(), operands.begin() + words.size());
        if (auto error = parseFairness(parser, operands, env, inv.fairness))
            return std::unexpected(*error);
        inv.local = spec->words;
        return inv;
    }

    // Global settings: option, then environment, then default.
    QString urlText = parser.value(QStringLiteral("url"));
    if (urlText.isEmpty())
        urlText = env.value(QStringLiteral("FLASHSALE_ADMIN_URL"));
    if (urlText.isEmpty())
        urlText = env.value(QStringLiteral("FLASHSALE_API_URL"));
    if (urlText.isEmpty())
        urlText = QLatin1String(kDefaultAdminUrl);
    auto url = resolveAdminUrl(urlText);
    if (!url)
        return std::unexpected(QStringLiteral("--url: ") + url.error());
    inv.url = *url;
    inv.operatorName = parser.isSet(QStringLiteral("operator"))
                           ? parser.value(QStringLiteral("operator"))
                           : env.value(QStringLiteral("FLASHSALE_OPERATOR"));
    if (!inv.operatorName.isEmpty()) {
        if (parser.isSet(QStringLiteral("password-file"))) {
            auto password = readSecret(QStringLiteral("password-file"),
                                       parser.value(QStringLiteral("password-file")), sources);
            if (!password)
                return std::unexpected(password.error());
            inv.password = *password;
        } else {
            inv.password = env.value(QStringLiteral("FLASHSALE_OPERATOR_PASSWORD"));
        }
        if (inv.password.isEmpty())
            return std::unexpected(
                QStringLiteral("--operator %1 needs a password: --password-file FILE or "
                               "$FLASHSALE_OPERATOR_PASSWORD")
                    .arg(inv.operatorName));
    } else if (parser.isSet(QStringLiteral("password-file"))) {
        return std::unexpected(QStringLiteral("--password-file goes with --operator NAME"));
    } else {
        inv.token = env.value(QStringLiteral("FLASHSALE_ADMIN_TOKEN"));
    }
    inv.caFile = parser.isSet(QStringLiteral("ca-file"))
                     ? parser.value(QStringLiteral("ca-file"))
                     : env.value(QStringLiteral("FLASHSALE_CA_FILE"));

    inv.op = spec->op;
    QStringList operands = parser.positionalArguments();
    operands.erase(operands.begin(), operands.begin() + words.size());
    auto args = buildArgs(*spec, parser, operands, nowMs);
    if (!args)
        return std::unexpected(args.error());
    inv.args = *args;
    if (spec->op == Op::OperatorCreate || spec->op == Op::OperatorRotatePassword) {
        if (parser.isSet(QStringLiteral("new-password-file"))) {
            auto password = readSecret(QStringLiteral("new-password-file"),
                                       parser.value(QStringLiteral("new-password-file")), sources);
            if (!password)
                return std::unexpected(password.error());
            if (parser.value(QStringLiteral("new-password-file")) == QLatin1String("-")
                && parser.value(QStringLiteral("password-file")) == QLatin1String("-"))
                return std::unexpected(
                    QStringLiteral("--password-file and --new-password-file cannot both read "
                                   "stdin"));
            inv.args.insert(QStringLiteral("password"), *password);
        } else {
            inv.generatedPassword = generatePassword();
            inv.args.insert(QStringLiteral("password"), inv.generatedPassword);
        }
    }

    if (spec->op == Op::StatsSubscribe || spec->op == Op::SaleWaitingRoomGet)
        inv.watch = parser.isSet(QStringLiteral("watch"));
    // queue SALE with a change: the audited write instead of the read.
    if (spec->op == Op::SaleWaitingRoomGet && inv.args.size() > 1)
        inv.op = Op::SaleWaitingRoomSet;
    const bool counts = spec->op == Op::StatsSubscribe || spec->op == Op::Ping;
    if (counts && parser.isSet(QStringLiteral("count"))) {
        auto c = parseInteger(parser.value(QStringLiteral("count")), QStringLiteral("--count"));
        if (!c || *c < 1 || *c > 1000000)
            return std::unexpected(QStringLiteral("--count must be 1 to 1000000"));
        inv.count = int(*c);
    } else if (spec->op == Op::Ping) {
        inv.count = 1;
    }
    return inv;
}

} // namespace flashsale::ctl
