// flashsale-admin-bench: how long admin operations take to answer, one at a time, over one
// admin WebSocket. Run it while a booking load runs (deploy/bench/admin-latency does both) to
// check that every operation answers within 100 ms under load.
//
//   flashsale-admin-bench --url ws://127.0.0.1:8080/admin/v1/ws --sale ID [--rounds N]
//
// It logs in as $FLASHSALE_OPERATOR with $FLASHSALE_OPERATOR_PASSWORD, or else with the
// bootstrap token $FLASHSALE_ADMIN_TOKEN (secrets by environment, never argv).
//
// Each round sends, in turn: ping, sale.list, sale.get, sale.adjust (+1 then -1), audit.list,
// reconcile.list, reconcile.run (dry run of --sale), sale.create (a 10-unit sale),
// stats.subscribe (answer and first stats event) and stats.unsubscribe. Prints
// per operation: count, p50, p99 and max in ms, and "max over all".

#include "protocol/adminclient.h"

#include <QCommandLineParser>
#include <QCoreApplication>
#include <QDateTime>
#include <QElapsedTimer>
#include <QMap>
#include <QTimer>

#include <algorithm>
#include <cstdio>

using namespace flashsale::admin;

namespace {

double percentile(QList<double> v, double q) {
    if (v.isEmpty())
        return 0;
    std::sort(v.begin(), v.end());
    const qsizetype i =
        qBound<qsizetype>(0, qsizetype(q * double(v.size()) + 0.5) - 1, v.size() - 1);
    return v[i];
}

} // namespace

int main(int argc, char **argv) {
    QCoreApplication app(argc, argv);
    QCommandLineParser p;
    p.setApplicationDescription(
        QStringLiteral("Admin operation latency, one operation at a time."));
    p.addHelpOption();
    p.addOption(
        {QStringLiteral("url"), QStringLiteral("Admin WebSocket URL."), QStringLiteral("url")});
    p.addOption(
        {QStringLiteral("sale"), QStringLiteral("Sale to operate on."), QStringLiteral("id")});
    p.addOption({QStringLiteral("rounds"), QStringLiteral("Rounds (default 50)."),
                 QStringLiteral("n"), QStringLiteral("50")});
    p.process(app);
    const qint64 sale = p.value(QStringLiteral("sale")).toLongLong();
    const int rounds = p.value(QStringLiteral("rounds")).toInt();
    if (sale <= 0 || rounds <= 0 || !p.isSet(QStringLiteral("url"))) {
        std::fprintf(stderr, "need --url, --sale and a positive --rounds\n");
        return 2;
    }

    AdminClient client;
    QMap<QString, QList<double>> samples;
    struct Step {
        QString name;
        Op op;
        QJsonObject args;
    };
    const QJsonObject one{{"sale_id", sale}};
    const QList<Step> steps{
        {"ping", Op::Ping, {}},
        {"sale.list", Op::SaleList, {{"limit", 20}}},
        {"sale.get", Op::SaleGet, one},
        {"sale.adjust", Op::SaleAdjust, {{"sale_id", sale}, {"delta", 1}}},
        {"sale.adjust", Op::SaleAdjust, {{"sale_id", sale}, {"delta", -1}}},
        {"audit.list", Op::AuditList, {{"sale_id", sale}, {"limit", 20}}},
        {"reconcile.list", Op::ReconcileList, {{"sale_id", sale}, {"limit", 5}}},
        {"reconcile.run", Op::ReconcileRun, one},
        {"sale.create",
         Op::SaleCreate,
         {{"name", "admin bench"},
          {"starts_at", QDateTime::currentDateTimeUtc().toString(Qt::ISODateWithMs)},
          {"ends_at", QDateTime::currentDateTimeUtc().addSecs(3600).toString(Qt::ISODateWithMs)},
          {"stock", 10},
          {"price_cents", 100}}},
        {"stats.subscribe", Op::StatsSubscribe, one},
        {"stats.unsubscribe", Op::StatsUnsubscribe, {}},
    };
    int round = 0;
    qsizetype step = 0;
    int failures = 0;
    QElapsedTimer clock;
    bool waitingForStats = false;
    bool done = false;
    std::function<void()> next;
    QObject::connect(&client, &AdminClient::event, &app,
                     [&](const QString &name, const QJsonObject &) {
                         if (name == QLatin1String("stats") && waitingForStats) {
                             waitingForStats = false;
                             samples[QStringLiteral("stats (first event)")].append(
                                 double(clock.nsecsElapsed()) / 1e6);
                             ++step;
                             next();
                         }
                     });
    next = [&] {
        if (step == steps.size()) {
            step = 0;
            ++round;
        }
        if (round == rounds) {
            done = true;
            app.quit();
            return;
        }
        const Step &s = steps[step];
        clock.start();
        client.request(s.op, s.args, [&, name = s.name, op = s.op](const AdminClient::Reply &r) {
            samples[name].append(double(clock.nsecsElapsed()) / 1e6);
            if (!r.ok) {
                ++failures;
                std::fprintf(stderr, "%s failed: %s\n", qPrintable(name),
                             qPrintable(r.failure.message));
            }
            if (op == Op::StatsSubscribe && r.ok) {
                waitingForStats = true; // the step ends with the first stats event
                return;
            }
            ++step;
            QTimer::singleShot(0, &app, next);
        });
    };
    QObject::connect(&client, &AdminClient::stateChanged, &app, [&](AdminClient::State st) {
        if (st == AdminClient::State::Connected)
            QTimer::singleShot(200, &app, next);
        else if (st == AdminClient::State::Disconnected && !done) {
            std::fprintf(stderr, "disconnected: %s\n", qPrintable(client.lastError()));
            app.exit(1);
        }
    });
    client.open(QUrl(p.value(QStringLiteral("url"))),
                AdminClient::Credentials{qEnvironmentVariable("FLASHSALE_OPERATOR"),
                                         qEnvironmentVariable("FLASHSALE_OPERATOR_PASSWORD"),
                                         qEnvironmentVariable("FLASHSALE_ADMIN_TOKEN")});
    if (app.exec() != 0)
        return 1;
    double worst = 0;
    std::printf("%-22s %6s %9s %9s %9s\n", "operation", "count", "p50_ms", "p99_ms", "max_ms");
    for (auto it = samples.constBegin(); it != samples.constEnd(); ++it) {
        const double max = *std::max_element(it->begin(), it->end());
        worst = std::max(worst, max);
        std::printf("%-22s %6lld %9.2f %9.2f %9.2f\n", qPrintable(it.key()), qlonglong(it->size()),
                    percentile(*it, 0.5), percentile(*it, 0.99), max);
    }
    std::printf("max over all %.2f ms, failures %d\n", worst, failures);
    return failures == 0 ? 0 : 1;
}
