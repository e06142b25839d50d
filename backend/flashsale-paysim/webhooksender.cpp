#include "webhooksender.h"

#include "core/logging.h"
#include "http/httpclient.h"
#include "webhook/signature.h"

#include <QDateTime>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QPointer>
#include <QTimer>

namespace flashsale::paysim {

Result<QList<QByteArray>> readWebhookSecrets(const QString &path) {
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        return fail(ErrorCode::Invalid,
                    QStringLiteral("cannot read '%1': %2").arg(path, f.errorString()));
    const QByteArray content = f.read(64 * 1024 + 1);
    if (content.size() > 64 * 1024)
        return fail(ErrorCode::Invalid, QStringLiteral("'%1' is over 64 KiB").arg(path));
    QList<QByteArray> secrets;
    for (const QByteArray &line : content.split('\n')) {
        const QByteArray s = line.trimmed();
        if (!s.isEmpty())
            secrets.append(s);
    }
    if (secrets.isEmpty())
        return fail(ErrorCode::Invalid, QStringLiteral("'%1' holds no secret").arg(path));
    return secrets;
}

WebhookSender::WebhookSender(WebhookSettings settings, QObject *parent)
    : QObject(parent)
    , m_settings(std::move(settings))
    , m_random(quint32(m_settings.seed)) {
    HttpClient::Options o;
    // HttpClient's timeout counts time queued behind this cap: at 64, a burst of 3,000 events
    // (the local stack, 2026-12-03) timed out 510 attempts that never got a connection.
    o.maxConnectionsPerHost = 256;
    o.maxConnections = 256;
    o.name = QStringLiteral("webhooks");
    m_http = std::make_unique<HttpClient>(o);
}

WebhookSender::~WebhookSender() = default;

void WebhookSender::setSettings(const WebhookSettings &settings) {
    m_settings = settings;
}

void WebhookSender::deliver(const QJsonObject &event) {
    if (m_settings.url.isEmpty())
        return;
    auto e = std::make_shared<Event>();
    e->id = event.value(QStringLiteral("id")).toString().toUtf8();
    e->body = QJsonDocument(event).toJson(QJsonDocument::Compact);
    m_events.append(e);
    const auto hold = [this] {
        return m_settings.reorderMs > 0 ? int(m_random.bounded(m_settings.reorderMs + 1)) : 0;
    };
    e->deliveries = 1;
    ++m_pending;
    schedule(e, 1, hold());
    if (m_settings.duplicatePercent > 0
        && m_random.bounded(10000) < int(m_settings.duplicatePercent * 100)) {
        ++e->deliveries;
        ++m_pending;
        ++m_duplicates;
        schedule(e, 1, hold());
    }
}

void WebhookSender::schedule(const std::shared_ptr<Event> &event, int n, int delayMs) {
    if (delayMs <= 0) {
        attempt(event, n);
        return;
    }
    QTimer::singleShot(delayMs, this, [this, event, n] { attempt(event, n); });
}

void WebhookSender::attempt(const std::shared_ptr<Event> &event, int n) {
    HttpRequest req;
    req.method = "POST";
    req.url = m_settings.url;
    req.timeout = std::chrono::milliseconds(m_settings.timeoutMs);
    req.body = event->body;
    const qint64 now = QDateTime::currentSecsSinceEpoch();
    req.headers = {{"Content-Type", "application/json"},
                   {kWebhookSignatureHeader, webhookSign(m_settings.secrets, now, event->body)}};
    ++event->attempts;
    ++m_attempts;
    QPointer<WebhookSender> self(this);
    m_http->send(std::move(req), [self, event, n](const Result<HttpResponse> &r) {
        if (!self)
            return;
        if (r && r->status >= 200 && r->status < 300) {
            ++event->delivered;
            ++self->m_delivered;
            --self->m_pending;
            event->release();
            return;
        }
        const QString why = r ? QStringLiteral("HTTP %1").arg(r->status) : r.error().message;
        if (n > self->m_settings.retries) {
            ++event->failed;
            ++self->m_failed;
            --self->m_pending;
            event->release();
            qCWarning(lcApp).noquote()
                << "webhook" << event->id << "not delivered after" << n << "attempts:" << why;
            return;
        }
        const qint64 backoff =
            qMin<qint64>(60000, qint64(self->m_settings.backoffMs) << qMin(n - 1, 20));
        qCInfo(lcApp).noquote() << "webhook" << event->id << "attempt" << n << "failed (" << why
                                << "), retry in" << backoff << "ms";
        self->schedule(event, n + 1, int(backoff));
    });
}

QJsonObject WebhookSender::stats() const {
    QJsonArray undelivered;
    for (const auto &e : m_events) {
        if (e->delivered == 0)
            undelivered.append(QString::fromUtf8(e->id));
    }
    return QJsonObject{{"url", QString::fromUtf8(m_settings.url)},
                       {"events", m_events.size()},
                       {"deliveries", m_events.size() + m_duplicates},
                       {"duplicates", m_duplicates},
                       {"attempts", m_attempts},
                       {"delivered", m_delivered},
                       {"failed", m_failed},
                       {"pending", m_pending},
                       {"undelivered_events", undelivered}};
}

} // namespace flashsale::paysim
