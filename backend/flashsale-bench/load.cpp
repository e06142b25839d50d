// `flashsale-bench load`: parses the options, runs one LoadWorker per thread, merges what they
// saw and writes the report and the ledger from this thread once they are done, so no file
// write ever sits on a load loop.

#include "bench.h"
#include "ledger.h"
#include "loadconfig.h"
#include "loadresults.h"
#include "loadworker.h"

#include <QDateTime>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QSaveFile>

#include <csignal>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

namespace flashsale::bench {

namespace {

void onStopSignal(int) {
    LoadWorker::requestStop();
}

QString isoNow() {
    return QDateTime::currentDateTimeUtc().toString(Qt::ISODateWithMs);
}

QJsonObject runLine(const LoadConfig &c, const QString &startedAt) {
    QJsonArray urls;
    for (const BaseUrl &u : c.urls)
        urls.append(u.text);
    return QJsonObject{{"type", "run"},
                       {"sale_id", c.saleId},
                       {"flow", c.flow == LoadConfig::Flow::Book ? "book" : "checkout"},
                       {"users", c.users},
                       {"urls", urls},
                       {"started_at", startedAt}};
}

bool writeLedger(const LoadConfig &c, const LoadResults &r, const QString &startedAt) {
    LedgerWriter w;
    QString error;
    if (!w.open(c.ledgerPath, &error)) {
        std::fprintf(stderr, "flashsale-bench load: %s\n", qPrintable(error));
        return false;
    }
    w.write(runLine(c, startedAt));
    for (const LedgerBooking &b : r.acceptedLines) {
        w.write(QJsonObject{{"type", "accepted"},
                            {"user", b.user},
                            {"key", b.key},
                            {"reservation_id", b.reservationId},
                            {"item_id", b.itemId},
                            {"quantity", b.quantity},
                            {"replayed", b.replayed}});
    }
    for (const LedgerBooking &b : r.unknownLines) {
        w.write(QJsonObject{{"type", "unknown"},
                            {"user", b.user},
                            {"key", b.key},
                            {"item_id", b.itemId},
                            {"quantity", b.quantity},
                            {"reason", b.reason}});
    }
    for (const auto &[user, reservation] : r.confirmedLines)
        w.write(
            QJsonObject{{"type", "confirmed"}, {"user", user}, {"reservation_id", reservation}});
    w.write(QJsonObject{{"type", "end"},
                        {"finished_at", isoNow()},
                        {"requests", r.requests},
                        {"by_status", LoadResults::byStatusJson(r.byStatus)}});
    w.flush();
    return true;
}

bool writeReport(const QString &path, const QJsonObject &report) {
    QSaveFile f(path);
    if (!f.open(QIODevice::WriteOnly)) {
        std::fprintf(stderr, "flashsale-bench load: cannot write %s: %s\n", qPrintable(path),
                     qPrintable(f.errorString()));
        return false;
    }
    f.write(QJsonDocument(report).toJson(QJsonDocument::Indented));
    if (!f.commit()) {
        std::fprintf(stderr, "flashsale-bench load: cannot write %s: %s\n", qPrintable(path),
                     qPrintable(f.errorString()));
        return false;
    }
    return true;
}

} // namespace

int runLoad(const QStringList &args) {
    bool help = false;
    const auto parsed = parseLoadConfig(args, &help);
    if (help) {
        std::fputs(qPrintable(loadHelpText()), stdout);
        return 0;
    }
    if (!parsed) {
        std::fprintf(stderr, "flashsale-bench load: %s\n(see flashsale-bench load --help)\n",
                     qPrintable(parsed.error()));
        return 2;
    }
    const LoadConfig &config = *parsed;

    // Check the files can be written before spending a run on them.
    for (const QString &path : {config.ledgerPath, config.reportPath}) {
        if (path.isEmpty())
            continue;
        QFile f(path);
        if (!f.open(QIODevice::WriteOnly | QIODevice::Append)) {
            std::fprintf(stderr, "flashsale-bench load: cannot write %s: %s\n", qPrintable(path),
                         qPrintable(f.errorString()));
            return 1;
        }
    }

    qint64 startUs = LoadWorker::nowUs();
    if (config.startAtMs > 0) {
        const qint64 ahead = config.startAtMs - QDateTime::currentMSecsSinceEpoch();
        startUs += ahead * 1000;
        if (!config.quiet)
            std::fprintf(stdout, "waiting %.3f s for %s\n", double(ahead) / 1000.0,
                         qPrintable(QDateTime::fromMSecsSinceEpoch(config.startAtMs, Qt::UTC)
                                        .toString(Qt::ISODateWithMs)));
    }
    // The ledger's run line says when the load began: the opening it waited for, if any.
    const QString startedAt =
        config.startAtMs > 0
            ? QDateTime::fromMSecsSinceEpoch(config.startAtMs, Qt::UTC).toString(Qt::ISODateWithMs)
            : isoNow();

    // Ctrl-C ends the run early but still writes the ledger and the report: an interrupted
    // rehearsal must not leave the checker without the bookings it made.
    struct sigaction sa {};
    sa.sa_handler = onStopSignal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);

    std::vector<std::unique_ptr<LoadWorker>> workers;
    std::vector<QString> errors(size_t(config.threads));
    std::vector<std::thread> threads;
    for (int i = 0; i < config.threads; ++i)
        workers.push_back(std::make_unique<LoadWorker>(config, i, startUs));
    for (int i = 0; i < config.threads; ++i) {
        threads.emplace_back([&workers, &errors, i] {
            QString error;
            if (!workers[size_t(i)]->run(&error))
                errors[size_t(i)] = error;
        });
    }
    for (std::thread &t : threads)
        t.join();
    for (const QString &e : errors) {
        if (!e.isEmpty()) {
            std::fprintf(stderr, "flashsale-bench load: %s\n", qPrintable(e));
            return 1;
        }
    }

    LoadResults total;
    for (const auto &w : workers)
        total.merge(w->results());
    workers.clear();

    bool ok = true;
    if (!config.ledgerPath.isEmpty())
        ok = writeLedger(config, total, startedAt) && ok;
    if (!config.reportPath.isEmpty())
        ok = writeReport(config.reportPath, total.report()) && ok;
    if (!config.quiet)
        std::fprintf(stdout, "%s\n", qPrintable(total.summary()));
    if (LoadWorker::stopRequested())
        std::fprintf(stderr, "flashsale-bench load: interrupted; the report and the ledger cover "
                             "what ran until then\n");
    return ok ? 0 : 1;
}

} // namespace flashsale::bench
