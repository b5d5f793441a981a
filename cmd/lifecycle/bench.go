package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/segmentio/kafka-go"
	kgosasl "github.com/segmentio/kafka-go/sasl"
	kplain "github.com/segmentio/kafka-go/sasl/plain"
	kscram "github.com/segmentio/kafka-go/sasl/scram"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/zap"

	"github.com/lifecycle-engine/lifecycle/processor"
	"github.com/lifecycle-engine/lifecycle/processor/simulate"
	"github.com/lifecycle-engine/lifecycle/state"
)

const benchHelp = `Measures the processor against a broker: the embedded kfake broker (in this
process) when --brokers is not given, else the cluster named by --brokers.
Every phase uses fresh, uniquely named topics, a fresh consumer group and a
fresh state directory in a temporary directory; the topics and groups are
deleted at the end (unless --keep-topics).

Workloads (--workload), for drain and memory:
  simulated  the first --events events of a realistic population of --users
             users from the simulator (lifecycle simulate: arrivals spread
             over 180 days, power-law activity, log-normal baskets, lapses,
             returns and dropouts; ~23 events per user over the 180 days).
             The default: the performance targets are set for a realistic mix.
  uniform    --events events of --users users, each at a uniformly random
             moment of 180 days (~70% logins, ~15% purchases, ~15% content):
             users go quiet between most events, so churn warnings dominate
             the outputs (~2 outputs per event). The workload of the
             measurements before 2026-12-02.
Either is keyed by user_id (Murmur2 partitioning).

Modes:
  drain    Preload the workload into the input topics, then time the processor from the earliest
           offset until every event is applied (Stats.Applied + Rejected +
           Duplicates = events): events/s, MB/s and CPU seconds per million
           events (getrusage of the whole process, so an embedded broker's
           work counts too). In the same run, the baseline: plain kafka-go
           Readers (one per topic-partition, the processor's fetch settings)
           that read the same topics and discard; the ratio processor ÷
           baseline. --cpuprofile profiles the processor's drain only.
  latency  With the processor running and caught up, produce --rate events/s
           for --duration, each the first event of a new user (so each makes
           a none→new or none→growing transition), and measure from the
           produce call to the transition being read from the transitions
           topic: p50, p99, p99.9, max (the first second is warm-up and not
           counted).
  memory   Load --users users through the processor (--events events, at
           least one per user), then report the Go heap after GC, RSS
           (VmRSS) and their growth per user over the process before the
           processor started, the peak RSS while it ran (VmHWM: GC slack,
           Pebble's memtables and caches included), and the Pebble bytes
           on disk (as left, and
           after a flush and full compaction) per million users. With the
           embedded broker the broker's copy of the outputs (transitions,
           changelog) is in the same process and inflates the per-user
           growth; measure against --brokers for the processor alone.
  all      drain (whose run also gives the memory figures), then latency.

Progress goes to stderr, a summary table to stdout, and --json FILE writes
the summary as JSON.`

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench", "[--brokers H:P] [--mode drain|latency|memory|all] [flags]", benchHelp)
	cf := fs.connFlags()
	fs.Lookup("brokers").Usage = "Kafka bootstrap brokers, host:port[,host:port…] (default: an embedded kfake broker in this process)"
	users := fs.Int("users", 100_000, "distinct users (drain, memory)")
	events := fs.Int("events", 1_000_000, "events to preload (drain, memory; memory uses at least --users)")
	partitions := fs.Int("partitions", 8, "partitions of every topic")
	mode := fs.String("mode", "all", "drain, latency, memory or all")
	rate := fs.Int("rate", 20_000, "events per second produced in the latency mode")
	duration := fs.duration("duration", 30*time.Second, "how long the latency mode produces")
	jsonFile := fs.String("json", "", "write the summary as JSON to this file")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the processor's drain to this file")
	memProfile := fs.String("memprofile", "", "write a heap profile to this file when the memory figures are taken (after the drain, the processor holding its users)")
	batch := fs.Int("batch-records", 0, "the processor's --batch-records (0: its default)")
	cached := fs.Int("max-users-cached", 0, "the processor's --max-users-cached (0: its default), to measure memory under a bound")
	blockCache := fs.Int("block-cache-mb", 0, "the processor's --block-cache-mb (0: its default)")
	noBaseline := fs.Bool("no-baseline", false, "skip the plain kafka-go baseline of the drain")
	keep := fs.Bool("keep-topics", false, "do not delete the benchmark's topics and groups at the end")
	seed := fs.Uint64("seed", 1, "random seed of the generated events")
	floor := fs.Bool("latency-floor", false, "in the latency mode, also read the input topics to measure produce → readable (the broker's share)")
	workload := fs.String("workload", workloadSimulated, "simulated (the first --events events of a realistic population of --users users) or uniform (events of uniformly random users at uniformly random times)")
	logFile := fs.String("log-file", "", "write the processor's log (JSON, info level) to this file, to see why a run is slow or stalls")
	if err := fs.parse(args, stdout); err != nil {
		return err
	}
	switch *mode {
	case "drain", "latency", "memory", "all":
	default:
		return fmt.Errorf("%w: --mode %q: use drain, latency, memory or all", errUsage, *mode)
	}
	if *workload != workloadSimulated && *workload != workloadUniform {
		return fmt.Errorf("%w: --workload %q: use %s or %s", errUsage, *workload, workloadSimulated, workloadUniform)
	}
	if *users < 1 || *events < 1 || *partitions < 1 || *partitions > 256 || *rate < 1 || *duration <= 0 || *batch < 0 || *cached < 0 || *blockCache < 0 {
		return fmt.Errorf("%w: --users, --events, --rate and --duration must be positive, --partitions 1 to 256, --batch-records, --max-users-cached and --block-cache-mb 0 or more", errUsage)
	}

	b := &bench{stderr: stderr, users: *users, events: *events, partitions: int32(*partitions), batch: *batch, cached: *cached, blockCache: int64(*blockCache) << 20, keep: *keep, seed: *seed, workload: *workload, log: zap.NewNop()}
	if *logFile != "" {
		f, err := os.Create(*logFile)
		if err != nil {
			return fmt.Errorf("--log-file: %w", err)
		}
		defer f.Close()
		b.log = fileLogger(f)
	}
	b.sum.Started = time.Now().UTC().Format(time.RFC3339)
	b.sum.Machine = machineInfo()
	b.sum.Users, b.sum.Events, b.sum.Partitions, b.sum.Mode, b.sum.Workload = *users, *events, *partitions, *mode, *workload
	b.sum.MaxUsersCached, b.sum.BlockCacheMB = *cached, *blockCache
	b.sum.LoadAvgStart = loadAvg()
	disconnect, err := b.connect(ctx, cf)
	if err != nil {
		return err
	}
	defer disconnect()
	defer b.cleanup()
	b.progress("%s, run %s, load average %s", b.sum.Broker, b.run, b.sum.LoadAvgStart)

	if *mode == "drain" || *mode == "memory" || *mode == "all" {
		d, m, err := b.drain(ctx, *mode != "memory" && !*noBaseline, *mode == "memory", *cpuProfile, *memProfile)
		if err != nil {
			return err
		}
		if *mode != "memory" {
			b.sum.Drain = d
		}
		b.sum.Memory = m
	}
	if *mode == "latency" || *mode == "all" {
		l, err := b.latency(ctx, *rate, *duration, *floor)
		if err != nil {
			return err
		}
		b.sum.Latency = l
	}
	b.sum.LoadAvgEnd = loadAvg()
	b.sum.print(stdout)
	if *jsonFile != "" {
		out, err := json.MarshalIndent(b.sum, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(*jsonFile, append(out, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// connect starts the embedded broker when cf names no brokers, else
// connects to them; it checks the connection and names the run. disconnect
// closes the admin client and the embedded broker.
func (b *bench) connect(ctx context.Context, cf connFlags) (disconnect func(), err error) {
	var cluster *kfake.Cluster
	if *cf.brokers == "" {
		if cluster, err = kfake.NewCluster(kfake.NumBrokers(1)); err != nil {
			return nil, fmt.Errorf("starting the embedded broker: %w", err)
		}
		b.conn = processor.Conn{Brokers: cluster.ListenAddrs()}
		b.sum.Broker = "embedded kfake (in process)"
		b.embedded = true
	} else {
		if b.conn, err = cf.conn(); err != nil {
			return nil, err
		}
		b.sum.Broker = "kafka at " + strings.Join(b.conn.Brokers, ",")
	}
	disconnect = func() {
		if b.adm != nil {
			b.adm.Close()
		}
		if cluster != nil {
			cluster.Close()
		}
	}
	if b.adm, err = b.conn.Admin(); err == nil {
		err = b.conn.Check(ctx, b.adm)
	}
	if err != nil {
		disconnect()
		return nil, err
	}
	b.run = fmt.Sprintf("bench-%d", time.Now().UnixNano()%1e12)
	return disconnect, nil
}

// benchSummary is what bench reports (--json).
type benchSummary struct {
	Started    string       `json:"started"`
	Machine    benchMachine `json:"machine"`
	Broker     string       `json:"broker"`
	Mode       string       `json:"mode"`
	Workload   string       `json:"workload"`
	Users      int          `json:"users"`
	Events     int          `json:"events"`
	Partitions int          `json:"partitions"`
	// The processor's memory settings; 0 means its default.
	MaxUsersCached int            `json:"max_users_cached"`
	BlockCacheMB   int            `json:"block_cache_mb"`
	LoadAvgStart   string         `json:"load_avg_start"`
	LoadAvgEnd     string         `json:"load_avg_end"`
	Drain          *drainResult   `json:"drain,omitempty"`
	Latency        *latencyResult `json:"latency,omitempty"`
	Memory         *memoryResult  `json:"memory,omitempty"`
}

type benchMachine struct {
	CPU       string `json:"cpu"`
	Cores     int    `json:"cores"`
	MemoryMiB int64  `json:"memory_mib"`
	Go        string `json:"go"`
	OS        string `json:"os"`
}

type throughput struct {
	Events       int64   `json:"events"`
	Bytes        int64   `json:"bytes"`
	Seconds      float64 `json:"seconds"` // first record to last
	EventsPerSec float64 `json:"events_per_sec"`
	MBPerSec     float64 `json:"mb_per_sec"`
	CPUSecPerM   float64 `json:"cpu_sec_per_million"`
}

type drainResult struct {
	Processor throughput `json:"processor"`
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
	Commits          int64       `json:"commits"`
	ChangelogRecords int64       `json:"changelog_records"`
	RecordsPerCommit float64     `json:"records_per_commit"`
	Baseline         *throughput `json:"baseline,omitempty"`
	Ratio            float64     `json:"ratio_to_baseline,omitempty"`
	LoadAvg          string      `json:"load_avg"`
}

type latencyResult struct {
	RatePerSec   int     `json:"rate_per_sec"`
	Seconds      float64 `json:"seconds"`
	Produced     int     `json:"produced"`
	AchievedRate float64 `json:"achieved_rate_per_sec"`
	Received     int     `json:"received"`
	Counted      int     `json:"counted"` // after the warm-up second
	P50ms        float64 `json:"p50_ms"`
	P99ms        float64 `json:"p99_ms"`
	P999ms       float64 `json:"p999_ms"`
	MaxMs        float64 `json:"max_ms"`
	CPUSecPerM   float64 `json:"cpu_sec_per_million"`
	LoadAvg      string  `json:"load_avg"`
	// Floor is produce → readable on the input topic, measured by plain
	// readers in the same run (--latency-floor).
	Floor *latencyFloor `json:"floor,omitempty"`
}

type latencyFloor struct {
	P50ms  float64 `json:"p50_ms"`
	P99ms  float64 `json:"p99_ms"`
	P999ms float64 `json:"p999_ms"`
	MaxMs  float64 `json:"max_ms"`
}

type memoryResult struct {
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
}

type bench struct {
	stderr     io.Writer
	conn       processor.Conn
	adm        *kadm.Client
	embedded   bool
	run        string
	users      int
	events     int
	partitions int32
	batch      int
	cached     int
	blockCache int64 // bytes; 0 for the store's default
	keep       bool
	seed       uint64
	workload   string
	log        *zap.Logger // the processor's
	sum        benchSummary

	created []string // topics to delete
	groups  []string

	progressMu sync.Mutex
}

// progress writes a line to stderr; the latency mode's ticker writes from
// a goroutine of its own.
func (b *bench) progress(format string, args ...any) {
	b.progressMu.Lock()
	defer b.progressMu.Unlock()
	fmt.Fprintf(b.stderr, "bench: "+format+"\n", args...)
}

// topics creates a fresh, uniquely named set of topics for one phase.
func (b *bench) topics(ctx context.Context, phase string) (processor.Topics, string, error) {
	prefix := b.run + "-" + phase
	group := prefix + "-group"
	t := benchTopics(prefix, group)
	created, err := processor.CreateTopics(ctx, b.adm, t, processor.TopicSpec{Partitions: b.partitions, Replication: 1})
	b.created = append(b.created, created...)
	b.groups = append(b.groups, group)
	return t, group, err
}

// benchTopics names every topic of a phase after it, the outputs too: a
// default name would be shared by every run, and deleted by the first run
// that created it while others write to it.
func benchTopics(prefix, group string) processor.Topics {
	return processor.Topics{
		Inputs:      []string{prefix + ".login", prefix + ".purchase", prefix + ".content"},
		Transitions: prefix + ".transitions",
		Warnings:    prefix + ".churn-warnings",
		Segments:    prefix + ".segments",
		DLQ:         prefix + ".dlq",
		Changelog:   processor.ChangelogTopic(group),
	}
}

func (b *bench) cleanup() {
	if b.keep || b.embedded || len(b.created) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := b.adm.DeleteGroups(ctx, b.groups...); err != nil {
		b.progress("deleting groups: %v", err)
	}
	if _, err := b.adm.DeleteTopics(ctx, b.created...); err != nil {
		b.progress("deleting topics: %v", err)
	}
}

// The workloads of the drain and memory modes.
const (
	workloadSimulated = "simulated"
	workloadUniform   = "uniform"
)

// eventGen writes the benchmark's events: ~70% logins, ~15% purchases, ~15%
// content, RFC 3339 timestamps, the shape producers write.
type eventGen struct {
	buf []byte
}

var benchKinds = [...]string{"like", "comment", "answer", "post", "review"}

// kind picks the event type from a uniform draw r in [0, 100).
func benchKind(r uint64) int {
	switch {
	case r < 70:
		return 0
	case r < 85:
		return 1
	default:
		return 2
	}
}

func (g *eventGen) value(eventID, userID string, typ int, ts int64, r uint64) []byte {
	b := g.buf[:0]
	b = append(b, `{"event_id":"`...)
	b = append(b, eventID...)
	b = append(b, `","user_id":"`...)
	b = append(b, userID...)
	b = append(b, `","type":"`...)
	b = append(b, [...]string{"login", "purchase", "content"}[typ]...)
	b = append(b, `","ts":"`...)
	b = time.UnixMilli(ts).UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z")
	b = append(b, '"')
	switch typ {
	case 1:
		cents := 199 + int64(r%9800)
		b = append(b, `,"amount":"`...)
		b = strconv.AppendInt(b, cents/100, 10)
		b = append(b, '.', byte('0'+cents%100/10), byte('0'+cents%10))
		b = append(b, `","currency":"USD"`...)
	case 2:
		b = append(b, `,"kind":"`...)
		b = append(b, benchKinds[r%uint64(len(benchKinds))]...)
		b = append(b, '"')
	}
	b = append(b, '}')
	g.buf = b
	return bytes.Clone(b)
}

// preload writes at most n events of the workload into the input topics. It
// returns the bytes written (keys and values), the events written (fewer
// than n only when a simulated population has fewer) and the number of
// distinct users among them.
func (b *bench) preload(ctx context.Context, t processor.Topics, n, users int) (int64, int, int, error) {
	sink := newKafkaSink(ctx, b.conn)
	defer sink.close()
	if b.workload == workloadSimulated {
		return b.preloadSimulated(ctx, sink, t, n, users)
	}
	bytesOut, distinct, err := b.preloadUniform(ctx, sink, t, n, users)
	return bytesOut, n, distinct, err
}

// errEnough stops the simulator once the bench has the events it asked for.
var errEnough = errors.New("enough events")

// preloadSimulated writes the first n events of the simulator's population
// of users (arrivals over 180 days, power-law activity, lapses, returns and
// dropouts: processor/simulate), in event-time order.
func (b *bench) preloadSimulated(ctx context.Context, sink *kafkaSink, t processor.Topics, n, users int) (int64, int, int, error) {
	cfg := simulate.Config{Users: users, Seed: int64(b.seed),
		Topics: simulate.Topics{Login: t.Inputs[0], Purchase: t.Inputs[1], Content: t.Inputs[2]}}
	seen := make(map[string]struct{}, users)
	var bytesOut int64
	var written int
	last := time.Now()
	_, err := simulate.Run(ctx, cfg, func(r simulate.Record) error {
		if written == n {
			return errEnough
		}
		if err := sink.add(r); err != nil {
			return err
		}
		written++
		bytesOut += int64(len(r.Key) + len(r.Value))
		if _, ok := seen[string(r.Key)]; !ok {
			seen[string(r.Key)] = struct{}{}
		}
		if time.Since(last) > 2*time.Second {
			last = time.Now()
			b.progress("preloading: %d of %d events", written, n)
		}
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) {
		return 0, 0, 0, err
	}
	return bytesOut, written, len(seen), sink.flush()
}

// preloadUniform writes n events: the first min(n, users) are the first
// events of users 0, 1, …; the rest belong to uniformly random users. Event
// time runs evenly over 180 days.
func (b *bench) preloadUniform(ctx context.Context, sink *kafkaSink, t processor.Topics, n, users int) (int64, int, error) {
	rng := rand.New(rand.NewPCG(b.seed, 42))
	var g eventGen
	start := simulate.DefaultStart.UnixMilli()
	step := float64(180*24*time.Hour/time.Millisecond) / float64(n)
	var bytesOut int64
	last := time.Now()
	for i := range n {
		u := i
		if i >= users {
			u = rng.IntN(users)
		}
		r := rng.Uint64()
		typ := benchKind(r % 100)
		uid := "u-" + strconv.Itoa(u)
		v := g.value("e-"+strconv.Itoa(i), uid, typ, start+int64(float64(i)*step), r>>8)
		bytesOut += int64(len(uid) + len(v))
		if err := sink.add(simulate.Record{Topic: t.Inputs[typ], Key: []byte(uid), Value: v, Time: start + int64(float64(i)*step)}); err != nil {
			return 0, 0, err
		}
		if time.Since(last) > 2*time.Second {
			last = time.Now()
			b.progress("preloading: %d of %d events", i+1, n)
		}
	}
	return bytesOut, min(n, users), sink.flush()
}

func writeHeapProfile(file string) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// drain preloads, runs the baseline, then drains with the processor and
// takes the memory figures while the processor still holds its users.
func (b *bench) drain(ctx context.Context, baseline, memoryOnly bool, cpuProfile, memProfile string) (*drainResult, *memoryResult, error) {
	phase := "drain"
	n := b.events
	if memoryOnly {
		phase, n = "memory", max(b.events, b.users)
	}
	t, group, err := b.topics(ctx, phase)
	if err != nil {
		return nil, nil, err
	}
	b.progress("%s: preloading %d events of %d users into %d partitions", phase, n, b.users, b.partitions)
	t0 := time.Now()
	total, n, distinct, err := b.preload(ctx, t, n, b.users)
	if err != nil {
		return nil, nil, err
	}
	b.sum.Events = n
	b.progress("%s: preloaded %d events of %d users (%.1f MB) in %.1fs", phase, n, distinct, float64(total)/1e6, time.Since(t0).Seconds())

	res := &drainResult{}
	if baseline {
		bl, err := b.baseline(ctx, t.Inputs, int64(n))
		if err != nil {
			return nil, nil, err
		}
		res.Baseline = bl
		b.progress("baseline: %d records in %.2fs: %.0f records/s, %.1f MB/s, %.2f CPU s per million", bl.Events, bl.Seconds, bl.EventsPerSec, bl.MBPerSec, bl.CPUSecPerM)
	}

	runtime.GC()
	debug.FreeOSMemory()
	mem := &memoryResult{BrokerInProcess: b.embedded}
	mem.HeapBefore, mem.RSSBefore = heapInUse(), rss()
	mem.PeakFromStart = !resetPeakRSS()

	dir, err := os.MkdirTemp("", "lifecycle-bench-")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(dir)
	stateDir := filepath.Join(dir, "state")
	store, err := state.Open(state.Options{Dir: stateDir, CacheBytes: b.blockCache})
	if err != nil {
		return nil, nil, err
	}
	storeOpen := true
	defer func() {
		if storeOpen {
			store.Close()
		}
	}()
	proc, err := processor.New(processor.Config{Conn: b.conn, Group: group, Topics: t, BatchRecords: b.batch, MaxUsersCached: b.cached, Log: b.log}, store)
	if err != nil {
		return nil, nil, err
	}
	if cpuProfile != "" && !memoryOnly {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return nil, nil, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, nil, err
		}
	}
	profiling := cpuProfile != "" && !memoryOnly
	stopProfile := func() {
		if profiling {
			pprof.StopCPUProfile()
			profiling = false
		}
	}
	defer stopProfile()

	pctx, stop := context.WithCancel(ctx)
	defer stop()
	cpu0 := cpuSeconds()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- proc.Run(pctx) }()
	stopProc := func() error {
		stop()
		err := <-done
		done = nil
		return err
	}
	defer func() {
		if done != nil {
			stopProc()
		}
	}()

	var first, finished time.Time
	var st processor.Stats
	lastProgress, lastSeen, lastChange := time.Now(), int64(-1), time.Now()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for finished.IsZero() {
		select {
		case err := <-done:
			done = nil
			return nil, nil, fmt.Errorf("the processor stopped during the drain: %v", err)
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-tick.C:
		}
		st = proc.Stats()
		seen := st.Applied + st.Rejected + st.Duplicates
		if seen > 0 && first.IsZero() {
			first = time.Now()
		}
		if seen >= int64(n) {
			finished = time.Now()
			break
		}
		if seen != lastSeen {
			lastSeen, lastChange = seen, time.Now()
		} else if time.Since(lastChange) > 2*time.Minute {
			return nil, nil, fmt.Errorf("the drain made no progress for 2 minutes at %d of %d events", seen, n)
		}
		if time.Since(lastProgress) > 2*time.Second {
			lastProgress = time.Now()
			b.progress("%s: %d of %d events applied (%.0f/s so far)", phase, seen, n, float64(seen)/time.Since(start).Seconds())
		}
	}
	cpu := cpuSeconds() - cpu0
	stopProfile()
	seconds := finished.Sub(first).Seconds()
	res.Processor = throughput{Events: int64(n), Bytes: total, Seconds: seconds,
		EventsPerSec: float64(n) / seconds, MBPerSec: float64(total) / 1e6 / seconds, CPUSecPerM: cpu / float64(n) * 1e6}
	res.StartupSeconds = first.Sub(start).Seconds()
	res.LoadAvg = loadAvg()
	// Wait until the outputs are acknowledged too.
	for {
		st = proc.Stats()
		if st.Sent >= st.Transitions+st.Warnings+st.SegmentChanges+st.Rejected || time.Since(finished) > time.Minute {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	res.OutputsSeconds = time.Since(start).Seconds()
	res.Transitions, res.Warnings, res.SegmentChanges = st.Transitions, st.Warnings, st.SegmentChanges
	if commits, records, err := b.countCommits(ctx, t.Changelog); err != nil {
		b.progress("counting the commits in the changelog: %v", err)
	} else {
		res.Commits, res.ChangelogRecords = commits, records
		res.RecordsPerCommit = float64(n) / float64(max(commits, 1))
	}
	if res.Baseline != nil {
		res.Ratio = res.Processor.EventsPerSec / res.Baseline.EventsPerSec
	}
	b.progress("%s: %d events in %.2fs after %.2fs startup: %.0f events/s, %.1f MB/s, %.2f CPU s per million; %d transitions",
		phase, n, seconds, res.StartupSeconds, res.Processor.EventsPerSec, res.Processor.MBPerSec, res.Processor.CPUSecPerM, st.Transitions)

	// Memory, with the processor still holding every user.
	mem.RSSPeak = peakRSS()
	runtime.GC()
	debug.FreeOSMemory()
	mem.HeapAfter, mem.RSSAfter = heapInUse(), rss()
	if memProfile != "" {
		if err := writeHeapProfile(memProfile); err != nil {
			return nil, nil, err
		}
	}
	var users int64
	for _, c := range st.Stages {
		users += c
	}
	if users == 0 {
		users = int64(distinct)
	}
	mem.Users = users
	mem.HeapPerUser = float64(int64(mem.HeapAfter)-int64(mem.HeapBefore)) / float64(users)
	mem.RSSPerUser = float64(mem.RSSAfter-mem.RSSBefore) / float64(users)

	if err := stopProc(); err != nil {
		return nil, nil, err
	}
	storeOpen = false
	if err := store.Close(); err != nil {
		return nil, nil, err
	}
	mem.PebbleBytes = dirSize(stateDir)
	if mem.PebbleCompacted, err = compactedSize(stateDir); err != nil {
		b.progress("compacting the state for its size: %v", err)
	}
	mem.PebblePerMUsers = float64(mem.PebbleBytes) / float64(users) * 1e6
	mem.PebbleCompPerM = float64(mem.PebbleCompacted) / float64(users) * 1e6
	mem.LoadAvg = loadAvg()
	b.progress("memory: %d users: heap %.1f → %.1f MB (%.0f B/user), RSS %.1f → %.1f MB (%.0f B/user), Pebble %.1f MB (%.1f MB compacted)",
		users, float64(mem.HeapBefore)/1e6, float64(mem.HeapAfter)/1e6, mem.HeapPerUser,
		float64(mem.RSSBefore)/1e6, float64(mem.RSSAfter)/1e6, mem.RSSPerUser, float64(mem.PebbleBytes)/1e6, float64(mem.PebbleCompacted)/1e6)
	return res, mem, nil
}

// baseline reads every input topic-partition to its end with plain kafka-go
// Readers set up as processor/fetch.go sets up its own, and discards.
func (b *bench) baseline(ctx context.Context, topics []string, want int64) (*throughput, error) {
	ends, err := b.adm.ListEndOffsets(ctx, topics...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, err
	}
	dialer := &kafka.Dialer{Timeout: 10 * time.Second, DualStack: true, TLS: b.conn.TLS, SASLMechanism: benchSASL(b.conn.SASL)}
	var count, size atomic.Int64
	var firstNano atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, len(topics)*int(b.partitions))
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cpu0 := cpuSeconds()
	ends.Each(func(lo kadm.ListedOffset) {
		if lo.Offset <= 0 {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := kafka.NewReader(kafka.ReaderConfig{
				Brokers: b.conn.Brokers, Dialer: dialer, Topic: lo.Topic, Partition: int(lo.Partition),
				MinBytes: 1, MaxBytes: 8 << 20, MaxWait: 250 * time.Millisecond, QueueCapacity: 4096,
				ReadBackoffMin: 50 * time.Millisecond, ReadBackoffMax: 2 * time.Second,
			})
			defer r.Close()
			if err := r.SetOffset(kafka.FirstOffset); err != nil {
				errs <- err
				return
			}
			for {
				m, err := r.FetchMessage(cctx)
				if err != nil {
					errs <- err
					return
				}
				firstNano.CompareAndSwap(0, time.Now().UnixNano())
				count.Add(1)
				size.Add(int64(len(m.Key) + len(m.Value)))
				if m.Offset+1 >= lo.Offset {
					return
				}
			}
		}()
	})
	wg.Wait()
	end := time.Now()
	cpu := cpuSeconds() - cpu0
	close(errs)
	if err := <-errs; err != nil {
		return nil, fmt.Errorf("baseline consumer: %w", err)
	}
	n := count.Load()
	if n != want {
		return nil, fmt.Errorf("baseline consumer read %d records, want %d", n, want)
	}
	secs := end.Sub(time.Unix(0, firstNano.Load())).Seconds()
	return &throughput{Events: n, Bytes: size.Load(), Seconds: secs, EventsPerSec: float64(n) / secs,
		MBPerSec: float64(size.Load()) / 1e6 / secs, CPUSecPerM: cpu / float64(n) * 1e6}, nil
}

// countCommits reads the changelog to its end and counts its metadata
// records (one per committed batch) and all its records.
func (b *bench) countCommits(ctx context.Context, topic string) (commits, records int64, err error) {
	ends, err := b.adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return 0, 0, err
	}
	dialer := &kafka.Dialer{Timeout: 10 * time.Second, DualStack: true, TLS: b.conn.TLS, SASLMechanism: benchSASL(b.conn.SASL)}
	var c, n atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Pointer[error]
	ends.Each(func(lo kadm.ListedOffset) {
		if lo.Offset <= 0 {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: b.conn.Brokers, Dialer: dialer, Topic: lo.Topic, Partition: int(lo.Partition),
				MinBytes: 1, MaxBytes: 8 << 20, MaxWait: 250 * time.Millisecond, QueueCapacity: 4096})
			defer r.Close()
			if err := r.SetOffset(kafka.FirstOffset); err != nil {
				firstErr.CompareAndSwap(nil, &err)
				return
			}
			rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			for {
				m, err := r.FetchMessage(rctx)
				if err != nil {
					firstErr.CompareAndSwap(nil, &err)
					return
				}
				n.Add(1)
				if len(m.Key) == 1 && m.Key[0] == 'm' {
					c.Add(1)
				}
				if m.Offset+1 >= lo.Offset {
					return
				}
			}
		}()
	})
	wg.Wait()
	if e := firstErr.Load(); e != nil {
		return 0, 0, *e
	}
	return c.Load(), n.Load(), nil
}

func benchSASL(s *processor.SASL) kgosasl.Mechanism {
	if s == nil {
		return nil
	}
	switch s.Mechanism {
	case "PLAIN":
		return kplain.Mechanism{Username: s.Username, Password: s.Password}
	case "SCRAM-SHA-256":
		m, _ := kscram.Mechanism(kscram.SHA256, s.Username, s.Password)
		return m
	default:
		m, _ := kscram.Mechanism(kscram.SHA512, s.Username, s.Password)
		return m
	}
}

// latency runs the processor on fresh topics, waits until it owns every
// partition, then produces rate events/s for d, each the first event of a
// new user, and times each event to its transition on the transitions topic.
func (b *bench) latency(ctx context.Context, rate int, d time.Duration, floor bool) (*latencyResult, error) {
	t, group, err := b.topics(ctx, "latency")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "lifecycle-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	store, err := state.Open(state.Options{Dir: filepath.Join(dir, "state"), CacheBytes: b.blockCache})
	if err != nil {
		return nil, err
	}
	defer store.Close()
	proc, err := processor.New(processor.Config{Conn: b.conn, Group: group, Topics: t, BatchRecords: b.batch, MaxUsersCached: b.cached, Log: b.log}, store)
	if err != nil {
		return nil, err
	}
	pctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- proc.Run(pctx) }()
	defer func() { stop(); <-done }()

	b.progress("latency: waiting for the processor to own its %d partitions", b.partitions)
	for deadline := time.Now().Add(2 * time.Minute); ; {
		if proc.Ready() && proc.Stats().Partitions == int(b.partitions) {
			break
		}
		if time.Now().After(deadline) {
			return nil, errors.New("latency: the processor did not take its partitions within 2 minutes")
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	// Let its readers connect and long-poll.
	time.Sleep(time.Second)

	n := int(float64(rate) * d.Seconds())
	sent := make([]int64, n)
	recv := make([]atomic.Int64, n)
	prefix := "l" + strconv.FormatInt(time.Now().UnixNano()%1e6, 36) + "-"

	// Consumers of the transitions topic, one per partition, from its start
	// (the topic is fresh).
	dialer := &kafka.Dialer{Timeout: 10 * time.Second, DualStack: true, TLS: b.conn.TLS, SASLMechanism: benchSASL(b.conn.SASL)}
	var received atomic.Int64
	cctx, cancelConsumers := context.WithCancel(ctx)
	var cwg sync.WaitGroup
	defer func() { cancelConsumers(); cwg.Wait() }()
	// Readers of the input topics too: produce → readable on an input is
	// the floor under the processor's own latency (two such hops plus the
	// processor make the event → transition latency).
	recvIn := make([]atomic.Int64, n)
	var receivedIn atomic.Int64
	consume := func(topic string, p int, got []atomic.Int64, count *atomic.Int64) {
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers: b.conn.Brokers, Dialer: dialer, Topic: topic, Partition: p,
			MinBytes: 1, MaxBytes: 8 << 20, MaxWait: 250 * time.Millisecond, QueueCapacity: 4096,
		})
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			defer r.Close()
			for {
				m, err := r.FetchMessage(cctx)
				if err != nil {
					return
				}
				now := time.Now().UnixNano()
				k, ok := strings.CutPrefix(string(m.Key), prefix)
				if !ok {
					continue
				}
				i, err := strconv.Atoi(k)
				if err != nil || i < 0 || i >= n {
					continue
				}
				if got[i].CompareAndSwap(0, now) {
					count.Add(1)
				}
			}
		}()
	}
	for p := range int(b.partitions) {
		consume(t.Transitions, p, recv, &received)
		if floor {
			for _, in := range t.Inputs {
				consume(in, p, recvIn, &receivedIn)
			}
		}
	}
	time.Sleep(500 * time.Millisecond)

	// The paced producer: writers claim the events that are due (at most
	// 10 ms of them at a time), stamp their send time and write them; when
	// nothing is due they wait a moment. Several writers keep the rate when
	// one is waiting for its acknowledgement.
	w := b.conn.Writer()
	defer w.Close()
	var mu sync.Mutex
	next := 0
	var pwg sync.WaitGroup
	var prodErr atomic.Pointer[error]
	var produced atomic.Int64
	maxBatch := max(1, rate/100)
	cpu0 := cpuSeconds()
	b.progress("latency: producing %d events/s for %v (%d events)", rate, d, n)
	start := time.Now()
	for range 8 {
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			var g eventGen
			rng := rand.New(rand.NewPCG(b.seed, uint64(time.Now().UnixNano())))
			var msgs []kafka.Message
			for ctx.Err() == nil && prodErr.Load() == nil {
				mu.Lock()
				due := min(n, int(time.Since(start).Seconds()*float64(rate)))
				from := next
				to := min(due, from+maxBatch)
				next = to
				mu.Unlock()
				if from >= n {
					return
				}
				if from == to {
					time.Sleep(200 * time.Microsecond)
					continue
				}
				msgs = msgs[:0]
				now := time.Now()
				for i := from; i < to; i++ {
					r := rng.Uint64()
					typ := benchKind(r % 100)
					uid := prefix + strconv.Itoa(i)
					msgs = append(msgs, kafka.Message{Topic: t.Inputs[typ], Key: []byte(uid),
						Value: g.value("e-"+uid, uid, typ, now.UnixMilli(), r>>8)})
					sent[i] = now.UnixNano()
				}
				if err := w.WriteMessages(ctx, msgs...); err != nil {
					prodErr.CompareAndSwap(nil, &err)
				}
				produced.Add(int64(to - from))
			}
		}()
	}
	progressDone := make(chan struct{})
	go func() {
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				b.progress("latency: %d produced, %d transitions read", produced.Load(), received.Load())
			case <-progressDone:
				return
			}
		}
	}()
	pwg.Wait()
	close(progressDone)
	produceSecs := time.Since(start).Seconds()
	if e := prodErr.Load(); e != nil {
		return nil, fmt.Errorf("latency producer: %w", *e)
	}
	for deadline := time.Now().Add(30 * time.Second); received.Load() < int64(n) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	cpu := cpuSeconds() - cpu0

	res := &latencyResult{RatePerSec: rate, Seconds: produceSecs, Produced: n, AchievedRate: float64(n) / produceSecs,
		Received: int(received.Load()), CPUSecPerM: cpu / float64(n) * 1e6, LoadAvg: loadAvg()}
	warm := start.Add(time.Second).UnixNano()
	lats := make([]float64, 0, n)
	for i := range n {
		r := recv[i].Load()
		if r == 0 || sent[i] < warm {
			continue
		}
		lats = append(lats, float64(r-sent[i])/1e6)
	}
	slices.Sort(lats)
	res.Counted = len(lats)
	if floor {
		var in []float64
		for i := range n {
			if r := recvIn[i].Load(); r != 0 && sent[i] >= warm {
				in = append(in, float64(r-sent[i])/1e6)
			}
		}
		slices.Sort(in)
		if len(in) > 0 {
			res.Floor = &latencyFloor{P50ms: percentile(in, 50), P99ms: percentile(in, 99), P999ms: percentile(in, 99.9), MaxMs: in[len(in)-1]}
			b.progress("latency floor (produce → readable on an input topic): p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms", res.Floor.P50ms, res.Floor.P99ms, res.Floor.P999ms)
		}
	}
	if len(lats) > 0 {
		res.P50ms, res.P99ms, res.P999ms, res.MaxMs = percentile(lats, 50), percentile(lats, 99), percentile(lats, 99.9), lats[len(lats)-1]
	}
	b.progress("latency: %d of %d transitions read; p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms",
		res.Received, n, res.P50ms, res.P99ms, res.P999ms, res.MaxMs)
	if res.Received < n {
		return res, fmt.Errorf("latency: only %d of %d transitions arrived within 30 s of the last event", res.Received, n)
	}
	return res, nil
}

