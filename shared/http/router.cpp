#include "router.h"

namespace flashsale {

qsizetype Router::add(const QByteArray &method, const QString &pattern) {
    m_routes.append(Route{method, pattern, pattern.split(QLatin1Char('/'), Qt::SkipEmptyParts)});
    return m_routes.size() - 1;
}

Router::Match Router::find(const QByteArray &method, const QString &path) const {
    const QStringList segments = path.split(QLatin1Char('/'), Qt::SkipEmptyParts);
    Match result;
    QStringList params;
    for (qsizetype i = 0; i < m_routes.size(); ++i) {
        const Route &route = m_routes[i];
        if (!match(route, segments, &params))
            continue;
        if (route.method == method) {
            result.kind = Match::Kind::Found;
            result.route = i;
            result.params = std::move(params);
            result.allowed.clear();
            return result;
        }
        result.kind = Match::Kind::MethodNotAllowed;
        result.route = i;
        result.allowed << route.method;
    }
    return result;
}

bool Router::match(const Route &route, const QStringList &segments, QStringList *params) {
    if (route.segments.size() != segments.size())
        return false;
    params->clear();
    for (qsizetype i = 0; i < segments.size(); ++i) {
        const QString &want = route.segments[i];
        if (want.startsWith(QLatin1Char('{'))) {
            params->append(segments[i]);
        } else if (want != segments[i]) {
            return false;
        }
    }
    return true;
}

} // namespace flashsale
