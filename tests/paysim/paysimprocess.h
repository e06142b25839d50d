#pragma once

// A real flashsale-paysim for Qt tests (tests/paysim): started on a free port with
// --ready-file, stopped on destruction, plus small synchronous HTTP helpers for its admin and
// ledger routes (QNetworkAccessManager, not the code under test). FLASHSALE_PAYSIM_BIN names the
// binary (set by CMake).

#include "testservers.h"

#include <QElapsedTimer>
#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QProcess>
#include <QTemporaryDir>
#include <QTest>

namespace flashsale::test {

class PaySim {
public:
    ~PaySim() { stopProcess(m_process, 3000); }

    bool start(const QStringList &args = {}) {
        const QString ready = m_dir.filePath(QStringLiteral("paysim.url"));
        m_process.setProgram(QStringLiteral(FLASHSALE_PAYSIM_BIN));
        m_process.setArguments(QStringList{QStringLiteral("--ready-file"), ready} + args);
        m_process.setProcessChannelMode(QProcess::ForwardedErrorChannel);
        m_process.start();
        if (!m_process.waitForStarted(5000))
            return false;
        QElapsedTimer t;
        t.start();
        while (t.elapsed() < 10000) {
            QFile f(ready);
            if (f.open(QIODevice::ReadOnly)) {
                m_url = QString::fromUtf8(f.readLine().trimmed());
                if (!m_url.isEmpty())
                    return true;
            }
            if (m_process.state() != QProcess::Running)
                return false;
            QTest::qWait(20);
        }
        return false;
    }
    QString url() const { return m_url; }
    QString dir() const { return m_dir.path(); }

    // A request answered synchronously (the test's event loop runs meanwhile): the status and
    // the JSON body.
    QPair<int, QJsonObject> request(const QByteArray &method, const QString &path,
                                    const QJsonObject &body = {}) {
        QNetworkRequest req(QUrl(m_url + path));
        req.setHeader(QNetworkRequest::ContentTypeHeader, QStringLiteral("application/json"));
        QNetworkReply *reply = m_nam.sendCustomRequest(
            req, method,
            method == "GET" ? QByteArray() : QJsonDocument(body).toJson(QJsonDocument::Compact));
        QElapsedTimer t;
        t.start();
        while (!reply->isFinished() && t.elapsed() < 30000)
            QTest::qWait(5);
        const int status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
        const QJsonObject out = QJsonDocument::fromJson(reply->readAll()).object();
        reply->deleteLater();
        return {status, out};
    }
    QJsonObject ledger() { return request("GET", QStringLiteral("/ledger")).second; }
    bool settings(const QJsonObject &s) {
        return request("POST", QStringLiteral("/admin/settings"), s).first == 200;
    }

private:
    QTemporaryDir m_dir;
    QProcess m_process;
    QString m_url;
    QNetworkAccessManager m_nam;
};

} // namespace flashsale::test
