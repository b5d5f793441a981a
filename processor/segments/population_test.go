package segments

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lifecycle-engine/lifecycle/schemas"
)

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		c    Config
		want string // substring of the error; "" for valid
	}{
		{Config{}, ""},
		{Config{Window: 90 * 24 * time.Hour, Refresh: time.Hour, Hysteresis: 0.5}, ""},
		{Config{Hysteresis: NoHysteresis}, ""},
		{Config{Window: -time.Hour}, "window"},
		{Config{Window: time.Minute}, "window"},
		{Config{Refresh: time.Second}, "refresh"},
		{Config{Refresh: -24 * time.Hour}, "refresh"},
		{Config{Hysteresis: 0.6}, "hysteresis"},
		{Config{Hysteresis: -0.2}, "hysteresis"},
		{Config{Hysteresis: math.NaN()}, "hysteresis"},
	} {
		err := tc.c.Validate()
		if got := fmt.Sprint(err); (tc.want == "") != (err == nil) || !strings.Contains(got, tc.want) {
			t.Errorf("Validate(%+v) = %v, want error containing %q", tc.c, err, tc.want)
		}
	}
}

func TestRebuildPoint(t *testing.T) {
	c := Config{Refresh: 24 * time.Hour}
	for _, tc := range []struct{ t, want int64 }{
		{0, 0}, {Day - 1, 0}, {Day, Day}, {5*Day + 7, 5 * Day}, {-1, -Day},
	} {
		if got := c.RebuildPoint(tc.t); got != tc.want {
			t.Errorf("RebuildPoint(%d) = %d, want %d", tc.t, got, tc.want)
		}
	}
}

// TestSegmentNumbers pins the numbers stored on disk.
func TestSegmentNumbers(t *testing.T) {
	want := []string{"none", "important value", "important develop", "important keep", "important retain",
		"general value", "general develop", "general keep", "general retain"}
	for i, name := range want {
		s := Segment(i)
		if s.String() != name {
			t.Errorf("Segment(%d) = %q, want %q", i, s, name)
		}
		if p, ok := ParseSegment(name); !ok || p != s {
			t.Errorf("ParseSegment(%q) = %v, %v", name, p, ok)
		}
		if r, f, m, ok := s.Splits(); ok && SegmentOf(r, f, m) != s {
			t.Errorf("SegmentOf(Splits(%v)) = %v", s, SegmentOf(r, f, m))
		}
	}
	if got := (Score{R: 5, F: 3, M: 4}).Code(); got != "R5F3M4" {
		t.Errorf("Code = %q", got)
	}
	if got := (Score{}).Code(); got != "" {
		t.Errorf("Code of none = %q", got)
	}
}

// randomValues is a realistic-looking population: recency roughly
// exponential, frequency geometric-ish, spend log-normal; some non-buyers.
func randomValues(n int, seed uint64) []Values {
	r := rand.New(rand.NewPCG(seed, 1))
	vs := make([]Values, n)
	for i := range vs {
		if r.IntN(10) == 0 {
			continue // never purchased
		}
		f := int64(1)
		for r.IntN(2) == 0 && f < 200 {
			f++
		}
		vs[i] = Values{
			RecencyDays:  math.Round(r.ExpFloat64()*40*1440) / 1440, // minute resolution
			Frequency:    f,
			Monetary:     schemas.Micros(math.Exp(3+r.NormFloat64()) * float64(f) * 1e6),
			HasPurchased: true,
		}
	}
	return vs
}

func TestDeterministicAcrossInsertionOrder(t *testing.T) {
	vs := randomValues(50_000, 7)
	seal := func(vs []Values) Cuts {
		p := NewPopulation()
		for _, v := range vs {
			p.Add(v)
		}
		p.Seal(42)
		return p.Cuts()
	}
	want := seal(vs)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 5 {
		shuffled := slices.Clone(vs)
		r.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
		if i == 0 {
			slices.Reverse(shuffled)
		}
		if got := seal(shuffled); got != want {
			t.Fatalf("order %d: cuts differ:\n got %+v\nwant %+v", i, got, want)
		}
	}
	// A reused population (Seal clears the sketches) gives the same cuts.
	p := NewPopulation()
	for range 2 {
		for _, v := range vs {
			p.Add(v)
		}
		p.Seal(42)
	}
	if got := p.Cuts(); got != want {
		t.Fatalf("reused population: cuts differ:\n got %+v\nwant %+v", got, want)
	}
}

