// SmtpSender (shared/notify/smtpsender.h) against a real SMTP server on loopback: aiosmtpd with
// tests/notify/smtpsink.py, which stores every message it accepts in a folder. The messages are
// compared byte for byte, each must arrive once, a 550 is a permanent failure, a server that is
// down a transient one that succeeds once the server is up.

#include "notify/notificationtemplates.h"
#include "notify/smtpsender.h"
#include "smtpserver.h"
#include "testservers.h"

#include <QDir>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSignalSpy>
#include <QTcpSocket>
#include <QTemporaryDir>
#include <QTest>

#include <optional>

Q_DECLARE_METATYPE(flashsale::Notification)

using namespace flashsale;
using flashsale::test::SmtpServer;

namespace {

SmtpConfig configFor(const QString &url) {
    SmtpConfig c;
    c.url = url;
    c.from = QStringLiteral("orders@shop.example.test");
    c.fromName = QStringLiteral("Flash sale");
    c.recipientTemplate = QStringLiteral("{user}@example.test");
    c.connectTimeoutMs = 2000;
    c.timeoutMs = 5000;
    return c;
}

OrderEvent paidEvent() {
    OrderEvent e;
    e.eventId = "3f1c9a2e-0b7d-4c55-9e61-2a7f0c1d8b44";
    e.orderId = 1042;
    e.userId = "buyer-17";
    e.saleId = 3;
    e.itemId = 7;
    e.quantity = 2;
    e.amountCents = 3998;
    return e;
}

Notification paidNotification() {
    return notificationFor(topics::kOrderPaid, paidEvent(),
                           {QStringLiteral("Winter sale"), QStringLiteral("Espresso cup")});
}

// The headers every message of these tests has, around its subject and Message-ID.
QByteArray headers(const QByteArray &to, const QByteArray &subject, const QByteArray &messageId) {
    return "From: Flash sale <orders@shop.example.test>\r\n"
           "To: "
           + to
           + "\r\n"
             "Subject: "
           + subject
           + "\r\n"
             "Date: Thu, 03 Dec 2026 15:04:05 +0000\r\n"
             "Message-ID: "
           + messageId
           + "\r\n"
             "MIME-Version: 1.0\r\n"
             "Content-Type: text/plain; charset=UTF-8\r\n"
             "Content-Transfer-Encoding: 8bit\r\n"
             "\r\n";
}

// The answer of one send(), waited for on the event loop.
std::optional<Result<void>> sendAndWait(SmtpSender &sender, const Notification &n) {
    std::optional<Result<void>> answer;
    int calls = 0;
    sender.send(n, [&](const Result<void> &r) {
        answer = r;
        ++calls;
    });
    // The answer comes from the event loop, never from inside send().
    if (calls != 0)
        return Result<void>(fail(ErrorCode::Internal, QStringLiteral("answered synchronously")));
    if (!QTest::qWaitFor([&] { return calls > 0; }, 15000))
        return std::nullopt;
    QCoreApplication::processEvents(); // a second, queued answer would show here
    return calls == 1 ? answer : std::nullopt;
}

// The failure's message for QVERIFY2 (an empty one on success).
QByteArray why(const Result<void> &r) {
    return r ? QByteArray() : r.error().message.toUtf8();
}

const QDateTime kNow = QDateTime(QDate(2026, 12, 3), QTime(15, 4, 5), Qt::UTC);

} // namespace

class TestSmtpSender : public QObject {
    Q_OBJECT
private slots:
    void sendsExactMessageOnce_data();
    void sendsExactMessageOnce();
    void refusedRecipientIsPermanent();
    void serverDownIsTransientThenDelivered();
    void relayErrorIsTransientAndTheNextMessageGetsAFreshConnection();
    void startTlsRequiredButNotOfferedIsTransient();
    void startTlsDelivers();
    void plaintextToRelayRequiringTlsIsTransient();
};

