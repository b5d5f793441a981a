package processor

import (
	"sync/atomic"
	"time"

	"github.com/lifecycle-engine/lifecycle/processor/engine"
	"github.com/lifecycle-engine/lifecycle/processor/rules"
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
	restoring        atomic.Bool
}

// addCounters adds the partition's counters to st.
func (s *partitionStats) addCounters(st *Stats) {
	st.Applied += s.Applied.Load()
	st.Rejected += s.Rejected.Load()
	st.Duplicates += s.Duplicates.Load()
	st.Skipped += s.Skipped.Load()
	st.Lost += s.lost.Load()
	st.Transitions += s.Transitions.Load()
	st.Warnings += s.Warnings.Load()
	st.SegmentChanges += s.SegmentChanges.Load()
	st.Sent += s.sent.Load()
	st.SendErrors += s.sendErrors.Load()
	st.StreamJumps += s.StreamJumps.Load()
	st.DeadOutputs += s.deadOutputs.Load()
	st.StoreReads += s.StoreReads.Load()
	st.StoreMisses += s.StoreMisses.Load()
	st.TimerMoves += s.TimerMoves.Load()
}

// RecentTransition is a transition as the demo shows it.
type RecentTransition = engine.RecentTransition

// Stats is a snapshot of the processor's progress.
type Stats struct {
	Partitions     int   // partitions owned now
	Restoring      int   // of which restoring from the changelog
	Applied        int64 // events applied to state
	Rejected       int64 // records sent to the dead-letter topic
	Duplicates     int64 // events dropped as re-sends of an applied event id
	Skipped        int64 // records below the stored offset (already applied)
	Lost           int64 // input records the broker deleted before they were read (retention)
	Transitions    int64
	Warnings       int64 // churn warnings (and recovered records)
	SegmentChanges int64 // RFM segment changes
	Sent           int64 // output records acknowledged by Kafka
	SendErrors     int64 // failed output writes (each retried)
	DeadOutputs    int64 // outputs the broker refused for good, set aside (see sender.setAside)
	StreamJumps    int64 // events that moved a partition's stream time ahead by more than a week
	KafkaErrors    int64 // errors joining the group, fetching or reaching the brokers (each retried)
	FetchTimeouts  int64 // fetches that timed out on a quiet partition (ordinary, not errors)
	StoreReads     int64 // users read from Pebble (not cached)
	StoreMisses    int64 // of which Pebble did not hold (known-users filter false positives)
	TimerMoves     int64 // timer index entries moved by commits
	Stages         [len(rules.Stages)]int64
	Segments       [9]int64  // users per RFM segment (index segments.Segment; 0: not scored yet)
	StreamTime     time.Time // the least advanced owned partition's stream time
	// PartitionStreamTimes is each owned partition's stream time (absent
	// before its first event).
	PartitionStreamTimes map[int32]time.Time
	// SendFailing lists the owned partitions whose output writes have
	// failed for longer than sendFailingLimit.
	SendFailing []int32
	Recent      []RecentTransition
}
