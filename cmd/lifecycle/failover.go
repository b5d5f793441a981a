package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/lifecycle-engine/lifecycle/processor"
	"github.com/lifecycle-engine/lifecycle/processor/bench"
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

	cfg := bench.FailoverConfig{Stderr: stderr, Users: *users, Partitions: *partitions, Standby: modes, SessionTimeout: *session,
		Timeout: *timeout, Binary: bin, ChildArgs: cf.childArgs, Keep: *keep, Seed: *seed}
	if *cf.brokers != "" { // else the embedded broker
		var err error
		if cfg.Conn, err = cf.conn(); err != nil {
			return err
		}
	}
	f, err := bench.OpenFailover(ctx, cfg)
	if err != nil {
		return err
	}
	defer f.Close()
	sum, err := f.Run(ctx)
	if len(sum.Runs) > 0 {
		sum.Print(stdout)
		if err := writeJSON(*jsonFile, sum); err != nil {
			return err
		}
	}
	return err
}

// childArgs are the connection flags of the instances: the brokers, the
// compression, TLS and SASL as given; a SASL password goes by the environment, not the
// command line, where other users could read it.
func (c connFlags) childArgs(conn processor.Conn, embedded bool) (args, env []string) {
	args = []string{"--brokers", strings.Join(conn.Brokers, ",")}
	if conn.Compression != "" {
		args = append(args, "--compression", string(conn.Compression))
	}
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