void TestSmtpSender::sendsExactMessageOnce_data() {
    QTest::addColumn<Notification>("notification");
    QTest::addColumn<QByteArray>("expected");

    // The two templates as a buyer reads them (shared/notify/notificationtemplates.cpp).
    QTest::addRow("order paid")
        << paidNotification()
        << headers("buyer-17@example.test", "Your order 1042 is paid",
                   "<notify.3f1c9a2e-0b7d-4c55-9e61-2a7f0c1d8b44@shop.example.test>")
               + "Hello,\r\n"
                 "\r\n"
                 "Thank you for your order: we have received your payment and the items\r\n"
                 "are yours.\r\n"
                 "\r\n"
                 "  Order number:  1042\r\n"
                 "  Item:          Espresso cup (Winter sale)\r\n"
                 "  Quantity:      2\r\n"
                 "  Amount paid:   39.98\r\n"
                 "\r\n"
                 "Please keep this email as your receipt.\r\n"
                 "\r\n"
                 "-- \r\n"
                 "Flash sale\r\n";

    OrderEvent declined = paidEvent();
    declined.eventId = "order.cancelled:r-77";
    declined.orderId = 77;
    declined.userId = "u9";
    declined.quantity = 1;
    declined.amountCents = 1999;
    declined.reason = QStringLiteral("declined");
    // No names in the catalogue (the item was deleted): the ids stand in.
    QTest::addRow("order cancelled, payment declined")
        << notificationFor(topics::kOrderCancelled, declined, {})
        << headers("u9@example.test", "Your order 77 was cancelled: payment declined",
                   "<notify.order.cancelled_r-77@shop.example.test>")
               + "Hello,\r\n"
                 "\r\n"
                 "Your order 77 was cancelled.\r\n"
                 "\r\n"
                 "Your payment was declined, so we cancelled the order and released the\r\n"
                 "items for other buyers. You have not been charged.\r\n"
                 "\r\n"
                 "  Order number:  77\r\n"
                 "  Item:          item 7 (sale 3)\r\n"
                 "  Quantity:      1\r\n"
                 "  Order total:   19.99\r\n"
                 "\r\n"
                 "-- \r\n"
                 "Flash sale\r\n";

    // A subject and body in UTF-8 and a line starting with a dot (SMTP dot-stuffing must undo
    // it), written by hand rather than by a template.
    Notification utf8;
    utf8.eventId = "evt:77/cancel";
    utf8.orderId = 77;
    utf8.userId = "u9";
    utf8.kind = "order.cancelled";
    utf8.subject = QStringLiteral("Commande 77 annulée");
    utf8.body = QStringLiteral("Paiement refusé.\n.hidden line\n");
    QTest::addRow("UTF-8 subject, a dot line")
        << utf8
        << headers("u9@example.test", "=?UTF-8?B?Q29tbWFuZGUgNzcgYW5udWzDqWU=?=",
                   "<notify.evt_77_cancel@shop.example.test>")
               + "Paiement refus\xc3\xa9.\r\n"
                 ".hidden line\r\n";
}

void TestSmtpSender::sendsExactMessageOnce() {
    QFETCH(Notification, notification);
    QFETCH(QByteArray, expected);
    SmtpServer server;
    QVERIFY(server.start());
    SmtpSender sender(configFor(server.url()));
    sender.setClock([] { return kNow; });

    const auto answer = sendAndWait(sender, notification);
    QVERIFY(answer.has_value());
    QVERIFY2(answer->has_value(), why(*answer).constData());

    const auto received = server.messages();
    QCOMPARE(received.size(), 1);
    QCOMPARE(received[0].data, expected);
    QCOMPARE(received[0].envelope.value(QStringLiteral("mail_from")).toString(),
             QStringLiteral("orders@shop.example.test"));
    QCOMPARE(received[0].envelope.value(QStringLiteral("rcpt_tos")).toArray(),
             QJsonArray{sender.recipientFor(notification)});
}

void TestSmtpSender::refusedRecipientIsPermanent() {
    SmtpServer server;
    QVERIFY(server.start(QStringLiteral("refuse")));
    SmtpSender sender(configFor(server.url()));

    const auto answer = sendAndWait(sender, paidNotification());
    QVERIFY(answer.has_value());
    QVERIFY(!answer->has_value());
    QCOMPARE(answer->error().code, ErrorCode::Invalid);
    QVERIFY(SmtpSender::isPermanent(answer->error()));
    QVERIFY2(answer->error().message.contains(QStringLiteral("550")),
             qPrintable(answer->error().message));
    QCOMPARE(server.messages().size(), 0);
}

void TestSmtpSender::serverDownIsTransientThenDelivered() {
    SmtpServer server; // not started yet: its port refuses connections
    SmtpSender sender(configFor(server.url()));
    sender.setClock([] { return kNow; });

    const auto down = sendAndWait(sender, paidNotification());
    QVERIFY(down.has_value());
    QVERIFY(!down->has_value());
    QCOMPARE(down->error().code, ErrorCode::Unavailable);
    QVERIFY(!SmtpSender::isPermanent(down->error()));

    // The retry, once the server is up, delivers the same message, once.
    QVERIFY(server.start());
    const auto up = sendAndWait(sender, paidNotification());
    QVERIFY(up.has_value());
    QVERIFY2(up->has_value(), why(*up).constData());
    const auto received = server.messages();
    QCOMPARE(received.size(), 1);
    QVERIFY(received[0].data.contains(
        "Message-ID: <notify.3f1c9a2e-0b7d-4c55-9e61-2a7f0c1d8b44@shop.example.test>\r\n"));
}

