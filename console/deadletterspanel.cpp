#include "deadletterspanel.h"

#include "consoleformat.h"
#include "feedback.h"
#include "protocol/adminclient.h"
#include "rolegate.h"
#include "salesmodel.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QItemSelectionModel>
#include <QLabel>
#include <QPushButton>
#include <QShowEvent>
#include <QSignalBlocker>
#include <QTableView>
#include <QVBoxLayout>

namespace flashsale::console {

using admin::AdminClient;
using admin::Op;

namespace {

QString units(qint64 n) {
    return n == 1 ? QObject::tr("1 unit") : QObject::tr("%1 units").arg(n);
}

} // namespace

// --- CancelDeadLetterDialog ----------------------------------------------------------------

CancelDeadLetterDialog::CancelDeadLetterDialog(const DeadLettersModel::Letter &letter,
                                               const QString &saleName, QWidget *parent)
    : QDialog(parent) {
    setObjectName(QStringLiteral("cancelDeadLetterDialog"));
    setWindowTitle(tr("Cancel a dead-lettered order"));
    setAttribute(Qt::WA_DeleteOnClose);
    setModal(true);

    auto *text = new QLabel(
        tr("<p>Cancel the order of buyer <b>%1</b> for <b>%2</b> of sale <b>%3</b>?</p>"
           "<p>Dead letter <b>%4</b>, %5 old:<br><i>%6</i></p>"
           "<p>The order is ended as cancelled with this reason, its units are accounted "
           "for, and the action is audited under your name. It cannot be replayed "
           "afterwards.</p>")
            .arg(letter.userId.toHtmlEscaped(), units(letter.quantity), saleName.toHtmlEscaped(),
                 letter.entryId.toHtmlEscaped(), DeadLettersModel::formatAge(letter.ageS),
                 letter.reason.toHtmlEscaped()));
    text->setObjectName(QStringLiteral("cancelText"));
    text->setWordWrap(true);
    text->setTextFormat(Qt::RichText);
    text->setMinimumWidth(460);

    m_notify =
        new QCheckBox(tr("&Notify the buyer (%1) that the order is cancelled").arg(letter.userId));
    m_notify->setObjectName(QStringLiteral("notifyBuyer"));
    m_notify->setChecked(true);

    auto *buttons = new QDialogButtonBox;
    m_confirm = buttons->addButton(tr("Cancel the &order"), QDialogButtonBox::AcceptRole);
    m_confirm->setObjectName(QStringLiteral("confirmCancel"));
    m_keep = buttons->addButton(tr("&Keep it"), QDialogButtonBox::RejectRole);
    m_keep->setObjectName(QStringLiteral("keepDeadLetter"));
    connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);

    auto *layout = new QVBoxLayout(this);
    layout->addWidget(text);
    layout->addWidget(m_notify);
    layout->addWidget(buttons);
    // Enter keeps the order: "Cancel the order" never becomes the default, not even with focus.
    m_confirm->setAutoDefault(false);
    m_keep->setDefault(true);
    m_notify->setFocus();
}

bool CancelDeadLetterDialog::notifyBuyer() const {
    return m_notify->isChecked();
}

// --- DeadLettersPanel ------------------------------------------------------------------------

