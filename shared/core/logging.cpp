#include "logging.h"

#include <QDateTime>
#include <QJsonDocument>
#include <QJsonObject>

#include <cstdio>
#include <mutex>

namespace flashsale {

Q_LOGGING_CATEGORY(lcApp, "flashsale.app", QtInfoMsg)
Q_LOGGING_CATEGORY(lcHttp, "flashsale.http", QtInfoMsg)
Q_LOGGING_CATEGORY(lcRedis, "flashsale.redis", QtInfoMsg)
Q_LOGGING_CATEGORY(lcPg, "flashsale.pg", QtInfoMsg)
Q_LOGGING_CATEGORY(lcBooking, "flashsale.booking", QtInfoMsg)

namespace {

bool g_json = false;
std::mutex g_writeLock;

const char *levelName(QtMsgType type) {
    switch (type) {
    case QtDebugMsg:
        return "debug";
    case QtInfoMsg:
        return "info";
    case QtWarningMsg:
        return "warning";
    case QtCriticalMsg:
        return "critical";
    case QtFatalMsg:
        return "fatal";
    }
    return "info";
}

void handler(QtMsgType type, const QMessageLogContext &context, const QString &msg) {
    const QString ts = QDateTime::currentDateTimeUtc().toString(Qt::ISODateWithMs);
    const char *category = context.category ? context.category : "default";
    QByteArray line;
    if (g_json) {
        QJsonObject o{{"ts", ts},
                      {"level", QLatin1String(levelName(type))},
                      {"category", QLatin1String(category)},
                      {"msg", msg}};
        line = QJsonDocument(o).toJson(QJsonDocument::Compact);
    } else {
        line = ts.toUtf8() + ' ' + levelName(type) + ' ' + category + ": " + msg.toUtf8();
    }
    line += '\n';
    std::lock_guard lock(g_writeLock);
    std::fwrite(line.constData(), 1, size_t(line.size()), stderr);
    std::fflush(stderr);
}

} // namespace

void installLogHandler(bool json) {
    g_json = json;
    qInstallMessageHandler(handler);
}

} // namespace flashsale