void TestSmtpSender::relayErrorIsTransientAndTheNextMessageGetsAFreshConnection() {
    // aiosmtpd answers "500 Error: ..." when its handler fails on DATA. That is the relay's
    // fault, not a refusal of the message: transient. Reusing that connection answered 503 to the
    // next MAIL FROM (found by tests/notify/test_notifykill.sh), so the retry must connect anew.
    SmtpServer server;
    QVERIFY(server.start(QStringLiteral("error-once")));
    SmtpSender sender(configFor(server.url()));
    sender.setClock([] { return kNow; });

    const auto first = sendAndWait(sender, paidNotification());
    QVERIFY(first.has_value());
    QVERIFY(!first->has_value());
    QVERIFY2(first->error().message.contains(QStringLiteral("500")),
             qPrintable(first->error().message));
    QVERIFY(!SmtpSender::isPermanent(first->error()));
    QCOMPARE(server.messages().size(), 0);

    const auto retry = sendAndWait(sender, paidNotification());
    QVERIFY(retry.has_value());
    QVERIFY2(retry->has_value(), why(*retry).constData());
    const auto received = server.messages();
    QCOMPARE(received.size(), 1);
    QCOMPARE(received[0].data, sender.buildMessage(paidNotification(), kNow));
}

void TestSmtpSender::startTlsRequiredButNotOfferedIsTransient() {
    // A relay without STARTTLS while the configuration requires it: no plaintext fallback, no
    // message, and retried (a configuration to fix, not a refused message).
    SmtpServer server;
    QVERIFY(server.start());
    SmtpConfig config = configFor(server.url());
    config.startTls = true;
    SmtpSender sender(config);

    const auto answer = sendAndWait(sender, paidNotification());
    QVERIFY(answer.has_value());
    QVERIFY(!answer->has_value());
    QVERIFY(!SmtpSender::isPermanent(answer->error()));
    QCOMPARE(server.messages().size(), 0);
}

namespace {

// A self-signed certificate for 127.0.0.1 in dir (cert.pem, key.pem), made with openssl.
bool makeCertificate(const QString &dir) {
    QProcess openssl;
    openssl.setProcessChannelMode(QProcess::MergedChannels);
    openssl.start(QStringLiteral("openssl"),
                  {QStringLiteral("req"), QStringLiteral("-x509"), QStringLiteral("-newkey"),
                   QStringLiteral("rsa:2048"), QStringLiteral("-nodes"), QStringLiteral("-days"),
                   QStringLiteral("1"), QStringLiteral("-subj"), QStringLiteral("/CN=127.0.0.1"),
                   QStringLiteral("-addext"), QStringLiteral("subjectAltName=IP:127.0.0.1"),
                   QStringLiteral("-keyout"), dir + QStringLiteral("/key.pem"),
                   QStringLiteral("-out"), dir + QStringLiteral("/cert.pem")});
    const bool ok = openssl.waitForFinished(30000) && openssl.exitCode() == 0;
    if (!ok)
        qWarning().noquote() << "openssl:" << openssl.readAll();
    return ok;
}

QStringList tlsArgs(const QString &dir) {
    return {QStringLiteral("--tlscert"), dir + QStringLiteral("/cert.pem"),
            QStringLiteral("--tlskey"), dir + QStringLiteral("/key.pem")};
}

} // namespace

void TestSmtpSender::startTlsDelivers() {
    // aiosmtpd with --tlscert refuses mail before STARTTLS; the sender upgrades and checks the
    // relay's certificate against caFile.
    QTemporaryDir certs;
    QVERIFY(makeCertificate(certs.path()));
    SmtpServer server;
    QVERIFY(server.start(QStringLiteral("accept"), tlsArgs(certs.path())));
    SmtpConfig config = configFor(server.url());
    config.startTls = true;
    config.caFile = certs.path() + QStringLiteral("/cert.pem");
    SmtpSender sender(config);
    sender.setClock([] { return kNow; });

    const auto answer = sendAndWait(sender, paidNotification());
    QVERIFY(answer.has_value());
    QVERIFY2(answer->has_value(), why(*answer).constData());
    const auto received = server.messages();
    QCOMPARE(received.size(), 1);
    QCOMPARE(received[0].data, sender.buildMessage(paidNotification(), kNow));
}

void TestSmtpSender::plaintextToRelayRequiringTlsIsTransient() {
    // The relay answers 530 (STARTTLS first): a configuration to fix, retried, not a refusal of
    // this message.
    QTemporaryDir certs;
    QVERIFY(makeCertificate(certs.path()));
    SmtpServer server;
    QVERIFY(server.start(QStringLiteral("accept"), tlsArgs(certs.path())));
    SmtpSender sender(configFor(server.url()));

    const auto answer = sendAndWait(sender, paidNotification());
    QVERIFY(answer.has_value());
    QVERIFY(!answer->has_value());
    QVERIFY2(answer->error().message.contains(QStringLiteral("530")),
             qPrintable(answer->error().message));
    QVERIFY(!SmtpSender::isPermanent(answer->error()));
    QCOMPARE(server.messages().size(), 0);
}

QTEST_GUILESS_MAIN(TestSmtpSender)
#include "tst_smtpsender.moc"
