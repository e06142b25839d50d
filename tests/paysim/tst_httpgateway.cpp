// HttpGateway (shared/payment/httpgateway.h) against a real flashsale-paysim process: what the
// payment service sees for each answer of a Stripe-shaped provider, and what the provider's own
// ledger says was charged. Each case asserts the outcome and the money moved (GET /ledger).

#include "payment/httpgateway.h"
#include "paysimprocess.h"

#include <QJsonArray>
#include <QTest>

#include <optional>

using namespace flashsale;
using namespace flashsale::test;

namespace {

template<typename T>
std::optional<T> waitFor(std::optional<T> &slot, int ms = 15000) {
    QElapsedTimer t;
    t.start();
    while (!slot && t.elapsed() < ms)
        QTest::qWait(5);
    return slot;
}

ChargeRequest order(qint64 id, qint64 cents = 1999) {
    ChargeRequest r;
    r.orderId = id;
    r.userId = "alice";
    r.amountCents = cents;
    r.idempotencyKey = "order-" + QByteArray::number(id);
    return r;
}

// The ledger's payments of one order (as the provider recorded them).
QList<QJsonObject> paymentsOf(const QJsonObject &ledger, qint64 orderId) {
    QList<QJsonObject> out;
    for (const QJsonValue &v : ledger.value(QStringLiteral("entries")).toArray()) {
        const QJsonObject e = v.toObject();
        if (e.value(QStringLiteral("object")) == QLatin1String("payment")
            && e.value(QStringLiteral("order_id")).toString() == QString::number(orderId))
            out << e;
    }
    return out;
}

} // namespace

class TestHttpGateway : public QObject {
    Q_OBJECT

    PaySim m_sim;
    std::unique_ptr<HttpGateway> m_gateway;

    Result<ChargeOutcome> charge(HttpGateway &g, const ChargeRequest &r) {
        std::optional<Result<ChargeOutcome>> out;
        g.charge(r, [&out](const Result<ChargeOutcome> &res) { out = res; });
        const auto got = waitFor(out);
        if (!got)
            return fail(ErrorCode::Internal, QStringLiteral("no answer within 15 s"));
        return *got;
    }
    Result<void> refund(const ChargeRequest &r) {
        std::optional<Result<void>> out;
        m_gateway->refund(r, [&out](const Result<void> &res) { out = res; });
        const auto got = waitFor(out);
        if (!got)
            return fail(ErrorCode::Internal, QStringLiteral("no answer within 15 s"));
        return *got;
    }
    Result<ProviderPage> list(const QByteArray &after, int limit) {
        std::optional<Result<ProviderPage>> out;
        m_gateway->listPayments(after, limit,
                                [&out](const Result<ProviderPage> &res) { out = res; });
        const auto got = waitFor(out);
        if (!got)
            return fail(ErrorCode::Internal, QStringLiteral("no answer within 15 s"));
        return *got;
    }
    void reset() {
        QVERIFY(m_sim.settings(
            QJsonObject{{"latency_ms", 0}, {"decline_percent", 0}, {"rate_limit_per_s", 0}}));
        QCOMPARE(m_sim.request("POST", QStringLiteral("/admin/outage"), {{"seconds", 0}}).first,
                 200);
    }

private slots:
    void initTestCase() {
        QVERIFY2(m_sim.start(), "flashsale-paysim did not start");
        HttpGateway::Options o;
        o.baseUrl = m_sim.url().toUtf8();
        o.apiKey = "sk_test_local";
        o.timeout = std::chrono::milliseconds(400);
        m_gateway = std::make_unique<HttpGateway>(o);
    }
    void init() { reset(); }

    void approvedChargeCarriesThePaymentId() {
        const auto r = charge(*m_gateway, order(101));
        QVERIFY2(r, qPrintable(r ? QString() : r.error().message));
        QVERIFY(r->approved);
        const QList<QJsonObject> p = paymentsOf(m_sim.ledger(), 101);
        QCOMPARE(p.size(), 1);
        QCOMPARE(r->providerRef, p.first().value(QStringLiteral("id")).toString().toUtf8());
        QCOMPARE(p.first().value(QStringLiteral("idempotency_key")).toString(),
                 QStringLiteral("order-101"));
    }

