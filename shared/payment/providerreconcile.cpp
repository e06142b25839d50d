#include "providerreconcile.h"

#include "core/timeformat.h"
#include "metrics/metrics.h"
#include "payment/paymentgateway.h"
#include "payment/paymentoutcomes.h"
#include "pg/pgconnection.h"

#include <QDateTime>
#include <QHash>
#include <QJsonArray>
#include <QJsonDocument>
#include <QLoggingCategory>
#include <QPointer>

#include <optional>

namespace flashsale {

Q_LOGGING_CATEGORY(lcProviderReconcile, "flashsale.payment.reconcile", QtInfoMsg)

namespace {

// The advisory lock that keeps runs on one database from overlapping ("FSPR").
constexpr qint64 kLockId = 0x46535052;

const QStringList kChecks = {
    QStringLiteral("captured_not_paid"), QStringLiteral("paid_not_captured"),
    QStringLiteral("refunded_not_cancelled"), QStringLiteral("double_charge")};

// One drift found for one order.
struct Finding {
    QString check;
    qint64 orderId = 0;
    QJsonArray payments;   // the provider's payments of the order: {id, status, amount_cents}
    QString orderStatus;   // "" when PostgreSQL has no such order
    QString paymentStatus; // "" when it has no payment row
    QString reason;        // why it is drift, in words
    // A repair: the outcome to apply and the payment it is about; empty: flagged for a person.
    QByteArray outcome;
    QByteArray providerRef;
    QString result; // after a repair: what apply() answered ("applied", ...), or the error
    bool resolved = false;

    QJsonObject json() const {
        QJsonObject o{{QStringLiteral("check"), check},
                      {QStringLiteral("order_id"), orderId},
                      {QStringLiteral("provider_payments"), payments},
                      {QStringLiteral("order_status"),
                       orderStatus.isEmpty() ? QJsonValue() : QJsonValue(orderStatus)},
                      {QStringLiteral("payment_status"),
                       paymentStatus.isEmpty() ? QJsonValue() : QJsonValue(paymentStatus)},
                      {QStringLiteral("reason"), reason},
                      {QStringLiteral("action"),
                       outcome.isEmpty() ? QStringLiteral("flag") : QStringLiteral("repair")}};
        if (!outcome.isEmpty()) {
            o.insert(QStringLiteral("outcome"), QString::fromLatin1(outcome));
            o.insert(QStringLiteral("provider_ref"), QString::fromUtf8(providerRef));
        }
        if (!result.isEmpty())
            o.insert(QStringLiteral("result"), result);
        return o;
    }
};

// What PostgreSQL holds for one order.
struct Local {
    QString orderStatus;
    QString paymentStatus;
    QByteArray providerRef;
};

// The run's scratch table: the provider's payments listed so far, on the run's connection
// (a temporary table: no WAL, gone with the session). Made on a connection's first run, emptied
// at the start and end of every run.
constexpr char kPrepareListing[] = R"(DO $$
BEGIN
    IF to_regclass('pg_temp.provider_listing') IS NULL THEN
        CREATE TEMPORARY TABLE provider_listing (
            id text NOT NULL, order_id bigint NOT NULL, status text NOT NULL,
            amount_cents bigint NOT NULL, created_ms bigint NOT NULL);
        CREATE INDEX ON provider_listing (order_id);
    ELSE
        TRUNCATE provider_listing;
    END IF;
END $$)";

// A subquery: the listed payments of the order in `orderColumn`, oldest first, as a JSON array
// of [id, status, amount_cents, created_ms] (read back by listedPayments()).
QByteArray listedPaymentsOf(const char *orderColumn) {
    return QByteArray("SELECT coalesce(jsonb_agg(jsonb_build_array(l.id, l.status, l.amount_cents, "
                      "l.created_ms) ORDER BY l.created_ms, l.id), '[]') "
                      "FROM provider_listing l WHERE l.order_id = ")
           + orderColumn;
}

QList<ProviderPayment> listedPayments(const QByteArray &json) {
    QList<ProviderPayment> out;
    for (const QJsonValue &v : QJsonDocument::fromJson(json).array()) {
        const QJsonArray a = v.toArray();
        ProviderPayment p;
        p.id = a.at(0).toString().toUtf8();
        p.status = a.at(1).toString().toUtf8();
        p.amountCents = a.at(2).toInteger();
        p.createdMs = a.at(3).toInteger();
        out << p;
    }
    return out;
}

QJsonObject paymentJson(const ProviderPayment &p) {
    return {{QStringLiteral("id"), QString::fromUtf8(p.id)},
            {QStringLiteral("status"), QString::fromUtf8(p.status)},
            {QStringLiteral("amount_cents"), p.amountCents},
            {QStringLiteral("created_at"), isoTime(p.createdMs)}};
}

// The drift, per check, left after the latest run in this process (0: clean).
void recordDrift(const QHash<QString, qint64> &left) {
    auto &m = Metrics::instance();
    for (const QString &check : kChecks)
        m.gauge("flashsale_provider_reconcile_drift",
                "Drift the latest provider reconciliation run left, per check (0: clean; "
                "repaired drift is not counted).",
                "check=\"" + check.toUtf8() + '"')
            .set(left.value(check));
}

} // namespace

