#pragma once

#include <QList>
#include <QString>
#include <QStringList>

namespace flashsale::ctl {

// A plain-text table with aligned columns, for terminal output:
//
//   ID  NAME     STATE   REMAINING
//   12  Phones   active          3
//    9  Long n…  paused        100
//
// Columns of numbers (blank cells, empty or "-", allowed) are right-aligned, the rest left.
// A cell wider than its column's limit is cut and ends in "…"; line breaks and tabs inside a
// cell become spaces so that one row stays one line. Not thread-safe; a value type.
class TextTable {
public:
    explicit TextTable(QStringList header = {});

    void setHeader(const QStringList &header) { m_header = header; }
    void addRow(const QStringList &cells);
    // The widest a cell of `column` may be (default 40; 0 means no limit).
    void setMaxWidth(int column, int width);
    void setDefaultMaxWidth(int width) { m_defaultMax = width; }

    int rowCount() const { return int(m_rows.size()); }
    // The table, each line ending in '\n'; no trailing spaces. An empty string when there is
    // neither a header nor a row.
    QString render() const;

    // `text` on one line and at most `width` characters (the last one "…" when it was cut).
    static QString fit(const QString &text, int width);

private:
    int maxWidth(int column) const;

    QStringList m_header;
    QList<QStringList> m_rows;
    QList<int> m_maxWidths;
    int m_defaultMax = 40;
};

} // namespace flashsale::ctl
