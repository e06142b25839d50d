#pragma once

#include "core/result.h"

#include <QJsonObject>
#include <QObject>
#include <QString>
#include <QTimer>

#include <chrono>
#include <functional>
#include <memory>

namespace flashsale {

class PaymentGateway;
class PaymentOutcomes;
class PgConnection;

// Provider reconciliation (issue 19; docs/PAYMENTS.md, "Provider reconciliation"): compares the
// payment provider's payments (PaymentGateway::listPayments) with PostgreSQL's payments and
// orders, reports the drift, and with repair applies what is safe.
//
// The checks (the `check` of the report and of flashsale_provider_reconcile_drift{check}):
//   captured_not_paid       the provider captured money for an order that is not paid, and
//                           whose payment is not refund_due or refunded. Repaired when the
//                           payment is charging, declined or void (a lost answer or webhook):
//                           PaymentOutcomes::apply(Succeeded, source "reconcile") pays the order,
//                           or queues the refund the state machine prescribes. Flagged when no
//                           order or no payment row exists, or the payment is captured while the
//                           order is not paid.
//   paid_not_captured       the payment is captured here (the order paid) and the provider holds
//                           no succeeded or refunded payment for it. Flagged.
//   refunded_not_cancelled  the provider refunded the order's only payment that took money, and
//                           the payment here is not refunded or the order not cancelled.
//                           Repaired when the payment is refund_due (the refund's answer was
//                           lost): apply(Refunded). Flagged otherwise (a paid order refunded
//                           out of band: a person decides whether to cancel it).
//   double_charge           more than one payment of one order still captured at the provider
//                           (I5). Flagged: a person refunds the extra one.
// Nothing is ever refunded or cancelled here.
//
// A run lists the provider's payments after a cursor persisted in provider_reconcile_runs
// (trailing `lookbackMs` behind: a payment is looked at by every run for that long), at most
// `maxPages` pages, and compares the PostgreSQL payments claimed after the cursor's payment was
// created. Provider payments younger than `graceMs` are not judged: their answer may still be on
// its way. Each page listed goes into a temporary table on the run's connection before the next
// is asked for, and one query picks the orders that may be drift (at most `maxRepairs`, the rest
// counted): the process holds one page and those orders, however many payments the look-back
// holds. So a connection serves one reconciler. Runs of one database do not overlap (a PostgreSQL
// advisory lock on the run's connection): a second one fails with Conflict.
//
// Each run is stored in provider_reconcile_runs, each repair in provider_reconcile_repairs, and
// both in audit_log (payments.reconcile, payments.reconcile.repair) with the actor, in one
// statement (sql/011_provider_reconcile.sql).
//
// Owned by, and called on, the thread of the objects it is given, which must outlive it.
// Destroying it drops the answers of runs in progress.
class ProviderReconciler final : public QObject {
    Q_OBJECT
public:
    // Who asked for a run; stored as "operator" or "schedule".
    enum class Trigger { Operator, Schedule };

    struct Options {
        bool repair = false;
        QString actor = QStringLiteral("operator");
        Trigger trigger = Trigger::Operator;
    };

    struct Limits {
        int pageSize = 1000;                    // payments per listPayments() call
        int maxPages = 200;                     // per run
        qint64 graceMs = 60000;                 // younger provider payments are not judged
        qint64 lookbackMs = 24LL * 3600 * 1000; // how far the cursor trails
        int examples = 20;                      // findings per check in the report
        int maxRepairs = 10000;                 // per run; the rest wait for the next run
    };

    ProviderReconciler(PgConnection &pg, PaymentGateway &gateway, PaymentOutcomes &outcomes,
                       Limits limits, QObject *parent = nullptr);
    ProviderReconciler(PgConnection &pg, PaymentGateway &gateway, PaymentOutcomes &outcomes,
                       QObject *parent = nullptr);
    ~ProviderReconciler() override;

    struct Impl; // internal: what a run in progress needs of this object, held weakly

    // Runs the checks (and, with repair, the repairs), records the run and answers its report
    // (the "payments.reconcile" result of docs/ADMIN_PROTOCOL.md). `done` runs once, on this
    // thread, unless this object is destroyed first. Conflict when a run is in progress (here or
    // in another process on the same database); Unavailable when the provider cannot list or a
    // connection is gone; otherwise the error of the step that failed.
    void run(const Options &options, std::function<void(const Result<QJsonObject> &)> done);

    // Runs a repair every `interval` (trigger schedule, `actor`), the first one `interval` after
    // this call; a run still going at the next tick, or refused with Conflict, is skipped.
    // A zero interval stops it.
    void startPeriodic(std::chrono::milliseconds interval, const QString &actor);

Q_SIGNALS:
    // A run was recorded (the periodic job's runs included): its report.
    void runRecorded(const QJsonObject &report);

private:
    std::shared_ptr<Impl> d;
    QTimer m_timer;
    QString m_periodicActor;
    bool m_periodicRunning = false;
};

} // namespace flashsale
