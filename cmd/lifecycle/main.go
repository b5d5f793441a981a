// Command lifecycle is a real-time customer-lifecycle engine: it consumes
// login, purchase and content events from Kafka, keeps every user's
// lifecycle stage in an embedded Pebble store and publishes each transition
// the moment it happens. Run `lifecycle help` for the subcommands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/lifecycle-engine/lifecycle/state"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// errUsage marks errors in how the command was called: exit code 2.
var errUsage = errors.New("usage")

// exitDiskFull is the exit status of a stop on a full disk: EX_TEMPFAIL
// of sysexits.h, a failure that a retry (with space freed) cures.
const exitDiskFull = 75

// exitOnDiskFull is state.Options.OnDiskFull for the commands that write
// a store: the store cannot go on once a write failed for lack of space,
// and an exit there is a crash, which loses nothing (ARCHITECTURE.md):
// started again with space, the command resumes where it stopped. Pebble
// would panic instead, or retry its flushes without end.
func exitOnDiskFull(dir string, log *zap.Logger, stderr io.Writer) func() {
	return func() {
		err := state.DiskFullError(dir)
		exitNow(log, stderr, exitDiskFull, "stopping: the disk of the state directory is full", err.Error(), zap.String("state_dir", dir), zap.Error(err))
	}
}

// exitNow ends the process from within a store's write, where nothing
// can go on: msg and fields to the log (if any), "lifecycle: line" to
// stderr, then status. No deferred work runs; for the state it is a
// crash, which loses nothing.
func exitNow(log *zap.Logger, stderr io.Writer, status int, msg, line string, fields ...zap.Field) {
	if log != nil {
		log.Error(msg, fields...)
		_ = log.Sync()
	}
	fmt.Fprintln(stderr, "lifecycle:", line)
	os.Exit(status)
}

// exitDiskStalled is the exit status of a stop on a stalled disk:
// EX_IOERR of sysexits.h.
const exitDiskStalled = 74

// onDiskSlow is state.Options.OnDiskSlow for `lifecycle run`: a write to
// the state directory slower than 5 s is logged (at most every 10 s),
// and one that has not completed after limit stops the process. Its
// partitions would otherwise stall while it stays in the group, which
// then never gives them to another instance; exiting ends its session,
// and the stop is a crash, which loses nothing. limit 0: never stop.
func onDiskSlow(dir string, limit time.Duration, log *zap.Logger, stderr io.Writer) func(state.DiskSlow) {
	var warned atomic.Int64 // Unix ns of the last warning
	return func(d state.DiskSlow) {
		fields := []zap.Field{zap.String("state_dir", dir), zap.String("op", d.Op), zap.String("file", d.Path), zap.Duration("took", d.Took)}
		if limit > 0 && d.Took >= limit {
			exitNow(log, stderr, exitDiskStalled, "stopping: the disk of the state directory has stalled",
				fmt.Sprintf("the disk of the state directory %s has stalled: a %s of %s has not completed for %v (--max-disk-stall %v); stopping so that the group gives this instance's partitions to another. Check the volume; a restart resumes where it stopped, and nothing is lost", dir, d.Op, d.Path, d.Took.Round(time.Second), limit),
				append(fields, zap.Duration("max_disk_stall", limit))...)
		}
		now := time.Now().UnixNano()
		if last := warned.Load(); now-last >= int64(10*time.Second) && warned.CompareAndSwap(last, now) {
			log.Warn("the disk of the state directory is slow: a write has not completed", fields...)
		}
	}
}

func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintln(stderr, "lifecycle:", err)
		return 2
	case errors.Is(err, state.ErrDiskFull):
		fmt.Fprintln(stderr, "lifecycle:", err)
		return exitDiskFull
	default:
		fmt.Fprintln(stderr, "lifecycle:", err)
		return 1
	}
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"run", "process events from Kafka: the lifecycle engine itself", runRun},
		{"demo", "the whole product in one process, on an embedded broker", runDemo},
		{"simulate", "generate a realistic user population, to Kafka or NDJSON", runSimulate},
		{"topics", "create or check the input and output topics", runTopics},
		{"inspect", "print stored user state as JSON lines (read-only)", runInspect},
		{"replay", "recompute the outputs from an archive of events, into a file", runReplay},
		{"fit", "fit BG/NBD and Gamma-Gamma models to purchase histories", runFit},
		{"evaluate", "measure churn-warning quality on a population with known dropouts", runEvaluate},
		{"diff", "compare two output files user by user: added, removed, changed", runDiff},
		{"bench", "measure throughput, latency, memory and failover against a broker", runBenchCommand},
		{"version", "print the version", runVersion},
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		if len(args) == 0 {
			return fmt.Errorf("%w: no subcommand given", errUsage)
		}
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	usage(stderr)
	return fmt.Errorf("%w: unknown subcommand %q", errUsage, args[0])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, `lifecycle: a real-time customer-lifecycle engine on Kafka.

Usage: lifecycle <subcommand> [flags]

Subcommands:`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, `
Every flag can also be set by an environment variable: --state-dir is
LIFECYCLE_STATE_DIR. "lifecycle <subcommand> --help" lists the flags.

Start here: lifecycle demo`)
}
