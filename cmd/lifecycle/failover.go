package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"go.uber.org/zap"

	"github.com/lifecycle-engine/lifecycle/processor"
	"github.com/lifecycle-engine/lifecycle/processor/simulate"
)

const failoverHelp = `Measures failover: how long after an instance dies its partitions work again
on another instance, with and without a standby replica, and how fast a
partition's state is restored from the changelog.

For each mode, on fresh topics of --partitions partitions (default 1: one
instance owns everything) the bench produces --users users with one event
each (the uniform workload of lifecycle bench) to the broker: --brokers, or
an embedded kfake broker in this process when not given (real Kafka is what
counts). It then starts two instances of "lifecycle run" as processes of
this binary (--binary for another), each with its own --state-dir, both with
--session-timeout (default 6s, the least Kafka allows by default),
--standby-replicas 0 or 1 by mode and --http off:

  1. A starts alone and drains the input; the bench waits until the group
     has committed the end of every input partition (A writes the changelog
     before it commits the offsets).
  2. B starts and joins the group; A keeps its partitions (the balancer
     gives a partition to the instance whose state of it is furthest).
     With --standby-replicas 1 B copies them from the changelog; the bench
     waits until the group's lag on the changelog (a standby commits its
     position there) is 0.
  3. The bench kills A (SIGKILL), at once produces one event of a new user
     on one of A's partitions, and times from the kill:
       session  until B logs "partitions assigned" with A's partition: the
                session timeout, then the rebalance
       restore  B's "partition restored" (no standby: the whole changelog is
                read) or "standby promoted" (standby: only the changelog's
                tail), the "took" of B's own log line
       rest     the remainder: B's readers starting, the event applied,
                committed and its transition produced and read
       total    the kill until the new user's transition is read from the
                transitions topic

Modes (--mode): no-standby (--standby-replicas 0), standby
(--standby-replicas 1), or both (the default: no-standby, then standby).

It fails (exit 1) when a step does not finish within --timeout, an instance
exits early, or B restores from the changelog when it should have promoted
its standby copy (or the reverse). The instances are stopped at the end in
every case; the temporary directory (their state directories and logs,
a.log and b.log) is removed and the topics and groups deleted unless --keep.

Progress goes to stderr, a summary table to stdout, and --json FILE writes
the summary as JSON.`

// runBenchCommand is lifecycle bench: "bench failover" has flags of its
// own, everything else is runBench's.
func runBenchCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "failover" {
		return runBenchFailover(ctx, args[1:], stdout, stderr)
	}
	err := runBench(ctx, args, stdout, stderr)
	if errors.Is(err, errHelp) {
		fmt.Fprintln(stdout, "\nFailover time and restore throughput: lifecycle bench failover --help")
	}
	return err
}

// failoverSummary is what bench failover reports (--json).
type failoverSummary struct {
	Started        string           `json:"started"`
	Machine        benchMachine     `json:"machine"`
	Broker         string           `json:"broker"`
	Users          int              `json:"users"`
	Partitions     int              `json:"partitions"`
	SessionTimeout string           `json:"session_timeout"`
	LoadAvgStart   string           `json:"load_avg_start"`
	LoadAvgEnd     string           `json:"load_avg_end"`
	Runs           []failoverResult `json:"runs"`
}