    void declineIsAnOutcomeNotAnError() {
        QVERIFY(m_sim.settings({{"decline_percent", 100}}));
        const auto r = charge(*m_gateway, order(102));
        QVERIFY2(r, qPrintable(r ? QString() : r.error().message));
        QVERIFY(!r->approved);
        QVERIFY(!r->declineReason.isEmpty());
        const QList<QJsonObject> p = paymentsOf(m_sim.ledger(), 102);
        QCOMPARE(p.size(), 1);
        QCOMPARE(p.first().value(QStringLiteral("status")).toString(), QStringLiteral("declined"));
        QCOMPARE(r->providerRef, p.first().value(QStringLiteral("id")).toString().toUtf8());
    }

    void rateLimitedIsUnavailableWithTheWaitAsked() {
        QVERIFY(m_sim.settings({{"rate_limit_per_s", 1}}));
        const int paymentsBefore = m_sim.ledger().value(QStringLiteral("payments")).toInt();
        QVERIFY(charge(*m_gateway, order(103)));
        const auto limited = charge(*m_gateway, order(104));
        QVERIFY(!limited);
        QCOMPARE(limited.error().code, ErrorCode::Unavailable);
        const auto wait = HttpGateway::retryAfterMs(limited.error());
        QVERIFY2(wait && *wait >= 1, qPrintable(limited.error().message));
        QVERIFY(paymentsOf(m_sim.ledger(), 104).isEmpty()); // nothing charged
        const auto held = charge(*m_gateway, order(104));   // at once: refused without a request
        QVERIFY(!held && HttpGateway::retryAfterMs(held.error()));
        QCOMPARE(m_sim.ledger().value(QStringLiteral("payments")).toInt(), paymentsBefore + 1);
        QTest::qWait(int(*wait));
        const auto retried = charge(*m_gateway, order(104)); // the same key, after the wait
        QVERIFY2(retried && retried->approved,
                 qPrintable(retried ? QString() : retried.error().message));
        QCOMPARE(paymentsOf(m_sim.ledger(), 104).size(), 1);
    }

    // A 503 with Retry-After pauses the gateway: until then it refuses at once, sending nothing
    // (the provider's ledger sees no request), even once the provider is back.
    void outageIsUnavailableAndNothingCharged() {
        HttpGateway::Options o;
        o.baseUrl = m_sim.url().toUtf8();
        HttpGateway gateway(o);
        QCOMPARE(m_sim.request("POST", QStringLiteral("/admin/outage"), {{"seconds", 30}}).first,
                 200);
        const auto r = charge(gateway, order(105));
        QVERIFY(!r);
        QCOMPARE(r.error().code, ErrorCode::Unavailable);
        const auto wait = HttpGateway::retryAfterMs(r.error());
        QVERIFY(wait && *wait >= 29000); // Retry-After: the rest of the outage
        QVERIFY(paymentsOf(m_sim.ledger(), 105).isEmpty());
        reset(); // the provider is back early; the gateway still holds to the pause it was given
        const auto held = charge(gateway, order(105));
        QVERIFY(!held);
        QVERIFY2(held.error().message.contains(QLatin1String("held back")),
                 qPrintable(held.error().message));
        const auto left = HttpGateway::retryAfterMs(held.error());
        QVERIFY(left && *left > 25000 && *left <= *wait);
        QVERIFY(paymentsOf(m_sim.ledger(), 105).isEmpty());
        const auto after = charge(*m_gateway, order(105)); // a gateway with no pause
        QVERIFY(after && after->approved);
        QCOMPARE(paymentsOf(m_sim.ledger(), 105).size(), 1);
    }

    void connectionRefusedIsUnavailable() {
        HttpGateway::Options o;
        o.baseUrl = "http://127.0.0.1:" + QByteArray::number(freePort());
        HttpGateway nowhere(o);
        const auto r = charge(nowhere, order(106));
        QVERIFY(!r);
        QCOMPARE(r.error().code, ErrorCode::Unavailable);
        QVERIFY(!HttpGateway::retryAfterMs(r.error()));
    }

