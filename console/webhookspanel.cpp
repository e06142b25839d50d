#include "webhookspanel.h"

#include "consoleformat.h"
#include "feedback.h"
#include "protocol/adminclient.h"
#include "rolegate.h"

#include <QHBoxLayout>
#include <QHeaderView>
#include <QItemSelectionModel>
#include <QJsonArray>
#include <QLabel>
#include <QPushButton>
#include <QSplitter>
#include <QStandardItemModel>
#include <QTableView>
#include <QVBoxLayout>

namespace flashsale::console {

using admin::AdminClient;
using admin::Op;

namespace {

constexpr int kPage = 100;

QTableView *makeView(QAbstractItemModel *model, const QString &name, int rowHeight) {
    auto *view = new QTableView;
    view->setObjectName(name);
    view->setModel(model);
    view->setSelectionBehavior(QAbstractItemView::SelectRows);
    view->setSelectionMode(QAbstractItemView::SingleSelection);
    view->setEditTriggers(QAbstractItemView::NoEditTriggers);
    view->verticalHeader()->hide();
    view->verticalHeader()->setDefaultSectionSize(rowHeight);
    view->horizontalHeader()->setSectionResizeMode(QHeaderView::Interactive);
    view->horizontalHeader()->setStretchLastSection(true);
    view->setWordWrap(false);
    return view;
}

QStandardItem *item(const QString &text, Qt::Alignment align = Qt::AlignLeft | Qt::AlignVCenter) {
    auto *i = new QStandardItem(text);
    i->setTextAlignment(align);
    return i;
}

QStandardItem *number(const QJsonValue &v) {
    return item(formatCell(v), Qt::AlignRight | Qt::AlignVCenter);
}

} // namespace

WebhooksPanel::WebhooksPanel(AdminClient *client, QWidget *parent)
    : QWidget(parent)
    , m_client(client) {
    setObjectName(QStringLiteral("webhooksPanel"));
    m_endpoints = new QStandardItemModel(0, 8, this);
    m_endpoints->setHorizontalHeaderLabels({tr("Endpoint"), tr("URL"), tr("Events"),
                                            tr("Configured"), tr("Pending"), tr("Delivered"),
                                            tr("Dead"), tr("Last delivered")});
    m_letters = new QStandardItemModel(0, Count, this);
    m_letters->setHorizontalHeaderLabels({tr("Id"), tr("Endpoint"), tr("Event id"), tr("Type"),
                                          tr("Order"), tr("Attempts"), tr("Last error"),
                                          tr("Dead since"), tr("Replays")});

    const int rowHeight = fontMetrics().height() + 6;
    m_endpointsView = makeView(m_endpoints, QStringLiteral("webhookEndpointsView"), rowHeight);
    for (const auto &[column, width] :
         {std::pair{0, 100}, {1, 260}, {2, 200}, {3, 80}, {4, 65}, {5, 70}, {6, 55}})
        m_endpointsView->setColumnWidth(column, width);
    m_lettersView = makeView(m_letters, QStringLiteral("deadLettersView"), rowHeight);
    m_lettersView->setColumnWidth(Id, 55);
    m_lettersView->setColumnWidth(Endpoint, 110);
    m_lettersView->setColumnWidth(Event, 190);
    m_lettersView->setColumnWidth(Type, 110);
    m_lettersView->setColumnWidth(Order, 60);
    m_lettersView->setColumnWidth(Attempts, 65);
    m_lettersView->setColumnWidth(LastError, 260);
    m_lettersView->setColumnWidth(DeadAt, 140);

    auto *reload = new QPushButton(tr("Reload"));
    reload->setObjectName(QStringLiteral("webhooksReload"));
    m_replay = new QPushButton(tr("&Replay selected"));
    m_replay->setObjectName(QStringLiteral("replayDeadLetter"));
    m_replay->setToolTip(tr("Send the selected dead letter to its endpoint again"));
    m_replayEndpoint = new QPushButton(tr("Replay &endpoint"));
    m_replayEndpoint->setObjectName(QStringLiteral("replayEndpoint"));
    m_replayEndpoint->setToolTip(tr("Send every dead letter of the selected row's endpoint again"));
    m_older = new QPushButton(tr("Load &older"));
    m_older->setObjectName(QStringLiteral("webhooksLoadOlder"));
    m_status = new QLabel;
    m_status->setObjectName(QStringLiteral("webhooksStatus"));
    auto *bar = new QHBoxLayout;
    bar->addWidget(reload);
    bar->addWidget(m_replay);
    bar->addWidget(m_replayEndpoint);
    bar->addWidget(m_older);
    bar->addWidget(m_status, 1);

    auto *top = new QWidget;
    auto *topLayout = new QVBoxLayout(top);
    topLayout->setContentsMargins(0, 0, 0, 0);
    topLayout->addWidget(new QLabel(tr("<b>Merchant endpoints</b>")));
    topLayout->addWidget(m_endpointsView);
    auto *bottom = new QWidget;
    auto *bottomLayout = new QVBoxLayout(bottom);
    bottomLayout->setContentsMargins(0, 0, 0, 0);
    bottomLayout->addWidget(new QLabel(tr("<b>Dead letters</b> (out of attempts; newest first)")));
    bottomLayout->addLayout(bar);
    bottomLayout->addWidget(m_lettersView, 1);
    auto *splitter = new QSplitter(Qt::Vertical);
    splitter->addWidget(top);
    splitter->addWidget(bottom);
    splitter->setStretchFactor(0, 1);
    splitter->setStretchFactor(1, 3);

    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addWidget(splitter);

    connect(reload, &QPushButton::clicked, this, &WebhooksPanel::refresh);
    connect(m_older, &QPushButton::clicked, this, &WebhooksPanel::loadOlder);
    connect(m_replay, &QPushButton::clicked, this, &WebhooksPanel::replaySelected);
    connect(m_replayEndpoint, &QPushButton::clicked, this, &WebhooksPanel::replayEndpoint);
    connect(m_lettersView->selectionModel(), &QItemSelectionModel::selectionChanged, this,
            &WebhooksPanel::updateButtons);
    updateButtons();
}

void WebhooksPanel::setGate(RoleGate *gate) {
    m_gate = gate;
    gate->bind(m_replay, Op::WebhooksReplay);
    gate->bind(m_replayEndpoint, Op::WebhooksReplay);
    connect(gate, &RoleGate::changed, this, &WebhooksPanel::updateButtons);
    updateButtons();
}

void WebhooksPanel::updateButtons() {
    const bool selected = selectedId() > 0;
    const bool wanted = selected && !m_busy;
    if (m_gate) {
        m_gate->setEnabled(m_replay, wanted);
        m_gate->setEnabled(m_replayEndpoint, wanted);
    } else {
        m_replay->setEnabled(wanted);
        m_replayEndpoint->setEnabled(wanted);
    }
    m_older->setEnabled(m_nextBefore > 0);
}

qint64 WebhooksPanel::selectedId() const {
    const QModelIndexList rows = m_lettersView->selectionModel()->selectedRows(Id);
    return rows.isEmpty() ? 0 : rows.first().data(Qt::UserRole).toLongLong();
}

QString WebhooksPanel::selectedEndpoint() const {
    const QModelIndexList rows = m_lettersView->selectionModel()->selectedRows(Endpoint);
    return rows.isEmpty() ? QString() : rows.first().data().toString();
}

void WebhooksPanel::refresh() {
    ++m_generation;
    m_letters->removeRows(0, m_letters->rowCount());
    m_nextBefore = 0;
    updateButtons();
    if (!m_client || m_client->state() != AdminClient::State::Connected) {
        m_status->setText(tr("Not connected."));
        return;
    }
    const quint64 generation = m_generation;
    m_client->request(
        Op::WebhooksList, {}, [self = QPointer(this), generation](const AdminClient::Reply &r) {
            if (!self || self->m_generation != generation)
                return;
            if (!r.ok) {
                self->m_status->setText(formatFailure(r.failure));
                return;
            }
            QStandardItemModel *m = self->m_endpoints;
            m->removeRows(0, m->rowCount());
            for (const QJsonValue &v : r.result.value(QStringLiteral("endpoints")).toArray()) {
                const QJsonObject e = v.toObject();
                QStringList events;
                for (const QJsonValue &ev : e.value(QStringLiteral("events")).toArray())
                    events << ev.toString();
                QList<QStandardItem *> row{
                    item(e.value(QStringLiteral("id")).toString()),
                    item(e.value(QStringLiteral("url")).toString()),
                    item(events.join(QStringLiteral(", "))),
                    item(e.value(QStringLiteral("configured")).toBool()
                             ? tr("yes")
                             : tr("no (not in the file)")),
                    number(e.value(QStringLiteral("pending"))),
                    number(e.value(QStringLiteral("delivered"))),
                    number(e.value(QStringLiteral("dead"))),
                    item(formatTime(e.value(QStringLiteral("last_delivered_at"))))};
                if (e.value(QStringLiteral("dead")).toInteger() > 0)
                    row[6]->setForeground(QColor(0xb0, 0x00, 0x20));
                m->appendRow(row);
            }
        });
    loadLetters(0);
}

void WebhooksPanel::loadOlder() {
    if (m_nextBefore > 0)
        loadLetters(m_nextBefore);
}

void WebhooksPanel::loadLetters(qint64 beforeId) {
    if (!m_client || m_client->state() != AdminClient::State::Connected)
        return;
    QJsonObject args{{QStringLiteral("limit"), kPage}};
    if (beforeId)
        args.insert(QStringLiteral("before_id"), beforeId);
    m_status->setText(tr("Loading…"));
    const quint64 generation = m_generation;
    m_client->request(
        Op::WebhooksDeadLetters, args,
        [self = QPointer(this), generation](const AdminClient::Reply &r) {
            if (!self || self->m_generation != generation)
                return;
            if (!r.ok) {
                self->m_status->setText(formatFailure(r.failure));
                return;
            }
            for (const QJsonValue &v : r.result.value(QStringLiteral("dead_letters")).toArray()) {
                const QJsonObject d = v.toObject();
                auto *id = number(d.value(QStringLiteral("id")));
                id->setData(d.value(QStringLiteral("id")).toInteger(), Qt::UserRole);
                auto *error = item(formatCell(d.value(QStringLiteral("last_error"))));
                error->setForeground(QColor(0xb0, 0x00, 0x20));
                error->setToolTip(d.value(QStringLiteral("last_error")).toString());
                self->m_letters->appendRow({id,
                                            item(d.value(QStringLiteral("endpoint_id")).toString()),
                                            item(d.value(QStringLiteral("event_id")).toString()),
                                            item(d.value(QStringLiteral("event_type")).toString()),
                                            number(d.value(QStringLiteral("order_id"))),
                                            number(d.value(QStringLiteral("attempts"))), error,
                                            item(formatTime(d.value(QStringLiteral("dead_at")))),
                                            number(d.value(QStringLiteral("replays")))});
            }
            const QJsonValue next = r.result.value(QStringLiteral("next_before_id"));
            self->m_nextBefore = next.isNull() ? 0 : next.toInteger();
            const int rows = self->m_letters->rowCount();
            self->m_status->setText(
                rows == 0 ? tr("No dead letters.")
                          : tr("%n dead letter(s)", nullptr, rows)
                                + (self->m_nextBefore ? tr(" (more older)") : QString()));
            self->updateButtons();
        });
}

void WebhooksPanel::replaySelected() {
    const qint64 id = selectedId();
    if (!id)
        return;
    replay({{QStringLiteral("delivery_id"), id}},
           tr("dead letter %1 (%2)").arg(id).arg(selectedEndpoint()));
}

void WebhooksPanel::replayEndpoint() {
    const QString endpoint = selectedEndpoint();
    if (endpoint.isEmpty())
        return;
    replay({{QStringLiteral("endpoint_id"), endpoint}},
           tr("every dead letter of endpoint %1").arg(endpoint));
}

void WebhooksPanel::replay(const QJsonObject &args, const QString &what) {
    confirmThen(
        this, tr("Replay webhooks"),
        tr("Send %1 again? The merchant may receive an event it already has; it "
           "deduplicates by Flashsale-Event-Id.")
            .arg(what),
        [self = QPointer(this), args] {
            if (!self || !self->m_client)
                return;
            self->m_busy = true;
            self->updateButtons();
            self->m_client->request(Op::WebhooksReplay, args, [self](const AdminClient::Reply &r) {
                if (!self)
                    return;
                self->m_busy = false;
                if (!r.ok) {
                    showOutcome(self, tr("Replay webhooks"), tr("Not replayed."), &r.failure);
                    self->updateButtons();
                    return;
                }
                const int n = int(r.result.value(QStringLiteral("replayed")).toInteger());
                self->m_status->setText(tr("%n delivery(ies) pending again.", nullptr, n));
                Q_EMIT self->replayed(n);
                self->refresh();
            });
        });
}

} // namespace flashsale::console