struct ProviderReconciler::Impl {
    PgConnection &pg;
    PaymentGateway &gateway;
    PaymentOutcomes &outcomes;
    Limits limits;
    bool running = false;
};

namespace {

// One run:
//
//   lock ─▶ cursor ─▶ list pages ─▶ read orders ─▶ read captured ─▶ classify
//        ─▶ [repair, one outcome at a time] ─▶ store (run, repairs, audit) ─▶ unlock
//
// It keeps itself alive through the callbacks it hands out and ends by calling `done` once,
// unless the reconciler is gone (its Impl expired): then it stops at the next step.
class ProviderRun final : public std::enable_shared_from_this<ProviderRun> {
public:
    using Done = std::function<void(const Result<QJsonObject> &)>;

    ProviderRun(std::weak_ptr<ProviderReconciler::Impl> owner, ProviderReconciler::Options options,
                Done done)
        : m_owner(std::move(owner))
        , m_options(std::move(options))
        , m_done(std::move(done)) {}

    void start() {
        m_startedMs = QDateTime::currentMSecsSinceEpoch();
        auto d = m_owner.lock();
        m_limits = d->limits;
        m_provider = d->gateway.name().toUtf8();
        pg("SELECT pg_try_advisory_lock($1)", {QByteArray::number(kLockId)},
           [self = shared_from_this()](const PgResult &r) {
               if (r.rows.value(0).value(0) != "t")
                   return self->end(fail(ErrorCode::Conflict,
                                         QStringLiteral("a provider reconciliation is already "
                                                        "running")));
               self->m_locked = true;
               self->pg(kPrepareListing, {}, [self](const PgResult &) { self->readCursor(); });
           });
    }

private:
    std::shared_ptr<ProviderReconciler::Impl> owner() const { return m_owner.lock(); }

    // Ends the run: releases the lock (whatever happened) and answers.
    void end(const Result<QJsonObject> &result) {
        if (m_ended)
            return;
        m_ended = true;
        auto d = owner();
        if (m_locked && d) {
            d->pg.query("TRUNCATE provider_listing", {}, [](const Result<PgResult> &) {});
            d->pg.query("SELECT pg_advisory_unlock($1)", {QByteArray::number(kLockId)},
                        [](const Result<PgResult> &) {});
        }
        if (!result)
            qCWarning(lcProviderReconcile).noquote()
                << "provider reconciliation failed:" << result.error().message;
        if (d)
            m_done(result);
    }

    void pg(const QByteArray &sql, const QList<QByteArray> &params,
            std::function<void(const PgResult &)> next) {
        auto d = owner();
        if (!d)
            return end(fail(ErrorCode::Unavailable, QStringLiteral("reconciler gone")));
        d->pg.query(sql, params,
                    [self = shared_from_this(), next = std::move(next)](const Result<PgResult> &r) {
                        if (self->m_ended)
                            return;
                        if (!r)
                            return self->end(fail(r.error().code, QStringLiteral("PostgreSQL: ")
                                                                      + r.error().message));
                        next(*r);
                    });
    }

    void readCursor() {
        pg("SELECT cursor_after, cursor_created_ms FROM provider_reconcile_runs "
           "WHERE provider = $1 AND cursor_after IS NOT NULL ORDER BY id DESC LIMIT 1",
           {m_provider}, [self = shared_from_this()](const PgResult &r) {
               if (!r.rows.isEmpty()) {
                   self->m_cursor = r.rows[0][0];
                   self->m_cursorCreatedMs = r.rows[0][1].toLongLong();
               }
               self->m_nextCursor = self->m_cursor;
               self->m_nextCursorCreatedMs = self->m_cursorCreatedMs;
               self->listPage(self->m_cursor);
           });
    }

