#include "operatorauth.h"

#include "admin/loginthrottle.h"
#include "admin/passwordhash.h"
#include "core/config.h"
#include "core/logging.h"
#include "pg/pgconnection.h"

#include <QCryptographicHash>
#include <QDateTime>
#include <QPointer>
#include <QRegularExpression>

#include <atomic>
#include <memory>

namespace flashsale {

using admin::AdminError;
using admin::Role;

namespace {

constexpr char kBootstrapName[] = "bootstrap";

// Password checks in progress in this process (a PostgreSQL lookup, then argon2 on the hash
// pool). Beyond the limit a login is turned away at once (unavailable, Retry-After 1) instead
// of queueing: a flood from many addresses then costs bounded memory and time, and the pool
// stays able to answer a real operator within a few hundred milliseconds.
constexpr int kMaxLoginsInFlight = 32;
std::atomic<int> g_loginsInFlight{0};

struct LoginSlot {
    LoginSlot() = default;
    LoginSlot(const LoginSlot &) = delete;
    LoginSlot &operator=(const LoginSlot &) = delete;
    ~LoginSlot() { g_loginsInFlight.fetch_sub(1); }
};

} // namespace

bool validOperatorName(const QString &name) {
    static const QRegularExpression re(QStringLiteral("^[a-z0-9._-]{1,64}$"));
    return re.match(name).hasMatch() && name != QLatin1String(kBootstrapName);
}

std::expected<LoginCredential, QString> parseAuthorization(const QByteArray &header) {
    const QByteArray h = header.trimmed();
    if (h.isEmpty())
        return std::unexpected(QStringLiteral(
            "Log in: send Authorization: Basic base64(operator:password) with the request."));
    const qsizetype space = h.indexOf(' ');
    const QByteArray scheme = h.left(space < 0 ? h.size() : space).toLower();
    const QByteArray value = space < 0 ? QByteArray() : h.mid(space + 1).trimmed();
    LoginCredential c;
    if (scheme == "bearer") {
        if (value.isEmpty() || value.size() > 4096)
            return std::unexpected(QStringLiteral("The Bearer token is empty or too long."));
        c.kind = LoginCredential::Kind::Bearer;
        c.token = value;
        return c;
    }
    if (scheme != "basic")
        return std::unexpected(
            QStringLiteral("Use Authorization: Basic (an operator) or Bearer (the bootstrap "
                           "token)."));
    auto decoded = QByteArray::fromBase64Encoding(value, QByteArray::AbortOnBase64DecodingErrors);
    const qsizetype colon = decoded ? decoded.decoded.indexOf(':') : -1;
    if (!decoded || colon < 0)
        return std::unexpected(QStringLiteral("Basic credentials must be base64(name:password)."));
    c.kind = LoginCredential::Kind::Basic;
    c.name = QString::fromUtf8(decoded.decoded.left(colon));
    c.password = decoded.decoded.mid(colon + 1);
    if (!validOperatorName(c.name))
        return std::unexpected(
            QStringLiteral("An operator name is 1 to 64 characters of a-z, 0-9, '.', '_', '-'."));
    if (c.password.isEmpty() || c.password.size() > kMaxPasswordBytes)
        return std::unexpected(
            QStringLiteral("The password must be 1 to %1 bytes.").arg(kMaxPasswordBytes));
    return c;
}

QByteArray loginAddress(const QHostAddress &peer, const QByteArray &forwardedFor,
                        const QStringList &trustedProxies) {
    const QString p = peer.toString();
    if (!trustedProxies.contains(p) || forwardedFor.isEmpty())
        return p.toUtf8();
    const QByteArray last = forwardedFor.mid(forwardedFor.lastIndexOf(',') + 1).trimmed();
    const QHostAddress address(QString::fromLatin1(last));
    return address.isNull() ? p.toUtf8() : address.toString().toUtf8();
}

OperatorAuthenticator::OperatorAuthenticator(const Config &config, PgConnection &pg,
                                             LoginThrottle &throttle, QObject *parent)
    : QObject(parent)
    , m_config(config)
    , m_pg(pg)
    , m_throttle(throttle) {}

void OperatorAuthenticator::refuse(const QString &name, const QByteArray &address,
                                   const QString &why,
                                   const std::function<void(const LoginResult &)> &done) {
    m_throttle.recordFailure(address, QDateTime::currentMSecsSinceEpoch());
    qCWarning(lcHttp).noquote() << "failed admin login:" << why << "operator"
                                << (name.isEmpty() ? QStringLiteral("-") : name) << "from"
                                << QString::fromUtf8(address);
    done(std::unexpected(
        LoginFailure{AdminError::Unauthorized,
                     QStringLiteral("Unknown operator, wrong password, or disabled."), 0}));
}

void OperatorAuthenticator::authenticate(const LoginCredential &credential,
                                         const QByteArray &address,
                                         std::function<void(const LoginResult &)> done) {
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    if (const int wait = m_throttle.retryAfterSeconds(address, now); wait > 0) {
        qCWarning(lcHttp).noquote() << "admin login refused: too many failed logins from"
                                    << QString::fromUtf8(address) << "; retry in" << wait << "s";
        done(std::unexpected(LoginFailure{
            AdminError::TooManyLoginAttempts,
            QStringLiteral("More than %1 failed logins from this address in a minute; try again "
                           "in %2 s.")
                .arg(m_throttle.limit())
                .arg(wait),
            wait}));
        return;
    }
    if (credential.kind == LoginCredential::Kind::Bearer) {
        const QByteArray want = m_config.adminToken.toUtf8();
        // Compare digests, so the time taken says nothing about the token.
        const bool ok = !want.isEmpty()
                        && QCryptographicHash::hash(credential.token, QCryptographicHash::Sha256)
                               == QCryptographicHash::hash(want, QCryptographicHash::Sha256);
        if (!ok)
            return refuse({}, address,
                          want.isEmpty() ? QStringLiteral("bootstrap token sent but none is set;")
                                         : QStringLiteral("wrong bootstrap token;"),
                          done);
        done(OperatorIdentity{QString::fromLatin1(kBootstrapName), Role::Admin});
        return;
    }
    // A slot among kMaxLoginsInFlight, held until the verification is done (or dropped).
    if (g_loginsInFlight.fetch_add(1) >= kMaxLoginsInFlight) {
        g_loginsInFlight.fetch_sub(1);
        qCWarning(lcHttp).noquote() << "admin login from" << QString::fromUtf8(address)
                                    << "turned away: too many logins in progress";
        done(std::unexpected(
            LoginFailure{AdminError::Unavailable,
                         QStringLiteral("Too many logins in progress; retry in a second."), 1}));
        return;
    }
    const auto slot = std::make_shared<LoginSlot>();
    QPointer<OperatorAuthenticator> self(this);
    const QString name = credential.name;
    const QByteArray password = credential.password;
    m_pg.query(
        "SELECT role, password_hash, disabled_at IS NOT NULL FROM operators "
        "WHERE name = $1",
        {name.toUtf8()}, [self, name, password, address, done, slot](const Result<PgResult> &r) {
            if (!self)
                return;
            if (!r) {
                qCWarning(lcHttp).noquote()
                    << "admin login of" << name << "cannot be checked:" << r.error().message;
                done(std::unexpected(LoginFailure{
                    AdminError::Unavailable,
                    QStringLiteral("The operator store cannot be reached; retry later."), 0}));
                return;
            }
            const bool found = !r->rows.isEmpty();
            const auto row = r->rows.value(0);
            const std::optional<Role> role =
                found ? admin::roleFromName(QString::fromUtf8(row.value(0))) : std::nullopt;
            const bool disabled = found && row.value(2) == "t";
            const QByteArray hash = found ? row.value(1) : QByteArray();
            verifyPasswordAsync(
                self, hash, password,
                [self, name, address, found, role, disabled, done, slot](bool match) {
                    if (!found)
                        return self->refuse(name, address, QStringLiteral("unknown operator;"),
                                            done);
                    if (!match)
                        return self->refuse(name, address, QStringLiteral("wrong password;"), done);
                    if (disabled || !role)
                        return self->refuse(name, address, QStringLiteral("operator disabled;"),
                                            done);
                    done(OperatorIdentity{name, *role});
                });
        });
}

std::optional<admin::AdminFailure>
OperatorAuthenticator::forbidden(const OperatorIdentity &who, const admin::AdminRequest &request) {
    Role needed = admin::minimumRole(request.op);
    // A repair needs the admin role: the sale's, and the provider's (H5, issue 19).
    const bool repairOp =
        request.op == admin::Op::ReconcileRun || request.op == admin::Op::PaymentsReconcile;
    if (repairOp && request.args.value(QStringLiteral("repair")).toBool())
        needed = Role::Admin;
    if (int(who.role) >= int(needed))
        return std::nullopt;
    return admin::AdminFailure{
        AdminError::Forbidden,
        QStringLiteral("%1 (role %2) may not call %3%4; it needs role %5.")
            .arg(who.name, admin::roleName(who.role), admin::opName(request.op),
                 repairOp && needed == Role::Admin ? QStringLiteral(" with repair") : QString(),
                 admin::roleName(needed)),
        {}};
}

} // namespace flashsale
