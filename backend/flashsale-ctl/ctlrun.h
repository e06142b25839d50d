#pragma once

#include "ctlargs.h"
#include "protocol/adminclient.h"

#include <QElapsedTimer>
#include <QList>
#include <QObject>
#include <QTimer>

namespace flashsale::ctl {

// One flashsale-ctl invocation as an object: start() connects and sends the operation; the
// answer is printed to stdout (errors to stderr) and finished() carries the exit code (see
// ExitCode). Lives on the main thread; never blocks and never nests an event loop.
class CtlRun final : public QObject {
    Q_OBJECT
public:
    explicit CtlRun(Invocation invocation, QObject *parent = nullptr);

    void start();
    // Ctrl-C: ends a `stats --watch` or `queue --watch` with exit 0, anything else as
    // interrupted (130).
    void interrupt();

Q_SIGNALS:
    void finished(int exitCode);

private:
    void onState(admin::AdminClient::State state);
    void onEvent(const QString &name, const QJsonObject &data);
    void dispatch();
    void pingNext();
    void onReply(const admin::AdminClient::Reply &reply);
    void failConnect(const QString &message);
    void finish(int exitCode);
    void print(const QString &text);
    void printError(const QString &text);

    Invocation m_inv;
    admin::AdminClient m_client;
    QTimer m_deadline; // connecting, and waiting for stats events
    bool m_connected = false;
    bool m_refused = false;
    bool m_done = false;

    QList<double> m_rttsMs;
    QElapsedTimer m_pingClock;
    QString m_version;

    bool m_subscribed = false;
    int m_events = 0;
};

} // namespace flashsale::ctl
