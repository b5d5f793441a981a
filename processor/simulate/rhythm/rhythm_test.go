package rhythm

import (
	"bytes"
	"context"
	"testing"
	"time"
)

// TestGenerate: the same seed gives the same events; the population spans
// the rhythms it promises; the truth agrees with the events.
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
	}
	var daily, monthly, seasonal, faders, left int
	lastOf := map[string]int64{}
	for _, e := range events {
		if e.Time >= end {
			t.Fatalf("event at %d after the end %d", e.Time, end)
		}
		if e.Type == "login" {
			lastOf[string(e.Key)] = max(lastOf[string(e.Key)], e.Time)
		}
	}
	for _, u := range users {
		switch {
		case u.Rate >= 1:
			daily++
		case u.Rate <= 1.0/15:
			monthly++
		}
		if u.Seasonal {
			seasonal++
		}
		if u.Fade > 0 {
			faders++
		}
		if u.Left != 0 {
			left++
			if lastOf[u.ID] != u.Left {
				t.Fatalf("user %s left at %d, but their last visit is at %d", u.ID, u.Left, lastOf[u.ID])
			}
		}
	}
	for name, n := range map[string]int{"daily": daily, "monthly": monthly, "seasonal": seasonal, "faders": faders, "leavers": left} {
		if n < len(users)/20 {
			t.Errorf("%d %s users of %d: the population is not as heterogeneous as documented", n, name, len(users))
		}
	}
	if left == len(users) {
		t.Error("every user left: nobody stays to make false alarms on")
	}
}

// TestOracleThresholds: a higher risk threshold warns fewer times, never
// more, and a warning comes after a visit and within the churn window.
func TestOracleThresholds(t *testing.T) {
	users, _, end, err := Generate(context.Background(), Config{Users: 300, Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	churn := 30 * 24 * time.Hour
	out := Oracle(users, end, churn, []float64{0.2, 0.5, 0.9})
	count := func(m map[string][]int64) (n int) {
		for _, ts := range m {
			n += len(ts)
		}
		return n
	}
	if a, b, c := count(out[0]), count(out[1]), count(out[2]); !(a >= b && b >= c && c > 0) {
		t.Fatalf("warnings at thresholds 0.2, 0.5, 0.9: %d, %d, %d; want non-increasing and some", a, b, c)
	}
	for _, u := range users {
		for _, at := range out[0][u.ID] {
			if at <= u.Visits[0] || at >= end {
				t.Fatalf("user %s warned at %d, outside (%d, %d)", u.ID, at, u.Visits[0], end)
			}
		}
	}
}
