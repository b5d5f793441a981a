package segments

import (
	"math"
	"testing"
	"time"

	"github.com/lifecycle-engine/lifecycle/schemas"
)

// TestWindowSumsSaturate: a bucket's total, a bucket's count, and their sums
// over the window stay at the largest value instead of wrapping negative.
func TestWindowSumsSaturate(t *testing.T) {
	c := Config{Window: 120 * 24 * time.Hour} // 10-day buckets
	d := func(n int64) int64 { return 20000*Day + n*Day }
	one, err := schemas.ParseMicros("1.00")
	if err != nil {
		t.Fatal(err)
	}

	// The deployment's sequence, in one bucket.
	w := c.NewWindow()
	w.Add(d(0), schemas.MaxMicros)
	w.Add(d(1), one)
	if f, m := w.InWindow(d(1)); f != 2 || m != schemas.MaxMicros {
		t.Errorf("one bucket: %d purchases, %s; want 2, %s", f, m, schemas.MaxMicros)
	}

	// Two buckets that are each below the bound but not together.
	w = c.NewWindow()
	w.Add(d(0), schemas.MaxMicros-5)
	w.Add(d(30), 10)
	if f, m := w.InWindow(d(30)); f != 2 || m != schemas.MaxMicros {
		t.Errorf("two buckets: %d purchases, %s; want 2, %s", f, m, schemas.MaxMicros)
	}
	if v := w.Values(d(30), d(30), 2, schemas.MaxMicros); v.Monetary != schemas.MaxMicros || v.Monetary < 0 {
		t.Errorf("Values = %+v; want Monetary %s", v, schemas.MaxMicros)
	}

	// Counts: a full bucket and the window's sum.
	w = c.NewWindow()
	w.Add(d(0), 1)
	w.Add(d(30), 1)
	w.Count[slot(floorDiv(d(0), w.width()))] = math.MaxInt64
	w.Add(d(0), 1)
	if got := w.Count[slot(floorDiv(d(0), w.width()))]; got != math.MaxInt64 {
		t.Errorf("bucket count = %d; want %d", got, int64(math.MaxInt64))
	}
	if f, _ := w.InWindow(d(30)); f != math.MaxInt64 {
		t.Errorf("window count = %d; want %d", f, int64(math.MaxInt64))
	}

	// Refit to a longer window merges old buckets into one new bucket.
	w = c.NewWindow()
	w.Add(d(0), schemas.MaxMicros)
	w.Add(d(10), schemas.MaxMicros)
	w.Count[slot(floorDiv(d(0), w.width()))] = math.MaxInt64
	r := Config{Window: 1200 * 24 * time.Hour}.Refit(w) // 100-day buckets
	if f, m := r.InWindow(d(10)); f != math.MaxInt64 || m != schemas.MaxMicros {
		t.Errorf("refit: %d purchases, %s; want %d, %s", f, m, int64(math.MaxInt64), schemas.MaxMicros)
	}
}

// TestPopulationCountsSaturate: the population's user and buyer counts
// stay at the largest value.
func TestPopulationCountsSaturate(t *testing.T) {
	p := NewPopulation()
	p.AddNonBuyers(math.MaxInt64)
	p.AddNonBuyers(math.MaxInt64)
	p.users, p.buyers = math.MaxInt64, math.MaxInt64
	p.Add(Values{RecencyDays: 1, Frequency: math.MaxInt64, Monetary: schemas.MaxMicros, HasPurchased: true})
	if p.users != math.MaxInt64 || p.buyers != math.MaxInt64 {
		t.Errorf("users %d, buyers %d; want both %d", p.users, p.buyers, int64(math.MaxInt64))
	}
	p = NewPopulation()
	p.Add(Values{})
	p.AddNonBuyers(math.MaxInt64)
	if p.users != math.MaxInt64 {
		t.Errorf("users %d; want %d", p.users, int64(math.MaxInt64))
	}
	p.Seal(0)
	if c := p.Cuts(); c.Users != math.MaxInt64 || c.Buyers != 0 {
		t.Errorf("cuts: %d users, %d buyers; want %d, 0", c.Users, c.Buyers, int64(math.MaxInt64))
	}
}
