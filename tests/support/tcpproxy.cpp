#include "tcpproxy.h"

namespace flashsale::test {

TcpProxy::TcpProxy(quint16 target, QObject *parent)
    : QObject(parent)
    , m_target(target) {
    connect(&m_server, &QTcpServer::newConnection, this, &TcpProxy::accept);
}

bool TcpProxy::start() {
    if (!m_server.listen(QHostAddress::LocalHost, m_port))
        return false;
    m_port = m_server.serverPort();
    return true;
}

bool TcpProxy::restore() {
    return start();
}

void TcpProxy::cut() {
    m_server.close();
    for (auto &[client, upstream] : m_pairs) {
        if (client)
            client->abort();
        if (upstream)
            upstream->abort();
    }
    m_pairs.clear();
    m_drops.clear();
}

void TcpProxy::silence(bool repliesOnly) {
    m_mode = Drop{!repliesOnly, true};
    for (auto &d : m_drops)
        *d = m_mode;
}

void TcpProxy::heal() {
    m_mode = Drop{};
}

void TcpProxy::accept() {
    while (QTcpSocket *client = m_server.nextPendingConnection()) {
        auto *upstream = new QTcpSocket(this);
        client->setParent(this);
        auto drop = std::make_shared<Drop>(m_mode);
        m_drops.append(drop);
        // Dropped bytes are read and thrown away: lost on the wire, not held back.
        connect(client, &QTcpSocket::readyRead, upstream, [client, upstream, drop] {
            const QByteArray bytes = client->readAll();
            if (!drop->up)
                upstream->write(bytes);
        });
        connect(upstream, &QTcpSocket::readyRead, client, [client, upstream, drop] {
            const QByteArray bytes = upstream->readAll();
            if (!drop->down)
                client->write(bytes);
        });
        // Bytes from the client that arrive before the upstream connects wait in its buffer.
        connect(upstream, &QTcpSocket::connected, client, [client, upstream, drop] {
            const QByteArray bytes = client->readAll();
            if (!drop->up)
                upstream->write(bytes);
        });
        connect(client, &QTcpSocket::disconnected, upstream, &QTcpSocket::disconnectFromHost);
        connect(upstream, &QTcpSocket::disconnected, client, &QTcpSocket::disconnectFromHost);
        connect(client, &QTcpSocket::disconnected, client, &QObject::deleteLater);
        connect(upstream, &QTcpSocket::disconnected, upstream, &QObject::deleteLater);
        upstream->connectToHost(QHostAddress::LocalHost, m_target);
        m_pairs.append(qMakePair(QPointer<QTcpSocket>(client), QPointer<QTcpSocket>(upstream)));
    }
}

} // namespace flashsale::test
