//go:build faults_open

// Fault tests that do not pass yet, kept out of the default run (and of CI)
// until their bugs are fixed; run them with
//
//	go test -tags faults_open -run 'Paused|BrokerRestarts' ./processor/
//
// TestPausedPastSessionTimeout: a write in flight when the
// instance is paused lands after the new owner's; the restore ignores stale
// changelog records and the state from a fresh restore matches, but the
// expectation for one user (u-001393: a late purchase dated just before
// their silent due time) holds the mature→silent transition twice, with the
// purchase count from before the late purchase, where the runtime emits it
// once: the reference and the runtime disagree on that corner of late
// events, and which one is right is not settled yet. TestBrokerRestarts (needs LIFECYCLE_TEST_KAFKA_RESTART=1 and a real
// broker) has not passed a full run yet.

package processor

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lifecycle-engine/lifecycle/processor/kafkatest"
)

// TestPausedPastSessionTimeout pauses instance A (SIGSTOP) for longer than
// the session timeout while B takes over its partitions, then lets A go on
// (SIGCONT): A is a zombie that must not write stale state to the
// changelog after B's.
func TestPausedPastSessionTimeout(t *testing.T) {
	t.Parallel()
	f, want := faultFixture(t, 3000, 23)
	r := newRig(t, f, 20)
	dirA, dirB := filepath.Join(t.TempDir(), "A"), filepath.Join(t.TempDir(), "B")
	a := r.start("A", dirA)
	a.waitUntil(t, "partitions", 90*time.Second, a.assigned)
	b := r.start("B", dirB)
	b.waitUntil(t, "partitions", 90*time.Second, b.assigned)
	a.waitUntil(t, "a share of the partitions", 90*time.Second, func() bool {
		es := a.entries("partitions assigned")
		return len(es[len(es)-1].Partitions) == int(f.partitions)/2
	})
	time.Sleep(200 * time.Millisecond)
	c, e, done, _ := r.progress()
	if done {
		t.Fatalf("everything was processed before A could be paused; the test needs a bigger fixture")
	}
	a.pause()
	pausedAt := time.Now()
	t.Logf("A paused with %d of %d records committed", c, e)
	// B takes A's partitions once A's session has expired.
	b.waitUntil(t, "all partitions", 60*time.Second, func() bool {
		es := b.entries("partitions assigned")
		return len(es[len(es)-1].Partitions) == int(f.partitions)
	})
	time.Sleep(time.Until(pausedAt.Add(10 * time.Second)))
	c, e, _, _ = r.progress()
	a.resume()
	t.Logf("A resumed after %v, %d of %d records committed", time.Since(pausedAt).Round(time.Millisecond), c, e)
	r.waitCaughtUp(3*time.Minute, a, b)
	a.stop(t)
	b.stop(t)
	r.check(want, nil)
	// A write already in flight when A was paused can land after B's
	// records (kafka-go has no transactional fencing); the restore ignores
	// records that go back, which the fresh instance below depends on.
	if back := changelogRegressions(t, r.cfg); len(back) > 0 {
		t.Logf("the changelog went back %d times (late writes of the paused instance); the restore must ignore them", len(back))
	}
	checkState(t, want.final, r.finalState("fresh instance"))
}

