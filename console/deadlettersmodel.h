#pragma once

#include <QAbstractTableModel>
#include <QHash>
#include <QJsonArray>
#include <QJsonObject>
#include <QList>
#include <QString>

namespace flashsale::console {

// The order stream's dead letters (orders.deadletters): entries of a sale's stream the worker
// could not write to PostgreSQL, so their buyers were answered 202 and have no order. One row per
// entry, in the server's order. Pure model: no network; GUI thread.
class DeadLettersModel final : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { Sale, Entry, User, Quantity, Reason, Age, Resolution, ColumnCount };

    struct Letter {
        qint64 saleId = 0;
        QString entryId; // the stream id, "1700000000000-0"
        QString userId;
        qint64 quantity = 0;
        QString reason;
        QString at; // ISO-8601, when it was dead-lettered
        qint64 ageS = 0;
        QJsonObject resolution; // empty while open: {action, operator, at, outcome}

        bool resolved() const { return !resolution.isEmpty(); }
        static Letter fromJson(const QJsonObject &o);
    };

    explicit DeadLettersModel(QObject *parent = nullptr);

    // Replaces the rows with the reply's "deadletters".
    void setLetters(const QJsonArray &letters);
    // Sale names for the Sale column ("12 · Summer drop"); ids alone for unknown sales.
    void setSaleNames(const QHash<qint64, QString> &names);

    const Letter &letter(int row) const { return m_letters.at(row); }
    int rowOf(qint64 saleId, const QString &entryId) const; // -1 when absent
    int openCount() const;

    // "45 s", "12 min", "3 h 05 min", "2 d 4 h".
    static QString formatAge(qint64 seconds);
    // "open", or "cancelled by ops-merch at 2026-12-04 17:02:11: buyer notified".
    static QString formatResolution(const QJsonObject &resolution);

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation,
                        int role = Qt::DisplayRole) const override;

private:
    QString saleText(qint64 saleId) const;

    QList<Letter> m_letters;
    QHash<qint64, QString> m_saleNames;
};

} // namespace flashsale::console
