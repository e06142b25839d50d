#pragma once

#include <QList>
#include <QObject>
#include <QPointer>
#include <QTcpServer>
#include <QTcpSocket>

namespace flashsale::test {

// A TCP proxy on 127.0.0.1 in front of another local port, to cut a dependency off from the
// process under test and give it back: cut() drops every connection and stops listening
// (connections are then refused), restore() listens again on the same port.
class TcpProxy : public QObject {
    Q_OBJECT
public:
    explicit TcpProxy(quint16 target, QObject *parent = nullptr);
    bool start();
    void cut();
    bool restore();
    quint16 port() const { return m_port; }

private:
    void accept();

    quint16 m_target;
    quint16 m_port = 0;
    QTcpServer m_server;
    QList<QPair<QPointer<QTcpSocket>, QPointer<QTcpSocket>>> m_pairs;
};

} // namespace flashsale::test
