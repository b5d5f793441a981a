package processor

// TestFaultSequences: faults in sequence (ARCHITECTURE.md, invariant 7), in the
// style of Jepsen's nemesis schedules. A schedule is a list of steps (a run
// that crashes at a named point, a kill -9, a failover to another
// instance, a pause past the session timeout, a truncated local state, a
// disk that fills up, a run to the end), each on the same, a fresh or the deleted state
// directory, generated from a seed, half of them with a standby replica; after it the group runs to the end
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
	"flag"
	"fmt"
	"testing"
	"time"
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
//	 6  batch 20: sent:11, revoking:4, a disk with 1.1 MB free (it fills mid-stream), sent:7, committed:82 (same dir); final on the deleted dir
//	16  batch 50: committed:106, truncated MANIFEST, a disk that hangs after 0.7 MB on the deleted dir (the rest fits), changelogged:2 on the deleted dir, drain; final on the same dir
//	41  batch 10, a standby replica: the changelog created anew, drain, revoking:4, sent:30, truncated newest file,
//	    pause (fresh dir; B promotes its standby copies); final on a fresh dir
//	43  batch 10: revoking:3, kill -9, truncated WAL, kill -9 on the deleted dir, a disk with 0.15 MB free on a fresh dir (it fills at the start); final on the same dir
//	621 batch 5:  rebuilding:2, changelogged:34 on a fresh dir, failover; final on the same dir
//	784114240006 batch 5: sent:60, truncated WAL, truncated MANIFEST, sent:50; final on a fresh dir
//	    (found by a soak: Pebble opened the MANIFEST torn in the middle without
//	    the data of its lost edit, and users came back as new; state.ErrDamaged)
//	862511445000 batch 10: sent:14, pause (deleted dir); final on the same dir
//	    (found by a soak: the paused owner's changelog write landed after its
//	    successor's at the same input offsets and was restored in its place;
//	    it takes the pause to fall during that write, which is rare, so
//	    TestApplierIgnoresALowerEpoch holds the fix)
//	185 batch 5: a disk that hangs after 1 MB, changelogged:57, kill -9, kill -9 on a fresh dir; final on the same dir
//	45847669008 batch 50, a standby replica: changelogged:3, kill -9, failover (B promotes its standby copies,
//	    then is killed too), drain; final on the same dir
var faultseqCISeeds = []uint64{6, 16, 41, 43, 621, 784114240006, 862511445000, 185, 45847669008}

// faultseqMaxSteps bounds the steps of a generated schedule (before its
// final run; a full disk may add one, addDiskFull); a seed always makes
// the same schedule, in CI, in a soak or replayed alone.
const faultseqMaxSteps = 4

// TestFaultSequences runs the reproduction of the changelog bug found on
// real Kafka (crash after sending, restart on the same directory, then
// the directory lost), a crash inside a changelog write of several
// produce batches, then schedules generated from fixed seeds (many
// more, from a time-based seed, with -soak; one with -faultseq.seed).
func TestFaultSequences(t *testing.T) {
	t.Parallel()
	var scheds []schedule
	if seed, ok := seqSeed(t); ok {
		scheds = append(scheds, genSchedule(seed))
	} else {
		scheds = append(scheds, reproSchedule(), chunkedSchedule(), changelogAnewSchedule())
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
	r := newRig(t, f, s.batch)
	r.standbys = s.standbys
	sr := &seqRun{t: t, f: f, want: want, r: r, s: s, start: time.Now()}
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
		case seqDiskFull:
			sr.diskFull(st)
		case seqChangelogAnew:
			sr.changelogAnew(st)
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
