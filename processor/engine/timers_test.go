package engine

import (
	"strconv"
	"testing"

	"github.com/lifecycle-engine/lifecycle/processor/rules"
	"github.com/lifecycle-engine/lifecycle/schemas"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

// scanCounter is a MemStore that counts the timer index scans.
type scanCounter struct {
	*MemStore
	scans int
}

func (s *scanCounter) DueTimers(p int32, from, before int64, limit int) ([]record.Timer, int64, error) {
	s.scans++
	return s.MemStore.DueTimers(p, from, before, limit)
}

// TestTimerScansOnlyWhenDue: a live stream commits after nearly every
// record; the timer index is scanned only when stream time has passed the
// earliest wake time, and the timers still fire when it has, whether the
// earliest entry was known from a scan or written by a commit since.
func TestTimerScansOnlyWhenDue(t *testing.T) {
	store := &scanCounter{MemStore: NewMemStore()}
	cfg := testConfig()
	var transitions []string
	e, err := New(&cfg, store, 0, 1, &Stats{}, func(c Commit) error {
		for _, o := range c.Outputs {
			if o.Topic == cfg.Topics.Transitions {
				transitions = append(transitions, string(o.Key))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ts, off := int64(1_767_225_600_000), int64(0)
	event := func(u string, at int64) {
		t.Helper()
		off++
		it := &Input{Offset: off, Event: schemas.Event{ID: "e-" + strconv.FormatInt(off, 10), UserID: u, Type: schemas.Login, Time: at}}
		if err := e.Apply(it); err != nil {
			t.Fatal(err)
		}
		if err := e.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	event("a", ts) // the first commit scans once: nothing is known yet
	first := store.scans
	for i := range 100 {
		event("b"+strconv.Itoa(i), ts+int64(i+1)*1000) // a second apart: nothing due for days
	}
	if got := store.scans - first; got != 0 {
		t.Fatalf("%d timer scans for 100 commits with nothing due, want 0", got)
	}
	// Past a's churn (and every user's earlier timers): they fire.
	transitions = transitions[:0]
	event("late", ts+int64(cfg.Rules.ChurnAfter.Milliseconds())+rules.Day)
	if store.scans == first {
		t.Fatal("no timer scan once stream time passed the due timers")
	}
	quiet := map[string]bool{}
	for _, u := range transitions {
		if u == "a" || u[0] == 'b' {
			quiet[u] = true
		}
	}
	if len(quiet) != 101 {
		t.Fatalf("%d of the 101 quiet users had a transition once stream time passed their churn, want all", len(quiet))
	}
}

// readCounter is a MemStore that counts the users read one at a time and
// in passes.
type readCounter struct {
	*MemStore
	single, passes, inPasses int
}

func (s *readCounter) User(p int32, id string) (record.User, bool, error) {
	s.single++
	return s.MemStore.User(p, id)
}

func (s *readCounter) ReadUsers(p int32, ids []string, fn func(string, record.User, bool) error) error {
	s.passes++
	s.inPasses += len(ids)
	return s.MemStore.ReadUsers(p, ids, fn)
}

// uncachedEngine returns an engine that caches no user, over a store that
// counts its reads, and the keys of the outputs it commits to topic.
func uncachedEngine(t *testing.T, cfg *Config, topic string) (*Engine, *readCounter, map[string]bool) {
	t.Helper()
	store := &readCounter{MemStore: NewMemStore()}
	cfg.MaxUsersCached = 0
	keys := map[string]bool{}
	e, err := New(cfg, store, 0, 1, &Stats{}, func(c Commit) error {
		for _, o := range c.Outputs {
			if o.Topic == topic {
				keys[string(o.Key)] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return e, store, keys
}

// TestTimerPassReadsUsersAtOnce: the users of a timer pass that are not
// cached are read in one pass over the store, not one lookup each, and
// each fires as it would have (the processor's tests compare the outputs
// with a small cache against the reference's).
func TestTimerPassReadsUsersAtOnce(t *testing.T) {
	cfg := testConfig()
	e, store, fired := uncachedEngine(t, &cfg, cfg.Topics.Transitions)
	ts := int64(1_767_225_600_000)
	for i := range 50 {
		it := &Input{Offset: int64(i), Event: schemas.Event{ID: "e-" + strconv.Itoa(i), UserID: "u" + strconv.Itoa(i), Type: schemas.Login, Time: ts + int64(i)}}
		if err := e.Apply(it); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	clear(fired)
	store.single, store.passes, store.inPasses = 0, 0, 0
	late := &Input{Offset: 50, Event: schemas.Event{ID: "e-late", UserID: "late", Type: schemas.Login, Time: ts + cfg.Rules.ChurnAfter.Milliseconds() + rules.Day}}
	if err := e.Apply(late); err != nil {
		t.Fatal(err)
	}
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	quiet := 0
	for u := range fired {
		if u != "late" {
			quiet++
		}
	}
	if quiet != 50 {
		t.Fatalf("%d of the 50 quiet users had a transition when their timers fell due, want all", quiet)
	}
	if store.inPasses < 50 || store.single > 1 {
		t.Errorf("the timer pass read %d users in %d passes and %d one at a time; want the 50 in passes", store.inPasses, store.passes, store.single)
	}
}

// TestRebuildReadsUsersAtOnce: an RFM rebuild re-scores its buyers from
// one pass over the store when they are not cached, as a timer pass does,
// and every buyer gets its first segment.
func TestRebuildReadsUsersAtOnce(t *testing.T) {
	cfg := testConfig()
	e, store, scored := uncachedEngine(t, &cfg, cfg.Topics.Segments)
	day := cfg.Segments.Refresh.Milliseconds()
	ts := int64(1_767_225_600_000) + day/2 // between two rebuild points
	for i := range 50 {
		it := &Input{Offset: int64(i), Event: schemas.Event{ID: "e-" + strconv.Itoa(i), UserID: "u" + strconv.Itoa(i), Type: schemas.Purchase, Amount: schemas.Micros(1_000_000 * (i + 1)), Time: ts + int64(i)}}
		if err := e.Apply(it); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	store.single, store.passes, store.inPasses = 0, 0, 0
	next := &Input{Offset: 50, Event: schemas.Event{ID: "e-next", UserID: "next", Type: schemas.Login, Time: ts + day}}
	if err := e.Apply(next); err != nil {
		t.Fatal(err)
	}
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	if len(scored) < 50 {
		t.Fatalf("%d of the 50 buyers got a segment at the rebuild, want all", len(scored))
	}
	if store.inPasses < 50 || store.single > 1 {
		t.Errorf("the rebuild read %d users in %d passes and %d one at a time; want the 50 in passes", store.inPasses, store.passes, store.single)
	}
}
