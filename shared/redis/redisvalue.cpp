#include "redisvalue.h"

#include <hiredis/hiredis.h>

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

RedisValue RedisValue::fromHiredis(const redisReply *r) {
    RedisValue v;
    switch (r->type) {
    case REDIS_REPLY_STRING:
        v.type = RedisValue::Type::String;
        v.string = QByteArray(r->str, qsizetype(r->len));
        break;
    case REDIS_REPLY_STATUS:
        v.type = RedisValue::Type::Status;
        v.string = QByteArray(r->str, qsizetype(r->len));
        break;
    case REDIS_REPLY_ERROR:
        v.type = RedisValue::Type::Error;
        v.string = QByteArray(r->str, qsizetype(r->len));
        break;
    case REDIS_REPLY_INTEGER:
        v.type = RedisValue::Type::Integer;
        v.integer = r->integer;
        break;
    case REDIS_REPLY_ARRAY:
        v.type = RedisValue::Type::Array;
        v.elements.reserve(qsizetype(r->elements));
        for (size_t i = 0; i < r->elements; ++i)
            v.elements.append(fromHiredis(r->element[i]));
        break;
    default:
        v.type = RedisValue::Type::Nil;
        break;
    }
    return v;
}

} // namespace flashsale
