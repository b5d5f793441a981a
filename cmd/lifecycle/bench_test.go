package main

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifecycle-engine/lifecycle/processor/bench"
	"github.com/lifecycle-engine/lifecycle/processor/kafkatest"
)

// TestBenchSmoke runs every mode of lifecycle bench with tiny sizes on the
// embedded broker and checks that the JSON summary has its figures. It
// asserts nothing about speed: benchmarks are never pass/fail.
func TestBenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker and the processor twice")
	}
	s, raw := benchJSON(t, "--mode", "all", "--users", "200", "--events", "2000", "--partitions", "2",
		"--rate", "200", "--warm-up", "1s", "--duration", "2s", "--max-users-cached", "50", "--block-cache-mb", "8", "--latency-floor", "--fetch-wait", "10ms", "--compression", "zstd")
	if s.Drain == nil || s.Latency == nil || s.Latency.Floor == nil || s.Memory == nil || s.Drain.Baseline == nil {
		t.Fatalf("the summary lacks a section:\n%s", raw)
	}
	d, l, m := s.Drain, s.Latency, s.Memory
	for name, v := range map[string]float64{
		"drain.processor.events_per_sec": d.Processor.EventsPerSec, "drain.processor.mb_per_sec": d.Processor.MBPerSec,
		"drain.processor.cpu_sec_per_million": d.Processor.CPUSecPerM, "drain.baseline.events_per_sec": d.Baseline.EventsPerSec,
		"drain.ratio_to_baseline": d.Ratio, "drain.commits": float64(d.Commits), "drain.transitions": float64(d.Transitions),
		"latency.produced": float64(l.Produced), "latency.received": float64(l.Received), "latency.end_to_end.p50_ms": l.EndToEnd.P50ms,
		"latency.end_to_end.p99_ms": l.EndToEnd.P99ms, "latency.floor.end_to_end.p50_ms": l.Floor.EndToEnd.P50ms,
		"memory.users": float64(m.Users), "memory.heap_after_bytes": float64(m.HeapAfter), "memory.rss_after_bytes": float64(m.RSSAfter),
		"memory.rss_peak_bytes": float64(m.RSSPeak), "memory.pebble_bytes": float64(m.PebbleBytes),
		"memory.pebble_bytes_per_million_users": m.PebblePerMUsers,
		"machine.cores":                         float64(s.Machine.Cores),
	} {
		if !(v > 0) {
			t.Errorf("%s = %v, want > 0", name, v)
		}
	}
	if d.Processor.Events != 2000 || l.Received != l.Produced || l.Floor.Received != l.Produced {
		t.Errorf("drain events %d (want 2000), latency received %d of %d, the floor %d", d.Processor.Events, l.Received, l.Produced, l.Floor.Received)
	}
	// The warm-up's 200 events are processed and received, not counted.
	if l.WarmUpEvents != 200 || l.Produced != 600 || l.Counted == 0 || l.Counted > l.Produced-l.WarmUpEvents {
		t.Errorf("%d warm-up events of %d produced, %d counted: want 200 of 600, at most the 400 after them counted", l.WarmUpEvents, l.Produced, l.Counted)
	}
	// The embedded broker does not stamp LogAppendTime: the bench must say
	// so rather than report a figure from other clocks.
	if l.Appended.Count != 0 || l.EndToEnd.Count != l.Counted {
		t.Errorf("on the embedded broker: %d events by LogAppendTime (want none), %d end to end of %d counted", l.Appended.Count, l.EndToEnd.Count, l.Counted)
	}
	if s.MaxUsersCached != 50 || s.BlockCacheMB != 8 || s.FetchWaitMs != 10 || s.Compression != "zstd" {
		t.Errorf("the summary records --max-users-cached %d, --block-cache-mb %d, --fetch-wait %d ms and --compression %q, want 50, 8, 10 and zstd", s.MaxUsersCached, s.BlockCacheMB, s.FetchWaitMs, s.Compression)
	}
	if s.Workload != bench.WorkloadSimulated {
		t.Errorf("workload %q, want the default %q", s.Workload, bench.WorkloadSimulated)
	}
	var generic map[string]any
	json.Unmarshal(raw, &generic)
	for _, k := range []string{"machine", "broker", "drain", "latency", "memory", "load_avg_start"} {
		if _, ok := generic[k]; !ok {
			t.Errorf("the JSON has no %q", k)
		}
	}
}

