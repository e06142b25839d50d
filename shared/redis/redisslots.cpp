#include "redisslots.h"

#include <array>

namespace flashsale {

namespace {

constexpr std::array<quint16, 256> makeCrc16Table() {
    std::array<quint16, 256> table{};
    for (int i = 0; i < 256; ++i) {
        quint16 crc = quint16(i << 8);
        for (int bit = 0; bit < 8; ++bit)
            crc = (crc & 0x8000) ? quint16((crc << 1) ^ 0x1021) : quint16(crc << 1);
        table[size_t(i)] = crc;
    }
    return table;
}

constexpr std::array<quint16, 256> kCrc16Table = makeCrc16Table();

bool is(const QByteArray &word, const char *name) {
    return word.compare(name, Qt::CaseInsensitive) == 0;
}

} // namespace

quint16 redisCrc16(QByteArrayView data) {
    quint16 crc = 0;
    for (const char c : data)
        crc = quint16((crc << 8) ^ kCrc16Table[((crc >> 8) ^ quint8(c)) & 0xff]);
    return crc;
}

QByteArrayView redisHashTag(QByteArrayView key) {
    const qsizetype open = key.indexOf('{');
    if (open < 0)
        return key;
    const qsizetype close = key.indexOf('}', open + 1);
    if (close < 0 || close == open + 1)
        return key;
    return key.sliced(open + 1, close - open - 1);
}

int redisKeySlot(QByteArrayView key) {
    return redisCrc16(redisHashTag(key)) & (kRedisSlotCount - 1);
}

qsizetype redisFirstKeyIndex(const QList<QByteArray> &argv) {
    if (argv.size() < 2)
        return -1;
    const QByteArray &name = argv[0];
    if (is(name, "EVALSHA") || is(name, "EVAL") || is(name, "EVALSHA_RO") || is(name, "EVAL_RO")
        || is(name, "FCALL") || is(name, "FCALL_RO")) {
        return argv.size() > 3 && argv[2].toLongLong() > 0 ? 3 : -1;
    }
    if (is(name, "XREAD") || is(name, "XREADGROUP")) {
        for (qsizetype i = 1; i + 1 < argv.size(); ++i)
            if (is(argv[i], "STREAMS"))
                return i + 1;
        return -1;
    }
    // A subcommand, then the key: OBJECT ENCODING k, MEMORY USAGE k, XINFO GROUPS k,
    // XGROUP CREATE k group id.
    if (is(name, "OBJECT") || is(name, "MEMORY") || is(name, "XINFO") || is(name, "XGROUP"))
        return argv.size() > 2 ? 2 : -1;
    for (const char *keyless :
         {"PING",      "INFO",    "SCRIPT",    "CLUSTER",  "FUNCTION", "CONFIG", "CLIENT",
          "COMMAND",   "TIME",    "DBSIZE",    "FLUSHALL", "FLUSHDB",  "WAIT",   "ASKING",
          "READONLY",  "AUTH",    "SELECT",    "ECHO",     "HELLO",    "SCAN",   "KEYS",
          "RANDOMKEY", "PUBLISH", "SUBSCRIBE", "SLOWLOG",  "LATENCY",  "MULTI",  "EXEC",
          "DISCARD",   "ACL",     "LASTSAVE",  "ROLE",     "DEBUG"}) {
        if (is(name, keyless))
            return -1;
    }
    return 1;
}

} // namespace flashsale
