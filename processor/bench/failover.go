package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/lifecycle-engine/lifecycle/processor"
)

// FailoverConfig is a run of "lifecycle bench failover". Its values are
// checked by the command.
type FailoverConfig struct {
	// Conn is the cluster to measure against; with no Brokers, an embedded
	// kfake broker in this process.
	Conn processor.Conn
	// Stderr takes the progress lines.
	Stderr io.Writer
	// Users to preload, one event each (the uniform workload).
	Users int
	// Partitions of every topic; with 1, A owns everything and B nothing
	// until A dies.
	Partitions int
	// Standby lists the modes to measure, in order: true for one standby
	// replica ("standby"), false for none ("no-standby").
	Standby []bool
	// SessionTimeout is both instances' --session-timeout.
	SessionTimeout time.Duration
	// Timeout is the longest wait of each step.
	Timeout time.Duration
	// Binary is the lifecycle binary the instances run ("<Binary> run …").
	Binary string
	// ChildArgs returns the instances' connection flags and environment
	// (name=value) for conn, the broker the run uses (the embedded one when
	// embedded). Required.
	ChildArgs func(conn processor.Conn, embedded bool) (args, env []string)
	// Keep leaves the temporary directory (the instances' state and logs)
	// and the topics and groups.
	Keep bool
	// Seed of the generated events.
	Seed uint64
}

// FailoverRunner runs the measurement of each mode; Close it.
type FailoverRunner struct {
	*session
	cfg      FailoverConfig
	dir      string // temporary: the instances' state and logs
	connArgs []string
	env      []string
	sum      FailoverSummary
}

// OpenFailover connects to the broker (or starts the embedded one) and
// makes the temporary directory for a run of cfg.
func OpenFailover(ctx context.Context, cfg FailoverConfig) (*FailoverRunner, error) {
	f := &FailoverRunner{cfg: cfg, session: &session{stderr: cfg.Stderr, partitions: int32(cfg.Partitions), keep: cfg.Keep,
		seed: cfg.Seed, workload: WorkloadUniform}}
	f.sum = FailoverSummary{Started: time.Now().UTC().Format(time.RFC3339), Machine: machineInfo(), Users: cfg.Users,
		Partitions: cfg.Partitions, SessionTimeout: cfg.SessionTimeout.String(), LoadAvgStart: loadAvg()}
	if err := f.connect(ctx, cfg.Conn); err != nil {
		return nil, err
	}
	f.sum.Broker = f.broker
	dir, err := os.MkdirTemp("", "lifecycle-failover-")
	if err != nil {
		f.disconnect()
		return nil, err
	}
	f.dir = dir
	f.connArgs, f.env = cfg.ChildArgs(f.conn, f.embedded)
	f.progress("failover: %s, run %s, %d users, %d partitions, --session-timeout %v, load average %s",
		f.sum.Broker, f.run, cfg.Users, cfg.Partitions, cfg.SessionTimeout, f.sum.LoadAvgStart)
	return f, nil
}

// Close removes the temporary directory and deletes the run's topics and
// groups (unless kept), and disconnects.
func (f *FailoverRunner) Close() {
	if f.keep {
		f.progress("kept %s (the instances' state and logs) and the topics of run %s", f.dir, f.run)
	} else {
		os.RemoveAll(f.dir)
	}
	f.cleanup()
	f.disconnect()
}

// Run measures each mode in turn, until one fails to measure. The summary
// has the runs measured, also with an error: a measurement that failed,
// or a run whose instances did not do what its mode expects.
func (f *FailoverRunner) Run(ctx context.Context) (*FailoverSummary, error) {
	var failed []error
	for _, standby := range f.cfg.Standby {
		r, err := f.measure(ctx, standby)
		if r != nil {
			f.sum.Runs = append(f.sum.Runs, *r)
			if r.Unexpected != "" {
				failed = append(failed, fmt.Errorf("%s: %s", r.Mode, r.Unexpected))
			}
		}
		if err != nil {
			failed = append(failed, err)
			break
		}
	}
	f.sum.LoadAvgEnd = loadAvg()
	if len(failed) > 0 {
		return &f.sum, fmt.Errorf("bench failover: %w", errors.Join(failed...))
	}
	return &f.sum, nil
}

