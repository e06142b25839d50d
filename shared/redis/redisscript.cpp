#include "redisscript.h"

#include <QCryptographicHash>
#include <QFile>

namespace flashsale {

namespace {

QByteArray readResource(const QString &path) {
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        qFatal("embedded script %s is missing", qPrintable(path));
    return file.readAll();
}

} // namespace

RedisScript RedisScript::load(const QString &name) {
    static const QByteArray kInclude = QByteArrayLiteral("-- @include ");
    RedisScript s;
    s.name = name;
    const QByteArray source = readResource(QStringLiteral(":/lua/%1.lua").arg(name));
    QByteArrayList lines = source.split('\n');
    for (QByteArray &line : lines) {
        if (line.startsWith(kInclude)) {
            const QByteArray piece = line.mid(kInclude.size()).trimmed();
            line = readResource(QStringLiteral(":/lua/lib/%1.lua").arg(QLatin1String(piece)));
            if (line.endsWith('\n'))
                line.chop(1);
        }
    }
    s.body = lines.join('\n');
    s.sha1 = QCryptographicHash::hash(s.body, QCryptographicHash::Sha1).toHex();
    return s;
}

} // namespace flashsale