// failoverResult is one mode's measurement. Times are seconds; the
// timeline is seconds after the kill of A.
type failoverResult struct {
	Mode            string  `json:"mode"` // no-standby or standby
	StandbyReplicas int     `json:"standby_replicas"`
	Events          int     `json:"events"`
	PreloadSeconds  float64 `json:"preload_seconds"`
	// DrainSeconds is from A's start until the group had committed the
	// end of the input.
	DrainSeconds float64 `json:"drain_seconds"`
	// StandbyCopySeconds is from B's start until the group's lag on the
	// changelog was 0 (standby mode).
	StandbyCopySeconds float64 `json:"standby_copy_seconds,omitempty"`
	ChangelogRecords   int64   `json:"changelog_records"` // end offsets after the kill, summed
	Partition          int     `json:"partition"`         // the new user's
	TotalSeconds       float64 `json:"total_seconds"`     // kill → the new user's transition read
	SessionSeconds     float64 `json:"session_seconds"`   // kill → B's "partitions assigned" with the partition
	RestoreSeconds     float64 `json:"restore_seconds"`   // "took" of B's "partition restored" or "standby promoted"
	RestSeconds        float64 `json:"rest_seconds"`
	// Restored: B logged "partition restored" for the partition after the
	// kill; Promoted: "standby promoted". Exactly one is expected, by mode.
	Restored                 bool               `json:"restored"`
	RestoredRecords          int64              `json:"restored_records"`
	RestoredUsers            int64              `json:"restored_users,omitempty"`
	RestoreRecordsPerSec     float64            `json:"restore_records_per_second,omitempty"`
	Promoted                 bool               `json:"promoted"`
	PromotedChangelogRecords int64              `json:"promoted_changelog_records"`
	PromotedUsers            int64              `json:"promoted_users,omitempty"`
	Timeline                 map[string]float64 `json:"timeline"`
	// Notices are B's warnings and errors after the kill, and what was
	// not as expected.
	Notices []string `json:"notices,omitempty"`
	// BLog is B's log from the kill until the output was read (at most
	// 50 lines).
	BLog       []string `json:"b_log_after_kill"`
	Unexpected string   `json:"unexpected,omitempty"`
	LoadAvg    string   `json:"load_avg"`
}

func runBenchFailover(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench failover", "[--brokers H:P] [--mode both|no-standby|standby] [--users N] [flags]", failoverHelp)
	cf := fs.connFlags()
	fs.Lookup("brokers").Usage = "Kafka bootstrap brokers, host:port[,host:port…] (default: an embedded kfake broker in this process)"
	users := fs.Int("users", 1_000_000, "users, one event each (the uniform workload)")
	partitions := fs.Int("partitions", 1, "partitions of every topic; with 1, A owns everything and B nothing until A dies")
	mode := fs.String("mode", "both", "no-standby, standby or both")
	session := fs.duration("session-timeout", 6*time.Second, "both instances' --session-timeout: how long the group waits for the killed instance")
	timeout := fs.duration("timeout", 10*time.Minute, "longest wait of each step (A draining the input, B's standby copy, the failover)")
	binary := fs.String("binary", "", "the lifecycle binary the instances run (default: this one)")
	jsonFile := fs.String("json", "", "write the summary as JSON to this file")
	keep := fs.Bool("keep", false, "keep the temporary directory (the instances' state and logs) and the topics and groups")
	seed := fs.Uint64("seed", 1, "random seed of the generated events")
	if err := fs.parse(args, stdout); err != nil {
		return err
	}
	var modes []bool // standby or not
	switch *mode {
	case "both":
		modes = []bool{false, true}
	case "no-standby":
		modes = []bool{false}
	case "standby":
		modes = []bool{true}
	default:
		return fmt.Errorf("%w: --mode %q: use no-standby, standby or both", errUsage, *mode)
	}
	if *users < 1 || *partitions < 1 || *partitions > 256 || *timeout <= 0 {
		return fmt.Errorf("%w: --users and --timeout must be positive, --partitions 1 to 256", errUsage)
	}
	if *session < 6*time.Second || *session > 30*time.Minute {
		return fmt.Errorf("%w: --session-timeout %v: use 6s to 30m", errUsage, *session)
	}
	bin := *binary
	if bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("finding this binary to start the instances (give --binary): %w", err)
		}
		bin = exe
	}

	b := &bench{stderr: stderr, users: *users, events: *users, partitions: int32(*partitions), keep: *keep, seed: *seed,
		workload: workloadUniform, log: zap.NewNop()}
	sum := failoverSummary{Started: time.Now().UTC().Format(time.RFC3339), Machine: machineInfo(), Users: *users,
		Partitions: *partitions, SessionTimeout: session.String(), LoadAvgStart: loadAvg()}
	disconnect, err := b.connect(ctx, cf)
	if err != nil {
		return err
	}
	defer disconnect()
	defer b.cleanup()
	sum.Broker = b.sum.Broker
	dir, err := os.MkdirTemp("", "lifecycle-failover-")
	if err != nil {
		return err
	}
	if *keep {
		defer b.progress("kept %s (the instances' state and logs) and the topics of run %s", dir, b.run)
	} else {
		defer os.RemoveAll(dir)
	}
	f := &failover{bench: b, binary: bin, dir: dir, session: *session, timeout: *timeout}
	f.connArgs, f.env = cf.childArgs(b.conn, b.embedded)
	b.progress("failover: %s, run %s, %d users, %d partitions, --session-timeout %v, load average %s",
		sum.Broker, b.run, *users, *partitions, *session, sum.LoadAvgStart)

	var failed []error
	for _, standby := range modes {
		r, err := f.measure(ctx, standby)
		if r != nil {
			sum.Runs = append(sum.Runs, *r)
			if r.Unexpected != "" {
				failed = append(failed, fmt.Errorf("%s: %s", r.Mode, r.Unexpected))
			}
		}
		if err != nil {
			failed = append(failed, err)
			break
		}
	}
	sum.LoadAvgEnd = loadAvg()
	if len(sum.Runs) > 0 {
		sum.print(stdout)
		if *jsonFile != "" {
			out, err := json.MarshalIndent(sum, "", "  ")
			if err != nil {
				return err
			}
			if err := os.WriteFile(*jsonFile, append(out, '\n'), 0o644); err != nil {
				return err
			}
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("bench failover: %w", errors.Join(failed...))
	}
	return nil
}

