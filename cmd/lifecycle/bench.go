package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/lifecycle-engine/lifecycle/processor/bench"
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
           for --warm-up and then --duration, each the first event of a new
           user (so each makes a none→new or none→growing transition). The
           input topics and the transitions topic use LogAppendTime, so each
           event of --duration is timed from its input record's append to
           its transition's, by the broker's clock: the processor's share,
           without the bench's own producer and reader (p50, p95, p99,
           p99.9, max; the warm-up's events are processed, not counted).
           End to end (produce call → transition read) beside it,
           and the CPU per event while paced (the whole bench process's;
           with --isolate the processor runs as a child process and the CPU
           is its own). --latency-floor first runs a
           pass-through alone at the same rate (readers set as the
           processor's, its writer, no state): the floor under the figure.
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
  scale    The uniform workload (one event per user: a growing user base)
           drained at each size of --scale in turn, each on fresh topics
           and a fresh store: events/s, CPU per event, the CPU each added
           event cost since the previous size, peak RSS, heap per user and
           Pebble's write amplification; the CPU ratio of the last size to
           the first (issue 18's targets: 3M ≤ 1.2 × 200k, 10M ≤ 1.5 ×
           100k).

Progress goes to stderr, a summary table to stdout, and --json FILE writes
the summary as JSON.`

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench", "[--brokers H:P] [--mode drain|latency|memory|all|scale] [flags]", benchHelp)
	cf := fs.connFlags()
	fs.compressionFlag(&cf)
	fs.Lookup("brokers").Usage = "Kafka bootstrap brokers, host:port[,host:port…] (default: an embedded kfake broker in this process)"
	users := fs.Int("users", 100_000, "distinct users (drain, memory)")
	events := fs.Int("events", 1_000_000, "events to preload (drain, memory; memory uses at least --users)")
	partitions := fs.Int("partitions", 8, "partitions of every topic")
	mode := fs.String("mode", "all", "drain, latency, memory, all or scale")
	scale := fs.String("scale", "200000,1000000,3000000", "the scale mode's sizes, users (= events), comma-separated")
	rate := fs.Int("rate", 20_000, "events per second produced in the latency mode")
	duration := fs.duration("duration", 30*time.Second, "how long the latency mode produces")
	warmUp := fs.duration("warm-up", 30*time.Second, "how long the latency mode produces at --rate before --duration, processed but not counted in latency or CPU: a broker just started is slower for its first seconds (0: count from the first event)")
	jsonFile := fs.String("json", "", "write the summary as JSON to this file")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the processor's drain (with --mode latency: of the paced run, the bench's producer and reader included; with --isolate: of the child processor's whole run) to this file")
	memProfile := fs.String("memprofile", "", "write a heap profile to this file when the memory figures are taken (after the drain, the processor holding its users)")
	batch := fs.Int("batch-records", 0, "the processor's --batch-records (0: its default)")
	linger := fs.duration("linger", 0, "the processor's --linger (0: its default)")
	fetchWait := fs.duration("fetch-wait", 0, "the processor's --fetch-wait (0: its default, none)")
	cached := fs.Int("max-users-cached", 0, "the processor's --max-users-cached (0: its default), to measure memory under a bound")
	blockCache := fs.Int("block-cache-mb", 0, "the processor's --block-cache-mb (0: its default)")
	noBaseline := fs.Bool("no-baseline", false, "skip the plain kafka-go baseline of the drain")
	keep := fs.Bool("keep-topics", false, "do not delete the benchmark's topics and groups at the end")
	seed := fs.Uint64("seed", 1, "random seed of the generated events")
	floor := fs.Bool("latency-floor", false, "in the latency mode, first measure a pass-through (consume, produce, no state) alone at the same rate: the floor")
	isolate := fs.Bool("isolate", false, "in the latency mode, run the processor as a child process (this binary's run), so that the CPU while paced is the processor's alone, without the bench's producer and reader")
	workload := fs.String("workload", bench.WorkloadSimulated, "simulated (the first --events events of a realistic population of --users users) or uniform (events of uniformly random users at uniformly random times)")
	logFile := fs.String("log-file", "", "write the processor's log (JSON, info level) to this file, to see why a run is slow or stalls")
	if err := fs.parse(args, stdout); err != nil {
		return err
	}
	switch *mode {
	case "drain", "latency", "memory", "all", "scale":
	default:
		return fmt.Errorf("%w: --mode %q: use drain, latency, memory, all or scale", errUsage, *mode)
	}
	sizes, err := scaleSizes(*scale)
	if err != nil {
		return err
	}
	if *workload != bench.WorkloadSimulated && *workload != bench.WorkloadUniform {
		return fmt.Errorf("%w: --workload %q: use %s or %s", errUsage, *workload, bench.WorkloadSimulated, bench.WorkloadUniform)
	}
	if *users < 1 || *events < 1 || *partitions < 1 || *partitions > 256 || *rate < 1 || *duration <= 0 || *warmUp < 0 || *batch < 0 || *cached < 0 || *blockCache < 0 {
		return fmt.Errorf("%w: --users, --events, --rate and --duration must be positive, --partitions 1 to 256, --warm-up, --batch-records, --max-users-cached and --block-cache-mb 0 or more", errUsage)
	}

	cfg := bench.Config{Stderr: stderr, Mode: *mode, Workload: *workload, Users: *users, Events: *events, Partitions: *partitions,
		Seed: *seed, BatchRecords: *batch, Linger: *linger, FetchWait: *fetchWait, MaxUsersCached: *cached, BlockCacheMB: *blockCache, NoBaseline: *noBaseline,
		KeepTopics: *keep, CPUProfile: *cpuProfile, MemProfile: *memProfile, Rate: *rate, WarmUp: *warmUp, Duration: *duration, LatencyFloor: *floor, Scale: sizes,
		Isolate: *isolate, ChildArgs: cf.childArgs}
	if *isolate {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("--isolate: finding this binary to start the processor: %w", err)
		}
		cfg.Binary = exe
	}
	if *logFile != "" {
		f, err := os.Create(*logFile)
		if err != nil {
			return fmt.Errorf("--log-file: %w", err)
		}
		defer f.Close()
		cfg.Log = fileLogger(f)
	}
	if *cf.brokers != "" {
		cfg.Conn, err = cf.conn()
	} else { // the embedded broker
		cfg.Conn.Compression, err = cf.codec()
	}
	if err != nil {
		return err
	}
	r, err := bench.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer r.Close()
	sum, err := r.Run(ctx)
	if err != nil {
		return err
	}
	sum.Print(stdout)
	return writeJSON(*jsonFile, sum)
}

// scaleSizes parses --scale: growing sizes, each at least 1,000.
func scaleSizes(s string) ([]int, error) {
	var sizes []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1000 || len(sizes) > 0 && n <= sizes[len(sizes)-1] {
			return nil, fmt.Errorf("%w: --scale %q: give growing sizes of at least 1000 users, comma-separated, like 200000,1000000,3000000", errUsage, s)
		}
		sizes = append(sizes, n)
	}
	return sizes, nil
}

// writeJSON writes a bench summary as JSON to file, unless file is "".
func writeJSON(file string, summary any) error {
	if file == "" {
		return nil
	}
	out, err := json.MarshalIndent(summary, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(file, append(out, '\n'), 0o644)
}
