#include "ctlformat.h"

#include "protocol/adminprotocol.h"
#include "texttable.h"

#include <QDateTime>
#include <QJsonArray>
#include <QJsonDocument>

#include <algorithm>
#include <cmath>

namespace flashsale::ctl {

namespace {

QString s(const char *latin1) {
    return QString::fromLatin1(latin1);
}

QString cell(const QJsonObject &o, const char *key) {
    return formatCell(o.value(s(key)));
}

QString number(double v, int decimals = 1) {
    if (std::isnan(v))
        return QStringLiteral("-");
    return QString::number(v, 'f', decimals);
}

QString rate(const QJsonValue &v) {
    return v.isDouble() ? number(v.toDouble()) : QStringLiteral("-");
}

QString ms(const QJsonValue &v) {
    return v.isDouble() ? number(v.toDouble(), v.toDouble() < 10 ? 2 : 1) : QStringLiteral("-");
}

QString auditChange(const QJsonValue &before, const QJsonValue &after) {
    return admin::describeChange(before, after);
}

} // namespace

QString formatFailure(const admin::AdminFailure &failure) {
    QString out =
        QStringLiteral("error: %1: %2\n").arg(admin::errorName(failure.code), failure.message);
    for (const FieldError &d : failure.details)
        out += QStringLiteral("  %1: %2\n").arg(d.pointer, d.detail);
    return out;
}

QString formatJsonLine(const QJsonObject &object) {
    return QString::fromUtf8(QJsonDocument(object).toJson(QJsonDocument::Compact))
           + QLatin1Char('\n');
}

QString formatCell(const QJsonValue &value) {
    return admin::displayValue(value);
}

QString formatTime(const QJsonValue &value) {
    if (!value.isString())
        return formatCell(value);
    const QDateTime t = QDateTime::fromString(value.toString(), Qt::ISODateWithMs);
    if (!t.isValid())
        return value.toString();
    return t.toUTC().toString(QStringLiteral("yyyy-MM-dd HH:mm:ss")) + QLatin1Char('Z');
}

QString formatSales(const QJsonArray &sales) {
    if (sales.isEmpty())
        return QStringLiteral("no sales\n");
    TextTable t({s("ID"), s("NAME"), s("STATE"), s("PHASE"), s("STARTS"), s("ENDS"), s("ITEMS"),
                 s("STOCK"), s("SOLD"), s("REMAINING")});
    t.setMaxWidth(1, 30);
    for (const QJsonValue &v : sales) {
        const QJsonObject o = v.toObject();
        t.addRow({cell(o, "id"), cell(o, "name"), cell(o, "state"), cell(o, "phase"),
                  formatTime(o.value(s("starts_at"))), formatTime(o.value(s("ends_at"))),
                  cell(o, "item_count"), cell(o, "stock"), cell(o, "sold"), cell(o, "remaining")});
    }
    return t.render();
}

QString formatSaleDetail(const QJsonObject &sale) {
    TextTable fields;
    fields.setMaxWidth(1, 64); // a waiting room's commitment: 64 hex digits
    const char *keys[] = {
        "id",          "name",           "state",        "phase",          "starts_at",
        "ends_at",     "per_user_limit", "hold_seconds", "admission_rate", "admission_burst",
        "schedule_id", "warmed_at",      "opened_at",    "closed_at",      "item_count",
        "stock",       "sold",           "remaining"};
    for (const char *k : keys) {
        if (!sale.contains(s(k)))
            continue;
        const QString key = s(k);
        const QString value = key.endsWith(QLatin1String("_at")) ? formatTime(sale.value(key))
                                                                 : formatCell(sale.value(key));
        fields.addRow({key + QLatin1Char(':'), value});
    }
    if (sale.contains(s("waiting_room"))) {
        // Issue 16: the waiting room's settings, "off" without one.
        const QJsonObject room = sale.value(s("waiting_room")).toObject();
        fields.addRow({s("waiting_room:"), room.isEmpty() ? s("off") : s("on")});
        for (const char *k : {"lobby_opens_at", "grace_ms", "admit_per_minute",
                              "admission_ttl_seconds", "entries_per_address", "commitment"}) {
            if (!room.contains(s(k)))
                continue;
            const QString key = s(k);
            fields.addRow({key + QLatin1Char(':'), key.endsWith(QLatin1String("_at"))
                                                       ? formatTime(room.value(key))
                                                       : formatCell(room.value(key))});
        }
    }
    QString out = fields.render();
    const QJsonArray items = sale.value(s("items")).toArray();
    if (!items.isEmpty()) {
        TextTable t(
            {s("ITEM"), s("NAME"), s("PRICE_CENTS"), s("STOCK"), s("SOLD"), s("REMAINING")});
        t.setMaxWidth(1, 30);
        for (const QJsonValue &v : items) {
            const QJsonObject i = v.toObject();
            t.addRow({cell(i, "id"), cell(i, "name"), cell(i, "price_cents"), cell(i, "stock"),
                      cell(i, "sold"), cell(i, "remaining")});
        }
        out += QLatin1Char('\n') + t.render();
        const qint64 total = sale.value(s("items_total")).toInteger(items.size());
        if (total > items.size())
            out += QStringLiteral("(%1 of %2 items shown)\n").arg(items.size()).arg(total);
    }
    return out;
}

QString formatAdjust(const QJsonObject &r) {
    return QStringLiteral("sale %1 item %2: stock %3 -> %4, remaining %5 -> %6\n")
        .arg(cell(r, "sale_id"), cell(r, "item_id"), cell(r, "stock_before"),
             cell(r, "stock_after"), cell(r, "remaining_before"), cell(r, "remaining_after"));
}

QString formatSeconds(const QJsonValue &v) {
    if (!v.isDouble())
        return QStringLiteral("-");
    const qint64 t = qint64(std::llround(v.toDouble()));
    if (t < 60)
        return QStringLiteral("%1s").arg(t);
    if (t < 3600)
        return QStringLiteral("%1m %2s").arg(t / 60).arg(t % 60, 2, 10, QLatin1Char('0'));
    return QStringLiteral("%1h %2m").arg(t / 3600).arg(t / 60 % 60, 2, 10, QLatin1Char('0'));
}

QString formatWaitingRoom(const QJsonObject &v) {
    QString out =
        QStringLiteral("sale %1 waiting room  sale %2  at %3\n")
            .arg(cell(v, "sale_id"), cell(v, "sale_state"), formatTime(v.value(s("now"))));
    const bool sealed = v.value(s("sealed")).toBool();
    const QJsonValue measured = v.value(s("admitted_per_minute"));
    TextTable t({s("LINE"), s(""), s("ADMISSION"), s("")});
    t.addRow({s("lobby / cohort"), cell(v, "lobby"), s("state"),
              v.value(s("sold_out")).toBool() ? s("sold out")
              : v.value(s("paused")).toBool() ? s("PAUSED")
              : sealed                        ? s("admitting")
                                              : s("waiting for the seal")});
    t.addRow({s("cohort size"), sealed ? cell(v, "cohort_size") : s("- (not sealed)"),
              s("rate set"), cell(v, "admit_per_minute") + s("/min")});
    t.addRow({s("fifo"), cell(v, "fifo"), s("rate measured"),
              measured.isDouble() ? number(measured.toDouble()) + s("/min") : s("-")});
    t.addRow({s("cursor"), cell(v, "cursor"), s("outstanding"), cell(v, "outstanding")});
    t.addRow({s("waiting"), cell(v, "waiting"), s("booked"), cell(v, "booked")});
    t.addRow({s("remaining units"), cell(v, "remaining"), s("no-shows"), cell(v, "noshows")});
    out += t.render();
    out += v.value(s("paused")).toBool()
               ? QStringLiteral("sell-out: none while admission is paused\n")
               : QStringLiteral("sell-out in %1 (estimate: remaining units / measured admission "
                                "rate)\n")
                     .arg(formatSeconds(v.value(s("sell_out_seconds"))));
    return out;
}

QString formatWaitingRoomSet(qint64 saleId, const QJsonObject &r) {
    QString out = QStringLiteral("sale %1 waiting room changed (audit %2)\n")
                      .arg(saleId)
                      .arg(cell(r, "audit_id"));
    const QJsonValue view = r.value(s("waiting_room"));
    if (view.isObject())
        out += formatWaitingRoom(view.toObject());
    else
        out += QStringLiteral("(the sale is not in Redis yet: the rate is stored and applies "
                              "once it is warmed)\n");
    return out;
}

QString formatSchedules(const QJsonArray &schedules) {
    if (schedules.isEmpty())
        return QStringLiteral("no schedules\n");
    TextTable t({s("ID"), s("NAME"), s("ACTIVE"), s("FIRST_START"), s("EVERY_S"), s("DURATION_S"),
                 s("ITEMS"), s("UNITS"), s("PRICE_CENTS"), s("NEXT_START"), s("CREATED_BY")});
    t.setMaxWidth(1, 30);
    for (const QJsonValue &v : schedules) {
        const QJsonObject o = v.toObject();
        t.addRow({cell(o, "id"), cell(o, "name"), cell(o, "active"),
                  formatTime(o.value(s("first_start"))), cell(o, "every_seconds"),
                  cell(o, "duration_seconds"), cell(o, "item_count"), cell(o, "units_per_item"),
                  cell(o, "price_cents"), formatTime(o.value(s("next_start"))),
                  cell(o, "created_by")});
    }
    return t.render();
}

QString formatOperators(const QJsonArray &operators) {
    if (operators.isEmpty())
        return QStringLiteral("no operators\n");
    TextTable t({s("NAME"), s("ROLE"), s("CREATED_AT"), s("CREATED_BY"), s("PASSWORD_CHANGED_AT"),
                 s("DISABLED_AT")});
    for (const QJsonValue &v : operators) {
        const QJsonObject o = v.toObject();
        t.addRow({cell(o, "name"), cell(o, "role"), formatTime(o.value(s("created_at"))),
                  cell(o, "created_by"), formatTime(o.value(s("password_changed_at"))),
                  formatTime(o.value(s("disabled_at")))});
    }
    return t.render();
}

QString formatStats(const QJsonObject &st) {
    QString out;
    const QJsonValue at = st.value(s("at_ms"));
    const QString when = at.isDouble()
                             ? QDateTime::fromMSecsSinceEpoch(qint64(at.toDouble()), Qt::UTC)
                                       .toString(QStringLiteral("yyyy-MM-dd HH:mm:ss.zzz"))
                                   + QLatin1Char('Z')
                             : QStringLiteral("-");
    out += QStringLiteral("sale %1  %2  at %3\n").arg(cell(st, "sale_id"), cell(st, "phase"), when);

    const QJsonObject orders = st.value(s("orders")).toObject();
    const QJsonObject units = st.value(s("units")).toObject();
    TextTable inv(
        {s(""), s("REMAINING"), s("STOCK"), s("HELD"), s("PENDING"), s("PAID"), s("CANCELLED")});
    inv.addRow({s("units"), cell(st, "remaining"), cell(st, "stock"), cell(units, "held"),
                cell(units, "pending"), cell(units, "paid"), cell(units, "cancelled")});
    inv.addRow({s("orders"), QString(), QString(), cell(orders, "held"), cell(orders, "pending"),
                cell(orders, "paid"), cell(orders, "cancelled")});
    out += inv.render();

    const QJsonObject req = st.value(s("requests")).toObject();
    const QJsonObject rejected = req.value(s("rejected_per_s")).toObject();
    QStringList reasons;
    double rejectedTotal = 0;
    for (auto it = rejected.constBegin(); it != rejected.constEnd(); ++it) {
        reasons << QStringLiteral("%1 %2").arg(it.key(), rate(it.value()));
        rejectedTotal += it.value().toDouble();
    }
    out +=
        QStringLiteral("requests (%1 s): accepted %2/s, rejected %3/s%4\n")
            .arg(cell(req, "window_s"), rate(req.value(s("accepted_per_s"))), number(rejectedTotal),
                 reasons.isEmpty() ? QString()
                                   : QStringLiteral(" (") + reasons.join(QStringLiteral(", "))
                                         + QLatin1Char(')'));
    const QJsonObject lat = st.value(s("latency_ms")).toObject();
    out += QStringLiteral("latency  (%1 s, %2 requests): p50 %3 ms, p95 %4 ms, p99 %5 ms\n")
               .arg(cell(lat, "window_s"), cell(lat, "count"), ms(lat.value(s("p50"))),
                    ms(lat.value(s("p95"))), ms(lat.value(s("p99"))));
    const QJsonObject lag = st.value(s("lag")).toObject();
    QStringList consumers;
    const QJsonObject c = lag.value(s("consumers")).toObject();
    for (auto it = c.constBegin(); it != c.constEnd(); ++it)
        consumers << QStringLiteral("%1 %2").arg(it.key(), formatCell(it.value()));
    out +=
        QStringLiteral("lag: stream %1 (pending %2), dead letters %3, outbox %4 (oldest %5 s)%6\n")
            .arg(cell(lag, "stream"), cell(lag, "stream_pending"), cell(lag, "dead_letters"),
                 cell(lag, "outbox"), cell(lag, "outbox_age_s"),
                 consumers.isEmpty()
                     ? QString()
                     : QStringLiteral(", consumers: ") + consumers.join(QStringLiteral(", ")));

    const QJsonArray processes = st.value(s("processes")).toArray();
    if (!processes.isEmpty()) {
        int up = 0;
        TextTable p({s("PROCESS"), s("ROLES"), s("UP"), s("SEEN_MS_AGO"), s("LOOP_LAG_MS")});
        for (const QJsonValue &v : processes) {
            const QJsonObject o = v.toObject();
            up += o.value(s("up")).toBool() ? 1 : 0;
            QStringList roles;
            for (const QJsonValue &r : o.value(s("roles")).toArray())
                roles << r.toString();
            p.addRow({cell(o, "id"), roles.join(QLatin1Char(',')),
                      o.value(s("up")).toBool() ? s("up") : s("DOWN"), cell(o, "seen_ms_ago"),
                      ms(o.value(s("loop_lag_ms")))});
        }
        out += QStringLiteral("processes: %1 up, %2 down\n").arg(up).arg(processes.size() - up);
        out += p.render();
    }
    return out;
}

QString formatReconcile(const QJsonObject &r) {
    const bool ok = r.value(s("ok")).toBool();
    QString out = QStringLiteral("reconcile run %1 of sale %2 (%3, %4 by %5): %6\n")
                      .arg(cell(r, "run_id"), cell(r, "sale_id"), cell(r, "mode"),
                           cell(r, "trigger"), cell(r, "actor"), ok ? s("ok") : s("DRIFT FOUND"));
    const QJsonArray checks = r.value(s("checks")).toArray();
    if (!checks.isEmpty()) {
        TextTable t({s("CHECK"), s("SUBJECT"), s("EXPECTED"), s("FOUND"), s("DRIFT"), s("DETAIL")});
        t.setMaxWidth(5, 60);
        for (const QJsonValue &v : checks) {
            const QJsonObject c = v.toObject();
            t.addRow({cell(c, "check"), cell(c, "subject"), cell(c, "expected"), cell(c, "found"),
                      cell(c, "drift"), cell(c, "detail")});
        }
        out += t.render();
    } else {
        out += QStringLiteral("no checks reported\n");
    }
    const QJsonArray repairs = r.value(s("repairs")).toArray();
    if (!repairs.isEmpty()) {
        TextTable t({s("REPAIR"), s("SUBJECT"), s("DETAIL")});
        t.setMaxWidth(2, 80);
        for (const QJsonValue &v : repairs) {
            const QJsonObject c = v.toObject();
            t.addRow({cell(c, "action"), cell(c, "subject"), cell(c, "detail")});
        }
        out += QLatin1Char('\n') + t.render();
    }
    return out;
}

QString formatReconcileRuns(const QJsonArray &runs) {
    if (runs.isEmpty())
        return QStringLiteral("no reconciliation runs\n");
    TextTable t({s("RUN"), s("SALE"), s("MODE"), s("TRIGGER"), s("ACTOR"), s("STARTED"), s("OK"),
                 s("CHECKS"), s("DRIFTING"), s("REPAIRS")});
    t.setMaxWidth(4, 30);
    for (const QJsonValue &v : runs) {
        const QJsonObject r = v.toObject();
        const QJsonArray checks = r.value(s("checks")).toArray();
        int drifting = 0;
        for (const QJsonValue &c : checks)
            drifting += c.toObject().value(s("drift")).toDouble() != 0 ? 1 : 0;
        t.addRow({cell(r, "run_id"), cell(r, "sale_id"), cell(r, "mode"), cell(r, "trigger"),
                  cell(r, "actor"), formatTime(r.value(s("started_at"))), cell(r, "ok"),
                  QString::number(checks.size()), QString::number(drifting),
                  QString::number(r.value(s("repairs")).toArray().size())});
    }
    return t.render();
}

// ---- H5 (issue 19): provider reconciliation ----
QString formatProviderReconcile(const QJsonObject &r) {
    const bool ok = r.value(s("ok")).toBool();
    const QJsonObject w = r.value(s("window")).toObject();
    QString out = QStringLiteral("provider reconcile run %1 of %2 (%3, %4 by %5): %6\n")
                      .arg(cell(r, "run_id"), cell(r, "provider"), cell(r, "mode"),
                           cell(r, "trigger"), cell(r, "actor"), ok ? s("ok") : s("DRIFT LEFT"));
    out += QStringLiteral("%1 provider payments listed after %2%3\n")
               .arg(cell(w, "listed"),
                    w.value(s("after")).isNull() ? s("the first") : cell(w, "after"),
                    w.value(s("complete")).toBool() ? QString() : s(" (stopped early: more left)"));
    TextTable t({s("CHECK"), s("FOUND"), s("REPAIRED"), s("FLAGGED")});
    TextTable f({s("CHECK"), s("ORDER"), s("ORDER STATUS"), s("PAYMENT"), s("ACTION"), s("RESULT"),
                 s("REASON")});
    f.setMaxWidth(6, 70);
    int findings = 0;
    for (const QJsonValue &v : r.value(s("checks")).toArray()) {
        const QJsonObject c = v.toObject();
        t.addRow({cell(c, "check"), cell(c, "found"), cell(c, "repaired"), cell(c, "flagged")});
        for (const QJsonValue &e : c.value(s("examples")).toArray()) {
            const QJsonObject x = e.toObject();
            f.addRow({cell(x, "check"), cell(x, "order_id"), cell(x, "order_status"),
                      cell(x, "payment_status"), cell(x, "action"), cell(x, "result"),
                      cell(x, "reason")});
            ++findings;
        }
    }
    out += t.render();
    if (findings > 0)
        out += QLatin1Char('\n') + f.render();
    return out;
}

QString formatProviderReconcileRuns(const QJsonArray &runs) {
    if (runs.isEmpty())
        return QStringLiteral("no provider reconciliation runs\n");
    TextTable t({s("RUN"), s("PROVIDER"), s("MODE"), s("TRIGGER"), s("ACTOR"), s("STARTED"),
                 s("OK"), s("LISTED"), s("FOUND"), s("REPAIRED")});
    t.setMaxWidth(4, 30);
    for (const QJsonValue &v : runs) {
        const QJsonObject r = v.toObject();
        qint64 found = 0, repaired = 0;
        for (const QJsonValue &c : r.value(s("checks")).toArray()) {
            found += c.toObject().value(s("found")).toInteger();
            repaired += c.toObject().value(s("repaired")).toInteger();
        }
        t.addRow({cell(r, "run_id"), cell(r, "provider"), cell(r, "mode"), cell(r, "trigger"),
                  cell(r, "actor"), formatTime(r.value(s("started_at"))), cell(r, "ok"),
                  cell(r.value(s("window")).toObject(), "listed"), QString::number(found),
                  QString::number(repaired)});
    }
    return t.render();
}
// ---- end H5 ----

QString formatAudit(const QJsonArray &entries) {
    if (entries.isEmpty())
        return QStringLiteral("no audit entries\n");
    TextTable t({s("ID"), s("AT"), s("ACTOR"), s("ACTION"), s("SALE"), s("CHANGE"), s("DETAIL")});
    t.setMaxWidth(2, 32);
    t.setMaxWidth(5, 50);
    t.setMaxWidth(6, 50);
    for (const QJsonValue &v : entries) {
        const QJsonObject e = v.toObject();
        t.addRow({cell(e, "id"), formatTime(e.value(s("at"))), cell(e, "actor"), cell(e, "action"),
                  cell(e, "sale_id"), auditChange(e.value(s("before")), e.value(s("after"))),
                  cell(e, "detail")});
    }
    return t.render();
}

// ---- H4 merchant webhooks (issue 19) ----
QString formatWebhookEndpoints(const QJsonArray &endpoints) {
    if (endpoints.isEmpty())
        return QStringLiteral("no merchant webhook endpoints\n");
    TextTable t({s("ENDPOINT"), s("URL"), s("EVENTS"), s("CONFIGURED"), s("PENDING"),
                 s("DELIVERED"), s("DEAD"), s("LAST DELIVERED")});
    t.setMaxWidth(1, 50);
    for (const QJsonValue &v : endpoints) {
        const QJsonObject e = v.toObject();
        QStringList events;
        for (const QJsonValue &ev : e.value(s("events")).toArray())
            events << ev.toString();
        t.addRow({cell(e, "id"), cell(e, "url"), events.join(QLatin1Char(',')),
                  cell(e, "configured"), cell(e, "pending"), cell(e, "delivered"), cell(e, "dead"),
                  formatTime(e.value(s("last_delivered_at")))});
    }
    return t.render();
}

QString formatDeadLetters(const QJsonObject &page) {
    const QJsonArray letters = page.value(s("dead_letters")).toArray();
    if (letters.isEmpty())
        return QStringLiteral("no dead letters\n");
    TextTable t({s("ID"), s("ENDPOINT"), s("EVENT"), s("TYPE"), s("ORDER"), s("ATTEMPTS"),
                 s("LAST ERROR"), s("DEAD AT"), s("REPLAYS")});
    t.setMaxWidth(2, 40);
    t.setMaxWidth(6, 50);
    for (const QJsonValue &v : letters) {
        const QJsonObject d = v.toObject();
        t.addRow({cell(d, "id"), cell(d, "endpoint_id"), cell(d, "event_id"), cell(d, "event_type"),
                  cell(d, "order_id"), cell(d, "attempts"), cell(d, "last_error"),
                  formatTime(d.value(s("dead_at"))), cell(d, "replays")});
    }
    QString out = t.render();
    if (!page.value(s("next_before_id")).isNull())
        out += QStringLiteral("more: --before-id %1\n")
                   .arg(formatCell(page.value(s("next_before_id"))));
    return out;
}

QString formatReplay(const QJsonObject &result) {
    QStringList ids;
    for (const QJsonValue &v : result.value(s("delivery_ids")).toArray())
        ids << formatCell(v);
    if (ids.isEmpty())
        return QStringLiteral("nothing to replay: no dead letters matched\n");
    return QStringLiteral("replayed %1 deliver%2: %3 (audit %4)\n")
        .arg(ids.size())
        .arg(ids.size() == 1 ? QStringLiteral("y") : QStringLiteral("ies"))
        .arg(ids.join(QStringLiteral(", ")), formatCell(result.value(s("audit_id"))));
}

// issue 20: the order streams' dead letters.
QString formatOrderDeadLetters(const QJsonArray &letters) {
    if (letters.isEmpty())
        return QStringLiteral("no dead letters\n");
    TextTable t({s("SALE"), s("ENTRY"), s("USER"), s("QTY"), s("REASON"), s("AT"), s("AGE S"),
                 s("RESOLUTION")});
    t.setMaxWidth(4, 60);
    t.setMaxWidth(7, 60);
    for (const QJsonValue &v : letters) {
        const QJsonObject d = v.toObject();
        const QJsonObject r = d.value(s("resolution")).toObject();
        const QString resolution =
            r.isEmpty()
                ? QStringLiteral("-")
                : QStringLiteral("%1 by %2 at %3: %4")
                      .arg(formatCell(r.value(s("action"))), formatCell(r.value(s("operator"))),
                           formatTime(r.value(s("at"))), formatCell(r.value(s("outcome"))));
        t.addRow({cell(d, "sale_id"), cell(d, "entry_id"), cell(d, "user_id"), cell(d, "qty"),
                  cell(d, "reason"), formatTime(d.value(s("at"))), cell(d, "age_s"), resolution});
    }
    return t.render();
}

QString formatDeadLetterOutcome(const QJsonObject &result) {
    QString out =
        QStringLiteral("dead letter %1: %2")
            .arg(formatCell(result.value(s("entry_id"))), formatCell(result.value(s("outcome"))));
    if (result.contains(s("reason")))
        out += QStringLiteral(" (%1)").arg(formatCell(result.value(s("reason"))));
    if (result.contains(s("detail")))
        out += QStringLiteral(" (%1)").arg(formatCell(result.value(s("detail"))));
    return out + QLatin1Char('\n');
}

// issue 19: notify.
QString formatNotificationFailures(const QJsonObject &result) {
    const QJsonArray failures = result.value(s("failures")).toArray();
    QString out =
        QStringLiteral("%1 failed for good, %2 not sent yet (in flight or waiting for "
                       "a retry)\n")
            .arg(formatCell(result.value(s("total"))), formatCell(result.value(s("unsent"))));
    if (failures.isEmpty())
        return out;
    TextTable t({s("FAILED AT"), s("ORDER"), s("USER"), s("KIND"), s("FAILURE")});
    t.setMaxWidth(4, 70);
    for (const QJsonValue &v : failures) {
        const QJsonObject f = v.toObject();
        t.addRow({formatTime(f.value(s("failed_at"))), cell(f, "order_id"), cell(f, "user_id"),
                  cell(f, "kind"), cell(f, "failure")});
    }
    return out + t.render();
}

double quantile(QList<double> values, double q) {
    if (values.isEmpty())
        return 0;
    std::sort(values.begin(), values.end());
    const qsizetype rank = qsizetype(std::ceil(q * double(values.size())));
    return values[std::clamp<qsizetype>(rank - 1, 0, values.size() - 1)];
}

QJsonObject pingSummary(QList<double> rtts, qint64 skewMs, const QString &version) {
    const auto round3 = [](double v) { return std::round(v * 1000) / 1000; };
    return QJsonObject{{s("count"), rtts.size()},
                       {s("rtt_min_ms"), round3(quantile(rtts, 0))},
                       {s("rtt_p50_ms"), round3(quantile(rtts, 0.5))},
                       {s("rtt_p99_ms"), round3(quantile(rtts, 0.99))},
                       {s("rtt_max_ms"), round3(quantile(rtts, 1))},
                       {s("skew_ms"), skewMs},
                       {s("version"), version}};
}

QString formatPing(const QString &url, QList<double> rtts, qint64 skewMs, const QString &version) {
    return QStringLiteral("%1 pings to %2 (server %3)\n"
                          "round trip: min %4 ms, p50 %5 ms, p99 %6 ms, max %7 ms\n"
                          "server clock skew: %8%9 ms\n")
        .arg(rtts.size())
        .arg(url, version.isEmpty() ? s("-") : version)
        .arg(number(quantile(rtts, 0), 2), number(quantile(rtts, 0.5), 2),
             number(quantile(rtts, 0.99), 2), number(quantile(rtts, 1), 2))
        .arg(skewMs >= 0 ? s("+") : QString())
        .arg(skewMs);
}

} // namespace flashsale::ctl
