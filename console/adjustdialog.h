#pragma once

#include "protocol/adminprotocol.h"

#include <QDialog>
#include <QJsonArray>
#include <QJsonObject>

class QComboBox;
class QLabel;
class QPushButton;
class QSpinBox;

namespace flashsale::console {

// Adds or removes stock of one sale (sale.adjust). For a sale of several items the item is
// chosen from the list setItems() fills (from sale.get). Like SaleDialog it emits submitted()
// and stays open until answered(true); a failure is shown and the input kept.
class AdjustDialog final : public QDialog {
    Q_OBJECT
public:
    explicit AdjustDialog(const QJsonObject &sale, QWidget *parent = nullptr);

    qint64 saleId() const { return m_saleId; }
    void setItems(const QJsonArray &items);
    QJsonObject args() const;
    // Empty when the input can be sent; else why not.
    QString validate() const;
    void answered(bool ok, const admin::AdminFailure &failure = {});
    void notSent();

    void accept() override;

Q_SIGNALS:
    void submitted(const QJsonObject &args);

private:
    void setBusy(bool busy);

    qint64 m_saleId = 0;
    bool m_severalItems = false;
    QSpinBox *m_delta = nullptr;
    QComboBox *m_item = nullptr;
    QLabel *m_error = nullptr;
    QPushButton *m_apply = nullptr;
};

} // namespace flashsale::console
