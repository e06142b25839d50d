#include "reconcilepanel.h"

#include "consoleformat.h"
#include "feedback.h"
#include "protocol/adminclient.h"
#include "providerreconcilebox.h"
#include "reconcilechecksmodel.h"
#include "reconcilerunsmodel.h"
#include "rolegate.h"

#include <QHBoxLayout>
#include <QHeaderView>
#include <QJsonArray>
#include <QLabel>
#include <QPushButton>
#include <QSettings>
#include <QSplitter>
#include <QTableView>
#include <QVBoxLayout>

namespace flashsale::console {

using admin::AdminClient;
using admin::Op;

ReconcilePanel::ReconcilePanel(AdminClient *client, QWidget *parent)
    : QWidget(parent)
    , m_client(client) {
    setObjectName(QStringLiteral("reconcilePanel"));
    m_runs = new ReconcileRunsModel(this);
    m_checks = new ReconcileChecksModel(this);

    m_dryRun = new QPushButton(tr("&Dry run"));
    m_dryRun->setObjectName(QStringLiteral("dryRun"));
    m_dryRun->setToolTip(tr("Compare Redis with PostgreSQL for the selected sale and report drift; "
                            "changes nothing (Ctrl+Shift+D)"));
    m_dryRun->setShortcut(QKeySequence(QStringLiteral("Ctrl+Shift+D")));
    m_repair = new QPushButton(tr("&Repair…"));
    m_repair->setObjectName(QStringLiteral("repair"));
    m_repair->setToolTip(tr("Compare, then fix Redis from PostgreSQL (the source of truth); asks "
                            "first"));
    m_summary = new QLabel(tr("Select a sale."));
    m_summary->setObjectName(QStringLiteral("reconcileSummary"));
    m_summary->setTextInteractionFlags(Qt::TextSelectableByMouse);
    auto *bar = new QHBoxLayout;
    bar->addWidget(m_dryRun);
    bar->addWidget(m_repair);
    bar->addSpacing(12);
    bar->addWidget(m_summary, 1);

    m_runsView = new QTableView;
    m_runsView->setObjectName(QStringLiteral("reconcileRuns"));
    m_runsView->setModel(m_runs);
    m_runsView->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_runsView->setSelectionMode(QAbstractItemView::SingleSelection);
    m_runsView->verticalHeader()->hide();
    m_runsView->verticalHeader()->setDefaultSectionSize(fontMetrics().height() + 6);
    m_runsView->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    m_runsView->horizontalHeader()->setStretchLastSection(true);
    m_runsView->setToolTip(tr("Past runs of this sale, newest first; choose one to see its rows"));

    m_checksView = new QTableView;
    m_checksView->setObjectName(QStringLiteral("reconcileChecks"));
    m_checksView->setModel(m_checks);
    m_checksView->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_checksView->verticalHeader()->hide();
    m_checksView->verticalHeader()->setDefaultSectionSize(fontMetrics().height() + 6);
    m_checksView->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    m_checksView->horizontalHeader()->setStretchLastSection(true);
    m_checksView->setWordWrap(false);
    m_repairs = new QLabel;
    m_repairs->setObjectName(QStringLiteral("reconcileRepairs"));
    m_repairs->setWordWrap(true);
    m_repairs->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_repairs->hide();
    auto *right = new QWidget;
    auto *rightLayout = new QVBoxLayout(right);
    rightLayout->setContentsMargins(0, 0, 0, 0);
    rightLayout->addWidget(m_checksView, 1);
    rightLayout->addWidget(m_repairs);

    m_splitter = new QSplitter(Qt::Horizontal);
    m_splitter->setObjectName(QStringLiteral("reconcileSplitter"));
    m_splitter->addWidget(m_runsView);
    m_splitter->addWidget(right);
    m_splitter->setStretchFactor(0, 2);
    m_splitter->setStretchFactor(1, 3);
    m_splitter->setSizes({560, 800}); // the run list needs room for its actor column

    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addLayout(bar);
    layout->addWidget(m_splitter, 1);
    m_provider = new ProviderReconcileBox(client); // H5 (issue 19)
    layout->addWidget(m_provider);

    connect(m_dryRun, &QPushButton::clicked, this, &ReconcilePanel::dryRun);
    connect(m_repair, &QPushButton::clicked, this, &ReconcilePanel::repair);
    connect(m_runsView->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
            [this](const QModelIndex &current) { showRun(current.row()); });
    setBusy(false);
}

void ReconcilePanel::setSale(const QJsonObject &sale) {
    m_saleId = sale.value(QStringLiteral("id")).toInteger();
    m_runs->setRuns({});
    m_checks->setReport({});
    m_repairs->hide();
    m_summary->setStyleSheet({});
    m_summary->setText(m_saleId ? tr("Sale %1 · %2: no run shown yet.")
                                      .arg(m_saleId)
                                      .arg(sale.value(QStringLiteral("name")).toString())
                                : tr("Select a sale."));
    setBusy(false);
    refresh();
}

void ReconcilePanel::refresh() {
    m_provider->refresh(); // H5
    if (!m_saleId || !m_client || m_client->state() != AdminClient::State::Connected)
        return;
    const qint64 sale = m_saleId;
    m_client->request(Op::ReconcileList,
                      {{QStringLiteral("sale_id"), sale}, {QStringLiteral("limit"), 50}},
                      [self = QPointer(this), sale](const AdminClient::Reply &r) {
                          if (!self || self->m_saleId != sale)
                              return;
                          if (!r.ok) {
                              self->m_summary->setText(
                                  tr("Could not load past runs: %1").arg(formatFailure(r.failure)));
                              return;
                          }
                          const qint64 shown =
                              self->m_checks->report().value(QStringLiteral("run_id")).toInteger();
                          self->m_runs->setRuns(r.result.value(QStringLiteral("runs")).toArray());
                          const int row = shown ? self->m_runs->rowOf(shown)
                                                : (self->m_runs->rowCount() ? 0 : -1);
                          if (row >= 0)
                              self->m_runsView->selectRow(row);
                      });
}

void ReconcilePanel::onReconcileEvent(const QJsonObject &report) {
    if (!m_saleId || report.value(QStringLiteral("sale_id")).toInteger() != m_saleId)
        return;
    // Follow the newest run unless an older one is being looked at.
    const int current = m_runsView->currentIndex().row();
    const bool following = current <= 0;
    const int row = m_runs->addRun(report);
    if (following && row == 0)
        m_runsView->selectRow(0);
    Q_EMIT reportReceived(report);
}

void ReconcilePanel::dryRun() {
    run(false);
}

void ReconcilePanel::repair() {
    if (!m_saleId || m_busy)
        return;
    confirmThen(this, tr("Repair sale %1").arg(m_saleId),
                tr("Reconcile sale %1 and repair what drifted?\n\nRedis is corrected from "
                   "PostgreSQL (the source of truth); the repair is audited.")
                    .arg(m_saleId),
                [self = QPointer(this)] {
                    if (self)
                        self->run(true);
                });
}

void ReconcilePanel::run(bool repair) {
    if (!m_saleId || m_busy || !m_client)
        return;
    const qint64 sale = m_saleId;
    setBusy(true);
    m_summary->setStyleSheet({});
    m_summary->setText(repair ? tr("Repairing…") : tr("Running a dry run…"));
    QJsonObject args{{QStringLiteral("sale_id"), sale}};
    if (repair)
        args.insert(QStringLiteral("repair"), true);
    m_client->request(
        Op::ReconcileRun, args,
        [self = QPointer(this), sale, repair](const AdminClient::Reply &r) {
            if (!self)
                return;
            self->setBusy(false);
            if (self->m_saleId != sale)
                return;
            if (!r.ok) {
                self->m_summary->setStyleSheet(QStringLiteral("color: #b00020"));
                self->m_summary->setText(tr("Failed: %1").arg(formatFailure(r.failure)));
                if (repair)
                    showOutcome(self, tr("Repair of sale %1").arg(sale), tr("The repair failed."),
                                &r.failure);
                return;
            }
            const int row = self->m_runs->addRun(r.result);
            self->m_runsView->selectRow(row);
            self->showRun(row);
            Q_EMIT self->reportReceived(r.result);
            if (repair)
                showOutcome(self, tr("Repair of sale %1").arg(sale),
                            tr("Run %1: %2 repair(s); %3")
                                .arg(r.result.value(QStringLiteral("run_id")).toInteger())
                                .arg(r.result.value(QStringLiteral("repairs")).toArray().size())
                                .arg(r.result.value(QStringLiteral("ok")).toBool()
                                         ? tr("no drift left.")
                                         : tr("drift remains; see the rows.")));
        },
        120000);
}

void ReconcilePanel::showRun(int row) {
    const QJsonObject report = m_runs->run(row);
    m_checks->setReport(report);
    if (report.isEmpty()) {
        m_repairs->hide();
        return;
    }
    showSummary(report);
    QStringList repairs;
    for (const QJsonValue &v : report.value(QStringLiteral("repairs")).toArray()) {
        const QJsonObject o = v.toObject();
        repairs << QStringLiteral("%1 %2: %3")
                       .arg(o.value(QStringLiteral("action")).toString(),
                            o.value(QStringLiteral("subject")).toString(),
                            o.value(QStringLiteral("detail")).toString());
    }
    m_repairs->setText(tr("Repairs: ") + repairs.join(QStringLiteral("; ")));
    m_repairs->setVisible(!repairs.isEmpty());
}

void ReconcilePanel::showSummary(const QJsonObject &report) {
    const int drift = m_checks->report() == report ? m_checks->driftRows() : 0;
    const bool ok = report.value(QStringLiteral("ok")).toBool();
    m_summary->setStyleSheet(ok ? QStringLiteral("color: #155724")
                                : QStringLiteral("color: #b00020; font-weight: bold"));
    m_summary->setText(tr("Run %1 (%2, %3) at %4: %5")
                           .arg(report.value(QStringLiteral("run_id")).toInteger())
                           .arg(report.value(QStringLiteral("mode")).toString(),
                                report.value(QStringLiteral("trigger")).toString(),
                                formatTime(report.value(QStringLiteral("finished_at"))),
                                ok ? tr("no drift") : tr("%n row(s) with drift", nullptr, drift)));
}

void ReconcilePanel::setGate(RoleGate *gate) {
    m_gate = gate;
    gate->bind(m_dryRun, Op::ReconcileRun);
    gate->bind(m_repair, Op::ReconcileRun, true);
    m_provider->setGate(gate); // H5
    connect(gate, &RoleGate::changed, this, [this] { setBusy(m_busy); });
    setBusy(m_busy);
}

void ReconcilePanel::setBusy(bool busy) {
    m_busy = busy;
    const bool wanted = !busy && m_saleId;
    if (m_gate) {
        m_gate->setEnabled(m_dryRun, wanted);
        m_gate->setEnabled(m_repair, wanted);
    } else {
        m_dryRun->setEnabled(wanted);
        m_repair->setEnabled(wanted);
    }
}

void ReconcilePanel::saveLayout() const {
    QSettings s;
    s.setValue(QStringLiteral("layout/reconcile"), m_splitter->saveState());
}

void ReconcilePanel::restoreLayout() {
    QSettings s;
    m_splitter->restoreState(s.value(QStringLiteral("layout/reconcile")).toByteArray());
}

} // namespace flashsale::console