// TestSketchAccuracy compares each cut with the exact order statistic it
// stands for: the cut is the edge of the sketch bin holding it, so it must
// be within 2α/(1-α) of it (α = SketchAccuracy), about 0.8 %.
func TestSketchAccuracy(t *testing.T) {
	vs := randomValues(200_000, 11)
	p := NewPopulation()
	var r, f, m []float64
	for _, v := range vs {
		p.Add(v)
		if v.HasPurchased {
			x := v.dims()
			r, f, m = append(r, x[dimR]), append(f, x[dimF]), append(m, x[dimM])
		}
	}
	p.Seal(0)
	c := p.Cuts()
	tol := 2*SketchAccuracy/(1-SketchAccuracy) + 1e-12
	check := func(name string, xs []float64, d DimCuts, recency bool) {
		slices.Sort(xs)
		n := len(xs)
		exact := func(q float64) float64 {
			k := int(math.Ceil(q * float64(n)))
			if recency {
				return xs[n-k]
			}
			return xs[k-1]
		}
		for i, q := range append(quintiles[:], 0.5) {
			got := d.Median
			if i < 4 {
				got = d.Quintiles[i]
			}
			want := exact(q)
			if rel := math.Abs(got-want) / want; rel > tol {
				t.Errorf("%s q=%.1f: cut %v, exact %v: relative error %.4f > %.4f", name, q, got, want, rel, tol)
			}
		}
	}
	check("R", r, c.R, true)
	check("F", f, c.F, false)
	check("M", m, c.M, false)
	if c.Buyers != int64(len(r)) || c.Users != int64(len(vs)) {
		t.Errorf("users %d buyers %d, want %d %d", c.Users, c.Buyers, len(vs), len(r))
	}
}

// TestQuintilesBalanced: on distinct values each score holds a fifth.
func TestQuintilesBalanced(t *testing.T) {
	p, _ := NewPopulationWith(Config{Hysteresis: NoHysteresis})
	vs := randomValues(100_000, 5)
	for _, v := range vs {
		p.Add(v)
	}
	p.Seal(0)
	var counts [3][6]int
	buyers := 0
	for _, v := range vs {
		s := p.Score(v, Score{})
		if !v.HasPurchased {
			if s != (Score{}) {
				t.Fatalf("non-buyer scored %v", s)
			}
			continue
		}
		buyers++
		counts[0][s.R]++
		counts[1][s.F]++
		counts[2][s.M]++
	}
	for d, name := range []string{"R", "M"} { // F is too tied to balance
		i := []int{0, 2}[d]
		for sc := 1; sc <= 5; sc++ {
			if share := float64(counts[i][sc]) / float64(buyers); math.Abs(share-0.2) > 0.02 {
				t.Errorf("%s%d holds %.3f of the buyers, want 0.2±0.02", name, sc, share)
			}
		}
	}
}

// TestHysteresisNoFlap: a value hovering around a cut by less than the
// margin never changes a score once given, and hysteresis never stops a
// clear move.
func TestHysteresisNoFlap(t *testing.T) {
	p := NewPopulation()
	for _, v := range randomValues(10_000, 9) {
		p.Add(v)
	}
	p.Seal(0)
	c := p.Cuts().M
	cut := c.Quintiles[1]
	base := Values{RecencyDays: 10, Frequency: 2, HasPurchased: true}
	at := func(x float64) Values { v := base; v.Monetary = schemas.Micros(x * 1e6); return v }
	prev := p.Score(at(cut*0.999), Score{})
	changes := 0
	for i := range 1000 {
		x := cut * (1 + 0.004*math.Sin(float64(i))) // ±0.4 % around the cut
		s := p.Score(at(x), prev)
		if s != prev {
			changes++
		}
		prev = s
	}
	if changes != 0 {
		t.Errorf("%d changes while hovering at the cut", changes)
	}
	if s := p.Score(at(c.Quintiles[2]+0.15*(c.Quintiles[3]-c.Quintiles[2])), prev); s.M != 4 {
		t.Errorf("clear move up: M%d, want M4", s.M)
	}
}

