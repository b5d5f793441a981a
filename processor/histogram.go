package processor

import (
	"sync/atomic"
	"time"
)

// LatencyBuckets are the upper bounds, in seconds, of the processor's
// latency histograms: from a fast Pebble commit (~1 ms) to a backlog being
// worked off (minutes).
var LatencyBuckets = [...]float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300}

// histogram counts durations into LatencyBuckets with atomics only, so an
// observation takes no lock and allocates nothing; the metrics turn a
// snapshot (Histogram) into a Prometheus histogram at scrape time, as they
// do with the counters.
type histogram struct {
	counts [len(LatencyBuckets) + 1]atomic.Uint64 // per bucket (not cumulative); the last is above every bound
	sum    atomic.Int64                           // nanoseconds
}

func (h *histogram) observe(d time.Duration) {
	d = max(d, 0) // clocks of producers and of this machine may disagree
	s := d.Seconds()
	i := 0
	for i < len(LatencyBuckets) && s > LatencyBuckets[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(int64(d))
}

// addTo adds h's observations to s.
func (h *histogram) addTo(s *Histogram) {
	for i := range h.counts {
		s.Counts[i] += h.counts[i].Load()
	}
	s.Sum += time.Duration(h.sum.Load())
}

// Histogram is a snapshot of a latency histogram: Counts[i] observations
// of at most LatencyBuckets[i] and above the bound before; the last, above
// every bound.
type Histogram struct {
	Counts [len(LatencyBuckets) + 1]uint64
	Sum    time.Duration
}

// Count is the number of observations.
func (h Histogram) Count() uint64 {
	var n uint64
	for _, c := range h.Counts {
		n += c
	}
	return n
}

// Cumulative returns, per upper bound, the observations at most that
// bound, as Prometheus histograms count them.
func (h Histogram) Cumulative() map[float64]uint64 {
	out := make(map[float64]uint64, len(LatencyBuckets))
	var n uint64
	for i, le := range LatencyBuckets {
		n += h.Counts[i]
		out[le] = n
	}
	return out
}
