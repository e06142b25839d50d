#include "gatewayfactory.h"

#include "core/config.h"
#include "payment/httpgateway.h"
#include "payment/paymentgateway.h"

namespace flashsale {

std::unique_ptr<PaymentGateway> createPaymentGateway(const Config &config, RedisClient &redis,
                                                     QObject *parent) {
    if (config.paymentProvider == QLatin1String("http")) {
        HttpGateway::Options o;
        o.baseUrl = config.paymentProviderUrl.toUtf8();
        o.apiKey = config.paymentProviderKey.toUtf8();
        return std::make_unique<HttpGateway>(o, parent);
    }
    return std::make_unique<SimulatorGateway>(redis, config.paymentSimLatencyMs,
                                              config.paymentSimDeclinePercent,
                                              config.paymentSimOutage, parent);
}

} // namespace flashsale
