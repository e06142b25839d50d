#include "kafkaclient.h"

#include "core/logging.h"
#include "metrics/metrics.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <fcntl.h>
#include <unistd.h>

namespace flashsale {

Q_LOGGING_CATEGORY(lcKafka, "flashsale.kafka", QtInfoMsg)

namespace {

[[nodiscard]] Result<rd_kafka_conf_t *> makeConf(const QString &brokers,
                                                 const QHash<QByteArray, QByteArray> &settings) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char err[512];
    QHash<QByteArray, QByteArray> all = settings;
    all.insert("bootstrap.servers", brokers.toUtf8());
    all.insert("client.id", "flashsale");
    // FLASHSALE_KAFKA_DEBUG=cgrp,topic,... turns on librdkafka's own debug contexts.
    if (qEnvironmentVariableIsSet("FLASHSALE_KAFKA_DEBUG"))
        all.insert("debug", qgetenv("FLASHSALE_KAFKA_DEBUG"));
    for (auto it = all.constBegin(); it != all.constEnd(); ++it) {
        if (rd_kafka_conf_set(conf, it.key().constData(), it.value().constData(), err, sizeof err)
            != RD_KAFKA_CONF_OK) {
            rd_kafka_conf_destroy(conf);
            return fail(ErrorCode::Invalid,
                        QStringLiteral("kafka setting %1: %2")
                            .arg(QString::fromUtf8(it.key()), QString::fromUtf8(err)));
        }
    }
    rd_kafka_conf_set_log_cb(
        conf, [](const rd_kafka_t *, int level, const char *fac, const char *buf) {
            if (level <= 3)
                qCWarning(lcKafka).noquote() << fac << buf;
            else if (level <= 5 || qEnvironmentVariableIsSet("FLASHSALE_KAFKA_DEBUG"))
                qCInfo(lcKafka).noquote() << fac << buf;
        });
    return conf;
}

} // namespace

KafkaLoop::KafkaLoop(QObject *parent)
    : QObject(parent) {}

KafkaLoop::~KafkaLoop() {
    for (int fd : m_pipe) {
        if (fd >= 0)
            ::close(fd);
    }
}

void KafkaLoop::watch(void *queue, std::function<void()> serve) {
    m_serve = std::move(serve);
    // A pipe with a one-byte payload (an eventfd would need eight, see PLATFORM.md).
    if (::pipe2(m_pipe, O_NONBLOCK | O_CLOEXEC) == 0) {
        rd_kafka_queue_io_event_enable(static_cast<rd_kafka_queue_t *>(queue), m_pipe[1], "1", 1);
        m_notifier = new QSocketNotifier(m_pipe[0], QSocketNotifier::Read, this);
        connect(m_notifier, &QSocketNotifier::activated, this, [this] {
            char buf[256];
            while (::read(m_pipe[0], buf, sizeof buf) > 0) {
            }
            m_serve();
        });
    }
    m_fallback.setInterval(100);
    connect(&m_fallback, &QTimer::timeout, this, [this] { m_serve(); });
    m_fallback.start();
}

Result<KafkaProducer *> KafkaProducer::create(const QString &brokers,
                                              const QHash<QByteArray, QByteArray> &settings,
                                              QObject *parent) {
    QHash<QByteArray, QByteArray> s = settings;
    s.insert("enable.idempotence", "true");
    s.insert("linger.ms", s.value("linger.ms", "2"));
    auto conf = makeConf(brokers, s);
    if (!conf)
        return std::unexpected(conf.error());
    rd_kafka_conf_set_dr_msg_cb(*conf, &KafkaProducer::onDelivery);
    char err[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, *conf, err, sizeof err);
    if (!rk) {
        rd_kafka_conf_destroy(*conf);
        return fail(ErrorCode::Internal,
                    QStringLiteral("kafka producer: %1").arg(QString::fromUtf8(err)));
    }
    auto *p = new KafkaProducer(parent);
    p->m_rk = rk;
    p->m_queue = rd_kafka_queue_get_main(rk);
    p->watch(p->m_queue, [p] {
        while (rd_kafka_poll(p->m_rk, 0) > 0) {
        }
    });
    return p;
}

KafkaProducer::KafkaProducer(QObject *parent)
    : KafkaLoop(parent) {}

