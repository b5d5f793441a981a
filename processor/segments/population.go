package segments

import (
	"fmt"
	"math"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/DataDog/sketches-go/ddsketch/mapping"
	"github.com/DataDog/sketches-go/ddsketch/store"

	"github.com/lifecycle-engine/lifecycle/schemas"
)

// Values are one user's raw RFM values at a moment.
type Values struct {
	RecencyDays  float64        // days since the last purchase
	Frequency    int64          // purchases (in the window, or all time)
	Monetary     schemas.Micros // their total (in the window, or all time)
	HasPurchased bool           // false: the user has never paid and gets no score
}

// SketchAccuracy is the relative accuracy of the population's sketches. A
// cut is the edge of the sketch bin that holds the exact quantile, so it is
// within 2×SketchAccuracy/(1-SketchAccuracy) ≈ 0.8 % of it.
const SketchAccuracy = 0.004

// The dimensions, in the order of Population's arrays.
const (
	dimR = iota
	dimF
	dimM
	nDims
)

// The quantiles of the quintile cuts.
var quintiles = [4]float64{0.2, 0.4, 0.6, 0.8}

// DimCuts are one dimension's cuts: Quintiles[k] is the cut between score
// k+1 and score k+2, and Median the high/low split. R is in days (so its
// cuts decrease: R5 is below Quintiles[3]), F in purchases, M in currency
// units. F and M are high at or above a cut, R is recent below it.
type DimCuts struct {
	Quintiles [4]float64 `json:"quintiles"`
	Median    float64    `json:"median"`
}

// Cuts are a sealed population's cuts, as plain data for HTTP and stats.
// Sealed is false (and the rest zero) before the first Seal.
type Cuts struct {
	Sealed   bool    `json:"sealed"`
	SealedAt int64   `json:"sealed_at"` // event time of the rebuild, ms
	Users    int64   `json:"users"`     // users added, with or without purchases
	Buyers   int64   `json:"buyers"`    // users with purchases: the population of the cuts
	R        DimCuts `json:"r"`
	F        DimCuts `json:"f"`
	M        DimCuts `json:"m"`
}

// dim is one dimension's decision data. A value counts as above cut k when
// v >= cut[k]; the margin is the half-width of the dead band around it.
type dim struct {
	cut    [4]float64
	margin [4]float64
	med    float64
	medM   float64
}

// Population holds the cuts in effect (from the last Seal) and the sketches
// of the rebuild in progress. Score reads only the cuts, so users can be
// scored while a rebuild is being fed. It is not safe for concurrent use.
type Population struct {
	cfg      Config
	sketches [nDims]*ddsketch.DDSketch
	users    int64 // saturating counts (schemas.AddSat)
	buyers   int64

	cuts Cuts
	dims [nDims]dim
}

// NewPopulation returns an empty population with the default Config.
func NewPopulation() *Population {
	p, err := NewPopulationWith(Config{})
	if err != nil {
		panic(err)
	}
	return p
}

// NewPopulationWith returns an empty population with the configuration c
// (its Hysteresis is what Score applies), or Validate's error.
func NewPopulationWith(c Config) (*Population, error) {
	c = c.WithDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	m, err := mapping.NewLogarithmicMapping(SketchAccuracy)
	if err != nil {
		return nil, fmt.Errorf("segments: %w", err)
	}
	p := &Population{cfg: c}
	for i := range p.sketches {
		// A dense store: its quantiles depend only on the count per bin,
		// never on insertion order (see doc.go).
		p.sketches[i] = ddsketch.NewDDSketch(m, store.NewDenseStore(), store.NewDenseStore())
	}
	return p, nil
}

// Config returns the population's configuration, with defaults filled in.
func (p *Population) Config() Config { return p.cfg }

// clean maps a raw value to what the model uses: NaN and negatives (a net
// refund, a purchase after "now") are 0; +Inf is the largest finite value.
func clean(v float64) float64 {
	if !(v > 0) {
		return 0
	}
	return min(v, math.MaxFloat64/4)
}

