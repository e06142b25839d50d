#include "requestframer.h"

#include <QList>

#include <cctype>
#include <limits>

namespace flashsale {

namespace {

// RFC 9110 section 5.6.2: the characters of a method or a field name.
bool isTchar(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c != '\0' && QByteArrayView("!#$%&'*+-.^_`|~").contains(c));
}

bool isToken(QByteArrayView s) {
    if (s.isEmpty())
        return false;
    for (char c : s)
        if (!isTchar(c))
            return false;
    return true;
}

// A field value may hold visible characters, spaces, tabs and obs-text, never other controls.
bool isFieldValue(QByteArrayView s) {
    for (char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if ((u < 0x20 && u != '\t') || u == 0x7f)
            return false;
    }
    return true;
}

Problem malformed(const QString &detail) {
    return Problem::make(400, QStringLiteral("malformed-request"), detail);
}

// request-line = method SP request-target SP HTTP-version; empty when it is one.
QString requestLineError(QByteArrayView line) {
    const qsizetype sp1 = line.indexOf(' ');
    const qsizetype sp2 = sp1 < 0 ? -1 : line.indexOf(' ', sp1 + 1);
    if (sp1 <= 0 || sp2 < 0 || line.indexOf(' ', sp2 + 1) >= 0)
        return QStringLiteral("The request line must be: method, one space, target, one space, "
                              "HTTP/1.1.");
    if (!isToken(line.first(sp1)))
        return QStringLiteral("The method is not a token.");
    const QByteArrayView target = line.sliced(sp1 + 1, sp2 - sp1 - 1);
    bool visible = !target.isEmpty();
    for (char c : target)
        visible = visible && c > 0x20 && c < 0x7f;
    if (!visible)
        return QStringLiteral("The target must be visible ASCII; percent-encode the rest.");
    const QByteArrayView version = line.sliced(sp2 + 1);
    if (version.size() != 8 || !version.startsWith("HTTP/") || version[6] != '.'
        || !std::isdigit(static_cast<unsigned char>(version[5]))
        || !std::isdigit(static_cast<unsigned char>(version[7])))
        return QStringLiteral("The version must be HTTP/1.1 or HTTP/1.0.");
    return {};
}

// field-line = field-name ":" OWS field-value OWS; empty when it is one.
QString headerLineError(QByteArrayView line, qsizetype number) {
    const qsizetype colon = line.indexOf(':');
    if (colon < 0 || !isToken(line.first(colon)))
        return QStringLiteral("Header line %1 is not name:value (no space before the colon, no "
                              "folded lines).")
            .arg(number);
    if (!isFieldValue(line.sliced(colon + 1)))
        return QStringLiteral("Header line %1 holds a control character (NUL, ...).").arg(number);
    return {};
}

// Whether a comma-separated header value (RFC 9110 section 5.6.1) holds `token`, in any case.
bool hasToken(QByteArrayView list, QByteArrayView token) {
    for (qsizetype from = 0; from <= list.size();) {
        qsizetype comma = list.indexOf(',', from);
        if (comma < 0)
            comma = list.size();
        if (list.sliced(from, comma - from).trimmed().compare(token, Qt::CaseInsensitive) == 0)
            return true;
        from = comma + 1;
    }
    return false;
}

Problem invalidUpgrade(const QString &detail) {
    return Problem::make(400, QStringLiteral("invalid-upgrade"), detail);
}

// A head carrying Upgrade is let through unframed only when it is a WebSocket opening handshake
// (RFC 6455 section 4.1) that QtHttpServer will hand to its WebSocket server and that
// QWebSocketServer will accept: anything else would leave the connection unframed with nobody
// answering it. `minor` is the HTTP minor version digit. Empty when it is one.
std::optional<Problem> webSocketHandshakeError(QByteArrayView method, char minor,
                                               qint64 contentLength, const HeaderList &headers) {
    QList<QByteArray> upgrade, connection, key, version;
    int hosts = 0;
    for (const auto &[name, value] : headers) {
        if (name == "upgrade")
            upgrade.append(value);
        else if (name == "connection")
            connection.append(value);
        else if (name == "sec-websocket-key")
            key.append(value);
        else if (name == "sec-websocket-version")
            version.append(value);
        else if (name == "host")
            ++hosts;
    }
    // QtHttpServer looks for "upgrade" in all Connection headers joined, QWebSocketServer for
    // the token in the first one only: one header makes them agree.
    if (connection.size() != 1 || !hasToken(connection.first(), "upgrade"))
        return invalidUpgrade(QStringLiteral(
            "Upgrade was sent without Connection: Upgrade (one Connection header, holding the "
            "token upgrade)."));
    // QtHttpServer compares all Upgrade headers joined with ", " to "websocket".
    if (upgrade.size() != 1 || upgrade.first().compare("websocket", Qt::CaseInsensitive) != 0)
        return invalidUpgrade(QStringLiteral("Only one Upgrade: websocket is served."));
    if (method != "GET" || minor != '1')
        return invalidUpgrade(QStringLiteral("A WebSocket handshake is GET over HTTP/1.1."));
    if (contentLength != 0)
        return invalidUpgrade(QStringLiteral("A WebSocket handshake has no body."));
    if (hosts != 1)
        return invalidUpgrade(QStringLiteral("A WebSocket handshake names one Host."));
    if (key.size() != 1
        || QByteArray::fromBase64Encoding(key.first(), QByteArray::AbortOnBase64DecodingErrors)
                   .decoded.size()
               != 16)
        return invalidUpgrade(
            QStringLiteral("Sec-WebSocket-Key must be one base64-encoded 16-byte nonce."));
    if (version.size() != 1 || version.first() != "13")
        return invalidUpgrade(QStringLiteral("Only Sec-WebSocket-Version: 13 is spoken."))
            .header("Sec-WebSocket-Version", "13");
    return std::nullopt;
}

} // namespace

