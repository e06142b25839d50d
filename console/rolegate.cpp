#include "rolegate.h"

#include <QAbstractButton>
#include <QAction>

namespace flashsale::console {

using admin::Op;

namespace {

constexpr const char *kBaseTip = "flashsale_baseToolTip";
constexpr const char *kWanted = "flashsale_wanted";

// The roles in order of power; an unknown name counts as the least.
int rank(const QString &role) {
    return int(admin::roleFromName(role).value_or(admin::Role::Viewer));
}

template<typename W>
void applyTo(W *w, bool wanted, const QString &refusal) {
    if (!w->property(kBaseTip).isValid())
        w->setProperty(kBaseTip, w->toolTip());
    w->setProperty(kWanted, wanted);
    w->setEnabled(wanted && refusal.isEmpty());
    const QString base = w->property(kBaseTip).toString();
    w->setToolTip(refusal.isEmpty() ? base : QStringLiteral("%1\n%2").arg(base, refusal));
}

} // namespace

RoleGate::RoleGate(QObject *parent)
    : QObject(parent) {}

void RoleGate::remember(QObject *o, const Binding &b) {
    m_bindings.insert(o, b);
    connect(o, &QObject::destroyed, this, [this, o] { m_bindings.remove(o); });
}

void RoleGate::bind(QAction *action, Op op, bool adminOnly) {
    remember(action, {op, adminOnly});
}

void RoleGate::bind(QAbstractButton *button, Op op, bool adminOnly) {
    remember(button, {op, adminOnly});
}

void RoleGate::setLogin(const QString &operatorName, const QString &role,
                        const std::function<bool(Op)> &allows) {
    m_known = true;
    m_operator = operatorName;
    m_role = role;
    m_allowed.clear();
    for (const QString &name : admin::opNames())
        if (const auto op = admin::opFromName(name); op && allows(*op))
            m_allowed.insert(*op);
    applyAll();
    Q_EMIT changed();
}

void RoleGate::clear() {
    m_known = false;
    m_operator.clear();
    m_role.clear();
    m_allowed.clear();
    applyAll();
    Q_EMIT changed();
}

bool RoleGate::allows(Op op, bool adminOnly) const {
    if (!m_known)
        return true;
    return m_allowed.contains(op) && (!adminOnly || rank(m_role) >= int(admin::Role::Admin));
}

QString RoleGate::roleNeeded(Op op, bool adminOnly) {
    return admin::roleName(adminOnly ? admin::Role::Admin : admin::minimumRole(op));
}

RoleGate::Binding RoleGate::bindingOf(const QObject *o) const {
    return m_bindings.value(o, Binding{Op::Ping, false});
}

QString RoleGate::refusal(const Binding &b) const {
    if (allows(b.op, b.adminOnly))
        return {};
    QString needed = roleNeeded(b.op, b.adminOnly);
    // The server said no although the table says the role may: name the role above this one.
    if (rank(needed) <= rank(m_role))
        needed = admin::roleName(admin::Role(qMin(rank(m_role) + 1, int(admin::Role::Admin))));
    return tr("Needs the %1 role; you are %2 (%3).").arg(needed, m_role, m_operator);
}

void RoleGate::setEnabled(QAction *action, bool wanted) const {
    applyTo(action, wanted, m_bindings.contains(action) ? refusal(bindingOf(action)) : QString());
}

void RoleGate::setEnabled(QAbstractButton *button, bool wanted) const {
    applyTo(button, wanted, m_bindings.contains(button) ? refusal(bindingOf(button)) : QString());
}

void RoleGate::applyAll() {
    for (auto it = m_bindings.cbegin(); it != m_bindings.cend(); ++it) {
        auto *o = const_cast<QObject *>(it.key());
        const QVariant wanted = o->property(kWanted);
        const bool w = wanted.isValid() ? wanted.toBool() : true;
        if (auto *a = qobject_cast<QAction *>(o))
            setEnabled(a, w);
        else if (auto *b = qobject_cast<QAbstractButton *>(o))
            setEnabled(b, w);
    }
}

} // namespace flashsale::console