// childArgs are the connection flags of the instances: the brokers, TLS
// and SASL as given; a SASL password goes by the environment, not the
// command line, where other users could read it.
func (c connFlags) childArgs(conn processor.Conn, embedded bool) (args, env []string) {
	args = []string{"--brokers", strings.Join(conn.Brokers, ",")}
	if embedded {
		return args, nil
	}
	for _, s := range []struct {
		name string
		v    *string
	}{{"tls-ca-file", c.tlsCA}, {"tls-cert-file", c.tlsCert}, {"tls-key-file", c.tlsKey}, {"tls-server-name", c.tlsServerName},
		{"sasl-mechanism", c.saslMechanism}, {"sasl-username", c.saslUser}, {"sasl-password-file", c.saslPwdFile}} {
		if *s.v != "" {
			args = append(args, "--"+s.name, *s.v)
		}
	}
	if *c.tls {
		args = append(args, "--tls")
	}
	if *c.tlsInsecure {
		args = append(args, "--tls-insecure-skip-verify")
	}
	if *c.saslPassword != "" && *c.saslPwdFile == "" {
		env = append(env, envName("sasl-password")+"="+*c.saslPassword)
	}
	return args, env
}

// failover runs the measurement of each mode.
type failover struct {
	*bench
	binary   string
	dir      string
	session  time.Duration
	timeout  time.Duration
	connArgs []string
	env      []string
}

