// flashsale-kafka-mock: hosts librdkafka's mock cluster for the local stack when no Kafka
// brokers are configured. It speaks the real Kafka protocol on 127.0.0.1, keeps everything in
// memory (gone when this process ends), and prints the bootstrap servers on stdout and, with
// --bootstrap-file, into that file. It runs until SIGINT or SIGTERM.

#include "core/logging.h"
#include "kafka/kafkaclient.h"

#include <QCommandLineParser>
#include <QCoreApplication>
#include <QSaveFile>

#include <csignal>
#include <cstdio>
#include <unistd.h>

using namespace flashsale;

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
    p.addOptions({brokers, partitions, file});
    p.process(app);
    installLogHandler(false);

    auto cluster = KafkaMockCluster::create(p.value(brokers).toInt(),
                                            {QString::fromLatin1(topics::kOrderCreated),
                                             QString::fromLatin1(topics::kOrderPaid),
                                             QString::fromLatin1(topics::kOrderCancelled)},
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
    delete *cluster;
    return 0;
}