DeadLettersPanel::DeadLettersPanel(AdminClient *client, QWidget *parent)
    : QWidget(parent)
    , m_client(client) {
    setObjectName(QStringLiteral("deadLettersPanel"));
    m_model = new DeadLettersModel(this);

    m_view = new QTableView;
    m_view->setObjectName(QStringLiteral("orderDeadLettersView"));
    m_view->setModel(m_model);
    m_view->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_view->setSelectionMode(QAbstractItemView::SingleSelection);
    m_view->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_view->verticalHeader()->hide();
    m_view->verticalHeader()->setDefaultSectionSize(fontMetrics().height() + 6);
    m_view->horizontalHeader()->setSectionResizeMode(QHeaderView::Interactive);
    m_view->horizontalHeader()->setStretchLastSection(true);
    m_view->setWordWrap(false);
    // The reason is what a merchandiser reads first: wide enough for the worker's sentences.
    m_view->setColumnWidth(DeadLettersModel::Sale, 160);
    m_view->setColumnWidth(DeadLettersModel::Entry, 130);
    m_view->setColumnWidth(DeadLettersModel::User, 110);
    m_view->setColumnWidth(DeadLettersModel::Quantity, 40);
    m_view->setColumnWidth(DeadLettersModel::Reason, 420);
    m_view->setColumnWidth(DeadLettersModel::Age, 80);

    m_sale = new QComboBox;
    m_sale->setObjectName(QStringLiteral("deadLetterSale"));
    m_sale->setMinimumContentsLength(24);
    m_sale->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    m_sale->addItem(tr("All sales"), qint64(0));
    m_showResolved = new QCheckBox(tr("Show resol&ved"));
    m_showResolved->setObjectName(QStringLiteral("showResolved"));
    m_reload = new QPushButton(tr("Reload"));
    m_reload->setObjectName(QStringLiteral("deadLettersReload"));
    m_replay = new QPushButton(tr("Re&play"));
    m_replay->setObjectName(QStringLiteral("replayOrderDeadLetter"));
    m_replay->setToolTip(tr("Write the selected entry's order again, once the cause is fixed"));
    m_cancel = new QPushButton(tr("Ca&ncel…"));
    m_cancel->setObjectName(QStringLiteral("cancelOrderDeadLetter"));
    m_cancel->setToolTip(tr("Cancel the selected entry's order, and tell the buyer"));
    m_status = new QLabel;
    m_status->setObjectName(QStringLiteral("deadLettersStatus"));
    // A long refusal must not widen the window: the label takes the room left, the tooltip has
    // the whole text.
    m_status->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);

    auto *saleLabel = new QLabel(tr("Sal&e:"));
    saleLabel->setBuddy(m_sale);
    auto *bar = new QHBoxLayout;
    bar->addWidget(saleLabel);
    bar->addWidget(m_sale);
    bar->addWidget(m_showResolved);
    bar->addSpacing(12);
    bar->addWidget(m_reload);
    bar->addWidget(m_replay);
    bar->addWidget(m_cancel);
    bar->addWidget(m_status, 1);

    auto *intro = new QLabel(
        tr("<b>Order dead letters</b>: bookings the stream worker could not write to "
           "PostgreSQL. Their buyers were told the booking was accepted and have no order until "
           "one is replayed or cancelled."));
    intro->setWordWrap(true);

    m_detail = new QLabel;
    m_detail->setObjectName(QStringLiteral("deadLetterDetail"));
    m_detail->setWordWrap(true);
    m_detail->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_detail->setTextFormat(Qt::RichText);

    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addWidget(intro);
    layout->addLayout(bar);
    layout->addWidget(m_view, 1);
    layout->addWidget(m_detail);

    m_poll.setInterval(kDefaultPollMs);
    connect(&m_poll, &QTimer::timeout, this, [this] {
        // Only while someone can see it, and never on top of a load or an action.
        if (isVisible() && !m_loading && !m_busy)
            refresh();
    });
    m_poll.start();

    connect(m_reload, &QPushButton::clicked, this, &DeadLettersPanel::refresh);
    connect(m_replay, &QPushButton::clicked, this, &DeadLettersPanel::replaySelected);
    connect(m_cancel, &QPushButton::clicked, this, &DeadLettersPanel::cancelSelected);
    connect(m_showResolved, &QCheckBox::toggled, this, &DeadLettersPanel::refresh);
    connect(m_sale, &QComboBox::activated, this, &DeadLettersPanel::refresh);
    connect(m_view->selectionModel(), &QItemSelectionModel::selectionChanged, this, [this] {
        updateButtons();
        updateDetail();
    });
    connect(m_view, &QTableView::doubleClicked, this, &DeadLettersPanel::cancelSelected);
    updateButtons();
    updateDetail();
}

