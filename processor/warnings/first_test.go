package warnings

import (
	"fmt"
	"math"
	"testing"

	"github.com/lifecycle-engine/lifecycle/processor/rules"
	"github.com/lifecycle-engine/lifecycle/schemas"
)

// TestFirstSilenceRiskIsThePartitions: a first visit tells nothing of the
// user's rhythm, so how likely a first silence is to be a departure is
// the partition's to say. Where users try once and leave, a one-visit
// user's silence soon reaches a high risk; where everyone comes back, if
// slowly (BG/NBD: nobody leaves at the first purchase), it stays low and
// the watch level comes later. The counts come from OnEvent and Advance
// (returns, churns, a return after a churn) and change the risk only at
// Refresh; a user with gaps keeps the rhythm model's risk.
func TestFirstSilenceRiskIsThePartitions(t *testing.T) {
	ctx := Context{Stage: rules.New, PAlive: -1}
	login := func(c Config, s *State, id string, at int64) {
		c.OnEvent(nil, s, schemas.Event{ID: id, Type: schemas.Login, Time: at}, ctx)
	}
	// partition fills a partition's outcomes: per user one visit, then a
	// return after returnAfter days, or (when leave says so) a churn.
	partition := func(returnAfter int64, leave func(u int) bool) Config {
		c := Config{Outcomes: &Outcomes{}}.WithDefaults()
		for u := range 100 {
			var s State
			login(c, &s, fmt.Sprint(u, "-0"), t0)
			if leave(u) {
				c.Advance(nil, &s, ctx, t0+40*rules.Day)
				continue
			}
			login(c, &s, fmt.Sprint(u, "-1"), t0+returnAfter*rules.Day)
		}
		return c
	}
	triesOnce := partition(1, func(u int) bool { return u%2 == 0 }) // half leave; the others come back the next day
	comesBack := partition(20, func(u int) bool { return u == 0 })  // all but one come back, after 20 days
	var one State
	login(triesOnce, &one, "new", t0+100*rules.Day)
	silence := 3 * rules.Day
	model := Config{}.WithDefaults().riskAt(&one, silence)
	for _, c := range []Config{triesOnce, comesBack} {
		if got := c.riskAt(&one, silence); got != model {
			t.Fatalf("risk before the partition's Refresh: %v; want the rhythm model's %v", got, model)
		}
	}
	at := t0 + 100*rules.Day
	triesOnce.Outcomes.Refresh(at, triesOnce.Recall)
	comesBack.Outcomes.Refresh(at, comesBack.Recall)
	// Of the first silences longer than 3 days, 50 of 50 were churns in the
	// one, 1 of 100 in the other; each pooled with firstPrior at the model.
	if got, want := triesOnce.riskAt(&one, silence), (50+firstPrior*model)/(50+firstPrior); math.Abs(got-want) > 1e-9 {
		t.Errorf("risk after 3 days where half try once: %v, want %v", got, want)
	}
	if got, want := comesBack.riskAt(&one, silence), (1+firstPrior*model)/(1+99+firstPrior); math.Abs(got-want) > 1e-9 {
		t.Errorf("risk after 3 days where all but one come back after 20: %v, want %v", got, want)
	}
	one.LastActivity = at + rules.Day // silent since after the Refresh
	soon, late := triesOnce.due(&one)-one.LastActivity, comesBack.due(&one)-one.LastActivity
	if !(soon < late) {
		t.Errorf("watch due after %v ms where users try once, %v where they come back: want it sooner where they try once", soon, late)
	}
	// A user with gaps keeps the model's risk.
	regular := visits(triesOnce, 4, 2*rules.Day)
	plain := triesOnce
	plain.Outcomes = nil
	if got, want := triesOnce.riskAt(&regular, silence), plain.riskAt(&regular, silence); got != want {
		t.Errorf("risk of a user with gaps: %v, want the model's %v", got, want)
	}
	// A return after the churn takes the churn back and counts the
	// return by its length.
	f := &comesBack.Outcomes.first
	before := f.departed
	var back State
	login(comesBack, &back, "b0", at)
	comesBack.Advance(nil, &back, ctx, at+40*rules.Day)
	if f.departed != before+1 {
		t.Fatalf("%d first silences ended in a churn after one more, want %d", f.departed, before+1)
	}
	login(comesBack, &back, "b1", at+50*rules.Day)
	if f.departed != before || f.returned[firstBin(50*rules.Day)] != 1 {
		t.Errorf("after the return: %d churns (want %d), %d returns after 50 days (want 1)", f.departed, before, f.returned[firstBin(50*rules.Day)])
	}
}

// TestFirstBin: eight bins per doubling of the silence's minutes, rising
// with it, the longest sharing the last.
func TestFirstBin(t *testing.T) {
	prev := -1
	for ms := int64(0); ms < 5*365*rules.Day; ms = ms*9/8 + 60000 {
		b := firstBin(ms)
		if b < prev || b >= firstBins {
			t.Fatalf("firstBin(%d) = %d after %d: want rising, below %d", ms, b, prev, firstBins)
		}
		prev = b
	}
	if got := firstBin(5 * 365 * rules.Day); got != firstBins-1 {
		t.Errorf("five years in bin %d, want the last (%d)", got, firstBins-1)
	}
	if a, b := firstBin(16*60000), firstBin(32*60000); b-a != 8 {
		t.Errorf("16 and 32 minutes %d bins apart, want 8", b-a)
	}
}

// BenchmarkFirstSilenceWake: the due time of a one-visit user's watch,
// from the partition's first silences (a search) and from the rhythm
// model alone (closed form), as Wake computes it after each event.
func BenchmarkFirstSilenceWake(b *testing.B) {
	o := &Outcomes{}
	for i := range 1000 {
		o.first.returnAfter(int64(i%60) * 6 * 3600 * 1000)
		if i%3 == 0 {
			o.first.depart()
		}
	}
	o.Refresh(t0, 0.85)
	ctx := Context{Stage: rules.New, PAlive: -1}
	for _, bc := range []struct {
		name string
		o    *Outcomes
	}{{"partition", o}, {"model", &Outcomes{}}} {
		b.Run(bc.name, func(b *testing.B) {
			c := Config{Outcomes: bc.o}.WithDefaults()
			var s State
			c.OnEvent(nil, &s, schemas.Event{ID: "e", Type: schemas.Login, Time: t0}, ctx)
			for b.Loop() {
				c.Wake(&s, ctx)
			}
		})
	}
}
