#pragma once

#include <QTimer>

struct redisAsyncContext;
class QObject;
class QSocketNotifier;

namespace flashsale {

// A hiredis async context driven by Qt's event loop: two QSocketNotifiers on the context's
// socket, switched on and off by hiredis's event hooks (addRead, delRead, addWrite, delWrite,
// cleanup), and ready reads and writes handed back to hiredis. One per connection, a member of
// the connection's owner (RedisClient, RedisSubscriber), attached right after redisAsyncConnect.
//
// The notifiers are the owner's children. hiredis's cleanup hook (the context being freed, on a
// disconnect or a failed connect) disables them and deletes them later: it may run inside one
// of their own activated() signals. One thread: the owner's.
class HiredisQtEvents {
public:
    // Hooks ctx's events to two new notifiers on its socket, the write one armed: a non-blocking
    // connect completes when the socket becomes writable. ctx->ev.data is this object.
    void attach(redisAsyncContext *ctx, QObject *owner);

private:
    static void addRead(void *self);
    static void delRead(void *self);
    static void addWrite(void *self);
    static void delWrite(void *self);
    static void cleanup(void *self);

    redisAsyncContext *m_ctx = nullptr;
    QSocketNotifier *m_read = nullptr;
    QSocketNotifier *m_write = nullptr;
};

// When to try connecting again: 50 ms after the first failure, doubled after each until 2 s,
// each with up to half again of random jitter (so processes that lost one Redis do not all come
// back in the same millisecond); back to 50 ms once connected.
class ReconnectBackoff {
public:
    // Calls `connect` on the owner's thread after the next delay, unless already waiting.
    template<typename Receiver, typename Slot>
    ReconnectBackoff(Receiver *owner, Slot connect) {
        m_timer.setSingleShot(true);
        QObject::connect(&m_timer, &QTimer::timeout, owner, connect);
    }
    void schedule();
    void connected() { m_delayMs = kFirstMs; }
    bool waiting() const { return m_timer.isActive(); }

private:
    static constexpr int kFirstMs = 50;
    static constexpr int kMaxMs = 2000;
    QTimer m_timer;
    int m_delayMs = kFirstMs;
};

} // namespace flashsale
