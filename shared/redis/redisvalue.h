#pragma once

#include <QByteArray>
#include <QHash>
#include <QList>

struct redisReply;

namespace flashsale {

// A Redis reply copied out of hiredis, so no hiredis type leaks into the rest of the code.
struct RedisValue {
    enum class Type { Nil, Integer, String, Status, Error, Array };

    Type type = Type::Nil;
    qint64 integer = 0;
    QByteArray string; // String, Status and Error
    QList<RedisValue> elements;

    bool isNil() const { return type == Type::Nil; }
    bool isError() const { return type == Type::Error; }
    bool isArray() const { return type == Type::Array; }

    // Element i of an array reply, or a Nil value when out of range or not an array.
    const RedisValue &at(qsizetype i) const;
    // The reply as bytes: the string, or the integer in decimal.
    QByteArray bytes() const;
    // The reply as an integer: the integer, or a decimal string parsed; `fallback` otherwise.
    qint64 toInt(qint64 fallback = 0) const;

    // A flat name/value array (HGETALL, a stream entry's fields, an XINFO record) as pairs of
    // bytes, in reply order. An odd last element is dropped; not an array gives none.
    QList<std::pair<QByteArray, QByteArray>> pairs() const;
    // The same reply as a map from name to value (the last of a repeated name wins).
    QHash<QByteArray, RedisValue> fields() const;

    // A deep copy of a hiredis reply (RESP2 types; anything else is Nil). For RedisClient, and
    // for the tests' synchronous connection.
    static RedisValue fromHiredis(const redisReply *reply);
};

} // namespace flashsale
