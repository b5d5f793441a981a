package engine

import (
	"strconv"
	"testing"

	"github.com/bits-and-blooms/bloom/v3"

	"github.com/lifecycle-engine/lifecycle/schemas"
)

// TestKnownUsersKeepHistory: a stored user is never taken for a new one,
// whether it was evicted from the cache or the partition was opened again
// on the same store (the filter is then loaded from the store).
func TestKnownUsersKeepHistory(t *testing.T) {
	store := NewMemStore()
	cfg := testConfig()
	open := func() *Engine {
		p, err := New(&cfg, store, 0, 1, &Stats{}, func(Commit) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	const users = 200
	ts, off := int64(1_767_225_600_000), int64(0)
	login := func(p *Engine, u string) {
		t.Helper()
		ts += 1000
		off++
		it := &Input{Offset: off, Event: schemas.Event{ID: "e-" + strconv.FormatInt(off, 10), UserID: u, Type: schemas.Login, Time: ts}}
		if err := p.Apply(it); err != nil {
			t.Fatal(err)
		}
	}
	loginsOf := func(p *Engine, u string) int64 {
		t.Helper()
		e, err := p.user(u)
		if err != nil {
			t.Fatal(err)
		}
		return e.rec.User.Logins
	}

	p := open()
	// A filter sized for far fewer users: it must grow as they come, and
	// keep every one of them when it does.
	p.known = &knownUsers{f: bloom.NewWithEstimates(8, knownFalsePositives), capacity: 8}
	for i := range users {
		login(p, "u-"+strconv.Itoa(i))
		if i%50 == 49 {
			if err := p.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := p.Flush(); err != nil {
		t.Fatal(err)
	}
	if p.known.capacity < users {
		t.Fatalf("the filter holds %d users at its false-positive rate after %d were stored", p.known.capacity, users)
	}
	for i := range users {
		if u := "u-" + strconv.Itoa(i); !p.known.mayHave(u) {
			t.Fatalf("the grown filter lost stored user %s", u)
		}
	}
	cfg.MaxUsersCached = 0
	p.cool()
	if len(p.hot)+p.cold.len() != 0 {
		t.Fatalf("%d users still in memory after evicting all", len(p.hot)+p.cold.len())
	}
	login(p, "u-7")
	if got := loginsOf(p, "u-7"); got != 2 {
		t.Fatalf("an evicted user came back with %d logins, want 2", got)
	}
	if err := p.Flush(); err != nil {
		t.Fatal(err)
	}

	p = open()
	for i := range users {
		u := "u-" + strconv.Itoa(i)
		want := int64(1)
		if i == 7 {
			want = 2
		}
		if got := loginsOf(p, u); got != want {
			t.Fatalf("after reopening, %s has %d logins, want %d", u, got, want)
		}
	}
	if p.known.mayHave("u-never-seen") && p.known.mayHave("u-never-seen-either") {
		t.Fatalf("the filter holds users that were never stored")
	}
}
