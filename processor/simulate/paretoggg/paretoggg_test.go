package paretoggg

import (
	"bytes"
	"context"
	"math"
	"testing"
)

// TestGenerate: the same seed gives the same events in time order; a
// user who left left at their last visit; arrivals spread over the first
// half; the users' regularities spread around their mean, clumpy and
// regular ones both; and each user's gaps vary as their own regularity
// says (a coefficient of variation near 1/√k), which is what sets this
// family apart.
func TestGenerate(t *testing.T) {
	ctx := context.Background()
	cfg := Config{Users: 1500, Seed: 5}
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
	c := cfg.withDefaults()
	start := c.Start.UnixMilli()
	var left, clumpy, regular int
	var shapes, cvErr float64
	var cvs int
	for _, u := range users {
		if len(u.Visits) == 0 || u.Visits[0]-start > int64(c.Days)*day/2 {
			t.Fatalf("user %s: visits %v; want the first in the first half of the period", u.ID, u.Visits)
		}
		if u.Left != 0 {
			left++
			if u.Left != u.Visits[len(u.Visits)-1] {
				t.Fatalf("user %s left at %d, not at their last visit", u.ID, u.Left)
			}
		}
		shapes += u.Shape
		if u.Shape < 0.7 {
			clumpy++
		}
		if u.Shape > 3 {
			regular++
		}
		if len(u.Visits) > 100 {
			var sum, sq float64
			for k := 1; k < len(u.Visits); k++ {
				g := float64(u.Visits[k] - u.Visits[k-1])
				sum, sq = sum+g, sq+g*g
			}
			n := float64(len(u.Visits) - 1)
			mean := sum / n
			cv := math.Sqrt(sq/n-mean*mean) / mean
			cvErr += math.Abs(cv*math.Sqrt(u.Shape) - 1)
			cvs++
		}
	}
	if left < len(users)/4 || left == len(users) {
		t.Errorf("%d of %d users left within the year; want many, not all", left, len(users))
	}
	if mean := shapes / float64(len(users)); math.Abs(mean-c.MeanShape) > 0.1 {
		t.Errorf("mean regularity %.3f; want about %v", mean, c.MeanShape)
	}
	if clumpy < len(users)/10 || regular < len(users)/20 {
		t.Errorf("%d clumpy users (k < 0.7) and %d regular ones (k > 3) of %d; want both kinds", clumpy, regular, len(users))
	}
	if cvs < 100 || cvErr/float64(cvs) > 0.2 {
		t.Errorf("over %d users, the gaps' coefficient of variation is off 1/√k by %.3f on average; want under 0.2", cvs, cvErr/float64(cvs))
	}
}
