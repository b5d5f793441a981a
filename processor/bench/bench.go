package bench

import (
	"context"
	"io"
	"time"

	"go.uber.org/zap"

	"github.com/lifecycle-engine/lifecycle/processor"
)

// Config is a run of "lifecycle bench": its modes, its workload and the
// processor's settings. Its values are checked by the command.
type Config struct {
	// Conn is the cluster to measure against; with no Brokers, an embedded
	// kfake broker in this process.
	Conn processor.Conn
	// Stderr takes the progress lines.
	Stderr io.Writer
	// Mode is drain, latency, memory or all (drain, whose run also gives
	// the memory figures, then latency).
	Mode string
	// Workload is WorkloadSimulated or WorkloadUniform, for drain and
	// memory.
	Workload string
	// Users and Events are the workload's size (drain, memory; memory uses
	// at least Users events).
	Users, Events int
	// Partitions of every topic.
	Partitions int
	// Seed of the generated events.
	Seed uint64
	// The processor's --batch-records, --max-users-cached,
	// --block-cache-mb and --linger; 0 for its defaults.
	BatchRecords, MaxUsersCached, BlockCacheMB int
	Linger                                     time.Duration
	FetchWait                                  time.Duration // the processor's Config.FetchWait
	// Log is the processor's log; nil for none.
	Log *zap.Logger
	// NoBaseline skips the plain kafka-go baseline of the drain.
	NoBaseline bool
	// KeepTopics leaves the topics and groups at the end.
	KeepTopics bool
	// CPUProfile, when set, is the file for a CPU profile of the
	// processor's drain (or, in the latency mode, of its paced run);
	// MemProfile for a heap profile taken with the memory figures.
	CPUProfile, MemProfile string
	// Rate is the events per second the latency mode produces, for
	// WarmUp and then Duration. The WarmUp's events are processed but not
	// counted, in latency or CPU: a broker just started is slower for its
	// first seconds (the first run after its start: p50 14 / p99 45 ms
	// where the next run gives 9 / 24, BENCHMARKS.md), and the figures
	// are of the steady state.
	Rate     int
	WarmUp   time.Duration
	Duration time.Duration
	// Scale is the sizes (users, one event each) the scale mode drains.
	Scale []int
	// LatencyFloor has the latency mode first measure a pass-through
	// alone at the same rate: the floor.
	LatencyFloor bool
	// Isolate has the latency mode run the processor as a child process,
	// "<Binary> run" with the connection flags and environment ChildArgs
	// gives, so that its CPU is its own, without the bench's producer and
	// reader (read from /proc).
	Isolate   bool
	Binary    string
	ChildArgs func(conn processor.Conn, embedded bool) (args, env []string)
}

// Runner runs the modes of a Config on its connection; Close it.
type Runner struct {
	*session
	cfg Config
	log *zap.Logger // the processor's
	sum Summary
}

// Open connects to the broker (or starts the embedded one) for a run of
// cfg.
func Open(ctx context.Context, cfg Config) (*Runner, error) {
	r := &Runner{cfg: cfg, log: cfg.Log, session: &session{stderr: cfg.Stderr, partitions: int32(cfg.Partitions),
		keep: cfg.KeepTopics, seed: cfg.Seed, workload: cfg.Workload}}
	if r.log == nil {
		r.log = zap.NewNop()
	}
	r.sum.Started = time.Now().UTC().Format(time.RFC3339)
	r.sum.Machine = machineInfo()
	r.sum.Users, r.sum.Events, r.sum.Partitions, r.sum.Mode, r.sum.Workload = cfg.Users, cfg.Events, cfg.Partitions, cfg.Mode, cfg.Workload
	r.sum.MaxUsersCached, r.sum.BlockCacheMB, r.sum.FetchWaitMs = cfg.MaxUsersCached, cfg.BlockCacheMB, cfg.FetchWait.Milliseconds()
	r.sum.Compression = string(cfg.Conn.Compression)
	if r.sum.Compression == "" {
		r.sum.Compression = string(processor.Compressions[0])
	}
	r.sum.LoadAvgStart = loadAvg()
	if err := r.connect(ctx, cfg.Conn); err != nil {
		return nil, err
	}
	r.sum.Broker = r.broker
	r.progress("%s, run %s, load average %s", r.sum.Broker, r.run, r.sum.LoadAvgStart)
	return r, nil
}

// Close deletes the run's topics and groups (unless kept) and disconnects.
func (r *Runner) Close() {
	r.cleanup()
	r.disconnect()
}

// Run measures the modes of the Config and returns the summary.
func (r *Runner) Run(ctx context.Context) (*Summary, error) {
	mode := r.cfg.Mode
	if mode == "drain" || mode == "memory" || mode == "all" {
		d, m, err := r.drain(ctx, "", mode != "memory" && !r.cfg.NoBaseline, mode == "memory")
		if err != nil {
			return nil, err
		}
		if mode != "memory" {
			r.sum.Drain = d
		}
		r.sum.Memory = m
	}
	if mode == "scale" {
		s, err := r.scale(ctx)
		r.sum.Scale = s
		if err != nil {
			return nil, err
		}
	}
	if mode == "latency" || mode == "all" {
		l, err := r.latency(ctx)
		if err != nil {
			return nil, err
		}
		r.sum.Latency = l
	}
	r.sum.LoadAvgEnd = loadAvg()
	return &r.sum, nil
}
