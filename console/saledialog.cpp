#include "saledialog.h"

#include "consoleformat.h"

#include <QBrush>
#include <QColor>
#include <QComboBox>
#include <QDateTime>
#include <QDateTimeEdit>
#include <QDialogButtonBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QGridLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QJsonArray>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QStackedWidget>
#include <QTableWidget>
#include <QVBoxLayout>

#include <cmath>

namespace flashsale::console {

using admin::AdminError;
using admin::Op;

namespace {

constexpr char kTimeFormat[] = "yyyy-MM-dd HH:mm:ss";

QString utc(const QDateTime &t) {
    return t.toUTC().toString(Qt::ISODateWithMs);
}

qint64 cents(double amount) {
    return qint64(std::llround(amount * 100.0));
}

// "12.50", "12,50", "12" -> cents; nullopt when it is not an amount with at most two decimals.
std::optional<qint64> parseCents(const QString &text) {
    QString t = text.trimmed();
    t.replace(QLatin1Char(','), QLatin1Char('.'));
    bool ok = false;
    const double v = t.toDouble(&ok);
    if (!ok || t.isEmpty() || std::isnan(v) || std::abs(v) > 1e12)
        return std::nullopt;
    return cents(v);
}

QSpinBox *spin(int min, int max, int value, const QString &tip, const QString &suffix = {}) {
    auto *b = new QSpinBox;
    b->setRange(min, max);
    b->setValue(value);
    b->setToolTip(tip);
    b->setSuffix(suffix);
    b->setAccelerated(true);
    return b;
}

QDoubleSpinBox *money(double value, const QString &tip) {
    auto *b = new QDoubleSpinBox;
    b->setRange(0, 10000000);
    b->setDecimals(2);
    b->setValue(value);
    b->setToolTip(tip);
    return b;
}

} // namespace

SaleDialog::SaleDialog(QWidget *parent)
    : QDialog(parent) {
    setObjectName(QStringLiteral("saleDialog"));
    setWindowTitle(tr("New sale or schedule"));

    m_name = new QLineEdit;
    m_name->setObjectName(QStringLiteral("name"));
    m_name->setPlaceholderText(tr("What buyers see, e.g. \"Phones at noon\""));

    // Sensible defaults: the next full minute, for an hour.
    QDateTime start = QDateTime::currentDateTime().addSecs(60);
    start.setTime(QTime(start.time().hour(), start.time().minute()));
    m_start = new QDateTimeEdit(start);
    m_start->setObjectName(QStringLiteral("start"));
    m_start->setDisplayFormat(QString::fromLatin1(kTimeFormat));
    m_start->setCalendarPopup(true);
    m_start->setToolTip(tr("Local time. A sale starting within the server's warm-up window is "
                           "loaded into Redis at once."));
    auto *now = new QPushButton(tr("Now"));
    now->setToolTip(tr("Start now"));
    connect(now, &QPushButton::clicked, this, [this] {
        const qint64 length = m_start->dateTime().msecsTo(m_end->dateTime());
        m_start->setDateTime(QDateTime::currentDateTime());
        if (length > 0)
            m_end->setDateTime(m_start->dateTime().addMSecs(length));
    });
    auto *startRow = new QWidget;
    auto *startLayout = new QHBoxLayout(startRow);
    startLayout->setContentsMargins(0, 0, 0, 0);
    startLayout->addWidget(m_start, 1);
    startLayout->addWidget(now);
    m_end = new QDateTimeEdit(start.addSecs(3600));
    m_end->setObjectName(QStringLiteral("end"));
    m_end->setDisplayFormat(QString::fromLatin1(kTimeFormat));
    m_end->setCalendarPopup(true);
    m_end->setToolTip(tr("Local time; after the start."));

    m_repeat = new QGroupBox(tr("&Repeat (a schedule of sales with generated items)"));
    m_repeat->setObjectName(QStringLiteral("repeat"));
    m_repeat->setCheckable(true);
    m_repeat->setChecked(false);
    m_every = spin(0, 100000, 1, tr("Time between the starts of two sales (at least a minute)"));
    m_every->setObjectName(QStringLiteral("every"));
    m_everyUnit = new QComboBox;
    m_everyUnit->setObjectName(QStringLiteral("everyUnit"));
    m_everyUnit->addItem(tr("minutes"), 60);
    m_everyUnit->addItem(tr("hours"), 3600);
    m_everyUnit->setCurrentIndex(1);
    m_duration =
        spin(0, 1000000, 10, tr("How long each sale lasts (at most the period)"), tr(" min"));
    m_duration->setObjectName(QStringLiteral("duration"));
    auto *repeatLayout = new QHBoxLayout(m_repeat);
    repeatLayout->addWidget(new QLabel(tr("every")));
    repeatLayout->addWidget(withError(m_every, QStringLiteral("/args/every_seconds")));
    repeatLayout->addWidget(m_everyUnit, 0, Qt::AlignTop);
    repeatLayout->addWidget(new QLabel(tr("lasting")));
    repeatLayout->addWidget(withError(m_duration, QStringLiteral("/args/duration_seconds")), 1);

    m_itemsMode = new QComboBox;
    m_itemsMode->setObjectName(QStringLiteral("itemsMode"));
    m_itemsMode->addItem(tr("One item"));
    m_itemsMode->addItem(tr("Several items (table)"));
    m_itemsMode->addItem(tr("Generated items"));
    m_itemsMode->setToolTip(tr("One item with its stock and price, a list of items, or items the "
                               "server generates"));

    // One item.
    m_stock = spin(0, 100000000, 100, tr("Units on sale"));
    m_stock->setObjectName(QStringLiteral("stock"));
    m_price = money(19.99, tr("Price of one unit"));
    m_price->setObjectName(QStringLiteral("price"));
    auto *one = new QWidget;
    auto *oneForm = new QFormLayout(one);
    oneForm->setContentsMargins(0, 0, 0, 0);
    oneForm->addRow(tr("Stock:"), withError(m_stock, QStringLiteral("/args/stock")));
    oneForm->addRow(tr("Price:"), withError(m_price, QStringLiteral("/args/price_cents")));

    // A table of items.
    m_items = new QTableWidget(0, 3);
    m_items->setObjectName(QStringLiteral("items"));
    m_items->setHorizontalHeaderLabels({tr("Name"), tr("Stock"), tr("Price")});
    m_items->horizontalHeader()->setSectionResizeMode(0, QHeaderView::Stretch);
    m_items->verticalHeader()->setDefaultSectionSize(m_items->fontMetrics().height() + 8);
    m_items->setMinimumHeight(110);
    m_items->setToolTip(tr("One row per item: name, units, price (12.50)"));
    auto *addRow = new QPushButton(tr("Add item"));
    auto *removeRow = new QPushButton(tr("Remove item"));
    connect(addRow, &QPushButton::clicked, this,
            [this] { addItemRow(tr("Item %1").arg(m_items->rowCount() + 1), 10, "19.99"); });
    connect(removeRow, &QPushButton::clicked, this, [this] {
        const int row = m_items->currentRow();
        m_items->removeRow(row >= 0 ? row : m_items->rowCount() - 1);
    });
    auto *table = new QWidget;
    auto *tableLayout = new QVBoxLayout(table);
    tableLayout->setContentsMargins(0, 0, 0, 0);
    tableLayout->addWidget(withError(m_items, QStringLiteral("/args/items")));
    auto *tableButtons = new QHBoxLayout;
    tableButtons->addWidget(addRow);
    tableButtons->addWidget(removeRow);
    tableButtons->addStretch();
    tableLayout->addLayout(tableButtons);
    addItemRow(tr("Item 1"), 10, QStringLiteral("19.99"));

    // Generated items.
    m_genCount = spin(0, 1000000, 100, tr("How many items the server generates"));
    m_genCount->setObjectName(QStringLiteral("genCount"));
    m_genUnits = spin(0, 1000000, 1, tr("Units of each item"));
    m_genUnits->setObjectName(QStringLiteral("genUnits"));
    m_genPrice = money(19.99, tr("Price of each item"));
    m_genPrice->setObjectName(QStringLiteral("genPrice"));
    auto *gen = new QWidget;
    auto *genForm = new QFormLayout(gen);
    genForm->setContentsMargins(0, 0, 0, 0);
    genForm->addRow(tr("Items:"), withError(m_genCount, QStringLiteral("/args/generate/count")));
    genForm->addRow(tr("Units per item:"),
                    withError(m_genUnits, QStringLiteral("/args/generate/units_per_item")));
    genForm->addRow(tr("Price each:"),
                    withError(m_genPrice, QStringLiteral("/args/generate/price_cents")));

    m_itemsStack = new QStackedWidget;
    m_itemsStack->addWidget(one);
    m_itemsStack->addWidget(table);
    m_itemsStack->addWidget(gen);

    m_perUser = spin(0, 1000000, 1, tr("Units one buyer may hold (at least 1)"));
    m_perUser->setObjectName(QStringLiteral("perUser"));
    m_hold = spin(0, 86400, 300, tr("How long a reservation waits for payment"), tr(" s"));
    m_hold->setObjectName(QStringLiteral("hold"));
    m_rate = spin(-1, 100000000, -1, tr("Booking attempts admitted per second (0: no limit)"),
                  tr(" /s"));
    m_rate->setSpecialValueText(tr("server default"));
    m_burst = spin(-1, 100000000, -1, tr("Admission bucket size"));
    m_burst->setSpecialValueText(tr("server default"));
    auto *admission = new QWidget;
    auto *admissionLayout = new QHBoxLayout(admission);
    admissionLayout->setContentsMargins(0, 0, 0, 0);
    admissionLayout->addWidget(withError(m_rate, QStringLiteral("/args/admission_rate")), 1);
    admissionLayout->addWidget(new QLabel(tr("burst")), 0, Qt::AlignTop);
    admissionLayout->addWidget(withError(m_burst, QStringLiteral("/args/admission_burst")), 1);

    // Defaults as the server's (docs/WAITING_ROOM.md, "Parameters", says why each).
    m_waitingRoom = new QGroupBox(tr("&Waiting room (a shuffled lobby before the start)"));
    m_waitingRoom->setObjectName(QStringLiteral("waitingRoom"));
    m_waitingRoom->setCheckable(true);
    m_waitingRoom->setChecked(false);
    m_lobbyMinutes = spin(1, 7 * 24 * 60, 30, tr("The lobby opens this long before the start"),
                          tr(" min before"));
    m_lobbyMinutes->setObjectName(QStringLiteral("lobbyMinutes"));
    m_graceMs = spin(0, 60000, 3000,
                     tr("Joins this long after the start still join the "
                        "shuffled cohort"),
                     tr(" ms"));
    m_graceMs->setObjectName(QStringLiteral("graceMs"));
    m_admitPerMinute =
        spin(1, 1000000, 600, tr("Buyers let through to book per minute"), tr(" /min"));
    m_admitPerMinute->setObjectName(QStringLiteral("admitPerMinute"));
    m_admissionTtl = spin(10, 3600, 120, tr("How long an admitted buyer has to book"), tr(" s"));
    m_admissionTtl->setObjectName(QStringLiteral("admissionTtl"));
    m_entriesPerAddress =
        spin(0, 1000, 1,
             tr("Cohort entries per client address (IPv6: per /64); later ones queue behind the "
                "cohort. 0: no cap"));
    m_entriesPerAddress->setObjectName(QStringLiteral("entriesPerAddress"));
    // Two columns, and the fields shown only while ticked, so the dialog still fits a
    // 1366x768 screen (tst_console, fitsA1366x768Screen).
    auto *roomFields = new QWidget;
    roomFields->setObjectName(QStringLiteral("waitingRoomFields"));
    auto *roomGrid = new QGridLayout(roomFields);
    roomGrid->setContentsMargins(0, 0, 0, 0);
    const auto cell = [&](int row, int column, const QString &label, QWidget *field,
                          const QString &pointer) {
        roomGrid->addWidget(new QLabel(label), row, column * 2, Qt::AlignTop);
        roomGrid->addWidget(withError(field, pointer), row, column * 2 + 1);
    };
    cell(0, 0, tr("Lobby opens:"), m_lobbyMinutes, QStringLiteral("/args/lobby_opens_at"));
    cell(0, 1, tr("Grace:"), m_graceMs, QStringLiteral("/args/grace_ms"));
    cell(1, 0, tr("Admit:"), m_admitPerMinute, QStringLiteral("/args/admit_per_minute"));
    cell(1, 1, tr("Time to book:"), m_admissionTtl, QStringLiteral("/args/admission_ttl_seconds"));
    cell(2, 0, tr("Per address:"), m_entriesPerAddress,
         QStringLiteral("/args/entries_per_address"));
    auto *roomLayout = new QVBoxLayout(m_waitingRoom);
    roomLayout->addWidget(roomFields);
    roomFields->setVisible(false);
    connect(m_waitingRoom, &QGroupBox::toggled, roomFields, &QWidget::setVisible);

    auto *form = new QFormLayout;
    form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
    form->addRow(tr("&Name:"), withError(m_name, QStringLiteral("/args/name")));
    form->addRow(tr("&Starts:"), withError(startRow, QStringLiteral("/args/starts_at")));
    form->addRow(tr("&Ends:"), withError(m_end, QStringLiteral("/args/ends_at")));
    form->addRow(m_repeat);
    form->addRow(tr("&Items:"), m_itemsMode);
    form->addRow(m_itemsStack);
    form->addRow(tr("&Per-user limit:"),
                 withError(m_perUser, QStringLiteral("/args/per_user_limit")));
    form->addRow(tr("&Hold:"), withError(m_hold, QStringLiteral("/args/hold_seconds")));
    form->addRow(tr("&Admission:"), admission);
    form->addRow(m_waitingRoom);

    m_general = new QLabel;
    m_general->setObjectName(QStringLiteral("generalError"));
    m_general->setStyleSheet(QStringLiteral("color: #b00020"));
    m_general->setWordWrap(true);
    m_general->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_general->hide();

    auto *buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel);
    m_create = buttons->button(QDialogButtonBox::Ok);
    m_create->setText(tr("&Create…"));
    connect(buttons, &QDialogButtonBox::accepted, this, &SaleDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &SaleDialog::reject);

