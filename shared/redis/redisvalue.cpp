#include "redisvalue.h"

namespace flashsale {

const RedisValue &RedisValue::at(qsizetype i) const {
    static const RedisValue nil;
    if (type != Type::Array || i < 0 || i >= elements.size())
        return nil;
    return elements[i];
}

QByteArray RedisValue::bytes() const {
    if (type == Type::Integer)
        return QByteArray::number(integer);
    return string;
}

qint64 RedisValue::toInt(qint64 fallback) const {
    if (type == Type::Integer)
        return integer;
    if (type == Type::String || type == Type::Status) {
        bool ok = false;
        const qint64 v = string.toLongLong(&ok);
        return ok ? v : fallback;
    }
    return fallback;
}

} // namespace flashsale
