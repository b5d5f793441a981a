// Package engine is the whole per-partition domain logic of lifecycle: the
// stage model, the churn warnings, the RFM segments and the predictions,
// applied to one input partition's records and turned into outputs. It
// knows nothing of Kafka or Pebble: records come in as Input, state lives
// in a Store, and every committed batch goes out as a Commit. The runtime
// (package processor) drives it from Kafka on a Pebble store;
// `lifecycle evaluate` (package quality) and the tests' reference drive it
// from memory on a MemStore. They run the same code, so they write the
// same outputs for the same input.
//
// # Contract
//
// An Engine belongs to one goroutine. New opens partition p of a Store
// and takes a sink; from then on:
//
//   - Apply(in) applies one input record, in merge order (Before; Merge
//     for records already at hand). A record below the partition's stored
//     offset for its topic, or below the user's own, was applied before
//     and changes nothing; so does an event id the user has seen (a
//     duplicate). A rejected record (in.Err) becomes a dead letter. An
//     event first fires the user's timers that its time passed, in
//     due-time order, then goes to the rules. Apply does not commit for
//     size; it commits only when the record reaches an RFM rebuild point
//     (see Rebuild below), before the record itself is applied.
//   - Flush commits the open batch and then fires, batch after batch, the
//     timers of every user that stream time (the largest event time
//     applied) has passed, until none is due. Timers fire lazily: a quiet
//     user's timer fires at the first Flush after stream time passes it,
//     stamped with its own due time, so the outputs are those of timers
//     fired on time, whatever the batch boundaries.
//   - AdvanceTo(t) moves stream time to t (the runtime's idle advance),
//     rebuilds if that reaches a rebuild point, and flushes.
//   - Close commits what was applied, without firing timers: a clean stop.
//   - Rebuild: at each multiple of Segments.Refresh in event time, before
//     the record that reached it: first every timer due before the point
//     fires (a commit), then the cuts are computed from every buyer's
//     values at the point, then the buyers whose segment changes are
//     re-scored, in commits of up to BatchRecords outputs marked
//     Rebuilding, and the cuts are stored with the last commit. A crash in
//     between leaves the old cuts stored, and the rebuild runs again.
//   - Retention metrics (processor/retention): every applied event,
//     transition and warning is counted in the partition's retention
//     records. When a record (or AdvanceTo) reaches the end of a UTC day of
//     event time, before the record is applied, every timer due before it
//     fires (without a commit, unless more are due than one read of the
//     timer index takes) and the records that changed are published
//     to Topics.Metrics with the open batch.
//
// Every commit writes one record.Write to the Store (users with their
// timer index moves, buyers index entries, the retention records that
// changed, outputs for the outbox at
// consecutive sequence numbers, and the metadata with the input offsets
// and the stream time), atomically, and then hands the same batch to the
// sink as a Commit, before the engine does anything else. Commits reach the
// sink in commit order; the engine never takes one back. When the sink
// returns an error, the engine stops there and returns it: the caller
// must not use it again (the store holds the commit; a new engine on the
// same store resumes after it).
//
// What the engine promises about its outputs (ARCHITECTURE.md, invariants
// 2, 4 and 5): for the same input records in the same merge order, the
// same configuration and model, the same outputs with the same ids in the
// same order per user, whatever the commit boundaries, the cache size
// (MaxUsersCached) and the restarts on a store that holds every commit.
// The runtime's tests hold it to the eager engine (Drive with one record
// per commit and nothing cached) byte for byte; testdata/ tells the
// stories of commits, rebuilds, redelivery and dead letters.
package engine