void DeadLettersPanel::setGate(RoleGate *gate) {
    m_gate = gate;
    if (!gate)
        return;
    gate->bind(m_replay, Op::OrdersDeadLettersReplay);
    gate->bind(m_cancel, Op::OrdersDeadLettersCancel);
    connect(gate, &RoleGate::changed, this, &DeadLettersPanel::updateButtons);
    updateButtons();
}

void DeadLettersPanel::setSalesModel(SalesModel *sales) {
    m_sales = sales;
    if (!sales)
        return;
    // Names rarely change; stats pushes (dataChanged) need not rebuild the list.
    connect(sales, &QAbstractItemModel::modelReset, this, &DeadLettersPanel::rebuildSaleFilter);
    connect(sales, &QAbstractItemModel::rowsInserted, this, &DeadLettersPanel::rebuildSaleFilter);
    connect(sales, &QAbstractItemModel::rowsRemoved, this, &DeadLettersPanel::rebuildSaleFilter);
    rebuildSaleFilter();
}

void DeadLettersPanel::setPollInterval(int ms) {
    m_poll.setInterval(ms);
}

void DeadLettersPanel::rebuildSaleFilter() {
    const qint64 current = m_sale->currentData().toLongLong();
    QHash<qint64, QString> names;
    QList<std::pair<qint64, QString>> sales;
    for (int row = 0; m_sales && row < m_sales->rowCount(); ++row) {
        const QJsonObject s = m_sales->sale(row);
        const qint64 id = s.value(QStringLiteral("id")).toInteger();
        const QString name = s.value(QStringLiteral("name")).toString();
        names.insert(id, name);
        sales.append({id, name});
    }
    m_model->setSaleNames(names);
    QSignalBlocker block(m_sale);
    m_sale->clear();
    m_sale->addItem(tr("All sales"), qint64(0));
    for (const auto &[id, name] : sales)
        m_sale->addItem(QStringLiteral("%1 \u00b7 %2").arg(id).arg(name), id);
    // A filtered sale that is no longer listed stays selectable by its id.
    if (current && m_sale->findData(current) < 0)
        m_sale->addItem(QString::number(current), current);
    m_sale->setCurrentIndex(qMax(0, m_sale->findData(current)));
}

void DeadLettersPanel::setSaleFilter(qint64 saleId) {
    if (saleId && m_sale->findData(saleId) < 0)
        m_sale->addItem(QString::number(saleId), saleId);
    m_sale->setCurrentIndex(qMax(0, m_sale->findData(saleId)));
    refresh();
}

QString DeadLettersPanel::saleName(qint64 saleId) const {
    const QString name =
        m_sales ? m_sales->saleById(saleId).value(QStringLiteral("name")).toString() : QString();
    return name.isEmpty() ? QString::number(saleId)
                          : QStringLiteral("%1 \u201c%2\u201d").arg(saleId).arg(name);
}

void DeadLettersPanel::setStatus(const QString &text, bool error) {
    m_status->setText(text);
    m_status->setToolTip(text);
    m_status->setStyleSheet(error ? QStringLiteral("color: #b00020") : QString());
}

std::optional<DeadLettersModel::Letter> DeadLettersPanel::selected() const {
    const QModelIndexList rows = m_view->selectionModel()->selectedRows();
    if (rows.isEmpty() || rows.first().row() >= m_model->rowCount())
        return std::nullopt;
    return m_model->letter(rows.first().row());
}

bool DeadLettersPanel::selectEntry(qint64 saleId, const QString &entryId) {
    const int row = m_model->rowOf(saleId, entryId);
    if (row < 0)
        return false;
    m_view->selectRow(row);
    return true;
}

void DeadLettersPanel::updateButtons() {
    const auto letter = selected();
    // A resolved entry cannot be replayed or cancelled again (the server answers conflict).
    const bool wanted = letter && !letter->resolved() && !m_busy;
    if (m_gate) {
        m_gate->setEnabled(m_replay, wanted);
        m_gate->setEnabled(m_cancel, wanted);
    } else {
        m_replay->setEnabled(wanted);
        m_cancel->setEnabled(wanted);
    }
}

