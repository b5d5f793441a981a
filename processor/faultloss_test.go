package processor

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLocalStateLost loses an instance's local state between runs: the
// directory deleted, or its newest files truncated. The restart must
// converge to the reference, or refuse to run with a clear message; never
// run on silently damaged state.
func TestLocalStateLost(t *testing.T) {
	t.Parallel()
	f, want := faultFixture(t, 400, 19)
	cases := []struct {
		name   string
		damage func(t *testing.T, dir string) string
	}{
		{"directory deleted", func(t *testing.T, dir string) string {
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			return "deleted " + dir
		}},
		{"newest WAL truncated", func(t *testing.T, dir string) string { return truncateNewest(t, dir, "*.log") }},
		{"newest MANIFEST truncated", func(t *testing.T, dir string) string { return truncateNewest(t, dir, "MANIFEST-*") }},
		{"newest file truncated", func(t *testing.T, dir string) string { return truncateNewest(t, dir, "*") }},
	}
	var names []string
	for _, c := range cases {
		names = append(names, c.name)
	}
	runConcurrently(t, len(cases), names, func(t *testing.T, i int) {
		c := cases[i]
		r := newRig(t, f, 50)
		dir := filepath.Join(t.TempDir(), "state")
		// Killed at a commit count rather than when the group's progress
		// is seen: a fast run could finish before the test looks.
		p := r.start("first run", dir, EnvCrashAt+"="+crashCommitted+":60")
		p.wait(t, 2*time.Minute)
		if !p.killed() {
			t.Fatalf("the first run was not killed at its 60th commit: %v\n%s", p.state, p.tail(30))
		}
		cm, e, done, _ := r.progress()
		if done {
			t.Fatalf("the first run processed everything; the test needs a mid-stream kill")
		}
		what := c.damage(t, dir)
		if what == "" {
			t.Fatalf("nothing to damage in %s", dir)
		}
		t.Logf("killed at %d of %d records committed; %s", cm, e, what)
		p = r.start("restart", dir)
		deadline := time.Now().Add(90 * time.Second)
		for {
			if p.exited() {
				errs := p.errLines()
				if p.state.ExitCode() == 0 || len(errs) == 0 {
					t.Fatalf("the restart on damaged state exited %v without saying why\n%s", p.state, p.tail(30))
				}
				t.Logf("the restart refused the damaged state: %v: %s", p.state, strings.Join(errs, "\n"))
				return
			}
			if _, _, ok, err := r.progress(); err == nil && ok {
				break
			}
			if time.Now().After(deadline) {
				p.dump()
				cm, e, _, _ := r.progress()
				t.Fatalf("the restart neither caught up nor exited within 90s (%d of %d records committed)", cm, e)
			}
			time.Sleep(100 * time.Millisecond)
		}
		p.waitUntil(t, "local state of every partition current", 90*time.Second, func() bool { return p.stateCurrent(int(f.partitions)) })
		p.stop(t)
		t.Logf("the restart converged (restored from the changelog: %v)", len(p.entries("partition restored")) > 0)
		r.check(want, openDir(t, dir))
	})
}

// TestIdleKillResendsNothing: an instance that drained its input and then
// sat idle loses nothing to a kill -9 that the next start would have to
// send again (the sender made its outbox deletions durable), and a clean
// run on a healthy broker logs no Kafka warning (a quiet partition's
// fetches are not errors).
func TestIdleKillResendsNothing(t *testing.T) {
	t.Parallel()
	f, want := faultFixture(t, 400, 37)
	r := newRig(t, f, 50)
	dir := filepath.Join(t.TempDir(), "state")
	p := r.start("first run", dir)
	r.waitCaughtUp(3*time.Minute, p)
	time.Sleep(3 * time.Second) // idle: past the sender's sync and several fetch waits
	p.kill()
	p.wait(t, 10*time.Second)
	for _, l := range p.out.snapshot() {
		var e logEntry
		if json.Unmarshal([]byte(l), &e) == nil && e.Level != "info" && e.Level != "debug" && strings.Contains(e.Msg, "kafka") {
			t.Errorf("a clean run logged a Kafka %s: %s", e.Level, l)
		}
	}
	p = r.start("restart after an idle kill", dir)
	p.waitUntil(t, "local state of every partition current", 90*time.Second, func() bool { return p.stateCurrent(int(f.partitions)) })
	p.stop(t)
	for _, msg := range []string{"resending outputs left in the outbox", "republishing to the changelog what a crash kept from it"} {
		if es := p.entries(msg); len(es) > 0 {
			t.Errorf("the restart after an idle kill -9 logged %q for %d partitions; want none", msg, len(es))
		}
	}
	r.check(want, openDir(t, dir))
}
