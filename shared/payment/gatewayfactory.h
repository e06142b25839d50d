#pragma once

#include <QObject>

#include <memory>

namespace flashsale {

class PaymentGateway;
class RedisCommands;
struct Config;

// The payment gateway a process talks to the provider through, as --payment-provider chooses it:
// HttpGateway for "http" (at --payment-provider-url, with the key of --payment-provider-key-file),
// or the in-process SimulatorGateway, whose ledger (fs:paysim:*) is in `redis`, which must outlive
// the gateway. The payment service's gateway, and the ones provider reconciliation lists with (in
// the API process for payments.reconcile, and in the payment role's periodic job), so every
// process lists the provider the payment service charges.
std::unique_ptr<PaymentGateway> createPaymentGateway(const Config &config, RedisCommands &redis,
                                                     QObject *parent = nullptr);

} // namespace flashsale
