#include "buyerauth.h"

#include "api/bookinginput.h"
#include "core/config.h"

#include <QDateTime>
#include <QHostAddress>

namespace flashsale {

namespace {

// The key set of buyer tokens: the --buyer-token-keys in their order (the first signs), then
// the legacy --buyer-token-secret for tokens without a "kid".
BuyerTokens buyerTokens(const Config &config) {
    QList<BuyerTokenKey> keys;
    for (const QString &pair : config.buyerTokenKeys) {
        const qsizetype eq = pair.indexOf(QLatin1Char('='));
        keys << BuyerTokenKey{pair.left(eq).toUtf8(), pair.mid(eq + 1).toUtf8()};
    }
    keys << BuyerTokenKey{QByteArray(), config.buyerTokenSecret.toUtf8()};
    return BuyerTokens(keys, BuyerTokenPolicy{config.buyerTokenIssuer.toUtf8(),
                                              config.buyerTokenAudience.toUtf8(),
                                              qint64(config.buyerTokenMaxLifetimeSeconds) * 1000,
                                              qint64(config.buyerTokenClockSkewSeconds) * 1000});
}

} // namespace

QByteArray BuyerAuth::powSecret(const Config &config) {
    if (!config.buyerTokenSecret.isEmpty() || config.buyerTokenKeys.isEmpty())
        return config.buyerTokenSecret.toUtf8();
    const QString &first = config.buyerTokenKeys.first();
    return first.mid(first.indexOf(QLatin1Char('=')) + 1).toUtf8();
}

BuyerAuth::BuyerAuth(const Config &config)
    : m_config(config)
    , m_tokens(buyerTokens(config))
    , m_pow(powSecret(config)) {}

std::optional<QByteArray> BuyerAuth::buyer(const ExchangePtr &ex, const QString &claimed,
                                           const QString &claimedPointer) const {
    const QByteArray auth = ex->header("authorization");
    if (auth.isEmpty()) {
        if (!m_config.devUserIds) {
            ex->sendProblem(Problem::make(401, QStringLiteral("unauthorized"),
                                          QStringLiteral("Send Authorization: Bearer <buyer "
                                                         "token>."))
                                .header("WWW-Authenticate", "Bearer realm=\"flashsale\""));
            return std::nullopt;
        }
        if (!validUserId(claimed)) {
            ex->sendProblem(invalidRequest(
                claimedPointer, QStringLiteral("is required: 1 to 64 %1").arg(kUserIdCharsText)));
            return std::nullopt;
        }
        return claimed.toUtf8();
    }
    auto refuse = [&ex](const QString &slug, const QString &detail) {
        ex->sendProblem(
            Problem::make(401, slug, detail)
                .header("WWW-Authenticate", "Bearer realm=\"flashsale\", error=\"invalid_token\""));
        return std::nullopt;
    };
    const auto token = bearerToken(auth);
    if (!token)
        return refuse(QStringLiteral("invalid-token"),
                      QStringLiteral("Send the buyer token as Authorization: Bearer <token>."));
    const auto identity = m_tokens.verify(*token, QDateTime::currentMSecsSinceEpoch());
    if (!identity)
        return refuse(identity.error() == BuyerTokens::Error::Expired
                          ? QStringLiteral("token-expired")
                          : QStringLiteral("invalid-token"),
                      QString::fromLatin1(BuyerTokens::errorText(identity.error())));
    if (!claimed.isEmpty() && claimed.toUtf8() != identity->userId) {
        ex->sendProblem(Problem::make(
            403, QStringLiteral("token-user-mismatch"),
            QStringLiteral("The token is %1's.").arg(QString::fromUtf8(identity->userId))));
        return std::nullopt;
    }
    return identity->userId;
}

std::optional<CheckedProofOfWork> BuyerAuth::proofOfWork(const ExchangePtr &ex, qint64 saleId,
                                                         const QByteArray &userId) const {
    const auto pow = parsePowHeaders(ex->header("x-pow-challenge"), ex->header("x-pow-solution"));
    if (!pow) {
        ex->sendProblem(pow.error());
        return std::nullopt;
    }
    if (!*pow)
        return CheckedProofOfWork{}; // the script says whether the sale asks for one
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    const auto checked = m_pow.verify((*pow)->challenge, (*pow)->solution, saleId, userId, now);
    if (!checked) {
        ex->sendProblem(
            Problem::make(403, QStringLiteral("pow-invalid"),
                          QString::fromLatin1(PowChallenges::errorText(checked.error()))));
        return std::nullopt;
    }
    return CheckedProofOfWork{checked->difficulty, checked->nonce, checked->expiresAtMs - now};
}

QByteArray BuyerAuth::clientIp(const ExchangePtr &ex) const {
    QHostAddress client = ex->remoteAddress();
    if (m_config.trustedProxies.contains(client.toString())) {
        // nginx appends the address it saw last; anything before it is the client's to invent.
        const QByteArray forwarded = ex->header("x-forwarded-for");
        const QByteArray last = forwarded.mid(forwarded.lastIndexOf(',') + 1).trimmed();
        const QHostAddress address(QString::fromLatin1(last));
        if (!address.isNull())
            client = address;
    }
    return rateLimitAddress(client);
}

QByteArray BuyerAuth::rateLimitAddress(const QHostAddress &address) {
    bool v4 = false;
    const quint32 ipv4 = address.toIPv4Address(&v4); // also an IPv4-mapped IPv6 address
    if (v4)
        return QHostAddress(ipv4).toString().toUtf8();
    if (address.protocol() != QAbstractSocket::IPv6Protocol)
        return address.toString().toUtf8();
    // One subscriber gets a whole /64 and picks any address in it: the /64 is the client.
    Q_IPV6ADDR bytes = address.toIPv6Address();
    for (int i = 8; i < 16; ++i)
        bytes[i] = 0;
    return QHostAddress(bytes).toString().toUtf8() + "/64";
}

} // namespace flashsale
