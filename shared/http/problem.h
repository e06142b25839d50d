#pragma once

#include <QByteArray>
#include <QJsonObject>
#include <QList>
#include <QPair>
#include <QString>

namespace flashsale {

using HeaderList = QList<QPair<QByteArray, QByteArray>>;

// An RFC 9457 problem. `slug` names the stable problem type; it is published as the relative
// URI "/problems/<slug>" (documented in docs/API.md and served by GET /problems/<slug>).
struct Problem {
    int status = 500;
    QString slug;
    QString title;
    QString detail;
    QJsonObject extensions; // extra members, e.g. "errors", "starts_at", "retry_after_ms"
    HeaderList headers;     // e.g. Retry-After

    static Problem make(int status, const QString &slug, const QString &detail = {});
    Problem &with(const QString &member, const QJsonValue &value);
    Problem &header(const QByteArray &name, const QByteArray &value);

    // The application/problem+json body. `instance` is the request path, or empty.
    QByteArray toJson(const QString &instance = {}) const;
};

// The title of a problem type, or an empty string for an unknown slug.
QString problemTitle(const QString &slug);
// Every documented problem slug with its status and title, for GET /problems/<slug> and docs.
struct ProblemType {
    const char *slug;
    int status;
    const char *title;
    const char *description;
};
const QList<ProblemType> &problemTypes();

// A whole HTTP/1.1 response carrying the problem, with "Connection: close", for places that
// must write on the raw socket (connection limits), where no responder exists.
QByteArray rawProblemResponse(const Problem &problem);

} // namespace flashsale
