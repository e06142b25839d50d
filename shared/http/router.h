#pragma once

#include <QByteArray>
#include <QByteArrayList>
#include <QList>
#include <QString>
#include <QStringList>

namespace flashsale {

// The route table of HttpServer, apart from any socket: which route a method and a path select.
// Pure; a const Router may be read from any thread.
//
// Patterns are literal segments and "{name}" segments: "/api/v1/sales/{id}/book". Empty segments
// do not count, so "/a//b/" is "/a/b". Routes are tried in the order they were added, and the
// first whose pattern and method both match wins.
class Router {
public:
    struct Match {
        enum class Kind {
            Found,            // `route` is the route, `params` its "{name}" values in order
            MethodNotAllowed, // the path matches only under other methods: 405 with `allowed`
            NotFound,         // no pattern matches the path: 404
        };
        Kind kind = Kind::NotFound;
        qsizetype route = -1; // Found: the route; MethodNotAllowed: the last route the path matched
        QStringList params;
        QByteArrayList allowed; // MethodNotAllowed: the path's methods, in the order added
    };

    // Adds a route and returns its index (0 for the first, then 1, ...).
    qsizetype add(const QByteArray &method, const QString &pattern);
    Match find(const QByteArray &method, const QString &path) const;
    // The pattern of a route `add` returned.
    const QString &pattern(qsizetype route) const { return m_routes.at(route).pattern; }

private:
    struct Route {
        QByteArray method;
        QString pattern;
        QStringList segments;
    };
    static bool match(const Route &route, const QStringList &segments, QStringList *params);

    QList<Route> m_routes;
};

} // namespace flashsale
