-- The table examples/postgres/handler.mjs inserts into (POSTGRES_TABLE, default kafka_messages).
-- Create it before starting the service, with your migrations or:
--   psql "$POSTGRES_URL" -f examples/postgres/schema.sql
-- The handler never creates it: the role it connects as needs only INSERT (each message) and
-- SELECT (the probe's `SELECT 1 FROM kafka_messages LIMIT 0`), e.g.
--   GRANT SELECT, INSERT ON kafka_messages TO amo;
-- Until the table exists, the probe fails with 42P01 (undefined_table) and, with the circuit
-- breaker, consumption stays paused instead of losing messages.
CREATE TABLE IF NOT EXISTS kafka_messages (
  topic           text        NOT NULL,
  kafka_partition integer     NOT NULL,
  kafka_offset    bigint      NOT NULL,
  key             bytea,                              -- the message key, or NULL
  value           jsonb,                              -- as decoded (VALUE_FORMAT); NULL for a tombstone
  headers         jsonb       NOT NULL DEFAULT '{}',  -- each header value as UTF-8 text
  produced_at     timestamptz NOT NULL,               -- the message timestamp
  stored_at       timestamptz NOT NULL DEFAULT now(),
  -- A message is one row: a second delivery fails with 23505 (unique_violation).
  PRIMARY KEY (topic, kafka_partition, kafka_offset)
);
