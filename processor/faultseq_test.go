package processor

// TestFaultSequences: faults in sequence (ARCHITECTURE.md, invariant 7), in the
// style of Jepsen's nemesis schedules. A schedule is a list of steps (a run
// that crashes at a named point, a kill -9, a failover to another
// instance, a pause past the session timeout, a truncated local state, a
// run to the end), each on the same, a fresh or the deleted state
// directory, generated from a seed; after it the group runs to the end
// and the outputs, the last directory's state AND the state restored from
// the changelog into a fresh directory must match the reference, and the
// restored state must equal the last directory's, record for record.
//
// Replay one schedule with
//
//	go test ./processor/ -run TestFaultSequences -v -faultseq.seed=<seed>
//
// (or LIFECYCLE_FAULTSEQ_SEED=<seed>). The schedule replays exactly; the
// moments the processes reach (how far a run got when it was killed) are
// as close as timing allows.

import (
	"bytes"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lifecycle-engine/lifecycle/state"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

var faultseqSeed = flag.String("faultseq.seed", "", "TestFaultSequences: run only the schedule generated from this seed (also $"+envFaultseqSeed+")")

const envFaultseqSeed = "LIFECYCLE_FAULTSEQ_SEED"

// The fixture of the fault sequences.
const (
	faultseqUsers       = 400
	faultseqFixtureSeed = 31
)

// faultseqCISeeds are the generated schedules CI runs after the
// reproduction, chosen so that together they have every kind of step,
// every crash point, every truncation and every kind of directory:
//
//	 6  batch 20: sent:11, revoking:4, sent:7, committed:82 (same dir); final on the deleted dir
//	16  batch 50: committed:106, truncated MANIFEST, changelogged:2 on the deleted dir, drain; final on the same dir
//	41  batch 10: revoking:4, sent:30, truncated newest file, pause (fresh dir); final on a fresh dir
//	43  batch 10: revoking:3, kill -9, truncated WAL, kill -9 on the deleted dir; final on the same dir
//	621 batch 5:  rebuilding:2, changelogged:34 on a fresh dir, failover; final on the same dir
var faultseqCISeeds = []uint64{6, 16, 41, 43, 621}

// seqDir is the state directory a run of a step uses.
type seqDir int

const (
	dirSame    seqDir = iota // the current directory, as the last run left it
	dirFresh                 // a new, empty directory (the old one is abandoned)
	dirDeleted               // the current directory, deleted first
)

func (d seqDir) String() string {
	return [...]string{"the same", "a fresh", "the deleted"}[d]
}

type seqKind int

const (
	seqCrash    seqKind = iota // run with LIFECYCLE_CRASH_AT=<point>:<n>
	seqKill9                   // run, SIGKILL a moment after partitions were assigned
	seqFailover                // A runs, B joins on the other directory, A is killed, B takes over
	seqPause                   // A runs, B joins, A paused past the session timeout, resumed
	seqTruncate                // newest file of the current directory truncated, then a run on it
	seqDrain                   // run to the end, SIGTERM, check the directory's state
)

// seqStep is one step of a schedule. Every step starts and ends with no
// instance running.
type seqStep struct {
	kind     seqKind
	dir      seqDir        // the state directory of the step's (first) instance
	point    string        // seqCrash
	n        int           // seqCrash: the n-th pass of point
	delay    time.Duration // see String
	pattern  string        // seqTruncate: which file (filepath.Match)
	endKill  bool          // seqFailover: B ends by SIGKILL, else SIGTERM
	endDelay time.Duration // seqFailover, seqPause: how long B (or the resumed A) runs on
	// mustCrash: the crash must happen and mid-stream (the reproduction
	// depends on it); otherwise a crash point the run does not reach
	// before it caught up is only logged.
	mustCrash bool
	// wantCurrent (seqDrain): every partition's local state must be found
	// current, no restore (the reproduction's premise).
	wantCurrent bool
}

func (s seqStep) String() string {
	switch s.kind {
	case seqCrash:
		if s.point == crashRevoking {
			return fmt.Sprintf("run on %s dir with %s=%s:%d; SIGTERM %v after every partition's state is current (the shutdown passes the point)", s.dir, EnvCrashAt, s.point, s.n, s.delay)
		}
		return fmt.Sprintf("run on %s dir with %s=%s:%d (SIGKILL at pass %d of %q)", s.dir, EnvCrashAt, s.point, s.n, s.n, s.point)
	case seqKill9:
		return fmt.Sprintf("run on %s dir; SIGKILL %v after its partitions were assigned", s.dir, s.delay)
	case seqFailover:
		end := "SIGTERM"
		if s.endKill {
			end = "SIGKILL"
		}
		return fmt.Sprintf("failover: A runs on %s dir, B joins on the other dir; SIGKILL A %v after B got partitions; once B owns every partition, %s B after %v; B's dir becomes the current one", s.dir, s.delay, end, s.endDelay)
	case seqPause:
		return fmt.Sprintf("pause: A runs on %s dir, B joins on the other dir; SIGSTOP A %v after both share the partitions, until B owns every partition and the session timeout has passed; SIGCONT A; SIGTERM A and B after %v; B's dir becomes the current one", s.dir, s.delay, s.endDelay)
	case seqTruncate:
		return fmt.Sprintf("truncate the newest %q file of the current dir to half; run on it (if it refuses: delete the dir and run again, as an operator would); SIGKILL %v after every partition's state is current", s.pattern, s.delay)
	case seqDrain:
		return fmt.Sprintf("run on %s dir until the group caught up; SIGTERM; check that dir's state", s.dir)
	}
	return "?"
}

// schedule is a sequence of steps, then a final run to the end.
type schedule struct {
	name  string
	seed  uint64 // 0: not generated
	batch int    // --batch-records of every run
	steps []seqStep
	final seqDir // the state directory of the final run
}

func (s schedule) String() string {
	var b strings.Builder
	if s.seed != 0 {
		fmt.Fprintf(&b, "schedule seed=%d", s.seed)
	} else {
		fmt.Fprintf(&b, "schedule %q", s.name)
	}
	fmt.Fprintf(&b, " (fixture: %d users, seed %d; --batch-records %d):", faultseqUsers, faultseqFixtureSeed, s.batch)
	for i, st := range s.steps {
		fmt.Fprintf(&b, "\n  %d. %s", i+1, st)
	}
	fmt.Fprintf(&b, "\n  %d. final: run on %s dir until the group caught up; SIGTERM; check outputs, dead letters, that dir's state, and the state a fresh dir restores from the changelog", len(s.steps)+1, s.final)
	if s.seed != 0 {
		fmt.Fprintf(&b, "\n  replay: go test ./processor/ -run TestFaultSequences -count=1 -v -faultseq.seed=%d", s.seed)
	} else {
		fmt.Fprintf(&b, "\n  replay: go test ./processor/ -run 'TestFaultSequences/%s' -count=1 -v", s.name)
	}
	return b.String()
}

// reproSchedule is the sequence found on real Kafka: a crash after a
// batch's outputs were sent and before its changelog write; a restart on
// the same directory, whose local state is current, to the end; then the
// directory lost and the state restored from the changelog.
//
// Why batch 100 and sent:6: the sender merges the batches queued behind
// the one it sends, so a whole run passes "sent" only some 10–80 times
// (fewer with bigger batches), and how many depends on timing. The lost
// changelog write shows only for users whose last change was in it: a
// crash early in a partition's stream, with a small merged job, is healed
// by later writes of the same users (measured on this fixture: with
// batches of 10 or 20 records and sent:4…75 the bug went unseen in about
// one run in four, and sent:75 was sometimes never reached). With batches
// of 100 records, sent:4…9 was reached in every run, with none of the
// group's offsets committed yet, and 13–195 users differed after the
// restore in all 30 runs.
func reproSchedule() schedule {
	return schedule{
		name:  "repro-sent-same-deleted",
		batch: 100,
		steps: []seqStep{
			{kind: seqCrash, dir: dirSame, point: crashSent, n: 6, mustCrash: true},
			{kind: seqDrain, dir: dirSame, wantCurrent: true},
		},
		final: dirDeleted,
	}
}

// faultseqMaxSteps bounds the steps of a generated schedule (before its
// final run); a seed always makes the same schedule, in CI, in a soak or
// replayed alone.
const faultseqMaxSteps = 4

// genSchedule makes the schedule of seed: 2 to faultseqMaxSteps steps.
func genSchedule(seed uint64) schedule {
	rng := rand.New(rand.NewPCG(seed, 0x5e9))
	batches := []int{5, 10, 20, 50, 100}
	s := schedule{name: fmt.Sprintf("seed=%d", seed), seed: seed, batch: batches[rng.IntN(len(batches))]}
	// Passes of the crash points over a whole run of the fixture, roughly:
	// committed once per batch (and per timer pass), sent and changelogged
	// once per sender round, which merges the batches queued behind it
	// (measured: 60–80 with batches of 10, 30–45 with 20, 20–30 with 50,
	// 10 or more with 100). A crash is drawn anywhere from the start to
	// about the end; one the run does not reach (a later step has less of
	// the stream left) is logged and the run goes on to the end.
	committed := 6000 / s.batch
	sent := map[int]int{5: 80, 10: 60, 20: 35, 50: 20, 100: 8}[s.batch]
	weighted := func(weights ...int) int {
		total := 0
		for _, w := range weights {
			total += w
		}
		x := rng.IntN(total)
		for i, w := range weights {
			if x < w {
				return i
			}
			x -= w
		}
		return len(weights) - 1
	}
	dirExists := false
	dir := func() seqDir {
		d := seqDir(weighted(6, 2, 2))
		if !dirExists {
			d = dirSame // nothing to delete or abandon yet
		}
		return d
	}
	ms := func(lo, hi int) time.Duration { return time.Duration(lo+rng.IntN(hi-lo+1)) * time.Millisecond }
	steps := 2 + rng.IntN(faultseqMaxSteps-1)
	for range steps {
		kind := seqKind(weighted(40, 15, 13, 7, 10, 15))
		if !dirExists && (kind == seqTruncate || kind == seqDrain) {
			kind = seqCrash // nothing to truncate; a clean first run would leave the faults nothing to process
		}
		st := seqStep{kind: kind, dir: dir()}
		switch kind {
		case seqCrash:
			points := []string{crashCommitted, crashSent, crashChangelogged, crashRevoking, crashRebuilding}
			weights := []int{15, 40, 20, 15, 10}
			if s.batch > 10 {
				weights[4] = 0 // a rebuild passes the point once per batch of re-scored users: ~25 a partition
			}
			st.point = points[weighted(weights...)]
			switch st.point {
			case crashCommitted:
				st.n = 1 + rng.IntN(committed)
			case crashSent, crashChangelogged:
				st.n = 1 + rng.IntN(sent)
			case crashRevoking:
				st.n = 1 + rng.IntN(4) // one pass per owned partition at shutdown
				st.delay = ms(0, 500)
			case crashRebuilding:
				st.n = 1 + rng.IntN(60/s.batch*2)
			}
		case seqKill9:
			st.delay = ms(10, 400)
		case seqFailover:
			st.delay = ms(0, 400)
			st.endKill = rng.IntN(2) == 0
			st.endDelay = ms(0, 800)
		case seqPause:
			st.delay = ms(0, 300)
			st.endDelay = ms(0, 2000)
		case seqTruncate:
			st.dir = dirSame
			st.pattern = []string{"*.log", "MANIFEST-*", "*"}[rng.IntN(3)]
			st.delay = ms(0, 300)
		}
		s.steps = append(s.steps, st)
		dirExists = true
	}
	s.final = dir()
	return s
}

// seqSeed returns the seed asked for with -faultseq.seed or the
// environment, if any.
func seqSeed(t *testing.T) (uint64, bool) {
	v := *faultseqSeed
	if v == "" {
		v = os.Getenv(envFaultseqSeed)
	}
	if v == "" {
		return 0, false
	}
	seed, err := strconv.ParseUint(v, 10, 64)
	if err != nil || seed == 0 {
		t.Fatalf("-faultseq.seed / %s=%q: want a positive integer", envFaultseqSeed, v)
	}
	return seed, true
}

// TestFaultSequences runs the reproduction of the changelog bug found on
// real Kafka (crash after sending, restart on the same directory, then
// the directory lost), then schedules generated from fixed seeds (many
// more, from a time-based seed, with -soak; one with -faultseq.seed).
func TestFaultSequences(t *testing.T) {
	t.Parallel()
	var scheds []schedule
	if seed, ok := seqSeed(t); ok {
		scheds = append(scheds, genSchedule(seed))
	} else {
		scheds = append(scheds, reproSchedule())
		for _, seed := range faultseqCISeeds {
			scheds = append(scheds, genSchedule(seed))
		}
		if *soak {
			base := uint64(time.Now().UnixNano()%1e9) * 1000
			t.Logf("-soak: schedules from seed %d on", base)
			for i := range iterations(len(faultseqCISeeds)) {
				scheds = append(scheds, genSchedule(base+uint64(i)))
			}
		}
	}
	f, want := faultFixture(t, faultseqUsers, faultseqFixtureSeed)
	var names []string
	for _, s := range scheds {
		names = append(names, s.name)
	}
	start := time.Now()
	runConcurrently(t, 6, names, func(t *testing.T, i int) {
		runSchedule(t, f, want, scheds[i])
	})
	t.Logf("%d schedules (as many as -run selects of them ran) in %v", len(scheds), time.Since(start).Round(time.Second))
}

// seqRun is the state of one schedule's run.
type seqRun struct {
	t          *testing.T
	f          *inputFixture
	want       expected
	r          *rig
	s          schedule
	cur, other string // the state directories of the current instance and of the other one
	dirs       int    // directories made so far
	step       int    // 1-based, for names and messages
	start      time.Time
}

// runSchedule runs s and checks the result. A crash that must happen
// mid-stream (the reproduction's) and did not is tried again with a new
// group and topics and half the n, at most twice.
func runSchedule(t *testing.T, f *inputFixture, want expected, s schedule) {
	// Every failure, whichever helper reports it, ends with the schedule
	// and how to replay it.
	t.Cleanup(func() {
		if t.Failed() {
			t.Errorf("FAILED %s", s)
		}
	})
	t.Logf("%s", s)
	for attempt := 1; ; attempt++ {
		if runOnce(t, f, want, s) {
			return
		}
		if attempt == 3 {
			t.Fatalf("the crash of step 1 did not happen mid-stream in %d attempts", attempt)
		}
		s.steps = append([]seqStep(nil), s.steps...)
		s.steps[0].n = max(1, s.steps[0].n/2)
		t.Logf("the crash of step 1 did not happen mid-stream; again with new topics and group: %s", s.steps[0])
	}
}

// runOnce runs s on a rig of its own. It returns false when a step that
// must crash mid-stream did not, having run nothing after it.
func runOnce(t *testing.T, f *inputFixture, want expected, s schedule) bool {
	sr := &seqRun{t: t, f: f, want: want, r: newRig(t, f, s.batch), s: s, start: time.Now()}
	sr.cur, sr.other = sr.newDir("A"), sr.newDir("B")
	for i, st := range s.steps {
		sr.step = i + 1
		sr.logf("%s", st)
		switch st.kind {
		case seqCrash:
			if !sr.crash(st) {
				return false
			}
		case seqKill9:
			sr.kill9(st)
		case seqFailover:
			sr.failover(st)
		case seqPause:
			sr.pause(st)
		case seqTruncate:
			sr.truncate(st)
		case seqDrain:
			sr.drain(st)
		}
		sr.progress()
	}
	sr.step = len(s.steps) + 1
	sr.logf("final run on %s dir", s.final)
	sr.useDir(s.final)
	p := sr.runToEnd("final run")
	if s.final != dirSame && len(p.entries("partition restored")) == 0 {
		t.Errorf("the final run on %s dir restored nothing from the changelog", s.final)
	}
	sr.logf("the final run caught up; checking outputs, dead letters and the state of %s", sr.cur)
	local := openDir(t, sr.cur)
	sr.r.check(want, local)
	if back := changelogRegressions(t, sr.r.cfg); len(back) > 0 {
		// Possible without a fault of the processor (see
		// TestInstancesJoinLeaveAndDie); the restore must ignore them.
		sr.logf("the changelog went back %d times, e.g. %s", len(back), back[0])
	}
	sr.logf("restoring a fresh dir from the changelog")
	restored := sr.r.finalState(fmt.Sprintf("%d. restore from the changelog", sr.step+1))
	checkState(t, want.final, restored)
	checkConverged(t, local, restored)
	sr.logf("done in %v", time.Since(sr.start).Round(time.Millisecond))
	return true
}

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
		deadline := time.Now().Add(3 * time.Minute)
		for !p.exited() {
			if _, _, done, err := sr.r.progress(); err == nil && done && sr.ownsAll(p) && p.stateCurrent(int(sr.f.partitions)) {
				p.term()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s neither crashed nor caught up within 3m\n%s", p.name, p.tail(40))
			}
			time.Sleep(100 * time.Millisecond)
		}
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

func (sr *seqRun) kill9(st seqStep) {
	sr.useDir(st.dir)
	p := sr.r.start(sr.name("run"), sr.cur)
	p.waitUntil(sr.t, "partitions", 90*time.Second, p.assigned)
	time.Sleep(st.delay)
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