// percentile of sorted values, nearest rank.
func percentile(sorted []float64, p float64) float64 {
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func heapInUse() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// rss is VmRSS of this process in bytes.
func rss() int64 { return procStatusBytes("VmRSS:") }

// peakRSS is VmHWM of this process in bytes: the most RSS it has had since
// it started or since resetPeakRSS.
func peakRSS() int64 { return procStatusBytes("VmHWM:") }

// resetPeakRSS starts VmHWM again from the current RSS (Linux 4.0 and
// later); it reports whether it could.
func resetPeakRSS() bool { return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil }

func procStatusBytes(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// compactedSize opens the closed store, flushes its memtable and compacts
// everything, and returns the size of its live sstables: the data itself
// without the write-ahead log or obsolete versions.
func compactedSize(dir string) (int64, error) {
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietPebble{}})
	if err != nil {
		return 0, err
	}
	defer db.Close()
	if err := db.Flush(); err != nil {
		return 0, err
	}
	if err := db.Compact(context.Background(), []byte{0}, bytes.Repeat([]byte{0xff}, 16), true); err != nil {
		return 0, err
	}
	m := db.Metrics()
	return int64(m.Total().TablesSize), nil
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func machineInfo() benchMachine {
	m := benchMachine{Cores: runtime.NumCPU(), Go: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				m.CPU = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				m.MemoryMiB = kb >> 10
			}
		}
	}
	return m
}

