#pragma once

#include "protocol/adminprotocol.h"

#include <QHash>
#include <QObject>
#include <QSet>
#include <QString>

#include <functional>

class QAction;
class QAbstractButton;
class QWidget;

namespace flashsale::console {

// What the logged-in operator may do, and the widgets that follow it: every action or button
// bound to an operation is disabled when the role may not call that operation, with a tooltip
// naming the role it needs ("Needs the admin role; you are merchandiser."). The server still
// decides (it answers `forbidden`); this only keeps a user from trying what will be refused.
//
// The permissions come from the server's "hello" (AdminClient::allows); they are kept across a
// dropped link, so a viewer's greyed actions stay grey while reconnecting, and forgotten by
// clear() when the console logs in again. Before any hello nothing is refused here. GUI thread;
// does not own the widgets (a widget that is destroyed is dropped from the gate).
class RoleGate final : public QObject {
    Q_OBJECT
public:
    explicit RoleGate(QObject *parent = nullptr);

    // Ties `action` to `op`: when the role may not call it, setEnabled() through the gate keeps
    // it disabled. `adminOnly` additionally needs the admin role (a reconciliation repair is the
    // same operation as a dry run, with repair=true).
    void bind(QAction *action, admin::Op op, bool adminOnly = false);
    void bind(QAbstractButton *button, admin::Op op, bool adminOnly = false);

    // The login the server confirmed: operator name, role and `allows` asked for each op.
    void setLogin(const QString &operatorName, const QString &role,
                  const std::function<bool(admin::Op)> &allows);
    // Logged out (a new login is being made): nothing refused until the next setLogin().
    void clear();

    bool known() const { return m_known; }
    QString operatorName() const { return m_operator; }
    QString role() const { return m_role; }
    bool allows(admin::Op op, bool adminOnly = false) const;

    // Enables `widget`/`action` when `wanted` and allowed; keeps the base tooltip, or names the
    // role needed when the role forbids it.
    void setEnabled(QAction *action, bool wanted) const;
    void setEnabled(QAbstractButton *button, bool wanted) const;

    // The least role an op needs (admin::minimumRole; `adminOnly` for a repair): "viewer",
    // "merchandiser" or "admin". The server's allowed_ops decide; this only words the tooltip.
    static QString roleNeeded(admin::Op op, bool adminOnly = false);

Q_SIGNALS:
    // After setLogin() or clear(): callers re-apply their enabled states.
    void changed();

private:
    struct Binding {
        admin::Op op;
        bool adminOnly;
    };
    Binding bindingOf(const QObject *o) const;
    QString refusal(const Binding &b) const;
    void remember(QObject *o, const Binding &b);
    void applyAll();

    bool m_known = false;
    QString m_operator;
    QString m_role;
    QSet<admin::Op> m_allowed;
    QHash<const QObject *, Binding> m_bindings;
};

} // namespace flashsale::console
