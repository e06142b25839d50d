#include "auditpanel.h"

#include "auditmodel.h"
#include "consoleformat.h"
#include "protocol/adminclient.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QJsonArray>
#include <QLabel>
#include <QPushButton>
#include <QTableView>
#include <QVBoxLayout>

namespace flashsale::console {

using admin::AdminClient;
using admin::Op;

namespace {
constexpr int kPage = 100;
}

AuditPanel::AuditPanel(AdminClient *client, QWidget *parent)
    : QWidget(parent)
    , m_client(client) {
    setObjectName(QStringLiteral("auditPanel"));
    m_model = new AuditModel(this);
    m_filter = new QComboBox;
    m_filter->setObjectName(QStringLiteral("auditFilter"));
    m_filter->addItem(tr("Selected sale"));
    m_filter->addItem(tr("All sales"));
    m_filter->setToolTip(tr("Show the selected sale's entries or everyone's"));
    m_older = new QPushButton(tr("Load &older"));
    m_older->setObjectName(QStringLiteral("loadOlder"));
    m_older->setToolTip(tr("Fetch the next %1 older entries").arg(kPage));
    auto *reload = new QPushButton(tr("Reload"));
    m_status = new QLabel;
    m_status->setObjectName(QStringLiteral("auditStatus"));
    auto *bar = new QHBoxLayout;
    bar->addWidget(new QLabel(tr("Show:")));
    bar->addWidget(m_filter);
    bar->addWidget(reload);
    bar->addWidget(m_older);
    bar->addWidget(m_status, 1);

    m_view = new QTableView;
    m_view->setObjectName(QStringLiteral("auditView"));
    m_view->setModel(m_model);
    m_view->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_view->verticalHeader()->hide();
    m_view->verticalHeader()->setDefaultSectionSize(fontMetrics().height() + 6);
    m_view->horizontalHeader()->setSectionResizeMode(QHeaderView::Interactive);
    m_view->horizontalHeader()->setStretchLastSection(true);
    m_view->setWordWrap(false);
    m_view->setColumnWidth(AuditModel::Id, 50);
    m_view->setColumnWidth(AuditModel::At, 140);
    m_view->setColumnWidth(AuditModel::Actor, 190);
    m_view->setColumnWidth(AuditModel::Action, 120);
    m_view->setColumnWidth(AuditModel::Sale, 45);
    m_view->setColumnWidth(AuditModel::Change, 420);

    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addLayout(bar);
    layout->addWidget(m_view, 1);

    connect(m_filter, &QComboBox::currentIndexChanged, this, &AuditPanel::refresh);
    connect(reload, &QPushButton::clicked, this, &AuditPanel::refresh);
    connect(m_older, &QPushButton::clicked, this, &AuditPanel::loadOlder);
}

bool AuditPanel::onlySelectedSale() const {
    return m_filter->currentIndex() == 0;
}

void AuditPanel::setOnlySelectedSale(bool only) {
    m_filter->setCurrentIndex(only ? 0 : 1);
}

qint64 AuditPanel::filterSale() const {
    return onlySelectedSale() ? m_saleId : 0;
}

void AuditPanel::setSaleId(qint64 saleId) {
    if (saleId == m_saleId)
        return;
    m_saleId = saleId;
    if (onlySelectedSale())
        refresh();
}

void AuditPanel::refresh() {
    ++m_generation;
    m_model->clear();
    if (onlySelectedSale() && !m_saleId) {
        m_status->setText(tr("Select a sale, or show all sales."));
        return;
    }
    load(0);
}

void AuditPanel::loadOlder() {
    load(m_model->oldestId());
}

void AuditPanel::load(qint64 beforeId) {
    if (!m_client || m_client->state() != AdminClient::State::Connected) {
        m_status->setText(tr("Not connected."));
        return;
    }
    QJsonObject args{{QStringLiteral("limit"), kPage}};
    if (filterSale())
        args.insert(QStringLiteral("sale_id"), filterSale());
    if (beforeId)
        args.insert(QStringLiteral("before_id"), beforeId);
    m_status->setText(tr("Loading…"));
    m_older->setEnabled(false);
    const quint64 generation = m_generation;
    m_client->request(
        Op::AuditList, args, [self = QPointer(this), generation](const AdminClient::Reply &r) {
            if (!self || self->m_generation != generation)
                return;
            self->m_older->setEnabled(true);
            if (!r.ok) {
                self->m_status->setText(formatFailure(r.failure));
                return;
            }
            const QJsonArray entries = r.result.value(QStringLiteral("entries")).toArray();
            self->m_model->appendOlder(entries);
            self->m_older->setEnabled(entries.size() >= kPage);
            self->m_status->setText(tr("%n entries", nullptr, self->m_model->rowCount())
                                    + (entries.size() < kPage ? tr(" (all)") : QString()));
        });
}

void AuditPanel::onAuditEvent(const QJsonObject &entry) {
    const qint64 sale = filterSale();
    if (sale && entry.value(QStringLiteral("sale_id")).toInteger() != sale)
        return;
    if (onlySelectedSale() && !m_saleId)
        return;
    m_model->prepend(entry);
    m_status->setText(tr("%n entries", nullptr, m_model->rowCount()));
}

} // namespace flashsale::console
