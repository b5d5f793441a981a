package processor

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/lifecycle-engine/lifecycle/state/record"

	"github.com/lifecycle-engine/lifecycle/processor/rules"
)

// partitionStats are one partition's counters. The partition's goroutine
// writes them; Stats reads them from any goroutine.
type partitionStats struct {
	applied, rejected, duplicates, skipped atomic.Int64
	lost                                   atomic.Int64
	transitions, sent, sendErrors          atomic.Int64
	warnings, segmentChanges               atomic.Int64
	streamJumps, deadOutputs               atomic.Int64
	// sendFailingSince is when the sender's current run of failed writes
	// began (Unix ns); 0 while writes succeed.
	sendFailingSince atomic.Int64
	restoring        atomic.Bool

	mu struct {
		sync.Mutex
		streamTime int64
		stages     [len(rules.Stages)]int64
		segments   [9]int64
		recent     []RecentTransition
	}
}

func (s *partitionStats) setMeta(m *record.Meta) {
	s.mu.Lock()
	s.mu.streamTime = m.StreamTime
	s.mu.stages = m.Stages
	s.mu.segments = m.Segments
	s.mu.Unlock()
}

// addCounters adds the partition's counters to st.
func (s *partitionStats) addCounters(st *Stats) {
	st.Applied += s.applied.Load()
	st.Rejected += s.rejected.Load()
	st.Duplicates += s.duplicates.Load()
	st.Skipped += s.skipped.Load()
	st.Lost += s.lost.Load()
	st.Transitions += s.transitions.Load()
	st.Warnings += s.warnings.Load()
	st.SegmentChanges += s.segmentChanges.Load()
	st.Sent += s.sent.Load()
	st.SendErrors += s.sendErrors.Load()
	st.StreamJumps += s.streamJumps.Load()
	st.DeadOutputs += s.deadOutputs.Load()
}

// recentKept is how many recent transitions Stats reports per partition.
const recentKept = 8

func (s *partitionStats) recent(userID string, tr rules.Transition) {
	s.mu.Lock()
	if len(s.mu.recent) == recentKept {
		copy(s.mu.recent, s.mu.recent[1:])
		s.mu.recent = s.mu.recent[:recentKept-1]
	}
	s.mu.recent = append(s.mu.recent, RecentTransition{UserID: userID, From: tr.From, To: tr.To, At: tr.At, Returned: tr.Returned})
	s.mu.Unlock()
}

// RecentTransition is a transition as the demo shows it.
type RecentTransition struct {
	UserID   string
	From, To rules.Stage
	At       int64
	Returned bool
}

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
