#include "buyerlive.h"

#include "booking/salekeys.h"
#include "booking/salephase.h"
#include "booking/waitingroom.h"
#include "core/logging.h"
#include "http/guardedtcpserver.h"
#include "http/websocketlimits.h"
#include "pg/pgconnection.h"
#include "redis/redisclient.h"

#include <QDateTime>
#include <QJsonDocument>

#include <cmath>

namespace flashsale {

namespace {

constexpr int kTickMs = 1000;
constexpr int kMaxBuyerMessageBytes = 4096; // larger ones get a typed error
// A buyer sends pings of a few dozen bytes: a 64 KiB message or frame closes the socket (1009).
// Ticks are about 300 bytes a second, so 128 KiB waiting means the page stopped reading minutes
// ago: it is dropped (1008).
constexpr WebSocketLimits kBuyerLimits{"buyer", 64 << 10, 64 << 10, 128 << 10};
constexpr int kCloseUnknownSale = 4404;

QByteArray compact(const QJsonObject &o) {
    return QJsonDocument(o).toJson(QJsonDocument::Compact);
}

QJsonObject errorMessage(const QString &code, const QString &message) {
    return QJsonObject{{"type", "error"}, {"code", code}, {"message", message}};
}

QJsonObject makeTick(qint64 saleId, qint64 now, const QString &state, qint64 starts, qint64 ends,
                     const QJsonValue &remaining, bool warm) {
    const QString phase = salePhase(state, warm, now, starts, ends);
    return QJsonObject{{"type", "tick"},
                       {"sale_id", saleId},
                       {"server_time_ms", double(now)},
                       {"phase", phase},
                       {"state", state},
                       {"starts_at_ms", double(starts)},
                       {"ends_at_ms", double(ends)},
                       {"starts_in_ms", double(qMax<qint64>(0, starts - now))},
                       {"ends_in_ms", double(qMax<qint64>(0, ends - now))},
                       {"remaining", remaining}};
}

// The waiting room's line, sale-wide: the same bytes for every socket of the sale. A page
// computes its own place from it: ahead = max(0, rank - 1 - cursor), and the ETA and "likely to
// sell out" as QueueLine does (docs/WAITING_ROOM.md, "Position and ETA").
QJsonObject queueJson(qint64 now, const QString &saleState, qint64 ends, qint64 lobbyMs,
                      qint64 closeMs, const QueueLine &l) {
    const bool open = (saleState == QLatin1String("active") || saleState == QLatin1String("paused"))
                      && now < ends;
    const QString state = !open              ? QStringLiteral("closed")
                          : l.remaining <= 0 ? QStringLiteral("sold-out")
                          : now < closeMs    ? QStringLiteral("lobby")
                          : !l.sealed        ? QStringLiteral("sealing")
                          : l.paused         ? QStringLiteral("paused")
                                             : QStringLiteral("admitting");
    const auto rate = l.measuredPerMinute(now);
    return QJsonObject{
        {"state", state},
        {"lobby_opens_at_ms", double(lobbyMs)},
        {"cohort_closes_at_ms", double(closeMs)},
        {"cohort_size", l.sealed ? QJsonValue(double(l.cohortSize)) : QJsonValue()},
        {"cursor", double(l.cursor)},
        {"outstanding", double(l.outstanding)},
        {"remaining", double(l.remaining)},
        {"admit_rate_per_minute", rate ? QJsonValue(std::round(*rate * 10) / 10) : QJsonValue()},
        {"admit_per_minute", double(l.admitPerMinute)},
    };
}

} // namespace

BuyerLiveHub::BuyerLiveHub(RedisCommands &redis, PgConnection &pg, int idleMs, QObject *parent)
    : QObject(parent)
    , m_redis(redis)
    , m_pg(pg)
    , m_live(RedisScript::load(QStringLiteral("live")))
    , m_idleMs(idleMs) {}

BuyerLiveHub::~BuyerLiveHub() {
    for (Channel *c : std::as_const(m_channels)) {
        for (QWebSocket *s : std::as_const(c->sockets)) {
            s->disconnect(this);
            delete s;
        }
        delete c;
    }
}

qsizetype BuyerLiveHub::watcherCount() const {
    qsizetype n = 0;
    for (const Channel *c : m_channels)
        n += c->sockets.size();
    return n;
}

void BuyerLiveHub::accept(std::unique_ptr<QWebSocket> owned, qint64 saleId) {
    QWebSocket *socket = owned.release();
    socket->setParent(this);
    kBuyerLimits.apply(*socket, m_idleMs);
    Channel *&c = m_channels[saleId];
    const bool fresh = c == nullptr;
    if (fresh) {
        c = new Channel;
        c->timer.setTimerType(Qt::PreciseTimer);
        connect(&c->timer, &QTimer::timeout, this, [this, saleId] { tick(saleId); });
        c->opening.setSingleShot(true);
        c->opening.setTimerType(Qt::PreciseTimer);
        connect(&c->opening, &QTimer::timeout, this, [this, saleId] { tick(saleId); });
        c->timer.start(kTickMs);
    }
    c->at.insert(socket, c->sockets.size());
    c->sockets.append(socket);
    m_raw.insert(socket, GuardedSocket::underWebSocket(*socket));
    connect(socket, &QWebSocket::textMessageReceived, this,
            [this, socket](const QString &text) { onText(socket, text); });
    connect(socket, &QWebSocket::binaryMessageReceived, this, [socket] {
        kBuyerLimits.sendText(
            *socket, QString::fromUtf8(compact(errorMessage(QStringLiteral("bad-message"),
                                                            QStringLiteral("Send JSON text.")))));
    });
    connect(socket, &QWebSocket::disconnected, this,
            [this, socket, saleId] { remove(socket, saleId); });
    if (!c->last.isEmpty() && !fresh)
        kBuyerLimits.sendText(*socket, QString::fromUtf8(compact(c->last)));
    else
        tick(saleId);
}

void BuyerLiveHub::remove(QWebSocket *socket, qint64 saleId) {
    m_raw.remove(socket);
    Channel *c = m_channels.value(saleId);
    if (c) {
        // The last socket takes the leaving one's place: a crowd leaving at once (the end of
        // a sale) costs O(1) each, not a scan of everyone still watching.
        const auto it = c->at.constFind(socket);
        if (it != c->at.cend()) {
            const qsizetype i = it.value();
            c->at.erase(it);
            QWebSocket *last = c->sockets.takeLast();
            if (last != socket) {
                c->sockets[i] = last;
                c->at[last] = i;
            }
        }
        if (c->sockets.isEmpty()) {
            m_channels.remove(saleId);
            delete c;
        }
    }
    socket->deleteLater();
}

void BuyerLiveHub::onText(QWebSocket *socket, const QString &text) {
    auto reply = [socket](const QJsonObject &o) {
        kBuyerLimits.sendText(*socket, QString::fromUtf8(compact(o)));
    };
    if (text.size() > kMaxBuyerMessageBytes)
        return reply(errorMessage(
            QStringLiteral("message-too-large"),
            QStringLiteral("Messages are at most %1 bytes.").arg(kMaxBuyerMessageBytes)));
    QJsonParseError error;
    const QJsonDocument doc = QJsonDocument::fromJson(text.toUtf8(), &error);
    if (error.error != QJsonParseError::NoError || !doc.isObject())
        return reply(errorMessage(QStringLiteral("bad-json"),
                                  QStringLiteral("Send one JSON object, e.g. "
                                                 "{\"type\":\"ping\",\"client_time_ms\":0}.")));
    const QJsonObject o = doc.object();
    if (o.value("type").toString() != QLatin1String("ping"))
        return reply(errorMessage(QStringLiteral("unknown-type"),
                                  QStringLiteral("The only message a buyer sends is \"ping\".")));
    const QJsonValue client = o.value("client_time_ms");
    if (!client.isDouble())
        return reply(errorMessage(QStringLiteral("bad-message"),
                                  QStringLiteral("client_time_ms must be a number.")));
    reply(
        QJsonObject{{"type", "pong"},
                    {"client_time_ms", client},
                    {"server_time_ms", double(QDateTime::currentMSecsSinceEpoch() + m_offsetMs)}});
}

void BuyerLiveHub::tick(qint64 saleId) {
    Channel *c = m_channels.value(saleId);
    if (!c || c->reading)
        return;
    c->reading = true;
    const SaleKeys k(saleId);
    const qint64 askedAt = QDateTime::currentMSecsSinceEpoch();
    m_redis.eval(
        m_live, {k.meta(), k.stock(), k.waitingRoomMeta(), k.waitingRoomAdmitted()}, {},
        [this, saleId, askedAt](const Result<RedisValue> &r) {
            Channel *c = m_channels.value(saleId);
            if (!c)
                return;
            c->reading = false;
            if (!r || r->isError() || !r->isArray())
                return; // Redis is away: keep the last tick; buyers keep counting locally
            if (r->elements.isEmpty()) {
                // Not warm yet: PostgreSQL knows whether it exists and when it starts.
                c->reading = true;
                m_pg.query(
                    "SELECT state, (extract(epoch FROM starts_at) * 1000)::bigint, "
                    "(extract(epoch FROM ends_at) * 1000)::bigint FROM sales WHERE id = $1",
                    {QByteArray::number(saleId)}, [this, saleId](const Result<PgResult> &q) {
                        Channel *c = m_channels.value(saleId);
                        if (!c)
                            return;
                        c->reading = false;
                        if (!q)
                            return;
                        if (q->rows.isEmpty())
                            return dropSale(saleId, QStringLiteral("No sale %1.").arg(saleId));
                        const auto &row = q->rows.first();
                        publish(saleId,
                                makeTick(saleId, QDateTime::currentMSecsSinceEpoch() + m_offsetMs,
                                         QString::fromUtf8(row[0]), row[1].toLongLong(),
                                         row[2].toLongLong(), QJsonValue(), false));
                    });
                return;
            }
            const qint64 now = r->elements[0].toInt();
            const qint64 local = QDateTime::currentMSecsSinceEpoch();
            m_offsetMs = now - (askedAt + local) / 2;
            const QString state = QString::fromUtf8(r->elements[1].bytes());
            const qint64 ends = r->elements[3].toInt();
            QJsonObject tick = makeTick(saleId, now, state, r->elements[2].toInt(), ends,
                                        double(r->elements[4].toInt()), true);
            if (const auto line = QueueLine::fromReply(*r, 7))
                tick.insert(QStringLiteral("queue"),
                            queueJson(now, state, ends, r->elements[5].toInt(),
                                      r->elements[6].toInt(), *line));
            publish(saleId, tick);
        });
}

void BuyerLiveHub::publish(qint64 saleId, const QJsonObject &tick) {
    Channel *c = m_channels.value(saleId);
    if (!c)
        return;
    c->last = tick;
    // Encoded once into a whole frame, written to each socket in one call: per socket, a send()
    // and nothing else (docs/BENCHMARKS.md, "100,000 buyer live sockets").
    const WebSocketLimits::TextFrame message(compact(tick));
    // A copy: a socket dropped for not reading may leave the channel (and end it) meanwhile.
    const QList<QWebSocket *> sockets = c->sockets;
    for (QWebSocket *s : sockets)
        kBuyerLimits.sendText(*s, m_raw.value(s).data(), message);
    c = m_channels.value(saleId);
    if (!c)
        return;
    // Less than a tick to the opening: push one more exactly then.
    const qint64 startsIn = qint64(tick.value("starts_in_ms").toDouble());
    if (startsIn > 0 && startsIn < kTickMs && !c->opening.isActive())
        c->opening.start(int(startsIn));
}

void BuyerLiveHub::dropSale(qint64 saleId, const QString &message) {
    Channel *c = m_channels.take(saleId);
    if (!c)
        return;
    const QString text =
        QString::fromUtf8(compact(errorMessage(QStringLiteral("not-found"), message)));
    for (QWebSocket *s : std::as_const(c->sockets)) {
        s->disconnect(this);
        m_raw.remove(s);
        kBuyerLimits.sendText(*s, text);
        s->close(QWebSocketProtocol::CloseCode(kCloseUnknownSale), message);
        s->deleteLater();
    }
    delete c;
}

} // namespace flashsale
