#include "dashboardwidget.h"

#include "alertsmodel.h"
#include "conservation.h"
#include "consoleformat.h"
#include "processlist.h"
#include "statshistory.h"
#include "timechart.h"

#include <QAction>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QJsonArray>
#include <QLabel>
#include <QLineSeries>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QSplitter>
#include <QTableView>
#include <QTableWidget>
#include <QVBoxLayout>

namespace flashsale::console {

namespace {

constexpr char kRedStyle[] = "QLabel { background: #f8d7da; color: #721c24; padding: 2px 4px; "
                             "border-radius: 3px; }";
constexpr char kGreenStyle[] = "QLabel { background: #d4edda; color: #155724; padding: 2px 4px; "
                               "border-radius: 3px; }";
constexpr char kGreyStyle[] = "QLabel { background: #e2e3e5; color: #383d41; padding: 2px 4px; "
                              "border-radius: 3px; }";
constexpr char kIdleStyle[] = "QLabel { background: palette(window); padding: 2px 4px; }";

// Distinct colours for rejection reasons, in the order they appear.
QColor reasonColor(int i) {
    static const QColor colors[] = {QColor(0xd6, 0x27, 0x28), QColor(0xff, 0x7f, 0x0e),
                                    QColor(0x94, 0x67, 0xbd), QColor(0x8c, 0x56, 0x4b),
                                    QColor(0xe3, 0x77, 0xc2), QColor(0x7f, 0x7f, 0x7f)};
    return colors[i % 6];
}

} // namespace

DashboardWidget::DashboardWidget(StatsHistory *history, AlertsModel *alerts, QWidget *parent)
    : QWidget(parent)
    , m_history(history)
    , m_alerts(alerts) {
    setObjectName(QStringLiteral("dashboard"));
    m_title = new QLabel(tr("Select a sale to see its live figures."));
    m_title->setObjectName(QStringLiteral("dashboardTitle"));
    QFont bold = m_title->font();
    bold.setBold(true);
    m_title->setFont(bold);
    m_remaining = new QProgressBar;
    m_remaining->setObjectName(QStringLiteral("remainingBar"));
    m_remaining->setRange(0, 1);
    m_remaining->setValue(0);
    m_remaining->setFormat(tr("no data"));
    m_remaining->setToolTip(tr("Units Redis still sells, of the sale's stock"));
    m_remaining->setMinimumWidth(220);
    m_rateNow = new QLabel;
    m_rateNow->setObjectName(QStringLiteral("rateNow"));
    m_conservation = new QLabel(tr("no data"));
    m_conservation->setObjectName(QStringLiteral("conservationLine"));
    m_conservation->setToolTip(
        tr("Every unit of the sale's stock is in exactly one place: still in Redis (remaining, "
           "including units returned by cancelled orders), accepted but not yet an order (in "
           "flight), reserved (held), paying, or paid. Green while the equation holds, red the "
           "moment it breaks, grey when a term could not be read."));
    m_conservation->setStyleSheet(QString::fromLatin1(kIdleStyle));
    m_conservation->setProperty("state", QStringLiteral("unknown"));
    auto *top = new QWidget;
    auto *topGrid = new QVBoxLayout(top);
    topGrid->setContentsMargins(4, 2, 4, 2);
    topGrid->setSpacing(2);
    auto *topLayout = new QHBoxLayout;
    topLayout->addWidget(m_title);
    topLayout->addWidget(new QLabel(tr("Remaining:")));
    topLayout->addWidget(m_remaining, 1);
    topLayout->addWidget(m_rateNow);
    topGrid->addLayout(topLayout);
    auto *conservationRow = new QHBoxLayout;
    conservationRow->addWidget(new QLabel(tr("Conservation:")));
    conservationRow->addWidget(m_conservation, 1);
    topGrid->addLayout(conservationRow);

    m_rates = new TimeChart(tr("Requests per second"), tr("req/s"));
    m_rates->setObjectName(QStringLiteral("ratesChart"));
    m_latency = new TimeChart(tr("Booking latency"), tr("ms"));
    m_latency->setObjectName(QStringLiteral("latencyChart"));
    m_charts = new QSplitter(Qt::Horizontal);
    m_charts->setObjectName(QStringLiteral("chartsSplitter"));
    m_charts->addWidget(m_rates);
    m_charts->addWidget(m_latency);
    m_charts->setStretchFactor(0, 3);
    m_charts->setStretchFactor(1, 2);

    // The funnel: units held -> pending -> paid, and cancelled.
    auto *funnel = new QGroupBox(tr("Funnel (units)"));
    auto *funnelForm = new QFormLayout(funnel);
    funnelForm->setContentsMargins(6, 4, 6, 4);
    funnelForm->setVerticalSpacing(3);
    m_held = funnelBar(QStringLiteral("held"), tr("Reserved, not yet confirmed"));
    m_pending = funnelBar(QStringLiteral("pending"), tr("Payment in flight"));
    m_paid = funnelBar(QStringLiteral("paid"), tr("Paid"));
    m_cancelled = funnelBar(QStringLiteral("cancelled"), tr("Cancelled or expired"));
    funnelForm->addRow(tr("Held"), m_held);
    funnelForm->addRow(tr("→ Paying"), m_pending);
    funnelForm->addRow(tr("→ Paid"), m_paid);
    funnelForm->addRow(tr("Cancelled"), m_cancelled);

    auto *lags = new QGroupBox(tr("Lag"));
    auto *lagForm = new QFormLayout(lags);
    lagForm->setContentsMargins(6, 4, 6, 4);
    lagForm->setVerticalSpacing(3);
    m_stream = new QLabel(QStringLiteral("-"));
    m_stream->setObjectName(QStringLiteral("lag:stream"));
    m_stream->setToolTip(tr("Bookings accepted by Redis, not yet written to PostgreSQL"));
    m_outbox = new QLabel(QStringLiteral("-"));
    m_outbox->setObjectName(QStringLiteral("lag:outbox"));
    m_outbox->setToolTip(tr("Outbox rows waiting for Kafka, and the oldest one's age"));
    m_consumers = new QLabel(QStringLiteral("-"));
    m_consumers->setObjectName(QStringLiteral("lag:consumers"));
    m_consumers->setToolTip(tr("Messages each Kafka consumer group is behind"));
    m_consumers->setWordWrap(true);
    for (QLabel *l : {m_stream, m_outbox, m_consumers})
        l->setStyleSheet(QString::fromLatin1(kIdleStyle));
    lagForm->addRow(tr("Stream"), m_stream);
    lagForm->addRow(tr("Outbox"), m_outbox);
    lagForm->addRow(tr("Consumers"), m_consumers);

    auto *left = new QWidget;
    auto *leftLayout = new QVBoxLayout(left);
    leftLayout->setContentsMargins(0, 0, 0, 0);
    leftLayout->addWidget(funnel);
    leftLayout->addWidget(lags);
    leftLayout->addStretch();

    m_processes = new QTableWidget(0, 4);
    m_processes->setObjectName(QStringLiteral("processes"));
    m_processes->setHorizontalHeaderLabels(
        {tr("Process"), tr("State"), tr("Loop lag"), tr("Roles")});
    m_processes->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    m_processes->horizontalHeader()->setSectionResizeMode(3, QHeaderView::Stretch);
    m_processes->verticalHeader()->hide();
    m_processes->verticalHeader()->setDefaultSectionSize(fontMetrics().height() + 6);
    m_processes->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_processes->setSelectionMode(QAbstractItemView::NoSelection);
    m_processes->setToolTip(tr("Processes with a heartbeat in Redis; down after 3 s of silence, "
                               "archived after the time set in Settings; a process that stops "
                               "cleanly leaves the list at once"));

    m_alertsView = new QTableView;
    m_alertsView->setObjectName(QStringLiteral("alerts"));
    m_alertsView->setModel(alerts);
    // Fixed widths: ResizeToContents did not follow rows prepended later (seen as "22…").
    m_alertsView->setColumnWidth(AlertsModel::Time,
                                 fontMetrics().horizontalAdvance(QStringLiteral("00:00:00")) + 16);
    m_alertsView->setColumnWidth(AlertsModel::Severity,
                                 fontMetrics().horizontalAdvance(QStringLiteral("critical")) + 20);
    m_alertsView->horizontalHeader()->setStretchLastSection(true);
    m_alertsView->verticalHeader()->hide();
    m_alertsView->verticalHeader()->setDefaultSectionSize(fontMetrics().height() + 6);
    m_alertsView->setWordWrap(false);
    m_alertsView->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_alertsView->setColumnWidth(AlertsModel::State,
                                 fontMetrics().horizontalAdvance(QStringLiteral("cleared 00:00:00"))
                                     + 16);
    m_alertsView->setColumnWidth(AlertsModel::Count,
                                 fontMetrics().horizontalAdvance(QStringLiteral("×999")) + 12);
    m_alertsView->setContextMenuPolicy(Qt::ActionsContextMenu);
    auto *ackAction = new QAction(tr("Acknowledge"), m_alertsView);
    ackAction->setObjectName(QStringLiteral("acknowledgeAction"));
    connect(ackAction, &QAction::triggered, this, &DashboardWidget::acknowledgeSelected);
    m_alertsView->addAction(ackAction);
    m_acknowledge = new QPushButton(tr("Acknowledge"));
    m_acknowledge->setObjectName(QStringLiteral("acknowledgeAlerts"));
    m_acknowledge->setToolTip(tr("Stop the selected alerts drawing attention until they clear "
                                 "and come back"));
    connect(m_acknowledge, &QPushButton::clicked, this, &DashboardWidget::acknowledgeSelected);
    auto *alertsBox = new QWidget;
    auto *alertsLayout = new QVBoxLayout(alertsBox);
    alertsLayout->setContentsMargins(0, 0, 0, 0);
    alertsLayout->setSpacing(2);
    alertsLayout->addWidget(m_alertsView, 1);
    alertsLayout->addWidget(m_acknowledge, 0, Qt::AlignRight);

    auto group = [](const QString &title, QWidget *w) {
        auto *g = new QGroupBox(title);
        auto *l = new QVBoxLayout(g);
        l->setContentsMargins(4, 4, 4, 4);
        l->addWidget(w);
        return g;
    };
    m_bottom = new QSplitter(Qt::Horizontal);
    m_bottom->setObjectName(QStringLiteral("bottomSplitter"));
    m_bottom->addWidget(left);
    m_bottom->addWidget(group(tr("Processes"), m_processes));
    m_bottom->addWidget(group(tr("Alerts"), alertsBox));
    m_bottom->setStretchFactor(0, 0);
    m_bottom->setStretchFactor(1, 1);
    m_bottom->setStretchFactor(2, 2);
    m_bottom->setSizes({300, 420, 640});

    m_vertical = new QSplitter(Qt::Vertical);
    m_vertical->setObjectName(QStringLiteral("dashboardSplitter"));
    m_vertical->addWidget(m_charts);
    m_vertical->addWidget(m_bottom);
    m_vertical->setStretchFactor(0, 3);
    m_vertical->setStretchFactor(1, 2);

    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->setSpacing(2);
    layout->addWidget(top);
    layout->addWidget(m_vertical, 1);

    connect(history, &StatsHistory::changed, this, &DashboardWidget::redraw);
    connect(history, &StatsHistory::cleared, this, [this] {
        m_rates->clearSeries();
        m_latency->clearSeries();
    });
}

QProgressBar *DashboardWidget::funnelBar(const QString &name, const QString &tip) {
    auto *b = new QProgressBar;
    b->setObjectName(QStringLiteral("funnel:") + name);
    b->setRange(0, 1);
    b->setValue(0);
    b->setFormat(QStringLiteral("-"));
    b->setToolTip(tip);
    b->setMaximumHeight(fontMetrics().height() + 6);
    b->setMinimumWidth(150);
    return b;
}

void DashboardWidget::setSale(const QJsonObject &sale) {
    if (sale.isEmpty()) {
        m_title->setText(tr("Select a sale to see its live figures."));
    } else {
        m_title->setText(tr("Sale %1 · %2")
                             .arg(formatCell(sale.value(QStringLiteral("id"))),
                                  sale.value(QStringLiteral("name")).toString()));
    }
    m_remaining->setRange(0, 1);
    m_remaining->setValue(0);
    m_remaining->setFormat(sale.isEmpty() ? tr("no data") : tr("waiting for stats…"));
    m_rateNow->clear();
    m_conservation->setText(sale.isEmpty() ? tr("no data") : tr("waiting for stats…"));
    m_conservation->setStyleSheet(QString::fromLatin1(kIdleStyle));
    m_conservation->setProperty("state", QStringLiteral("unknown"));
    for (QProgressBar *b : {m_held, m_pending, m_paid, m_cancelled}) {
        b->setRange(0, 1);
        b->setValue(0);
        b->setFormat(QStringLiteral("-"));
    }
    for (QLabel *l : {m_stream, m_outbox, m_consumers}) {
        l->setText(QStringLiteral("-"));
        l->setStyleSheet(QString::fromLatin1(kIdleStyle));
        l->setProperty("red", false);
    }
    m_processes->setRowCount(0);
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    m_rates->setWindow(now - StatsHistory::kWindowMs, now, 0);
    m_latency->setWindow(now - StatsHistory::kWindowMs, now, 0);
}

void DashboardWidget::setThresholds(const Thresholds &t) {
    m_thresholds = t;
    redraw();
}

bool DashboardWidget::lagIsRed(const QString &name) const {
    const QLabel *l = name == QLatin1String("stream")   ? m_stream
                      : name == QLatin1String("outbox") ? m_outbox
                                                        : m_consumers;
    return l->property("red").toBool();
}

void DashboardWidget::setIndicator(QLabel *label, const QString &text, bool red) {
    label->setText(text);
    label->setStyleSheet(QString::fromLatin1(red ? kRedStyle : kGreenStyle));
    label->setProperty("red", red);
}

void DashboardWidget::redraw() {
    const QJsonObject st = m_history->latest();
    if (st.isEmpty())
        return;
    const qint64 at = qint64(st.value(QStringLiteral("at_ms")).toDouble());

    const qint64 stock = st.value(QStringLiteral("stock")).toInteger();
    const QJsonValue remainingValue = st.value(QStringLiteral("remaining"));
    m_remaining->setRange(0, int(qMax<qint64>(stock, 1)));
    if (remainingValue.isNull()) {
        m_remaining->setValue(0);
        m_remaining->setFormat(
            tr("not in Redis yet (%1)").arg(st.value(QStringLiteral("phase")).toString()));
    } else {
        const qint64 remaining = remainingValue.toInteger();
        m_remaining->setValue(int(qBound<qint64>(0, remaining, qMax<qint64>(stock, 1))));
        m_remaining->setFormat(tr("%1 of %2 (%p%) · %3")
                                   .arg(remaining)
                                   .arg(stock)
                                   .arg(st.value(QStringLiteral("phase")).toString()));
    }

    // The conservation line: green while it holds, red when broken, grey when not exact.
    const QJsonObject cons = st.value(QStringLiteral("conservation")).toObject();
    const auto consState = conservation::stateOf(cons);
    m_conservation->setText(conservation::line(cons));
    m_conservation->setStyleSheet(
        QString::fromLatin1(consState == conservation::State::Holds    ? kGreenStyle
                            : consState == conservation::State::Broken ? kRedStyle
                                                                       : kGreyStyle));
    m_conservation->setProperty("state", consState == conservation::State::Holds    ? "holds"
                                         : consState == conservation::State::Broken ? "broken"
                                                                                    : "unknown");

    // Charts: accepted plus one line per rejection reason seen; p50 and p99.
    m_rates->setPoints(tr("accepted"), m_history->acceptedSeries(), QColor(0x2c, 0xa0, 0x2c));
    const QStringList reasons = m_history->reasons();
    for (int i = 0; i < reasons.size(); ++i)
        m_rates->setPoints(reasons[i], m_history->rejectedSeries(reasons[i]), reasonColor(i));
    m_rates->setWindow(at - StatsHistory::kWindowMs, at, m_history->maxRate());
    m_latency->setPoints(QStringLiteral("p50"), m_history->p50Series(), QColor(0x1f, 0x77, 0xb4));
    m_latency->setPoints(QStringLiteral("p99"), m_history->p99Series(), QColor(0xd6, 0x27, 0x28));
    m_latency->setWindow(at - StatsHistory::kWindowMs, at, qMax(m_history->maxLatency(), 1.0));

    const QJsonObject requests = st.value(QStringLiteral("requests")).toObject();
    double rejected = 0;
    const QJsonObject byReason = requests.value(QStringLiteral("rejected_per_s")).toObject();
    for (auto it = byReason.constBegin(); it != byReason.constEnd(); ++it)
        rejected += it.value().toDouble();
    m_rateNow->setText(
        tr("accepted %1/s · rejected %2/s")
            .arg(requests.value(QStringLiteral("accepted_per_s")).toDouble(), 0, 'f', 1)
            .arg(rejected, 0, 'f', 1));

    // Funnel, in units, against the stock.
    const QJsonObject units = st.value(QStringLiteral("units")).toObject();
    const QJsonObject orders = st.value(QStringLiteral("orders")).toObject();
    const std::pair<QProgressBar *, const char *> funnel[] = {
        {m_held, "held"}, {m_pending, "pending"}, {m_paid, "paid"}, {m_cancelled, "cancelled"}};
    for (const auto &[bar, key] : funnel) {
        const QString k = QString::fromLatin1(key);
        const qint64 u = units.value(k).toInteger();
        bar->setRange(0, int(qMax<qint64>(stock, 1)));
        bar->setValue(int(qBound<qint64>(0, u, qMax<qint64>(stock, 1))));
        bar->setFormat(tr("%1 units · %2 orders").arg(u).arg(orders.value(k).toInteger()));
    }

    // Lag indicators.
    const Thresholds &t = m_thresholds;
    const QJsonObject lag = st.value(QStringLiteral("lag")).toObject();
    const qint64 stream = lag.value(QStringLiteral("stream")).toInteger();
    setIndicator(m_stream,
                 tr("%1 (pending %2, dead %3)")
                     .arg(stream)
                     .arg(lag.value(QStringLiteral("stream_pending")).toInteger())
                     .arg(lag.value(QStringLiteral("dead_letters")).toInteger()),
                 stream > t.streamLag);
    const qint64 outbox = lag.value(QStringLiteral("outbox")).toInteger();
    const double outboxAge = lag.value(QStringLiteral("outbox_age_s")).toDouble();
    setIndicator(m_outbox, tr("%1 rows, oldest %2 s").arg(outbox).arg(outboxAge, 0, 'f', 2),
                 outbox > t.outboxRows || outboxAge > t.outboxAgeSeconds);
    const QJsonObject consumers = lag.value(QStringLiteral("consumers")).toObject();
    QStringList parts;
    bool consumerRed = false;
    for (auto it = consumers.constBegin(); it != consumers.constEnd(); ++it) {
        parts << QStringLiteral("%1 %2").arg(it.key()).arg(it.value().toInteger());
        consumerRed = consumerRed || it.value().toInteger() > t.consumerLag;
    }
    setIndicator(m_consumers,
                 parts.isEmpty() ? tr("none reporting") : parts.join(QStringLiteral(", ")),
                 consumerRed);

    // Processes: archived ones, and those replaced by a restart, are not listed.
    const QJsonArray processes = listedProcesses(st.value(QStringLiteral("processes")).toArray(),
                                                 qint64(t.processArchiveSeconds * 1000));
    m_processes->setRowCount(int(processes.size()));
    for (int r = 0; r < processes.size(); ++r) {
        const QJsonObject p = processes[r].toObject();
        QStringList roles;
        for (const QJsonValue &v : p.value(QStringLiteral("roles")).toArray())
            roles << v.toString();
        const bool up = p.value(QStringLiteral("up")).toBool();
        const double loopLag = p.value(QStringLiteral("loop_lag_ms")).toDouble();
        const QStringList cells{
            p.value(QStringLiteral("id")).toString(),
            up ? tr("up")
               : tr("DOWN (%1 s)")
                     .arg(p.value(QStringLiteral("seen_ms_ago")).toDouble() / 1000, 0, 'f', 0),
            QStringLiteral("%1 ms").arg(loopLag, 0, 'f', 1), roles.join(QLatin1Char(','))};
        for (int c = 0; c < cells.size(); ++c) {
            auto *item = m_processes->item(r, c);
            if (!item) {
                item = new QTableWidgetItem;
                m_processes->setItem(r, c, item);
            }
            item->setText(cells[c]);
            item->setToolTip(cells[c]);
            const bool bad = !up || (c == 2 && loopLag > t.loopLagMs);
            item->setForeground(bad ? QBrush(QColor(0xb0, 0x00, 0x20)) : QBrush());
            if (c == 1)
                item->setBackground(up ? QBrush(QColor(0xd4, 0xed, 0xda))
                                       : QBrush(QColor(0xf8, 0xd7, 0xda)));
        }
    }
}

int DashboardWidget::acknowledgeSelected() {
    int n = 0;
    for (const QModelIndex &i : m_alertsView->selectionModel()->selectedRows())
        n += m_alerts->acknowledge(i.row());
    return n;
}

void DashboardWidget::saveLayout() const {
    QSettings s;
    s.setValue(QStringLiteral("layout/dashboard"), m_vertical->saveState());
    s.setValue(QStringLiteral("layout/charts"), m_charts->saveState());
    s.setValue(QStringLiteral("layout/dashboardBottom"), m_bottom->saveState());
}

void DashboardWidget::restoreLayout() {
    QSettings s;
    m_vertical->restoreState(s.value(QStringLiteral("layout/dashboard")).toByteArray());
    m_charts->restoreState(s.value(QStringLiteral("layout/charts")).toByteArray());
    m_bottom->restoreState(s.value(QStringLiteral("layout/dashboardBottom")).toByteArray());
}

} // namespace flashsale::console
