#pragma once

#include <QByteArray>
#include <QByteArrayView>
#include <QList>

namespace flashsale {

// Redis Cluster's key-to-slot rules, as the cluster specification states them: pure functions,
// no I/O, callable from any thread.
//
//   slot = CRC16-XMODEM(hashed part of the key) mod 16384
//   hashed part: the bytes between the first '{' and the first '}' after it, when that is at
//   least one byte; otherwise the whole key.
//     "{sale:7}:stock"  -> "sale:7"       "foo{}{bar}" -> "foo{}{bar}" (empty first tag)
//     "foo{{bar}}zap"   -> "{bar"         "foo{bar}{zap}" -> "bar"
inline constexpr int kRedisSlotCount = 16384;

// CRC16 with the XMODEM parameters (polynomial 0x1021, initial value 0, no reflection).
// Returns 0x31C3 for "123456789".
quint16 redisCrc16(QByteArrayView data);

// The part of `key` that decides its slot (see above).
QByteArrayView redisHashTag(QByteArrayView key);

// The slot of `key`, 0..16383; the same answer as CLUSTER KEYSLOT.
int redisKeySlot(QByteArrayView key);

// The index in `argv` of the command's first key, or -1 when the command has none (PING, INFO,
// SCRIPT, CLUSTER, EVAL with 0 keys, ...). Knows the commands this code sends: the key is
// argv[1] for plain key commands, after numkeys for EVAL/EVALSHA/FCALL, after STREAMS for
// XREAD/XREADGROUP, argv[2] for OBJECT/MEMORY USAGE/XINFO/XGROUP. A command with several keys is
// routed by the first one: Redis Cluster refuses it with CROSSSLOT unless all share its slot.
qsizetype redisFirstKeyIndex(const QList<QByteArray> &argv);

} // namespace flashsale
