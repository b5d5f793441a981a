package processor

import (
	"sync/atomic"
	"time"

	"github.com/lifecycle-engine/lifecycle/processor/engine"
	"github.com/lifecycle-engine/lifecycle/processor/rules"
	"github.com/lifecycle-engine/lifecycle/schemas"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

// partitionStats are one partition's counters: its engine's, and the
// runtime's own. The partition's goroutines write them; Stats reads them
// from any goroutine.
type partitionStats struct {
	engine.Stats
	lost             atomic.Int64
	sent, sendErrors atomic.Int64
	deadOutputs      atomic.Int64
	// sendFailingSince is when the sender's current run of failed writes
	// began (Unix ns); 0 while writes succeed.
	sendFailingSince atomic.Int64
	// restoring is true until makeCurrent has made the local state
	// current (ownPartition): reads are refused meanwhile.
	restoring atomic.Bool

	// commits times the Pebble write of each committed batch;
	// eventToOutput, per delivery of committed batches, the oldest input
	// record's Kafka timestamp to the broker's acknowledgement of the
	// outputs (see sender.run).
	commits, eventToOutput histogram
	// lag is, per input topic (in Topics.Inputs order), the records
	// between the partition's next record to apply and the topic's high
	// watermark; -1 until the partition reads.
	lag [record.MaxInputs]atomic.Int64
	// taken is, per input topic, the records the partition has taken
	// from it (applied, rejected, duplicates, skipped or ignored).
	taken [record.MaxInputs]atomic.Int64
	// restoreRead and restoreTarget are the changelog offsets the
	// partition's restore (or standby promotion) has read and has to read;
	// restoreTarget is -1 when none ran since the partition was assigned.
	restoreRead, restoreTarget atomic.Int64
}

// newPartitionStats returns the stats of a partition just assigned:
// nothing read, no restore.
func newPartitionStats() *partitionStats {
	s := &partitionStats{}
	for i := range s.lag {
		s.lag[i].Store(-1)
	}
	s.restoreTarget.Store(-1)
	return s
}

// startRestore records that a restore from changelog offset from to end
// begins, and returns what the applier reports its position to.
func (s *partitionStats) startRestore(from, end int64) func(next int64) {
	s.restoreRead.Store(0)
	s.restoreTarget.Store(max(end-from, 0))
	return func(next int64) { s.restoreRead.Store(next - from) }
}

// addCounters adds the partition's counters to st.
func (s *partitionStats) addCounters(st *Stats) {
	st.Applied += s.Applied.Load()
	st.Rejected += s.Rejected.Load()
	st.Duplicates += s.Duplicates.Load()
	st.Skipped += s.Skipped.Load()
	st.Ignored += s.Ignored.Load()
	st.Lost += s.lost.Load()
	for i := range s.taken {
		st.InputRecords[i] += s.taken[i].Load()
	}
	st.Transitions += s.Transitions.Load()
	st.Warnings += s.Warnings.Load()
	st.SegmentChanges += s.SegmentChanges.Load()
	st.MetricsRecords += s.MetricsRecords.Load()
	st.Sent += s.sent.Load()
	st.SendErrors += s.sendErrors.Load()
	st.StreamJumps += s.StreamJumps.Load()
	st.BreakDays += s.BreakDays.Load()
	st.DeadOutputs += s.deadOutputs.Load()
	st.StoreReads += s.StoreReads.Load()
	st.StoreMisses += s.StoreMisses.Load()
	st.TimerMoves += s.TimerMoves.Load()
	s.commits.addTo(&st.CommitSeconds)
	s.eventToOutput.addTo(&st.EventToOutput)
}

// RecentTransition is a transition as the demo shows it.
type RecentTransition = engine.RecentTransition

// Stats is a snapshot of the processor's progress.
type Stats struct {
	Partitions int   // partitions owned now
	Restoring  int   // of which not current yet: restoring from the changelog, or reading its tail to see whether they must
	Applied    int64 // events applied to state
	Rejected   int64 // records sent to the dead-letter topic
	Duplicates int64 // events dropped as re-sends of an applied event id
	Skipped    int64 // records below the stored offset (already applied)
	Ignored    int64 // records an input mapping says to ignore (read, not applied, not dead-lettered)
	Lost       int64 // input records the broker deleted before they were read (retention)
	// InputRecords is, per input topic (Topics.Inputs order), the records
	// taken from it: one topic that stops while the others go on makes
	// its users look silent, which no total shows.
	InputRecords   [record.MaxInputs]int64
	InputTopics    []string // Topics.Inputs, naming InputRecords
	Transitions    int64
	Warnings       int64 // churn warnings (and recovered records)
	SegmentChanges int64 // RFM segment changes
	MetricsRecords int64 // retention metrics records published
	Sent           int64 // output records acknowledged by Kafka
	SendErrors     int64 // failed output writes (each retried)
	DeadOutputs    int64 // outputs the broker refused for good, set aside (see sender.setAside)
	StreamJumps    int64 // events that moved a partition's stream time ahead by more than a week
	BreakDays      int64 // days partitions saw as breaks, far quieter than usual (processor/warnings/seen.go)
	KafkaErrors    int64 // errors joining the group, fetching or reaching the brokers (each retried)
	RegistryErrors int64 // schema registry requests that failed without an answer (each retried; --input-format avro)
	FetchTimeouts  int64 // input fetches whose read timed out: a slow broker or network (counted apart from KafkaErrors)
	EndsRequests   int64 // ListOffsets requests for the merges' confirmations of input ends that no fetch response gave (inputs.go, fetchedEnds)
	StoreReads     int64 // users read from Pebble (not cached)
	StoreMisses    int64 // of which Pebble did not hold (known-users filter false positives)
	TimerMoves     int64 // timer index entries moved by commits
	CachedUsers    int64 // users the owned partitions' caches hold now
	CacheBytes     int64 // bytes those caches' arenas take now
	Stages         [len(rules.Stages)]int64
	Segments       [9]int64  // users per RFM segment (index segments.Segment; 0: not scored yet)
	StreamTime     time.Time // the least advanced owned partition's stream time
	// StreamTimeHeld is true while idle advance is held because no input
	// record came for Config.MaxInputSilence.
	StreamTimeHeld bool
	// PartitionStreamTimes is each owned partition's stream time (absent
	// before its first event).
	PartitionStreamTimes map[int32]time.Time
	// PartitionWatch is the churn warnings' watch level each owned
	// partition chose from its departures (absent while the configured
	// level applies).
	PartitionWatch map[int32]float64
	// PartitionBreaks are the days each owned partition saw as breaks
	// within the last 400 days (absent: none), as --warn-break-days
	// writes them.
	PartitionBreaks map[int32]string
	// SendFailing lists the owned partitions whose output writes have
	// failed for longer than sendFailingLimit.
	SendFailing []int32
	// MissingTopics lists the subscribed topics the broker did not list
	// when this member last assigned the group's partitions (as its
	// leader): nothing is assigned until they are back.
	MissingTopics []string
	Recent        []RecentTransition

	CommitSeconds Histogram // Pebble writes of committed batches
	// EventToOutput is, per delivery of committed batches, the time from
	// the oldest input record's Kafka timestamp to the acknowledgement of
	// the outputs by the broker.
	EventToOutput Histogram
	// Lag lists, per owned partition and input topic, the records not yet
	// applied (absent while the partition restores).
	Lag []PartitionLag
	// Restores lists the owned partitions that have restored from the
	// changelog (or promoted a standby copy) since they were assigned, or
	// are doing so.
	Restores []RestoreProgress
	// Rules are the rules in effect: the rules file's version ("" without
	// one) and the hash of the settings (Config.RulesHash).
	Rules schemas.Rules
}

// PartitionLag is one input topic-partition's lag.
type PartitionLag struct {
	Topic     string
	Partition int32
	Records   int64 // between the next record to apply and the high watermark
}

// RestoreProgress is a partition's restore: changelog offsets read of
// those to read. Compaction leaves gaps in the offsets, so fewer records
// may be read than Target says; Read reaches Target when it is done.
type RestoreProgress struct {
	Partition    int32
	Read, Target int64
	Running      bool
}
