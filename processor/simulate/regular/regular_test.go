package regular

import (
	"bytes"
	"context"
	"math"
	"testing"
	"time"
)

// TestGenerate: the same seed gives the same events in time order; a
// user who left left at their last visit; arrivals spread over the first
// half; and the gaps are as regular as the shape says (a coefficient of
// variation near 1/√8), where every other family's are memoryless (1).
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
		if events[i].Time >= end+5*60_000 || i > 0 && events[i].Time < events[i-1].Time {
			t.Fatalf("event %d at %d: not in time order before the end %d", i, events[i].Time, end)
		}
	}
	start := cfg.withDefaults().Start.UnixMilli()
	var left, cvs int
	var cvSum float64
	for _, u := range users {
		if len(u.Visits) == 0 || u.Visits[0]-start > int64(cfg.withDefaults().Days)*day/2 {
			t.Fatalf("user %s: visits %v; want the first in the first half of the period", u.ID, u.Visits)
		}
		if u.Left != 0 {
			left++
			if u.Left != u.Visits[len(u.Visits)-1] {
				t.Fatalf("user %s left at %d, not at their last visit %d", u.ID, u.Left, u.Visits[len(u.Visits)-1])
			}
		}
		if len(u.Visits) > 20 {
			var sum, sq float64
			for k := 1; k < len(u.Visits); k++ {
				g := float64(u.Visits[k] - u.Visits[k-1])
				sum, sq = sum+g, sq+g*g
			}
			n := float64(len(u.Visits) - 1)
			mean := sum / n
			cvSum += math.Sqrt(sq/n-mean*mean) / mean
			cvs++
		}
	}
	if left < len(users)/4 || left == len(users) {
		t.Errorf("%d of %d users left within the year; want many, not all", left, len(users))
	}
	if cv := cvSum / float64(cvs); cvs < 100 || math.Abs(cv-1/math.Sqrt(8)) > 0.05 {
		t.Errorf("the gaps' mean coefficient of variation over %d users is %.3f; want %.3f", cvs, cv, 1/math.Sqrt(8))
	}
}

// TestRisk: with the shape 1 (memoryless gaps at the rate 1/T) the risk is
// the closed form of two exponential clocks, c(1 − x)/(x + c(1 − x)), x =
// e^(−(1/T+μ)s), c = μ/(1/T + μ), which checks the integral; a regular
// user's risk rises far faster past their period than a memoryless one's.
func TestRisk(t *testing.T) {
	u := &User{Period: 4, Shape: 1, Hazard: 0.02}
	for _, s := range []float64{1, 4, 10, 25} {
		r := 1/u.Period + u.Hazard
		c, x := u.Hazard/r, math.Exp(-r*s)
		if want, got := c*(1-x)/(x+c*(1-x)), u.Risk(s); math.Abs(got-want) > 1e-4 {
			t.Errorf("shape 1, %v quiet days: risk %v, want %v", s, got, want)
		}
	}
	regular := &User{Period: 4, Shape: 8, Hazard: 0.02}
	if r, m := regular.Risk(10), u.Risk(10); !(r > 0.95 && m < 0.6) {
		t.Errorf("10 quiet days at a period of 4: risk %v for a regular user, %v for a memoryless one; want > 0.95 and < 0.6", r, m)
	}
	if r := regular.Risk(2); r > 0.05 {
		t.Errorf("2 quiet days at a period of 4: a regular user's risk %v; want under 0.05", r)
	}
}

// TestSurvivalOfAnyShape: a shape that is not a whole number (package
// paretoggg's users) takes the incomplete gamma function, which must meet
// Erlang's sum at the whole numbers on either side, and a clumpy user
// (shape under 1) is more often silent long past their period than a
// memoryless one.
func TestSurvivalOfAnyShape(t *testing.T) {
	for _, k := range []float64{1, 3, 8} {
		erlang := &User{Period: 4, Shape: k}
		near := &User{Period: 4, Shape: k + 1e-9}
		for _, s := range []float64{0.5, 4, 12} {
			if a, b := erlang.survival(s), near.survival(s); math.Abs(a-b) > 1e-6 {
				t.Errorf("shape %v, %v days: Erlang's survival %v, the incomplete gamma's %v", k, s, a, b)
			}
		}
	}
	clumpy, memoryless := &User{Period: 4, Shape: 0.3}, &User{Period: 4, Shape: 1}
	if c, m := clumpy.survival(20), memoryless.survival(20); !(c > 3*m) {
		t.Errorf("20 days at a period of 4: survival %v for a clumpy user, %v for a memoryless one; want more than 3 times", c, m)
	}
}

// TestOracle: the oracle warns where the risk reaches the threshold, at
// most once per silence, never at or after the next visit or the churn,
// and a higher threshold warns no more.
func TestOracle(t *testing.T) {
	u := &User{ID: "r", Period: 4, Shape: 8, Hazard: 0.02, Visits: []int64{0, 4 * day, 30 * day}}
	ths := []float64{0.2, 0.5, 0.9}
	end := int64(40 * day) // the last silence lasts 10 days
	out := Oracle([]*User{u}, end, 30*24*time.Hour, ths)
	for i, th := range ths {
		ws := out[i]["r"]
		for _, w := range ws {
			k := 0
			for k+1 < len(u.Visits) && u.Visits[k+1] <= w {
				k++
			}
			if risk := u.Risk(float64(w-u.Visits[k]) / day); math.Abs(risk-th) > 0.02 {
				t.Errorf("threshold %v: a warning where the risk is %v", th, risk)
			}
			if k+1 < len(u.Visits) && w >= u.Visits[k+1] || w >= u.Visits[k]+30*day || w >= end {
				t.Errorf("threshold %v: a warning at %d after the silence ended", th, w)
			}
		}
		if i > 0 && len(ws) > len(out[i-1]["r"]) {
			t.Errorf("threshold %v warns %d times, more than %v's %d", th, len(ws), ths[i-1], len(out[i-1]["r"]))
		}
	}
	// The 4-day gap ends before any threshold; the 26-day and the last
	// 10-day silences reach all three.
	for i := range ths {
		if got := len(out[i]["r"]); got != 2 {
			t.Errorf("threshold %v: %d warnings, want 2 (all %v)", ths[i], got, out)
		}
	}
}
