package bgnbd

import (
	"bytes"
	"context"
	"math"
	"testing"
	"time"
)

// TestGenerate: the same seed gives the same events; every user who left
// left right after a repeat purchase, at their last visit; the rhythms
// span what the Config promises.
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
	purchases := map[string]int{}
	for _, e := range events {
		if e.Time >= end+5*60_000 {
			t.Fatalf("event at %d after the end %d", e.Time, end)
		}
		if e.Type == "purchase" {
			purchases[string(e.Key)]++
		}
	}
	var left, weekly, monthly int
	for _, u := range users {
		n := 0
		for _, b := range u.Bought {
			if b {
				n++
			}
		}
		if purchases[u.ID] != n || !u.Bought[0] {
			t.Fatalf("user %s: %d purchase records for %d buying visits (the first one buying: %v)", u.ID, purchases[u.ID], n, u.Bought[0])
		}
		if u.Left != 0 {
			left++
			last := len(u.Visits) - 1
			if u.Visits[last] != u.Left || !u.Bought[last] || last == 0 {
				t.Fatalf("user %s left at %d, but their last visit (%d, bought %v) is not a repeat purchase then", u.ID, u.Left, u.Visits[last], u.Bought[last])
			}
		}
		switch {
		case u.Rate >= 3.0/7:
			weekly++
		case u.Rate <= 1.0/15:
			monthly++
		}
	}
	if left < len(users)/4 || left > len(users)*3/4 || weekly == 0 || monthly == 0 {
		t.Errorf("%d of %d users left, %d come 3+ times a week, %d twice a month or less: want a mix", left, len(users), weekly, monthly)
	}
}

// TestOracle: the oracle warns only in silences after a repeat purchase,
// within churnAfter of it and before the next visit; a higher threshold
// warns later.
func TestOracle(t *testing.T) {
	users, _, end, err := Generate(context.Background(), Config{Users: 500, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	churn := 30 * 24 * time.Hour
	out := Oracle(users, end, churn, []float64{0.3, 0.8})
	warned := 0
	for _, u := range users {
		low, high := out[0][u.ID], out[1][u.ID]
		warned += len(low)
		if len(high) > len(low) {
			t.Fatalf("user %s: %d warnings at 0.8, %d at 0.3", u.ID, len(high), len(low))
		}
		for _, at := range low {
			k := len(u.Visits) - 1
			for u.Visits[k] > at {
				k--
			}
			if k == 0 || !u.Bought[k] || at-u.Visits[k] >= churn.Milliseconds() || (k+1 < len(u.Visits) && at >= u.Visits[k+1]) {
				t.Fatalf("user %s warned at %d after visit %d (bought %v) at %d", u.ID, at, k, u.Bought[k], u.Visits[k])
			}
		}
	}
	if warned == 0 {
		t.Fatal("the oracle warned nobody")
	}
}

// TestPopulationOracle: without the user's own chance, the oracle takes
// the population's mean given the repeat purchases survived, so it warns
// at the same visits as Oracle, and its first warning after a user's n-th
// repeat purchase comes when α/(α+β+n) gives the threshold's risk.
func TestPopulationOracle(t *testing.T) {
	users, _, end, err := Generate(context.Background(), Config{Users: 300, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	churn := 30 * 24 * time.Hour
	const th = 0.5
	got := PopulationOracle(users, end, churn, []float64{th})[0]
	checked := 0
	for _, u := range users {
		n, i := 0, 0 // repeat purchases survived; the user's next warning
		for k, from := range u.Visits {
			if k == 0 || !u.Bought[k] {
				continue
			}
			p := dropoutAlpha / (dropoutAlpha + dropoutBeta + float64(n))
			n++
			at := from + int64(math.Log((1-p)*th/(p*(1-th)))/u.Rate*day)
			to := min(end, from+churn.Milliseconds())
			if k+1 < len(u.Visits) {
				to = min(to, u.Visits[k+1])
			}
			if at >= to {
				continue
			}
			if i >= len(got[u.ID]) || got[u.ID][i] != at {
				t.Fatalf("user %s, repeat purchase %d at %d: want a warning at %d, got %v", u.ID, n, from, at, got[u.ID])
			}
			i++
			checked++
		}
		if i != len(got[u.ID]) {
			t.Fatalf("user %s: %d warnings, want %d", u.ID, len(got[u.ID]), i)
		}
	}
	if checked == 0 {
		t.Fatal("no warning checked")
	}
}

// TestArrivalDays: by default the users arrive in the period's first
// quarter (a cohort); with ArrivalDays they keep arriving until then, and
// an ArrivalDays beyond the period is refused.
func TestArrivalDays(t *testing.T) {
	ctx := context.Background()
	latest := func(cfg Config) float64 {
		users, _, _, err := Generate(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		start := Config{}.withDefaults().Start.UnixMilli()
		var last int64
		for _, u := range users {
			last = max(last, u.Visits[0])
		}
		return float64(last-start) / day
	}
	if got := latest(Config{Users: 500, Seed: 2}); got >= 365/4.0 || got < 80 {
		t.Errorf("by default the last user arrived on day %.1f; want within the first quarter, near its end", got)
	}
	// The quarter is 91.25 days, not 91: the README's rows are of that
	// population (an integer division once cut it to 91).
	if got := latest(Config{Users: 2000, Seed: 1}); got <= 91 {
		t.Errorf("by default the last of 2,000 users arrived on day %.2f; want the quarter's 91.25 days, not 91", got)
	}
	if got := latest(Config{Users: 500, Seed: 2, ArrivalDays: 330}); got >= 330 || got < 300 {
		t.Errorf("with ArrivalDays 330 the last user arrived on day %.1f; want near day 330, not after", got)
	}
	if err := (Config{ArrivalDays: 400}).Validate(); err == nil {
		t.Error("ArrivalDays 400 of a 365-day period was accepted")
	}
}
