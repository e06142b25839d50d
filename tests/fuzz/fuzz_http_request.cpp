// libFuzzer target: RequestFramer, the framing GuardedSocket applies to every connection's bytes
// before QtHttpServer sees them.
//
// Input: one byte seeding how the stream is cut into reads, then the bytes of a connection.
// Properties, beyond "no crash, leak or undefined behaviour":
//   - the framer accounts for every byte it looked at and never claims more than it was given
//     (skipped CRLFs + head bytes + body bytes <= bytes fed, equal while it still frames);
//   - at most one request is in progress, and Body means body bytes are still owed;
//   - cutting the same bytes into other reads gives the same requests and the same verdict;
//   - a refusal is a documented problem type whose raw answer is well-formed HTTP/1.1.

#include "http/problem.h"
#include "http/requestframer.h"

#include <QJsonDocument>
#include <QJsonObject>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

using namespace flashsale;

namespace {

void check(bool ok, const char *what) {
    if (!ok) {
        std::fprintf(stderr, "property violated: %s\n", what);
        std::abort();
    }
}

const ConnectionLimits &limits() {
    // Small limits, so that the fuzzer reaches 431 and 413 with short inputs.
    static const ConnectionLimits l = [] {
        ConnectionLimits c;
        c.maxHeaderBytes = 512;
        c.maxBodyBytes = 1024;
        c.upgradeGate = [](const QByteArray &target, const HeaderList &headers,
                           const QHostAddress &) -> std::optional<Problem> {
            check(!target.contains(' '), "the upgrade target is one word");
            for (const auto &h : headers)
                check(h.first == h.first.toLower() && !h.first.isEmpty(),
                      "header names are lower case and not empty");
            if (target.startsWith("/ws"))
                return std::nullopt;
            return Problem::make(404, QStringLiteral("not-found"));
        };
        return c;
    }();
    return l;
}

struct Totals {
    int started = 0;
    int completed = 0;
    qint64 counted = 0;
    qint64 body = 0;
};

void add(Totals &t, const RequestFramer::Progress &p, qint64 fed) {
    check(p.started >= 0 && p.completed >= 0 && p.bodyBytes >= 0 && p.skipped >= 0
              && p.headerBytes >= 0,
          "progress is never negative");
    const qint64 counted = p.skipped + p.headerBytes + p.bodyBytes;
    check(counted <= fed, "the framer never claims more bytes than it was given");
    t.started += p.started;
    t.completed += p.completed;
    t.counted += counted;
    t.body += p.bodyBytes;
}

void checkState(const RequestFramer &f, const Totals &t, qint64 fed) {
    const auto s = f.state();
    check(t.completed <= t.started && t.started - t.completed <= 1,
          "at most one request is in progress");
    check((s == RequestFramer::State::Body) == (f.bodyLeft() > 0),
          "Body exactly while body bytes are owed");
    check(f.inRequest() == (t.started - t.completed == 1) || s == RequestFramer::State::Rejected
              || s == RequestFramer::State::Passthrough,
          "a request is in progress exactly when one started and did not complete");
    if (s == RequestFramer::State::Idle || s == RequestFramer::State::Headers
        || s == RequestFramer::State::Body)
        check(t.counted == fed, "while framing, every byte is accounted for");
    check((s == RequestFramer::State::Rejected) == f.rejection().has_value(),
          "a rejection exactly when Rejected");
    if (const auto &r = f.rejection()) {
        const Problem &p = r->problem;
        check(p.status == 400 || p.status == 404 || p.status == 411 || p.status == 413
                  || p.status == 431 || p.status == 505,
              "a refusal is 400, 404 (the gate), 411, 413, 431 or 505");
        check(!p.slug.isEmpty() && !problemTitle(p.slug).isEmpty(),
              "a refusal has a documented problem type");
        check(std::strlen(r->reason) > 0, "a refusal names its metric reason");
        const QJsonObject body = QJsonDocument::fromJson(p.toJson()).object();
        check(body.value(QStringLiteral("type")).toString()
                  == QStringLiteral("/problems/") + p.slug,
              "the problem body carries its type");
        check(body.value(QStringLiteral("status")).toInt() == p.status,
              "the problem body carries its status");
        const QByteArray raw = rawProblemResponse(p);
        check(raw.startsWith("HTTP/1.1 " + QByteArray::number(p.status) + ' '),
              "the raw answer starts with a status line");
        const qsizetype split = raw.indexOf("\r\n\r\n");
        check(split > 0 && raw.size() - split - 4 == p.toJson().size(),
              "the raw answer's body is Content-Length bytes");
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    quint32 seed = data[0];
    const QByteArrayView stream(reinterpret_cast<const char *>(data + 1), qsizetype(size - 1));

    RequestFramer whole(limits());
    Totals wt;
    add(wt, whole.feed(stream), stream.size());
    checkState(whole, wt, stream.size());

    RequestFramer pieces(limits());
    Totals pt;
    qint64 fed = 0;
    while (fed < stream.size()) {
        seed = seed * 1103515245u + 12345u;
        const qint64 n = qMin<qint64>(stream.size() - fed, 1 + (seed >> 16) % 64);
        add(pt, pieces.feed(stream.sliced(fed, n)), n);
        fed += n;
        if (pieces.state() == RequestFramer::State::Idle
            || pieces.state() == RequestFramer::State::Headers
            || pieces.state() == RequestFramer::State::Body)
            checkState(pieces, pt, fed);
    }
    checkState(pieces, pt, fed);

    check(whole.state() == pieces.state(), "the verdict does not depend on how bytes arrive");
    check(wt.started == pt.started && wt.completed == pt.completed,
          "the requests do not depend on how bytes arrive");
    check(whole.bodyLeft() == pieces.bodyLeft(), "the body owed does not depend on reads");
    check(wt.body == pt.body, "body bytes do not depend on how bytes arrive");
    if (whole.rejection())
        check(whole.rejection()->problem.slug == pieces.rejection()->problem.slug,
              "the refusal does not depend on how bytes arrive");
    return 0;
}
