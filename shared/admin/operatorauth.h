#pragma once

#include "protocol/adminprotocol.h"

#include <QByteArray>
#include <QHostAddress>
#include <QObject>
#include <QString>
#include <QStringList>

#include <expected>
#include <functional>
#include <optional>

namespace flashsale {

class LoginThrottle;
class PgConnection;
struct Config;

// Who is calling the admin WebSocket or an admin HTTP route, once the login succeeded. The
// name is what the audit log records as the actor.
struct OperatorIdentity {
    QString name; // operators.name, or "bootstrap"
    admin::Role role = admin::Role::Viewer;
};

// The credential of an "Authorization" header, by its form only (nothing is checked yet):
//   Basic base64(name:password)   an operator (docs/ADMIN_PROTOCOL.md)
//   Bearer <token>                the bootstrap admin token (--admin-token), role admin
struct LoginCredential {
    enum class Kind { Basic, Bearer };
    Kind kind = Kind::Basic;
    QString name;        // Basic
    QByteArray password; // Basic
    QByteArray token;    // Bearer
};
// Fails with a sentence for a 401 when the header is missing or not one of the two forms
// (bad base64, no ':', a name that is not [a-z0-9._-]{1,64}, a password over
// kMaxPasswordBytes). Cheap and synchronous: the upgrade gate calls it on every thread.
[[nodiscard]] std::expected<LoginCredential, QString> parseAuthorization(const QByteArray &header);

// Whether `name` may name an operator: [a-z0-9._-]{1,64}, and not "bootstrap".
bool validOperatorName(const QString &name);

// The address failed logins are counted against: the peer, or the last X-Forwarded-For hop
// when the peer is one of `trustedProxies` (nginx appends the address it saw).
QByteArray loginAddress(const QHostAddress &peer, const QByteArray &forwardedFor,
                        const QStringList &trustedProxies);

// Why a login did not succeed: Unauthorized (401), TooManyLoginAttempts (429, with
// retryAfterSeconds) or Unavailable (503: PostgreSQL cannot be asked).
struct LoginFailure {
    admin::AdminError code = admin::AdminError::Unauthorized;
    QString message; // for the client; never says which part was wrong
    int retryAfterSeconds = 0;
};
using LoginResult = std::expected<OperatorIdentity, LoginFailure>;

// Checks credentials for one API thread. The throttle is asked first; the bootstrap token is
// compared by SHA-256 digest; an operator's password is verified with argon2id on the hash
// pool (passwordhash.h), also for unknown or disabled operators (against a dummy hash), so the
// time taken does not tell which names exist. A failure is logged at warning level with the
// name (only if it is a valid operator name) and the address, never the password, and counted
// against the address.
//
// Owned by, and called on, the API thread whose PgConnection it borrows; `done` runs exactly
// once on that thread, unless the authenticator is destroyed first.
class OperatorAuthenticator final : public QObject {
    Q_OBJECT
public:
    OperatorAuthenticator(const Config &config, PgConnection &pg, LoginThrottle &throttle,
                          QObject *parent = nullptr);

    void authenticate(const LoginCredential &credential, const QByteArray &address,
                      std::function<void(const LoginResult &)> done);

    // The failure for a request the operator's role may not make (the op, or reconcile.run
    // with repair below admin), or nullopt when it may.
    static std::optional<admin::AdminFailure> forbidden(const OperatorIdentity &who,
                                                        const admin::AdminRequest &request);

private:
    void refuse(const QString &name, const QByteArray &address, const QString &why,
                const std::function<void(const LoginResult &)> &done);

    const Config &m_config;
    PgConnection &m_pg;
    LoginThrottle &m_throttle;
};

} // namespace flashsale
