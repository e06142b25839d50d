#include "hiredisqt.h"

#include <QObject>
#include <QRandomGenerator>
#include <QSocketNotifier>

#include <hiredis/async.h>

#include <algorithm>

namespace flashsale {

void HiredisQtEvents::attach(redisAsyncContext *ctx, QObject *owner) {
    m_ctx = ctx;
    ctx->ev.data = this;
    ctx->ev.addRead = &HiredisQtEvents::addRead;
    ctx->ev.delRead = &HiredisQtEvents::delRead;
    ctx->ev.addWrite = &HiredisQtEvents::addWrite;
    ctx->ev.delWrite = &HiredisQtEvents::delWrite;
    ctx->ev.cleanup = &HiredisQtEvents::cleanup;
    const int fd = ctx->c.fd;
    m_read = new QSocketNotifier(fd, QSocketNotifier::Read, owner);
    m_write = new QSocketNotifier(fd, QSocketNotifier::Write, owner);
    m_read->setEnabled(false);
    QObject::connect(m_read, &QSocketNotifier::activated, owner, [this] {
        if (m_ctx)
            redisAsyncHandleRead(m_ctx);
    });
    QObject::connect(m_write, &QSocketNotifier::activated, owner, [this] {
        if (m_ctx)
            redisAsyncHandleWrite(m_ctx);
    });
    m_write->setEnabled(true);
}

void HiredisQtEvents::addRead(void *p) {
    auto *self = static_cast<HiredisQtEvents *>(p);
    if (self->m_read)
        self->m_read->setEnabled(true);
}

void HiredisQtEvents::delRead(void *p) {
    auto *self = static_cast<HiredisQtEvents *>(p);
    if (self->m_read)
        self->m_read->setEnabled(false);
}

void HiredisQtEvents::addWrite(void *p) {
    auto *self = static_cast<HiredisQtEvents *>(p);
    if (self->m_write)
        self->m_write->setEnabled(true);
}

void HiredisQtEvents::delWrite(void *p) {
    auto *self = static_cast<HiredisQtEvents *>(p);
    if (self->m_write)
        self->m_write->setEnabled(false);
}

void HiredisQtEvents::cleanup(void *p) {
    auto *self = static_cast<HiredisQtEvents *>(p);
    self->m_ctx = nullptr; // hiredis frees it once this returns
    // May run inside a notifier's own activated() signal: disable now, delete later.
    for (QSocketNotifier **n : {&self->m_read, &self->m_write}) {
        if (*n) {
            (*n)->setEnabled(false);
            (*n)->deleteLater();
            *n = nullptr;
        }
    }
}

void ReconnectBackoff::schedule() {
    if (m_timer.isActive())
        return;
    const int jitter = int(QRandomGenerator::global()->bounded(m_delayMs / 2 + 1));
    m_timer.start(m_delayMs + jitter);
    m_delayMs = std::min(m_delayMs * 2, kMaxMs);
}

} // namespace flashsale
