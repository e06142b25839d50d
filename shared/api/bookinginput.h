#pragma once

#include "core/fieldreader.h"
#include "http/problem.h"

#include <QByteArray>
#include <QJsonObject>
#include <QString>
#include <QUrlQuery>

#include <expected>
#include <optional>

// What the booking routes read from a request (body, query, headers), parsed without the
// request or any server: pure functions, so that tests and fuzzers can call them alone. Each
// either returns the value or the problem the route answers with (400 "invalid-request" with
// `errors`, 415), and never throws. Any thread.
namespace flashsale {

// The characters of a user id, and how the errors describe them.
extern const QString kUserIdChars;
extern const QString kUserIdCharsText;

// 1..64 of kUserIdChars.
bool validUserId(const QString &s);
// A positive decimal id of at most 18 digits from a path segment or query value, or 0.
qint64 parseId(const QString &s);

// 400 invalid-request listing every error ("errors": [{pointer, detail}]).
Problem invalidRequest(const FieldErrors &errors);
Problem invalidRequest(const QString &pointer, const QString &detail);

// The JSON object of a request body. Fails with 415 for a Content-Type other than JSON (an
// absent one is taken as JSON), 400 for an empty body, invalid JSON or a non-object.
[[nodiscard]] std::expected<QJsonObject, Problem> parseJsonObject(const QByteArray &contentType,
                                                                  const QByteArray &body);

// The Idempotency-Key header: empty when absent, else 1..128 visible ASCII characters; 400
// otherwise.
[[nodiscard]] std::expected<QByteArray, Problem> parseIdempotencyKey(const QByteArray &value);

// POST /api/v1/sales/{id}/book: {"user_id"?, "quantity"? 1..1000, "item_id"?}; unknown members
// are errors. Absent members read as empty, 1 and 0.
struct BookingBody {
    QString userId;
    int quantity = 1;
    qint64 itemId = 0;
};
[[nodiscard]] std::expected<BookingBody, Problem> parseBookingBody(const QJsonObject &body);

// POST /checkout?id=<item>&user_id=<user>: id required, user_id optional but valid.
struct CheckoutQuery {
    QString userId;
    qint64 itemId = 0;
};
[[nodiscard]] std::expected<CheckoutQuery, Problem> parseCheckoutQuery(const QUrlQuery &query);

// POST /purchase?code=<reservation id>: the code, or 400 when absent and 404
// "reservation-not-found" when it is not a reservation id.
[[nodiscard]] std::expected<QByteArray, Problem> parsePurchaseQuery(const QUrlQuery &query);

// POST /purchase: the checkout code, from (first found) the X-Checkout-Code header, the body
// ({"code": C} as application/json, or code=C as application/x-www-form-urlencoded) or, for the
// seed's contract (DESIGN.md scenario 2), the query ?code=C. Codes belong in the header or body:
// a query string ends up in access logs. 400 when there is none or the body is malformed (415
// for another body type), 404 "reservation-not-found" when it is not a reservation id. Pure.
[[nodiscard]] std::expected<QByteArray, Problem> parsePurchaseCode(const QByteArray &header,
                                                                   const QByteArray &contentType,
                                                                   const QByteArray &body,
                                                                   const QUrlQuery &query);

// X-Pow-Challenge and X-Pow-Solution: both absent is nullopt (the sale decides whether one is
// needed), both present is the pair, one alone is 400.
struct PowHeaders {
    QByteArray challenge;
    QByteArray solution;
};
[[nodiscard]] std::expected<std::optional<PowHeaders>, Problem>
parsePowHeaders(const QByteArray &challenge, const QByteArray &solution);

// The token of "Authorization: Bearer <token>", or nullopt when the scheme is not Bearer.
std::optional<QByteArray> bearerToken(const QByteArray &authorization);

} // namespace flashsale