// measure runs one mode: preload, A drains, B joins (and copies A's
// partitions when standby), A is killed, the new user's output is timed.
func (f *failover) measure(ctx context.Context, standby bool) (*failoverResult, error) {
	r := &failoverResult{Mode: "no-standby", Timeline: map[string]float64{}}
	if standby {
		r.Mode, r.StandbyReplicas = "standby", 1
	}
	t, group, err := f.topics(ctx, "failover-"+r.Mode)
	if err != nil {
		return nil, err
	}
	f.progress("%s: preloading %d users, one event each, into %d partitions", r.Mode, f.users, f.partitions)
	t0 := time.Now()
	size, n, _, err := f.preload(ctx, t, f.users, f.users)
	if err != nil {
		return nil, err
	}
	r.Events, r.PreloadSeconds = n, time.Since(t0).Seconds()
	f.progress("%s: preloaded %d events (%.1f MB) in %.1fs", r.Mode, n, float64(size)/1e6, r.PreloadSeconds)

	dir := filepath.Join(f.dir, r.Mode)
	a, err := f.start("A", dir, group, t, r.StandbyReplicas)
	if err != nil {
		return nil, err
	}
	defer a.stop()
	inputs := func(ctx context.Context) (bool, string, error) {
		done, total, err := f.committed(ctx, group, t.Inputs)
		return err == nil && done == total, fmt.Sprintf("the group committed %d of %d input records", done, total), err
	}
	if err := f.wait(ctx, r.Mode+": A draining the input", []*instance{a}, inputs); err != nil {
		return nil, err
	}
	r.DrainSeconds = time.Since(a.started).Seconds()
	f.progress("%s: A drained the input in %.1fs", r.Mode, r.DrainSeconds)

	b, err := f.start("B", dir, group, t, r.StandbyReplicas)
	if err != nil {
		return nil, err
	}
	defer b.stop()
	var owned []int // A's partitions
	ready := func(ctx context.Context) (bool, string, error) {
		ga, pa, oka := a.settled()
		gb, pb, okb := b.settled()
		if !oka || !okb || ga != gb {
			return false, "waiting for A and B to take their assignments", nil
		}
		if len(pa) == 0 {
			return false, "", fmt.Errorf("B took every partition from A before the kill (A's: %v, B's: %v): nothing to fail over", pa, pb)
		}
		if f.partitions == 1 && len(pb) > 0 {
			return false, "", errors.New("B took partition 0 from A before the kill; the balancer should leave it with A, whose state is furthest")
		}
		owned = pa
		g, err := f.adm.DescribeGroups(ctx, group)
		if err != nil {
			return false, "", err
		}
		if d := g[group]; d.Err != nil || d.State != "Stable" || len(d.Members) != 2 {
			return false, fmt.Sprintf("the group is %s with %d members", d.State, len(d.Members)), nil
		}
		if !standby {
			return true, "", nil
		}
		done, total, err := f.committed(ctx, group, []string{t.Changelog})
		return err == nil && total > 0 && done == total, fmt.Sprintf("B's standby copy at %d of %d changelog records", done, total), err
	}
	what := r.Mode + ": B joining the group"
	if standby {
		what = r.Mode + ": B copying A's partitions from the changelog"
	}
	if err := f.wait(ctx, what, []*instance{a, b}, ready); err != nil {
		return nil, err
	}
	if standby {
		r.StandbyCopySeconds = time.Since(b.started).Seconds()
		f.progress("%s: B's standby copy is current %.1fs after B started", r.Mode, r.StandbyCopySeconds)
	}

	// The new user: one whose partition is A's, by the producer's
	// partitioner. Its event has the workload's last event time, so that it
	// moves no stream time and fires no timers ahead of its own transition.
	all := make([]int, f.partitions)
	for p := range all {
		all[p] = p
	}
	var uid string
	for i := 0; ; i++ {
		uid = fmt.Sprintf("failover-%s-%d", r.Mode, i)
		if r.Partition = (kafka.Murmur2Balancer{}).Balance(kafka.Message{Key: []byte(uid)}, all...); slices.Contains(owned, r.Partition) {
			break
		}
	}
	rng := rand.New(rand.NewPCG(f.seed, 7))
	var g eventGen
	msg := kafka.Message{Topic: t.Inputs[0], Key: []byte(uid), Value: g.value("e-"+uid, uid, 0, uniformEventTime(n-1, n), rng.Uint64())}

	ends, err := f.adm.ListEndOffsets(ctx, t.Transitions)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, err
	}
	output := make(chan time.Time, 1)
	rctx, stopReaders := context.WithCancel(ctx)
	var readers sync.WaitGroup
	defer func() { stopReaders(); readers.Wait() }()
	dialer := &kafka.Dialer{Timeout: 10 * time.Second, DualStack: true, TLS: f.conn.TLS, SASLMechanism: benchSASL(f.conn.SASL)}
	for _, o := range ends[t.Transitions] {
		rd := kafka.NewReader(kafka.ReaderConfig{Brokers: f.conn.Brokers, Dialer: dialer, Topic: t.Transitions, Partition: int(o.Partition),
			MinBytes: 1, MaxBytes: 8 << 20, MaxWait: 250 * time.Millisecond})
		if err := rd.SetOffset(o.Offset); err != nil {
			rd.Close()
			return nil, err
		}
		readers.Add(1)
		go func() {
			defer readers.Done()
			defer rd.Close()
			for {
				m, err := rd.FetchMessage(rctx)
				if err != nil {
					return
				}
				if string(m.Key) == uid {
					select {
					case output <- time.Now():
					default:
					}
					return
				}
			}
		}()
	}
	w := f.conn.Writer()
	defer w.Close()
	time.Sleep(500 * time.Millisecond) // the readers connect and long-poll

	f.progress("%s: killing A (SIGKILL), then producing an event of the new user %s to partition %d", r.Mode, uid, r.Partition)
	killed := time.Now()
	if err := a.kill(); err != nil {
		return nil, err
	}
	if err := w.WriteMessages(ctx, msg); err != nil {
		return nil, fmt.Errorf("producing the new user's event after the kill: %w", err)
	}
	since := func(at time.Time) float64 { return at.Sub(killed).Seconds() }
	r.Timeline["event_produced"] = since(time.Now())
	// The changelog as A left it (what a restore reads).
	if r.ChangelogRecords, err = f.endsSum(ctx, t.Changelog); err != nil {
		return nil, err
	}

	deadline := time.NewTimer(f.timeout)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	var out time.Time
	for out.IsZero() {
		select {
		case out = <-output:
		case <-b.done:
			return nil, b.exited()
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-deadline.C:
			return nil, fmt.Errorf("%s: the new user's transition was not read within %v of the kill (B's log: %s)%s", r.Mode, f.timeout, b.logNote(), b.tail(15))
		case <-tick.C:
			f.progress("%s: %.0fs after the kill; B's last log line: %s", r.Mode, time.Since(killed).Seconds(), b.lastMsg())
		}
	}
	r.TotalSeconds = since(out)
	r.Timeline["output_read"] = r.TotalSeconds

	// B's log after the kill.
	onPartition := func(l logLine) bool { return l.num("partition") == float64(r.Partition) }
	for _, l := range b.linesSince(killed) {
		if !l.at.After(out) && len(r.BLog) < 50 {
			r.BLog = append(r.BLog, l.raw)
		}
		switch {
		case l.Msg == "partitions assigned" && slices.Contains(l.ints("partitions"), r.Partition) && r.SessionSeconds == 0:
			r.SessionSeconds = since(l.at)
			r.Timeline["b_assigned"] = r.SessionSeconds
		case l.Msg == "restoring partition from the changelog" && onPartition(l):
			r.Timeline["restore_started"] = since(l.at)
		case l.Msg == "partition restored" && onPartition(l):
			r.Restored = true
			r.RestoreSeconds, r.RestoredRecords, r.RestoredUsers = l.num("took"), int64(l.num("records")), int64(l.num("users"))
			r.RestoreRecordsPerSec = l.num("records_per_second")
			r.Timeline["restore_done"] = since(l.at)
		case l.Msg == "standby promoted" && onPartition(l):
			r.Promoted = true
			r.RestoreSeconds, r.PromotedChangelogRecords, r.PromotedUsers = l.num("took"), int64(l.num("changelog_records")), int64(l.num("users"))
			r.Timeline["promoted"] = since(l.at)
		case l.Msg == "reading" && onPartition(l):
			if _, ok := r.Timeline["b_reading"]; !ok {
				r.Timeline["b_reading"] = since(l.at)
			}
		}
		if l.Level == "warn" || l.Level == "error" {
			if s := l.Level + ": " + l.Msg; !slices.Contains(r.Notices, s) && len(r.Notices) < 20 {
				r.Notices = append(r.Notices, s)
			}
		}
	}
	r.RestSeconds = r.TotalSeconds - r.SessionSeconds - r.RestoreSeconds
	r.LoadAvg = loadAvg()
	switch {
	case r.SessionSeconds == 0:
		r.Unexpected = fmt.Sprintf("B logged no \"partitions assigned\" with partition %d after the kill", r.Partition)
	case standby && r.Restored:
		r.Unexpected = "B restored the partition from the changelog instead of promoting its standby copy"
	case standby && !r.Promoted:
		r.Unexpected = "B logged no \"standby promoted\" for the partition"
	case !standby && r.Promoted:
		r.Unexpected = "B promoted a standby copy, but there were no standby replicas"
	case !standby && !r.Restored:
		r.Unexpected = "B logged no \"partition restored\" for the partition"
	}
	if r.Unexpected != "" {
		r.Unexpected += " (B's log: " + b.logNote() + ")"
	}
	state := "restored from the changelog"
	if r.Promoted {
		state = "promoted its standby copy"
	}
	f.progress("%s: failover %.2fs: session %.2fs, B %s in %.2fs, rest %.2fs", r.Mode, r.TotalSeconds, r.SessionSeconds, state, r.RestoreSeconds, r.RestSeconds)
	b.stop()
	return r, nil
}

