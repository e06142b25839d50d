#pragma once

#include "checkdata.h"

#include "core/result.h"

#include <QByteArrayList>
#include <QString>

namespace flashsale::bench {

// Reads every message of `topics` from the beginning of each partition to its end (partition
// EOF) with a plain librdkafka consumer: partitions assigned at OFFSET_BEGINNING, no group
// membership, nothing committed, so it disturbs no consumer of the system. Keeps the messages
// whose JSON payload has "sale_id" == `saleId`, counted per topic and reservation id. Fails
// when the brokers cannot be reached or a topic's metadata cannot be read within `timeoutMs`,
// or when the read makes no progress (no message, no partition end) for `timeoutMs`: a long
// read that keeps moving is not cut (a 30-minute chaos run's topics, about 128,000 messages
// through the mock cluster, took longer than a minute). A topic the cluster does not know has
// no events.
[[nodiscard]] Result<KafkaView> readSaleEvents(const QString &brokers, const QByteArrayList &topics,
                                               qint64 saleId, int timeoutMs);

} // namespace flashsale::bench