    void listPage(const QByteArray &after) {
        auto d = owner();
        if (!d)
            return end(fail(ErrorCode::Unavailable, QStringLiteral("reconciler gone")));
        d->gateway.listPayments(
            after, m_limits.pageSize,
            [self = shared_from_this(), after](const Result<ProviderPage> &page) {
                if (self->m_ended)
                    return;
                if (!page) {
                    // The provider no longer knows the cursor's payment (its ledger was reset,
                    // or dropped old payments): list from the first payment, once. The simulator
                    // answers NotFound; paysim a 400 on starting_after (HttpGateway: Invalid).
                    const ErrorCode code = page.error().code;
                    if ((code == ErrorCode::NotFound || code == ErrorCode::Invalid)
                        && !after.isEmpty() && after == self->m_cursor && self->m_pages == 0) {
                        qCWarning(lcProviderReconcile).noquote()
                            << "the provider does not know the cursor" << after
                            << "any more: listing from its first payment";
                        self->m_cursorReset = true;
                        self->m_cursor.clear();
                        self->m_cursorCreatedMs = 0;
                        self->m_nextCursor.clear();
                        self->m_nextCursorCreatedMs = 0;
                        return self->listPage({});
                    }
                    // Whatever the provider answered, for the caller it is a dependency that
                    // failed: try again later (Timeout stays a timeout).
                    return self->end(fail(
                        code == ErrorCode::Timeout ? ErrorCode::Timeout : ErrorCode::Unavailable,
                        QStringLiteral("provider list: ") + page.error().message));
                }
                self->takePage(*page);
            });
    }

    // Each page goes to the run's scratch table before the next is asked for, so the process
    // holds one page at a time however long the look-back: the per-order checks are a query.
    void takePage(const ProviderPage &page) {
        ++m_pages;
        const qint64 trailing = m_startedMs - m_limits.lookbackMs;
        QJsonArray rows;
        for (const ProviderPayment &p : page.data) {
            rows.append(QJsonArray{QString::fromUtf8(p.id), p.orderId, QString::fromUtf8(p.status),
                                   p.amountCents, p.createdMs});
            m_lastCreatedMs = std::max(m_lastCreatedMs, p.createdMs);
            if (p.createdMs < trailing) {
                m_nextCursor = p.id;
                m_nextCursorCreatedMs = p.createdMs;
            }
            ++m_listed;
        }
        const bool more = page.hasMore && !page.data.isEmpty();
        const QByteArray last = page.data.isEmpty() ? QByteArray() : page.data.last().id;
        pg("INSERT INTO provider_listing (id, order_id, status, amount_cents, created_ms) "
           "SELECT r ->> 0, (r ->> 1)::bigint, r ->> 2, (r ->> 3)::bigint, (r ->> 4)::bigint "
           "FROM jsonb_array_elements($1::jsonb) AS r",
           {QJsonDocument(rows).toJson(QJsonDocument::Compact)},
           [self = shared_from_this(), more, last](const PgResult &) {
               if (more) {
                   if (self->m_pages < self->m_limits.maxPages)
                       return self->listPage(last);
                   self->m_complete = false;
               }
               self->pg("ANALYZE provider_listing", {},
                        [self](const PgResult &) { self->readCaptured(); });
           });
    }