    auto *layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addWidget(m_general);
    layout->addWidget(buttons);

    connect(m_itemsMode, &QComboBox::currentIndexChanged, this, &SaleDialog::updateMode);
    connect(m_repeat, &QGroupBox::toggled, this, &SaleDialog::updateMode);
    updateMode();
}

QWidget *SaleDialog::withError(QWidget *field, const QString &pointer) {
    auto *box = new QWidget;
    auto *layout = new QVBoxLayout(box);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->setSpacing(1);
    layout->addWidget(field);
    auto *error = new QLabel;
    error->setObjectName(QStringLiteral("error:") + pointer);
    error->setStyleSheet(QStringLiteral("color: #b00020"));
    error->setWordWrap(true);
    error->hide();
    layout->addWidget(error);
    m_errorLabels.insert(pointer, error);
    return box;
}

void SaleDialog::addItemRow(const QString &name, int stock, const QString &price) {
    const int row = m_items->rowCount();
    m_items->insertRow(row);
    m_items->setItem(row, 0, new QTableWidgetItem(name));
    m_items->setItem(row, 1, new QTableWidgetItem(QString::number(stock)));
    m_items->setItem(row, 2, new QTableWidgetItem(price));
}

bool SaleDialog::recurring() const {
    return m_repeat->isChecked();
}