// TestBrokerRestarts runs an instance while its broker is stopped (SIGTERM),
// killed (SIGKILL) and restarted, once down for longer than the clients'
// timeouts, and starts an instance while the broker is down. It needs a
// broker of its own: deploy/kafka/local.sh with a private directory and port.
func TestBrokerRestarts(t *testing.T) {
	if os.Getenv("LIFECYCLE_TEST_KAFKA_RESTART") != "1" {
		t.Skip("kills and restarts a Kafka broker of its own; enable with LIFECYCLE_TEST_KAFKA_RESTART=1 (needs what deploy/kafka/local.sh needs: Java 17+ and Kafka cached or Maven)")
	}
	script, err := filepath.Abs("../deploy/kafka/local.sh")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	port := freePortPair(t)
	env := append(os.Environ(), "LIFECYCLE_KAFKA_DIR="+dir, fmt.Sprintf("LIFECYCLE_KAFKA_PORT=%d", port),
		fmt.Sprintf("LIFECYCLE_KAFKA_CONTROLLER_PORT=%d", port+1), "LIFECYCLE_KAFKA_SASL=0")
	broker := func(cmd string) error {
		c := exec.Command(script, cmd)
		c.Env = env
		out, err := c.CombinedOutput()
		if err != nil {
			return fmt.Errorf("local.sh %s: %v\n%s", cmd, err, out)
		}
		return nil
	}
	start := time.Now()
	if err := broker("start"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := broker("stop"); err != nil {
			t.Error(err)
		}
	})
	kill9 := func() {
		b, err := os.ReadFile(filepath.Join(dir, "broker.pid"))
		if err != nil {
			t.Fatal(err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		syscall.Kill(pid, syscall.SIGKILL)
		for syscall.Kill(pid, 0) == nil {
			time.Sleep(50 * time.Millisecond)
		}
	}
	t.Setenv(kafkatest.EnvBrokers, fmt.Sprintf("127.0.0.1:%d", port))
	t.Logf("broker on port %d started in %v", port, time.Since(start).Round(time.Millisecond))

	f, want := faultFixture(t, 400, 29)
	r := newRig(t, f, 20)
	stateDir := filepath.Join(t.TempDir(), "state")
	p := r.start("instance", stateDir)
	p.waitUntil(t, "partitions", 90*time.Second, p.assigned)
	alive := func(what string) {
		if p.exited() {
			t.Fatalf("the instance exited (%v) %s\n%s", p.state, what, p.tail(40))
		}
	}
	down := func(how string, kill bool, pause time.Duration) {
		t.Helper()
		c, e, _, _ := r.progress()
		if kill {
			kill9()
		} else if err := broker("stop"); err != nil {
			t.Fatal(err)
		}
		t.Logf("%v: broker %s with %d of %d records committed; down for %v", time.Since(start).Round(time.Second), how, c, e, pause)
		time.Sleep(pause)
		alive("while the broker was down")
		if err := broker("start"); err != nil {
			t.Fatal(err)
		}
	}
	down("stopped (SIGTERM)", false, 2*time.Second)
	time.Sleep(2 * time.Second)
	alive("after the broker came back")
	down("killed (SIGKILL)", true, 3*time.Second)
	time.Sleep(2 * time.Second)
	alive("after the broker came back")
	down("killed (SIGKILL)", true, 30*time.Second)
	time.Sleep(2 * time.Second)
	alive("after the broker came back")
	down("stopped (SIGTERM)", false, 5*time.Second)
	time.Sleep(3 * time.Second)
	alive("after the broker came back")

	// An instance started while the broker is down.
	p.stop(t)
	if err := broker("stop"); err != nil {
		t.Fatal(err)
	}
	p = r.start("instance started while the broker is down", stateDir)
	time.Sleep(10 * time.Second)
	if p.exited() {
		// Run's contract: it returns an error when it cannot start (brokers
		// unreachable); the supervisor restarts it. It must say why.
		if p.state.ExitCode() == 0 || !p.logged("cannot reach the brokers") {
			t.Fatalf("the instance started while the broker was down exited %v without a clear reason\n%s", p.state, p.tail(20))
		}
		t.Logf("the instance started while the broker was down exited: %v: %s", p.state, strings.Join(p.errLines(), " "))
	}
	if err := broker("start"); err != nil {
		t.Fatal(err)
	}
	if p.exited() {
		p = r.start("instance restarted once the broker is up", stateDir)
	}
	p.waitUntil(t, "partitions", 90*time.Second, p.assigned)
	r.waitCaughtUp(3*time.Minute, p)
	alive("at the end")
	p.stop(t)
	t.Logf("caught up and stopped after %v", time.Since(start).Round(time.Second))
	r.check(want, openDir(t, stateDir))
}

// freePortPair returns a free TCP port on loopback whose successor is free too.
func freePortPair(t *testing.T) int {
	t.Helper()
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l2, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port+1))
		l.Close()
		if err == nil {
			l2.Close()
			return port
		}
	}
	t.Fatal("no two consecutive free ports")
	return 0
}
