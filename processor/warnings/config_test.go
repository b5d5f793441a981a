package warnings

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/lifecycle-engine/lifecycle/processor/rules"
	"github.com/lifecycle-engine/lifecycle/schemas"
)

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		c    Config
		want string // substring of the error; "" for valid
	}{
		{Config{}, ""},
		{Config{Risk: [3]float64{0.2, 0.5, 0.99}}, ""},
		{Config{ChurnAfter: -time.Hour}, "ChurnAfter"},
		{Config{Cooldown: -1}, "Cooldown"},
		{Config{Lifetime: time.Minute}, "Lifetime"},
		{Config{TenureWeight: -1}, "TenureWeight"},
		{Config{PriorGap: time.Second}, "PriorGap"},
		{Config{PriorSpread: -1}, "PriorSpread"},
		{Config{PriorWeight: math.NaN()}, "PriorWeight"},
		{Config{MinGap: -time.Hour}, "MinGap"},
		{Config{PAliveBelow: 2}, "PAliveBelow"},
		{Config{QuietAfter: -time.Hour}, "QuietAfter"},
		{Config{Risk: [3]float64{0.5, 0.4, 0.9}}, "Risk[1] (at_risk)"},
		{Config{Risk: [3]float64{0.5, 0.7, 1}}, "Risk[2] (critical)"},
		{Config{Risk: [3]float64{0, 0.7, 0.8}}, "Risk[0] (watch)"},
	} {
		err := tc.c.Validate()
		if got := fmt.Sprint(err); (tc.want == "") != (err == nil) || !strings.Contains(got, tc.want) {
			t.Errorf("Validate(%+v) = %v, want error containing %q", tc.c, err, tc.want)
		}
	}
	if d := (Config{}).WithDefaults(); d.Risk != DefaultRisk || d.ChurnAfter != rules.DefaultChurnAfter || d.Cooldown != DefaultCooldown {
		t.Errorf("WithDefaults: %+v", d)
	}
}

const t0 = int64(1_767_225_600_000) // 2026-01-01 00:00 UTC

// visits applies n logins every gap from t0 and returns the state.
func visits(c Config, n int, gap int64) State {
	var s State
	ctx := Context{Stage: rules.New, PAlive: -1}
	for i := range n {
		c.OnEvent(nil, &s, schemas.Event{ID: fmt.Sprint("e", i), Type: schemas.Login, Time: t0 + int64(i)*gap}, ctx)
	}
	return s
}

func TestWake(t *testing.T) {
	c := Config{}.WithDefaults()
	day := rules.Day
	ctx := Context{Stage: rules.New, PAlive: -1}
	var s State
	if w := c.Wake(&s, Context{Stage: rules.None}); w != 0 {
		t.Errorf("stage none: wake %d, want 0", w)
	}
	if w := c.Wake(&s, ctx); w != 0 {
		t.Errorf("no event yet: wake %d, want 0", w)
	}
	// A first visit: the prior speaks, and says little; the watch comes
	// before the churn, the other levels after it.
	s = visits(c, 1, 0)
	if w := c.riskDue(&s, c.Risk[0]); w < day || w > 20*day || c.riskDue(&s, c.Risk[1]) < 30*day {
		t.Errorf("after a first visit the watch is due after %.1f days, at_risk after %.1f; want 1-20 and beyond the churn", float64(w)/float64(day), float64(c.riskDue(&s, c.Risk[1]))/float64(day))
	}
	// A user who came daily for two weeks: all levels before the churn.
	s = visits(c, 15, day)
	last := s.LastActivity
	var due [3]int64
	for i := range due {
		due[i] = last + c.riskDue(&s, c.Risk[i])
	}
	if !(last < due[0] && due[0] < due[1] && due[1] < due[2] && due[2] < last+30*day) {
		t.Fatalf("levels due at %v after the last visit at %d: want increasing, before the churn at %d", due, last, last+30*day)
	}
	if w := c.Wake(&s, ctx); w != due[0] {
		t.Errorf("after the first event: wake %d, want the watch due %d", w, due[0])
	}
	// Stream time exactly at the due time: not yet passed.
	if ws := c.Advance(nil, &s, ctx, due[0]); len(ws) != 0 {
		t.Errorf("at the due time: got %v", ws)
	}
	ws := c.Advance(nil, &s, ctx, due[0]+1)
	if len(ws) != 1 || ws[0].Level != Watch || ws[0].At != due[0] || ws[0].ChurnAt != last+30*day {
		t.Fatalf("watch: got %+v", ws)
	}
	if r := ws[0].Score; math.Abs(r-c.Risk[0]) > 0.01 {
		t.Errorf("watch score %v, want the watch risk %v", r, c.Risk[0])
	}
	if w := c.Wake(&s, ctx); w != due[1] {
		t.Errorf("after the watch: wake %d, want the at-risk due %d", w, due[1])
	}
	// Wake is a pure query.
	before := s
	c.Wake(&s, ctx)
	if s != before {
		t.Error("Wake changed the state")
	}
	// After the churn: no wake at all.
	ws = c.Advance(nil, &s, ctx, last+31*day)
	if len(ws) != 2 || s.ChurnedAt != last+30*day {
		t.Fatalf("at_risk, critical and the churn: got %+v, state %+v", ws, s)
	}
	if w := c.Wake(&s, Context{Stage: rules.Churned}); w != 0 {
		t.Errorf("churned: wake %d, want 0", w)
	}
	// A user the stage model knew before the warnings: started from its last activity.
	var fresh State
	first := visits(c, 1, 0)
	if w, want := c.Wake(&fresh, Context{Stage: rules.Mature, LastActivity: t0}), c.Wake(&first, ctx); w != want {
		t.Errorf("bootstrap: wake %d, want that of a first visit then, %d", w, want)
	}
}

