#pragma once

#include "checkdata.h"

#include "core/result.h"

#include <QByteArrayList>
#include <QString>

namespace flashsale::bench {

// Reads every message of `topics` from the beginning of each partition to its end (partition
// EOF) with a plain librdkafka consumer: partitions assigned at OFFSET_BEGINNING, no group
// membership, nothing committed, so it disturbs no consumer of the system. Keeps the messages
// whose JSON payload has "sale_id" == `saleId`, counted per topic and reservation id. Blocks
// up to `timeoutMs`; fails when the brokers cannot be reached, a topic's metadata cannot be
// read, or the end of every partition is not reached in time. A topic the cluster does not
// know has no events.
[[nodiscard]] Result<KafkaView> readSaleEvents(const QString &brokers, const QByteArrayList &topics,
                                               qint64 saleId, int timeoutMs);

} // namespace flashsale::bench
