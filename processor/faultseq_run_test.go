package processor

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lifecycle-engine/lifecycle/processor/kafkatest"
	"github.com/lifecycle-engine/lifecycle/state"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

func (sr *seqRun) logf(format string, args ...any) {
	sr.t.Helper()
	sr.t.Logf("[%s step %d, %v] %s", sr.s.name, sr.step, time.Since(sr.start).Round(time.Millisecond), fmt.Sprintf(format, args...))
}

func (sr *seqRun) newDir(name string) string {
	sr.dirs++
	return filepath.Join(sr.t.TempDir(), fmt.Sprintf("%s-%d", name, sr.dirs))
}

// useDir makes the current directory what d says.
func (sr *seqRun) useDir(d seqDir) {
	switch d {
	case dirFresh:
		sr.cur = sr.newDir("fresh")
	case dirDeleted:
		if err := os.RemoveAll(sr.cur); err != nil {
			sr.t.Fatal(err)
		}
	}
}

func (sr *seqRun) name(role string) string { return fmt.Sprintf("%d. %s", sr.step, role) }

func (sr *seqRun) progress() {
	c, e, done, err := sr.r.progress()
	sr.logf("after the step: %d of %d input records committed (caught up: %v, %v)", c, e, done, err)
}

// ownsAll reports whether p's latest generation gave it every partition.
func (sr *seqRun) ownsAll(p *proc) bool {
	es := p.entries("partitions assigned")
	return len(es) > 0 && len(es[len(es)-1].Partitions) == int(sr.f.partitions)
}

// current waits until p owns every partition and has made each current.
func (sr *seqRun) current(p *proc) {
	sr.t.Helper()
	n := int(sr.f.partitions)
	p.waitUntil(sr.t, "every partition owned and its state current", 90*time.Second, func() bool { return sr.ownsAll(p) && p.stateCurrent(n) })
}

// runToEnd runs an instance on the current directory until the group has
// caught up, and stops it.
func (sr *seqRun) runToEnd(role string) *proc {
	sr.t.Helper()
	p := sr.r.start(sr.name(role), sr.cur)
	sr.current(p)
	sr.r.waitCaughtUp(3*time.Minute, p)
	p.stop(sr.t)
	return p
}

// killed kills p and checks that the SIGKILL is what ended it.
func (sr *seqRun) killed(p *proc) {
	sr.t.Helper()
	p.kill()
	p.wait(sr.t, 10*time.Second)
	if !p.killed() {
		sr.t.Fatalf("%s ended by itself before the SIGKILL: %v\n%s", p.name, p.state, p.tail(30))
	}
}

// crash runs the crashing step. It returns false when st.mustCrash and
// the crash did not happen mid-stream.
func (sr *seqRun) crash(st seqStep) bool {
	t := sr.t
	sr.useDir(st.dir)
	env := fmt.Sprintf("%s=%s:%d", EnvCrashAt, st.point, st.n)
	p := sr.r.start(sr.name("run with "+env), sr.cur, env)
	if st.point == crashRevoking {
		sr.current(p)
		time.Sleep(st.delay)
		p.term()
	} else {
		// Wait for the crash, or for the group to catch up without it: a
		// later step's run has less of the stream left to pass the point.
		sr.untilEndOrCaughtUp(p, "crashed")
	}
	p.wait(t, 90*time.Second)
	cm, e, done, _ := sr.r.progress()
	crashed := p.killed() && p.logged(fmt.Sprintf("crash point %q reached", st.point))
	switch {
	case crashed && st.mustCrash && done:
		sr.logf("crashed at %s, but only once the group had caught up (%d of %d input records committed)", env, cm, e)
		return false
	case crashed:
		sr.logf("crashed at %s after %v; %d of %d input records committed", env, time.Since(p.started).Round(time.Millisecond), cm, e)
	case p.state.ExitCode() == 0 && st.mustCrash:
		sr.logf("%s not reached before the end of the stream; stopped cleanly", env)
		return false
	case p.state.ExitCode() == 0:
		sr.logf("%s not reached before the end of the stream; stopped cleanly (%d of %d input records committed)", env, cm, e)
	default:
		t.Fatalf("%s did not crash at %s nor stop cleanly (exit %v)\n%s", p.name, env, p.state, p.tail(30))
	}
	return true
}