// measure runs one mode: preload, A drains, B joins (and copies A's
// partitions when standby), A is killed, the new user's output is timed.
func (f *FailoverRunner) measure(ctx context.Context, standby bool) (*FailoverResult, error) {
	r := &FailoverResult{Mode: "no-standby", Timeline: map[string]float64{}}
	if standby {
		r.Mode, r.StandbyReplicas = "standby", 1
	}
	t, group, err := f.topics(ctx, "failover-"+r.Mode)
	if err != nil {
		return nil, err
	}
	if err := f.preloadUsers(ctx, r, t); err != nil {
		return nil, err
	}

	dir := filepath.Join(f.dir, r.Mode)
	a, err := f.start("A", dir, group, t, r.StandbyReplicas)
	if err != nil {
		return nil, err
	}
	defer a.stop()
	if err := f.awaitDrain(ctx, r, group, t, a); err != nil {
		return nil, err
	}
	b, err := f.start("B", dir, group, t, r.StandbyReplicas)
	if err != nil {
		return nil, err
	}
	defer b.stop()
	owned, err := f.awaitB(ctx, r, group, t, a, b)
	if err != nil {
		return nil, err
	}

	msg := f.newUser(r, t, owned)
	output, stopReaders, err := f.watchTransitions(ctx, t.Transitions, string(msg.Key))
	if err != nil {
		return nil, err
	}
	defer stopReaders()
	w := f.conn.Writer()
	defer w.Close()
	time.Sleep(500 * time.Millisecond) // the readers connect and long-poll

	killed, err := f.killA(ctx, r, a, w, msg, t.Changelog)
	if err != nil {
		return nil, err
	}
	out, err := f.awaitOutput(ctx, r, b, killed, output)
	if err != nil {
		return nil, err
	}
	r.conclude(b, killed, out)
	f.progress("%s: failover %.2fs: session %.2fs, B %s in %.2fs, rest %.2fs", r.Mode, r.TotalSeconds, r.SessionSeconds, r.bState(), r.RestoreSeconds, r.RestSeconds)
	b.stop()
	return r, nil
}

// preloadUsers writes the mode's users, one event each.
func (f *FailoverRunner) preloadUsers(ctx context.Context, r *FailoverResult, t processor.Topics) error {
	f.progress("%s: preloading %d users, one event each, into %d partitions", r.Mode, f.cfg.Users, f.partitions)
	t0 := time.Now()
	size, n, _, err := f.preload(ctx, t, f.cfg.Users, f.cfg.Users)
	if err != nil {
		return err
	}
	r.Events, r.PreloadSeconds = n, time.Since(t0).Seconds()
	f.progress("%s: preloaded %d events (%.1f MB) in %.1fs", r.Mode, n, float64(size)/1e6, r.PreloadSeconds)
	return nil
}

// awaitDrain waits until A has drained the input: until the group has
// committed the end of every input partition (A writes the changelog
// before it commits the offsets).
func (f *FailoverRunner) awaitDrain(ctx context.Context, r *FailoverResult, group string, t processor.Topics, a *instance) error {
	inputs := func(ctx context.Context) (bool, string, error) {
		done, total, err := f.committed(ctx, group, t.Inputs)
		return err == nil && done == total, fmt.Sprintf("the group committed %d of %d input records", done, total), err
	}
	if err := f.wait(ctx, r.Mode+": A draining the input", []*instance{a}, inputs); err != nil {
		return err
	}
	r.DrainSeconds = time.Since(a.started).Seconds()
	f.progress("%s: A drained the input in %.1fs", r.Mode, r.DrainSeconds)
	return nil
}

// awaitB waits until B has joined the group and A has kept partitions
// (the balancer gives a partition to the instance whose state of it is
// furthest), and with a standby until B's copy of them is current: the
// group's lag on the changelog (a standby commits its position there) is
// 0. It returns A's partitions.
func (f *FailoverRunner) awaitB(ctx context.Context, r *FailoverResult, group string, t processor.Topics, a, b *instance) ([]int, error) {
	standby := r.StandbyReplicas > 0
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
	return owned, nil
}

// newUser is the event of the new user: one whose partition is A's, by
// the producer's partitioner. Its event has the workload's last event
// time, so that it moves no stream time and fires no timers ahead of its
// own transition.
func (f *FailoverRunner) newUser(r *FailoverResult, t processor.Topics, owned []int) kafka.Message {
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
	n := r.Events
	return kafka.Message{Topic: t.Inputs[0], Key: []byte(uid), Value: g.value("e-"+uid, uid, 0, uniformEventTime(n-1, n), rng.Uint64())}
}
