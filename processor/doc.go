// Package processor is the runtime of lifecycle: a member of a Kafka
// consumer group that owns input partitions, merges each partition's
// topics in event-time order, applies the records to per-user state in
// Pebble, and sends the transitions, warnings, segment changes and dead
// letters the rules make, with the changelog that lets another member take
// a partition over. ARCHITECTURE.md at the repository's root states the
// invariants the code keeps; its comments cite them by number.
//
// A record's path: Processor.Run joins the group (balancer.go); each
// generation starts a goroutine per owned partition (runPartition) and per
// standby copy (standby.go). runPartition makes the local state current
// (restore in changelog.go, or a standby's promotion), then its fetchers
// (fetch.go) feed the merge (merge.go), the partition applies and commits
// (partition.go, outputs.go), and the sender (sender.go) delivers each
// committed batch in order.
package processor
