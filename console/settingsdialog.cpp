#include "settingsdialog.h"

#include <QDialogButtonBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QPushButton>
#include <QSpinBox>
#include <QVBoxLayout>

namespace flashsale::console {

namespace {

QSpinBox *countBox(qint64 value, const QString &tip) {
    auto *b = new QSpinBox;
    b->setRange(0, 100000000);
    b->setValue(int(value));
    b->setToolTip(tip);
    return b;
}

QDoubleSpinBox *realBox(double value, const QString &suffix, const QString &tip) {
    auto *b = new QDoubleSpinBox;
    b->setRange(0, 1000000);
    b->setDecimals(1);
    b->setSuffix(suffix);
    b->setValue(value);
    b->setToolTip(tip);
    return b;
}

} // namespace

SettingsDialog::SettingsDialog(const ConsoleSettings &settings, QWidget *parent)
    : QDialog(parent)
    , m_settings(settings) {
    setWindowTitle(tr("Console settings"));
    const Thresholds &t = settings.thresholds;
    m_stream = countBox(t.streamLag, tr("Bookings accepted by Redis but not yet written to "
                                        "PostgreSQL (the stream's lag)."));
    m_outbox = countBox(t.outboxRows, tr("Outbox rows not yet relayed to Kafka."));
    m_outboxAge = realBox(t.outboxAgeSeconds, tr(" s"), tr("Age of the oldest outbox row."));
    m_consumer = countBox(t.consumerLag, tr("Messages a consumer group (payment, notify) is "
                                            "behind."));
    m_p99 = realBox(t.p99Ms, tr(" ms"), tr("Booking latency, 99th percentile."));
    m_loopLag = realBox(t.loopLagMs, tr(" ms"), tr("A process's largest event-loop delay."));
    m_interval = new QSpinBox;
    m_interval->setRange(250, 5000);
    m_interval->setSingleStep(250);
    m_interval->setSuffix(tr(" ms"));
    m_interval->setValue(settings.statsIntervalMs);
    m_interval->setToolTip(tr("How often the server pushes the selected sale's stats."));
    m_hold = realBox(t.holdSeconds, tr(" s"),
                     tr("How long a condition must last before it raises an alert, and how long "
                        "it must stay under the clear level before the alert clears."));
    m_hold->setRange(0, 600);
    m_clearFraction = new QDoubleSpinBox;
    m_clearFraction->setRange(0.1, 1.0);
    m_clearFraction->setDecimals(2);
    m_clearFraction->setSingleStep(0.05);
    m_clearFraction->setValue(t.clearFraction);
    m_clearFraction->setToolTip(tr("An alert clears once its value stays under this fraction of "
                                   "its threshold (hysteresis: no flapping around the line)."));
    m_archive = realBox(t.processArchiveSeconds, tr(" s"),
                        tr("A process that vanished without deregistering (killed) is shown as "
                           "down this long, then archived."));
    m_archive->setRange(5, 86400);
    m_clearedKeep =
        realBox(t.clearedKeepSeconds, tr(" s"), tr("How long a cleared alert stays in the list."));
    m_clearedKeep->setRange(0, 86400);

    auto *form = new QFormLayout;
    form->addRow(tr("Stream lag above:"), m_stream);
    form->addRow(tr("Outbox rows above:"), m_outbox);
    form->addRow(tr("Outbox age above:"), m_outboxAge);
    form->addRow(tr("Consumer lag above:"), m_consumer);
    form->addRow(tr("Latency p99 above:"), m_p99);
    form->addRow(tr("Event-loop lag above:"), m_loopLag);
    form->addRow(tr("Stats interval:"), m_interval);
    form->addRow(tr("Alert after / clear after:"), m_hold);
    form->addRow(tr("Clear below threshold ×:"), m_clearFraction);
    form->addRow(tr("Archive a vanished process after:"), m_archive);
    form->addRow(tr("Keep cleared alerts for:"), m_clearedKeep);
    auto *buttons = new QDialogButtonBox(
        QDialogButtonBox::Ok | QDialogButtonBox::Cancel | QDialogButtonBox::RestoreDefaults, this);
    connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(buttons->button(QDialogButtonBox::RestoreDefaults), &QPushButton::clicked, this,
            [this] {
                const Thresholds d;
                m_stream->setValue(int(d.streamLag));
                m_outbox->setValue(int(d.outboxRows));
                m_outboxAge->setValue(d.outboxAgeSeconds);
                m_consumer->setValue(int(d.consumerLag));
                m_p99->setValue(d.p99Ms);
                m_loopLag->setValue(d.loopLagMs);
                m_interval->setValue(500);
                m_hold->setValue(d.holdSeconds);
                m_clearFraction->setValue(d.clearFraction);
                m_archive->setValue(d.processArchiveSeconds);
                m_clearedKeep->setValue(d.clearedKeepSeconds);
            });
    auto *layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addWidget(buttons);
}

ConsoleSettings SettingsDialog::values() const {
    ConsoleSettings s = m_settings;
    s.thresholds.streamLag = m_stream->value();
    s.thresholds.outboxRows = m_outbox->value();
    s.thresholds.outboxAgeSeconds = m_outboxAge->value();
    s.thresholds.consumerLag = m_consumer->value();
    s.thresholds.p99Ms = m_p99->value();
    s.thresholds.loopLagMs = m_loopLag->value();
    s.statsIntervalMs = m_interval->value();
    s.thresholds.holdSeconds = m_hold->value();
    s.thresholds.clearFraction = m_clearFraction->value();
    s.thresholds.processArchiveSeconds = m_archive->value();
    s.thresholds.clearedKeepSeconds = m_clearedKeep->value();
    return s;
}

} // namespace flashsale::console