// TestRhythm: the same silence means more for a user who comes daily than
// for one who comes weekly, and the risk rises with the silence.
func TestRhythm(t *testing.T) {
	c := Config{}.WithDefaults()
	daily := visits(c, 30, rules.Day)
	weekly := visits(c, 8, 7*rules.Day)
	if mu, _, _ := c.gapModel(&daily); math.Abs(math.Exp(mu)-24) > 6 {
		t.Errorf("daily user: usual gap %.1f h, want about 24", math.Exp(mu))
	}
	d, w := c.riskDue(&daily, c.Risk[0]), c.riskDue(&weekly, c.Risk[0])
	if !(d < w) || d > 10*rules.Day {
		t.Errorf("watch after %.1f days for a daily user, %.1f for a weekly one: want the daily user's earlier, within 10 days", float64(d)/float64(rules.Day), float64(w)/float64(rules.Day))
	}
	prev := 0.0
	for days := 1; days <= 30; days++ {
		r := c.riskAt(&daily, int64(days)*rules.Day)
		if r < prev || r < 0 || r > 1 {
			t.Fatalf("daily user's risk after %d days: %v, after one day less %v: want rising in [0, 1]", days, r, prev)
		}
		prev = r
	}
	for _, r := range c.Risk {
		if got := c.riskAt(&daily, c.riskDue(&daily, r)); math.Abs(got-r) > 0.01 {
			t.Errorf("risk at the silence where it should be %v: %v", r, got)
		}
	}
	// Tenure: the same rhythm after a year is a smaller risk than after a month.
	old := daily
	old.First -= 365 * rules.Day
	if a, b := c.riskAt(&old, 5*rules.Day), c.riskAt(&daily, 5*rules.Day); !(a < b) {
		t.Errorf("risk after 5 quiet days: %v for a user of a year, %v for one of a month; want the older one's lower", a, b)
	}
}

func TestStateEncoding(t *testing.T) {
	s := State{LastActivity: t0, ChurnedAt: 0, Fired: 2, Open: 1<<rInactive | 1<<rValuableQuiet, OpenAt: t0 + 123,
		Gaps: 17, GapLog: 3178, GapVar: 1210, First: t0 - 90*rules.Day, ChurnBin: 42, Bought: true, Warned: 0b010}
	s.LastAt[rInactive], s.LastLevel[rInactive] = t0+123, uint8(AtRisk)
	b := s.AppendBinary([]byte("x"))
	got, rest, err := DecodeState(b[1:])
	if err != nil || got != s || len(rest) != 0 {
		t.Fatalf("round trip: %+v, %q, %v; want %+v", got, rest, err, s)
	}
	if _, _, err := DecodeState(b[1 : len(b)-3]); err == nil {
		t.Error("truncated state decoded")
	}
	if _, _, err := DecodeState([]byte{9}); err == nil {
		t.Error("unknown version decoded")
	}
	var zero State
	if n := len(zero.AppendBinary(nil)); n > 32 {
		t.Errorf("zero state takes %d bytes", n)
	}
}

