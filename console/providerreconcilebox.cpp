#include "providerreconcilebox.h"

#include "consoleformat.h"
#include "feedback.h"
#include "protocol/adminclient.h"
#include "rolegate.h"

#include <QHBoxLayout>
#include <QHeaderView>
#include <QJsonArray>
#include <QLabel>
#include <QPushButton>
#include <QStandardItemModel>
#include <QTableView>
#include <QVBoxLayout>

namespace flashsale::console {

using admin::AdminClient;
using admin::Op;

namespace {

QString text(const QJsonValue &v) {
    if (v.isNull() || v.isUndefined())
        return QStringLiteral("—");
    if (v.isDouble())
        return QString::number(v.toInteger());
    return v.toString();
}

} // namespace

ProviderReconcileBox::ProviderReconcileBox(AdminClient *client, QWidget *parent)
    : QGroupBox(tr("Payment provider"), parent)
    , m_client(client) {
    setObjectName(QStringLiteral("providerReconcile"));
    m_dryRun = new QPushButton(tr("Provider dry run"));
    m_dryRun->setObjectName(QStringLiteral("providerDryRun"));
    m_dryRun->setToolTip(tr("Compare the payment provider's payments with the orders and report "
                            "drift; changes nothing"));
    m_repair = new QPushButton(tr("Provider repair…"));
    m_repair->setObjectName(QStringLiteral("providerRepair"));
    m_repair->setToolTip(tr("Compare, then apply the outcomes that were missed (a lost answer "
                            "or webhook); flags the rest; asks first"));
    m_summary = new QLabel(tr("No provider reconciliation shown yet."));
    m_summary->setObjectName(QStringLiteral("providerSummary"));
    m_summary->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_summary->setWordWrap(true);
    auto *bar = new QHBoxLayout;
    bar->addWidget(m_dryRun);
    bar->addWidget(m_repair);
    bar->addSpacing(12);
    bar->addWidget(m_summary, 1);

    m_findings = new QStandardItemModel(0, 7, this);
    m_findings->setHorizontalHeaderLabels({tr("Check"), tr("Order"), tr("Order status"),
                                           tr("Payment"), tr("Action"), tr("Result"),
                                           tr("Reason")});
    m_view = new QTableView;
    m_view->setObjectName(QStringLiteral("providerFindings"));
    m_view->setModel(m_findings);
    m_view->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_view->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_view->verticalHeader()->hide();
    m_view->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    m_view->horizontalHeader()->setStretchLastSection(true);
    m_view->setWordWrap(false);

    auto *layout = new QVBoxLayout(this);
    layout->addLayout(bar);
    layout->addWidget(m_view, 1);

    connect(m_dryRun, &QPushButton::clicked, this, &ProviderReconcileBox::dryRun);
    connect(m_repair, &QPushButton::clicked, this, &ProviderReconcileBox::repair);
    setBusy(false);
}

void ProviderReconcileBox::setGate(RoleGate *gate) {
    m_gate = gate;
    gate->bind(m_dryRun, Op::PaymentsReconcile);
    gate->bind(m_repair, Op::PaymentsReconcile, true);
    connect(gate, &RoleGate::changed, this, [this] { setBusy(m_busy); });
    setBusy(m_busy);
}

void ProviderReconcileBox::refresh() {
    if (!m_client || m_client->state() != AdminClient::State::Connected)
        return;
    m_client->request(Op::PaymentsReconcileRuns, {{QStringLiteral("limit"), 1}},
                      [self = QPointer(this)](const AdminClient::Reply &r) {
                          if (!self || self->m_busy)
                              return;
                          if (!r.ok) {
                              self->m_summary->setText(tr("Could not load the last provider run: "
                                                          "%1")
                                                           .arg(formatFailure(r.failure)));
                              return;
                          }
                          const QJsonArray runs = r.result.value(QStringLiteral("runs")).toArray();
                          if (!runs.isEmpty())
                              self->show(runs.first().toObject());
                      });
}

void ProviderReconcileBox::dryRun() {
    run(false);
}

void ProviderReconcileBox::repair() {
    if (m_busy)
        return;
    confirmThen(this, tr("Repair payments"),
                tr("Reconcile the payment provider with the orders and apply the outcomes that "
                   "were missed?\n\nOnly what the provider proves is applied (an order it "
                   "captured is paid); nothing is refunded or cancelled. The repair is audited."),
                [self = QPointer(this)] {
                    if (self)
                        self->run(true);
                });
}

void ProviderReconcileBox::run(bool repair) {
    if (m_busy || !m_client)
        return;
    setBusy(true);
    m_summary->setStyleSheet({});
    m_summary->setText(repair ? tr("Repairing payments…") : tr("Comparing with the provider…"));
    QJsonObject args;
    if (repair)
        args.insert(QStringLiteral("repair"), true);
    m_client->request(
        Op::PaymentsReconcile, args,
        [self = QPointer(this), repair](const AdminClient::Reply &r) {
            if (!self)
                return;
            self->setBusy(false);
            if (!r.ok) {
                self->m_summary->setStyleSheet(QStringLiteral("color: #b00020"));
                self->m_summary->setText(tr("Failed: %1").arg(formatFailure(r.failure)));
                if (repair)
                    showOutcome(self, tr("Repair payments"), tr("The repair failed."), &r.failure);
                return;
            }
            self->show(r.result);
            if (repair) {
                qint64 repaired = 0, flagged = 0;
                for (const QJsonValue &c : r.result.value(QStringLiteral("checks")).toArray()) {
                    repaired += c.toObject().value(QStringLiteral("repaired")).toInteger();
                    flagged += c.toObject().value(QStringLiteral("flagged")).toInteger();
                }
                showOutcome(self, tr("Repair payments"),
                            tr("Run %1: %2 repaired, %3 flagged for a person.")
                                .arg(r.result.value(QStringLiteral("run_id")).toInteger())
                                .arg(repaired)
                                .arg(flagged));
            }
        },
        300000);
}

void ProviderReconcileBox::show(const QJsonObject &report) {
    m_report = report;
    m_findings->removeRows(0, m_findings->rowCount());
    QStringList counts;
    for (const QJsonValue &v : report.value(QStringLiteral("checks")).toArray()) {
        const QJsonObject c = v.toObject();
        const qint64 found = c.value(QStringLiteral("found")).toInteger();
        if (found > 0)
            counts << tr("%1 %2 (%3 repaired)")
                          .arg(found)
                          .arg(c.value(QStringLiteral("check")).toString())
                          .arg(c.value(QStringLiteral("repaired")).toInteger());
        for (const QJsonValue &e : c.value(QStringLiteral("examples")).toArray()) {
            const QJsonObject x = e.toObject();
            QList<QStandardItem *> row;
            for (const char *key : {"check", "order_id", "order_status", "payment_status", "action",
                                    "result", "reason"})
                row << new QStandardItem(text(x.value(QLatin1String(key))));
            m_findings->appendRow(row);
        }
    }
    const bool ok = report.value(QStringLiteral("ok")).toBool();
    m_summary->setStyleSheet(ok ? QStringLiteral("color: #155724")
                                : QStringLiteral("color: #b00020; font-weight: bold"));
    m_summary->setText(
        tr("Run %1 (%2, %3 by %4) at %5, %6 payments listed: %7")
            .arg(report.value(QStringLiteral("run_id")).toInteger())
            .arg(report.value(QStringLiteral("mode")).toString(),
                 report.value(QStringLiteral("trigger")).toString(),
                 report.value(QStringLiteral("actor")).toString(),
                 formatTime(report.value(QStringLiteral("finished_at"))))
            .arg(report.value(QStringLiteral("window")).toObject().value("listed").toInteger())
            .arg(counts.isEmpty()
                     ? tr("no drift")
                     : counts.join(QStringLiteral(", ")) + (ok ? QString() : tr("; drift left"))));
    Q_EMIT reportShown(report);
}

void ProviderReconcileBox::setBusy(bool busy) {
    m_busy = busy;
    if (m_gate) {
        m_gate->setEnabled(m_dryRun, !busy);
        m_gate->setEnabled(m_repair, !busy);
    } else {
        m_dryRun->setEnabled(!busy);
        m_repair->setEnabled(!busy);
    }
}

} // namespace flashsale::console
