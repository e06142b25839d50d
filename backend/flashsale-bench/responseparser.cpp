#include "responseparser.h"

#include <cstring>

namespace flashsale::bench {

namespace {

bool equalsNoCase(const char *a, qsizetype n, const char *lower) {
    if (qsizetype(std::strlen(lower)) != n)
        return false;
    for (qsizetype i = 0; i < n; ++i) {
        char c = a[i];
        if (c >= 'A' && c <= 'Z')
            c = char(c - 'A' + 'a');
        if (c != lower[i])
            return false;
    }
    return true;
}

bool containsNoCase(const char *a, qsizetype n, const char *lower) {
    const qsizetype m = qsizetype(std::strlen(lower));
    for (qsizetype i = 0; i + m <= n; ++i) {
        if (equalsNoCase(a + i, m, lower))
            return true;
    }
    return false;
}

// A non-negative decimal integer, or -1.
qint64 parseNumber(const char *p, qsizetype n) {
    while (n > 0 && (*p == ' ' || *p == '\t')) {
        ++p;
        --n;
    }
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        --n;
    if (n == 0 || n > 18)
        return -1;
    qint64 v = 0;
    for (qsizetype i = 0; i < n; ++i) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

} // namespace

void ResponseParser::feed(const char *data, qsizetype size) {
    // Drop what was consumed before growing, so a long keep-alive connection does not keep
    // every response it ever read.
    if (m_offset > 0 && m_offset == m_buffer.size()) {
        m_buffer.clear();
        m_bodyStart -= m_offset;
        m_offset = 0;
    } else if (m_offset > 4096) {
        m_buffer.remove(0, m_offset);
        m_bodyStart -= m_offset;
        m_offset = 0;
    }
    m_buffer.append(data, size);
}

void ResponseParser::reset() {
    m_buffer.clear();
    m_offset = 0;
    m_haveHead = false;
    m_bodyStart = 0;
    m_current = HttpReply();
}

ResponseParser::State ResponseParser::parseHead() {
    const char *base = m_buffer.constData() + m_offset;
    const qsizetype avail = m_buffer.size() - m_offset;
    qsizetype headEnd = -1;
    for (qsizetype i = 0; i + 3 < avail; ++i) {
        if (base[i] == '\r' && base[i + 1] == '\n' && base[i + 2] == '\r' && base[i + 3] == '\n') {
            headEnd = i;
            break;
        }
    }
    if (headEnd < 0)
        return avail > kMaxHead ? State::Error : State::NeedMore;

    HttpReply r;
    // Status line: "HTTP/1.1 202 Accepted".
    const char *lineEnd = static_cast<const char *>(std::memchr(base, '\r', size_t(headEnd + 1)));
    const qsizetype lineLen = lineEnd - base;
    if (lineLen < 12 || std::memcmp(base, "HTTP/1.", 7) != 0 || base[8] != ' ')
        return State::Error;
    const bool http10 = base[7] == '0';
    r.status = int(parseNumber(base + 9, 3));
    if (r.status < 100 || r.status > 999)
        return State::Error;
    r.close = http10;

    qsizetype pos = lineLen + 2;
    while (pos < headEnd) {
        const char *line = base + pos;
        const char *end = static_cast<const char *>(std::memchr(line, '\r', size_t(headEnd - pos)));
        const qsizetype len = end ? end - line : headEnd - pos;
        const char *colon = static_cast<const char *>(std::memchr(line, ':', size_t(len)));
        if (!colon)
            return State::Error;
        const qsizetype nameLen = colon - line;
        const char *value = colon + 1;
        const qsizetype valueLen = len - nameLen - 1;
        if (equalsNoCase(line, nameLen, "content-length")) {
            r.contentLength = parseNumber(value, valueLen);
            if (r.contentLength < 0)
                return State::Error;
        } else if (equalsNoCase(line, nameLen, "connection")) {
            if (containsNoCase(value, valueLen, "close"))
                r.close = true;
            else if (containsNoCase(value, valueLen, "keep-alive"))
                r.close = false;
        } else if (equalsNoCase(line, nameLen, "transfer-encoding")) {
            if (containsNoCase(value, valueLen, "chunked"))
                return State::Error;
        } else if (equalsNoCase(line, nameLen, "idempotent-replayed")) {
            r.replayed = containsNoCase(value, valueLen, "true");
        } else if (equalsNoCase(line, nameLen, "retry-after")) {
            const qint64 s = parseNumber(value, valueLen);
            r.retryAfterMs = s >= 0 ? s * 1000 : -1; // an HTTP date is ignored
        }
        pos += len + 2;
    }
    // 1xx, 204 and 304 have no body whatever the headers say.
    if (r.status < 200 || r.status == 204 || r.status == 304)
        r.contentLength = 0;
    m_current = r;
    m_haveHead = true;
    m_bodyStart = m_offset + headEnd + 4;
    return State::Complete;
}

ResponseParser::State ResponseParser::next(HttpReply *out) {
    if (!m_haveHead) {
        const State s = parseHead();
        if (s != State::Complete)
            return s;
    }
    if (m_current.contentLength < 0)
        return State::NeedMore; // the body runs to the close: finish() completes it
    if (m_buffer.size() - m_bodyStart < m_current.contentLength)
        return State::NeedMore;
    *out = m_current;
    out->body = m_buffer.mid(m_bodyStart, m_current.contentLength);
    m_offset = m_bodyStart + m_current.contentLength;
    m_haveHead = false;
    return State::Complete;
}

ResponseParser::State ResponseParser::finish(HttpReply *out) {
    if (m_haveHead && m_current.contentLength < 0) {
        *out = m_current;
        out->body = m_buffer.mid(m_bodyStart);
        out->close = true;
        m_offset = m_buffer.size();
        m_haveHead = false;
        return State::Complete;
    }
    return hasPartial() ? State::Error : State::NeedMore;
}

} // namespace flashsale::bench
