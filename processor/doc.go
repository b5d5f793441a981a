// Package processor is the runtime of lifecycle: the Kafka adapter around
// the engine (processor/engine). It is a member of a Kafka consumer group
// that owns input partitions, merges each partition's topics in event-time
// order, feeds the records to the partition's engine on the Pebble store,
// and sends each batch the engine commits (transitions, warnings, segment
// changes, dead letters) with the changelog that lets another member take
// a partition over. ARCHITECTURE.md at the repository's root states the
// invariants the code keeps; its comments cite them by number.
//
// A record's path, file by file in the order things run: Processor.Run
// joins the group (processor.go, balancer.go); each generation starts a
// goroutine per owned partition and per standby copy (generation.go,
// standby.go). runPartition makes the local state current (restore.go, or
// a standby's promotion), starts the partition's sender and resends what
// the last run left; then a source per input topic (consume.go; one
// fetching client serves every owned partition, inputs.go) feeds the
// merge (merge.go), the run loop hands each record to
// the engine and each committed batch to the sender (partition.go), and
// the sender (sender.go) delivers the batches in order.
package processor
