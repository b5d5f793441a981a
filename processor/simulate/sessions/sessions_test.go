package sessions

import (
	"bytes"
	"context"
	"math"
	"testing"
	"time"
)

// TestGenerate: the same seed gives the same events; sessions are bursts
// of visits minutes apart; a user who left left at the last visit of
// their last session; arrivals spread over the first half of the period.
func TestGenerate(t *testing.T) {
	ctx := context.Background()
	cfg := Config{Users: 800, Seed: 5}
	users, events, end, err := Generate(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, again, _, err := Generate(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != len(events) {
		t.Fatalf("the same seed made %d and %d events", len(events), len(again))
	}
	for i := range events {
		if !bytes.Equal(events[i].Value, again[i].Value) {
			t.Fatalf("event %d differs between two runs of the same seed", i)
		}
		if events[i].Time >= end || i > 0 && events[i].Time < events[i-1].Time {
			t.Fatalf("event %d at %d: not in time order before the end %d", i, events[i].Time, end)
		}
	}
	visits := map[string][]int64{}
	for _, e := range events {
		if e.Type != "purchase" {
			visits[string(e.Key)] = append(visits[string(e.Key)], e.Time)
		}
	}
	var left, bursts, sessions, lateArrivals int
	start := events[0].Time
	for _, u := range users {
		v := visits[u.ID]
		if len(v) == 0 || v[0] != u.Sessions[0][0] {
			t.Fatalf("user %s: first visit %v, first session %v", u.ID, v, u.Sessions[0])
		}
		if v[0]-start > int64(cfg.withDefaults().Days)*day/2 {
			t.Fatalf("user %s arrives at day %d: after the first half", u.ID, (v[0]-start)/day)
		}
		if v[0]-start > 90*day {
			lateArrivals++
		}
		for _, s := range u.Sessions {
			sessions++
			if s[1] > s[0] {
				bursts++
				if s[1]-s[0] > 12*60*60*1000 {
					t.Fatalf("user %s: a session of %v", u.ID, time.Duration(s[1]-s[0])*time.Millisecond)
				}
			}
		}
		if u.Left != 0 {
			left++
			if last := u.Sessions[len(u.Sessions)-1][1]; u.Left != last || v[len(v)-1] != last {
				t.Fatalf("user %s left at %d; their last session ends at %d, their last visit is at %d", u.ID, u.Left, last, v[len(v)-1])
			}
		}
	}
	if left < len(users)/2 || left == len(users) {
		t.Errorf("%d of %d users left within the year; want most, not all", left, len(users))
	}
	if bursts < sessions/3 || bursts == sessions {
		t.Errorf("%d of %d sessions have more than one visit; want many, not all", bursts, sessions)
	}
	if lateArrivals < len(users)/4 {
		t.Errorf("%d of %d users arrive after day 90; want arrivals over the first half", lateArrivals, len(users))
	}
}

// TestOracle: the oracle warns where its risk reaches the threshold, at
// most once per silence, never at or after the next session or the churn,
// and a higher threshold warns no more.
func TestOracle(t *testing.T) {
	u := &User{ID: "s", Rate: 0.5, Hazard: 0.01, Sessions: [][2]int64{{0, 600_000}, {20 * day, 20*day + 60_000}}}
	ths := []float64{0.2, 0.5, 0.9}
	end := int64(30 * day) // the second silence lasts 10 days
	out := Oracle([]*User{u}, end, 30*24*time.Hour, ths)
	r := u.Rate + u.Hazard
	c := u.Hazard / r
	for i, th := range ths {
		ws := out[i]["s"]
		for _, w := range ws {
			k := 0
			if w > u.Sessions[1][0] {
				k = 1
			}
			s := float64(w-u.Sessions[k][1]) / day
			x := math.Exp(-r * s)
			if risk := c * (1 - x) / (x + c*(1-x)); math.Abs(risk-th) > 1e-6 {
				t.Errorf("threshold %v: a warning %v days into the silence, where the risk is %v", th, s, risk)
			}
			if k == 0 && w >= u.Sessions[1][0] || w >= u.Sessions[k][1]+30*day || w >= end {
				t.Errorf("threshold %v: a warning at %d after the silence ended", th, w)
			}
		}
		if i > 0 && len(ws) > len(out[i-1]["s"]) {
			t.Errorf("threshold %v warns %d times, more than %v's %d", th, len(ws), ths[i-1], len(out[i-1]["s"]))
		}
	}
	// The risk reaches 0.2 after 5.1 quiet days, 0.5 after 7.7 and 0.9
	// after 12.1: the first silence (20 days) reaches all three, the
	// second (10 days, to the end) the first two.
	for i, want := range []int{2, 2, 1} {
		if got := len(out[i]["s"]); got != want {
			t.Errorf("threshold %v: %d warnings, want %d (all %v)", ths[i], got, want, out)
		}
	}
}