func TestWindow(t *testing.T) {
	c := Config{Window: 120 * 24 * time.Hour} // 10-day buckets
	w := c.NewWindow()
	d := func(n int64) int64 { return 20000*Day + n*Day }
	w.Add(d(0), 10_000_000)
	w.Add(d(5), 20_000_000)
	w.Add(d(50), 30_000_000)
	w.Add(d(2), 1_000_000) // late, still in the window
	if f, m := w.InWindow(d(50)); f != 4 || m != 61_000_000 {
		t.Errorf("at day 50: %d %v", f, m)
	}
	if f, m := w.InWindow(d(125)); f != 1 || m != 30_000_000 {
		t.Errorf("at day 125: %d %v, want the day-50 purchase only", f, m)
	}
	w.Add(d(200), 5_000_000) // rotates everything else out
	w.Add(d(10), 7_000_000)  // older than the ring: dropped
	if f, m := w.InWindow(d(200)); f != 1 || m != 5_000_000 {
		t.Errorf("at day 200: %d %v", f, m)
	}
	v := w.Values(d(201), d(200), 6, 73_000_000)
	if !v.HasPurchased || v.Frequency != 1 || v.RecencyDays != 1 {
		t.Errorf("Values = %+v", v)
	}
	// All-time window: the all-time numbers.
	var all Window
	all.Add(d(1), 1)
	if v := all.Values(d(3), d(1), 6, 73_000_000); v.Frequency != 6 || v.Monetary != 73_000_000 || v.RecencyDays != 2 {
		t.Errorf("all-time Values = %+v", v)
	}
	if v := all.Values(d(3), 0, 0, 0); v != (Values{}) {
		t.Errorf("never purchased: %+v", v)
	}
	// Encoding round trip and size.
	for _, x := range []Window{w, all, c.NewWindow()} {
		b, _ := x.AppendBinary(nil)
		got, n, err := DecodeWindow(b)
		if err != nil || n != len(b) || got != x {
			t.Errorf("round trip of %+v: %+v %d %v", x, got, n, err)
		}
		t.Logf("encoded window (span %d): %d bytes", x.Span, len(b))
	}
	if _, _, err := DecodeWindow([]byte{windowFormat, 0x80}); err == nil {
		t.Error("truncated window decoded")
	}
	// Refit to a window half as long keeps the recent buckets.
	r := Config{Window: 60 * 24 * time.Hour}.Refit(w)
	if f, _ := r.InWindow(d(200)); f != 1 {
		t.Errorf("refit: %d purchases", f)
	}
}

func BenchmarkScore(b *testing.B) {
	p := NewPopulation()
	vs := randomValues(100_000, 1)
	for _, v := range vs {
		p.Add(v)
	}
	p.Seal(0)
	prev := make([]Score, len(vs))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		j := i % len(vs)
		prev[j] = p.Score(vs[j], prev[j])
	}
}

func BenchmarkRebuild1M(b *testing.B) {
	vs := randomValues(1_000_000, 2)
	p := NewPopulation()
	b.ReportAllocs()
	for b.Loop() {
		for _, v := range vs {
			p.Add(v)
		}
		p.Seal(0)
	}
}

// TestRestoreScoresLikeSeal: a population restored from another's cuts
// scores every user exactly as the sealed one, previous scores included.
func TestRestoreScoresLikeSeal(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	sealed := NewPopulation()
	var vs []Values
	for i := 0; i < 5000; i++ {
		v := Values{HasPurchased: i%7 != 0, RecencyDays: rng.Float64() * 200, Frequency: 1 + rng.Int64N(20),
			Monetary: schemas.Micros(rng.Int64N(500_000_000))}
		vs = append(vs, v)
		sealed.Add(v)
	}
	sealed.Seal(1234)
	restored := NewPopulation()
	restored.Restore(sealed.Cuts())
	if restored.Cuts() != sealed.Cuts() {
		t.Fatalf("cuts differ after Restore")
	}
	for i, v := range vs {
		prev := sealed.Score(vs[(i+1)%len(vs)], Score{})
		if a, b := sealed.Score(v, prev), restored.Score(v, prev); a != b {
			t.Fatalf("user %d: sealed scores %v, restored %v", i, a, b)
		}
	}
}
