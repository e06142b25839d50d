#!/bin/bash
# deploy/compose/kafka-topics.sh - the kafka-init service (image apache/kafka): create the three
# topics of the order lifecycle (shared/kafka/kafkaclient.h) unless they exist, with as many
# partitions as the local stack's mock cluster gives each (flashsale-kafka-mock --partitions,
# default 6). The broker creates no topic by itself (auto.create.topics.enable=false).
#   KAFKA_BOOTSTRAP      kafka:9092
#   KAFKA_PARTITIONS     6
#   KAFKA_REPLICATION    1 (one broker; with three, 3)
set -euo pipefail
bin=/opt/kafka/bin
for topic in order.created order.paid order.cancelled; do
  "$bin/kafka-topics.sh" --bootstrap-server "$KAFKA_BOOTSTRAP" --create --if-not-exists \
    --topic "$topic" --partitions "$KAFKA_PARTITIONS" --replication-factor "$KAFKA_REPLICATION"
done
"$bin/kafka-topics.sh" --bootstrap-server "$KAFKA_BOOTSTRAP" --describe \
  --topic 'order\.(created|paid|cancelled)'
