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

QList<std::pair<QByteArray, QByteArray>> RedisValue::pairs() const {
    QList<std::pair<QByteArray, QByteArray>> out;
    if (type != Type::Array)
        return out;
    out.reserve(elements.size() / 2);
    for (qsizetype i = 0; i + 1 < elements.size(); i += 2)
        out.append({elements[i].bytes(), elements[i + 1].bytes()});
    return out;
}

QHash<QByteArray, RedisValue> RedisValue::fields() const {
    QHash<QByteArray, RedisValue> out;
    if (type != Type::Array)
        return out;
    out.reserve(elements.size() / 2);
    for (qsizetype i = 0; i + 1 < elements.size(); i += 2)
        out.insert(elements[i].bytes(), elements[i + 1]);
    return out;
}

} // namespace flashsale
