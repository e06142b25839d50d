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
}

void TcpProxy::accept() {
    while (QTcpSocket *client = m_server.nextPendingConnection()) {
        auto *upstream = new QTcpSocket(this);
        client->setParent(this);
        connect(client, &QTcpSocket::readyRead, upstream,
                [client, upstream] { upstream->write(client->readAll()); });
        connect(upstream, &QTcpSocket::readyRead, client,
                [client, upstream] { client->write(upstream->readAll()); });
        // Bytes from the client that arrive before the upstream connects wait in its buffer.
        connect(upstream, &QTcpSocket::connected, client,
                [client, upstream] { upstream->write(client->readAll()); });
        connect(client, &QTcpSocket::disconnected, upstream, &QTcpSocket::disconnectFromHost);
        connect(upstream, &QTcpSocket::disconnected, client, &QTcpSocket::disconnectFromHost);
        connect(client, &QTcpSocket::disconnected, client, &QObject::deleteLater);
        connect(upstream, &QTcpSocket::disconnected, upstream, &QObject::deleteLater);
        upstream->connectToHost(QHostAddress::LocalHost, m_target);
        m_pairs.append(qMakePair(QPointer<QTcpSocket>(client), QPointer<QTcpSocket>(upstream)));
    }
}

} // namespace flashsale::test
