package paretonbd

import (
	"bytes"
	"context"
	"math"
	"testing"
	"time"
)

// TestGenerate: the same seed gives the same events in time order, every
// one a purchase; a user who left left at their last purchase; arrivals
// spread over the first half; the purchase rates are heterogeneous
// around their mean.
func TestGenerate(t *testing.T) {
	ctx := context.Background()
	cfg := Config{Users: 2000, Seed: 5}
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
		if events[i].Type != "purchase" {
			t.Fatalf("event %d is a %s; want purchases only", i, events[i].Type)
		}
		if events[i].Time >= end || i > 0 && events[i].Time < events[i-1].Time {
			t.Fatalf("event %d at %d: not in time order before the end %d", i, events[i].Time, end)
		}
	}
	start := cfg.withDefaults().Start.UnixMilli()
	var left int
	var rates float64
	for _, u := range users {
		if len(u.Purchases) == 0 || u.Purchases[0]-start > int64(cfg.withDefaults().Days)*day/2 {
			t.Fatalf("user %s: purchases %v; want the first in the first half of the period", u.ID, u.Purchases)
		}
		if u.Left != 0 {
			left++
			if u.Left != u.Purchases[len(u.Purchases)-1] {
				t.Fatalf("user %s left at %d, not at their last purchase", u.ID, u.Left)
			}
		}
		rates += u.Rate
	}
	if left < len(users)/4 || left == len(users) {
		t.Errorf("%d of %d users left within the year; want many, not all", left, len(users))
	}
	if mean := rates / float64(len(users)); math.Abs(mean-1.0/7) > 0.015 {
		t.Errorf("mean purchase rate %.4f a day; want about 1/7", mean)
	}
}

// TestOracle: the oracle warns where the risk reaches the threshold, at
// most once per silence, never at or after the next purchase or the
// churn, and a higher threshold warns no more.
func TestOracle(t *testing.T) {
	u := &User{ID: "p", Rate: 0.2, Hazard: 0.01, Purchases: []int64{0, 40 * day}}
	ths := []float64{0.2, 0.5, 0.9}
	end := int64(50 * day) // the second silence lasts 10 days
	out := Oracle([]*User{u}, end, 30*24*time.Hour, ths)
	for i, th := range ths {
		ws := out[i]["p"]
		for _, w := range ws {
			k := 0
			if w > u.Purchases[1] {
				k = 1
			}
			if risk := u.Risk(float64(w-u.Purchases[k]) / day); math.Abs(risk-th) > 1e-6 {
				t.Errorf("threshold %v: a warning where the risk is %v", th, risk)
			}
			if k == 0 && w >= u.Purchases[1] || w >= u.Purchases[k]+30*day || w >= end {
				t.Errorf("threshold %v: a warning at %d after the silence ended", th, w)
			}
		}
		if i > 0 && len(ws) > len(out[i-1]["p"]) {
			t.Errorf("threshold %v warns %d times, more than %v's %d", th, len(ws), ths[i-1], len(out[i-1]["p"]))
		}
	}
	// The risk reaches 0.2 after 8.7 quiet days, 0.5 after 14.7 and 0.9
	// after 25.0: the first silence (30 days to the churn) reaches all
	// three, the second (10 days, to the end) only 0.2.
	for i, want := range []int{2, 1, 1} {
		if got := len(out[i]["p"]); got != want {
			t.Errorf("threshold %v: %d warnings, want %d (all %v)", ths[i], got, want, out)
		}
	}
}
