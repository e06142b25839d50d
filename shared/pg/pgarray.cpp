#include "pgarray.h"

namespace flashsale {

QByteArray pgArray(const QList<QByteArray> &values) {
    QByteArray out;
    out.reserve(values.size() * 12 + 2);
    out += '{';
    for (qsizetype i = 0; i < values.size(); ++i) {
        if (i)
            out += ',';
        const QByteArray &v = values[i];
        if (v.isNull()) {
            out += "NULL";
            continue;
        }
        out += '"';
        for (char c : v) {
            if (c == '"' || c == '\\')
                out += '\\';
            out += c;
        }
        out += '"';
    }
    out += '}';
    return out;
}

} // namespace flashsale
