// flashsale-kafka-mock: hosts librdkafka's mock cluster for the local stack when no Kafka
// brokers are configured. It speaks the real Kafka protocol on 127.0.0.1, keeps everything in
// memory (gone when this process ends), and prints the bootstrap servers on stdout and, with
// --bootstrap-file, into that file. It runs until SIGINT or SIGTERM.
//
// --control-fifo PATH creates a FIFO there and reads fault injections from it, one per line, so
// the fault matrix (deploy/bench/faults) can break the cluster mid-run:
//
//   produce-errors <count> <error>    the next <count> Produce requests fail with <error>
//   request-errors <api-key> <count> <error>   the same for any API (1 Fetch, 8 OffsetCommit...)
//   broker-down <id> | broker-up <id>  a broker (1..brokers) drops and refuses connections
//   broker-rtt <id> <ms>               a broker answers <ms> late
//
// <error> is a librdkafka error name (NOT_LEADER_FOR_PARTITION, _TRANSPORT, ...) or number. Each
// line is logged with "control:" and whether it applied.

#include "core/logging.h"
#include "kafka/kafkaclient.h"

#include <QCommandLineParser>
#include <QCoreApplication>
#include <QFile>
#include <QSaveFile>

#include <csignal>
#include <cstdio>
#include <fcntl.h>
#include <mutex>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

using namespace flashsale;

namespace {

std::mutex g_clusterMutex; // the control thread against the destruction at exit

// Applies one control line to the cluster; returns what to log.
QString applyControl(KafkaMockCluster &cluster, const QString &line) {
    const QStringList w = line.simplified().split(QLatin1Char(' '), Qt::SkipEmptyParts);
    if (w.isEmpty())
        return {};
    const QString &cmd = w.first();
    auto number = [&w](int i, int *out) {
        bool ok = false;
        *out = i < w.size() ? w.at(i).toInt(&ok) : 0;
        return ok;
    };
    int a = 0;
    int b = 0;
    if ((cmd == QLatin1String("produce-errors") && w.size() == 3 && number(1, &b))
        || (cmd == QLatin1String("request-errors") && w.size() == 4 && number(1, &a)
            && number(2, &b))) {
        const auto err = KafkaMockCluster::errorCode(w.last());
        if (!err)
            return QStringLiteral("error: %1").arg(err.error().message);
        if (b < 1 || b > 100000)
            return QStringLiteral("error: count must be 1 to 100000");
        cluster.pushRequestErrors(a, b, *err); // a stays 0 (Produce) for produce-errors
        return QStringLiteral("ok: next %1 requests of API %2 fail with %3 (%4)")
            .arg(b)
            .arg(a)
            .arg(w.last())
            .arg(*err);
    }
    if ((cmd == QLatin1String("broker-down") || cmd == QLatin1String("broker-up")) && w.size() == 2
        && number(1, &a)) {
        const bool down = cmd == QLatin1String("broker-down");
        return cluster.setBrokerDown(a, down)
                   ? QStringLiteral("ok: broker %1 %2").arg(a).arg(down ? "down" : "up")
                   : QStringLiteral("error: no broker %1").arg(a);
    }
    if (cmd == QLatin1String("broker-rtt") && w.size() == 3 && number(1, &a) && number(2, &b)) {
        return cluster.setBrokerRtt(a, b) ? QStringLiteral("ok: broker %1 rtt %2 ms").arg(a).arg(b)
                                          : QStringLiteral("error: no broker %1").arg(a);
    }
    return QStringLiteral("error: unknown command");
}

// Reads control lines from the FIFO at `path` forever (opened read-write, so a writer closing
// it is no end of file). Runs on its own thread; the process ends it by exiting.
void readControl(KafkaMockCluster *cluster, const QByteArray path) {
    const int fd = ::open(path.constData(), O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        qCCritical(lcKafka).noquote() << "control: cannot open" << path;
        return;
    }
    FILE *in = ::fdopen(fd, "r");
    char buf[512];
    while (in && std::fgets(buf, sizeof buf, in)) {
        const QString line = QString::fromUtf8(buf).trimmed();
        std::lock_guard lock(g_clusterMutex);
        const QString result = applyControl(*cluster, line);
        if (!result.isEmpty())
            qCWarning(lcKafka).noquote() << "control:" << line << "->" << result;
    }
}

} // namespace

int main(int argc, char *argv[]) {
    QCoreApplication app(argc, argv);
    QCommandLineParser p;
    p.setApplicationDescription(
        QStringLiteral("An in-memory Kafka cluster (librdkafka's mock) for the local stack."));
    p.addHelpOption();
    const QCommandLineOption brokers(QStringLiteral("brokers"), QStringLiteral("Brokers."),
                                     QStringLiteral("n"), QStringLiteral("3"));
    const QCommandLineOption partitions(QStringLiteral("partitions"),
                                        QStringLiteral("Partitions per topic."),
                                        QStringLiteral("n"), QStringLiteral("6"));
    const QCommandLineOption file(QStringLiteral("bootstrap-file"),
                                  QStringLiteral("Write the bootstrap servers here."),
                                  QStringLiteral("path"));
    const QCommandLineOption control(
        QStringLiteral("control-fifo"),
        QStringLiteral("Create a FIFO here and read fault injections from it (see the source)."),
        QStringLiteral("path"));
    p.addOptions({brokers, partitions, file, control});
    p.process(app);
    installLogHandler(false);

    auto cluster = KafkaMockCluster::create(p.value(brokers).toInt(), topics::orderLifecycle(),
                                            p.value(partitions).toInt());
    if (!cluster) {
        std::fprintf(stderr, "flashsale-kafka-mock: %s\n", qPrintable(cluster.error().message));
        return 1;
    }
    const QString bootstraps = (*cluster)->bootstraps();
    if (p.isSet(file)) {
        QSaveFile f(p.value(file));
        if (!f.open(QIODevice::WriteOnly) || f.write(bootstraps.toUtf8() + '\n') < 0
            || !f.commit()) {
            std::fprintf(stderr, "flashsale-kafka-mock: cannot write %s\n",
                         qPrintable(p.value(file)));
            return 1;
        }
    }
    if (p.isSet(control)) {
        const QByteArray path = QFile::encodeName(p.value(control));
        ::unlink(path.constData());
        if (::mkfifo(path.constData(), 0600) != 0) {
            std::fprintf(stderr, "flashsale-kafka-mock: cannot create the FIFO %s\n",
                         path.constData());
            return 1;
        }
        std::thread(readControl, *cluster, path).detach();
    }
    std::printf("%s\n", qPrintable(bootstraps));
    std::fflush(stdout);
    qCWarning(lcKafka).noquote()
        << "IN-MEMORY MOCK Kafka cluster (librdkafka rdkafka_mock) with" << p.value(brokers)
        << "brokers at" << bootstraps
        << "- for local use and tests only; every message is lost when it stops";

    // Wait for a signal without a busy loop: the mock cluster runs on librdkafka's threads.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    int sig = 0;
    sigwait(&set, &sig);
    std::lock_guard lock(g_clusterMutex);
    if (p.isSet(control))
        ::unlink(QFile::encodeName(p.value(control)).constData());
    delete *cluster;
    return 0;
}