SaleDialog::ItemsMode SaleDialog::itemsMode() const {
    return recurring() ? ItemsMode::Generated : ItemsMode(m_itemsMode->currentIndex());
}

void SaleDialog::updateMode() {
    // A schedule's sales always have generated items; its end follows from the duration.
    if (recurring())
        m_itemsMode->setCurrentIndex(int(ItemsMode::Generated));
    m_itemsMode->setEnabled(!recurring());
    m_end->setEnabled(!recurring());
    // Recurring schedules get no waiting room (docs/SCHEDULER.md).
    m_waitingRoom->setEnabled(!recurring());
    m_itemsStack->setCurrentIndex(int(itemsMode()));
    m_create->setText(recurring() ? tr("&Create schedule…") : tr("&Create sale…"));
}

Op SaleDialog::op() const {
    return recurring() ? Op::ScheduleCreate : Op::SaleCreate;
}

QJsonObject SaleDialog::args() const {
    QJsonObject a;
    a.insert(QStringLiteral("name"), m_name->text().trimmed());
    a.insert(QStringLiteral("per_user_limit"), m_perUser->value());
    a.insert(QStringLiteral("hold_seconds"), m_hold->value());
    if (m_rate->value() >= 0)
        a.insert(QStringLiteral("admission_rate"), m_rate->value());
    if (m_burst->value() >= 0)
        a.insert(QStringLiteral("admission_burst"), m_burst->value());
    if (recurring()) {
        a.insert(QStringLiteral("first_start"), utc(m_start->dateTime()));
        a.insert(QStringLiteral("every_seconds"),
                 qint64(m_every->value()) * m_everyUnit->currentData().toInt());
        a.insert(QStringLiteral("duration_seconds"), qint64(m_duration->value()) * 60);
        a.insert(QStringLiteral("item_count"), m_genCount->value());
        a.insert(QStringLiteral("units_per_item"), m_genUnits->value());
        a.insert(QStringLiteral("price_cents"), cents(m_genPrice->value()));
        return a;
    }
    a.insert(QStringLiteral("starts_at"), utc(m_start->dateTime()));
    a.insert(QStringLiteral("ends_at"), utc(m_end->dateTime()));
    if (m_waitingRoom->isChecked()) {
        a.insert(QStringLiteral("waiting_room"), true);
        a.insert(QStringLiteral("lobby_opens_at"),
                 utc(m_start->dateTime().addSecs(-qint64(m_lobbyMinutes->value()) * 60)));
        a.insert(QStringLiteral("grace_ms"), m_graceMs->value());
        a.insert(QStringLiteral("admit_per_minute"), m_admitPerMinute->value());
        a.insert(QStringLiteral("admission_ttl_seconds"), m_admissionTtl->value());
        a.insert(QStringLiteral("entries_per_address"), m_entriesPerAddress->value());
    }
    switch (itemsMode()) {
    case ItemsMode::OneItem:
        a.insert(QStringLiteral("stock"), m_stock->value());
        a.insert(QStringLiteral("price_cents"), cents(m_price->value()));
        break;
    case ItemsMode::Table: {
        QJsonArray items;
        for (int r = 0; r < m_items->rowCount(); ++r) {
            const auto text = [&](int c) {
                return m_items->item(r, c) ? m_items->item(r, c)->text().trimmed() : QString();
            };
            bool stockOk = false;
            const qint64 stock = text(1).toLongLong(&stockOk);
            const auto price = parseCents(text(2));
            items.append(QJsonObject{
                {QStringLiteral("name"), text(0)},
                {QStringLiteral("stock"), stockOk ? QJsonValue(stock) : QJsonValue(text(1))},
                {QStringLiteral("price_cents"), price ? QJsonValue(*price) : QJsonValue(text(2))}});
        }
        a.insert(QStringLiteral("items"), items);
        break;
    }
    case ItemsMode::Generated:
        a.insert(QStringLiteral("generate"),
                 QJsonObject{{QStringLiteral("count"), m_genCount->value()},
                             {QStringLiteral("units_per_item"), m_genUnits->value()},
                             {QStringLiteral("price_cents"), cents(m_genPrice->value())}});
        break;
    }
    return a;
}

