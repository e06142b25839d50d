#include "smtpsender.h"

#include "http/curlglobal.h"
#include "metrics/metrics.h"

#include <QLocale>
#include <QLoggingCategory>
#include <QThread>

#include <curl/curl.h>

#include <mutex>

namespace flashsale {

Q_DECLARE_LOGGING_CATEGORY(lcNotify)

namespace {

// A header value: as is when it is printable ASCII, otherwise one RFC 2047 encoded word.
QByteArray headerText(const QString &text) {
    const QByteArray utf8 = text.toUtf8();
    for (const char c : utf8) {
        if (c < 0x20 || c > 0x7e)
            return "=?UTF-8?B?" + utf8.toBase64() + "?=";
    }
    return utf8;
}

// LF or CRLF line ends to CRLF, the only line end SMTP allows.
QByteArray crlf(const QString &text) {
    QByteArray s = text.toUtf8();
    s.replace("\r\n", "\n");
    s.replace('\n', "\r\n");
    return s;
}

struct Upload {
    QByteArray data;
    qsizetype pos = 0;
};

size_t readChunk(char *buffer, size_t size, size_t nitems, void *userdata) {
    auto *u = static_cast<Upload *>(userdata);
    const size_t n = std::min(size * nitems, size_t(u->data.size() - u->pos));
    memcpy(buffer, u->data.constData() + u->pos, n);
    u->pos += qsizetype(n);
    return n;
}

// flashsale_smtp_sends_total{result}: sent (the relay took it), transient (retried later),
// permanent (refused for good, recorded failed).
Counter &sendsCounter(const char *result) {
    return Metrics::instance().counter("flashsale_smtp_sends_total",
                                       "SMTP sends by result: sent, transient (retried), "
                                       "permanent (recorded failed).",
                                       QByteArray("result=\"") + result + '"');
}

} // namespace

// Owns the curl easy handle; each perform() runs on the sender's thread, one at a time.
class SmtpSender::Worker final : public QObject {
public:
    explicit Worker(const SmtpConfig &config)
        : m_config(config) {}
    ~Worker() override {
        if (m_curl)
            curl_easy_cleanup(m_curl);
    }

    // Sends message to recipient; the classification is the header's.
    Result<void> perform(const QByteArray &recipient, const QByteArray &message) {
        if (!m_curl)
            m_curl = curl_easy_init();
        if (!m_curl)
            return fail(ErrorCode::Internal, QStringLiteral("curl_easy_init failed"));
        CURL *c = m_curl;
        curl_easy_reset(c);
        Upload upload{message, 0};
        const QByteArray url = m_config.url.toUtf8();
        const QByteArray from = "<" + m_config.from.toUtf8() + ">";
        const QByteArray to = "<" + recipient + ">";
        curl_slist *rcpt = curl_slist_append(nullptr, to.constData());
        char errorBuffer[CURL_ERROR_SIZE] = {0};
        curl_easy_setopt(c, CURLOPT_URL, url.constData());
        curl_easy_setopt(c, CURLOPT_MAIL_FROM, from.constData());
        curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, readChunk);
        curl_easy_setopt(c, CURLOPT_READDATA, &upload);
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, curl_off_t(message.size()));
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, long(m_config.connectTimeoutMs));
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, long(m_config.timeoutMs));
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L); // worker thread: no SIGALRM for DNS timeouts
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errorBuffer);
        if (m_config.startTls)
            curl_easy_setopt(c, CURLOPT_USE_SSL, long(CURLUSESSL_ALL));
        const QByteArray caFile = m_config.caFile.toUtf8();
        if (!caFile.isEmpty())
            curl_easy_setopt(c, CURLOPT_CAINFO, caFile.constData());
        const QByteArray user = m_config.username.toUtf8();
        const QByteArray password = m_config.password.toUtf8();
        if (!user.isEmpty()) {
            curl_easy_setopt(c, CURLOPT_USERNAME, user.constData());
            curl_easy_setopt(c, CURLOPT_PASSWORD, password.constData());
        }
        const CURLcode rc = curl_easy_perform(c);
        long reply = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &reply);
        curl_slist_free_all(rcpt);
        if (rc == CURLE_OK)
            return {};
        // A failed exchange may leave the connection mid-transaction (a 500 to DATA, then 503 to
        // the next MAIL FROM on the same connection): the next message gets a fresh one.
        curl_easy_cleanup(m_curl);
        m_curl = nullptr;
        const QString what =
            QStringLiteral("smtp %1: %2 (last reply %3)")
                .arg(m_config.url,
                     QString::fromUtf8(errorBuffer[0] ? errorBuffer : curl_easy_strerror(rc)))
                .arg(reply);
        // Only a refusal of this message is permanent: 550 to 554 (no such mailbox, not local,
        // too large, bad mailbox name, transaction refused). 500 to 504 are protocol errors (a
        // relay that failed inside, a connection out of step), and login refused (535, 534),
        // STARTTLS or AUTH required (530, 538) and STARTTLS missing are the relay's
        // configuration, not this message's: all retried rather than failing every message.
        const bool refused =
            reply >= 550 && reply <= 554 && rc != CURLE_LOGIN_DENIED && rc != CURLE_USE_SSL_FAILED;
        if (refused)
            return fail(ErrorCode::Invalid, what);
        if (rc == CURLE_OPERATION_TIMEDOUT)
            return fail(ErrorCode::Timeout, what);
        return fail(ErrorCode::Unavailable, what);
    }

