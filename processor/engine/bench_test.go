package engine

import (
	"strconv"
	"testing"

	"github.com/lifecycle-engine/lifecycle/processor/rules"
	"github.com/lifecycle-engine/lifecycle/schemas"
)

// BenchmarkApply applies one login to a cached user (the common
// case of a drain: no Pebble read, usually no transition), including the
// rules step and the bookkeeping around it, but not the commit.
func BenchmarkApply(b *testing.B) {
	cfg := testConfig()
	p, err := New(&cfg, NewMemStore(), 0, 8, &Stats{}, func(Commit) error { return nil })
	if err != nil {
		b.Fatal(err)
	}
	const users = 10_000
	its := make([]*Input, 4096)
	for i := range its {
		u := "u-" + strconv.Itoa(i*7%users)
		its[i] = &Input{Key: []byte(u), Event: schemas.Event{ID: "e-" + strconv.Itoa(i), UserID: u, Type: schemas.Login}}
	}
	ts := int64(1_767_225_600_000)
	// Warm the cache: every user exists.
	for i := range users {
		u := "u-" + strconv.Itoa(i)
		if err := p.Apply(&Input{Offset: int64(i), Event: schemas.Event{ID: "w-" + u, UserID: u, Type: schemas.Login, Time: ts}}); err != nil {
			b.Fatal(err)
		}
	}
	p.pending, p.dirty = p.pending[:0], p.dirty[:0]
	for _, e := range p.hot {
		e.dirty = false
	}
	off := int64(users)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		it := its[i%len(its)]
		ts += 1000
		off++
		it.Offset, it.Event.Time, it.Event.ID = off, ts, "e-"+strconv.FormatInt(off, 10)
		if err := p.Apply(it); err != nil {
			b.Fatal(err)
		}
		if len(p.pending) > 4096 {
			p.pending = p.pending[:0]
		}
	}
}

// BenchmarkTransitionOutput builds one lifecycle.transitions record
// (deterministic id and JSON), which each transition costs on the hot path.
func BenchmarkTransitionOutput(b *testing.B) {
	tr := rules.Transition{From: rules.New, To: rules.Growing, At: 1_767_225_600_000, Reason: "first purchase",
		Trigger: "e-u-000042-17", Purchases: 1, LastPurchase: 1_767_225_600_000}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := transitionOutput("lifecycle.transitions", "u-000042", tr, nil, nil); err != nil {
			b.Fatal(err)
		}
	}
}
