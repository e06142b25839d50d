#include "providerledger.h"

#include "http/httpclient.h"

#include <QEventLoop>
#include <QHash>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSet>

namespace flashsale::bench {

namespace {

constexpr int kShown = 5;

void evidence(CheckResult &r, const QString &what, const QStringList &ids, qsizetype count) {
    if (count == 0)
        return;
    r.pass = false;
    r.evidence << QStringLiteral("%1: %2 (%3%4)")
                      .arg(what)
                      .arg(count)
                      .arg(ids.join(QStringLiteral(", ")))
                      .arg(count > ids.size() ? QStringLiteral(", ...") : QString());
}

} // namespace

std::optional<QByteArray> fetchPaysimLedger(const QString &paysimUrl, int timeoutMs,
                                            QString *error) {
    HttpClient::Options o;
    o.maxResponseBytes = qsizetype(2) << 30; // about 200 bytes an entry: 10 M entries fit
    o.name = QStringLiteral("paysim-ledger");
    HttpClient client(o);
    HttpRequest req;
    QString base = paysimUrl;
    while (base.endsWith(QLatin1Char('/')))
        base.chop(1);
    req.url = (base + QStringLiteral("/ledger")).toUtf8();
    req.timeout = std::chrono::milliseconds(timeoutMs);
    std::optional<QByteArray> body;
    QEventLoop loop;
    client.send(req, [&](const Result<HttpResponse> &r) {
        if (!r)
            *error =
                QStringLiteral("GET %1: %2").arg(QString::fromUtf8(req.url), r.error().message);
        else if (r->status != 200)
            *error =
                QStringLiteral("GET %1: HTTP %2").arg(QString::fromUtf8(req.url)).arg(r->status);
        else
            body = r->body;
        loop.quit();
    });
    loop.exec();
    return body;
}

CheckResult checkProviderCharges(const QByteArray &ledgerJson, const PgView &pg) {
    CheckResult r;
    r.id = QStringLiteral("I5");
    r.name = QStringLiteral("charged at most once");
    QJsonParseError err;
    const QJsonObject ledger = QJsonDocument::fromJson(ledgerJson, &err).object();
    if (err.error != QJsonParseError::NoError
        || !ledger.value(QStringLiteral("entries")).isArray()) {
        r.pass = false;
        r.summary = QStringLiteral("the provider's ledger is not paysim's JSON");
        return r;
    }
    QHash<QString, const OrderRecord *> orders; // the provider knows order ids as strings
    for (const OrderRecord &o : pg.orders)
        orders.insert(QString::number(o.id), &o);

    QStringList twiceShown;
    qsizetype twice = 0;
    for (const QJsonValue &v :
         ledger.value(QStringLiteral("orders_charged_more_than_once")).toArray()) {
        if (!orders.contains(v.toString()))
            continue;
        if (twiceShown.size() < kShown)
            twiceShown << QStringLiteral("order %1").arg(v.toString());
        ++twice;
    }
    QSet<QString> succeeded; // this sale's orders with a payment the provider holds as succeeded
    qint64 payments = 0, refunded = 0;
    for (const QJsonValue &v : ledger.value(QStringLiteral("entries")).toArray()) {
        const QJsonObject e = v.toObject();
        if (e.value(QStringLiteral("object")).toString() != QLatin1String("payment"))
            continue;
        const QString order = e.value(QStringLiteral("order_id")).toString();
        if (!orders.contains(order))
            continue;
        ++payments;
        const QString status = e.value(QStringLiteral("status")).toString();
        if (status == QLatin1String("succeeded"))
            succeeded.insert(order);
        else if (status == QLatin1String("refunded"))
            ++refunded;
    }
    QStringList paidShown, notPaidShown;
    qsizetype paidNotCharged = 0, chargedNotPaid = 0, paid = 0;
    for (const OrderRecord &o : pg.orders) {
        const QString id = QString::number(o.id);
        const bool isPaid = o.status == "paid";
        paid += isPaid;
        if (isPaid && !succeeded.contains(id)) {
            if (paidShown.size() < kShown)
                paidShown << QStringLiteral("order %1").arg(id);
            ++paidNotCharged;
        }
        if (!isPaid && succeeded.contains(id)) {
            if (notPaidShown.size() < kShown)
                notPaidShown
                    << QStringLiteral("order %1 (%2)").arg(id, QString::fromUtf8(o.status));
            ++chargedNotPaid;
        }
    }
    r.summary = QStringLiteral("provider: %1 payments of the sale's orders, %2 succeeded, %3 "
                               "refunded, %4 orders charged more than once; %5 paid orders")
                    .arg(payments)
                    .arg(succeeded.size())
                    .arg(refunded)
                    .arg(twice)
                    .arg(paid);
    evidence(r, QStringLiteral("orders the provider charged more than once"), twiceShown, twice);
    evidence(r, QStringLiteral("paid orders without a succeeded payment at the provider"),
             paidShown, paidNotCharged);
    evidence(r, QStringLiteral("succeeded payments of orders not paid (not refunded)"),
             notPaidShown, chargedNotPaid);
    return r;
}

} // namespace flashsale::bench