KafkaProducer::~KafkaProducer() {
    if (m_query.joinable())
        m_query.join();
    if (m_rk) {
        rd_kafka_flush(m_rk, 2000);
        rd_kafka_queue_destroy(static_cast<rd_kafka_queue_t *>(m_queue));
        rd_kafka_destroy(m_rk);
    }
}

void KafkaProducer::produce(const QByteArray &topic, const QByteArray &key, const QByteArray &value,
                            Delivered delivered) {
    producePlaced(topic, key, value,
                  [delivered = std::move(delivered)](const Result<Placement> &r) {
                      if (r)
                          delivered(Result<void>{});
                      else
                          delivered(std::unexpected(r.error()));
                  });
}

void KafkaProducer::producePlaced(const QByteArray &topic, const QByteArray &key,
                                  const QByteArray &value, Placed placed) {
    auto *callback = new Placed(std::move(placed));
    const rd_kafka_resp_err_t err = rd_kafka_producev(
        m_rk, RD_KAFKA_V_TOPIC(topic.constData()),
        RD_KAFKA_V_KEY(key.constData(), size_t(key.size())),
        RD_KAFKA_V_VALUE(const_cast<char *>(value.constData()), size_t(value.size())),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(callback), RD_KAFKA_V_END);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        (*callback)(fail(ErrorCode::Unavailable, QString::fromUtf8(rd_kafka_err2str(err))));
        delete callback;
        return;
    }
}

void KafkaProducer::onDelivery(rd_kafka_s *, const rd_kafka_message_s *msg, void *) {
    auto *callback = static_cast<Placed *>(msg->_private);
    if (!callback)
        return;
    if (msg->err)
        (*callback)(fail(ErrorCode::Unavailable, QString::fromUtf8(rd_kafka_err2str(msg->err))));
    else
        (*callback)(Placement{int(msg->partition), qint64(msg->offset)});
    delete callback;
}

void KafkaProducer::queryWatermarks(QList<Watermark> wanted, int timeoutMs,
                                    std::function<void(const QList<Watermark> &)> done) {
    if (m_query.joinable())
        m_query.join(); // the previous query has answered, or is about to
    m_query = std::thread(
        [this, rk = m_rk, wanted = std::move(wanted), timeoutMs, done = std::move(done)]() mutable {
            bool reachable = true; // after one failure the rest would each wait out the timeout
            for (Watermark &w : wanted) {
                if (!reachable)
                    continue;
                int64_t low = 0;
                int64_t high = 0;
                const rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(
                    rk, w.topic.constData(), w.partition, &low, &high, timeoutMs);
                if (!e)
                    w.high = high;
                else if (e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART
                         || e == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC
                         || e == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION)
                    w.high = 0;
                else
                    reachable = false;
            }
            QMetaObject::invokeMethod(
                this, [wanted = std::move(wanted), done = std::move(done)] { done(wanted); },
                Qt::QueuedConnection);
        });
}

