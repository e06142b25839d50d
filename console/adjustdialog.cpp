#include "adjustdialog.h"

#include "consoleformat.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QFormLayout>
#include <QLabel>
#include <QPushButton>
#include <QSpinBox>
#include <QVBoxLayout>

namespace flashsale::console {

using admin::AdminError;

AdjustDialog::AdjustDialog(const QJsonObject &sale, QWidget *parent)
    : QDialog(parent)
    , m_saleId(sale.value(QStringLiteral("id")).toInteger())
    , m_severalItems(sale.value(QStringLiteral("item_count")).toInteger(1) > 1) {
    setObjectName(QStringLiteral("adjustDialog"));
    setWindowTitle(tr("Adjust stock of sale %1").arg(m_saleId));
    auto *info = new QLabel(tr("<b>%1</b> — stock %2, remaining %3")
                                .arg(sale.value(QStringLiteral("name")).toString().toHtmlEscaped(),
                                     formatCell(sale.value(QStringLiteral("stock"))),
                                     formatCell(sale.value(QStringLiteral("remaining")))));
    m_delta = new QSpinBox;
    m_delta->setObjectName(QStringLiteral("delta"));
    m_delta->setRange(-1000000, 1000000);
    m_delta->setValue(0);
    m_delta->setToolTip(tr("Units to add (positive) or remove (negative). Units already held by "
                           "buyers are never taken back."));
    m_item = new QComboBox;
    m_item->setObjectName(QStringLiteral("item"));
    m_item->setToolTip(tr("The item whose stock changes"));
    m_item->addItem(m_severalItems ? tr("loading items…") : tr("the sale's only item"));
    m_item->setEnabled(false);
    m_error = new QLabel;
    m_error->setObjectName(QStringLiteral("error"));
    m_error->setStyleSheet(QStringLiteral("color: #b00020"));
    m_error->setWordWrap(true);
    m_error->hide();

    auto *form = new QFormLayout;
    form->addRow(info);
    form->addRow(tr("&Item:"), m_item);
    form->addRow(tr("&Change by:"), m_delta);
    auto *buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel);
    m_apply = buttons->button(QDialogButtonBox::Ok);
    m_apply->setText(tr("&Apply…"));
    connect(buttons, &QDialogButtonBox::accepted, this, &AdjustDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &AdjustDialog::reject);
    auto *layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addWidget(m_error);
    layout->addWidget(buttons);
}

void AdjustDialog::setItems(const QJsonArray &items) {
    if (!m_severalItems)
        return;
    const QVariant current = m_item->currentData();
    m_item->clear();
    for (const QJsonValue &v : items) {
        const QJsonObject i = v.toObject();
        m_item->addItem(tr("%1 — %2 (stock %3, remaining %4)")
                            .arg(formatCell(i.value(QStringLiteral("id"))),
                                 i.value(QStringLiteral("name")).toString(),
                                 formatCell(i.value(QStringLiteral("stock"))),
                                 formatCell(i.value(QStringLiteral("remaining")))),
                        i.value(QStringLiteral("id")).toInteger());
    }
    m_item->setEnabled(m_item->count() > 0);
    const int keep = m_item->findData(current);
    if (keep >= 0)
        m_item->setCurrentIndex(keep);
}

QJsonObject AdjustDialog::args() const {
    QJsonObject a{{QStringLiteral("sale_id"), m_saleId},
                  {QStringLiteral("delta"), m_delta->value()}};
    if (m_severalItems && m_item->currentData().isValid())
        a.insert(QStringLiteral("item_id"), m_item->currentData().toLongLong());
    return a;
}

QString AdjustDialog::validate() const {
    if (m_delta->value() == 0)
        return tr("Enter a change other than 0.");
    if (m_severalItems && !m_item->currentData().isValid())
        return tr("Choose the item (the sale has several).");
    return {};
}

void AdjustDialog::accept() {
    const QString problem = validate();
    m_error->setText(problem);
    m_error->setVisible(!problem.isEmpty());
    if (!problem.isEmpty())
        return;
    setBusy(true);
    Q_EMIT submitted(args());
}

void AdjustDialog::answered(bool ok, const admin::AdminFailure &failure) {
    setBusy(false);
    if (ok) {
        QDialog::accept();
        return;
    }
    m_error->setText(formatFailure(failure)
                     + (failure.code == AdminError::Disconnected
                            ? tr("\nYour input is kept; try again when the console is connected.")
                            : QString()));
    m_error->show();
}

void AdjustDialog::notSent() {
    setBusy(false);
}

void AdjustDialog::setBusy(bool busy) {
    m_apply->setEnabled(!busy);
    m_apply->setText(busy ? tr("Sending…") : tr("&Apply…"));
}

} // namespace flashsale::console