func (s *benchSummary) print(w io.Writer) {
	fmt.Fprintf(w, "lifecycle bench: %s, %s (%d cores, %d MiB), %s\n", s.Broker, s.Machine.CPU, s.Machine.Cores, s.Machine.MemoryMiB, s.Machine.Go)
	fmt.Fprintf(w, "users %d, events %d, partitions %d", s.Users, s.Events, s.Partitions)
	if s.MaxUsersCached > 0 {
		fmt.Fprintf(w, ", --max-users-cached %d", s.MaxUsersCached)
	}
	if s.BlockCacheMB > 0 {
		fmt.Fprintf(w, ", --block-cache-mb %d", s.BlockCacheMB)
	}
	fmt.Fprintf(w, "; load average %s at start, %s at end\n\n", s.LoadAvgStart, s.LoadAvgEnd)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "measure\tresult\ttarget")
	if d := s.Drain; d != nil {
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
	if l := s.Latency; l != nil {
		fmt.Fprintf(tw, "latency at %d events/s (achieved %.0f)\tp50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms\tp99 ≤ 20 ms at 20000/s\n",
			l.RatePerSec, l.AchievedRate, l.P50ms, l.P99ms, l.P999ms, l.MaxMs)
		if f := l.Floor; f != nil {
			fmt.Fprintf(tw, "  floor: produce → readable on input\tp50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms\t\n", f.P50ms, f.P99ms, f.P999ms, f.MaxMs)
		}
	}
	if m := s.Memory; m != nil {
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
	tw.Flush()
}

// quietPebble drops Pebble's messages (its WAL replay chatter).
type quietPebble struct{}

func (quietPebble) Infof(string, ...any)  {}
func (quietPebble) Errorf(string, ...any) {}
func (quietPebble) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}