func (v Values) dims() [nDims]float64 {
	return [nDims]float64{
		clean(v.RecencyDays),
		clean(float64(v.Frequency)),
		clean(float64(v.Monetary) / schemas.MicrosPerUnit),
	}
}

// Add feeds one user's current values to the rebuild in progress. Users who
// never purchased are counted but not sketched.
func (p *Population) Add(v Values) {
	p.users = schemas.AddSat(p.users, 1)
	if !v.HasPurchased {
		return
	}
	p.buyers = schemas.AddSat(p.buyers, 1)
	for i, x := range v.dims() {
		_ = p.sketches[i].Add(x) // clean keeps x trackable: never an error
	}
}

// AddNonBuyers counts n users who never purchased in the rebuild in
// progress, as n calls of Add with their (empty) values would.
func (p *Population) AddNonBuyers(n int64) { p.users = schemas.AddSat(p.users, max(n, 0)) }

// Abort discards the rebuild in progress; the cuts in effect stay.
func (p *Population) Abort() {
	for _, s := range p.sketches {
		s.Clear()
	}
	p.users, p.buyers = 0, 0
}

// Seal finishes the rebuild: the cuts of the users added since the last Seal
// (or Abort) take effect, stamped with the event time at, and the next
// rebuild starts empty. With no buyers every user scores none until a later
// Seal has some.
func (p *Population) Seal(at int64) {
	c := Cuts{Sealed: true, SealedAt: at, Users: p.users, Buyers: p.buyers}
	var dims [nDims]dim
	if p.buyers > 0 {
		dims[dimR] = p.sealDim(p.sketches[dimR], true, math.Inf(-1), 0)
		dims[dimF] = p.sealDim(p.sketches[dimF], false, 0, math.Inf(1))
		dims[dimM] = p.sealDim(p.sketches[dimM], false, 0, math.Inf(1))
		for k := range 4 {
			c.R.Quintiles[k] = -dims[dimR].cut[k]
		}
		c.R.Median = -dims[dimR].med
		c.F = DimCuts{dims[dimF].cut, dims[dimF].med}
		c.M = DimCuts{dims[dimM].cut, dims[dimM].med}
	}
	p.cuts, p.dims = c, dims
	p.Abort()
}

// sealDim computes one dimension's cuts. Decisions are made in "higher is
// better" space: F and M as they are, R as minus the days (the sketch holds
// the days). A cut at fraction q puts the ceil(q×n) least valuable buyers
// on its less valuable side: it is the edge, on the valuable side, of the
// sketch bin holding the last of them, so every value in that bin is on
// the same side. Ties with a cut thus go to the less valuable side (the
// lower score, "low", "not recent"). lo and hi bound the values (0 and +Inf
// for F and M, -Inf and 0 for R) and act as neighbouring cuts for margins.
func (p *Population) sealDim(s *ddsketch.DDSketch, recency bool, lo, hi float64) dim {
	n := int64(s.GetCount())
	edge := func(q float64) float64 {
		k := int64(math.Ceil(q * float64(n))) // on the less valuable side
		j := k - 1                            // the element, ascending, holding the cut
		if recency {
			j = n - k
		}
		// The sketch returns the element at index floor(rank), rank = q×(n-1).
		r := 0.0
		if n > 1 {
			r = min(1, (float64(j)+0.5)/float64(n-1))
		}
		x, _ := s.GetValueAtQuantile(r)
		switch {
		case x <= 0: // the zero bin: nothing is past it on the valuable side for R
			return s.MinIndexableValue()
		case recency:
			return -s.LowerBound(s.Index(x))
		default:
			return s.LowerBound(s.Index(x) + 1)
		}
	}
	var cut [4]float64
	for k, q := range quintiles {
		cut[k] = edge(q)
	}
	return p.dimFrom(cut, edge(0.5), lo, hi)
}

