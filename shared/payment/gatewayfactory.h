#pragma once

#include <QObject>

#include <memory>

namespace flashsale {

class PaymentGateway;
class RedisClient;
struct Config;

// The payment gateway a process talks to the provider through, as the configuration chooses it.
// For the in-process simulator, `redis` holds its ledger (fs:paysim:*) and must outlive the
// gateway. Used where a second gateway is needed beside the payment service's own: provider
// reconciliation in the API process (payments.reconcile) and in the payment role's periodic job.
//
// H5 note for the merge: this knows the simulator only; the HTTP adapter (H3, HttpGateway,
// --payment-provider http) belongs here too, so that every process lists the provider the
// payment service charges.
std::unique_ptr<PaymentGateway> createPaymentGateway(const Config &config, RedisClient &redis,
                                                     QObject *parent = nullptr);

} // namespace flashsale
