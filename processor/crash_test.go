package processor

import (
	"math/rand"
	randv2 "math/rand/v2"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/lifecycle-engine/lifecycle/processor/kafkatest"
	"github.com/lifecycle-engine/lifecycle/processor/simulate"
)

// TestProcessCrashAtCommits: a process killed right after any commit
// (rebuilds of the RFM population included) restarts from its local store
// and reaches the same outputs and state as an uninterrupted run. The crash
// is a clone of the in-memory filesystem taken in the commit hook: what a
// kill -9 leaves (the OS keeps everything written).
func TestProcessCrashAtCommits(t *testing.T) {
	f := newInputFixture(t, simulate.Config{Users: 150, Days: 60, Seed: 21, DupRate: 0.02, LateRate: 0.05}, 2)
	want, wantPerUser, _, wantState := reference(t, Config{Topics: Topics{Inputs: f.inputs}}, f.brokers)

	cfg := f.config(t)
	cfg.BatchRecords = 40
	fs := vfs.NewCrashableMem()
	p, err := New(cfg, openStore(t, fs))
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu      sync.Mutex
		commits int
		clones  []*vfs.MemFS
		last    []*vfs.MemFS // images of the last commits: input applied, timers maybe not fired yet
	)
	pick := map[int]bool{}
	for _, n := range rand.New(rand.NewSource(3)).Perm(60)[:6] {
		pick[n+5] = true
	}
	p.afterCommit = func() {
		mu.Lock()
		defer mu.Unlock()
		commits++
		img := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 100, RNG: randv2.New(randv2.NewPCG(1, uint64(commits)))})
		if pick[commits] {
			clones = append(clones, img)
		}
		if last = append(last, img); len(last) > 4 {
			last = last[1:]
		}
	}
	runProcessor(t, p, func(st Stats) bool { return caughtUp(t, cfg) })
	mu.Lock()
	if len(clones) < 3 {
		t.Fatalf("only %d crash points taken of %d commits", len(clones), commits)
	}
	got := append(append([]*vfs.MemFS(nil), clones...), last...)
	mu.Unlock()
	t.Logf("%d commits; restarting from %d crash points", commits, len(got))

	for i, crashed := range got {
		// A new group and changelog: the restart must rely on the crashed
		// local store alone, not on what the uninterrupted run committed.
		rc := cfg
		rc.Group = kafkatest.Name(t, "regroup")
		rc.Topics.Changelog = kafkatest.Name(t, "rechangelog")
		kafkatest.CreateCompacted(t, f.brokers, f.partitions, rc.Topics.Changelog)
		store := openStore(t, crashed)
		runUntil(t, rc, store, func(st Stats) bool { return caughtUp(t, rc) })
		checkState(t, wantState, store)
		store.Close()
		if t.Failed() {
			t.Fatalf("restart from crash point %d diverged", i)
		}
	}
	// Every restart re-sent what it re-derived: still the same ids and payloads.
	checkOutputs(t, cfg, want, wantPerUser)
}
