#include "notificationservice.h"

#include "metrics/metrics.h"
#include "notify/notificationtemplates.h"
#include "pg/pgconnection.h"

#include <QElapsedTimer>
#include <QRandomGenerator>
#include <QTimer>

namespace flashsale {

Q_LOGGING_CATEGORY(lcNotify, "flashsale.notify", QtInfoMsg)

namespace {

// Logs the first failure of a notification and then the 2nd, 4th, 8th...: a relay that is down
// for an hour with thousands of notifications waiting writes a few lines a minute, not a flood.
bool worthLogging(int attempt) {
    return (attempt & (attempt - 1)) == 0;
}

} // namespace

int RetryPolicy::delayMs(int attempt) const {
    const qint64 full = std::min<qint64>(qint64(initialMs) << std::min(attempt, 20), maxMs);
    return int(full / 2 + QRandomGenerator::global()->bounded(full / 2 + 1));
}

void LogSender::send(const Notification &n, std::function<void(const Result<void> &)> done) {
    qCInfo(lcNotify).noquote() << "to" << n.userId << ":" << n.subject;
    done(Result<void>{});
}

NotificationService::NotificationService(const QString &brokers, const QString &pgUrl,
                                         std::unique_ptr<NotificationSender> sender,
                                         QObject *parent)
    : QObject(parent)
    , m_brokers(brokers)
    , m_pg(std::make_unique<PgConnection>(pgUrl))
    , m_markPg(std::make_unique<PgConnection>(pgUrl))
    , m_sender(std::move(sender)) {}

NotificationService::~NotificationService() {
    delete m_consumer;
    if (m_waiting)
        m_waiting->add(-m_waitingHere); // their timers die with this object
}

Result<void> NotificationService::start() {
    m_waiting = &Metrics::instance().gauge(
        "flashsale_notifications_retrying",
        "Notifications waiting to be sent again after a transient failure (a relay down).");
    m_pg->setMetricsPool("notify");
    m_markPg->setMetricsPool("notify-mark");
    // What the marks' connection runs with, once, for whoever reads the log after a crash.
    connect(
        m_markPg.get(), &PgConnection::connected, this,
        [this] {
            m_markPg->query("SHOW synchronous_commit", {}, [](const Result<PgResult> &r) {
                if (r)
                    qCInfo(lcNotify).noquote() << "outcome marks commit with synchronous_commit ="
                                               << r->rows.value(0).value(0);
                else
                    qCWarning(lcNotify).noquote()
                        << "SHOW synchronous_commit:" << r.error().message;
            });
        },
        Qt::SingleShotConnection);
    m_pg->start();
    m_markPg->start();
    auto c = KafkaConsumer::create(
        m_brokers, QStringLiteral("notifications"),
        {QString::fromLatin1(topics::kOrderPaid), QString::fromLatin1(topics::kOrderCancelled)},
        [this](const KafkaMessage &m, Done done) { handle(m, std::move(done), 0); });
    if (!c)
        return std::unexpected(c.error());
    m_consumer = *c;
    return {};
}

void NotificationService::later(int attempt, std::function<void()> retry, bool sendRetry) {
    m_waiting->add(1);
    ++m_waitingHere;
    auto *timer = new QTimer(this);
    timer->setSingleShot(true);
    auto fire = [this, timer, retry = std::move(retry)] {
        m_waiting->add(-1);
        --m_waitingHere;
        m_sendRetries.remove(timer);
        timer->deleteLater();
        retry();
    };
    connect(timer, &QTimer::timeout, this, fire);
    if (sendRetry)
        m_sendRetries.insert(timer, fire);
    timer->start(m_retry.delayMs(attempt));
}

void NotificationService::wakeSendRetries() {
    if (m_sendRetries.isEmpty())
        return;
    const auto waiting = std::exchange(m_sendRetries, {});
    qCInfo(lcNotify).noquote() << "a send succeeded: retrying the" << waiting.size()
                               << "notifications waiting now";
    for (auto it = waiting.cbegin(); it != waiting.cend(); ++it) {
        it.key()->stop();
        it.value()();
    }
}

void NotificationService::handle(const KafkaMessage &message, Done done, int attempt) {
    const auto event = OrderEvent::parse(message.value);
    if (!event) {
        qCWarning(lcNotify).noquote() << "skipped" << message.topic << "message at offset"
                                      << message.offset << ":" << event.error().message;
        done();
        return;
    }
    // A second copy of an event still being handled waits for the first, which may be sending.
    if (m_inFlight.contains(event->eventId)) {
        later(attempt, [this, message, done, attempt] { handle(message, done, attempt + 1); });
        return;
    }
    m_inFlight.insert(event->eventId);
    lookUpNames(*event, [this, message, ev = *event, done,
                         attempt](const std::optional<CatalogueNames> &names) {
        if (!names) { // PostgreSQL failed: it is needed for the record anyway, so wait for it
            m_inFlight.remove(ev.eventId);
            later(attempt, [this, message, done, attempt] { handle(message, done, attempt + 1); });
            return;
        }
        record(notificationFor(message.topic, ev, *names), done, 0);
    });
}

void NotificationService::lookUpNames(
    const OrderEvent &event, std::function<void(const std::optional<CatalogueNames> &)> then) {
    if (const auto it = m_names.constFind(event.itemId); it != m_names.constEnd()) {
        then(CatalogueNames{it->value(0), it->value(1)});
        return;
    }
    // Names make the email readable; an item no longer in the catalogue is named by its id.
    m_pg->query("SELECT s.name, i.name FROM sale_items i JOIN sales s ON s.id = i.sale_id "
                "WHERE i.id = $1",
                {QByteArray::number(event.itemId)},
                [this, itemId = event.itemId, then](const Result<PgResult> &r) {
                    if (!r) {
                        then(std::nullopt);
                        return;
                    }
                    if (r->rows.isEmpty()) {
                        then(CatalogueNames{});
                        return;
                    }
                    const QStringList names{QString::fromUtf8(r->rows[0].value(0)),
                                            QString::fromUtf8(r->rows[0].value(1))};
                    if (m_names.size() >= 10000)
                        m_names.clear();
                    m_names.insert(itemId, names);
                    then(CatalogueNames{names[0], names[1]});
                });
}

void NotificationService::record(const Notification &n, Done done, int attempt) {
    // Record once; a redelivered event finds its row and only sends if that never ended.
    m_pg->query(
        "WITH ins AS (INSERT INTO notifications (event_id, order_id, user_id, kind, body) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_id) DO NOTHING RETURNING delivered_at) "
        "SELECT delivered_at IS NOT NULL FROM ins UNION ALL "
        "SELECT delivered_at IS NOT NULL OR failed_at IS NOT NULL FROM notifications "
        "WHERE event_id = $1 LIMIT 1",
        {n.eventId, QByteArray::number(n.orderId), n.userId, n.kind,
         (n.subject + QStringLiteral("\n\n") + n.body).toUtf8()},
        [this, n, done, attempt](const Result<PgResult> &r) {
            if (!r) {
                if (worthLogging(attempt))
                    qCWarning(lcNotify).noquote()
                        << "recording notification" << n.eventId << "failed:" << r.error().message;
                later(attempt, [this, n, done, attempt] { record(n, done, attempt + 1); });
                return;
            }
            if (r->rows.value(0).value(0) == "t") {
                finish(n, done); // delivered (or failed for good) before
                return;
            }
            send(n, done, 0);
        });
}

void NotificationService::send(const Notification &n, Done done, int attempt) {
    m_sendQueue.push_back([this, n, done, attempt] { sendNow(n, done, attempt); });
    pumpSends();
}

void NotificationService::pumpSends() {
    if (m_sending || m_sendQueue.empty())
        return;
    m_sending = true;
    auto next = std::move(m_sendQueue.front());
    m_sendQueue.pop_front();
    next();
}

void NotificationService::sendNow(const Notification &n, Done done, int attempt) {
    m_sender->send(n, [this, n, done, attempt](const Result<void> &s) {
        if (s) {
            wakeSendRetries();
            // From the relay's acceptance to the mark is when a crash would send this again. The
            // next email waits for the mark, so that a crash can find only this one unmarked.
            static Histogram &window = Metrics::instance().histogram(
                "flashsale_notifications_unrecorded_seconds",
                "From the sender's success to delivered_at committed: the window in which a "
                "crash sends a notification twice.");
            QElapsedTimer clock;
            clock.start();
            markOutcome(
                n, QString(),
                [this, done, clock] {
                    window.observe(double(clock.nsecsElapsed()) / 1e9);
                    m_sending = false;
                    pumpSends();
                    done();
                },
                0);
            return;
        }
        m_sending = false; // nothing went out: the next email need not wait for a mark
        pumpSends();
        if (s.error().code == ErrorCode::Invalid) {
            qCWarning(lcNotify).noquote() << "notification" << n.eventId << "for order" << n.orderId
                                          << "failed for good:" << s.error().message;
            markOutcome(n, s.error().message, done, 0);
            return;
        }
        if (worthLogging(attempt))
            qCWarning(lcNotify).noquote()
                << QStringLiteral("notification %1 for order %2 not sent (try %3), retrying: %4")
                       .arg(QString::fromUtf8(n.eventId))
                       .arg(n.orderId)
                       .arg(attempt + 1)
                       .arg(s.error().message);
        later(
            attempt, [this, n, done, attempt] { send(n, done, attempt + 1); }, true);
    });
}

void NotificationService::markOutcome(const Notification &n, const QString &failure, Done done,
                                      int attempt) {
    const bool delivered = failure.isEmpty();
    const QByteArray sql = delivered
                               ? "UPDATE notifications SET delivered_at = now() WHERE event_id = $1"
                               : "UPDATE notifications SET failed_at = now(), failure = $2 "
                                 "WHERE event_id = $1 AND delivered_at IS NULL";
    QList<QByteArray> params{n.eventId};
    if (!delivered)
        params << failure.toUtf8();
    m_markPg->query(
        sql, params, [this, n, failure, done, attempt, delivered](const Result<PgResult> &u) {
            if (!u) {
                if (worthLogging(attempt))
                    qCWarning(lcNotify).noquote()
                        << "marking notification" << n.eventId << "failed:" << u.error().message;
                later(attempt, [this, n, failure, done, attempt] {
                    markOutcome(n, failure, done, attempt + 1);
                });
                return;
            }
            static Counter &sent = Metrics::instance().counter(
                "flashsale_notifications_sent_total", "Notifications the sender delivered.");
            static Counter &failed = Metrics::instance().counter(
                "flashsale_notifications_failed_total",
                "Notifications the sender refused for good (recorded as failed, not retried).");
            (delivered ? sent : failed).inc();
            finish(n, done);
        });
}

void NotificationService::finish(const Notification &n, const Done &done) {
    m_inFlight.remove(n.eventId);
    done();
}

qint64 NotificationService::consumerLag() const {
    return m_consumer ? m_consumer->lag() : 0;
}

} // namespace flashsale
