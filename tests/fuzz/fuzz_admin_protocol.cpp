// libFuzzer target: the admin WebSocket protocol decoder (protocol/adminprotocol.h), both
// directions: what a client may send the server, and what a server may send flashsale-ctl and
// the console. The input is one text frame.
// Properties, beyond "no crash, leak or undefined behaviour":
//   - a decoded request re-encodes and decodes to the same id, operation and arguments;
//   - a refusal carries a protocol error code that survives its name, a valid id or none, and
//     its encoded answer decodes, as a client reads it, to the same id, code and message;
//   - a decoded server message re-encodes and decodes to the same message;
//   - an admin URL that resolves is a ws:// or wss:// URL with a host.

#include "protocol/adminprotocol.h"

#include <QJsonDocument>

#include <cstdio>
#include <cstdlib>

using namespace flashsale;
using namespace flashsale::admin;

namespace {

void check(bool ok, const char *what) {
    if (!ok) {
        std::fprintf(stderr, "property violated: %s\n", what);
        std::abort();
    }
}

bool validId(const QString &id) {
    if (id.isEmpty() || id.size() > kMaxIdLength)
        return false;
    for (QChar c : id)
        if (c.unicode() < 0x21 || c.unicode() > 0x7e)
            return false;
    return true;
}

bool sameFailure(const AdminFailure &a, const AdminFailure &b) {
    if (a.code != b.code || a.message != b.message || a.details.size() != b.details.size())
        return false;
    for (qsizetype i = 0; i < a.details.size(); ++i)
        if (a.details[i].pointer != b.details[i].pointer
            || a.details[i].detail != b.details[i].detail)
            return false;
    return true;
}

void request(const QByteArray &text) {
    const auto r = decodeRequest(text);
    if (r) {
        check(validId(r->id), "a request's id is 1..64 printable ASCII characters");
        check(opFromName(opName(r->op)) == r->op, "a request's op has its name");
        const auto again = decodeRequest(encodeRequest(r->id, r->op, r->args));
        check(again && again->id == r->id && again->op == r->op && again->args == r->args,
              "a decoded request round-trips");
        return;
    }
    const DecodeFailure &f = r.error();
    check(f.id.isEmpty() || validId(f.id), "a refusal's id is valid or none");
    check(f.failure.code == AdminError::BadJson || f.failure.code == AdminError::BadMessage
              || f.failure.code == AdminError::UnsupportedVersion
              || f.failure.code == AdminError::UnknownOp,
          "a decoding refusal is bad-json, bad-message, unsupported-version or unknown-op");
    check(errorFromName(errorName(f.failure.code)) == f.failure.code,
          "a refusal's code survives its name");
    check(!f.failure.message.isEmpty(), "a refusal says what is wrong");
    const auto answer = decodeServerMessage(encodeFailure(f.id, f.failure));
    check(answer && answer->kind == ServerMessage::Kind::Failure && answer->id == f.id
              && sameFailure(answer->failure, f.failure),
          "a refusal reaches the client as sent");
}

void serverMessage(const QByteArray &text) {
    const auto m = decodeServerMessage(text);
    if (!m) {
        check(!m.error().isEmpty(), "a client-side decoding error says what is wrong");
        return;
    }
    QByteArray again;
    switch (m->kind) {
    case ServerMessage::Kind::Result:
        again = encodeResult(m->id, m->result);
        break;
    case ServerMessage::Kind::Failure:
        again = encodeFailure(m->id, m->failure);
        break;
    case ServerMessage::Kind::Event:
        again = encodeEvent(m->event, m->data);
        break;
    }
    const auto back = decodeServerMessage(again);
    check(back && back->kind == m->kind, "a server message keeps its kind");
    switch (m->kind) {
    case ServerMessage::Kind::Result:
        check(back->id == m->id && back->result == m->result, "a result round-trips");
        break;
    case ServerMessage::Kind::Failure:
        check(back->id == m->id && sameFailure(back->failure, m->failure), "a failure round-trips");
        break;
    case ServerMessage::Kind::Event:
        check(back->event == m->event && back->data == m->data, "an event round-trips");
        break;
    }
    // The console shows whatever arrives; none of it may break the formatting.
    for (auto it = m->data.constBegin(); it != m->data.constEnd(); ++it)
        (void)describeChange(it.value(), m->result.value(it.key()));
    for (auto it = m->result.constBegin(); it != m->result.constEnd(); ++it)
        (void)displayValue(it.value());
}

void adminUrl(const QByteArray &text) {
    const auto url = resolveAdminUrl(QString::fromUtf8(text.left(256)));
    if (!url)
        return;
    check(url->scheme() == QLatin1String("ws") || url->scheme() == QLatin1String("wss"),
          "an admin URL is ws:// or wss://");
    check(!url->host().isEmpty(), "an admin URL has a host");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const QByteArray text(reinterpret_cast<const char *>(data), qsizetype(size));
    request(text);
    serverMessage(text);
    adminUrl(text);
    return 0;
}