FieldErrors SaleDialog::validate(qint64 nowMs) const {
    FieldErrors e;
    const auto add = [&e](const char *pointer, const QString &detail) {
        e.append(FieldError{QString::fromLatin1(pointer), detail});
    };
    if (m_name->text().trimmed().isEmpty())
        add("/args/name", tr("a name is required"));
    const qint64 start = m_start->dateTime().toMSecsSinceEpoch();
    if (start < nowMs - kPastToleranceMs)
        add("/args/starts_at",
            tr("the start is in the past (%1)")
                .arg(m_start->dateTime().toString(QString::fromLatin1(kTimeFormat))));
    if (m_perUser->value() < 1)
        add("/args/per_user_limit", tr("at least 1"));
    if (recurring()) {
        const qint64 every = qint64(m_every->value()) * m_everyUnit->currentData().toInt();
        const qint64 duration = qint64(m_duration->value()) * 60;
        if (every < 60)
            add("/args/every_seconds", tr("at least one minute"));
        if (duration <= 0)
            add("/args/duration_seconds", tr("must be longer than 0"));
        else if (every >= 60 && duration > every)
            add("/args/duration_seconds", tr("longer than the period; sales would overlap"));
    } else if (m_end->dateTime() <= m_start->dateTime()) {
        add("/args/ends_at", tr("the end must be after the start"));
    }
    switch (itemsMode()) {
    case ItemsMode::OneItem:
        if (m_stock->value() <= 0)
            add("/args/stock", tr("stock must be more than 0"));
        if (m_price->value() < 0)
            add("/args/price_cents", tr("the price cannot be negative"));
        break;
    case ItemsMode::Table:
        if (m_items->rowCount() == 0)
            add("/args/items", tr("add at least one item"));
        for (int r = 0; r < m_items->rowCount(); ++r) {
            const auto text = [&](int c) {
                return m_items->item(r, c) ? m_items->item(r, c)->text().trimmed() : QString();
            };
            const QString at = QStringLiteral("/args/items/%1/").arg(r);
            if (text(0).isEmpty())
                e.append({at + QStringLiteral("name"), tr("a name is required")});
            bool ok = false;
            const qint64 stock = text(1).toLongLong(&ok);
            if (!ok || stock <= 0)
                e.append({at + QStringLiteral("stock"), tr("a whole number more than 0")});
            const auto price = parseCents(text(2));
            if (!price || *price < 0)
                e.append({at + QStringLiteral("price_cents"), tr("an amount of 0 or more")});
        }
        break;
    case ItemsMode::Generated:
        if (m_genCount->value() < 1)
            add(recurring() ? "/args/item_count" : "/args/generate/count", tr("at least 1 item"));
        if (m_genUnits->value() < 1)
            add(recurring() ? "/args/units_per_item" : "/args/generate/units_per_item",
                tr("stock must be more than 0"));
        if (m_genPrice->value() < 0)
            add(recurring() ? "/args/price_cents" : "/args/generate/price_cents",
                tr("the price cannot be negative"));
        break;
    }
    return e;
}

