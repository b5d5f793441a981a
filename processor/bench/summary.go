package bench

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// Summary is what lifecycle bench reports (--json).
type Summary struct {
	Started    string  `json:"started"`
	Machine    Machine `json:"machine"`
	Broker     string  `json:"broker"`
	Mode       string  `json:"mode"`
	Workload   string  `json:"workload"`
	Users      int     `json:"users"`
	Events     int     `json:"events"`
	Partitions int     `json:"partitions"`
	// The processor's memory settings; 0 means its default.
	MaxUsersCached int `json:"max_users_cached"`
	BlockCacheMB   int `json:"block_cache_mb"`
	// FetchWaitMs is the processor's --fetch-wait in ms; 0: none.
	FetchWaitMs int64 `json:"fetch_wait_ms"`
	// Compression is the codec of the batches written (--compression).
	Compression  string         `json:"compression"`
	LoadAvgStart string         `json:"load_avg_start"`
	LoadAvgEnd   string         `json:"load_avg_end"`
	Drain        *DrainResult   `json:"drain,omitempty"`
	Latency      *LatencyResult `json:"latency,omitempty"`
	Memory       *MemoryResult  `json:"memory,omitempty"`
	Scale        []ScalePoint   `json:"scale,omitempty"`
}

// Machine is what the bench ran on.
type Machine struct {
	CPU       string `json:"cpu"`
	Cores     int    `json:"cores"`
	MemoryMiB int64  `json:"memory_mib"`
	Go        string `json:"go"`
	OS        string `json:"os"`
}

// Throughput is a drain's, of the processor or of the baseline.
type Throughput struct {
	Events       int64   `json:"events"`
	Bytes        int64   `json:"bytes"`
	Seconds      float64 `json:"seconds"` // first record to last
	EventsPerSec float64 `json:"events_per_sec"`
	MBPerSec     float64 `json:"mb_per_sec"`
	CPUSecPerM   float64 `json:"cpu_sec_per_million"`
}

// DrainResult is the drain mode's measurement.
type DrainResult struct {
	Processor Throughput `json:"processor"`
	// StartupSeconds is from processor.Run to the first applied record
	// (group join, topic checks, readers connecting).
	StartupSeconds float64 `json:"startup_seconds"`
	// OutputsSeconds is from Run until every output of the drain was
	// acknowledged by the broker.
	OutputsSeconds float64 `json:"outputs_seconds"`
	Transitions    int64   `json:"transitions"`
	Warnings       int64   `json:"warnings"`
	SegmentChanges int64   `json:"segment_changes"`
	// Commits is the number of state commits (metadata records in the
	// changelog); RecordsPerCommit the input records per commit.
	Commits          int64   `json:"commits"`
	ChangelogRecords int64   `json:"changelog_records"`
	RecordsPerCommit float64 `json:"records_per_commit"`
	// StoreReads, StoreMisses and TimerMoves per event (processor.Stats).
	StoreReadsPerEvent  float64     `json:"store_reads_per_event"`
	StoreMissesPerEvent float64     `json:"store_misses_per_event"`
	TimerMovesPerEvent  float64     `json:"timer_moves_per_event"`
	Baseline            *Throughput `json:"baseline,omitempty"`
	Ratio               float64     `json:"ratio_to_baseline,omitempty"`
	LoadAvg             string      `json:"load_avg"`
}

// LatencyResult is the latency mode's measurement.
type LatencyResult struct {
	RatePerSec int `json:"rate_per_sec"`
	// WarmUpEvents are the first events, produced for --warm-up: processed
	// and received, not counted in the percentiles or the CPU.
	WarmUpEvents int     `json:"warm_up_events"`
	Seconds      float64 `json:"seconds"`
	Produced     int     `json:"produced"` // the warm-up's included
	AchievedRate float64 `json:"achieved_rate_per_sec"`
	Received     int     `json:"received"`
	Counted      int     `json:"counted"` // after the warm-up
	// Appended is from the input record's LogAppendTime to its output's:
	// the processor's share, by the broker's clock.
	Appended Percentiles `json:"appended"`
	// EndToEnd is from the bench's produce call to its read of the output.
	EndToEnd   Percentiles `json:"end_to_end"`
	CPUSecPerM float64     `json:"cpu_sec_per_million"`
	// Isolated: the processor ran as a child process (--isolate) and
	// CPUSecPerM is its CPU alone; else the bench process's, producer and
	// reader included.
	Isolated bool   `json:"isolated"`
	LoadAvg  string `json:"load_avg"`
	// Floor is a pass-through (consume, produce, no state) measured alone
	// before the processor, at the same rate (--latency-floor).
	Floor *LatencyFloor `json:"floor,omitempty"`
}

