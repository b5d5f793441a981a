package engine

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/lifecycle-engine/lifecycle/processor/rules"
	"github.com/lifecycle-engine/lifecycle/processor/warnings"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

// Stats are an engine's counters. The engine's goroutine writes them; any
// goroutine may read them.
type Stats struct {
	Applied, Rejected, Duplicates, Skipped atomic.Int64
	// Ignored counts records an input mapping says to ignore
	// (schemas.ReasonIgnored): read and dropped on purpose.
	Ignored                               atomic.Int64
	Transitions, Warnings, SegmentChanges atomic.Int64
	// MetricsRecords counts the retention metrics records published.
	MetricsRecords atomic.Int64
	StreamJumps    atomic.Int64
	// BreakDays counts the days partitions saw as breaks
	// (warnings.Outcomes.PassDays).
	BreakDays atomic.Int64
	// StoreReads counts users read from the store (not in the cache, and
	// maybe stored by the known-users filter); StoreMisses those of them
	// the store did not hold (the filter's false positives); TimerMoves the
	// timer index entries moved by commits.
	StoreReads, StoreMisses, TimerMoves atomic.Int64
	// CachedUsers and CacheBytes are the users the cache holds between
	// batches and the bytes its arena takes (dead entries included until
	// its next compaction): with StoreReads, what an operator sizes
	// MaxUsersCached by.
	CachedUsers, CacheBytes atomic.Int64

	mu struct {
		sync.Mutex
		streamTime int64
		stages     [len(rules.Stages)]int64
		segments   [9]int64
		recent     []RecentTransition
		watch      float64
		breaks     []warnings.Span
	}
}

// RecentTransition is a transition as the demo shows it.
type RecentTransition struct {
	UserID   string
	From, To rules.Stage
	At       int64
	Returned bool
}

// RecentKept is how many recent transitions Stats keeps.
const RecentKept = 8

// Snapshot is what Stats holds besides the counters.
type Snapshot struct {
	StreamTime int64
	Stages     [len(rules.Stages)]int64
	Segments   [9]int64
	Recent     []RecentTransition
	// Watch is the churn warnings' watch level the partition chose from
	// its departures (warnings.Outcomes); 0 while the configured one
	// applies.
	Watch float64
	// Breaks are the days the partition saw as breaks
	// (warnings.Outcomes.SeenBreaks).
	Breaks []warnings.Span
}

// Snapshot returns the partition's stream time, its counts by stage and
// segment as of the last commit, and its recent transitions.
func (s *Stats) Snapshot() Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Snapshot{StreamTime: s.mu.streamTime, Stages: s.mu.stages, Segments: s.mu.segments,
		Recent: append([]RecentTransition(nil), s.mu.recent...), Watch: s.mu.watch, Breaks: s.mu.breaks}
}

// setBreaks keeps a copy of the partition's breaks seen: Snapshot's
// readers share it, so it is replaced, never changed.
func (s *Stats) setBreaks(spans []warnings.Span) {
	s.mu.Lock()
	s.mu.breaks = slices.Clone(spans)
	s.mu.Unlock()
}

func (s *Stats) setWatch(risk float64) {
	s.mu.Lock()
	s.mu.watch = risk
	s.mu.Unlock()
}

func (s *Stats) setMeta(m *record.Meta) {
	s.mu.Lock()
	s.mu.streamTime = m.StreamTime
	s.mu.stages = m.Stages
	s.mu.segments = m.Segments
	s.mu.Unlock()
}

func (s *Stats) recent(userID string, tr rules.Transition) {
	s.mu.Lock()
	if len(s.mu.recent) == RecentKept {
		copy(s.mu.recent, s.mu.recent[1:])
		s.mu.recent = s.mu.recent[:RecentKept-1]
	}
	s.mu.recent = append(s.mu.recent, RecentTransition{UserID: userID, From: tr.From, To: tr.To, At: tr.At, Returned: tr.Returned})
	s.mu.Unlock()
}
