package warnings

import (
	"fmt"
	"math"
	"testing"

	"github.com/lifecycle-engine/lifecycle/processor/rules"
	"github.com/lifecycle-engine/lifecycle/schemas"
)

// TestOutcomesChooseWatch: the watch level is the risk that the share
// recall of the confirmed departures had reached; churns are confirmed
// only confirmWeeks after their week, and a return takes one back out.
func TestOutcomesChooseWatch(t *testing.T) {
	var o Outcomes
	churn := t0 + 3*rules.Day
	for i := range 100 { // risks 0.005, 0.015, …, 0.995: one per bin
		o.depart(churn, (float64(i)+0.5)/100)
	}
	o.Refresh(churn+7*rules.Day, 0.85)
	if _, _, ok := o.Watch(); ok || o.Departures() != 0 {
		t.Fatalf("a week after the churns: watch chosen, %d departures confirmed; want none before %d weeks", o.Departures(), confirmWeeks)
	}
	at := churn + (confirmWeeks+1)*7*rules.Day
	o.Refresh(at, 0.85)
	risk, since, ok := o.Watch()
	if !ok || math.Abs(risk-0.15) > 1e-9 || since != at || o.Departures() != 100 {
		t.Fatalf("watch %v since %v (ok %v) from %d departures; want 0.15 since %v: 85 of 100 reached it", risk, since, ok, o.Departures(), at)
	}
	// Ten low-risk churns come back: they were lapses, not departures.
	for i := range 10 {
		o.undepart(churn, (float64(i)+0.5)/100)
	}
	o.Refresh(at+7*rules.Day, 0.85)
	if risk, since, _ := o.Watch(); math.Abs(risk-0.235) > 1e-9 || since != at+7*rules.Day {
		t.Errorf("after 10 returns: watch %v since %v; want 0.235 (85 %% of the 90 left) since the refresh", risk, since)
	}
	// A refresh that chooses the same level keeps its time.
	o.Refresh(at+14*rules.Day, 0.85)
	if _, s, _ := o.Watch(); s != at+7*rules.Day {
		t.Errorf("an unchanged level moved its time to %v", s)
	}
	// Fewer than MinDepartures: no level of the partition's own.
	var few Outcomes
	for range MinDepartures - 1 {
		few.depart(churn, 0.3)
	}
	if few.Refresh(at, 0.85); func() bool { _, _, ok := few.Watch(); return ok }() {
		t.Errorf("a level chosen from %d departures", MinDepartures-1)
	}
}

func TestOutcomesEncoding(t *testing.T) {
	var o Outcomes
	for i := range 200 {
		o.depart(t0+int64(i)*rules.Day, float64(i%97)/97)
	}
	o.Refresh(t0+150*rules.Day, 0.85)
	b := o.AppendBinary(nil)
	got, err := DecodeOutcomes(b)
	if err != nil || *got != o {
		t.Fatalf("DecodeOutcomes(AppendBinary) = %+v, %v", got, err)
	}
	if fresh, err := DecodeOutcomes(nil); err != nil || *fresh != (Outcomes{}) {
		t.Errorf("DecodeOutcomes(nil) = %+v, %v; want a fresh Outcomes", fresh, err)
	}
	for _, bad := range [][]byte{b[:len(b)-1], append(append([]byte{}, b...), 0), {0x80}} {
		if _, err := DecodeOutcomes(bad); err == nil {
			t.Errorf("DecodeOutcomes(%x…) decoded a corrupt record", bad[:min(8, len(bad))])
		}
	}
}

// TestWatchFromOutcomes: a partition whose departures had low risks warns
// earlier, never before the level took effect, and counts its churns and
// returns through OnEvent and Advance.
func TestWatchFromOutcomes(t *testing.T) {
	o := &Outcomes{}
	c := Config{Outcomes: o}.WithDefaults()
	ctx := Context{Stage: rules.New, PAlive: -1}
	// 60 users who came weekly, then left: 60 departures.
	for u := range 60 {
		var s State
		for i := range 6 {
			c.OnEvent(nil, &s, schemas.Event{ID: fmt.Sprint(u, "-", i), Type: schemas.Login, Time: t0 + int64(i)*7*rules.Day}, ctx)
		}
		c.Advance(nil, &s, ctx, t0+90*rules.Day)
	}
	at := t0 + 140*rules.Day
	o.Refresh(at, c.Recall)
	risk, since, ok := o.Watch()
	if !ok || !(risk < c.Risk[0]) || since != at || o.Departures() != 60 {
		t.Fatalf("watch %v since %v (ok %v) from %d departures: want one below %v since %v", risk, since, ok, o.Departures(), c.Risk[0], at)
	}
	weekly := visits(c, 6, 7*rules.Day)
	fixed := c
	fixed.Outcomes = nil
	weekly.LastActivity = at + rules.Day // silent since after the level changed
	own, was := c.due(&weekly)-weekly.LastActivity, fixed.due(&weekly)-weekly.LastActivity
	if !(own < was) {
		t.Fatalf("watch due after %v ms of silence with the partition's level, %v with the fixed one: want it earlier", own, was)
	}
	// Silent since before the level changed, and due by the new level
	// before then: due when it took effect, not in the past.
	weekly.LastActivity = at - (own+was)/2
	if got := c.due(&weekly); got != at {
		t.Errorf("watch due at %v for a silence that began before the level changed at %v; want %v", got, at, at)
	}
	// A return after the churn takes the departure back.
	var s State
	c.OnEvent(nil, &s, schemas.Event{ID: "r1", Type: schemas.Login, Time: at}, ctx)
	c.Advance(nil, &s, ctx, at+40*rules.Day)
	before := o.pending
	c.OnEvent(nil, &s, schemas.Event{ID: "r2", Type: schemas.Login, Time: at + 50*rules.Day}, ctx)
	if o.pending == before {
		t.Error("a return after the churn left the departure counted")
	}
	var n uint32
	for i := range o.pending {
		for _, c := range o.pending[i] {
			n += c
		}
	}
	if n != 0 {
		t.Errorf("%d departures pending after the only pending one returned", n)
	}
}
