#pragma once

// A real SMTP server for the notify tests: python3 -m aiosmtpd on a loopback port with
// tests/notify/smtpsink.py, storing every message it accepts in a temporary folder.
// Needs FLASHSALE_TEST_NOTIFY_DIR (the folder of smtpsink.py) defined by tests/CMakeLists.txt.

#include "testservers.h"

#include <QDir>
#include <QFile>
#include <QHostAddress>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTcpSocket>
#include <QTemporaryDir>
#include <QTest>

namespace flashsale::test {

// python3 -m aiosmtpd on a loopback port, storing into a temporary folder (smtpsink.py).
// The interpreter is $FLASHSALE_TEST_PYTHON, else Debian's /usr/bin/python3, where
// python3-aiosmtpd installs (a python3 earlier on PATH, such as pyenv's, may not have it).
class SmtpServer {
public:
    explicit SmtpServer(quint16 port = freePort())
        : m_port(port) {}
    ~SmtpServer() { stop(); }

    bool start(const QString &mode = QStringLiteral("accept"), const QStringList &extra = {}) {
        const QString python =
            qEnvironmentVariable("FLASHSALE_TEST_PYTHON", QStringLiteral("/usr/bin/python3"));
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert(QStringLiteral("PYTHONPATH"), QStringLiteral(FLASHSALE_TEST_NOTIFY_DIR));
        m_process.setProcessEnvironment(env);
        m_process.setProcessChannelMode(QProcess::MergedChannels);
        m_process.start(python, QStringList{QStringLiteral("-m"), QStringLiteral("aiosmtpd"),
                                            QStringLiteral("-n"), QStringLiteral("-l"),
                                            QStringLiteral("127.0.0.1:%1").arg(m_port)}
                                    + extra
                                    + QStringList{QStringLiteral("-c"),
                                                  QStringLiteral("smtpsink.FolderHandler"),
                                                  m_dir.path(), mode});
        if (!m_process.waitForStarted(5000))
            return false;
        for (int i = 0; i < 200; ++i) {
            QTcpSocket probe;
            probe.connectToHost(QHostAddress::LocalHost, m_port);
            if (probe.waitForConnected(100))
                return true;
            if (m_process.state() != QProcess::Running)
                break;
            QTest::qWait(50);
        }
        qWarning().noquote() << "aiosmtpd did not listen:" << m_process.readAll();
        return false;
    }
    void stop() { stopProcess(m_process, 3000); }

    quint16 port() const { return m_port; }
    QString url() const { return QStringLiteral("smtp://127.0.0.1:%1").arg(m_port); }
    QString dir() const { return m_dir.path(); }

    struct Received {
        QByteArray data;
        QJsonObject envelope;
    };
    // Every stored message, oldest first.
    QList<Received> messages() const {
        QList<Received> out;
        const QDir d(m_dir.path());
        for (const QString &name :
             d.entryList({QStringLiteral("*.eml")}, QDir::Files, QDir::Name)) {
            QFile eml(d.filePath(name));
            QFile json(
                d.filePath(QString(name).replace(QStringLiteral(".eml"), QStringLiteral(".json"))));
            if (!eml.open(QIODevice::ReadOnly) || !json.open(QIODevice::ReadOnly))
                continue;
            out.append({eml.readAll(), QJsonDocument::fromJson(json.readAll()).object()});
        }
        return out;
    }

private:
    quint16 m_port;
    QTemporaryDir m_dir;
    QProcess m_process;
};

} // namespace flashsale::test
