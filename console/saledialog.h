#pragma once

#include "protocol/adminprotocol.h"

#include <QDialog>
#include <QHash>
#include <QJsonObject>

class QCheckBox;
class QComboBox;
class QDateTimeEdit;
class QDoubleSpinBox;
class QGroupBox;
class QLabel;
class QLineEdit;
class QPushButton;
class QSpinBox;
class QStackedWidget;
class QTableWidget;

namespace flashsale::console {

// Creates a one-off sale (sale.create) or a recurring schedule (schedule.create).
//
// "Create…" validates locally first: the errors show next to their fields and nothing is sent.
// Otherwise the dialog emits submitted(op, args) and stays open; the owner sends the request and
// calls answered() with the answer. A failure (a typed server error, a dropped link) keeps the
// dialog and everything typed in it; the server's invalid-args details are shown next to the
// fields their JSON pointers name. Only a success closes it.
class SaleDialog final : public QDialog {
    Q_OBJECT
public:
    enum class ItemsMode { OneItem = 0, Table = 1, Generated = 2 };
    // How far in the past a new sale's start may be (clock differences, time to fill the form).
    static constexpr qint64 kPastToleranceMs = 60000;

    explicit SaleDialog(QWidget *parent = nullptr);

    // The operation and arguments the form describes (without checking them).
    admin::Op op() const;
    QJsonObject args() const;
    // Local checks; each error names its field by the JSON pointer the server would use
    // ("/args/stock", "/args/items/1/name"). `nowMs` is the server's clock when known.
    FieldErrors validate(qint64 nowMs) const;

    // Shows errors next to their fields (and the ones without a field at the bottom).
    void showErrors(const FieldErrors &errors, const QString &general = {});
    // The answer to a submitted request: success closes the dialog, a failure is shown.
    void answered(bool ok, const admin::AdminFailure &failure = {});
    // The owner did not send it after all (the operator said no at the confirmation).
    void notSent();
    bool isBusy() const { return m_busy; }
    void setClockSkewMs(qint64 skew) { m_skewMs = skew; }

    void accept() override; // validates and submits; closes only via finished(true)

Q_SIGNALS:
    void submitted(flashsale::admin::Op op, const QJsonObject &args);

private:
    QWidget *withError(QWidget *field, const QString &pointer);
    void updateMode();
    void addItemRow(const QString &name, int stock, const QString &price);
    void setBusy(bool busy);
    bool recurring() const;
    ItemsMode itemsMode() const;

    QLineEdit *m_name = nullptr;
    QDateTimeEdit *m_start = nullptr;
    QDateTimeEdit *m_end = nullptr;
    QGroupBox *m_repeat = nullptr;
    QSpinBox *m_every = nullptr;
    QComboBox *m_everyUnit = nullptr;
    QSpinBox *m_duration = nullptr;
    QComboBox *m_itemsMode = nullptr;
    QStackedWidget *m_itemsStack = nullptr;
    QSpinBox *m_stock = nullptr;
    QDoubleSpinBox *m_price = nullptr;
    QTableWidget *m_items = nullptr;
    QSpinBox *m_genCount = nullptr;
    QSpinBox *m_genUnits = nullptr;
    QDoubleSpinBox *m_genPrice = nullptr;
    QSpinBox *m_perUser = nullptr;
    QSpinBox *m_hold = nullptr;
    QSpinBox *m_rate = nullptr;
    QSpinBox *m_burst = nullptr;
    // The waiting room (docs/WAITING_ROOM.md), off until ticked; one-off sales only.
    QGroupBox *m_waitingRoom = nullptr;
    QSpinBox *m_lobbyMinutes = nullptr; // the lobby opens this long before the start
    QSpinBox *m_graceMs = nullptr;
    QSpinBox *m_admitPerMinute = nullptr;
    QSpinBox *m_admissionTtl = nullptr;
    QSpinBox *m_entriesPerAddress = nullptr;
    QLabel *m_general = nullptr;
    QPushButton *m_create = nullptr;
    QHash<QString, QLabel *> m_errorLabels; // by JSON pointer
    bool m_busy = false;
    qint64 m_skewMs = 0;
};

} // namespace flashsale::console
