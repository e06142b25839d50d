#include "gatewayfactory.h"

#include "core/config.h"
#include "payment/paymentgateway.h"

namespace flashsale {

std::unique_ptr<PaymentGateway> createPaymentGateway(const Config &config, RedisClient &redis,
                                                     QObject *parent) {
    return std::make_unique<SimulatorGateway>(redis, config.paymentSimLatencyMs,
                                              config.paymentSimDeclinePercent,
                                              config.paymentSimOutage, parent);
}

} // namespace flashsale
