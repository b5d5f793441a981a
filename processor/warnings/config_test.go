package warnings

import (
	"fmt"
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
		{Config{Fractions: [3]float64{0.2, 0.5, 0.99}}, ""},
		{Config{ChurnAfter: -time.Hour}, "ChurnAfter"},
		{Config{Cooldown: -1}, "Cooldown"},
		{Config{Week: -time.Hour}, "Week"},
		{Config{FallingRatio: 1.5}, "FallingRatio"},
		{Config{FallingRatio: -0.1}, "FallingRatio"},
		{Config{MinBaseline: -2}, "MinBaseline"},
		{Config{MinBasePurchases: -1}, "MinBasePurchases"},
		{Config{PAliveBelow: 2}, "PAliveBelow"},
		{Config{QuietAfter: -time.Hour}, "QuietAfter"},
		{Config{WarmupPeriods: -1}, "WarmupPeriods"},
		{Config{Fractions: [3]float64{0.5, 0.4, 0.9}}, "Fractions[1] (at_risk)"},
		{Config{Fractions: [3]float64{0.5, 0.7, 1}}, "Fractions[2] (critical)"},
		{Config{Fractions: [3]float64{0, 0.7, 0.8}}, "Fractions[0] (watch)"},
	} {
		err := tc.c.Validate()
		if got := fmt.Sprint(err); (tc.want == "") != (err == nil) || !strings.Contains(got, tc.want) {
			t.Errorf("Validate(%+v) = %v, want error containing %q", tc.c, err, tc.want)
		}
	}
	if d := (Config{}).WithDefaults(); d.Fractions != DefaultFractions || d.ChurnAfter != rules.DefaultChurnAfter || d.Cooldown != DefaultCooldown {
		t.Errorf("WithDefaults: %+v", d)
	}
}

func TestWake(t *testing.T) {
	c := Config{}.WithDefaults()
	day := rules.Day
	t0 := int64(1_767_225_600_000) // 2026-01-01 00:00 UTC
	ctx := Context{Stage: rules.New, PAlive: -1}
	var s State
	if w := c.Wake(&s, Context{Stage: rules.None}); w != 0 {
		t.Errorf("stage none: wake %d, want 0", w)
	}
	if w := c.Wake(&s, ctx); w != 0 {
		t.Errorf("no event yet: wake %d, want 0", w)
	}
	c.OnEvent(nil, &s, schemas.Event{ID: "e1", Type: schemas.Login, Time: t0}, ctx)
	// First check: the end of the first period (7 days), before the watch (15 days).
	if w := c.Wake(&s, ctx); w != t0+7*day {
		t.Errorf("after the first event: wake %d, want the period end %d", w, t0+7*day)
	}
	// Stream time exactly at the period end: not yet passed.
	c.Advance(nil, &s, ctx, t0+7*day)
	if w := c.Wake(&s, ctx); w != t0+7*day {
		t.Errorf("at the period end: wake %d, want %d", w, t0+7*day)
	}
	// Both period ends passed (a rare visitor: no falling warning); next the watch at 15 days.
	if ws := c.Advance(nil, &s, ctx, t0+14*day+1); len(ws) != 0 {
		t.Errorf("nothing due: got %v", ws)
	}
	if w := c.Wake(&s, ctx); w != t0+15*day {
		t.Errorf("after two periods: wake %d, want the watch due %d", w, t0+15*day)
	}
	ws := c.Advance(nil, &s, ctx, t0+16*day)
	if len(ws) != 1 || ws[0].Level != Watch || ws[0].At != t0+15*day {
		t.Fatalf("watch: got %+v", ws)
	}
	if w := c.Wake(&s, ctx); w != t0+21*day {
		t.Errorf("after the watch: wake %d, want the at-risk due %d", w, t0+21*day)
	}
	// Wake is a pure query.
	before := s
	c.Wake(&s, ctx)
	if s != before {
		t.Error("Wake changed the state")
	}
	// After the churn: no wake at all.
	ws = c.Advance(nil, &s, ctx, t0+31*day)
	if len(ws) != 2 || s.ChurnedAt != t0+30*day {
		t.Fatalf("at_risk, critical and the churn: got %+v, state %+v", ws, s)
	}
	if w := c.Wake(&s, Context{Stage: rules.Churned}); w != 0 {
		t.Errorf("churned: wake %d, want 0", w)
	}
	// A user the stage model knew before the warnings: started from its last activity.
	var fresh State
	if w := c.Wake(&fresh, Context{Stage: rules.Mature, LastActivity: t0}); w != t0+7*day {
		t.Errorf("bootstrap: wake %d, want %d", w, t0+7*day)
	}
}

func TestStateEncoding(t *testing.T) {
	s := State{LastActivity: 1_767_225_600_000, ChurnedAt: 0, PeriodStart: 1_767_225_600_000 - 5, Periods: 7,
		Visits: 3, Purchases: 1, Spend: 19_990_000, BaseVisits: 16250, BasePurchases: 500, BaseSpend: 12_345_678,
		Fired: 2, Open: 1<<rInactive | 1<<rFallingVisits, OpenAt: 1_767_225_600_123}
	s.LastAt[rInactive], s.LastLevel[rInactive] = 1_767_225_600_123, uint8(AtRisk)
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
