#pragma once

#include <QAbstractTableModel>
#include <QJsonArray>
#include <QJsonObject>
#include <QList>

namespace flashsale::console {

// Audit log entries, newest first: id, time, actor, action, sale, before → after, detail.
// Filled by audit.list pages (older entries appended) and live "audit" events (prepended);
// an entry already present is not added twice.
class AuditModel final : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { Id, At, Actor, Action, Sale, Change, Detail, ColumnCount };

    explicit AuditModel(QObject *parent = nullptr);

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

    void clear();
    void appendOlder(const QJsonArray &entries);
    void prepend(const QJsonObject &entry);
    qint64 oldestId() const; // 0 when empty
    QJsonObject entry(int row) const { return m_entries.value(row); }

private:
    bool contains(qint64 id) const;
    QList<QJsonObject> m_entries;
};

} // namespace flashsale::console
