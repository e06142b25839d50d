#pragma once

#include <QList>
#include <QObject>
#include <QPointer>
#include <QTcpServer>
#include <QTcpSocket>

#include <memory>

namespace flashsale::test {

// A TCP proxy on 127.0.0.1 in front of another local port, to cut a dependency off from the
// process under test and give it back: cut() drops every connection and stops listening
// (connections are then refused), restore() listens again on the same port.
// silence() is a partition that drops packets without a RST instead: every connection stays
// open and new ones are accepted, but what either side sends is dropped (with repliesOnly, what
// the client sends still reaches the server and only the answers are lost: a write whose outcome
// the client never learns). heal() lets new connections through again; the silenced ones stay
// silent, as a connection whose packets a partition dropped is lost to its client for good.
class TcpProxy : public QObject {
    Q_OBJECT
public:
    explicit TcpProxy(quint16 target, QObject *parent = nullptr);
    bool start();
    void cut();
    bool restore();
    void silence(bool repliesOnly = false);
    void heal();
    quint16 port() const { return m_port; }

private:
    struct Drop {
        bool up = false;   // client to server
        bool down = false; // server to client
    };
    void accept();

    quint16 m_target;
    quint16 m_port = 0;
    QTcpServer m_server;
    QList<QPair<QPointer<QTcpSocket>, QPointer<QTcpSocket>>> m_pairs;
    QList<std::shared_ptr<Drop>> m_drops; // one per connection accepted
    Drop m_mode;                          // what a connection accepted now gets
};

} // namespace flashsale::test
