// The --smtp-* flags (shared/core/config.cpp, "issue 19: notify"): what a valid set gives the
// notify role, and every refusal with the line an operator reads at start-up. The password comes
// from a file only and never shows in an error. No server.

#include "core/config.h"

#include <QFile>
#include <QTemporaryDir>
#include <QTest>

using namespace flashsale;

class TestSmtpConfig : public QObject {
    Q_OBJECT
private slots:
    void initTestCase();
    void validSettings();
    void noSmtpUrlMeansLogSender();
    void refused_data();
    void refused();

private:
    Result<Config> parse(const QStringList &flags) const;
    QTemporaryDir m_dir;
    QString m_passwordFile;
    QString m_caFile;
};

void TestSmtpConfig::initTestCase() {
    QVERIFY(m_dir.isValid());
    m_passwordFile = m_dir.filePath(QStringLiteral("smtp-password"));
    QFile p(m_passwordFile);
    QVERIFY(p.open(QIODevice::WriteOnly));
    p.write("s3cret-relay-password\n");
    p.close();
    m_caFile = m_dir.filePath(QStringLiteral("ca.pem"));
    QFile ca(m_caFile);
    QVERIFY(ca.open(QIODevice::WriteOnly));
    ca.write("-----BEGIN CERTIFICATE-----\n");
}

Result<Config> TestSmtpConfig::parse(const QStringList &flags) const {
    return Config::parse(QStringList{QStringLiteral("flashsale-server"), QStringLiteral("--roles"),
                                     QStringLiteral("notify"), QStringLiteral("--kafka-brokers"),
                                     QStringLiteral("127.0.0.1:9092")}
                         + flags);
}

void TestSmtpConfig::validSettings() {
    const auto c =
        parse({"--smtp-url", "smtp://mail.example.test:587", "--smtp-starttls", "--smtp-ca-file",
               m_caFile, "--smtp-from", "Flash sale <orders@shop.example.test>",
               "--smtp-recipient-template", "{user}@buyers.example.test", "--smtp-user",
               "relay-user", "--smtp-password-file", m_passwordFile});
    QVERIFY2(c.has_value(), c ? "" : qPrintable(c.error().message));
    QCOMPARE(c->smtpUrl, QStringLiteral("smtp://mail.example.test:587"));
    QCOMPARE(c->smtpFrom, QStringLiteral("orders@shop.example.test"));
    QCOMPARE(c->smtpFromName, QStringLiteral("Flash sale"));
    QCOMPARE(c->smtpRecipientTemplate, QStringLiteral("{user}@buyers.example.test"));
    QVERIFY(c->smtpStartTls);
    QCOMPARE(c->smtpCaFile, m_caFile);
    QCOMPARE(c->smtpUser, QStringLiteral("relay-user"));
    QCOMPARE(c->smtpPassword, QStringLiteral("s3cret-relay-password")); // line break dropped

    // A bare address, implicit TLS, AUTH in the clear to a relay on this machine.
    const auto local =
        parse({"--smtp-url", "smtp://127.0.0.1:2525", "--smtp-from", "orders@localhost",
               "--smtp-user", "u", "--smtp-password-file", m_passwordFile});
    QVERIFY2(local.has_value(), local ? "" : qPrintable(local.error().message));
    QCOMPARE(local->smtpFromName, QString());
    QCOMPARE(local->smtpRecipientTemplate, QStringLiteral("{user}@example.test"));
    QVERIFY(parse({"--smtp-url", "smtps://mail.example.test:465", "--smtp-from", "a@b.test"})
                .has_value());
}

void TestSmtpConfig::noSmtpUrlMeansLogSender() {
    const auto c = parse({});
    QVERIFY(c.has_value());
    QVERIFY(c->smtpUrl.isEmpty());
}

void TestSmtpConfig::refused_data() {
    QTest::addColumn<QStringList>("flags");
    QTest::addColumn<QString>("error");
    const QStringList url{"--smtp-url", "smtp://mail.example.test:25", "--smtp-from", "a@b.test"};

    QTest::addRow("http scheme") << QStringList{"--smtp-url", "http://mail.example.test",
                                                "--smtp-from", "a@b.test"}
                                 << "--smtp-url: must be a smtp/smtps URL with a host";
    QTest::addRow("password in the URL")
        << QStringList{"--smtp-url", "smtp://u:pw@mail.example.test", "--smtp-from", "a@b.test"}
        << "--smtp-url: must not hold a password; use --smtp-user and --smtp-password-file";
    QTest::addRow("no sender") << QStringList{"--smtp-url", "smtp://mail.example.test"}
                               << "--smtp-url needs --smtp-from";
    QTest::addRow("sender not an address")
        << QStringList{"--smtp-url", "smtp://mail.example.test", "--smtp-from", "orders"}
        << "--smtp-from: must be an address";
    QTest::addRow("template without {user}")
        << url + QStringList{"--smtp-recipient-template", "buyer@example.test"}
        << "--smtp-recipient-template: must be an address with {user}";
    QTest::addRow("STARTTLS with smtps")
        << QStringList{"--smtp-url", "smtps://mail.example.test", "--smtp-from", "a@b.test",
                       "--smtp-starttls"}
        << "--smtp-starttls is for smtp:// URLs";
    QTest::addRow("user without password") << url + QStringList{"--smtp-user", "u"}
                                           << "--smtp-user and --smtp-password-file go together";
    QTest::addRow("password in the clear over the network")
        << url + QStringList{"--smtp-user", "u", "--smtp-password-file", "PASSWORD_FILE"}
        << "would send the password in the clear to mail.example.test";
    QTest::addRow("password file unreadable")
        << url + QStringList{"--smtp-user", "u", "--smtp-password-file", "/nonexistent/pw"}
        << "--smtp-password-file: cannot read '/nonexistent/pw'";
    QTest::addRow("CA file unreadable") << url + QStringList{"--smtp-ca-file", "/nonexistent/ca"}
                                        << "--smtp-ca-file: cannot read '/nonexistent/ca'";
    QTest::addRow("SMTP settings without a URL")
        << QStringList{"--smtp-from", "a@b.test", "--smtp-starttls"} << "need --smtp-url";
}

void TestSmtpConfig::refused() {
    QFETCH(QStringList, flags);
    QFETCH(QString, error);
    flags.replaceInStrings(QStringLiteral("PASSWORD_FILE"), m_passwordFile);
    const auto c = parse(flags);
    QVERIFY(!c.has_value());
    QVERIFY2(c.error().message.contains(error), qPrintable(c.error().message));
    QVERIFY(!c.error().message.contains(QStringLiteral("s3cret"))); // never the password
}

QTEST_GUILESS_MAIN(TestSmtpConfig)
#include "tst_smtpconfig.moc"
