#include "scheduler.h"

namespace flashsale {

// Placeholder until the scheduler lands (issue 5, in progress).
struct Scheduler::Impl {
    QString holder;
};

Scheduler::Scheduler(const Config &, PgConnection &, RedisClient &, QString holder, Clock,
                     QObject *parent)
    : QObject(parent)
    , d(new Impl{std::move(holder)}) {}

Scheduler::~Scheduler() {
    delete d;
}

void Scheduler::start() {}
void Scheduler::stop() {}
void Scheduler::tick(std::function<void()> done) {
    if (done)
        done();
}
bool Scheduler::isLeader() const {
    return false;
}
QString Scheduler::holder() const {
    return d->holder;
}

} // namespace flashsale