    // Payments captured here, in the window, with no payment that took money at the provider.
    // The window: claimed after the cursor's payment was created (plus the grace, for clocks
    // that differ), captured before the listing began (or, when it stopped early, before the
    // last payment listed was created), less the grace.
    void readCaptured() {
        const qint64 from = m_cursor.isEmpty() ? 0 : m_cursorCreatedMs + m_limits.graceMs;
        const qint64 until =
            (m_complete ? m_startedMs : std::min(m_startedMs, m_lastCreatedMs)) - m_limits.graceMs;
        pg("SELECT p.order_id, o.status, p.status, coalesce(p.provider_ref, ''), "
           "(" + listedPaymentsOf("p.order_id")
               + "), count(*) OVER () "
                 "FROM payments p JOIN orders o ON o.id = p.order_id "
                 "WHERE p.provider = $1 AND p.status = 'captured' "
                 "AND p.created_at > to_timestamp($2::bigint / 1000.0) "
                 "AND p.updated_at < to_timestamp($3::bigint / 1000.0) "
                 "AND NOT EXISTS (SELECT 1 FROM provider_listing l WHERE l.order_id = p.order_id "
                 "                AND l.status IN ('succeeded', 'refunded')) "
                 "ORDER BY p.order_id LIMIT $4",
           {m_provider, QByteArray::number(from), QByteArray::number(until),
            QByteArray::number(m_limits.maxRepairs)},
           [self = shared_from_this()](const PgResult &r) {
               for (const auto &row : r.rows) {
                   Finding f;
                   f.check = QStringLiteral("paid_not_captured");
                   f.orderId = row[0].toLongLong();
                   f.orderStatus = QString::fromUtf8(row[1]);
                   f.paymentStatus = QString::fromUtf8(row[2]);
                   for (const ProviderPayment &p : listedPayments(row[4]))
                       f.payments.append(paymentJson(p));
                   f.reason = f.payments.isEmpty()
                                  ? QStringLiteral("captured here (provider ref %1); the provider "
                                                   "lists no payment for the order")
                                        .arg(QString::fromUtf8(row[3]))
                                  : QStringLiteral("captured here; the provider declined every "
                                                   "payment of the order");
                   self->m_findings.append(f);
               }
               // Rows beyond the LIMIT are counted, not listed.
               self->m_extra[QStringLiteral("paid_not_captured")] =
                   r.rows.isEmpty() ? 0 : r.rows[0][5].toLongLong() - r.rows.size();
               self->readSuspects();
           });
    }

