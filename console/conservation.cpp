#include "conservation.h"

#include <QCoreApplication>
#include <QStringList>

namespace flashsale::console::conservation {

namespace {

// The terms on the right-hand side, in the order the line shows them.
constexpr const char *kTerms[] = {"remaining", "in_flight", "held", "paying", "paid"};

qint64 term(const QJsonObject &c, const char *name) {
    return c.value(QLatin1String(name)).toInteger();
}

QString tr(const char *text) {
    return QCoreApplication::translate("Conservation", text);
}

} // namespace

State stateOf(const QJsonObject &c) {
    if (c.isEmpty() || !c.value(QStringLiteral("exact")).toBool()
        || !c.value(QStringLiteral("holds")).isBool())
        return State::Unknown;
    return c.value(QStringLiteral("holds")).toBool() ? State::Holds : State::Broken;
}

QString line(const QJsonObject &c) {
    if (c.isEmpty())
        return tr("conservation: not reported by the server");
    const qint64 returned = term(c, "returned");
    const QString rhs = tr("remaining %1%2 + in flight %3 + held %4 + paying %5 + paid %6")
                            .arg(term(c, "remaining"))
                            .arg(returned ? tr(" (%1 returned)").arg(returned) : QString())
                            .arg(term(c, "in_flight"))
                            .arg(term(c, "held"))
                            .arg(term(c, "paying"))
                            .arg(term(c, "paid"));
    switch (stateOf(c)) {
    case State::Unknown:
        return tr("unknown: a term could not be read (stock %1, %2)")
            .arg(term(c, "stock"))
            .arg(rhs);
    case State::Holds:
        return tr("stock %1 = %2").arg(term(c, "stock")).arg(rhs);
    case State::Broken:
        break;
    }
    const qint64 gap = term(c, "gap");
    return tr("stock %1 ≠ %2 (gap %3%4)")
        .arg(term(c, "stock"))
        .arg(rhs)
        .arg(gap > 0 ? QStringLiteral("+") : QString())
        .arg(gap);
}

QString movedTerm(const QJsonObject &before, const QJsonObject &after) {
    const qint64 gapChange = term(after, "gap") - term(before, "gap");
    if (gapChange == 0)
        return {};
    // gap = stock - Σ terms: a term alone explains the change when it moved by -Δgap, the stock
    // when it moved by +Δgap.
    QStringList moved;
    if (term(after, "stock") - term(before, "stock") == gapChange)
        moved << QStringLiteral("stock");
    for (const char *t : kTerms)
        if (term(after, t) - term(before, t) == -gapChange)
            moved << QString::fromLatin1(t);
    if (!moved.isEmpty())
        return moved.join(QStringLiteral(" or "));
    // No term alone explains it (legitimate moves landed in the same push): the one that moved
    // furthest in the direction that opened the gap.
    QString furthest;
    qint64 best = 0;
    auto consider = [&](const QString &name, qint64 signedMove) {
        if (signedMove > best) {
            best = signedMove;
            furthest = name;
        }
    };
    const qint64 sign = gapChange > 0 ? 1 : -1;
    consider(QStringLiteral("stock"), sign * (term(after, "stock") - term(before, "stock")));
    for (const char *t : kTerms)
        consider(QString::fromLatin1(t), -sign * (term(after, t) - term(before, t)));
    return furthest;
}

} // namespace flashsale::console::conservation