Result<KafkaConsumer *> KafkaConsumer::create(const QString &brokers, const QString &group,
                                              const QStringList &topicList, Handler handler,
                                              int maxInFlight, QObject *parent) {
    auto conf = makeConf(brokers, {{"group.id", group.toUtf8()},
                                   {"enable.auto.commit", "false"},
                                   {"auto.offset.reset", "earliest"},
                                   {"enable.partition.eof", "false"},
                                   // A killed member is noticed in 6 s (the broker's minimum), and
                                   // a rebalance waits at most 60 s for members to rejoin. The
                                   // loop polls every 100 ms even while saturated, so a live
                                   // member never exceeds the poll interval.
                                   {"session.timeout.ms", "6000"},
                                   // A fetch waits at most 50 ms for data to arrive (the mock
                                   // cluster waits the whole time): event latency, not load.
                                   {"fetch.wait.max.ms", "50"},
                                   {"max.poll.interval.ms", "60000"}});
    if (!conf)
        return std::unexpected(conf.error());
    char err[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, *conf, err, sizeof err);
    if (!rk) {
        rd_kafka_conf_destroy(*conf);
        return fail(ErrorCode::Internal,
                    QStringLiteral("kafka consumer: %1").arg(QString::fromUtf8(err)));
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *subscription =
        rd_kafka_topic_partition_list_new(int(topicList.size()));
    for (const QString &t : topicList)
        rd_kafka_topic_partition_list_add(subscription, t.toUtf8().constData(),
                                          RD_KAFKA_PARTITION_UA);
    const rd_kafka_resp_err_t e = rd_kafka_subscribe(rk, subscription);
    rd_kafka_topic_partition_list_destroy(subscription);
    if (e) {
        rd_kafka_destroy(rk);
        return fail(ErrorCode::Internal,
                    QStringLiteral("subscribe: %1").arg(QString::fromUtf8(rd_kafka_err2str(e))));
    }
    auto *c = new KafkaConsumer(parent);
    c->m_rk = rk;
    c->m_handler = std::move(handler);
    c->m_group = group.toUtf8();
    c->m_maxInFlight = maxInFlight;
    c->m_queue = rd_kafka_queue_get_consumer(rk);
    c->watch(c->m_queue, [c] { c->serve(); });
    return c;
}

KafkaConsumer::KafkaConsumer(QObject *parent)
    : KafkaLoop(parent) {}

KafkaConsumer::~KafkaConsumer() {
    if (m_rk) {
        rd_kafka_queue_destroy(static_cast<rd_kafka_queue_t *>(m_queue));
        rd_kafka_consumer_close(m_rk);
        rd_kafka_destroy(m_rk);
    }
}

void KafkaConsumer::serve() {
    // Poll even when saturated (the partitions are paused then): polling keeps this member in
    // its group. A message that still arrives (a new assignment is not paused yet) is handled.
    for (;;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(m_rk, 0);
        if (!m)
            break;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                qCWarning(lcKafka).noquote() << "consumer:" << rd_kafka_message_errstr(m);
            rd_kafka_message_destroy(m);
            continue;
        }
        KafkaMessage msg;
        msg.topic = rd_kafka_topic_name(m->rkt);
        msg.partition = int(m->partition);
        msg.offset = m->offset;
        msg.key = QByteArray(static_cast<const char *>(m->key), qsizetype(m->key_len));
        msg.value = QByteArray(static_cast<const char *>(m->payload), qsizetype(m->len));
        rd_kafka_message_destroy(m);

        Partition &p = m_partitions[{msg.topic, msg.partition}];
        p.open.insert(msg.offset);
        p.highestSeen = std::max(p.highestSeen, msg.offset);
        ++m_inFlight;
        auto once = std::make_shared<bool>(false);
        m_handler(msg,
                  [this, once, topic = msg.topic, partition = msg.partition, offset = msg.offset] {
                      if (std::exchange(*once, true))
                          return;
                      finished(topic, partition, offset);
                  });
        if (m_inFlight >= m_maxInFlight)
            setPaused(true);
    }
}

void KafkaConsumer::finished(const QByteArray &topic, int partition, qint64 offset) {
    --m_inFlight;
    Partition &p = m_partitions[{topic, partition}];
    p.open.erase(offset);
    // Everything below the oldest unfinished message is done: commit up to there.
    const qint64 next = p.open.empty() ? p.highestSeen + 1 : *p.open.begin();
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, topic.constData(), partition)->offset = next;
    rd_kafka_commit(m_rk, list, 1);
    rd_kafka_topic_partition_list_destroy(list);
    if (m_paused && m_inFlight < m_maxInFlight / 2)
        setPaused(false);
}

qint64 KafkaConsumer::lag() const {
    qint64 total = 0;
    for (auto it = m_partitions.constBegin(); it != m_partitions.constEnd(); ++it) {
        int64_t low = 0, high = 0;
        if (rd_kafka_get_watermark_offsets(m_rk, it.key().first.constData(), it.key().second, &low,
                                           &high)
            != RD_KAFKA_RESP_ERR_NO_ERROR)
            continue;
        const Partition &p = it.value();
        const qint64 next = p.open.empty() ? p.highestSeen + 1 : *p.open.begin();
        const qint64 lag = qMax<qint64>(0, qint64(high) - next);
        total += lag;
        // flashsale_kafka_consumer_lag{group,topic,partition}: resolved once per partition.
        if (!p.lagGauge)
            p.lagGauge = &Metrics::instance().gauge(
                "flashsale_kafka_consumer_lag",
                "Messages on the partition not yet finished by this consumer group (high "
                "watermark librdkafka last saw minus the next offset to commit).",
                "group=\"" + labelValue(m_group) + "\",topic=\"" + labelValue(it.key().first)
                    + "\",partition=\"" + QByteArray::number(it.key().second) + '"');
        p.lagGauge->set(lag);
    }
    return total;
}

