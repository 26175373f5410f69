/**
 * How much one fetch may bring back: the kafkajs consumer options `maxBytesPerPartition` and
 * `maxBytes` (given to `kafka.consumer({...})` in service.ts). Fetched messages stay in
 * memory until their batch is processed, so these bound what a fetch round adds to the process's
 * heap: at most min(assigned partitions a broker leads × MAX_BYTES_PER_PARTITION, MAX_BYTES) of
 * record batches per broker, decoded into message objects of about three times their wire size.
 *
 * kafkajs's defaults are 1 MiB per partition and 10 MiB per fetch. Half a MiB per partition took
 * 12-20 MB off the peak RSS of the benchmark's Apache Kafka cases (6 partitions, COMMIT_WINDOW
 * 1000 and 5000, tracing off or at 0.01: 135-144 MB against 147-157 MB), which keeps them under
 * the 160 MB target with room; the CPU per message did not move beyond the noise. The price is
 * twice as many fetch rounds for the same data, each with one commit round trip that nothing
 * overlaps (docs/benchmarks.md, "Where the time goes"): on Apache Kafka at loopback that commit
 * was about a tenth of a 1 MiB round.
 */
export const MAX_BYTES_PER_PARTITION = 512 * 1024

/** kafkajs's default, named: the most one fetch response may carry, over all its partitions. */
export const MAX_BYTES = 10 * 1024 * 1024