// untilEndOrCaughtUp waits until p ends by itself, or until the group
// has caught up with every partition of p current, and then stops p with
// SIGTERM. done says how the step expects p to end, for the failure.
func (sr *seqRun) untilEndOrCaughtUp(p *proc, done string) {
	sr.t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for !p.exited() {
		if _, _, caughtUp, err := sr.r.progress(); err == nil && caughtUp && sr.ownsAll(p) && p.stateCurrent(int(sr.f.partitions)) {
			p.term()
			return
		}
		if time.Now().After(deadline) {
			sr.t.Fatalf("%s neither %s nor caught up within 3m\n%s", p.name, done, p.tail(40))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// lifecycle's exit statuses on a full disk and on a hung one
// (cmd/lifecycle), and the messages it logs.
const (
	exitDiskFull    = 75
	exitDiskStalled = 74
	msgDiskFull     = "stopping: the disk of the state directory is full"
	msgDiskStalled  = "stopping: the disk of the state directory has stalled"
)

// envMaxStall sets --max-disk-stall of the runs on a hung disk to its
// least, so that they stop about 6 s into the stall.
const envMaxStall = "LIFECYCLE_MAX_DISK_STALL=5s"

// diskFull runs on a disk with room for st.bytes more, which then fails
// every write (full) or hangs (st.stall): the run must stop by itself,
// with the status and the message that say so, and so must a start on
// that disk. Nothing may be lost or counted twice by it: the later steps
// and the final run check.
func (sr *seqRun) diskFull(st seqStep) {
	t := sr.t
	sr.useDir(st.dir)
	kind, env, status, msg := "full", state.EnvDiskBytes, exitDiskFull, msgDiskFull
	if st.stall {
		kind, env, status, msg = "hung", state.EnvDiskStallBytes, exitDiskStalled, msgDiskStalled
	}
	limit := fmt.Sprintf("%s=%d", env, st.bytes)
	p := sr.r.start(sr.name("run with "+limit), sr.cur, limit, envMaxStall)
	sr.untilEndOrCaughtUp(p, "stopped on the "+kind+" disk")
	p.wait(t, 90*time.Second)
	cm, e, _, _ := sr.r.progress()
	if p.state.ExitCode() == 0 {
		sr.logf("the disk did not fail before the end of the stream; stopped cleanly (%d of %d input records committed)", cm, e)
	} else {
		sr.checkStopped(p, kind, status, msg)
		sr.logf("stopped on the %s disk after %v; %d of %d input records committed", kind, time.Since(p.started).Round(time.Millisecond), cm, e)
	}
	q := sr.r.start(sr.name("start on the "+kind+" disk"), sr.cur, env+"=0", envMaxStall)
	q.wait(t, 60*time.Second)
	sr.checkStopped(q, kind, status, msg)
}

// checkStopped fails the test unless p stopped as a full or hung disk
// must stop it: by itself, with lifecycle's status and message.
func (sr *seqRun) checkStopped(p *proc, kind string, status int, msg string) {
	sr.t.Helper()
	if p.state.ExitCode() != status || !p.logged(msg) {
		sr.t.Fatalf("%s on a %s disk: %v, want exit status %d and %q\n%s", p.name, kind, p.state, status, msg, p.tail(30))
	}
}

func (sr *seqRun) kill9(st seqStep) {
	sr.useDir(st.dir)
	p := sr.r.start(sr.name("run"), sr.cur)
	p.waitUntil(sr.t, "partitions", 90*time.Second, p.assigned)
	time.Sleep(st.delay)
	sr.killed(p)
}

func (sr *seqRun) changelogAnew(st seqStep) {
	sr.useDir(st.dir)
	p := sr.r.start(sr.name("run"), sr.cur)
	sr.current(p)
	kafkatest.DeleteTopic(sr.t, sr.f.brokers, sr.r.cfg.Topics.Changelog)
	kafkatest.CreateCompacted(sr.t, sr.f.brokers, sr.f.partitions, sr.r.cfg.Topics.Changelog)
	sr.logf("the changelog deleted and created anew")
	time.Sleep(st.delay)
	if p.exited() {
		sr.t.Fatalf("%s ended by itself after the changelog was created anew: %v\n%s", p.name, p.state, p.tail(30))
	}
	sr.logf("%d partitions seeded the new changelog before the SIGKILL", len(p.entries("changelog seeded from local state")))
	sr.killed(p)
}

func (sr *seqRun) failover(st seqStep) {
	t := sr.t
	sr.useDir(st.dir)
	a := sr.r.start(sr.name("A"), sr.cur)
	a.waitUntil(t, "partitions", 90*time.Second, a.assigned)
	b := sr.r.start(sr.name("B"), sr.other)
	b.waitUntil(t, "partitions", 90*time.Second, b.assigned)
	time.Sleep(st.delay)
	sr.killed(a)
	sr.logf("A killed; B waits for A's session to expire")
	sr.current(b)
	time.Sleep(st.endDelay)
	if st.endKill {
		sr.killed(b)
	} else {
		b.stop(t)
	}
	sr.cur, sr.other = sr.other, sr.cur
}

func (sr *seqRun) pause(st seqStep) {
	t := sr.t
	sr.useDir(st.dir)
	half := int(sr.f.partitions) / 2
	a := sr.r.start(sr.name("A"), sr.cur)
	a.waitUntil(t, "partitions", 90*time.Second, a.assigned)
	b := sr.r.start(sr.name("B"), sr.other)
	b.waitUntil(t, "partitions", 90*time.Second, b.assigned)
	a.waitUntil(t, "a share of the partitions", 90*time.Second, func() bool {
		es := a.entries("partitions assigned")
		return len(es[len(es)-1].Partitions) == half
	})
	time.Sleep(st.delay)
	a.pause()
	pausedAt := time.Now()
	cm, e, _, _ := sr.r.progress()
	sr.logf("A paused with %d of %d input records committed", cm, e)
	b.waitUntil(t, "every partition", 90*time.Second, func() bool { return sr.ownsAll(b) })
	time.Sleep(time.Until(pausedAt.Add(sr.r.session + 4*time.Second)))
	a.resume()
	sr.logf("A resumed after %v", time.Since(pausedAt).Round(time.Millisecond))
	time.Sleep(st.endDelay)
	a.stop(t)
	b.stop(t)
	sr.cur, sr.other = sr.other, sr.cur
}

func (sr *seqRun) truncate(st seqStep) {
	t := sr.t
	what := truncateNewest(t, sr.cur, st.pattern)
	if what == "" {
		sr.logf("no %q file in %s to truncate", st.pattern, sr.cur)
	} else {
		sr.logf("truncated %s", what)
	}
	n := int(sr.f.partitions)
	for attempt := 1; ; attempt++ {
		p := sr.r.start(sr.name(fmt.Sprintf("run on the truncated dir (attempt %d)", attempt)), sr.cur)
		deadline := time.Now().Add(90 * time.Second)
		for !p.exited() && !(sr.ownsAll(p) && p.stateCurrent(n)) {
			if time.Now().After(deadline) {
				p.dump()
				t.Fatalf("%s: every partition neither current nor refused within 90s\n%s", p.name, p.tail(40))
			}
			time.Sleep(20 * time.Millisecond)
		}
		if !p.exited() {
			time.Sleep(st.delay)
			p.kill()
			p.wait(t, 10*time.Second)
			if p.killed() {
				return
			}
		}
		// It refused the damaged state (at start or once it met the
		// damage): with a clear message, once.
		errs := p.errLines()
		if p.state.ExitCode() == 0 || len(errs) == 0 || attempt > 1 || what == "" {
			t.Fatalf("%s exited %v without saying why (or on undamaged state)\n%s", p.name, p.state, p.tail(30))
		}
		sr.logf("the run refused the damaged state (%v): %s; deleting the dir", p.state, strings.Join(errs, " | "))
		if err := os.RemoveAll(sr.cur); err != nil {
			t.Fatal(err)
		}
	}
}

func (sr *seqRun) drain(st seqStep) {
	sr.useDir(st.dir)
	p := sr.runToEnd("run to the end")
	restored, current := len(p.entries("partition restored")), len(p.entries("local state is current; no restore needed"))
	sr.logf("caught up; %d partitions restored from the changelog, %d found current locally", restored, current)
	if st.wantCurrent && (restored > 0 || current < int(sr.f.partitions)) {
		sr.t.Errorf("%s: %d partitions found current locally and %d restored; the schedule needs every partition's local state current", p.name, current, restored)
	}
	s, err := state.Open(state.Options{Dir: sr.cur})
	if err != nil {
		sr.t.Fatalf("opening %s: %v", sr.cur, err)
	}
	defer s.Close()
	checkState(sr.t, sr.want.final, s)
}

// checkConverged compares, partition by partition, every user record and
// the metadata in local (the directory the last instance left) and in
// restored (a fresh directory restored from the changelog): invariant 7
// for every field (RFM segment, warning memory, timers, offsets), where
// checkState compares the rules' user state with the reference.
func checkConverged(t *testing.T, local, restored *state.Store) {
	t.Helper()
	lps, err := local.Partitions()
	if err != nil {
		t.Fatal(err)
	}
	rps, err := restored.Partitions()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(lps, rps) {
		t.Errorf("local state holds partitions %v, the restore from the changelog %v", lps, rps)
	}
	bad := 0
	report := func(format string, args ...any) {
		if bad++; bad <= 5 {
			t.Errorf(format, args...)
		}
	}
	for _, p := range lps {
		lu := map[string]record.User{}
		if err := local.Users(p, func(id string, r record.User) error { lu[id] = r; return nil }); err != nil {
			t.Fatal(err)
		}
		if err := restored.Users(p, func(id string, r record.User) error {
			l, ok := lu[id]
			switch {
			case !ok:
				report("partition %d: user %s restored from the changelog but not in local state: %+v", p, id, r)
			case !bytes.Equal(record.EncodeUser(l), record.EncodeUser(r)):
				report("partition %d: user %s differs between local state and the restore from the changelog:\n  local    %+v\n  restored %+v", p, id, l, r)
			}
			delete(lu, id)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		for id, l := range lu {
			report("partition %d: user %s in local state but not restored from the changelog: %+v", p, id, l)
		}
		lm, _, err := local.Meta(p)
		if err != nil {
			t.Fatal(err)
		}
		rm, _, err := restored.Meta(p)
		if err != nil {
			t.Fatal(err)
		}
		// Segments[0], users not scored yet, is not kept up to date by the
		// runtime (a new user is not counted in; a first score takes one
		// out) and nothing reads it (the stats and metrics skip it); a
		// restore recounts it. OutboxNext numbers the local outbox only.
		lseg, rseg := lm.Segments, rm.Segments
		lseg[0], rseg[0] = 0, 0
		if lm.StreamTime != rm.StreamTime || !maps.Equal(lm.Offsets, rm.Offsets) || !bytes.Equal(lm.Population, rm.Population) ||
			lm.Stages != rm.Stages || lseg != rseg {
			report("partition %d: metadata differs between local state and the restore from the changelog:\n  local    stream time %d, offsets %v, stages %v, segments %v, cuts %s\n  restored stream time %d, offsets %v, stages %v, segments %v, cuts %s",
				p, lm.StreamTime, lm.Offsets, lm.Stages, lm.Segments, lm.Population, rm.StreamTime, rm.Offsets, rm.Stages, rm.Segments, rm.Population)
		}
	}
	if bad > 0 {
		t.Errorf("%d differences between local state and the state restored from the changelog (invariant 7)", bad)
	}
}
