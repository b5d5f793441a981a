package warnings

import (
	"fmt"
	"math"
	"math/bits"
	"reflect"
	"testing"
	"time"

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
		o.depart(churn, i, silence{warned: 0, kind: 0, chance: 0.1})
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
		o.undepart(churn, i, silence{warned: 0, kind: 0}, at)
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
		few.depart(churn, 30, silence{warned: 0, kind: 0, chance: 0.1})
	}
	if few.Refresh(at, 0.85); func() bool { _, _, ok := few.Watch(); return ok }() {
		t.Errorf("a level chosen from %d departures", MinDepartures-1)
	}
}

func TestOutcomesEncoding(t *testing.T) {
	var o Outcomes
	for i := range 200 {
		o.depart(t0+int64(i)*rules.Day, bin(float64(i%97)/97), silence{warned: uint8(i % 4), kind: i % 3 / 2, chance: float64(i%10) / 10, class: i % ScoreClasses})
		o.first.returnAfter(int64(i) * 3 * time.Hour.Milliseconds())
		if i%7 == 0 {
			o.first.depart()
		}
		if i%2 == 0 {
			o.stay(t0+int64(i)*rules.Day, silence{warned: 0b001, class: i % 4 / 2 * 2})
		}
	}
	o.Refresh(t0+150*rules.Day, 0.85)
	o.first.returnAfter(rules.Day) // after the Refresh: counted, not yet used
	seeBreak(&o, 2, 1000)
	b := o.AppendBinary(nil)
	got, err := DecodeOutcomes(b)
	if err != nil || !reflect.DeepEqual(*got, o) {
		t.Fatalf("DecodeOutcomes(AppendBinary) = %+v, %v", got, err)
	}
	if o.hazard == [2]int64{} || o.expected == [2]uint64{} || o.first.longer[0] == 0 || o.first.atRefresh == o.first.returned || o.classScore[2][0] == 0 || len(o.SeenBreaks()) == 0 {
		t.Fatal("no hazards, chances, first silences, class scores or seen breaks: the encoding test does not cover them")
	}
	// Stored before the seen breaks: the same record without them.
	noSeen := o
	noSeen.seen = seenDays{}
	bs := noSeen.AppendBinary(nil)
	if got, err := DecodeOutcomes(bs[:len(bs)-1]); err != nil || !reflect.DeepEqual(*got, noSeen) {
		t.Errorf("an encoding from before the seen breaks: %+v, %v; want %+v", got, err, noSeen)
	}
	// Stored before the score classes: the same record without them.
	noClasses := noSeen
	noClasses.classScore = [ScoreClasses][3]int64{}
	noClasses.early = [3][2]uint32{}
	for _, t := range noClasses.tallies() {
		t.class = [ScoreClasses][3][2]uint32{}
	}
	b0 := noClasses.AppendBinary(nil)
	b0 = b0[:len(b0)-1-(1+pendingWeeks)-ScoreClasses*3-6] // a zero count per tally, then the zero scores and early counts
	if got, err := DecodeOutcomes(b0); err != nil || !reflect.DeepEqual(*got, noClasses) {
		t.Errorf("an encoding from before the score classes: %+v, %v; want %+v", got, err, noClasses)
	}
	// Stored before the first silences: the same record without them.
	noFirst := noClasses
	noFirst.first = firstSilences{}
	b1 := noFirst.AppendBinary(nil)
	b1 = b1[:len(b1)-1-(1+pendingWeeks)-ScoreClasses*3-6-4] // four zero uvarints before the classes
	if got, err := DecodeOutcomes(b1); err != nil || !reflect.DeepEqual(*got, noFirst) {
		t.Errorf("an encoding from before the first silences: %+v, %v; want %+v", got, err, noFirst)
	}
	// Stored before the silences' chances: the same record without them,
	// whose ended silences are then the unweighed ones.
	noChances := noFirst
	noChances.expected = [2]uint64{}
	b2 := noChances.AppendBinary(nil)
	b2 = b2[:len(b2)-1-(1+pendingWeeks)-ScoreClasses*3-6-8] // eight zero uvarints before the classes
	noChances.unweighed = noChances.ended
	if got, err := DecodeOutcomes(b2); err != nil || !reflect.DeepEqual(*got, noChances) {
		t.Errorf("an encoding from before the silences' chances: %+v, %v; want %+v", got, err, noChances)
	}
	// Stored before the kinds of visit: the same record without them.
	old := noChances
	old.ended, old.unweighed, old.hazard, old.confirmed.after = [2]uint64{}, [2]uint64{}, [2]int64{}, [2]uint32{}
	for i := range old.pending {
		old.pending[i].after = [2]uint32{}
	}
	short := old.AppendBinary(nil)
	short = short[:len(short)-1-2*(3+pendingWeeks)-8-(1+pendingWeeks)-ScoreClasses*3-6]
	if got, err := DecodeOutcomes(short); err != nil || !reflect.DeepEqual(*got, old) {
		t.Errorf("an encoding from before the kinds of visit: %+v, %v; want %+v", got, err, old)
	}
	if fresh, err := DecodeOutcomes(nil); err != nil || !reflect.DeepEqual(*fresh, Outcomes{}) {
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
	// A return after the churn takes the departure back, and counts its
	// silence, with the levels it reached, as one that ended in a return.
	var s State
	c.OnEvent(nil, &s, schemas.Event{ID: "r1", Type: schemas.Login, Time: at}, ctx)
	c.Advance(nil, &s, ctx, at+40*rules.Day)
	warned := bits.OnesCount8(s.Warned)
	if s.ChurnedAt == 0 || warned == 0 {
		t.Fatalf("after 40 quiet days: churned at %v with %d levels warned; want a churn after warnings", s.ChurnedAt, warned)
	}
	c.OnEvent(nil, &s, schemas.Event{ID: "r2", Type: schemas.Login, Time: at + 50*rules.Day}, ctx)
	var departed, left, stayed uint32
	for i := range o.pending {
		for _, n := range o.pending[i].departed {
			departed += n
		}
		for l := range 3 {
			left += o.pending[i].left[l]
			stayed += o.pending[i].stayed[l]
		}
	}
	if departed != 0 || left != 0 || stayed != uint32(warned) {
		t.Errorf("pending after the only pending churn returned: %d departed, %d levels left, %d stayed; want 0, 0, %d", departed, left, stayed, warned)
	}
}

// TestLevelScoresByClass: a warning's score is its class's share of
// departures pooled with the partition's, worth MinLevelSilences
// silences: first silences that mostly end in a return score low, a
// learned rhythm's silences that mostly end in a departure score high, and
// a class without silences scores the partition's share. The class is
// how much of the rhythm the user's own gaps gave.
func TestLevelScoresByClass(t *testing.T) {
	var o Outcomes
	end := t0 + 3*rules.Day
	for i := range 60 {
		first, learned := silence{warned: 0b001, class: 0}, silence{warned: 0b001, class: 2}
		if i < 6 { // 6 of 60 first silences left
			o.depart(end, 50, first)
		} else {
			o.stay(end, first)
		}
		if i < 54 { // 54 of 60 of a learned rhythm left
			o.depart(end, 50, learned)
		} else {
			o.stay(end, learned)
		}
	}
	o.Refresh(end+7*rules.Day, 0.85)
	// The partition: 60 of 120, 0.5.
	for _, tc := range []struct {
		class int
		want  float64
	}{{0, (6 + 30*0.5) / 90}, {1, 0.5}, {2, (54 + 30*0.5) / 90}} {
		if got := o.Score(Watch, tc.class, 0.4); math.Abs(got-tc.want) > 1e-6 {
			t.Errorf("class %d: watch scored %v, want %v", tc.class, got, tc.want)
		}
		if got := o.Score(AtRisk, tc.class, 0.7); got != 0.7 {
			t.Errorf("class %d: at_risk, without silences, scored %v; want the risk 0.7", tc.class, got)
		}
	}
	c := Config{}.WithDefaults()
	for gaps, want := range []int{0, 1, 1, 2, 2} {
		if got := c.scoreClass(&State{Gaps: uint32(gaps)}); got != want {
			t.Errorf("%d gaps: class %d, want %d", gaps, got, want)
		}
	}
}

// TestLevelScores: a level's score is the share of the silences that
// warned at it and ended in a departure, once MinLevelSilences have ended,
// and never below a lower level's.
func TestLevelScores(t *testing.T) {
	var o Outcomes
	end := t0 + 3*rules.Day
	for i := range 100 {
		switch {
		case i < 40: // reached watch only: 10 of 40 left
			if i < 10 {
				o.depart(end, 50, silence{warned: 0b001, kind: 0, chance: 0.1})
			} else {
				o.stay(end, silence{warned: 0b001, kind: 0, chance: 0.1})
			}
		case i < 80: // reached at_risk: 20 of 40 left
			if i < 60 {
				o.depart(end, 50, silence{warned: 0b011, kind: 0, chance: 0.1})
			} else {
				o.stay(end, silence{warned: 0b011, kind: 0, chance: 0.1})
			}
		default: // reached critical: 8 of 20 left
			if i < 88 {
				o.depart(end, 50, silence{warned: 0b111, kind: 0, chance: 0.1})
			} else {
				o.stay(end, silence{warned: 0b111, kind: 0, chance: 0.1})
			}
		}
	}
	if got := o.Score(Watch, 2, 0.4); got != 0.4 {
		t.Errorf("watch scored %v before a refresh; want the risk 0.4", got)
	}
	// A week later the churns are not confirmed (no watch level of the
	// partition's own yet), but the scores count them already.
	o.Refresh(end+7*rules.Day, 0.85)
	if got, _, ok := o.Watch(); ok || o.Departures() != 0 {
		t.Errorf("watch level %v from %d confirmed departures a week after the churns; want none", got, o.Departures())
	}
	if got := o.Score(Watch, 2, 0.9); math.Abs(got-0.38) > 1e-6 {
		t.Errorf("watch scored %v a week after the churns; want 0.38 from the churns not yet confirmed", got)
	}
	o.Refresh(end+(confirmWeeks+1)*7*rules.Day, 0.85)
	// watch: 38 of 100 left; at_risk: 28 of 60; critical has 20
	// silences, fewer than MinLevelSilences: their share, with the risk
	// standing in for the 10 not ended yet.
	for _, tc := range []struct {
		l    Level
		want float64
	}{{Watch, 0.38}, {AtRisk, 28.0 / 60}, {Critical, (8 + 10*0.9) / 30}} {
		if got := o.Score(tc.l, 2, 0.9); math.Abs(got-tc.want) > 1e-6 {
			t.Errorf("%v scored %v, want %v", tc.l, got, tc.want)
		}
	}
	// A partial level never claims less than the level below.
	if got := o.Score(Critical, 2, 0.1); math.Abs(got-28.0/60) > 1e-6 {
		t.Errorf("critical scored %v at the risk 0.1; want at_risk's %v", got, 28.0/60)
	}
	// With 20 more critical silences (2 left), critical's share is below
	// at_risk's: the two are pooled.
	for i := range 20 {
		if i < 2 {
			o.depart(end, 50, silence{warned: 0b111, kind: 0, chance: 0.1})
		} else {
			o.stay(end, silence{warned: 0b111, kind: 0, chance: 0.1})
		}
	}
	o.Refresh(end+(confirmWeeks+1)*7*rules.Day, 0.85)
	// at_risk: 30 of 80 left; critical: 10 of 40, below it: pooled, 40 of 120.
	if a, c := o.Score(AtRisk, 2, 0.9), o.Score(Critical, 2, 0.9); math.Abs(a-40.0/120) > 1e-6 || a != c {
		t.Errorf("at_risk %v, critical %v: want both 40/120, pooled", a, c)
	}
}

// TestCooledDownLevelNotScored: a level's score counts the silences
// whose warning went out, as evaluate counts warnings. A second long
// silence within the cool-down reaches watch without a warning, so its
// return counts for no level.
func TestCooledDownLevelNotScored(t *testing.T) {
	o := &Outcomes{}
	c := Config{Outcomes: o}.WithDefaults()
	ctx := Context{Stage: rules.New, PAlive: -1}
	s := visits(c, 8, rules.Day) // a daily user
	stayed := func() (n [3]uint32) {
		for i := range o.pending {
			for l := range 3 {
				n[l] += o.pending[i].stayed[l]
			}
		}
		return n
	}
	var want [3]uint32
	at := s.LastActivity
	for silence := range 2 {
		due := c.due(&s)
		ws := c.Advance(nil, &s, ctx, due+1)
		if s.Fired == 0 {
			t.Fatalf("silence %d: no level came due by %v", silence, due+1)
		}
		if warned := len(ws) > 0; warned != (silence == 0) || (s.Warned != 0) != warned {
			t.Fatalf("silence %d: warnings %+v, Warned %b; want one warning in the first silence only (the cool-down holds the second)", silence, ws, s.Warned)
		}
		if silence == 0 {
			want[0]++
		}
		at = due + 2
		c.OnEvent(nil, &s, schemas.Event{ID: fmt.Sprint("back", silence), Type: schemas.Login, Time: at}, ctx)
		if got := stayed(); got != want {
			t.Fatalf("after the return from silence %d: %v silences counted as stayed per level; want %v", silence, got, want)
		}
	}
}

// TestWatchFloor: departures that all had a tiny risk do not bring the
// watch level below minWatch.
func TestWatchFloor(t *testing.T) {
	o := &Outcomes{}
	for range MinDepartures {
		o.depart(t0, 0, silence{warned: 0, kind: 0, chance: 0.1})
	}
	o.Refresh(t0+(confirmWeeks+1)*7*rules.Day, 0.85)
	if w, _, _ := o.Watch(); w >= minWatch {
		t.Fatalf("watch %v chosen from departures at 0.001: want it below %v for this test", w, minWatch)
	}
	c := Config{Outcomes: o}.WithDefaults()
	s := visits(c, 6, 7*rules.Day)
	s.LastActivity = t0 + 100*rules.Day
	if got, want := c.due(&s), s.LastActivity+c.riskDue(&s, minWatch); got != want {
		t.Errorf("watch due %v, want %v: at the floor's risk", got, want)
	}
}

// TestHazardByKindOfVisit: in a partition whose users leave after a
// purchase and lapse after a login, a silence after a purchase comes due
// sooner than the same silence after a login; a partition where the kinds
// do not differ keeps them at 1. A return takes back the bin its churn was
// counted in, whatever the hazards became since.
func TestHazardByKindOfVisit(t *testing.T) {
	o := &Outcomes{}
	c := Config{Outcomes: o}.WithDefaults()
	ctx := Context{Stage: rules.New, PAlive: -1}
	if o.Hazard(0) != 1 || o.Hazard(1) != 1 {
		t.Fatalf("hazards %v, %v before any departure; want 1", o.Hazard(0), o.Hazard(1))
	}
	// 200 users visit weekly; half of them buy at their 6th visit and
	// leave, the others come back after every visit.
	for u := range 200 {
		var s State
		for i := range 6 {
			typ := schemas.Login
			if i == 5 && u%2 == 0 {
				typ = schemas.Purchase
			}
			c.OnEvent(nil, &s, schemas.Event{ID: fmt.Sprint(u, "-", i), Type: typ, Time: t0 + int64(i)*7*rules.Day}, ctx)
		}
		if u%2 == 1 {
			c.OnEvent(nil, &s, schemas.Event{ID: fmt.Sprint(u, "-b"), Type: schemas.Login, Time: t0 + 6*7*rules.Day}, ctx)
			continue
		}
		c.Advance(nil, &s, ctx, t0+90*rules.Day)
	}
	at := t0 + 140*rules.Day
	o.Refresh(at, c.Recall)
	if !(o.Hazard(1) > 2 && o.Hazard(0) < 0.5) {
		t.Fatalf("hazards after a login %v, after a purchase %v: want departures after purchases to weigh more", o.Hazard(0), o.Hazard(1))
	}
	weekly := visits(c, 6, 7*rules.Day)
	weekly.LastActivity = at + rules.Day
	bought := weekly
	bought.Bought = true
	if a, b := c.due(&bought), c.due(&weekly); !(a < b) {
		t.Errorf("watch due %v after a purchase, %v after a login: want the purchase's sooner", a, b)
	}

	// A churn, a change of the hazards, a return: the departure is taken
	// back from the bin it was counted in.
	var s State
	c.OnEvent(nil, &s, schemas.Event{ID: "r1", Type: schemas.Purchase, Time: at}, ctx)
	c.Advance(nil, &s, ctx, at+40*rules.Day)
	if s.ChurnBin == 0 || !s.Bought {
		t.Fatalf("after a churn: bin %d, bought %v; want the bin kept and the visit's kind", s.ChurnBin, s.Bought)
	}
	o.hazard = [2]int64{1e6, 1e6} // as if the partition had learned otherwise meanwhile
	c.OnEvent(nil, &s, schemas.Event{ID: "r2", Type: schemas.Login, Time: at + 50*rules.Day}, ctx)
	for i := range o.pending {
		for b, n := range o.pending[i].departed {
			if n != 0 {
				t.Errorf("pending departures in bin %d after the only pending churn returned: %d", b, n)
			}
		}
		if o.pending[i].after != [2]uint32{} {
			t.Errorf("pending departures by kind after the return: %v", o.pending[i].after)
		}
	}

	// Kinds that do not differ keep the hazards near 1.
	even := &Outcomes{}
	c.Outcomes = even
	for u := range 200 {
		var s State
		for i := range 6 {
			typ := schemas.Login
			if i%2 == u%2 {
				typ = schemas.Purchase
			}
			c.OnEvent(nil, &s, schemas.Event{ID: fmt.Sprint(u, "-", i), Type: typ, Time: t0 + int64(i)*7*rules.Day}, ctx)
		}
		c.Advance(nil, &s, ctx, t0+90*rules.Day)
	}
	even.Refresh(at, c.Recall)
	for k := range 2 {
		if h := even.Hazard(k); math.Abs(h-1) > 0.2 {
			t.Errorf("hazard of kind %d is %v where the kinds do not differ; want about 1", k, h)
		}
	}
}

// TestHazardsWeighTheSilencesChances: where the kinds of visit differ
// only in how long their users' gaps are, and the departures follow the
// chances the rhythm model gave each silence, the kinds' hazards stay at
// 1: the model already expected more departures of the long gaps. Shared
// out by the silences' number, the slow users' kind would count as
// likelier to be the last (0.31 and 1.69 here).
func TestHazardsWeighTheSilencesChances(t *testing.T) {
	var o Outcomes
	for i := range 1000 {
		end := t0 + int64(i%50)*rules.Day
		if i%100 == 0 {
			o.depart(end, 50, silence{warned: 0, kind: 0, chance: 0.01}) // fast users: 1 in 100 of their silences
		} else {
			o.stay(end, silence{warned: 0, kind: 0, chance: 0.01})
		}
		if i%10 == 0 {
			o.depart(end, 50, silence{warned: 0, kind: 1, chance: 0.1}) // slow users: 1 in 10
		} else {
			o.stay(end, silence{warned: 0, kind: 1, chance: 0.1})
		}
	}
	o.Refresh(t0+120*rules.Day, 0)
	for k := range 2 {
		if h := o.Hazard(k); math.Abs(h-1) > 0.05 {
			t.Errorf("hazard of kind %d is %v; want about 1: the departures followed the model's chances", k, h)
		}
	}
	// A state stored before the chances: its silences weigh the average
	// chance of those after, so that a few new ones do not swing the
	// shares (here a single new silence, of kind 1).
	up := Outcomes{ended: [2]uint64{1000, 1000}, unweighed: [2]uint64{1000, 1000}}
	up.confirmed.after = [2]uint32{100, 100}
	up.stay(t0, silence{warned: 0, kind: 1, chance: 0.5})
	up.Refresh(t0+120*rules.Day, 0)
	for k := range 2 {
		if h := up.Hazard(k); math.Abs(h-1) > 0.05 {
			t.Errorf("after an upgrade and one new silence, hazard of kind %d is %v; want about 1", k, h)
		}
	}
}

// TestDepartureRiskWithoutBreaks: a departure is counted in the watch
// level's choice at the risk its silence reached Lead before the churn
// as if none of its days had been a break, so that a break (or many
// users leaving at once, seen as one) does not pull the level down:
// two weekly users who leave alike fall in one bin, though ten days of
// the first one's silence were a break.
func TestDepartureRiskWithoutBreaks(t *testing.T) {
	o := &Outcomes{}
	c := Config{Outcomes: o, Breaks: []Span{{From: t0 + 38*rules.Day, To: t0 + 48*rules.Day}}}.WithDefaults()
	ctx := Context{Stage: rules.New, PAlive: -1}
	for u := range 2 {
		var s State
		start := t0 + int64(u)*100*rules.Day // the second one's silence holds no break
		for i := range 6 {
			c.OnEvent(nil, &s, schemas.Event{ID: fmt.Sprint(u, "-", i), Type: schemas.Login, Time: start + int64(i)*7*rules.Day}, ctx)
		}
		c.Advance(nil, &s, ctx, start+80*rules.Day)
		if s.ChurnedAt == 0 {
			t.Fatalf("user %d did not churn", u)
		}
	}
	bins := map[int]uint32{}
	for _, p := range o.pending {
		for b, n := range p.departed {
			if n > 0 {
				bins[b] += n
			}
		}
	}
	if len(bins) != 1 {
		t.Errorf("the two departures fall in bins %v; want one bin for both", bins)
	}
}