// uniformEventTime is the event time (Unix ms) of event i of n of the
// uniform workload, as preloadUniform writes it.
func uniformEventTime(i, n int) int64 {
	step := float64(180*24*time.Hour/time.Millisecond) / float64(n)
	return simulate.DefaultStart.UnixMilli() + int64(float64(i)*step)
}

// committed sums, over the partitions of topics that have records, the
// group's committed offsets and the end offsets.
func (f *failover) committed(ctx context.Context, group string, topics []string) (done, total int64, err error) {
	ends, err := f.adm.ListEndOffsets(ctx, topics...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return 0, 0, err
	}
	offs, err := f.adm.FetchOffsets(ctx, group)
	if err != nil {
		return 0, 0, err
	}
	ends.Each(func(o kadm.ListedOffset) {
		total += o.Offset
		if c, ok := offs.Lookup(o.Topic, o.Partition); ok && c.Err == nil && c.At >= 0 {
			done += min(c.At, o.Offset)
		}
	})
	return done, total, nil
}

// endsSum is the sum of topic's end offsets.
func (f *failover) endsSum(ctx context.Context, topic string) (int64, error) {
	ends, err := f.adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	var sum int64
	ends.Each(func(o kadm.ListedOffset) { sum += o.Offset })
	return sum, err
}

