#include "ctlrun.h"

#include "ctlformat.h"
#include "fairnessverify.h"

#include <QJsonArray>

#include <cstdio>
#include <unistd.h>

namespace flashsale::ctl {

using admin::AdminClient;
using admin::AdminError;
using admin::Op;

namespace {

constexpr int kDefaultStatsIntervalMs = 500;
// queue SALE --watch: one read a second (issue 16).
constexpr int kQueueWatchIntervalMs = 1000;

QString opVerb(Op op) {
    switch (op) {
    case Op::SaleCreate:
        return QStringLiteral("created");
    case Op::SalePause:
        return QStringLiteral("paused");
    case Op::SaleResume:
        return QStringLiteral("resumed");
    case Op::SaleStop:
        return QStringLiteral("stopped");
    case Op::ScheduleCreate:
        return QStringLiteral("created");
    case Op::ScheduleCancel:
        return QStringLiteral("cancelled");
    default:
        return {};
    }
}

} // namespace

CtlRun::CtlRun(Invocation invocation, QObject *parent)
    : QObject(parent)
    , m_inv(std::move(invocation)) {
    m_deadline.setSingleShot(true);
    connect(&m_client, &AdminClient::stateChanged, this, &CtlRun::onState);
    connect(&m_client, &AdminClient::event, this, &CtlRun::onEvent);
    connect(&m_client, &AdminClient::refused, this, [this](int status, const QString &message) {
        m_refused = true;
        if (status == 0) {
            printError(QStringLiteral("error: %1\n").arg(message));
        } else {
            const QString who =
                !m_inv.operatorName.isEmpty()
                    ? QStringLiteral("operator %1; check --password-file or "
                                     "FLASHSALE_OPERATOR_PASSWORD")
                          .arg(m_inv.operatorName)
                : m_inv.token.isEmpty()
                    ? QStringLiteral("no credential was given: --operator NAME with "
                                     "--password-file, or FLASHSALE_ADMIN_TOKEN")
                    : QStringLiteral("the bootstrap token FLASHSALE_ADMIN_TOKEN");
            printError(QStringLiteral("error: the server refused the login (HTTP %1: %2) for %3\n")
                           .arg(status)
                           .arg(message, who));
        }
        finish(kExitConnect);
    });
}

void CtlRun::start() {
    if (!m_inv.local.isEmpty()) { // fairness verify: the public API, no admin login
        auto *job = new FairnessVerify(m_inv, this);
        connect(job, &FairnessVerify::finished, this, &CtlRun::finish);
        job->start();
        return;
    }
    connect(&m_deadline, &QTimer::timeout, this, [this] {
        failConnect(QStringLiteral("no connection within %1 ms").arg(m_inv.timeoutMs));
    });
    m_deadline.start(m_inv.timeoutMs);
    m_client.setCaFile(m_inv.caFile);
    m_client.open(m_inv.url,
                  AdminClient::Credentials{m_inv.operatorName, m_inv.password, m_inv.token});
}

void CtlRun::interrupt() {
    finish(m_inv.watch && m_subscribed ? kExitOk : 130);
}

void CtlRun::onState(AdminClient::State state) {
    if (m_done)
        return;
    if (state == AdminClient::State::Connected) {
        m_connected = true;
        m_deadline.stop();
        m_deadline.disconnect(this);
        dispatch();
        return;
    }
    if (state != AdminClient::State::Disconnected)
        return;
    if (m_connected) {
        printError(QStringLiteral("error: disconnected: the connection to the server dropped\n"));
        finish(kExitConnect);
        return;
    }
    // The refusal (401) may be reported just after the drop; let it win if it comes.
    QTimer::singleShot(0, this, [this] {
        if (!m_refused)
            failConnect(m_client.lastError());
    });
}

void CtlRun::failConnect(const QString &message) {
    if (m_done)
        return;
    printError(QStringLiteral("error: cannot connect to %1: %2\n")
                   .arg(m_inv.url.toString(),
                        message.isEmpty() ? QStringLiteral("connection failed") : message));
    finish(kExitConnect);
}

void CtlRun::dispatch() {
    if (m_inv.op == Op::Ping) {
        pingNext();
        return;
    }
    if (m_inv.op == Op::StatsSubscribe) {
        // The first event must come within one interval plus the usual answer time.
        const int interval =
            m_inv.args.value(QStringLiteral("interval_ms")).toInt(kDefaultStatsIntervalMs);
        m_deadline.setInterval(m_inv.timeoutMs + interval);
        connect(&m_deadline, &QTimer::timeout, this, [this] {
            printError(QStringLiteral("error: timeout: no stats event within %1 ms\n")
                           .arg(m_deadline.interval()));
            finish(kExitServerError);
        });
        m_deadline.start();
    }
    m_client.request(
        m_inv.op, m_inv.args, [this](const AdminClient::Reply &r) { onReply(r); }, m_inv.timeoutMs);
}

void CtlRun::pingNext() {
    m_pingClock.start();
    m_client.ping([this](const AdminClient::Reply &r) {
        if (m_done)
            return;
        if (!r.ok) {
            onReply(r);
            return;
        }
        m_rttsMs << double(m_pingClock.nsecsElapsed()) / 1e6;
        m_version = formatCell(r.result.value(QStringLiteral("version")));
        if (m_rttsMs.size() < m_inv.count) {
            pingNext();
            return;
        }
        if (m_inv.json)
            print(formatJsonLine(pingSummary(m_rttsMs, m_client.serverSkewMs(), m_version)));
        else
            print(formatPing(m_inv.url.toString(), m_rttsMs, m_client.serverSkewMs(), m_version));
        finish(kExitOk);
    });
}

void CtlRun::onReply(const AdminClient::Reply &r) {
    if (m_done)
        return;
    if (!r.ok) {
        printError(formatFailure(r.failure));
        finish(r.failure.code == AdminError::Disconnected ? kExitConnect : kExitServerError);
        return;
    }
    if (m_inv.op == Op::StatsSubscribe) {
        m_subscribed = true; // the events follow
        return;
    }
    if (m_inv.op == Op::SaleWaitingRoomGet && m_inv.watch) { // issue 16: queue SALE --watch
        m_subscribed = true;                                 // Ctrl-C ends the watch with exit 0
        const QString view =
            m_inv.json
                ? formatJsonLine(r.result)
                : formatWaitingRoom(r.result.value(QStringLiteral("waiting_room")).toObject());
        if (!m_inv.json && isatty(STDOUT_FILENO))
            print(QStringLiteral("\x1b[H\x1b[2J") + view); // redraw in place
        else
            print((m_events++ > 0 && !m_inv.json ? QStringLiteral("\n") : QString()) + view);
        QTimer::singleShot(kQueueWatchIntervalMs, this, [this] {
            if (!m_done)
                dispatch();
        });
        return;
    }
    int code = kExitOk;
    if ((m_inv.op == Op::ReconcileRun || m_inv.op == Op::PaymentsReconcile)
        && !r.result.value(QStringLiteral("ok")).toBool())
        code = kExitDrift;
    if (m_inv.op == Op::OrdersDeadLettersReplay // issue 20: not written, still a dead letter
        && r.result.value(QStringLiteral("outcome")).toString()
               == QLatin1String(admin::kDeadLetterRefused))
        code = kExitDrift;
    if (m_inv.json) {
        QJsonObject out = r.result;
        if (!m_inv.generatedPassword.isEmpty())
            out.insert(QStringLiteral("generated_password"), m_inv.generatedPassword);
        print(formatJsonLine(out));
        finish(code);
        return;
    }
    const QJsonObject &res = r.result;
    switch (m_inv.op) {
    case Op::SaleList:
        print(formatSales(res.value(QStringLiteral("sales")).toArray()));
        break;
    case Op::SaleGet:
        print(formatSaleDetail(res.value(QStringLiteral("sale")).toObject()));
        break;
    case Op::SaleCreate:
    case Op::SalePause:
    case Op::SaleResume:
    case Op::SaleStop: {
        const QJsonObject sale = res.value(QStringLiteral("sale")).toObject();
        print(QStringLiteral("sale %1 %2\n")
                  .arg(formatCell(sale.value(QStringLiteral("id"))), opVerb(m_inv.op)));
        print(formatSales(QJsonArray{sale}));
        break;
    }
    case Op::SaleAdjust:
        print(formatAdjust(res));
        break;
    case Op::SaleWaitingRoomGet: // issue 16
        print(formatWaitingRoom(res.value(QStringLiteral("waiting_room")).toObject()));
        break;
    case Op::SaleWaitingRoomSet:
        print(formatWaitingRoomSet(qint64(m_inv.args.value(QStringLiteral("sale_id")).toDouble()),
                                   res));
        break;
    case Op::ScheduleCreate:
    case Op::ScheduleCancel: {
        const QJsonObject schedule = res.value(QStringLiteral("schedule")).toObject();
        print(QStringLiteral("schedule %1 %2\n")
                  .arg(formatCell(schedule.value(QStringLiteral("id"))), opVerb(m_inv.op)));
        print(formatSchedules(QJsonArray{schedule}));
        break;
    }
    case Op::ScheduleList:
        print(formatSchedules(res.value(QStringLiteral("schedules")).toArray()));
        break;
    case Op::ReconcileRun:
        print(formatReconcile(res));
        break;
    case Op::ReconcileList:
        print(formatReconcileRuns(res.value(QStringLiteral("runs")).toArray()));
        break;
    case Op::PaymentsReconcile: // H5
        print(formatProviderReconcile(res));
        break;
    case Op::PaymentsReconcileRuns: // H5
        print(formatProviderReconcileRuns(res.value(QStringLiteral("runs")).toArray()));
        break;
    case Op::AuditList:
        print(formatAudit(res.value(QStringLiteral("entries")).toArray()));
        break;
    case Op::NotificationFailures: // issue 19: notify
        print(formatNotificationFailures(res));
        break;
    case Op::OperatorList:
        print(formatOperators(res.value(QStringLiteral("operators")).toArray()));
        break;
    case Op::OperatorCreate:
    case Op::OperatorSetRole:
    case Op::OperatorRotatePassword:
    case Op::OperatorDisable: {
        const QJsonObject op = res.value(QStringLiteral("operator")).toObject();
        print(formatOperators(QJsonArray{op}));
        if (!m_inv.generatedPassword.isEmpty())
            print(QStringLiteral("password of %1 (shown once; store it now): %2\n")
                      .arg(formatCell(op.value(QStringLiteral("name"))), m_inv.generatedPassword));
        break;
    }
    // H4 merchant webhooks (issue 19)
    case Op::WebhooksList:
        print(formatWebhookEndpoints(res.value(QStringLiteral("endpoints")).toArray()));
        break;
    case Op::WebhooksDeadLetters:
        print(formatDeadLetters(res));
        break;
    case Op::WebhooksReplay:
        print(formatReplay(res));
        break;
    // issue 20
    case Op::OrdersDeadLetters:
        print(formatOrderDeadLetters(res.value(QStringLiteral("deadletters")).toArray()));
        break;
    case Op::OrdersDeadLettersReplay:
    case Op::OrdersDeadLettersCancel:
        print(formatDeadLetterOutcome(res));
        break;
    default:
        print(formatJsonLine(res));
        break;
    }
    finish(code);
}

void CtlRun::onEvent(const QString &name, const QJsonObject &data) {
    if (m_done || m_inv.op != Op::StatsSubscribe || name != QLatin1String(admin::kEventStats))
        return;
    if (data.value(QStringLiteral("sale_id")) != m_inv.args.value(QStringLiteral("sale_id")))
        return;
    ++m_events;
    if (m_inv.json) {
        print(formatJsonLine(data));
    } else if (m_inv.watch && isatty(STDOUT_FILENO)) {
        // Redraw in place: cursor home, clear the screen.
        print(QStringLiteral("\x1b[H\x1b[2J") + formatStats(data));
    } else {
        print((m_events > 1 ? QStringLiteral("\n") : QString()) + formatStats(data));
    }
    if (!m_inv.watch || (m_inv.count > 0 && m_events >= m_inv.count)) {
        finish(kExitOk);
        return;
    }
    m_deadline.start();
}

void CtlRun::finish(int exitCode) {
    if (m_done)
        return;
    m_done = true;
    m_deadline.stop();
    m_client.close();
    // Queued, so that no caller on the stack runs after the application starts to quit.
    QMetaObject::invokeMethod(
        this, [this, exitCode] { Q_EMIT finished(exitCode); }, Qt::QueuedConnection);
}

void CtlRun::print(const QString &text) {
    const QByteArray bytes = text.toUtf8();
    std::fwrite(bytes.constData(), 1, size_t(bytes.size()), stdout);
    std::fflush(stdout);
}

void CtlRun::printError(const QString &text) {
    const QByteArray bytes = text.toUtf8();
    std::fwrite(bytes.constData(), 1, size_t(bytes.size()), stderr);
    std::fflush(stderr);
}

} // namespace flashsale::ctl
