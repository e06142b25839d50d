#include "ledger.h"

#include <QJsonArray>
#include <QJsonDocument>

namespace flashsale::bench {

bool LedgerWriter::open(const QString &path, QString *error) {
    m_file.setFileName(path);
    if (m_file.open(QIODevice::WriteOnly | QIODevice::Truncate))
        return true;
    *error = QStringLiteral("cannot write %1: %2").arg(path, m_file.errorString());
    return false;
}

void LedgerWriter::write(const QJsonObject &line) {
    m_file.write(QJsonDocument(line).toJson(QJsonDocument::Compact));
    m_file.write("\n", 1);
}

void LedgerWriter::flush() {
    m_file.flush();
}

namespace {

LedgerBooking bookingFrom(const QJsonObject &o) {
    LedgerBooking b;
    b.user = o.value(QLatin1String("user")).toString();
    b.key = o.value(QLatin1String("key")).toString();
    b.reservationId = o.value(QLatin1String("reservation_id")).toString();
    b.itemId = o.value(QLatin1String("item_id")).toInteger();
    b.quantity = o.value(QLatin1String("quantity")).toInt(1);
    b.replayed = o.value(QLatin1String("replayed")).toBool();
    b.reason = o.value(QLatin1String("reason")).toString();
    return b;
}

} // namespace

std::optional<Ledger> readLedger(const QString &path, QString *error) {
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly)) {
        *error = QStringLiteral("cannot read %1: %2").arg(path, f.errorString());
        return std::nullopt;
    }
    Ledger ledger;
    qint64 lineNo = 0;
    while (!f.atEnd()) {
        const QByteArray line = f.readLine().trimmed();
        ++lineNo;
        if (line.isEmpty())
            continue;
        QJsonParseError pe;
        const QJsonDocument doc = QJsonDocument::fromJson(line, &pe);
        if (!doc.isObject()) {
            *error = QStringLiteral("%1:%2: not a JSON object (%3)")
                         .arg(path)
                         .arg(lineNo)
                         .arg(pe.errorString());
            return std::nullopt;
        }
        const QJsonObject o = doc.object();
        const QString type = o.value(QLatin1String("type")).toString();
        if (type == QLatin1String("run")) {
            ledger.saleId = o.value(QLatin1String("sale_id")).toInteger();
            ledger.flow = o.value(QLatin1String("flow")).toString();
            ledger.users = o.value(QLatin1String("users")).toInteger();
        } else if (type == QLatin1String("accepted")) {
            ledger.accepted.append(bookingFrom(o));
        } else if (type == QLatin1String("unknown")) {
            ledger.unknown.append(bookingFrom(o));
        } else if (type == QLatin1String("confirmed")) {
            ledger.confirmed.append({o.value(QLatin1String("user")).toString(),
                                     o.value(QLatin1String("reservation_id")).toString()});
        } else if (type == QLatin1String("end")) {
            ledger.ended = true;
            ledger.requests = o.value(QLatin1String("requests")).toInteger();
            const QJsonObject by = o.value(QLatin1String("by_status")).toObject();
            for (auto it = by.begin(); it != by.end(); ++it)
                ledger.byStatus.insert(it.key(), it.value().toInteger());
        } else {
            *error =
                QStringLiteral("%1:%2: unknown line type \"%3\"").arg(path).arg(lineNo).arg(type);
            return std::nullopt;
        }
    }
    return ledger;
}

} // namespace flashsale::bench
