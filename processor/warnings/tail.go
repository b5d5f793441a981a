package warnings

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
)

// Tail is the population's own tail of the gap model: how often a gap
// ends in a return after a silence of a given length, measured in each
// user's own rhythm. The log-normal of rhythm.go gives each user's typical
// gap and spread; how heavy the tail beyond them is depends on the
// population (Poisson visitors come back fast or not at all; lapsing users
// come back after weeks), and the log-normal's tail fits neither. So every
// completed gap (one that ended in a return) is counted at its normalized
// length z = (ln gap − μ) / σ, μ and σ being the user's model just before
// it, and the risk takes the survival of these counts instead of the
// log-normal's.
//
// The counts the risk uses (used) are a copy of the live counts made at
// fixed event-time points (the runtime refreshes at its RFM rebuild
// points), so the same input gives the same warnings whatever the
// batching, and both are stored with the partition's state. The
// log-normal speaks as tailPrior gaps beside the counts: a fresh
// deployment starts from it, and a population with few gaps leans on it.
type Tail struct {
	h [tailClasses]hist
	// ll is the log-likelihood of every resolved silence (a return
	// before the churn, or the churn) per lifetime of lifetimes; fit is
	// the best lifetime at the last refresh (0: none yet).
	ll       [tailGrid]float64
	silences uint64
	fit      float64
}

// hist is one class's counts.
type hist struct {
	live, used [tailBins + 1]uint64 // gaps per z bin; the last bin holds z ≥ the last edge
	logS       [tailBins + 1]float64
	ready      bool // logS holds the survival of used
}

const (
	tailMin     = -4.0 // z of the first edge
	tailStep    = 0.25
	tailBins    = 56   // edges at tailMin + i·tailStep, i = 0..tailBins (z up to 10)
	tailPrior   = 50.0 // gaps the log-normal prior weighs as
	tailClasses = 2
)

// TailMode and friends are temporary experiment switches.
var (
	TailUnscaled = os.Getenv("TAILUNSCALED") != ""
	TailSplit    = os.Getenv("TAILSPLIT") != ""
	TailPriorSD  = 1.0
	ReturnsCount = os.Getenv("RETURNSCOUNT") != ""
)

func init() {
	if TailUnscaled {
		TailPriorSD = 1.2
	}
}

func tailClass(s *State) int {
	if TailSplit && s.Gaps < 4 {
		return 0
	}
	return 1
}

// The lifetimes (hours) whose likelihood a Tail keeps: 30 days × 2^(k/2).
const tailGrid = 15

func gridLifetime(k int) float64 { return 30 * 24 * math.Pow(2, float64(k)/2) }

// resolve adds one resolved silence's log-likelihood, given as a function
// of the lifetime.
func (t *Tail) resolve(ll func(lifetimeH float64) float64) {
	for k := range t.ll {
		t.ll[k] += ll(gridLifetime(k))
	}
	t.silences++
}

// lifetime is the maximum-likelihood lifetime at the last refresh.
func (t *Tail) lifetime() (float64, bool) { return t.fit, t.fit > 0 }

// observe counts one completed gap at normalized length z.
func (t *Tail) observe(class int, z float64) {
	i := int(math.Floor((z - tailMin) / tailStep))
	t.h[class].live[min(max(i, 0), tailBins)]++
}

// Refresh makes the counts seen so far the ones the risk uses.
func (t *Tail) Refresh() {
	for i := range t.h {
		t.h[i].used = t.h[i].live
		t.h[i].ready = false
	}
	if t.silences >= minSilences {
		best := 0
		for k := range t.ll {
			if t.ll[k] > t.ll[best] {
				best = k
			}
		}
		t.fit = gridLifetime(best)
	}
}

const minSilences = 1000

// Gaps is the number of gaps the risk's tail is made of.
func (t *Tail) Gaps() uint64 {
	var n uint64
	for i := range t.h {
		n += t.h[i].gaps()
	}
	return n
}

func (h *hist) gaps() uint64 {
	var n uint64
	for _, c := range h.used {
		n += c
	}
	return n
}

// table fills logS: ln of the blended survival at each edge.
func (h *hist) table() {
	n := float64(h.gaps())
	above := n
	for j := 0; j <= tailBins; j++ {
		if j > 0 {
			above -= float64(h.used[j-1])
		}
		z := tailMin + float64(j)*tailStep
		prior := 0.5 * math.Erfc(z/TailPriorSD/math.Sqrt2)
		h.logS[j] = math.Log((above + tailPrior*prior) / (n + tailPrior))
	}
	h.ready = true
}

func (t *Tail) survival(class int, z float64) float64 { return t.h[class].survival(z) }
func (t *Tail) quantile(class int, s float64) float64 { return t.h[class].quantile(s) }

// survival is the share of gaps longer than z (normalized), from the
// table, interpolated in ln S between edges and extended along the last
// edge's slope beyond it.
func (h *hist) survival(z float64) float64 {
	if !h.ready {
		h.table()
	}
	x := (z - tailMin) / tailStep
	if x <= 0 {
		return 1
	}
	j := min(int(x), tailBins-1)
	f := x - float64(j)
	return math.Exp(h.logS[j] + f*(h.logS[j+1]-h.logS[j]))
}

// quantile is the z at which the survival falls to surv (0 < surv < 1).
func (h *hist) quantile(surv float64) float64 {
	if !h.ready {
		h.table()
	}
	ls := math.Log(surv)
	if ls >= h.logS[0] {
		return tailMin
	}
	lo, hi := 0, tailBins
	if ls < h.logS[tailBins] {
		lo, hi = tailBins-1, tailBins // beyond the last edge: extend
	} else {
		for hi-lo > 1 {
			mid := (lo + hi) / 2
			if h.logS[mid] > ls {
				lo = mid
			} else {
				hi = mid
			}
		}
	}
	d := h.logS[hi] - h.logS[lo]
	f := 1.0
	if d < 0 {
		f = (ls - h.logS[lo]) / d
	}
	return tailMin + (float64(lo)+f)*tailStep
}

// AppendBinary appends the encoding of t: the live and the used counts as
// uvarints.
func (t *Tail) AppendBinary(b []byte) []byte {
	for i := range t.h {
		for _, c := range t.h[i].live {
			b = binary.AppendUvarint(b, c)
		}
		for _, c := range t.h[i].used {
			b = binary.AppendUvarint(b, c)
		}
	}
	return b
}

// DecodeTail decodes what AppendBinary wrote; empty b is a fresh Tail.
func DecodeTail(b []byte) (*Tail, error) {
	t := &Tail{}
	if len(b) == 0 {
		return t, nil
	}
	for _, a := range []*[tailBins + 1]uint64{&t.h[0].live, &t.h[0].used, &t.h[1].live, &t.h[1].used} {
		for i := range a {
			v, n := binary.Uvarint(b)
			if n <= 0 {
				return nil, errTail
			}
			a[i], b = v, b[n:]
		}
	}
	if len(b) != 0 {
		return nil, errTail
	}
	return t, nil
}

var errTail = errors.New("warnings: corrupt gap tail encoding")

// DebugString is temporary.
func (t *Tail) DebugString() string {
	s := fmt.Sprintf("n=%d sil=%d fit=%.0fd", t.Gaps(), t.silences, t.fit/24)
	for _, z := range []float64{0, 1, 1.5, 2, 2.5, 3, 4, 5} {
		s += fmt.Sprintf(" z%.1f:%.4f/%.4f", z, t.survival(1, z), 0.5*math.Erfc(z/math.Sqrt2))
	}
	return s
}