// wait polls cond until it is true, an instance exits, or f.timeout.
func (f *failover) wait(ctx context.Context, what string, insts []*instance, cond func(context.Context) (bool, string, error)) error {
	start := time.Now()
	lastProgress := start
	for {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		ok, progress, err := cond(cctx)
		cancel()
		if err != nil && ctx.Err() == nil && cctx.Err() == nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if ok {
			return nil
		}
		for _, in := range insts {
			select {
			case <-in.done:
				return fmt.Errorf("%s: %w", what, in.exited())
			default:
			}
		}
		if time.Since(start) > f.timeout {
			var logs strings.Builder
			for _, in := range insts {
				fmt.Fprintf(&logs, "\ninstance %s, log %s%s", in.name, in.logNote(), in.tail(5))
			}
			return fmt.Errorf("%s: not done within --timeout %v (%s)%s", what, f.timeout, progress, logs.String())
		}
		if time.Since(lastProgress) > 5*time.Second && progress != "" {
			lastProgress = time.Now()
			f.progress("%s: %s", what, progress)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// start runs "lifecycle run" as instance name (A or B) of group, its state
// and log in dir.
func (f *failover) start(name, dir, group string, t processor.Topics, standbys int) (*instance, error) {
	stateDir := filepath.Join(dir, strings.ToLower(name))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	args := append([]string{"run"}, f.connArgs...)
	args = append(args, "--group", group, "--state-dir", stateDir,
		"--input-topics", strings.Join(t.Inputs, ","), "--transitions-topic", t.Transitions, "--warnings-topic", t.Warnings,
		"--segments-topic", t.Segments, "--dlq-topic", t.DLQ, "--changelog-topic", t.Changelog,
		"--session-timeout", f.session.String(), "--standby-replicas", strconv.Itoa(standbys),
		"--http", "off", "--log-format", "json", "--log-level", "info")
	in := &instance{name: name, logPath: filepath.Join(dir, strings.ToLower(name)+".log"), kept: f.keep, done: make(chan struct{})}
	file, err := os.Create(in.logPath)
	if err != nil {
		return nil, err
	}
	in.file = file
	in.cmd = exec.Command(f.binary, args...)
	in.cmd.Env = append(os.Environ(), f.env...)
	in.cmd.Stdout, in.cmd.Stderr = file, in
	in.started = time.Now()
	if err := in.cmd.Start(); err != nil {
		file.Close()
		return nil, fmt.Errorf("starting instance %s (%s run): %w", name, f.binary, err)
	}
	f.progress("started instance %s: pid %d, --standby-replicas %d, log %s", name, in.cmd.Process.Pid, standbys, in.logPath)
	go func() {
		in.err = in.cmd.Wait()
		file.Close()
		close(in.done)
	}()
	return in, nil
}

// instance is a "lifecycle run" process; its log (JSON lines on stderr)
// is kept, each line with the time it arrived, and copied to logPath.
type instance struct {
	name    string
	cmd     *exec.Cmd
	started time.Time
	logPath string
	kept    bool // logPath stays after the bench
	file    *os.File
	done    chan struct{} // closed when the process has exited
	err     error         // its exit, once done

	mu      sync.Mutex
	partial []byte
	lines   []logLine
}

type logLine struct {
	at     time.Time
	raw    string
	Msg    string `json:"msg"`
	Level  string `json:"level"`
	fields map[string]any
}

func (l logLine) num(key string) float64 {
	v, _ := l.fields[key].(float64)
	return v
}

func (l logLine) ints(key string) []int {
	vs, _ := l.fields[key].([]any)
	out := make([]int, 0, len(vs))
	for _, v := range vs {
		if f, ok := v.(float64); ok {
			out = append(out, int(f))
		}
	}
	return out
}

// Write takes the process's stderr.
func (in *instance) Write(p []byte) (int, error) {
	now := time.Now()
	in.file.Write(p)
	in.mu.Lock()
	defer in.mu.Unlock()
	in.partial = append(in.partial, p...)
	for {
		i := bytes.IndexByte(in.partial, '\n')
		if i < 0 {
			break
		}
		line := in.partial[:i]
		l := logLine{at: now, raw: string(line)}
		if json.Unmarshal(line, &l.fields) == nil {
			l.Msg, _ = l.fields["msg"].(string)
			l.Level, _ = l.fields["level"].(string)
		} else {
			l.Msg = string(line)
		}
		in.lines = append(in.lines, l)
		in.partial = in.partial[i+1:]
	}
	in.partial = slices.Clip(in.partial)
	return len(p), nil
}

func (in *instance) linesSince(t time.Time) []logLine {
	in.mu.Lock()
	defer in.mu.Unlock()
	i, _ := slices.BinarySearchFunc(in.lines, t, func(l logLine, t time.Time) int { return l.at.Compare(t) })
	return slices.Clone(in.lines[i:])
}

func (in *instance) lastMsg() string {
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.lines) == 0 {
		return "(none)"
	}
	return in.lines[len(in.lines)-1].Msg
}

// settled reports the instance's latest assignment (generation and owned
// partitions) when each of those partitions has since become ready.
func (in *instance) settled() (generation float64, owned []int, ok bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	at := -1
	for i := len(in.lines) - 1; i >= 0; i-- {
		if in.lines[i].Msg == "partitions assigned" {
			at = i
			break
		}
	}
	if at < 0 {
		return 0, nil, false
	}
	owned = in.lines[at].ints("partitions")
	ready := map[int]bool{}
	for _, l := range in.lines[at+1:] {
		switch l.Msg {
		case "partition restored", "standby promoted", "local state is current; no restore needed", "changelog seeded from local state":
			ready[int(l.num("partition"))] = true
		}
	}
	for _, p := range owned {
		if !ready[p] {
			return 0, nil, false
		}
	}
	return in.lines[at].num("generation"), owned, true
}

// exited describes the early exit of the process, with its last log lines.
func (in *instance) exited() error {
	return fmt.Errorf("instance %s exited (%v); its log: %s%s", in.name, in.err, in.logNote(), in.tail(15))
}

// logNote names the instance's log file, which is removed at the end
// without --keep.
func (in *instance) logNote() string {
	if in.kept {
		return in.logPath
	}
	return in.logPath + " (removed at the end; --keep keeps it)"
}

func (in *instance) tail(n int) string {
	in.mu.Lock()
	defer in.mu.Unlock()
	var sb strings.Builder
	for _, l := range in.lines[max(0, len(in.lines)-n):] {
		sb.WriteString("\n  ")
		if l.Level != "" {
			sb.WriteString(l.Level + " ")
		}
		sb.WriteString(l.Msg)
	}
	if sb.Len() > 0 {
		return "; its last lines:" + sb.String()
	}
	return ""
}

// kill sends SIGKILL and waits for the process to be gone.
func (in *instance) kill() error {
	if err := in.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("killing instance %s: %w", in.name, err)
	}
	select {
	case <-in.done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("instance %s (pid %d) still runs 10s after SIGKILL", in.name, in.cmd.Process.Pid)
	}
}

// stop ends the process: SIGTERM (it leaves the group), SIGKILL after 30s.
func (in *instance) stop() {
	select {
	case <-in.done:
		return
	default:
	}
	in.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-in.done:
	case <-time.After(30 * time.Second):
		in.kill()
	}
}

