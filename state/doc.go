// Package state keeps the processor's state in an embedded Pebble store:
// per-user records, a timer index, an outbox of outputs not yet acknowledged by
// Kafka, and per-partition metadata (stream time, next input offsets).
//
// Everything that belongs to one input partition lives under one key prefix,
// so a partition can be handed over, dropped or restored as a unit:
//
//	'p' partition(4, BE) 'm'                      metadata
//	'p' partition(4, BE) 'u' user_id              user record
//	'p' partition(4, BE) 'b' user_id              buyers index: a buyer's RFM facts (Buyer)
//	'p' partition(4, BE) 't' wake(8, BE) user_id  timer index entry (empty value)
//	'p' partition(4, BE) 'o' seq(8, BE)           outbox record
//	'p' partition(4, BE) 'c' batch(8, BE)         changelog marker: users of a batch the changelog lacks
//	'p' partition(4, BE) 's'                      standby copy: the next changelog offset to apply
//	'p' partition(4, BE) 'r' key                  a retention metrics record (processor/retention)
//	'g' "format"                                  store format version
//
// A Batch holds all these kinds for one partition and commits them atomically:
// state, timers, outputs-to-send and input offsets never disagree (invariant 3
// of ARCHITECTURE.md). Batches commit with NoSync. That is safe because the input
// offsets are in the same batch as the state they produced: a machine crash
// that loses the unsynced tail loses the offsets with it, and the processor
// re-reads those records from Kafka and derives the same state and the same
// outputs with the same ids. A process crash can lose the last commits too
// (Pebble keeps the WAL's last block, up to 32 KiB, in the process until
// the block fills or a sync), with the same outcome. Store.Sync makes
// everything durable: at a clean shutdown, before a partition's sender
// writes a batch's changelog records (the changelog must not get ahead of
// the disk), and when the sender goes idle, so that a kill after a quiet
// period re-sends nothing.
//
// The records themselves, and their stored form, are package state/record's.
// A store whose format version is newer than this code knows is refused
// with ErrNewerFormat rather than misread.
package state