void DeadLettersPanel::updateDetail() {
    const auto l = selected();
    if (!l) {
        m_detail->setText(m_model->rowCount() ? tr("Select an entry to see it in full.")
                                              : QString());
        return;
    }
    m_detail->setText(tr("<b>%1</b> of sale %2: buyer <b>%3</b>, %4, dead-lettered %5 (%6 ago).<br>"
                         "Reason: <span style='color:#b00020'>%7</span><br>Resolution: %8")
                          .arg(l->entryId.toHtmlEscaped(), saleName(l->saleId).toHtmlEscaped(),
                               l->userId.toHtmlEscaped(), units(l->quantity),
                               formatTime(QJsonValue(l->at)).toHtmlEscaped(),
                               DeadLettersModel::formatAge(l->ageS), l->reason.toHtmlEscaped(),
                               DeadLettersModel::formatResolution(l->resolution).toHtmlEscaped()));
}

void DeadLettersPanel::showEvent(QShowEvent *event) {
    QWidget::showEvent(event);
    if (!event->spontaneous() && !m_loading)
        refresh(); // coming back to the tab shows the current list, not the last poll's
}

void DeadLettersPanel::refresh() {
    const quint64 generation = ++m_generation;
    if (!m_client || m_client->state() != AdminClient::State::Connected) {
        setStatus(tr("Not connected."));
        return;
    }
    admin::DeadLetterListArgs args;
    if (const qint64 sale = m_sale->currentData().toLongLong())
        args.saleId = sale;
    args.includeResolved = m_showResolved->isChecked();
    m_loading = true;
    if (m_model->rowCount() == 0)
        setStatus(tr("Loading…"));
    m_client->request(
        Op::OrdersDeadLetters, admin::encodeArgs(args),
        [self = QPointer(this), generation](const AdminClient::Reply &r) {
            if (!self || self->m_generation != generation)
                return;
            self->m_loading = false;
            if (!r.ok) {
                self->setStatus(
                    tr("Could not load the dead letters: %1").arg(formatFailure(r.failure)), true);
                return;
            }
            // Keep the selection across the reload (the poll must not take it away).
            const auto before = self->selected();
            self->m_model->setLetters(r.result.value(QStringLiteral("deadletters")).toArray());
            if (before)
                self->selectEntry(before->saleId, before->entryId);
            const int rows = self->m_model->rowCount();
            const int open = self->m_model->openCount();
            QString summary =
                rows == 0 ? (self->m_showResolved->isChecked() ? tr("No dead letters.")
                                                               : tr("No open dead letters."))
                : open == rows
                    ? (open == 1 ? tr("1 open dead letter") : tr("%1 open dead letters").arg(open))
                    : (rows == 1 ? tr("1 dead letter, %1 open").arg(open)
                                 : tr("%1 dead letters, %2 open").arg(rows).arg(open));
            if (!self->m_lastAction.isEmpty())
                summary += QStringLiteral(" \u2014 ") + self->m_lastAction;
            self->setStatus(summary, open > 0);
            self->updateButtons();
            self->updateDetail();
            Q_EMIT self->loaded(rows, open);
        });
}