// dimFrom completes a dimension's decision data from its cuts and median:
// the dead bands follow from them and the hysteresis setting.
func (p *Population) dimFrom(cut [4]float64, med, lo, hi float64) dim {
	d := dim{cut: cut, med: med}
	h := p.cfg.hysteresis()
	for k, c := range d.cut {
		below, above := lo, hi
		if k > 0 {
			below = d.cut[k-1]
		}
		if k < len(d.cut)-1 {
			above = d.cut[k+1]
		}
		d.margin[k] = h * min(c-below, above-c)
	}
	d.medM = h * max(0, min(d.med-d.cut[1], d.cut[2]-d.med))
	return d
}

// Cuts returns the cuts in effect.
func (p *Population) Cuts() Cuts { return p.cuts }

// Restore puts back cuts that an earlier Seal produced (stored with the
// state), so a restarted or restored partition scores exactly as the one
// that sealed them: rebuilding from the state at restart time would not.
func (p *Population) Restore(c Cuts) {
	p.Abort()
	p.cuts = c
	p.dims = [nDims]dim{}
	if !c.Sealed || c.Buyers == 0 {
		return
	}
	var r [4]float64
	for k, q := range c.R.Quintiles {
		r[k] = -q
	}
	p.dims[dimR] = p.dimFrom(r, -c.R.Median, math.Inf(-1), 0)
	p.dims[dimF] = p.dimFrom(c.F.Quintiles, c.F.Median, 0, math.Inf(1))
	p.dims[dimM] = p.dimFrom(c.M.Quintiles, c.M.Median, 0, math.Inf(1))
}

// Sealed reports whether the population has been sealed at least once.
func (p *Population) Sealed() bool { return p.cuts.Sealed }

// SealedAt is the event time of the last Seal (0 before the first).
func (p *Population) SealedAt() int64 { return p.cuts.SealedAt }

// level counts the cuts v is at or above, 0..4. prev is the previous level,
// or out of 0..4 for none: a cut the user was above then moves down by its margin
// (they must fall clearly below it to drop), a cut they were below moves up
// by its margin (they must rise clearly past it to climb). With margins at
// most half the gap to the next cut the moved cuts stay in order, so the
// count is a level.
func (d *dim) level(v float64, prev int) int {
	n := 0
	for k, c := range d.cut {
		switch {
		case prev < 0 || prev > 4:
		case k < prev:
			c -= d.margin[k]
		default:
			c += d.margin[k]
		}
		if v >= c {
			n++
		}
	}
	return n
}

// above reports whether v is at or above the median; prev is the previous
// answer (-1 none, 0 below, 1 above) and gets the same dead band as level.
func (d *dim) above(v float64, prev int) bool {
	c := d.med
	switch prev {
	case 0:
		c += d.medM
	case 1:
		c -= d.medM
	}
	return v >= c
}

// Score scores a user against the cuts in effect. prev is the user's
// previous score (the zero Score if none): each quintile score and each
// high/low split only changes when the value is past the cut by more than
// the cut's margin (Config.Hysteresis), so a value hovering at a cut keeps
// its side. A user who never purchased, or any user before the first Seal
// with buyers, scores none.
func (p *Population) Score(v Values, prev Score) Score {
	if !v.HasPurchased || p.cuts.Buyers == 0 {
		return Score{}
	}
	x := v.dims()
	x[dimR] = -x[dimR] // higher is better
	s := Score{
		R: uint8(1 + p.dims[dimR].level(x[dimR], int(prev.R)-1)),
		F: uint8(1 + p.dims[dimF].level(x[dimF], int(prev.F)-1)),
		M: uint8(1 + p.dims[dimM].level(x[dimM], int(prev.M)-1)),
	}
	ar, af, am := -1, -1, -1
	if recent, highF, highM, ok := prev.Segment.Splits(); ok {
		ar, af, am = b2i(recent), b2i(highF), b2i(highM)
	}
	s.Segment = SegmentOf(
		p.dims[dimR].above(x[dimR], ar),
		p.dims[dimF].above(x[dimF], af),
		p.dims[dimM].above(x[dimM], am),
	)
	return s
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
