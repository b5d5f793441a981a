package processor

import (
	"slices"
	"testing"
	"time"

	"github.com/lifecycle-engine/lifecycle/processor/kafkatest"
	"github.com/lifecycle-engine/lifecycle/processor/simulate"
)

// TestFetchWaitLiveInput: with a fetch wait (Config.FetchWait) the broker
// holds each fetch until the wait passes, and records produced while the
// processor runs come a wait's worth at a time to every partition at once,
// whose merges then confirm their inputs' ends together (endsAsker). No
// record may be lost or held back for it: every one is applied or
// dead-lettered (invariant 1). (Which order live records of different
// topics take depends on when they arrive, as without a wait: README,
// "Time"; TestEndToEnd checks the outputs themselves with a wait.)
func TestFetchWaitLiveInput(t *testing.T) {
	f, msgs := newHeldFixture(t, simulate.Config{Users: 300, Days: 90, Seed: 31, BadRate: 0.01, DupRate: 0.03, LateRate: 0.05}, 4)
	cfg := f.config(t)
	cfg.FetchWait = MinFetchWait
	p, errc, cancel := startRun(t, cfg)
	// In 40 parts, a few milliseconds apart: live input, a part reaching
	// some partitions and topics while others still wait for theirs.
	for part := range slices.Chunk(msgs, len(msgs)/40+1) {
		kafkatest.Produce(t, f.brokers, part...)
		time.Sleep(3 * time.Millisecond)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for seen(p.Stats()) < int64(f.records) || !caughtUp(t, cfg) {
		if time.Now().After(deadline) {
			t.Fatalf("the processor did not apply every record in time: %d of %d; stats %+v", seen(p.Stats()), f.records, p.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("Run after stop: %v", err)
	}
	st := p.Stats()
	if seen(st) != int64(f.records) || st.Rejected != int64(f.bad) {
		t.Errorf("applied, rejected and duplicate records %d (rejected %d), want %d (rejected %d)", seen(st), st.Rejected, f.records, f.bad)
	}
	checkDLQ(t, cfg, f.bad)
}