// TestStateVersion2 reads a state written before the kind of the last
// visit: everything else is kept; the visit counts as one without a
// purchase, a churn's bin as not known, and every level that came due as
// warned (as a level's score counted them then).
func TestStateVersion2(t *testing.T) {
	want := State{LastActivity: t0, ChurnedAt: t0 + 30*rules.Day, Fired: 2, Warned: 0b011, Gaps: 5, GapLog: 3000, GapVar: 900, First: t0 - rules.Day}
	b := want.AppendBinary(nil)
	b = b[:len(b)-3] // version 4 ends with Bought, ChurnBin and Warned
	b[0] = 2
	got, rest, err := DecodeState(append(b, 'z'))
	if err != nil || got != want || string(rest) != "z" {
		t.Fatalf("version 2: %+v, rest %q, %v; want %+v", got, rest, err, want)
	}
}

// TestStateVersion1 reads a state written before the rhythm model: the
// retired falling_* fields are skipped and their open bits dropped.
func TestStateVersion1(t *testing.T) {
	v := []byte{1}
	v = binary.AppendVarint(v, t0)    // LastActivity
	v = binary.AppendVarint(v, 0)     // ChurnedAt
	v = binary.AppendVarint(v, t0-5)  // PeriodStart
	v = binary.AppendUvarint(v, 7)    // Periods
	v = binary.AppendUvarint(v, 3)    // Visits
	v = binary.AppendUvarint(v, 1)    // Purchases
	v = binary.AppendVarint(v, 19e6)  // Spend
	v = binary.AppendVarint(v, 16250) // BaseVisits
	v = binary.AppendVarint(v, 500)   // BasePurchases
	v = binary.AppendVarint(v, 12e6)  // BaseSpend
	v = binary.AppendUvarint(v, 1)    // Fired
	v = binary.AppendUvarint(v, 1<<rInactive|1<<1)
	v = binary.AppendVarint(v, t0+9) // OpenAt
	for i := range NumReasons {
		v = binary.AppendVarint(v, int64(i))
		v = binary.AppendUvarint(v, uint64(i%4))
	}
	v = append(v, 'z')
	s, rest, err := DecodeState(v)
	want := State{LastActivity: t0, Fired: 1, Warned: 0b001, Open: 1 << rInactive, OpenAt: t0 + 9}
	for i := range NumReasons {
		want.LastAt[i], want.LastLevel[i] = int64(i), uint8(i%4)
	}
	if err != nil || s != want || string(rest) != "z" {
		t.Fatalf("version 1: %+v, rest %q, %v; want %+v", s, rest, err, want)
	}
}

// TestHostileGap: one record whose ts is centuries before the next (a
// hostile or broken producer; the future check stops the other direction)
// leaves the user with finite due times at or after their usual gap, a
// risk that is a probability, and a wake before their churn.
func TestHostileGap(t *testing.T) {
	c := Config{}.WithDefaults()
	ctx := Context{Stage: rules.New, PAlive: -1}
	var s State
	for i, at := range []int64{-62_135_596_800_000, t0, t0 + rules.Day} { // year 1, then daily
		c.OnEvent(nil, &s, schemas.Event{ID: fmt.Sprint("e", i), Type: schemas.Login, Time: at}, ctx)
	}
	for _, r := range c.Risk {
		d := c.riskDue(&s, r)
		if d < int64(c.MinGap/time.Millisecond) || d > 1<<52 {
			t.Errorf("risk %v due after %d ms: want at least MinGap and finite", r, d)
		}
	}
	for _, silence := range []int64{0, rules.Day, 29 * rules.Day, 1 << 50} {
		if r := c.riskAt(&s, silence); !(r >= 0 && r <= 1) {
			t.Errorf("risk after %d ms: %v, want a probability", silence, r)
		}
	}
	if w := c.Wake(&s, ctx); w <= s.LastActivity || w > s.LastActivity+c.churnMs() {
		t.Errorf("wake %d: want after the last activity %d and no later than the churn", w, s.LastActivity)
	}
}
