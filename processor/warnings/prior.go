package warnings

import (
	"math"
	"time"
)

// PriorFit fits the rhythm model's population prior (PriorGap,
// PriorSpread) from users' states, so that the prior a new user starts
// from is the population's, not a guess: the median gap is e to the mean
// of the users' ln-gap means, and the spread is what a user not seen yet
// varies by, the variance between users' means plus the mean variance
// within a user. Users with fewer than MinPriorGaps gaps are left out:
// their means are mostly noise.
type PriorFit struct {
	n                  int
	sum, sumSq, sumVar float64
}

// MinPriorGaps is the least gaps a user needs to count in a PriorFit, and
// MinPriorUsers the least users a fit needs.
const (
	MinPriorGaps  = 3
	MinPriorUsers = 100
)

// Add counts one user's state.
func (f *PriorFit) Add(s *State) {
	if s.Gaps < MinPriorGaps {
		return
	}
	m := float64(s.GapLog) / 1000
	f.n++
	f.sum += m
	f.sumSq += m * m
	f.sumVar += float64(s.GapVar) / 1000
}

// Prior is the fitted median gap and spread, and the users behind them;
// ok is false with fewer than MinPriorUsers users.
func (f *PriorFit) Prior() (gap time.Duration, spread float64, users int, ok bool) {
	if f.n < MinPriorUsers {
		return 0, 0, f.n, false
	}
	n := float64(f.n)
	mean := f.sum / n
	between := max(0, f.sumSq/n-mean*mean)
	spread = math.Sqrt(between + f.sumVar/n)
	gap = time.Duration(math.Exp(mean) * float64(time.Hour))
	return gap, spread, f.n, spread > 0
}