private:
    SmtpConfig m_config;
    CURL *m_curl = nullptr; // reused: curl keeps the connection between messages when it can
};

SmtpSender::SmtpSender(SmtpConfig config)
    : m_config(std::move(config))
    , m_clock([] { return QDateTime::currentDateTimeUtc(); })
    , m_context(std::make_unique<QObject>())
    , m_thread(std::make_unique<QThread>()) {
    curlGlobalInit();
    m_worker = new Worker(m_config);
    m_worker->moveToThread(m_thread.get());
    QObject::connect(m_thread.get(), &QThread::finished, m_worker, &QObject::deleteLater);
    m_thread->setObjectName(QStringLiteral("smtp"));
    m_thread->start();
}

SmtpSender::~SmtpSender() {
    // The message in flight finishes first; deleting the context then drops its queued callback
    // (and those of messages sent before), so no callback outlives the sender.
    m_thread->quit();
    m_thread->wait();
    m_context.reset();
}

QString SmtpSender::recipientFor(const Notification &n) const {
    QString r = m_config.recipientTemplate;
    return r.replace(QStringLiteral("{user}"), QString::fromUtf8(n.userId));
}

QByteArray SmtpSender::messageId(const Notification &n) const {
    const QString domain = m_config.from.section(QLatin1Char('@'), -1);
    QByteArray local;
    for (const char c : n.eventId) {
        const bool atext = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                           || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
        local += atext ? QByteArray(1, c) : QByteArray(1, '_');
    }
    return "<notify." + local + "@" + domain.toUtf8() + ">";
}

QByteArray SmtpSender::buildMessage(const Notification &n, const QDateTime &now) const {
    // The text is the template's (notificationtemplates.h); this only makes it an email.
    QString subject = n.subject;
    subject.replace(QLatin1Char('\r'), QLatin1Char(' '))
        .replace(QLatin1Char('\n'), QLatin1Char(' '));
    const QString &text = n.body;
    const QByteArray from = m_config.fromName.isEmpty() ? m_config.from.toUtf8()
                                                        : headerText(m_config.fromName) + " <"
                                                              + m_config.from.toUtf8() + ">";
    const QByteArray date =
        QLocale::c().toString(now.toUTC(), QStringLiteral("ddd, dd MMM yyyy hh:mm:ss")).toUtf8()
        + " +0000";
    QByteArray m;
    m += "From: " + from + "\r\n";
    m += "To: " + recipientFor(n).toUtf8() + "\r\n";
    m += "Subject: " + headerText(subject) + "\r\n";
    m += "Date: " + date + "\r\n";
    m += "Message-ID: " + messageId(n) + "\r\n";
    m += "MIME-Version: 1.0\r\n";
    m += "Content-Type: text/plain; charset=UTF-8\r\n";
    m += "Content-Transfer-Encoding: 8bit\r\n";
    m += "\r\n";
    m += crlf(text);
    return m;
}

void SmtpSender::send(const Notification &n, std::function<void(const Result<void> &)> done) {
    const QByteArray recipient = recipientFor(n).toUtf8();
    const QByteArray message = buildMessage(n, m_clock());
    QObject *context = m_context.get(); // alive while the worker thread runs (destructor)
    QMetaObject::invokeMethod(
        m_worker, [worker = m_worker, context, recipient, message, done = std::move(done)] {
            const Result<void> r = worker->perform(recipient, message);
            if (!r)
                qCDebug(lcNotify).noquote()
                    << "email to" << recipient << "failed:" << r.error().message;
            QMetaObject::invokeMethod(
                context,
                [done, r] {
                    sendsCounter(!r ? (isPermanent(r.error()) ? "permanent" : "transient") : "sent")
                        .inc();
                    done(r);
                },
                Qt::QueuedConnection);
        });
}

} // namespace flashsale
