#pragma once

#include <QByteArray>

namespace flashsale::bench {

// One HTTP/1.1 response as the load client needs it: the status, the few headers it acts on,
// and the body.
struct HttpReply {
    int status = 0;
    qint64 contentLength = -1; // -1: none given (the body then runs to the connection's close)
    bool close = false;        // "Connection: close", or HTTP/1.0 without keep-alive
    bool replayed = false;     // "Idempotent-Replayed: true"
    qint64 retryAfterMs = -1;  // "Retry-After" in seconds, as ms; -1 when absent
    QByteArray body;
};

// An incremental HTTP/1.1 response parser for one connection: bytes go in as they are read,
// whole responses come out, in order (pipelined responses included). It reads only what the
// load client needs, so it is much cheaper than a general parser: no chunked encoding (the
// server always sends Content-Length), no header folding, headers other than the four above
// skipped.
//
// Not thread-safe; one per connection.
class ResponseParser {
public:
    enum class State { NeedMore, Complete, Error };

    // Appends bytes read from the socket.
    void feed(const char *data, qsizetype size);
    // Takes the next whole response: Complete and fills `out`; NeedMore when it is not all
    // there yet; Error on a malformed status line or headers, or chunked encoding (the
    // connection must then be closed).
    State next(HttpReply *out);
    // The peer closed the connection: a response whose body runs to the close is complete.
    // Returns Complete and fills `out` for such a response, NeedMore when nothing was pending,
    // Error when a response was cut short.
    State finish(HttpReply *out);
    // Whether part of a response has been read (a close now loses it).
    bool hasPartial() const { return m_buffer.size() > m_offset; }
    void reset();

    // Header size limit: a longer head is an Error rather than unbounded buffering.
    static constexpr qsizetype kMaxHead = 64 * 1024;

private:
    State parseHead();

    QByteArray m_buffer;
    qsizetype m_offset = 0; // start of the unparsed bytes in m_buffer
    bool m_haveHead = false;
    qsizetype m_bodyStart = 0;
    HttpReply m_current;
};

} // namespace flashsale::bench
