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

void RequestFramer::headComplete(const QByteArray &head) {
    // RFC 9112 strictly, so that QtHttpServer's lenient parser and these limits can never
    // disagree about where a request ends: a head both read differently would let a request
    // past the limits (duplicate Content-Length, obs-fold, whitespace before the colon).
    QList<QByteArrayView> lines;
    for (qsizetype from = 0; from < head.size();) {
        const qsizetype lf = head.indexOf('\n', from);
        if (lf <= from || head[lf - 1] != '\r')
            return reject(malformed(QStringLiteral("Lines must end with CRLF.")), "malformed");
        const QByteArrayView line = QByteArrayView(head).sliced(from, lf - 1 - from);
        if (line.contains('\r'))
            return reject(malformed(QStringLiteral("A bare CR is not allowed.")), "malformed");
        lines.append(line);
        from = lf + 1;
    }
    if (lines.size() < 2)
        return reject(malformed(QStringLiteral("The request has no request line.")), "malformed");
    lines.removeLast(); // the blank line

    // request-line = method SP request-target SP HTTP-version
    const QByteArrayView requestLine = lines.value(0);
    const qsizetype sp1 = requestLine.indexOf(' ');
    const qsizetype sp2 = sp1 < 0 ? -1 : requestLine.indexOf(' ', sp1 + 1);
    if (sp1 <= 0 || sp2 < 0 || requestLine.indexOf(' ', sp2 + 1) >= 0)
        return reject(malformed(QStringLiteral("The request line must be: method, one space, "
                                               "target, one space, HTTP/1.1.")),
                      "malformed");
    const QByteArrayView method = requestLine.first(sp1);
    const QByteArrayView target = requestLine.sliced(sp1 + 1, sp2 - sp1 - 1);
    const QByteArrayView version = requestLine.sliced(sp2 + 1);
    if (!isToken(method))
        return reject(malformed(QStringLiteral("The method is not a token.")), "malformed");
    bool visible = !target.isEmpty();
    for (char c : target)
        visible = visible && c > 0x20 && c < 0x7f;
    if (!visible)
        return reject(malformed(QStringLiteral("The target must be visible ASCII; "
                                               "percent-encode the rest.")),
                      "malformed");
    if (version.size() != 8 || !version.startsWith("HTTP/") || version[6] != '.'
        || !std::isdigit(static_cast<unsigned char>(version[5]))
        || !std::isdigit(static_cast<unsigned char>(version[7])))
        return reject(malformed(QStringLiteral("The version must be HTTP/1.1 or HTTP/1.0.")),
                      "malformed");
    if (version[5] != '1')
        return reject(Problem::make(505, QStringLiteral("http-version-not-supported"),
                                    QStringLiteral("This server speaks HTTP/1.1.")),
                      "version");

    std::optional<qint64> contentLength;
    bool upgrade = false;
    HeaderList headers;
    for (qsizetype i = 1; i < lines.size(); ++i) {
        const QByteArrayView line = lines[i];
        const qsizetype colon = line.indexOf(':');
        if (colon < 0 || !isToken(line.first(colon)))
            return reject(malformed(QStringLiteral("Header line %1 is not name:value (no space "
                                                   "before the colon, no folded lines).")
                                        .arg(i)),
                          "malformed");
        const QByteArray name = line.first(colon).toByteArray().toLower();
        const QByteArray value = line.sliced(colon + 1).trimmed().toByteArray();
        if (!isFieldValue(value))
            return reject(
                malformed(QStringLiteral("The value of %1 holds a control character (NUL, ...).")
                              .arg(QString::fromLatin1(name))),
                "malformed");
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
            const qint64 n =
                value.size() > 18 ? std::numeric_limits<qint64>::max() : value.toLongLong();
            contentLength = n;
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
    if (upgrade && m_limits.upgradeGate) {
        if (auto refused = m_limits.upgradeGate(target.toByteArray(), headers))
            return reject(*refused, "upgrade_refused");
    }
    if (upgrade) {
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