// TestBenchLatencyByAppendTime runs the latency mode, floor included,
// against the real broker, which stamps the input and output records with
// their LogAppendTime: every counted event is timed by it, and the time
// between the appends lies within the time from the produce call to the
// read.
func TestBenchLatencyByAppendTime(t *testing.T) {
	if !kafkatest.Real() {
		t.Skipf("needs a real broker (%s): the embedded kfake ignores a topic's timestamp type", kafkatest.EnvBrokers)
	}
	s, raw := benchJSON(t, "--brokers", strings.Join(kafkatest.Brokers(t), ","), "--mode", "latency", "--latency-floor",
		"--partitions", "2", "--rate", "300", "--warm-up", "1s", "--duration", "3s")
	l := s.Latency
	if l == nil || l.Floor == nil {
		t.Fatalf("no latency or floor section:\n%s", raw)
	}
	for name, p := range map[string]struct{ appended, e2e bench.Percentiles }{"processor": {l.Appended, l.EndToEnd}, "floor": {l.Floor.Appended, l.Floor.EndToEnd}} {
		if p.appended.Count == 0 || p.appended.Count != p.e2e.Count || p.appended.P50ms > p.e2e.P50ms || p.appended.MaxMs > p.e2e.MaxMs+1 {
			t.Errorf("%s: %d events by LogAppendTime (p50 %.2f, max %.2f ms), %d end to end (p50 %.2f, max %.2f ms): want every one timed by both, the appends within the end-to-end time",
				name, p.appended.Count, p.appended.P50ms, p.appended.MaxMs, p.e2e.Count, p.e2e.P50ms, p.e2e.MaxMs)
		}
	}
}

// TestBenchScale runs the scale mode at two small sizes: each is drained
// whole, and the second says what its added events cost.
func TestBenchScale(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker and the processor twice")
	}
	s, raw := benchJSON(t, "--mode", "scale", "--scale", "1000,3000", "--partitions", "2")
	if len(s.Scale) != 2 || s.Scale[0].Users != 1000 || s.Scale[1].Users != 3000 || s.Workload != bench.WorkloadUniform {
		t.Fatalf("want the uniform workload at 1000 and 3000 users:\n%s", raw)
	}
	for _, p := range s.Scale {
		if !(p.EventsPerSec > 0 && p.CPUSecPerM > 0 && p.RSSPeak > 0) {
			t.Errorf("%d users: %+v, want throughput, CPU and peak RSS", p.Users, p)
		}
	}
	// The same 180 days of events at each size: the same transitions per
	// user. (A size that read an earlier one's topics and state had fewer.)
	if a, b := float64(s.Scale[0].Transitions)/1000, float64(s.Scale[1].Transitions)/3000; a == 0 || b/a < 0.9 || b/a > 1.1 {
		t.Errorf("transitions per user %.2f at 1000 users, %.2f at 3000: want about the same", a, b)
	}
	// The added cost is a measurement: on a busy machine it can come out
	// below zero for sizes this small. It must be there, not positive.
	if s.Scale[0].AddedCPUus != 0 || s.Scale[1].AddedCPUus == 0 || math.IsNaN(s.Scale[1].AddedCPUus) {
		t.Errorf("added-event CPU %v then %v µs: want none for the first size, a figure for the second", s.Scale[0].AddedCPUus, s.Scale[1].AddedCPUus)
	}
}

// TestBenchUniformWorkload drains the uniform workload: every event of it
// is applied, and every user of it appears.
func TestBenchUniformWorkload(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker and the processor")
	}
	s, raw := benchJSON(t, "--mode", "drain", "--workload", "uniform", "--no-baseline",
		"--users", "300", "--events", "1500", "--partitions", "2")
	if s.Workload != bench.WorkloadUniform || s.Drain == nil || s.Drain.Processor.Events != 1500 || s.Memory == nil || s.Memory.Users != 300 {
		t.Fatalf("want the uniform workload's 1500 events of 300 users drained:\n%s", raw)
	}
}

// benchJSON runs lifecycle bench with args on the embedded broker and
// returns its JSON summary, parsed and raw.
func benchJSON(t *testing.T, args ...string) (bench.Summary, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	file := filepath.Join(t.TempDir(), "bench.json")
	out, _, err := cli(t, ctx, append(append([]string{"bench"}, args...), "--json", file)...)
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var s bench.Summary
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatalf("the summary does not parse: %v\n%s", err, raw)
	}
	return s, raw
}