// Percentiles of a latency, in milliseconds, nearest rank.
type Percentiles struct {
	Count  int     `json:"count"`
	P50ms  float64 `json:"p50_ms"`
	P95ms  float64 `json:"p95_ms"`
	P99ms  float64 `json:"p99_ms"`
	P999ms float64 `json:"p999_ms"`
	MaxMs  float64 `json:"max_ms"`
}

func (p Percentiles) String() string {
	if p.Count == 0 {
		return "not measured: the broker did not stamp LogAppendTime (the embedded kfake ignores a topic's timestamp type; use --brokers)"
	}
	return fmt.Sprintf("p50 %.1f ms, p95 %.1f ms, p99 %.1f ms, max %.1f ms", p.P50ms, p.P95ms, p.P99ms, p.MaxMs)
}

// LatencyFloor is the pass-through's latency.
type LatencyFloor struct {
	Appended   Percentiles `json:"appended"`
	EndToEnd   Percentiles `json:"end_to_end"`
	CPUSecPerM float64     `json:"cpu_sec_per_million"`
	Received   int         `json:"received"`
}

// MemoryResult is the memory figures, taken after the drain.
type MemoryResult struct {
	Users      int64  `json:"users"`
	HeapBefore uint64 `json:"heap_before_bytes"`
	HeapAfter  uint64 `json:"heap_after_bytes"`
	RSSBefore  int64  `json:"rss_before_bytes"`
	RSSAfter   int64  `json:"rss_after_bytes"`
	// RSSPeak is the most RSS the process had while the processor ran,
	// before the GC and the release of free memory that RSSAfter follows
	// (since the process started when PeakFromStart).
	RSSPeak         int64   `json:"rss_peak_bytes"`
	PeakFromStart   bool    `json:"rss_peak_from_process_start,omitempty"`
	HeapPerUser     float64 `json:"heap_bytes_per_user"`
	RSSPerUser      float64 `json:"rss_bytes_per_user"`
	PebbleBytes     int64   `json:"pebble_bytes"`
	PebbleCompacted int64   `json:"pebble_bytes_compacted"`
	PebblePerMUsers float64 `json:"pebble_bytes_per_million_users"`
	PebbleCompPerM  float64 `json:"pebble_bytes_compacted_per_million_users"`
	BrokerInProcess bool    `json:"broker_in_process"`
	LoadAvg         string  `json:"load_avg"`
	// Pebble is what the store did over the whole run.
	Pebble *PebbleMetrics `json:"pebble,omitempty"`
}

// PebbleMetrics are the store's counters at the end of a run (Pebble's
// Metrics): bytes into the WAL and the tables, write amplification
// (bytes flushed and compacted ÷ bytes in), and the block cache.
type PebbleMetrics struct {
	WALBytesIn      uint64 `json:"wal_bytes_in"`
	WALBytesWritten uint64 `json:"wal_bytes_written"`
	// FlushedBytes are the tables the flushes wrote. Pebble's Total()
	// adds the WAL's bytes to its own flushed figure (for its write
	// amplification); this one does not, so that it shows what of the WAL
	// survived to a table (outbox records deleted in the same memtable do
	// not).
	FlushedBytes   uint64  `json:"flushed_bytes"`
	CompactedBytes uint64  `json:"compacted_bytes"`
	WriteAmp       float64 `json:"write_amp"`
	Flushes        int64   `json:"flushes"`
	Compactions    int64   `json:"compactions"`
	CacheHits      int64   `json:"block_cache_hits"`
	CacheMisses    int64   `json:"block_cache_misses"`
}

