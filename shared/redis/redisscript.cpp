#include "redisscript.h"

#include <QCryptographicHash>
#include <QFile>

namespace flashsale {

RedisScript RedisScript::load(const QString &name) {
    QFile file(QStringLiteral(":/lua/%1.lua").arg(name));
    if (!file.open(QIODevice::ReadOnly))
        qFatal("embedded script :/lua/%s.lua is missing", qPrintable(name));
    RedisScript s;
    s.name = name;
    s.body = file.readAll();
    s.sha1 = QCryptographicHash::hash(s.body, QCryptographicHash::Sha1).toHex();
    return s;
}

} // namespace flashsale
