#include "problem.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QLocale>

#include <cmath>

namespace flashsale {

const QList<ProblemType> &problemTypes() {
    static const QList<ProblemType> types{
        {"invalid-request", 400, "The request is malformed",
         "The body or query is not what the endpoint accepts; `errors` lists each problem with a "
         "JSON pointer."},
        {"malformed-request", 400, "The request is not valid HTTP/1.1",
         "The request line or a header breaks RFC 9112 (bare LF or CR, a folded or unnamed "
         "header, a control character, a non-digit or repeated Content-Length); the "
         "connection is closed."},
        {"invalid-upgrade", 400, "Not a WebSocket handshake",
         "An Upgrade header was sent, but the request is not a WebSocket opening handshake "
         "(GET over HTTP/1.1, Connection: Upgrade, Upgrade: websocket, Sec-WebSocket-Key, "
         "Sec-WebSocket-Version: 13, no body); the connection is closed."},
        {"item-required", 400, "This sale has several items: name one",
         "Send `item_id` when the sale has more than one item."},
        {"unauthorized", 401, "Missing or wrong credentials",
         "Admin routes need an operator's `Authorization: Basic` (or the bootstrap token as "
         "`Bearer`; docs/ADMIN_PROTOCOL.md); booking routes and reservations a buyer token "
         "(docs/ADMISSION.md)."},
        {"forbidden", 403, "The operator's role does not allow this",
         "viewer reads, merchandiser also creates, schedules, pauses, adjusts and warms, admin "
         "also stops, repairs and manages operators (docs/SECURITY.md)."},
        {"invalid-token", 401, "The buyer token is not valid",
         "Malformed, wrongly signed, or not HS256 (`alg: none` is refused)."},
        {"token-expired", 401, "The buyer token has expired", "Get a new token and retry."},
        {"token-user-mismatch", 403, "The user does not match the token",
         "A `user_id` sent with a buyer token must be the token's `sub`."},
        {"pow-invalid", 403, "The proof of work is not valid",
         "Bad signature, another sale or user, expired, too easy, or a wrong solution; ask for a "
         "new challenge."},
        {"pow-replayed", 409, "This proof of work was already used",
         "Each challenge books once; ask for a new one."},
        {"pow-required", 428, "This sale asks for a proof of work",
         "POST /api/v1/sales/{id}/challenge, solve it, and send X-Pow-Challenge and "
         "X-Pow-Solution."},
        {"rate-limited", 429, "Too many requests from this client",
         "A per-IP or per-user limit (`scope`); `Retry-After` says when to try again."},
        {"sale-not-started", 403, "The sale has not started yet",
         "`starts_at` says when it opens; `Retry-After` gives the seconds to wait."},
        {"sale-closed", 403, "The sale is over", "The sale ended or was stopped."},
        {"sale-paused", 403, "The sale is paused", "An operator paused the sale; try again later."},
        {"not-found", 404, "No such resource", "Nothing is served at this path."},
        {"sale-not-found", 404, "No such sale", "The sale id is unknown."},
        {"waiting-room-not-found", 404, "This sale has no waiting room",
         "Book it directly: POST /api/v1/sales/{id}/book."},
        {"sale-not-warm", 409, "The sale is not in Redis",
         "It is warmed `--warmup-seconds` before it opens (a waiting room's, before its lobby "
         "opens) and retired after it ends; what lives only in Redis cannot be read or changed "
         "before or after."},
        {"not-in-queue", 404, "No entry in this waiting room",
         "The buyer has not joined it: POST /api/v1/sales/{id}/queue."},
        {"lobby-not-open", 403, "The waiting room is not open yet",
         "`lobby_opens_at` says when it opens; `Retry-After` gives the seconds to wait."},
        {"queue-full", 409, "The waiting room is full",
         "It holds `max_entries` entries, the server's bound; no more can join."},
        {"admission-required", 428, "This sale books through its waiting room",
         "Join at `queue_url`, poll it until `admission` carries a token, then book with "
         "`X-Admission-Token`."},
        {"admission-invalid", 403, "The admission token is not valid here",
         "It is forged, for another sale or another buyer, or names an entry that was never "
         "admitted."},
        {"admission-expired", 410, "The admission has expired",
         "It was not used within the sale's admission time; its place went to the next buyer."},
        {"admission-spent", 409, "The admission was already used",
         "One admission books once; a retry with the same Idempotency-Key replays that booking."},
        {"item-not-found", 404, "No such item", "The item id is unknown, or not in this sale."},
        {"reservation-not-found", 404, "No such reservation",
         "The code or reservation id is unknown, too old, or not the buyer token's: a "
         "reservation is shown to its owner only."},
        {"method-not-allowed", 405, "Method not allowed",
         "`Allow` lists the methods of this path."},
        {"request-timeout", 408, "The request did not arrive in time",
         "The whole request must arrive within the server's request timeout."},
        {"sold-out", 409, "Sold out", "No units of this item remain."},
        {"insufficient-stock", 409, "Not enough units left",
         "Fewer units remain than asked for; `remaining` says how many."},
        {"per-user-limit", 409, "Per-user limit reached",
         "This user already holds `held` units of the sale, and the limit is `limit`."},
        {"hold-expired", 410, "The hold expired", "The reservation was not confirmed in time."},
        {"reservation-ended", 409, "The reservation has already ended",
         "It was cancelled or completed."},
        {"length-required", 411, "Content-Length required",
         "Request bodies must be sent with Content-Length, not chunked."},
        {"request-too-large", 413, "Request body too large",
         "The body is larger than the server accepts."},
        {"unsupported-media-type", 415, "Unsupported media type", "Send `application/json`."},
        {"idempotency-key-reused", 422, "Idempotency-Key reused with a different request",
         "The key was first used for another item or quantity."},
        {"too-many-login-attempts", 429, "Too many failed logins",
         "This address failed to log in too often in the last minute; `Retry-After` says when "
         "to try again."},
        {"throttled", 429, "Too many requests",
         "The sale's admission rate is exhausted; `Retry-After` says when to retry."},
        {"headers-too-large", 431, "Request headers too large",
         "The request line and headers are larger than the server accepts."},
        {"internal", 500, "Internal error", "A defect; the log has the details."},
        {"backend-unavailable", 503, "Temporarily unavailable",
         "A dependency (Redis or PostgreSQL) is unreachable or slow; retry after `Retry-After`."},
        {"client-closed", 503, "The client closed the connection before the booking was decided",
         "The connection was closed (the client gave up waiting) before the server read the "
         "booking, so it was not decided and nothing was booked. Rarely seen: the client is gone."},
        // issue 19: provider (H3): POST /api/v1/payments/webhook
        {"webhook-signature-invalid", 401, "The webhook signature is missing or wrong",
         "The Flashsale-Signature header is absent, malformed, or matches none of the webhook "
         "secrets over the raw body and its timestamp (docs/PAYMENTS.md)."},
        {"webhook-signature-stale", 401, "The webhook signature is too old or too new",
         "A genuine signature whose timestamp lies outside --payment-webhook-tolerance-s of the "
         "server's clock: a late replay, or a clock that is off."},
        {"webhook-event-invalid", 400, "The webhook event is malformed",
         "A correctly signed body that is not a provider event; `errors` names the member with "
         "a JSON pointer."},
        {"http-version-not-supported", 505, "HTTP version not supported",
         "Only HTTP/1.1 (and HTTP/1.0) are spoken; the connection is closed."},
        {"too-many-connections", 503, "Too many connections",
         "The server is at its connection limit."},
    };
    return types;
}

QString problemTitle(const QString &slug) {
    for (const ProblemType &t : problemTypes()) {
        if (slug == QLatin1String(t.slug))
            return QString::fromUtf8(t.title);
    }
    return {};
}

Problem Problem::make(int status, const QString &slug, const QString &detail) {
    Problem p;
    p.status = status;
    p.slug = slug;
    p.title = problemTitle(slug);
    p.detail = detail;
    return p;
}

Problem &Problem::with(const QString &member, const QJsonValue &value) {
    extensions.insert(member, value);
    return *this;
}

Problem &Problem::header(const QByteArray &name, const QByteArray &value) {
    headers.append({name, value});
    return *this;
}

namespace {

// A JSON string (RFC 8259): UTF-8, with '"', '\\' and the control characters escaped, as
// QJsonDocument writes them.
void appendJsonString(QByteArray &out, const QString &text) {
    const QByteArray utf8 = text.toUtf8();
    out += '"';
    for (const char ch : utf8) {
        const auto c = static_cast<unsigned char>(ch);
        switch (c) {
        case '"':
            out += "\\\"";
            break;
        case '\\':
            out += "\\\\";
            break;
        case '\b':
            out += "\\b";
            break;
        case '\f':
            out += "\\f";
            break;
        case '\n':
            out += "\\n";
            break;
        case '\r':
            out += "\\r";
            break;
        case '\t':
            out += "\\t";
            break;
        default:
            if (c < 0x20) {
                static constexpr char hex[] = "0123456789abcdef";
                out += "\\u00";
                out += hex[c >> 4];
                out += hex[c & 15];
            } else {
                out += ch;
            }
        }
    }
    out += '"';
}

void appendJsonValue(QByteArray &out, const QJsonValue &value) {
    switch (value.type()) {
    case QJsonValue::String:
        appendJsonString(out, value.toString());
        return;
    case QJsonValue::Bool:
        out += value.toBool() ? "true" : "false";
        return;
    case QJsonValue::Double: {
        const double d = value.toDouble();
        if (!std::isfinite(d))
            out += "null"; // as QJsonDocument writes NaN and infinities
        else if (d == std::trunc(d) && std::fabs(d) < 9007199254740992.0) // 2^53: exact
            out += QByteArray::number(static_cast<qint64>(d));
        else
            out += QByteArray::number(d, 'g', QLocale::FloatingPointShortest);
        return;
    }
    case QJsonValue::Array:
        out += QJsonDocument(value.toArray()).toJson(QJsonDocument::Compact);
        return;
    case QJsonValue::Object:
        out += QJsonDocument(value.toObject()).toJson(QJsonDocument::Compact);
        return;
    default:
        out += "null";
    }
}

bool isStandardMember(const QString &key) {
    return key == QLatin1String("type") || key == QLatin1String("title")
           || key == QLatin1String("status") || key == QLatin1String("detail")
           || key == QLatin1String("instance");
}

} // namespace

// Written by hand rather than through QJsonObject and QJsonDocument: every refusal under load (a
// sold-out sale, a rate limit) is one of these, and building a QJsonObject cost about a sixth of
// the server's CPU per sold-out answer (docs/BENCHMARKS.md, "Request path profile"). Members
// the standard defines win over extensions of the same name, as QJsonObject::insert made them.
QByteArray Problem::toJson(const QString &instance) const {
    QByteArray out;
    out.reserve(128 + detail.size() + instance.size());
    out += "{\"type\":";
    appendJsonString(out, QStringLiteral("/problems/") + slug);
    out += ",\"title\":";
    appendJsonString(out, title);
    out += ",\"status\":";
    out += QByteArray::number(status);
    if (!detail.isEmpty()) {
        out += ",\"detail\":";
        appendJsonString(out, detail);
    }
    if (!instance.isEmpty()) {
        out += ",\"instance\":";
        appendJsonString(out, instance);
    }
    for (auto it = extensions.constBegin(); it != extensions.constEnd(); ++it) {
        if (isStandardMember(it.key()))
            continue;
        out += ',';
        appendJsonString(out, it.key());
        out += ':';
        appendJsonValue(out, it.value());
    }
    out += '}';
    return out;
}

QByteArray rawProblemResponse(const Problem &problem) {
    const QByteArray body = problem.toJson();
    QByteArray out =
        "HTTP/1.1 " + QByteArray::number(problem.status) + ' ' + problem.title.toUtf8() + "\r\n";
    out += "Content-Type: application/problem+json\r\n";
    out += "Content-Length: " + QByteArray::number(body.size()) + "\r\n";
    for (const auto &h : problem.headers)
        out += h.first + ": " + h.second + "\r\n";
    out += "Connection: close\r\n\r\n";
    out += body;
    return out;
}

} // namespace flashsale
