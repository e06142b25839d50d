#include "gatewayfactory.h"

#include "core/config.h"
#include "payment/httpgateway.h"
#include "payment/paymentgateway.h"

#include <algorithm>

namespace flashsale {

std::unique_ptr<PaymentGateway> createPaymentGateway(const Config &config, RedisCommands &redis,
                                                     QObject *parent) {
    if (config.paymentProvider == QLatin1String("http")) {
        HttpGateway::Options o;
        o.baseUrl = config.paymentProviderUrl.toUtf8();
        o.apiKey = config.paymentProviderKey.toUtf8();
        // One connection per charge the payment service may have in flight: fewer would queue
        // charges behind each other (at 1 s of provider latency, 256 connections end 240
        // orders/s with a window of 512).
        o.maxConnections = std::max(o.maxConnections, config.paymentWindow);
        return std::make_unique<HttpGateway>(o, parent);
    }
    return std::make_unique<SimulatorGateway>(redis, config.paymentSimLatencyMs,
                                              config.paymentSimDeclinePercent,
                                              config.paymentSimOutage, parent);
}

} // namespace flashsale
