-- Where Kafka put each published outbox row, so that the relay can tell when the cluster lost
-- what it had acknowledged (docs/RELIABILITY.md, "Kafka data loss").
--
--   outbox.kafka_partition, outbox.kafka_offset   from the delivery report; NULL until published
--
-- The relay compares, per (topic, partition), the highest offset among retained published rows
-- with the partition's high watermark: a watermark at or below it means the messages are gone,
-- and the partition's retained rows are marked unpublished again. Published rows are deleted
-- after --relay-retention-s; that window bounds what can be republished.
ALTER TABLE outbox ADD COLUMN kafka_partition integer, ADD COLUMN kafka_offset bigint;
CREATE INDEX outbox_published ON outbox (published_at) WHERE published_at IS NOT NULL;
-- The relay reads the highest offset per (topic, partition) every 5 s: this index makes that a
-- skip scan plus one probe per partition instead of a scan of every retained row.
CREATE INDEX outbox_kafka_offset ON outbox (topic, kafka_partition, kafka_offset)
    WHERE kafka_offset IS NOT NULL;
