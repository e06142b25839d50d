#pragma once

#include "checkdata.h"
#include "invariants.h"

#include <QByteArray>
#include <QString>

#include <optional>

namespace flashsale::bench {

// The payment provider simulator's ledger (flashsale-paysim GET /ledger), read over HTTP:
// GET <paysimUrl>/ledger, bounded by `timeoutMs`. Returns the body, or nullopt with `error`.
// Runs its own event loop: call it from the command, never from an event handler.
std::optional<QByteArray> fetchPaysimLedger(const QString &paysimUrl, int timeoutMs,
                                            QString *error);

// "I5 charged at most once", judged from the provider's side for this sale's orders (the ledger
// holds every sale's payments, so only the orders PostgreSQL names are counted):
//   - none of them is in the ledger's orders_charged_more_than_once (two payments that took
//     money: succeeded, or refunded since);
//   - the orders with a payment the provider still holds as succeeded are exactly the paid
//     orders (a set comparison, which also makes the counts equal): a paid order with no
//     succeeded payment was never charged, a succeeded payment of an order not paid was charged
//     and not refunded (after the drain its refund is overdue).
// A ledger that is not paysim's JSON fails the check with the reason.
CheckResult checkProviderCharges(const QByteArray &ledgerJson, const PgView &pg);

} // namespace flashsale::bench
