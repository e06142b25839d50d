#pragma once

#include "consolesettings.h"

#include <QDialog>

class QDoubleSpinBox;
class QSpinBox;

namespace flashsale::console {

// Edits the alert thresholds, their hysteresis and ageing, and the stats interval. The caller
// applies and saves values() when the dialog is accepted.
class SettingsDialog final : public QDialog {
    Q_OBJECT
public:
    explicit SettingsDialog(const ConsoleSettings &settings, QWidget *parent = nullptr);
    ConsoleSettings values() const;

private:
    ConsoleSettings m_settings;
    QSpinBox *m_stream = nullptr;
    QSpinBox *m_outbox = nullptr;
    QDoubleSpinBox *m_outboxAge = nullptr;
    QSpinBox *m_consumer = nullptr;
    QDoubleSpinBox *m_p99 = nullptr;
    QDoubleSpinBox *m_loopLag = nullptr;
    QSpinBox *m_interval = nullptr;
    QDoubleSpinBox *m_hold = nullptr;
    QDoubleSpinBox *m_clearFraction = nullptr;
    QDoubleSpinBox *m_archive = nullptr;
    QDoubleSpinBox *m_clearedKeep = nullptr;
};

} // namespace flashsale::console
