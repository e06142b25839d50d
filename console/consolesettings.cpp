#include "consolesettings.h"

#include "protocol/adminprotocol.h"

#include <QSettings>

namespace flashsale::console {

ConsoleSettings ConsoleSettings::load(const QProcessEnvironment &env) {
    QSettings s;
    ConsoleSettings c;
    c.url = s.value(QStringLiteral("connection/url")).toString();
    c.operatorName = s.value(QStringLiteral("connection/operator")).toString();
    c.bootstrap = s.value(QStringLiteral("connection/bootstrap"), false).toBool();
    c.caFile = s.value(QStringLiteral("connection/ca_file")).toString();
    if (c.url.isEmpty())
        c.url = env.value(QStringLiteral("FLASHSALE_ADMIN_URL"));
    if (c.url.isEmpty())
        c.url = env.value(QStringLiteral("FLASHSALE_API_URL"));
    if (c.url.isEmpty())
        c.url = QString::fromLatin1(kDefaultUrl);
    if (c.caFile.isEmpty())
        c.caFile = env.value(QStringLiteral("FLASHSALE_CA_FILE"));
    if (c.operatorName.isEmpty())
        c.operatorName = env.value(QStringLiteral("FLASHSALE_OPERATOR"));

    Thresholds &t = c.thresholds;
    s.beginGroup(QStringLiteral("thresholds"));
    t.streamLag = s.value(QStringLiteral("stream_lag"), t.streamLag).toLongLong();
    t.outboxRows = s.value(QStringLiteral("outbox_rows"), t.outboxRows).toLongLong();
    t.outboxAgeSeconds = s.value(QStringLiteral("outbox_age_s"), t.outboxAgeSeconds).toDouble();
    t.consumerLag = s.value(QStringLiteral("consumer_lag"), t.consumerLag).toLongLong();
    t.p99Ms = s.value(QStringLiteral("p99_ms"), t.p99Ms).toDouble();
    t.loopLagMs = s.value(QStringLiteral("loop_lag_ms"), t.loopLagMs).toDouble();
    t.clearFraction =
        qBound(0.1, s.value(QStringLiteral("clear_fraction"), t.clearFraction).toDouble(), 1.0);
    t.holdSeconds = qBound(0.0, s.value(QStringLiteral("hold_s"), t.holdSeconds).toDouble(), 600.0);
    t.processArchiveSeconds = qBound(
        5.0, s.value(QStringLiteral("process_archive_s"), t.processArchiveSeconds).toDouble(),
        86400.0);
    t.clearedKeepSeconds = qBound(
        0.0, s.value(QStringLiteral("cleared_keep_s"), t.clearedKeepSeconds).toDouble(), 86400.0);
    s.endGroup();
    c.statsIntervalMs =
        qBound(250, s.value(QStringLiteral("stats/interval_ms"), c.statsIntervalMs).toInt(), 5000);
    return c;
}

void ConsoleSettings::save() const {
    QSettings s;
    s.setValue(QStringLiteral("connection/url"), url);
    s.setValue(QStringLiteral("connection/operator"), operatorName);
    s.setValue(QStringLiteral("connection/bootstrap"), bootstrap);
    s.setValue(QStringLiteral("connection/ca_file"), caFile);
    s.beginGroup(QStringLiteral("thresholds"));
    s.setValue(QStringLiteral("stream_lag"), thresholds.streamLag);
    s.setValue(QStringLiteral("outbox_rows"), thresholds.outboxRows);
    s.setValue(QStringLiteral("outbox_age_s"), thresholds.outboxAgeSeconds);
    s.setValue(QStringLiteral("consumer_lag"), thresholds.consumerLag);
    s.setValue(QStringLiteral("p99_ms"), thresholds.p99Ms);
    s.setValue(QStringLiteral("loop_lag_ms"), thresholds.loopLagMs);
    s.setValue(QStringLiteral("clear_fraction"), thresholds.clearFraction);
    s.setValue(QStringLiteral("hold_s"), thresholds.holdSeconds);
    s.setValue(QStringLiteral("process_archive_s"), thresholds.processArchiveSeconds);
    s.setValue(QStringLiteral("cleared_keep_s"), thresholds.clearedKeepSeconds);
    s.endGroup();
    s.setValue(QStringLiteral("stats/interval_ms"), statsIntervalMs);
}

QString ConsoleSettings::takeLegacyToken() {
    QSettings s;
    const QString token = s.value(QStringLiteral("connection/token")).toString();
    if (s.contains(QStringLiteral("connection/token"))
        || s.contains(QStringLiteral("connection/actor"))) {
        s.remove(QStringLiteral("connection/token"));
        s.remove(QStringLiteral("connection/actor"));
        s.sync(); // off the disk now, not at exit
    }
    return token;
}

std::expected<QUrl, QString> ConsoleSettings::resolveAdminUrl(const QString &text) {
    return admin::resolveAdminUrl(text);
}

} // namespace flashsale::console
