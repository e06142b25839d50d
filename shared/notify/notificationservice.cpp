#include "notificationservice.h"

#include "metrics/metrics.h"
#include "pg/pgconnection.h"

#include <QJsonDocument>
#include <QJsonObject>
#include <QTimer>

namespace flashsale {

Q_LOGGING_CATEGORY(lcNotify, "flashsale.notify", QtInfoMsg)

void LogSender::send(const Notification &n, std::function<void(const Result<void> &)> done) {
    qCInfo(lcNotify).noquote() << "to" << n.userId << ":" << n.body;
    done(Result<void>{});
}

NotificationService::NotificationService(const QString &brokers, const QString &pgUrl,
                                         std::unique_ptr<NotificationSender> sender,
                                         QObject *parent)
    : QObject(parent)
    , m_brokers(brokers)
    , m_pg(std::make_unique<PgConnection>(pgUrl))
    , m_sender(std::move(sender)) {}

NotificationService::~NotificationService() {
    delete m_consumer;
}

Result<void> NotificationService::start() {
    m_pg->setMetricsPool("notify");
    m_pg->start();
    auto c = KafkaConsumer::create(
        m_brokers, QStringLiteral("notifications"),
        {QString::fromLatin1(topics::kOrderPaid), QString::fromLatin1(topics::kOrderCancelled)},
        [this](const KafkaMessage &m, std::function<void()> done) {
            handle(m, std::move(done), 0);
        });
    if (!c)
        return std::unexpected(c.error());
    m_consumer = *c;
    return {};
}

void NotificationService::handle(const KafkaMessage &message, std::function<void()> done,
                                 int attempt) {
    const QJsonObject e = QJsonDocument::fromJson(message.value).object();
    Notification n;
    n.eventId = e.value(QStringLiteral("event_id")).toString().toUtf8();
    n.orderId = e.value(QStringLiteral("order_id")).toInteger();
    n.userId = e.value(QStringLiteral("user_id")).toString().toUtf8();
    n.kind = message.topic;
    if (n.eventId.isEmpty() || n.orderId <= 0) {
        done();
        return;
    }
    const QString amount =
        QString::number(e.value(QStringLiteral("amount_cents")).toInteger() / 100.0, 'f', 2);
    n.body = message.topic == topics::kOrderPaid
                 ? QStringLiteral("Your order %1 is paid: %2 unit(s), %3.")
                       .arg(n.orderId)
                       .arg(e.value(QStringLiteral("quantity")).toInt())
                       .arg(amount)
                 : QStringLiteral("Your order %1 was cancelled (%2); you were not charged.")
                       .arg(n.orderId)
                       .arg(e.value(QStringLiteral("reason")).toString());
    auto again = [this, message, done, attempt] {
        QTimer::singleShot(std::min(100 << std::min(attempt, 7), 10000), this,
                           [this, message, done, attempt] { handle(message, done, attempt + 1); });
    };
    // Record once; a redelivered event finds its row and only delivers if that never happened.
    m_pg->query(
        "WITH ins AS (INSERT INTO notifications (event_id, order_id, user_id, kind, body) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_id) DO NOTHING RETURNING delivered_at) "
        "SELECT delivered_at IS NOT NULL FROM ins UNION ALL "
        "SELECT delivered_at IS NOT NULL OR failed_at IS NOT NULL FROM notifications "
        "WHERE event_id = $1 LIMIT 1",
        {n.eventId, QByteArray::number(n.orderId), n.userId, n.kind, n.body.toUtf8()},
        [this, n, done, again](const Result<PgResult> &r) {
            if (!r) {
                again();
                return;
            }
            if (r->rows.value(0).value(0) == "t") {
                done(); // delivered (or failed for good) before
                return;
            }
            m_sender->send(n, [this, n, done, again](const Result<void> &s) {
                if (!s && s.error().code == ErrorCode::Invalid) {
                    recordFailure(n, s.error().message, done, again);
                    return;
                }
                if (!s) {
                    again();
                    return;
                }
                m_pg->query("UPDATE notifications SET delivered_at = now() WHERE event_id = $1",
                            {n.eventId}, [done, again](const Result<PgResult> &u) {
                                if (!u)
                                    again();
                                else
                                    done();
                            });
                static Counter &sent = Metrics::instance().counter(
                    "flashsale_notifications_sent_total", "Notifications handed to the sender.");
                sent.inc();
            });
        });
}

void NotificationService::recordFailure(const Notification &n, const QString &failure,
                                        std::function<void()> done, std::function<void()> again) {
    qCWarning(lcNotify).noquote() << "notification" << n.eventId << "failed for good:" << failure;
    static Counter &failed = Metrics::instance().counter(
        "flashsale_notifications_failed_total",
        "Notifications the sender refused for good (recorded as failed, not retried).");
    failed.inc();
    m_pg->query("UPDATE notifications SET failed_at = now(), failure = $2 "
                "WHERE event_id = $1 AND delivered_at IS NULL",
                {n.eventId, failure.toUtf8()}, [done, again](const Result<PgResult> &u) {
                    if (!u)
                        again();
                    else
                        done();
                });
}

qint64 NotificationService::consumerLag() const {
    return m_consumer ? m_consumer->lag() : 0;
}

} // namespace flashsale