// Print writes the summary as a table with the targets.
func (s *Summary) Print(w io.Writer) {
	fmt.Fprintf(w, "lifecycle bench: %s, %s (%d cores, %d MiB), %s\n", s.Broker, s.Machine.CPU, s.Machine.Cores, s.Machine.MemoryMiB, s.Machine.Go)
	fmt.Fprintf(w, "users %d, events %d, partitions %d", s.Users, s.Events, s.Partitions)
	if s.MaxUsersCached > 0 {
		fmt.Fprintf(w, ", --max-users-cached %d", s.MaxUsersCached)
	}
	if s.BlockCacheMB > 0 {
		fmt.Fprintf(w, ", --block-cache-mb %d", s.BlockCacheMB)
	}
	if s.FetchWaitMs > 0 {
		fmt.Fprintf(w, ", --fetch-wait %dms", s.FetchWaitMs)
	}
	fmt.Fprintf(w, ", --compression %s", s.Compression)
	fmt.Fprintf(w, "; load average %s at start, %s at end\n\n", s.LoadAvgStart, s.LoadAvgEnd)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if s.Drain != nil || s.Latency != nil || s.Memory != nil && s.Scale == nil {
		fmt.Fprintln(tw, "measure\tresult\ttarget")
	}
	if d := s.Drain; d != nil {
		d.print(tw)
	}
	if l := s.Latency; l != nil {
		l.print(tw)
	}
	if m := s.Memory; m != nil && s.Scale == nil {
		m.print(tw)
	}
	tw.Flush()
	printScale(w, s.Scale)
}

func (d *DrainResult) print(tw io.Writer) {
	fmt.Fprintf(tw, "drain throughput\t%.0f events/s (%.1f MB/s)\t≥ 150000 events/s\n", d.Processor.EventsPerSec, d.Processor.MBPerSec)
	fmt.Fprintf(tw, "drain CPU\t%.2f CPU s per million events\t\n", d.Processor.CPUSecPerM)
	fmt.Fprintf(tw, "drain startup / until outputs acked\t%.2f s / %.2f s\t\n", d.StartupSeconds, d.OutputsSeconds)
	fmt.Fprintf(tw, "drain commits\t%d (%.0f records per commit), %d changelog records\t\n", d.Commits, d.RecordsPerCommit, d.ChangelogRecords)
	fmt.Fprintf(tw, "drain outputs\t%d transitions, %d warnings, %d segment changes\t\n", d.Transitions, d.Warnings, d.SegmentChanges)
	if d.Baseline != nil {
		fmt.Fprintf(tw, "baseline kafka-go readers\t%.0f records/s (%.1f MB/s), %.2f CPU s per million\t\n", d.Baseline.EventsPerSec, d.Baseline.MBPerSec, d.Baseline.CPUSecPerM)
		fmt.Fprintf(tw, "processor ÷ baseline\t%.2f\t≥ 0.8\n", d.Ratio)
	}
}

func (l *LatencyResult) print(tw io.Writer) {
	fmt.Fprintf(tw, "latency at %d events/s (achieved %.0f), input → output by LogAppendTime\t%s\tp99 ≤ 30 ms at 2000/s, ≤ 50 ms at 5000/s; p50 ≤ 10 ms\n",
		l.RatePerSec, l.AchievedRate, l.Appended)
	fmt.Fprintf(tw, "  end to end (produce call → output read)\t%s\t\n", l.EndToEnd)
	whose := "the bench's whole process: the processor, the producer and the reader"
	if l.Isolated {
		whose = "the processor's child process alone"
	}
	fmt.Fprintf(tw, "  CPU while paced (%s)\t%.2f CPU s per million events\t≤ 2 × the drain's\n", whose, l.CPUSecPerM)
	if f := l.Floor; f != nil {
		fmt.Fprintf(tw, "  floor: pass-through alone, by LogAppendTime\t%s\t\n", f.Appended)
		fmt.Fprintf(tw, "  floor: end to end\t%s\t\n", f.EndToEnd)
		fmt.Fprintf(tw, "  floor: CPU\t%.2f CPU s per million events\t\n", f.CPUSecPerM)
	}
}

func (m *MemoryResult) print(tw io.Writer) {
	note := ""
	if m.BrokerInProcess {
		note = " (includes the embedded broker's copy of the outputs)"
	}
	fmt.Fprintf(tw, "memory, %d users\theap %.1f MB, RSS %.1f MB (after GC)\t\n", m.Users, float64(m.HeapAfter)/1e6, float64(m.RSSAfter)/1e6)
	since := "while the processor ran"
	if m.PeakFromStart {
		since = "since the bench started"
	}
	fmt.Fprintf(tw, "peak RSS %s\t%.1f MB\t10M users < 1 GiB\n", since, float64(m.RSSPeak)/1e6)
	fmt.Fprintf(tw, "per user%s\theap %.0f B, RSS %.0f B\tRSS ≤ 300 B\n", note, m.HeapPerUser, m.RSSPerUser)
	fmt.Fprintf(tw, "Pebble on disk per million users\t%.1f MB (%.1f MB compacted)\t\n", m.PebblePerMUsers/1e6, m.PebbleCompPerM/1e6)
}