void SaleDialog::showErrors(const FieldErrors &errors, const QString &general) {
    for (QLabel *l : std::as_const(m_errorLabels)) {
        l->clear();
        l->hide();
    }
    for (int r = 0; r < m_items->rowCount(); ++r)
        for (int c = 0; c < 3; ++c)
            if (m_items->item(r, c))
                m_items->item(r, c)->setBackground(QBrush());
    QStringList unplaced;
    if (!general.isEmpty())
        unplaced << general;
    QWidget *firstBad = nullptr;
    for (const FieldError &fe : errors) {
        QString pointer = fe.pointer;
        QString detail = fe.detail;
        // A schedule names its fields differently; show them where the form has them.
        static const QHash<QString, QString> aliases{
            {QStringLiteral("/args/first_start"), QStringLiteral("/args/starts_at")},
            {QStringLiteral("/args/item_count"), QStringLiteral("/args/generate/count")},
            {QStringLiteral("/args/units_per_item"),
             QStringLiteral("/args/generate/units_per_item")},
        };
        if (aliases.contains(pointer))
            pointer = aliases.value(pointer);
        if (recurring() && pointer == QLatin1String("/args/price_cents"))
            pointer = QStringLiteral("/args/generate/price_cents");
        if (pointer.startsWith(QLatin1String("/args/items/"))) {
            const QStringList parts = pointer.mid(12).split(QLatin1Char('/'));
            const int row = parts.value(0).toInt();
            const QString field = parts.value(1);
            const int column = field == QLatin1String("name")          ? 0
                               : field == QLatin1String("stock")       ? 1
                               : field == QLatin1String("price_cents") ? 2
                                                                       : -1;
            if (column >= 0 && m_items->item(row, column))
                m_items->item(row, column)->setBackground(QColor(0xff, 0xd6, 0xd6));
            detail = tr("row %1: %2: %3")
                         .arg(row + 1)
                         .arg(field.isEmpty() ? tr("item") : field, fe.detail);
            pointer = QStringLiteral("/args/items");
        }
        QLabel *label = m_errorLabels.value(pointer);
        if (!label || !label->parentWidget()->isVisibleTo(this)) {
            unplaced << QStringLiteral("%1: %2").arg(fe.pointer, fe.detail);
            continue;
        }
        label->setText(label->text().isEmpty() ? detail : label->text() + '\n' + detail);
        label->show();
        if (!firstBad)
            firstBad = label->parentWidget();
    }
    m_general->setText(unplaced.join(QLatin1Char('\n')));
    m_general->setVisible(!unplaced.isEmpty());
    if (firstBad)
        firstBad->setFocus();
}

void SaleDialog::accept() {
    if (m_busy)
        return;
    const FieldErrors errors = validate(QDateTime::currentMSecsSinceEpoch() + m_skewMs);
    if (!errors.isEmpty()) {
        showErrors(errors, tr("Please correct the marked fields; nothing was sent."));
        return;
    }
    showErrors({});
    setBusy(true);
    Q_EMIT submitted(op(), args());
}

void SaleDialog::answered(bool ok, const admin::AdminFailure &failure) {
    setBusy(false);
    if (ok) {
        QDialog::accept();
        return;
    }
    QString general = tr("The server did not create it: %1: %2")
                          .arg(admin::errorName(failure.code), failure.message);
    if (failure.code == AdminError::Disconnected || failure.code == AdminError::Timeout)
        general = tr("Not sent or not answered (%1: %2). Your input is kept; try again when the "
                     "console is connected.")
                      .arg(admin::errorName(failure.code), failure.message);
    showErrors(failure.details, general);
}

void SaleDialog::notSent() {
    setBusy(false);
}

void SaleDialog::setBusy(bool busy) {
    m_busy = busy;
    m_create->setEnabled(!busy);
    if (busy)
        m_create->setText(tr("Sending…"));
    else
        updateMode();
}

} // namespace flashsale::console