    // The orders whose provider payments may be drift, with what PostgreSQL holds for them:
    // the same conditions as classify() decides on, so that only they come back (at most
    // maxRepairs; the rest are counted per check).
    void readSuspects() {
        const qint64 judged = m_startedMs - m_limits.graceMs;
        pg(R"(WITH per_order AS (
    SELECT order_id, count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
           count(*) FILTER (WHERE status = 'refunded') AS refunded,
           bool_or(created_ms > $1::bigint) AS young
    FROM provider_listing GROUP BY order_id),
judged AS (
    SELECT a.order_id, o.id IS NOT NULL AS known, coalesce(o.status, '') AS order_status,
           coalesce(p.status, '') AS payment_status, coalesce(p.provider_ref, '') AS provider_ref,
           a.succeeded > 1 AS dc,
           NOT a.young AND a.succeeded > 0
               AND NOT coalesce(o.status = 'paid' OR p.status IN ('refund_due', 'refunded'), false)
               AS cnp,
           NOT a.young AND a.succeeded = 0 AND a.refunded > 0
               AND NOT coalesce(p.status = 'refunded' AND o.status = 'cancelled', false) AS rnc
    FROM per_order a LEFT JOIN orders o ON o.id = a.order_id
         LEFT JOIN payments p ON p.order_id = a.order_id),
suspect AS (
    SELECT *, count(*) FILTER (WHERE dc) OVER () AS n_dc, count(*) FILTER (WHERE cnp) OVER () AS n_cnp,
           count(*) FILTER (WHERE rnc) OVER () AS n_rnc
    FROM judged WHERE dc OR cnp OR rnc ORDER BY order_id LIMIT $2)
SELECT s.order_id, s.known, s.order_status, s.payment_status, s.provider_ref, ()"
               + listedPaymentsOf("s.order_id") + R"(),
       s.n_dc, s.n_cnp, s.n_rnc
FROM suspect s ORDER BY s.order_id)",
           {QByteArray::number(judged), QByteArray::number(m_limits.maxRepairs)},
           [self = shared_from_this()](const PgResult &r) { self->classify(r); });
    }

    // Decides, for each suspect order of readSuspects(), which checks it fails and why.
    void classify(const PgResult &suspects) {
        const qint64 judged = m_startedMs - m_limits.graceMs;
        QHash<QString, qint64> returned;
        for (const auto &row : suspects.rows) {
            const qint64 order = row[0].toLongLong();
            std::optional<Local> local;
            if (row[1] == "t")
                local = Local{QString::fromUtf8(row[2]), QString::fromUtf8(row[3]), row[4]};
            const bool known = local.has_value();
            QList<ProviderPayment> succeeded, refunded;
            bool young = false;
            QJsonArray payments;
            for (const ProviderPayment &p : listedPayments(row[5])) {
                payments.append(paymentJson(p));
                if (p.createdMs > judged)
                    young = true;
                if (p.status == "succeeded")
                    succeeded << p;
                else if (p.status == "refunded")
                    refunded << p;
            }
            auto finding = [&](const QString &check, const QString &reason) {
                Finding f;
                f.check = check;
                f.orderId = order;
                f.payments = payments;
                if (known) {
                    f.orderStatus = local->orderStatus;
                    f.paymentStatus = local->paymentStatus;
                }
                f.reason = reason;
                return f;
            };

            if (succeeded.size() > 1)
                m_findings.append(
                    finding(QStringLiteral("double_charge"),
                            QStringLiteral("%1 payments of the order are captured at the provider")
                                .arg(succeeded.size())));
            if (young)
                continue; // its outcome may still be on its way here
            if (!succeeded.isEmpty()) {
                if (known
                    && (local->orderStatus == QLatin1String("paid")
                        || local->paymentStatus == QLatin1String("refund_due")
                        || local->paymentStatus == QLatin1String("refunded")))
                    continue;
                Finding f = finding(QStringLiteral("captured_not_paid"), {});
                if (!known) {
                    f.reason = QStringLiteral("captured at the provider; no such order here");
                } else if (local->paymentStatus.isEmpty()) {
                    f.reason = QStringLiteral("captured at the provider; the order has no payment "
                                              "row here");
                } else if (local->paymentStatus == QLatin1String("charging")
                           || local->paymentStatus == QLatin1String("declined")
                           || local->paymentStatus == QLatin1String("void")) {
                    f.reason = QStringLiteral("captured at the provider; the outcome never "
                                              "arrived here (payment %1)")
                                   .arg(local->paymentStatus);
                    f.outcome = "succeeded";
                    // The payment this order's row names, if it is one that took money.
                    f.providerRef = succeeded.first().id;
                    for (const ProviderPayment &p : succeeded)
                        if (p.id == local->providerRef)
                            f.providerRef = p.id;
                } else {
                    f.reason = QStringLiteral("captured at the provider; payment %1 here but the "
                                              "order is %2")
                                   .arg(local->paymentStatus, local->orderStatus);
                }
                m_findings.append(f);
            } else if (!refunded.isEmpty()) {
                if (known && local->paymentStatus == QLatin1String("refunded")
                    && local->orderStatus == QLatin1String("cancelled"))
                    continue;
                Finding f = finding(QStringLiteral("refunded_not_cancelled"), {});
                if (!known) {
                    f.reason = QStringLiteral("refunded at the provider; no such order here");
                } else if (local->paymentStatus == QLatin1String("refund_due")) {
                    f.reason = QStringLiteral("refunded at the provider; the refund's answer "
                                              "never arrived here");
                    f.outcome = "refunded";
                    f.providerRef = refunded.first().id;
                } else {
                    f.reason = QStringLiteral("refunded at the provider; payment %1 and order %2 "
                                              "here")
                                   .arg(local->paymentStatus.isEmpty() ? QStringLiteral("missing")
                                                                       : local->paymentStatus,
                                        local->orderStatus);
                }
                m_findings.append(f);
            }
        }
        // Suspects beyond the LIMIT are counted, not listed.
        if (!suspects.rows.isEmpty()) {
            const auto &first = suspects.rows[0];
            const QList<std::pair<QString, qint64>> totals = {
                {QStringLiteral("double_charge"), first[6].toLongLong()},
                {QStringLiteral("captured_not_paid"), first[7].toLongLong()},
                {QStringLiteral("refunded_not_cancelled"), first[8].toLongLong()}};
            for (const auto &[check, total] : totals) {
                qint64 listed = 0;
                for (const Finding &f : m_findings)
                    listed += f.check == check;
                m_extra[check] = std::max<qint64>(0, total - listed);
            }
        }
        std::stable_sort(m_findings.begin(), m_findings.end(),
                         [](const Finding &a, const Finding &b) { return a.orderId < b.orderId; });
        if (!m_options.repair)
            return store();
        m_next = 0;
        repairNext();
    }

    // The repairs go out in windows of kRepairWindow outcomes: PaymentOutcomes writes the
    // outcomes queued in one turn of the event loop as one statement, so a window costs about
    // one transaction, and no more than a window is ever in flight. At most maxRepairs a run.
    static constexpr int kRepairWindow = 256;

    void repairNext() {
        auto d = owner();
        if (!d)
            return end(fail(ErrorCode::Unavailable, QStringLiteral("reconciler gone")));
        QList<qsizetype> window;
        while (m_next < m_findings.size() && window.size() < kRepairWindow
               && m_repairs < m_limits.maxRepairs) {
            if (!m_findings[m_next].outcome.isEmpty()) {
                window << m_next;
                ++m_repairs;
            }
            ++m_next;
        }
        if (window.isEmpty())
            return store();
        m_inFlight = window.size();
        for (const qsizetype i : window) {
            const Finding &f = m_findings[i];
            ProviderOutcome outcome;
            outcome.kind = f.outcome == "refunded" ? ProviderOutcome::Kind::Refunded
                                                   : ProviderOutcome::Kind::Succeeded;
            outcome.orderId = f.orderId;
            outcome.providerRef = f.providerRef;
            outcome.source = "reconcile";
            d->outcomes.apply(outcome,
                              [self = shared_from_this(), i](const Result<OutcomeApplied> &r) {
                                  if (self->m_ended)
                                      return;
                                  self->repaired(i, r);
                              });
        }
    }

    void repaired(qsizetype i, const Result<OutcomeApplied> &r) {
        Finding &f = m_findings[i];
        if (!r) {
            f.result = QStringLiteral("failed: ") + r.error().message;
        } else {
            f.result = QString::fromLatin1(outcomeAppliedName(*r));
            f.resolved = *r == OutcomeApplied::Applied || *r == OutcomeApplied::Duplicate
                         || *r == OutcomeApplied::RefundQueued;
        }
        qCDebug(lcProviderReconcile).noquote()
            << "order" << f.orderId << f.check << "repair:" << f.outcome << f.providerRef << "->"
            << f.result;
        if (--m_inFlight == 0)
            repairNext();
    }

    QJsonObject report() const {
        QHash<QString, qint64> found, repaired;
        QHash<QString, QJsonArray> examples;
        QJsonArray repairs;
        for (const Finding &f : m_findings) {
            ++found[f.check];
            if (f.resolved)
                ++repaired[f.check];
            if (examples[f.check].size() < m_limits.examples)
                examples[f.check].append(f.json());
            if (!f.result.isEmpty() && repairs.size() < 100)
                repairs.append(f.json());
        }
        QJsonArray checks;
        bool ok = true;
        for (const QString &check : kChecks) {
            const qint64 n = found.value(check) + m_extra.value(check);
            const qint64 r = repaired.value(check);
            ok = ok && n == r;
            checks.append(QJsonObject{{QStringLiteral("check"), check},
                                      {QStringLiteral("found"), n},
                                      {QStringLiteral("repaired"), r},
                                      {QStringLiteral("flagged"), n - r},
                                      {QStringLiteral("examples"), examples.value(check)}});
        }
        QJsonObject window{
            {QStringLiteral("after"),
             m_cursor.isEmpty() ? QJsonValue() : QJsonValue(QString::fromUtf8(m_cursor))},
            {QStringLiteral("after_created_at"),
             m_cursor.isEmpty() ? QJsonValue() : QJsonValue(isoTime(m_cursorCreatedMs))},
            {QStringLiteral("listed"), m_listed},
            {QStringLiteral("pages"), m_pages},
            {QStringLiteral("complete"), m_complete},
            {QStringLiteral("cursor_reset"), m_cursorReset},
            {QStringLiteral("next_cursor"),
             m_nextCursor.isEmpty() ? QJsonValue() : QJsonValue(QString::fromUtf8(m_nextCursor))},
            {QStringLiteral("grace_seconds"), m_limits.graceMs / 1000.0},
            {QStringLiteral("lookback_seconds"), m_limits.lookbackMs / 1000.0}};
        return {
            {QStringLiteral("provider"), QString::fromUtf8(m_provider)},
            {QStringLiteral("mode"),
             m_options.repair ? QStringLiteral("repair") : QStringLiteral("dry_run")},
            {QStringLiteral("trigger"), m_options.trigger == ProviderReconciler::Trigger::Schedule
                                            ? QStringLiteral("schedule")
                                            : QStringLiteral("operator")},
            {QStringLiteral("actor"), m_options.actor},
            {QStringLiteral("started_at"), isoTime(m_startedMs)},
            {QStringLiteral("finished_at"), isoTime(QDateTime::currentMSecsSinceEpoch())},
            {QStringLiteral("ok"), ok},
            {QStringLiteral("window"), window},
            {QStringLiteral("checks"), checks},
            {QStringLiteral("repairs"), repairs}};
    }

    // The run, its repairs and their audit records, in one statement.
    void store() {
        QJsonObject rep = report();
        QJsonArray repairs;
        for (const Finding &f : m_findings) {
            if (f.result.isEmpty())
                continue;
            repairs.append(QJsonObject{
                {QStringLiteral("order_id"), f.orderId},
                {QStringLiteral("check_name"), f.check},
                {QStringLiteral("provider_ref"), QString::fromUtf8(f.providerRef)},
                {QStringLiteral("outcome"), QString::fromLatin1(f.outcome)},
                {QStringLiteral("result"), f.result.startsWith(QLatin1String("failed"))
                                               ? QStringLiteral("failed")
                                               : f.result},
                {QStringLiteral("detail"),
                 QJsonObject{{QStringLiteral("before"),
                              QJsonObject{{QStringLiteral("order_status"), f.orderStatus},
                                          {QStringLiteral("payment_status"), f.paymentStatus}}},
                             {QStringLiteral("reason"), f.reason},
                             {QStringLiteral("answer"), f.result}}}});
        }
        QJsonObject summary{{QStringLiteral("mode"), rep.value(QStringLiteral("mode"))},
                            {QStringLiteral("trigger"), rep.value(QStringLiteral("trigger"))},
                            {QStringLiteral("provider"), rep.value(QStringLiteral("provider"))},
                            {QStringLiteral("ok"), rep.value(QStringLiteral("ok"))},
                            {QStringLiteral("listed"), m_listed}};
        QJsonObject counts;
        for (const QJsonValue &c : rep.value(QStringLiteral("checks")).toArray()) {
            const QJsonObject o = c.toObject();
            counts.insert(
                o.value(QStringLiteral("check")).toString(),
                QJsonObject{{QStringLiteral("found"), o.value(QStringLiteral("found"))},
                            {QStringLiteral("repaired"), o.value(QStringLiteral("repaired"))}});
        }
        summary.insert(QStringLiteral("checks"), counts);
        const auto compact = [](const auto &json) {
            return QJsonDocument(json).toJson(QJsonDocument::Compact);
        };
        pg(R"(WITH n AS (SELECT nextval(pg_get_serial_sequence('provider_reconcile_runs', 'id')) AS id),
run AS (
    INSERT INTO provider_reconcile_runs (id, provider, mode, trigger, actor, started_at, ok, listed,
                                         cursor_after, cursor_created_ms, report)
    SELECT n.id, $1, $2, $3, $4, to_timestamp($5::bigint / 1000.0), $6, $7, nullif($8, ''),
           nullif($9, '')::bigint, $10::jsonb || jsonb_build_object('run_id', n.id)
    FROM n RETURNING id),
rep AS (
    INSERT INTO provider_reconcile_repairs (run_id, order_id, check_name, provider_ref, outcome,
                                            result, detail)
    SELECT run.id, x.order_id, x.check_name, x.provider_ref, x.outcome, x.result, x.detail
    FROM run, jsonb_to_recordset($11::jsonb)
         AS x(order_id bigint, check_name text, provider_ref text, outcome text, result text,
              detail jsonb)
    RETURNING run_id, order_id, check_name, provider_ref, outcome, result, detail),
aud AS (
    INSERT INTO audit_log (actor, action, before, after, detail)
    SELECT $4, 'payments.reconcile.repair', rep.detail -> 'before', NULL::jsonb,
           jsonb_build_object('run_id', rep.run_id, 'order_id', rep.order_id,
                              'check', rep.check_name, 'provider_ref', rep.provider_ref,
                              'outcome', rep.outcome, 'result', rep.result,
                              'answer', rep.detail -> 'answer')
    FROM rep
    UNION ALL
    SELECT $4, 'payments.reconcile', NULL::jsonb, NULL::jsonb, $12::jsonb || jsonb_build_object('run_id', run.id)
    FROM run
    RETURNING id)
SELECT run.id, (SELECT count(*) FROM aud) FROM run)",
           {m_provider, m_options.repair ? "repair" : "dry_run",
            m_options.trigger == ProviderReconciler::Trigger::Schedule ? "schedule" : "operator",
            m_options.actor.toUtf8(), QByteArray::number(m_startedMs),
            rep.value(QStringLiteral("ok")).toBool() ? "true" : "false",
            QByteArray::number(m_listed), m_nextCursor,
            m_nextCursor.isEmpty() ? QByteArray() : QByteArray::number(m_nextCursorCreatedMs),
            compact(rep), compact(repairs), compact(summary)},
           [self = shared_from_this(), rep](const PgResult &r) mutable {
               const qint64 runId = r.rows.value(0).value(0).toLongLong();
               rep.insert(QStringLiteral("run_id"), runId);
               QHash<QString, qint64> left;
               for (const QJsonValue &c : rep.value(QStringLiteral("checks")).toArray()) {
                   const QJsonObject o = c.toObject();
                   left[o.value(QStringLiteral("check")).toString()] =
                       o.value(QStringLiteral("flagged")).toInteger();
               }
               recordDrift(left);
               qCInfo(lcProviderReconcile).noquote()
                   << QStringLiteral("provider %1 reconciled (run %2, %3, %4 payments listed): %5")
                          .arg(QString::fromUtf8(self->m_provider))
                          .arg(runId)
                          .arg(self->m_options.repair ? "repair" : "dry run")
                          .arg(self->m_listed)
                          .arg(rep.value(QStringLiteral("ok")).toBool() ? "no drift"
                                                                        : "drift left");
               self->end(rep);
           });
    }

    const std::weak_ptr<ProviderReconciler::Impl> m_owner;
    const ProviderReconciler::Options m_options;
    Done m_done;
    ProviderReconciler::Limits m_limits;
    QByteArray m_provider;
    qint64 m_startedMs = 0;
    bool m_locked = false;
    bool m_ended = false;

    QByteArray m_cursor; // this run lists after it
    qint64 m_cursorCreatedMs = 0;
    QByteArray m_nextCursor; // the next run's
    qint64 m_nextCursorCreatedMs = 0;
    bool m_cursorReset = false;
    int m_pages = 0;
    qint64 m_listed = 0;
    qint64 m_lastCreatedMs = 0;
    bool m_complete = true;

    QList<Finding> m_findings;
    QHash<QString, qint64> m_extra; // found but beyond the rows read
    qsizetype m_next = 0;           // the next finding to consider for repair
    int m_repairs = 0;              // outcomes applied (or tried) so far
    int m_inFlight = 0;             // of the current window
};

} // namespace

