// libFuzzer target: everything the booking routes read from a request, through the pure parsers
// the routes call (api/bookinginput.h) and the buyer token and proof-of-work checks.
//
// Input: length-prefixed fields (FuzzedDataProvider): Content-Type, body, query string,
// Idempotency-Key, X-Pow-Challenge, X-Pow-Solution, Authorization, and JWT header and claims
// that are signed with the test secret so the claims checks are reached too.
// Properties, beyond "no crash, leak or undefined behaviour":
//   - every refusal is a documented problem type with its status (400 ones list their errors);
//   - what is accepted is within the documented ranges, and a booking body re-encoded from what
//     was read parses back to the same values; a purchase code, wherever it came from, names a
//     sale and has one spelling;
//   - a token verifies only with a valid user id and an expiry after "now"; a token issued for
//     a valid user verifies back to that user;
//   - a challenge issued for a sale and user verifies with its solution, and only for them.

#include "admission/buyertoken.h"
#include "admission/powchallenge.h"
#include "api/bookinginput.h"
#include "booking/reservationid.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QMessageAuthenticationCode>

#include <fuzzer/FuzzedDataProvider.h>

#include <cstdio>
#include <cstdlib>

using namespace flashsale;

namespace {

const QByteArray kSecret = "fuzz-secret-0123456789abcdef0123456789";
constexpr auto kB64 = QByteArray::Base64UrlEncoding | QByteArray::OmitTrailingEquals;

void check(bool ok, const char *what) {
    if (!ok) {
        std::fprintf(stderr, "property violated: %s\n", what);
        std::abort();
    }
}

QByteArray bytes(FuzzedDataProvider &in, size_t max) {
    const std::string s = in.ConsumeRandomLengthString(max);
    return QByteArray(s.data(), qsizetype(s.size()));
}

void checkProblem(const Problem &p) {
    check(!problemTitle(p.slug).isEmpty(), "a refusal has a documented problem type");
    for (const ProblemType &t : problemTypes())
        if (p.slug == QLatin1String(t.slug))
            check(p.status == t.status, "a refusal has its type's status");
    if (p.slug == QLatin1String("invalid-request")) {
        const QJsonArray errors = p.extensions.value(QStringLiteral("errors")).toArray();
        check(!errors.isEmpty(), "a 400 lists its errors");
        for (const QJsonValue &e : errors) {
            const QString pointer = e.toObject().value(QStringLiteral("pointer")).toString();
            check(pointer.isEmpty() || pointer.startsWith(QLatin1Char('/'))
                      || pointer.startsWith(QLatin1String("header:"))
                      || pointer.startsWith(QLatin1String("query:")),
                  "an error names a JSON pointer, a header or a query parameter");
            check(!e.toObject().value(QStringLiteral("detail")).toString().isEmpty(),
                  "an error says what is wrong");
        }
    }
    const QJsonObject body = QJsonDocument::fromJson(p.toJson(QStringLiteral("/x"))).object();
    check(body.value(QStringLiteral("type")).toString() == QStringLiteral("/problems/") + p.slug,
          "the problem body carries its type");
}

void bookingBody(const QByteArray &contentType, const QByteArray &body) {
    const auto object = parseJsonObject(contentType, body);
    if (!object)
        return checkProblem(object.error());
    const auto fields = parseBookingBody(*object);
    if (!fields)
        return checkProblem(fields.error());
    check(fields->userId.isEmpty() || validUserId(fields->userId), "user_id is a valid user id");
    check(fields->quantity >= 1 && fields->quantity <= 1000, "quantity is 1..1000");
    check(fields->itemId >= 0 && fields->itemId <= Q_INT64_C(999999999999999999),
          "item_id is absent or 1..999999999999999999");
    QJsonObject again;
    if (!fields->userId.isEmpty())
        again.insert(QStringLiteral("user_id"), fields->userId);
    again.insert(QStringLiteral("quantity"), fields->quantity);
    if (fields->itemId)
        again.insert(QStringLiteral("item_id"), fields->itemId);
    const auto back =
        parseBookingBody(QJsonDocument::fromJson(QJsonDocument(again).toJson()).object());
    check(back && back->userId == fields->userId && back->quantity == fields->quantity
              && back->itemId == fields->itemId,
          "a booking body round-trips");
}

void queries(const QByteArray &query) {
    const QUrlQuery q(QString::fromUtf8(query));
    if (const auto c = parseCheckoutQuery(q)) {
        check(c->itemId > 0, "checkout has an item");
        check(c->userId.isEmpty() || validUserId(c->userId), "checkout's user is valid");
    } else {
        checkProblem(c.error());
    }
    if (const auto code = parsePurchaseQuery(q)) {
        const qint64 sale = reservationSale(*code);
        check(sale > 0, "a purchase code names a sale");
        check(*code == QByteArray::number(sale) + code->mid(code->indexOf('-')),
              "a purchase code is canonical: one code per reservation");
    } else {
        checkProblem(code.error());
    }
}

// POST /purchase: the code from X-Checkout-Code (here the solution field), the body or the query.
void purchaseCode(const QByteArray &header, const QByteArray &contentType, const QByteArray &body,
                  const QByteArray &query) {
    if (const auto code =
            parsePurchaseCode(header, contentType, body, QUrlQuery(QString::fromUtf8(query)))) {
        const qint64 sale = reservationSale(*code);
        check(sale > 0, "a purchase code names a sale");
        check(*code == QByteArray::number(sale) + code->mid(code->indexOf('-')),
              "a purchase code is canonical: one code per reservation");
    } else {
        checkProblem(code.error());
    }
}

void headers(const QByteArray &key, const QByteArray &challenge, const QByteArray &solution,
             const QByteArray &authorization, qint64 now) {
    if (const auto k = parseIdempotencyKey(key)) {
        check(k->size() <= 128, "an idempotency key has at most 128 characters");
        for (char c : *k)
            check(c > 0x20 && c < 0x7f, "an idempotency key is visible ASCII");
    } else {
        checkProblem(k.error());
    }
    static const PowChallenges pow(kSecret);
    if (const auto h = parsePowHeaders(challenge, solution)) {
        if (*h) {
            check(!(*h)->challenge.isEmpty() && !(*h)->solution.isEmpty(), "both pow headers");
            const auto checked = pow.verify((*h)->challenge, (*h)->solution, 7, "alice", now);
            check(!checked, "a forged challenge never verifies");
        }
    } else {
        checkProblem(h.error());
    }
    static const BuyerTokens tokens(kSecret);
    if (const auto token = bearerToken(authorization)) {
        if (const auto id = tokens.verify(*token, now)) {
            check(validUserId(QString::fromUtf8(id->userId)), "a token's user is valid");
            check(id->expiresAtMs > now, "a token verifies only before it expires");
        }
    }
}

void signedToken(const QByteArray &header, const QByteArray &claims, qint64 now) {
    static const BuyerTokens tokens(kSecret);
    const QByteArray body = header.toBase64(kB64) + '.' + claims.toBase64(kB64);
    const QByteArray token =
        body + '.'
        + QMessageAuthenticationCode::hash(body, kSecret, QCryptographicHash::Sha256)
              .toBase64(kB64);
    if (const auto id = tokens.verify(token, now)) {
        check(validUserId(QString::fromUtf8(id->userId)), "a signed token's user is valid");
        check(id->expiresAtMs + tokens.policy().skewMs > now,
              "a signed token verifies only before it expires (give or take the skew)");
    } else {
        check(std::string_view(BuyerTokens::errorText(id.error())) != "invalid token",
              "every token error has its text");
    }
}

void roundTrips(FuzzedDataProvider &in, qint64 now) {
    const QByteArray user = bytes(in, 80);
    static const BuyerTokens tokens(kSecret);
    const qint64 expires = now + in.ConsumeIntegralInRange<qint64>(-10000000, 10000000) * 1000;
    const auto id = tokens.verify(tokens.issue(user, now, expires), now);
    // issue() writes whole seconds: iat and exp are floored.
    const qint64 iatMs = now / 1000 * 1000, expMs = expires / 1000 * 1000;
    if (validUserId(QString::fromUtf8(user)) && expMs + tokens.policy().skewMs > now
        && expMs - iatMs <= tokens.policy().maxLifetimeMs)
        check(id && id->userId == user, "an issued token verifies to its user");
    else
        check(!id, "a token for an invalid user, past expiry or too long a life does not verify");

    static const PowChallenges pow(kSecret);
    const qint64 sale = in.ConsumeIntegralInRange<qint64>(1, Q_INT64_C(999999999999999999));
    const int difficulty = in.ConsumeIntegralInRange<int>(0, 6);
    const QByteArray challenge = pow.issue(sale, user, difficulty, now + 60000);
    const QByteArray solution = PowChallenges::solve(challenge, difficulty);
    const auto checked = pow.verify(challenge, solution, sale, user, now);
    check(checked && checked->difficulty == difficulty, "an issued challenge verifies");
    check(!pow.verify(challenge, solution, sale + 1, user, now), "only for its sale");
    check(!pow.verify(challenge, solution, sale, user + "x", now), "only for its user");
    check(!pow.verify(challenge, solution, sale, user, now + 60000), "only until it expires");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    FuzzedDataProvider in(data, size);
    const qint64 now = Q_INT64_C(1800000000000);
    const QByteArray contentType = bytes(in, 64);
    const QByteArray body = bytes(in, 4096);
    const QByteArray query = bytes(in, 512);
    const QByteArray key = bytes(in, 200);
    const QByteArray challenge = bytes(in, 600);
    const QByteArray solution = bytes(in, 40);
    const QByteArray authorization = bytes(in, 1024);
    const QByteArray jwtHeader = bytes(in, 128);
    const QByteArray jwtClaims = bytes(in, 512);
    bookingBody(contentType, body);
    queries(query);
    purchaseCode(solution, contentType, body, query);
    headers(key, challenge, solution, authorization, now);
    signedToken(jwtHeader, jwtClaims, now);
    roundTrips(in, now);
    return 0;
}