    // The provider charged, the answer came too late: the retry under the same key gets the
    // first answer, and the order is charged once.
    void timeoutThenReplayChargesOnce() {
        QVERIFY(m_sim.settings({{"latency_ms", 1500}}));
        const auto late = charge(*m_gateway, order(107));
        QVERIFY(!late);
        QCOMPARE(late.error().code, ErrorCode::Unavailable);
        QCOMPARE(paymentsOf(m_sim.ledger(), 107).size(), 1); // charged all the same
        reset();
        const auto replay = charge(*m_gateway, order(107));
        QVERIFY(replay && replay->approved);
        const QJsonObject ledger = m_sim.ledger();
        const QList<QJsonObject> p = paymentsOf(ledger, 107);
        QCOMPARE(p.size(), 1);
        QCOMPARE(replay->providerRef, p.first().value(QStringLiteral("id")).toString().toUtf8());
        QVERIFY(ledger.value(QStringLiteral("orders_charged_more_than_once")).toArray().isEmpty());
    }

    void reusedKeyWithAnotherAmountIsFinal() {
        QVERIFY(charge(*m_gateway, order(108, 1000)));
        const auto r = charge(*m_gateway, order(108, 2000));
        QVERIFY(!r);
        QCOMPARE(r.error().code, ErrorCode::Conflict);
        QCOMPARE(paymentsOf(m_sim.ledger(), 108).size(), 1);
    }

    void refundOnceUnderTheOrdersKey() {
        const auto paid = charge(*m_gateway, order(109));
        QVERIFY(paid && paid->approved);
        ChargeRequest r = order(109);
        r.providerRef = paid->providerRef;
        QVERIFY(refund(r));
        QVERIFY(refund(r));                    // a retry: the same refund
        ChargeRequest unknownRef = order(110); // no payment id recorded: looked up by order
        const auto paid2 = charge(*m_gateway, unknownRef);
        QVERIFY(paid2 && paid2->approved);
        QVERIFY(refund(unknownRef));
        const QJsonObject ledger = m_sim.ledger();
        int refunds = 0;
        for (const QJsonValue &v : ledger.value(QStringLiteral("entries")).toArray()) {
            const QJsonObject e = v.toObject();
            if (e.value(QStringLiteral("object")) == QLatin1String("refund")) {
                ++refunds;
                QVERIFY(e.value(QStringLiteral("order_id")) == QLatin1String("109")
                        || e.value(QStringLiteral("order_id")) == QLatin1String("110"));
            }
        }
        QCOMPARE(refunds, 2);
        QCOMPARE(paymentsOf(ledger, 109).first().value(QStringLiteral("status")).toString(),
                 QStringLiteral("refunded"));
        ChargeRequest declined = order(111);
        QVERIFY(m_sim.settings({{"decline_percent", 100}}));
        const auto d = charge(*m_gateway, declined);
        QVERIFY(d && !d->approved);
        declined.providerRef = d->providerRef;
        const auto nothing = refund(declined);
        QVERIFY(!nothing); // a declined payment took no money: a final error, not a retry
        QVERIFY(nothing.error().code != ErrorCode::Unavailable);
    }

    void listsEveryPaymentInPages() {
        const int total = m_sim.ledger().value(QStringLiteral("payments")).toInt();
        QVERIFY(total >= 5);
        QList<QByteArray> ids;
        QByteArray after;
        int pages = 0;
        for (;;) {
            const auto page = list(after, 2);
            QVERIFY2(page, qPrintable(page ? QString() : page.error().message));
            ++pages;
            for (const ProviderPayment &p : page->data) {
                QVERIFY(!p.id.isEmpty());
                QVERIFY(p.orderId > 0);
                QCOMPARE(p.idempotencyKey, "order-" + QByteArray::number(p.orderId));
                ids << p.id;
            }
            if (!page->hasMore)
                break;
            QCOMPARE(page->data.size(), 2);
            after = page->data.last().id;
        }
        QCOMPARE(ids.size(), total);
        QCOMPARE(pages, (total + 1) / 2);
        QCOMPARE(ids.first(), QByteArray("pay_1"));
        QCOMPARE(ids.last(), "pay_" + QByteArray::number(total));
    }
};

QTEST_GUILESS_MAIN(TestHttpGateway)
#include "tst_httpgateway.moc"