func (s *failoverSummary) print(w io.Writer) {
	fmt.Fprintf(w, "lifecycle bench failover: %s, %s (%d cores, %d MiB), %s\n", s.Broker, s.Machine.CPU, s.Machine.Cores, s.Machine.MemoryMiB, s.Machine.Go)
	fmt.Fprintf(w, "users %d (one event each), partitions %d, --session-timeout %s; load average %s at start, %s at end\n\n",
		s.Users, s.Partitions, s.SessionTimeout, s.LoadAvgStart, s.LoadAvgEnd)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(name string, cell func(r failoverResult) string) {
		fmt.Fprint(tw, name)
		for _, r := range s.Runs {
			fmt.Fprint(tw, "\t"+cell(r))
		}
		fmt.Fprintln(tw, "\t")
	}
	secs := func(v float64) string { return fmt.Sprintf("%.2f s", v) }
	row("measure", func(r failoverResult) string {
		return fmt.Sprintf("%s (--standby-replicas %d)", r.Mode, r.StandbyReplicas)
	})
	row("failover: kill → new user's output", func(r failoverResult) string { return secs(r.TotalSeconds) })
	row("  session: kill → B assigned", func(r failoverResult) string { return secs(r.SessionSeconds) })
	row("  restore or promotion (B's log)", func(r failoverResult) string {
		switch {
		case r.Restored:
			return fmt.Sprintf("%s: restored %d records, %.0f records/s", secs(r.RestoreSeconds), r.RestoredRecords, r.RestoreRecordsPerSec)
		case r.Promoted:
			return fmt.Sprintf("%s: promoted, %d changelog records applied", secs(r.RestoreSeconds), r.PromotedChangelogRecords)
		}
		return "neither logged"
	})
	row("  rest", func(r failoverResult) string { return secs(r.RestSeconds) })
	row("changelog at the kill", func(r failoverResult) string { return fmt.Sprintf("%d records", r.ChangelogRecords) })
	row("A's drain of the input", func(r failoverResult) string {
		return fmt.Sprintf("%s (%.0f events/s)", secs(r.DrainSeconds), float64(r.Events)/r.DrainSeconds)
	})
	row("B's standby copy current after", func(r failoverResult) string {
		if r.StandbyReplicas == 0 {
			return "-"
		}
		return secs(r.StandbyCopySeconds)
	})
	row("load average after", func(r failoverResult) string { return r.LoadAvg })
	tw.Flush()
	for _, r := range s.Runs {
		if len(r.Notices) > 0 {
			fmt.Fprintf(w, "\n%s: B logged after the kill: %s\n", r.Mode, strings.Join(r.Notices, "; "))
		}
		if r.Unexpected != "" {
			fmt.Fprintf(w, "\n%s: UNEXPECTED: %s\n", r.Mode, r.Unexpected)
		}
	}
}