void KafkaConsumer::setPaused(bool paused) {
    if (m_paused == paused)
        return;
    rd_kafka_topic_partition_list_t *assigned = nullptr;
    if (rd_kafka_assignment(m_rk, &assigned) != RD_KAFKA_RESP_ERR_NO_ERROR || !assigned)
        return;
    if (paused)
        rd_kafka_pause_partitions(m_rk, assigned);
    else
        rd_kafka_resume_partitions(m_rk, assigned);
    rd_kafka_topic_partition_list_destroy(assigned);
    m_paused = paused;
}

Result<KafkaMockCluster *> KafkaMockCluster::create(int brokers, const QStringList &topicList,
                                                    int partitions) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char err[512];
    // The host handle connects nowhere; only its mock cluster matters, so hush its notices.
    rd_kafka_conf_set(conf, "log_level", "4", err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk)
        return fail(ErrorCode::Internal, QString::fromUtf8(err));
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, brokers);
    if (!mc) {
        rd_kafka_destroy(rk);
        return fail(ErrorCode::Internal, QStringLiteral("cannot create the mock cluster"));
    }
    for (const QString &t : topicList)
        rd_kafka_mock_topic_create(mc, t.toUtf8().constData(), partitions, std::min(3, brokers));
    auto *c = new KafkaMockCluster;
    c->m_rk = rk;
    c->m_cluster = mc;
    return c;
}

KafkaMockCluster::~KafkaMockCluster() {
    rd_kafka_mock_cluster_destroy(static_cast<rd_kafka_mock_cluster_t *>(m_cluster));
    rd_kafka_destroy(m_rk);
}

QString KafkaMockCluster::bootstraps() const {
    return QString::fromUtf8(
        rd_kafka_mock_cluster_bootstraps(static_cast<rd_kafka_mock_cluster_t *>(m_cluster)));
}

void KafkaMockCluster::pushRequestErrors(int apiKey, int count, int error) {
    QVarLengthArray<rd_kafka_resp_err_t> errs;
    for (int i = 0; i < count; ++i)
        errs.append(rd_kafka_resp_err_t(error));
    rd_kafka_mock_push_request_errors_array(static_cast<rd_kafka_mock_cluster_t *>(m_cluster),
                                            int16_t(apiKey), size_t(count), errs.data());
}

bool KafkaMockCluster::setBrokerDown(int id, bool down) {
    auto *mc = static_cast<rd_kafka_mock_cluster_t *>(m_cluster);
    const rd_kafka_resp_err_t e =
        down ? rd_kafka_mock_broker_set_down(mc, id) : rd_kafka_mock_broker_set_up(mc, id);
    return e == RD_KAFKA_RESP_ERR_NO_ERROR;
}

bool KafkaMockCluster::setBrokerRtt(int id, int ms) {
    return rd_kafka_mock_broker_set_rtt(static_cast<rd_kafka_mock_cluster_t *>(m_cluster), id, ms)
           == RD_KAFKA_RESP_ERR_NO_ERROR;
}

Result<int> KafkaMockCluster::errorCode(const QString &name) {
    bool isNumber = false;
    const int n = name.toInt(&isNumber);
    if (isNumber)
        return n;
    QString wanted = name.trimmed().toUpper();
    if (wanted.startsWith(QLatin1String("RD_KAFKA_RESP_ERR_")))
        wanted = wanted.mid(18);
    const rd_kafka_err_desc *descs = nullptr;
    size_t count = 0;
    rd_kafka_get_err_descs(&descs, &count);
    for (size_t i = 0; i < count; ++i) {
        if (descs[i].name && wanted == QLatin1String(descs[i].name))
            return int(descs[i].code);
    }
    return fail(ErrorCode::Invalid, QStringLiteral("unknown Kafka error %1").arg(name));
}

} // namespace flashsale
