package processor

import (
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/lifecycle-engine/lifecycle/processor/simulate"
)

func TestHistogram(t *testing.T) {
	var h histogram
	for _, d := range []time.Duration{-time.Second, 0, time.Millisecond, 3 * time.Millisecond, 2 * time.Second, time.Hour} {
		h.observe(d)
	}
	var s Histogram
	h.addTo(&s)
	h.addTo(&s) // snapshots add up, as those of partitions do
	if s.Count() != 12 || s.Sum != 2*(time.Hour+2*time.Second+4*time.Millisecond) {
		t.Errorf("count %d sum %v, want 12 and %v", s.Count(), s.Sum, 2*(time.Hour+2*time.Second+4*time.Millisecond))
	}
	cum := s.Cumulative()
	for le, want := range map[float64]uint64{0.001: 6, 0.0025: 6, 0.005: 8, 2.5: 10, 300: 10} {
		if cum[le] != want {
			t.Errorf("bucket le=%v: %d, want %d", le, cum[le], want)
		}
	}
	if len(cum) != len(LatencyBuckets) {
		t.Errorf("%d buckets, want %d (+Inf is the count)", len(cum), len(LatencyBuckets))
	}
}

// TestMetrics runs a backlog through an instance, then moves the
// partitions to an instance without state, and checks the metrics added
// for operations: the lag is the backlog at first and 0 once caught up, a
// commit is timed for every batch, deliveries are timed from the records'
// Kafka timestamps, a restore reports its progress to completion, and a
// partition that is no longer owned is no longer reported.
func TestMetrics(t *testing.T) {
	f := newInputFixture(t, simulate.Config{Users: 150, Days: 60, Seed: 11}, 2)
	cfg := f.config(t)
	cfg.BatchRecords = 50 // many commits
	lags := func(st Stats) (total int64, topicPartitions int) {
		for _, l := range st.Lag {
			total += l.Records
		}
		return total, len(st.Lag)
	}
	all := int64(len(f.inputs)) * int64(f.partitions)

	var commits atomic.Int64
	var mu sync.Mutex
	var maxLag int64 // the largest lag seen at a commit
	var live Stats   // the snapshot that ended the run
	p, err := New(cfg, openStore(t, vfs.NewMem()))
	if err != nil {
		t.Fatal(err)
	}
	p.afterCommit = func() {
		commits.Add(1)
		n, _ := lags(p.Stats())
		mu.Lock()
		maxLag = max(maxLag, n)
		mu.Unlock()
	}
	stopped := runProcessor(t, p, func(st Stats) bool {
		n, tps := lags(st)
		done := seen(st) == int64(f.records) && tps == int(all) && n == 0
		if done {
			mu.Lock()
			live = st
			mu.Unlock()
		}
		return done
	})
	if n := maxLag; n <= 0 || n > int64(f.records) {
		t.Errorf("largest lag seen at a commit: %d records, want some of the backlog (0 < lag <= %d)", n, f.records)
	}
	for _, l := range live.Lag {
		if l.Records != 0 {
			t.Errorf("lag of %s/%d once caught up: %d, want 0", l.Topic, l.Partition, l.Records)
		}
	}
	// Counted per topic, and kept once the partitions are given up.
	if !slices.Equal(stopped.InputTopics, f.inputs) {
		t.Errorf("input topics %v, want %v", stopped.InputTopics, f.inputs)
	}
	for i, topic := range f.inputs {
		if got, want := stopped.InputRecords[i], int64(f.perTopic[topic]); got != want || want == 0 {
			t.Errorf("records taken from %s: %d, want the %d produced to it", topic, got, want)
		}
	}
	if got, want := stopped.CommitSeconds.Count(), uint64(commits.Load()); got != want || want < uint64(f.records)/50 {
		t.Errorf("commit durations observed: %d, want one per commit (%d, at least %d)", got, want, f.records/50)
	}
	e2o := stopped.EventToOutput
	if e2o.Count() == 0 || e2o.Count() > uint64(commits.Load()) || e2o.Sum <= 0 {
		t.Errorf("event-to-output latency: %d observations summing to %v, want between 1 and one per commit (%d), sum > 0", e2o.Count(), e2o.Sum, commits.Load())
	}
	// The records were produced just before: none waited a minute.
	if late := e2o.Count() - e2o.Cumulative()[60]; late > 0 {
		t.Errorf("event-to-output latency: %d observations over 60 s for records produced seconds ago", late)
	}
	// The changelog was empty: each partition "restored" nothing, done.
	for _, r := range live.Restores {
		if r.Read != 0 || r.Target != 0 || r.Running {
			t.Errorf("restore of an empty changelog: %+v, want 0 of 0, not running", r)
		}
	}
	if len(stopped.Lag) != 0 || len(stopped.Restores) != 0 {
		t.Errorf("after the stop, no partition is owned, but lag %+v and restores %+v are reported", stopped.Lag, stopped.Restores)
	}

	// A new instance without state restores every partition from the
	// changelog; nothing is left to consume.
	var restored Stats
	runUntil(t, cfg, openStore(t, vfs.NewMem()), func(st Stats) bool {
		done := len(st.Restores) == int(f.partitions) && st.Restoring == 0
		for _, r := range st.Restores {
			done = done && !r.Running && r.Read == r.Target
		}
		if n, tps := lags(st); done && tps == int(all) && n == 0 {
			mu.Lock()
			restored = st
			mu.Unlock()
			return true
		}
		return false
	})
	for _, r := range restored.Restores {
		if r.Target <= 0 {
			t.Errorf("partition %d restored %d of %d changelog records, want a non-empty changelog read to its end", r.Partition, r.Read, r.Target)
		}
	}
}
