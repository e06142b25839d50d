#include "texttable.h"

#include <QRegularExpression>

namespace flashsale::ctl {

namespace {

bool isNumber(const QString &cell) {
    static const QRegularExpression number(
        QStringLiteral("^[+-]?[0-9][0-9,]*(\\.[0-9]+)?(%| ms| s|/s)?$"));
    return number.match(cell).hasMatch();
}

// Empty and "-" cells fit either alignment.
bool isBlank(const QString &cell) {
    return cell.isEmpty() || cell == QLatin1String("-");
}

} // namespace

TextTable::TextTable(QStringList header)
    : m_header(std::move(header)) {}

void TextTable::addRow(const QStringList &cells) {
    m_rows.append(cells);
}

void TextTable::setMaxWidth(int column, int width) {
    while (m_maxWidths.size() <= column)
        m_maxWidths.append(-1);
    m_maxWidths[column] = width;
}

int TextTable::maxWidth(int column) const {
    if (column < m_maxWidths.size() && m_maxWidths[column] >= 0)
        return m_maxWidths[column];
    return m_defaultMax;
}

QString TextTable::fit(const QString &text, int width) {
    QString line = text;
    line.replace(QLatin1Char('\r'), QLatin1Char(' '))
        .replace(QLatin1Char('\n'), QLatin1Char(' '))
        .replace(QLatin1Char('\t'), QLatin1Char(' '));
    if (width <= 0 || line.size() <= width)
        return line;
    if (width == 1)
        return QStringLiteral("…");
    return line.left(width - 1) + QStringLiteral("…");
}

QString TextTable::render() const {
    qsizetype columns = m_header.size();
    for (const QStringList &row : m_rows)
        columns = qMax(columns, row.size());
    if (columns == 0)
        return {};

    QList<QStringList> cells;
    cells.reserve(m_rows.size() + 1);
    auto fitted = [&](const QStringList &row) {
        QStringList out;
        for (qsizetype c = 0; c < columns; ++c)
            out << fit(c < row.size() ? row[c] : QString(), maxWidth(int(c)));
        return out;
    };
    if (!m_header.isEmpty())
        cells.append(fitted(m_header));
    for (const QStringList &row : m_rows)
        cells.append(fitted(row));

    QList<qsizetype> widths(columns, 0);
    // Right-aligned: a column of numbers (at least one, and blanks).
    QList<bool> right(columns, !m_rows.isEmpty());
    QList<bool> anyNumber(columns, false);
    for (qsizetype r = 0; r < cells.size(); ++r) {
        const bool isHeader = !m_header.isEmpty() && r == 0;
        for (qsizetype c = 0; c < columns; ++c) {
            widths[c] = qMax(widths[c], cells[r][c].size());
            if (isHeader || isBlank(cells[r][c]))
                continue;
            if (isNumber(cells[r][c]))
                anyNumber[c] = true;
            else
                right[c] = false;
        }
    }

    for (qsizetype c = 0; c < columns; ++c)
        right[c] = right[c] && anyNumber[c];

    QString out;
    for (const QStringList &row : cells) {
        QString line;
        for (qsizetype c = 0; c < columns; ++c) {
            if (c > 0)
                line += QStringLiteral("  ");
            line += right[c] ? row[c].rightJustified(widths[c]) : row[c].leftJustified(widths[c]);
        }
        while (line.endsWith(QLatin1Char(' ')))
            line.chop(1);
        out += line + QLatin1Char('\n');
    }
    return out;
}

} // namespace flashsale::ctl