qsizetype RequestFramer::headEnd(const QByteArray &head, qsizetype from) {
    // The blank line: LF CR LF, or LF LF (a bare LF, which the head's check then refuses; a head
    // that QtHttpServer's lenient parser would take must not be waited for here).
    for (qsizetype i = head.indexOf('\n', from); i >= 0; i = head.indexOf('\n', i + 1)) {
        if (i + 1 < head.size() && head[i + 1] == '\n')
            return i + 2;
        if (i + 2 < head.size() && head[i + 1] == '\r' && head[i + 2] == '\n')
            return i + 3;
    }
    return -1;
}

RequestFramer::RequestFramer(const ConnectionLimits &limits)
    : m_limits(limits) {}

RequestFramer::Progress RequestFramer::feed(QByteArrayView data) {
    Progress p;
    while (!data.isEmpty() && m_state != State::Rejected && m_state != State::Passthrough) {
        if (m_state == State::Idle) {
            // Tolerate stray CRLFs between requests (RFC 9112 section 2.2).
            qsizetype skip = 0;
            while (skip < data.size() && (data[skip] == '\r' || data[skip] == '\n'))
                ++skip;
            p.skipped += skip;
            data = data.sliced(skip);
            if (data.isEmpty())
                break;
            m_state = State::Headers;
            ++p.started;
        }
        if (m_state == State::Headers) {
            const qsizetype before = m_head.size();
            m_head += data;
            const qsizetype headLen = headEnd(m_head, qMax<qsizetype>(0, before - 2));
            // Refuse what is already visibly not HTTP (a TLS hello, binary junk, a bad line) at
            // once: QtHttpServer would otherwise drop the connection without a word.
            if (!checkLines(headLen < 0 ? m_head.size() : headLen))
                break;
            if (headLen < 0) {
                p.headerBytes += data.size();
                data = {};
                if (m_head.size() > m_limits.maxHeaderBytes)
                    reject(Problem::make(431, QStringLiteral("headers-too-large"),
                                         QStringLiteral("Headers exceed %1 bytes.")
                                             .arg(m_limits.maxHeaderBytes)),
                           "headers_too_large");
                break;
            }
            p.headerBytes += headLen - before;
            data = data.sliced(headLen - before);
            m_head.truncate(headLen);
            const QByteArray head = std::exchange(m_head, {});
            m_checked = 0;
            m_lines = 0;
            m_methodChecked = 0;
            if (headLen > m_limits.maxHeaderBytes) {
                reject(Problem::make(
                           431, QStringLiteral("headers-too-large"),
                           QStringLiteral("Headers exceed %1 bytes.").arg(m_limits.maxHeaderBytes)),
                       "headers_too_large");
                break;
            }
            headComplete(head);
            if (m_state == State::Idle)
                ++p.completed;
        }
        if (m_state == State::Body) {
            const qint64 take = qMin<qint64>(m_bodyLeft, data.size());
            m_bodyLeft -= take;
            p.bodyBytes += take;
            data = data.sliced(take);
            if (m_bodyLeft == 0) {
                m_state = State::Idle;
                ++p.completed;
            }
        }
    }
    return p;
}

bool RequestFramer::checkLines(qsizetype headLen) {
    // Only the first maxHeaderBytes count, so the verdict does not depend on how the bytes
    // arrive (a longer head is 431 however it is cut).
    const qsizetype limit = qMin<qsizetype>(headLen, m_limits.maxHeaderBytes);
    const QByteArrayView head = QByteArrayView(m_head).first(limit);
    while (true) {
        const qsizetype lf = head.indexOf('\n', m_checked);
        if (lf < 0)
            break;
        const QByteArrayView raw = head.sliced(m_checked, lf - m_checked);
        QString error;
        if (raw.isEmpty() || raw.back() != '\r')
            error = QStringLiteral("Lines must end with CRLF.");
        else if (raw.chopped(1).contains('\r'))
            error = QStringLiteral("A bare CR is not allowed.");
        else if (m_lines == 0)
            error = requestLineError(raw.chopped(1));
        else if (raw.size() > 1)
            error = headerLineError(raw.chopped(1), m_lines);
        if (!error.isEmpty()) {
            reject(malformed(error), "malformed");
            return false;
        }
        m_checked = lf + 1;
        ++m_lines;
    }
    if (m_lines == 0) {
        // The request line is not whole yet: what there is of the method must be a token.
        for (; m_methodChecked < head.size() && head[m_methodChecked] != ' '; ++m_methodChecked) {
            if (!isTchar(head[m_methodChecked])) {
                reject(malformed(QStringLiteral("The method is not a token.")), "malformed");
                return false;
            }
        }
    }
    return true;
}

