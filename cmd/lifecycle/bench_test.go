package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lifecycle-engine/lifecycle/processor/bench"
)

// TestBenchSmoke runs every mode of lifecycle bench with tiny sizes on the
// embedded broker and checks that the JSON summary has its figures. It
// asserts nothing about speed: benchmarks are never pass/fail.
func TestBenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker and the processor twice")
	}
	s, raw := benchJSON(t, "--mode", "all", "--users", "200", "--events", "2000", "--partitions", "2",
		"--rate", "200", "--duration", "2s", "--max-users-cached", "50", "--block-cache-mb", "8")
	if s.Drain == nil || s.Latency == nil || s.Memory == nil || s.Drain.Baseline == nil {
		t.Fatalf("the summary lacks a section:\n%s", raw)
	}
	d, l, m := s.Drain, s.Latency, s.Memory
	for name, v := range map[string]float64{
		"drain.processor.events_per_sec": d.Processor.EventsPerSec, "drain.processor.mb_per_sec": d.Processor.MBPerSec,
		"drain.processor.cpu_sec_per_million": d.Processor.CPUSecPerM, "drain.baseline.events_per_sec": d.Baseline.EventsPerSec,
		"drain.ratio_to_baseline": d.Ratio, "drain.commits": float64(d.Commits), "drain.transitions": float64(d.Transitions),
		"latency.produced": float64(l.Produced), "latency.received": float64(l.Received), "latency.p50_ms": l.P50ms,
		"latency.p99_ms": l.P99ms, "latency.p999_ms": l.P999ms,
		"memory.users": float64(m.Users), "memory.heap_after_bytes": float64(m.HeapAfter), "memory.rss_after_bytes": float64(m.RSSAfter),
		"memory.rss_peak_bytes": float64(m.RSSPeak), "memory.pebble_bytes": float64(m.PebbleBytes),
		"memory.pebble_bytes_per_million_users": m.PebblePerMUsers,
		"machine.cores":                         float64(s.Machine.Cores),
	} {
		if !(v > 0) {
			t.Errorf("%s = %v, want > 0", name, v)
		}
	}
	if d.Processor.Events != 2000 || l.Received != l.Produced {
		t.Errorf("drain events %d (want 2000), latency received %d of %d", d.Processor.Events, l.Received, l.Produced)
	}
	if s.MaxUsersCached != 50 || s.BlockCacheMB != 8 {
		t.Errorf("the summary records --max-users-cached %d and --block-cache-mb %d, want 50 and 8", s.MaxUsersCached, s.BlockCacheMB)
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
