#pragma once

#include <QByteArray>
#include <QList>

namespace flashsale {

// A PostgreSQL array literal in text form, {"a","b"}, for passing a whole column of a batch as
// one parameter ($1::text[], $2::bigint[], ...). Every element is quoted and escaped, so any
// text is safe; a null QByteArray becomes NULL.
QByteArray pgArray(const QList<QByteArray> &values);

} // namespace flashsale