void DeadLettersPanel::replaySelected() {
    const auto letter = selected();
    if (!letter || letter->resolved())
        return;
    const DeadLettersModel::Letter l = *letter;
    confirmThen(
        this, tr("Replay a dead letter"),
        tr("Write the order of buyer %1 (%2, sale %3) again from dead letter %4?\n\n"
           "Replay only once the cause is fixed (reason: %5). If it still cannot be written the "
           "server refuses it and the entry stays open.")
            .arg(l.userId, units(l.quantity), saleName(l.saleId), l.entryId, l.reason),
        [self = QPointer(this), l] {
            if (!self || !self->m_client)
                return;
            self->m_busy = true;
            self->updateButtons();
            self->setStatus(tr("Replaying %1…").arg(l.entryId));
            self->m_client->request(
                Op::OrdersDeadLettersReplay,
                admin::encodeArgs(admin::DeadLetterReplayArgs{l.saleId, l.entryId}),
                [self, l](const AdminClient::Reply &r) {
                    if (!self)
                        return;
                    self->m_busy = false;
                    const QString title = tr("Replay a dead letter");
                    if (!r.ok) {
                        showOutcome(self, title,
                                    tr("Dead letter %1 was not replayed.").arg(l.entryId),
                                    &r.failure);
                        self->m_lastAction = tr("%1 not replayed: %2")
                                                 .arg(l.entryId, admin::errorName(r.failure.code));
                    } else {
                        const QString outcome =
                            r.result.value(QStringLiteral("outcome")).toString();
                        const QString reason = r.result.value(QStringLiteral("reason")).toString();
                        if (outcome == QLatin1String(admin::kDeadLetterReplayed)) {
                            showOutcome(self, title,
                                        tr("Dead letter %1 of %2 (%3) replayed%4.")
                                            .arg(l.entryId, l.userId, units(l.quantity),
                                                 reason.isEmpty() ? QString()
                                                                  : QStringLiteral(": ") + reason));
                            self->m_lastAction = tr("%1 replayed").arg(l.entryId);
                        } else {
                            showRefusal(self, title,
                                        tr("The server refused to replay dead letter %1; it "
                                           "stays open.")
                                            .arg(l.entryId),
                                        reason);
                            self->m_lastAction = tr("%1 not replayed: %2").arg(l.entryId, reason);
                        }
                        Q_EMIT self->resolved(l.saleId, l.entryId, outcome);
                    }
                    self->updateButtons();
                    self->refresh();
                });
        });
}

void DeadLettersPanel::cancelSelected() {
    const auto letter = selected();
    if (!letter || letter->resolved() || !m_cancel->isEnabled())
        return;
    if (m_cancelDialog) {
        m_cancelDialog->raise();
        return;
    }
    const DeadLettersModel::Letter l = *letter;
    m_cancelDialog = new CancelDeadLetterDialog(l, saleName(l.saleId), this);
    connect(m_cancelDialog, &QDialog::accepted, this,
            [self = QPointer(this), dialog = m_cancelDialog, l] {
                if (self && dialog)
                    self->sendCancel(l, dialog->notifyBuyer());
            });
    m_cancelDialog->open();
}

void DeadLettersPanel::sendCancel(const DeadLettersModel::Letter &l, bool notify) {
    if (!m_client)
        return;
    m_busy = true;
    updateButtons();
    setStatus(tr("Cancelling %1…").arg(l.entryId));
    m_client->request(
        Op::OrdersDeadLettersCancel,
        admin::encodeArgs(admin::DeadLetterCancelArgs{l.saleId, l.entryId, notify}),
        [self = QPointer(this), l, notify](const AdminClient::Reply &r) {
            if (!self)
                return;
            self->m_busy = false;
            const QString title = tr("Cancel a dead-lettered order");
            if (!r.ok) {
                showOutcome(self, title,
                            tr("The order of dead letter %1 was not cancelled.").arg(l.entryId),
                            &r.failure);
                self->m_lastAction =
                    tr("%1 not cancelled: %2").arg(l.entryId, admin::errorName(r.failure.code));
            } else {
                // The server's sentence says what happened to the order ("pending order 12
                // cancelled (dead-letter), buyer notified").
                const QString detail = r.result.value(QStringLiteral("detail")).toString();
                showOutcome(self, title,
                            tr("Dead letter %1 of %2 (%3) is cancelled%4.")
                                .arg(l.entryId, l.userId, units(l.quantity),
                                     detail.isEmpty() ? (notify ? tr("; the buyer is notified")
                                                                : tr("; the buyer is not notified"))
                                                      : QStringLiteral(": ") + detail));
                self->m_lastAction = tr("%1 cancelled").arg(l.entryId);
                Q_EMIT self->resolved(l.saleId, l.entryId,
                                      r.result.value(QStringLiteral("outcome")).toString());
            }
            self->updateButtons();
            self->refresh();
        });
}

} // namespace flashsale::console
