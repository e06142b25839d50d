#include "bookinginput.h"

#include "booking/reservationid.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonParseError>
#include <QStringList>

namespace flashsale {

const QString kUserIdChars =
    QStringLiteral("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.@-");
const QString kUserIdCharsText = QStringLiteral("letters, digits and _ . @ -");

bool validUserId(const QString &s) {
    if (s.isEmpty() || s.size() > 64)
        return false;
    for (QChar c : s) {
        if (!kUserIdChars.contains(c))
            return false;
    }
    return true;
}

qint64 parseId(const QString &s) {
    if (s.isEmpty() || s.size() > 18)
        return 0;
    for (QChar c : s) {
        if (!c.isDigit())
            return 0;
    }
    return s.toLongLong();
}

Problem invalidRequest(const FieldErrors &errors) {
    QJsonArray list;
    QStringList parts;
    for (const FieldError &e : errors) {
        list.append(QJsonObject{{"pointer", e.pointer}, {"detail", e.detail}});
        parts << (e.pointer.isEmpty() ? e.detail : e.pointer + QLatin1Char(' ') + e.detail);
    }
    return Problem::make(400, QStringLiteral("invalid-request"), parts.join(QStringLiteral("; ")))
        .with(QStringLiteral("errors"), list);
}

Problem invalidRequest(const QString &pointer, const QString &detail) {
    return invalidRequest(FieldErrors{FieldError{pointer, detail}});
}

std::expected<QJsonObject, Problem> parseJsonObject(const QByteArray &contentType,
                                                    const QByteArray &body) {
    const QByteArray type = contentType.toLower();
    if (!type.isEmpty() && !type.startsWith("application/json")
        && !(type.startsWith("application/") && type.contains("+json"))) {
        return std::unexpected(
            Problem::make(415, QStringLiteral("unsupported-media-type"),
                          QStringLiteral("Content-Type is %1; send application/json.")
                              .arg(QString::fromUtf8(type))));
    }
    if (body.trimmed().isEmpty())
        return std::unexpected(
            invalidRequest(QString(), QStringLiteral("the body is empty; send a JSON object")));
    QJsonParseError err;
    const QJsonDocument doc = QJsonDocument::fromJson(body, &err);
    if (err.error != QJsonParseError::NoError)
        return std::unexpected(
            invalidRequest(QString(), QStringLiteral("the body is not valid JSON: %1 at offset %2")
                                          .arg(err.errorString())
                                          .arg(err.offset)));
    if (!doc.isObject())
        return std::unexpected(
            invalidRequest(QString(), QStringLiteral("the body must be a JSON object")));
    return doc.object();
}

std::expected<QByteArray, Problem> parseIdempotencyKey(const QByteArray &key) {
    bool ok = key.size() <= 128;
    for (char c : key)
        ok = ok && c > 0x20 && c < 0x7f;
    if (!ok)
        return std::unexpected(
            invalidRequest(QStringLiteral("header:Idempotency-Key"),
                           QStringLiteral("must be 1 to 128 visible ASCII characters")));
    return key;
}

std::expected<BookingBody, Problem> parseBookingBody(const QJsonObject &body) {
    FieldReader r(body);
    const auto user =
        r.string(QStringLiteral("user_id"), false, 1, 64, kUserIdChars, kUserIdCharsText);
    const auto quantity = r.integer(QStringLiteral("quantity"), false, 1, 1000);
    const auto item = r.integer(QStringLiteral("item_id"), false, 1, Q_INT64_C(999999999999999999));
    r.rejectUnknown();
    if (!r.ok())
        return std::unexpected(invalidRequest(r.errors()));
    return BookingBody{user.value_or(QString()), int(quantity.value_or(1)), item.value_or(0)};
}

std::expected<CheckoutQuery, Problem> parseCheckoutQuery(const QUrlQuery &query) {
    const QString user = query.queryItemValue(QStringLiteral("user_id"), QUrl::FullyDecoded);
    const QString idText = query.queryItemValue(QStringLiteral("id"), QUrl::FullyDecoded);
    FieldErrors errors;
    if (!user.isEmpty() && !validUserId(user))
        errors.append(FieldError{QStringLiteral("query:user_id"),
                                 QStringLiteral("must be 1 to 64 %1").arg(kUserIdCharsText)});
    const qint64 itemId = parseId(idText);
    if (itemId == 0)
        errors.append(FieldError{QStringLiteral("query:id"),
                                 QStringLiteral("is required: a positive item id")});
    if (!errors.isEmpty())
        return std::unexpected(invalidRequest(errors));
    return CheckoutQuery{user, itemId};
}

std::expected<QByteArray, Problem> parsePurchaseQuery(const QUrlQuery &query) {
    const QByteArray code =
        query.queryItemValue(QStringLiteral("code"), QUrl::FullyDecoded).toUtf8();
    if (reservationSale(code) == 0)
        return std::unexpected(
            code.isEmpty()
                ? invalidRequest(QStringLiteral("query:code"), QStringLiteral("is required"))
                : Problem::make(404, QStringLiteral("reservation-not-found")));
    return code;
}

std::expected<QByteArray, Problem> parsePurchaseCode(const QByteArray &header,
                                                     const QByteArray &contentType,
                                                     const QByteArray &body,
                                                     const QUrlQuery &query) {
    auto checked = [](const QByteArray &code) -> std::expected<QByteArray, Problem> {
        if (reservationSale(code) == 0)
            return std::unexpected(Problem::make(404, QStringLiteral("reservation-not-found")));
        return code;
    };
    if (!header.isEmpty())
        return checked(header.trimmed());
    if (!body.trimmed().isEmpty()) {
        const QByteArray type = contentType.split(';').value(0).trimmed().toLower();
        if (type == "application/x-www-form-urlencoded") {
            const QUrlQuery form(QString::fromUtf8(body));
            const QByteArray code =
                form.queryItemValue(QStringLiteral("code"), QUrl::FullyDecoded).toUtf8();
            if (code.isEmpty())
                return std::unexpected(
                    invalidRequest(QStringLiteral("form:code"), QStringLiteral("is required")));
            return checked(code);
        }
        const auto object = parseJsonObject(contentType, body);
        if (!object)
            return std::unexpected(object.error());
        const QJsonValue code = object->value(QStringLiteral("code"));
        if (!code.isString() || code.toString().isEmpty())
            return std::unexpected(invalidRequest(
                QStringLiteral("/code"), QStringLiteral("is required: the checkout code")));
        return checked(code.toString().toUtf8());
    }
    return parsePurchaseQuery(query);
}

std::expected<std::optional<PowHeaders>, Problem> parsePowHeaders(const QByteArray &challenge,
                                                                  const QByteArray &solution) {
    if (challenge.isEmpty() && solution.isEmpty())
        return std::nullopt;
    if (challenge.isEmpty() || solution.isEmpty())
        return std::unexpected(
            invalidRequest(challenge.isEmpty() ? QStringLiteral("header:X-Pow-Challenge")
                                               : QStringLiteral("header:X-Pow-Solution"),
                           QStringLiteral("is required with the other proof-of-work header")));
    return PowHeaders{challenge, solution};
}

std::optional<QByteArray> bearerToken(const QByteArray &authorization) {
    if (!authorization.startsWith("Bearer "))
        return std::nullopt;
    return authorization.mid(7).trimmed();
}

} // namespace flashsale
