// Package bench measures the processor against a Kafka broker: the
// measurements behind "lifecycle bench" and "lifecycle bench failover".
// The command parses the flags and prints the summary; this package runs
// the measurements and returns the figures (summary.go,
// failover_summary.go).
//
// A run connects to the brokers it is given, or starts an embedded kfake
// broker in this process when given none (session.go). Every phase uses
// fresh, uniquely named topics, a fresh consumer group and a fresh state
// directory in a temporary directory, so that no phase sees another's
// records or state, and concurrent runs do not share a topic; the topics
// and groups are deleted at the end unless kept.
//
// # Modes
//
// Each mode is in a file of its own:
//
//   - drain (drain.go): preload the workload into the input topics, then
//     time the processor from the earliest offset until every event is
//     applied: events/s, MB/s and CPU seconds per million events
//     (getrusage of the whole process, so an embedded broker's work counts
//     too). It is the throughput of catching up after an outage or of a
//     first start on a topic's history, which the throughput target is set
//     for.
//   - baseline (baseline.go): in the drain's run, plain kafka-go readers
//     set up as the processor's own read the same topics and discard. They
//     are what the client library and the broker allow on this machine, so
//     the processor's ratio to them says what the processor itself costs.
//   - memory (memory.go): the Go heap and RSS after the drain and their
//     growth per user, with the processor still holding every user, the
//     peak RSS while it ran, and the Pebble bytes on disk per million
//     users: what a deployment must provision per user.
//   - latency (latency.go): with the processor running and caught up,
//     produce events of new users at a steady rate and time each from the
//     produce call to its transition being read from the transitions topic:
//     the delay consumers of the outputs see in steady state. Optionally
//     also produce → readable on the input topics, the broker's share.
//   - failover (failover.go, instance.go): start two "lifecycle run"
//     processes, kill the one that owns the partitions and time until a new
//     user's transition is read, with and without a standby replica, broken
//     down into the session timeout, the restore or promotion, and the
//     rest: the outage an instance's death causes, and how much a standby
//     saves.
//
// # Workloads
//
// The drain and memory modes read one of two workloads (workload.go), both
// keyed by user_id: "simulated", the first events of a realistic population
// from processor/simulate (the default, as the performance targets are set
// for a realistic mix), and "uniform", events of uniformly random users at
// uniformly random times, which makes churn warnings dominate the outputs.
// The failover mode preloads the uniform workload with one event per user.
//
// Benchmarks are never pass/fail on speed: the package reports figures and
// the targets they are measured against. It returns an error when a
// measurement could not be taken, or when the failover's instances did not
// do what the mode expects of them (a restore instead of a promotion).
package bench