ProviderReconciler::ProviderReconciler(PgConnection &pg, PaymentGateway &gateway,
                                       PaymentOutcomes &outcomes, Limits limits, QObject *parent)
    : QObject(parent)
    , d(std::make_shared<Impl>(Impl{pg, gateway, outcomes, limits})) {
    connect(&m_timer, &QTimer::timeout, this, [this] {
        if (m_periodicRunning || d->running)
            return;
        m_periodicRunning = true;
        run(Options{true, m_periodicActor, Trigger::Schedule},
            [this](const Result<QJsonObject> &) { m_periodicRunning = false; });
    });
}

ProviderReconciler::ProviderReconciler(PgConnection &pg, PaymentGateway &gateway,
                                       PaymentOutcomes &outcomes, QObject *parent)
    : ProviderReconciler(pg, gateway, outcomes, Limits{}, parent) {}

ProviderReconciler::~ProviderReconciler() = default;

void ProviderReconciler::run(const Options &options,
                             std::function<void(const Result<QJsonObject> &)> done) {
    if (d->running) {
        done(fail(ErrorCode::Conflict,
                  QStringLiteral("a provider reconciliation is already running")));
        return;
    }
    d->running = true;
    QPointer<ProviderReconciler> self(this);
    std::make_shared<ProviderRun>(d, options,
                                  [self, done = std::move(done)](const Result<QJsonObject> &r) {
                                      if (!self)
                                          return;
                                      self->d->running = false;
                                      if (r)
                                          Q_EMIT self->runRecorded(*r);
                                      done(r);
                                  })
        ->start();
}

void ProviderReconciler::startPeriodic(std::chrono::milliseconds interval, const QString &actor) {
    m_periodicActor = actor;
    if (interval.count() <= 0) {
        m_timer.stop();
        return;
    }
    m_timer.start(interval);
}

} // namespace flashsale
