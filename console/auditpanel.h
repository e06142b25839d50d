#pragma once

#include <QJsonObject>
#include <QPointer>
#include <QWidget>

class QComboBox;
class QLabel;
class QPushButton;
class QTableView;

namespace flashsale::admin {
class AdminClient;
}

namespace flashsale::console {

class AuditModel;

// The audit log: the selected sale's entries or everyone's, newest first, with "Load older"
// paging (before_id) and live "audit" events on top.
class AuditPanel final : public QWidget {
    Q_OBJECT
public:
    explicit AuditPanel(admin::AdminClient *client, QWidget *parent = nullptr);

    void setSaleId(qint64 saleId);
    bool onlySelectedSale() const;
    void setOnlySelectedSale(bool only);
    void refresh(); // the newest page again
    void loadOlder();
    void onAuditEvent(const QJsonObject &entry);

    AuditModel *model() const { return m_model; }

private:
    void load(qint64 beforeId);
    qint64 filterSale() const;

    QPointer<admin::AdminClient> m_client;
    qint64 m_saleId = 0;
    quint64 m_generation = 0; // drops answers to a superseded filter
    AuditModel *m_model = nullptr;
    QComboBox *m_filter = nullptr;
    QPushButton *m_older = nullptr;
    QLabel *m_status = nullptr;
    QTableView *m_view = nullptr;
};

} // namespace flashsale::console
