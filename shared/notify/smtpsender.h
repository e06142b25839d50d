#pragma once

#include "notify/notificationservice.h"

#include <QDateTime>
#include <QString>

#include <functional>
#include <memory>

class QThread;

namespace flashsale {

struct SmtpConfig {
    // smtp://host:port (STARTTLS with startTls) or smtps://host:port (TLS from the first byte).
    QString url;
    QString from;              // envelope sender and From: header, a bare address
    QString fromName;          // display name in From:, may be empty
    QString recipientTemplate; // the To: address, "{user}" replaced by the notification's user id
    bool startTls = false;     // require STARTTLS on smtp:// (CURLUSESSL_ALL): refuse plaintext
    QString caFile;            // CA bundle for the server's certificate; empty: the system's
    QString username;          // AUTH when set
    QString password;
    int connectTimeoutMs = 5000;
    int timeoutMs = 20000; // the whole exchange, connect to QUIT
};

// Email over SMTP through libcurl's SMTP client: one message per notification, the order paid and
// order cancelled templates (buildMessage).
//
// Threading: send() is called from the owner's thread and its callback runs on that thread,
// exactly once, unless the sender is destroyed first (then it is dropped). curl runs on one
// worker thread owned by the sender, one message at a time, with curl_easy_perform bounded by the
// timeouts: notifications arrive at the rate orders end (tens a second at most for one SMTP
// relay), so a single connection is enough and a blocking easy handle on its own thread is far
// less code than curl multi driven by QSocketNotifiers, while the event loop never blocks.
// The destructor waits for the message in flight (at most timeoutMs).
//
// Failures (Error.code), so that the caller can retry the transient ones with backoff:
//   Unavailable  connection refused or dropped, TLS failed, a 4xx reply (greylisting, mailbox
//                busy), a protocol error 500-504 (a relay that failed inside answers 500 to
//                DATA), login refused or STARTTLS/AUTH required (530, 534, 535, 538: the relay's
//                configuration, not this message's): retry later
//   Timeout      connectTimeoutMs or timeoutMs passed: retry later
//   Invalid      550-554 to MAIL FROM, RCPT TO or DATA (550 no such user, 552 too large, 554
//                refused): permanent, retrying would send the same refused message
//                (isPermanent)
// After any failure the connection is closed, so that the next message never inherits an
// exchange left out of step.
// A message accepted (250 after DATA) and a timeout before curl sees the reply is sent twice on
// retry; Message-ID is derived from the notification's event id so that the copies are
// recognisable as one.
class SmtpSender final : public NotificationSender {
public:
    explicit SmtpSender(SmtpConfig config);
    ~SmtpSender() override;

    void send(const Notification &n, std::function<void(const Result<void> &)> done) override;

    // The recipient of a notification: recipientTemplate with {user} replaced. Orders carry a
    // user id only, so the address is made up from it until users have an email address.
    QString recipientFor(const Notification &n) const;
    // The complete RFC 5322 message (CRLF line ends, UTF-8 text/plain, 8bit) for n at time now.
    QByteArray buildMessage(const Notification &n, const QDateTime &now) const;
    // Message-ID of n's email, <eventId@domain of From>: the same for every retry of n.
    QByteArray messageId(const Notification &n) const;

    static bool isPermanent(const Error &e) { return e.code == ErrorCode::Invalid; }
    // Tests: a fixed clock for the Date header.
    void setClock(std::function<QDateTime()> clock) { m_clock = std::move(clock); }

private:
    class Worker;
    SmtpConfig m_config;
    std::function<QDateTime()> m_clock;
    std::unique_ptr<QObject> m_context; // on the owner's thread; callbacks are dropped with it
    std::unique_ptr<QThread> m_thread;
    Worker *m_worker = nullptr; // lives on m_thread, deleted when it finishes
};

} // namespace flashsale