void RequestFramer::headComplete(const QByteArray &head) {
    // Every line's syntax was checked by checkLines() (RFC 9112, strictly, so that
    // QtHttpServer's lenient parser and these limits never disagree about where a request ends:
    // a head both read differently would let a request past the limits). What is left is what
    // the lines mean.
    QList<QByteArrayView> lines;
    for (qsizetype from = 0; from + 2 < head.size();) {
        const qsizetype crlf = head.indexOf("\r\n", from);
        lines.append(QByteArrayView(head).sliced(from, crlf - from));
        from = crlf + 2;
    }
    const QByteArrayView requestLine = lines.value(0);
    const qsizetype sp1 = requestLine.indexOf(' ');
    const qsizetype sp2 = requestLine.lastIndexOf(' ');
    const QByteArrayView target = requestLine.sliced(sp1 + 1, sp2 - sp1 - 1);
    if (requestLine[sp2 + 6] != '1')
        return reject(Problem::make(505, QStringLiteral("http-version-not-supported"),
                                    QStringLiteral("This server speaks HTTP/1.1.")),
                      "version");

    // QtHttpServer reads headers with QHttpHeaderParser, which drops every header of a head
    // with more than 100 fields or a field line over 8 KiB: it would then see no
    // Content-Length, no Upgrade, and frame the connection differently from this framer.
    if (lines.size() - 1 > kMaxHeaderFields)
        return reject(
            Problem::make(431, QStringLiteral("headers-too-large"),
                          QStringLiteral("More than %1 header fields.").arg(kMaxHeaderFields)),
            "headers_too_large");
    for (qsizetype i = 1; i < lines.size(); ++i)
        if (lines[i].size() > kMaxHeaderLineBytes)
            return reject(Problem::make(431, QStringLiteral("headers-too-large"),
                                        QStringLiteral("Header line %1 exceeds %2 bytes.")
                                            .arg(i)
                                            .arg(kMaxHeaderLineBytes)),
                          "headers_too_large");

    std::optional<qint64> contentLength;
    bool upgrade = false;
    HeaderList headers;
    for (qsizetype i = 1; i < lines.size(); ++i) {
        const qsizetype colon = lines[i].indexOf(':');
        const QByteArray name = lines[i].first(colon).toByteArray().toLower();
        const QByteArray value = lines[i].sliced(colon + 1).trimmed().toByteArray();
        headers.append(qMakePair(name, value));
        if (name == "content-length") {
            bool digits = !value.isEmpty();
            for (char c : value)
                digits = digits && c >= '0' && c <= '9';
            if (!digits)
                return reject(malformed(QStringLiteral("Content-Length must be decimal digits.")),
                              "malformed");
            if (contentLength)
                return reject(malformed(QStringLiteral("Content-Length is sent twice.")),
                              "malformed");
            // More digits than a qint64 holds is more than any limit.
            contentLength =
                value.size() > 18 ? std::numeric_limits<qint64>::max() : value.toLongLong();
        } else if (name == "transfer-encoding") {
            return reject(Problem::make(411, QStringLiteral("length-required"),
                                        QStringLiteral("Send the body with Content-Length.")),
                          "chunked");
        } else if (name == "upgrade") {
            upgrade = true;
        }
    }
    if (contentLength.value_or(0) > m_limits.maxBodyBytes) {
        const QString size = *contentLength == std::numeric_limits<qint64>::max()
                                 ? QStringLiteral("more than 18 digits of")
                                 : QString::number(*contentLength);
        return reject(Problem::make(413, QStringLiteral("request-too-large"),
                                    QStringLiteral("The body is %1 bytes; the limit is %2.")
                                        .arg(size)
                                        .arg(m_limits.maxBodyBytes)),
                      "body_too_large");
    }
    if (upgrade) {
        if (auto invalid = webSocketHandshakeError(requestLine.first(sp1), requestLine[sp2 + 8],
                                                   contentLength.value_or(0), headers))
            return reject(*invalid, "upgrade_invalid");
        if (m_limits.upgradeGate) {
            if (auto refused = m_limits.upgradeGate(target.toByteArray(), headers, m_peer))
                return reject(*refused, "upgrade_refused");
        }
        m_state = State::Passthrough;
        return;
    }
    m_bodyLeft = contentLength.value_or(0);
    m_state = m_bodyLeft == 0 ? State::Idle : State::Body;
}

void RequestFramer::reject(Problem problem, const char *reason) {
    m_state = State::Rejected;
    m_head.clear();
    m_bodyLeft = 0;
    m_rejection = Rejection{std::move(problem), reason};
}

} // namespace flashsale
