#include "reconciler.h"

namespace flashsale {

// Placeholder until the reconciler lands (issue 5, in progress).
struct Reconciler::Impl {};

Reconciler::Reconciler(PgConnection &, RedisClient &)
    : d(new Impl) {}

Reconciler::~Reconciler() {
    delete d;
}

void Reconciler::run(qint64, const Options &,
                     std::function<void(const Result<QJsonObject> &)> done) {
    done(fail(ErrorCode::Internal, QStringLiteral("reconciliation is not built yet")));
}

} // namespace flashsale
