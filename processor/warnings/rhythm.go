package warnings

import (
	"math"
	"time"
)

// The rhythm model: how long this user's silences usually are, and so how
// likely it is that the current one is not a silence but a departure.
//
// A visit gap is the time between two activities at least MinGap apart
// (closer ones are one visit: a login and the purchase after it). A
// user's gaps are taken as log-normal. State keeps an exponentially
// weighted mean and variance of ln(gap in hours), in thousandths, over
// about the last gapWindow gaps, so that a user who slows down is
// followed. They are pooled with the population prior (PriorGap,
// PriorSpread, worth PriorWeight gaps), which speaks for a user with few
// gaps; the predictive spread is widened by 1 + 1/(PriorWeight + gaps) for
// what a few gaps cannot tell.
//
// After a silence s the risk is the probability that the user left at
// their last visit: p / (p + (1 − p)·S(s)), S(s) being the share of the
// user's gaps longer than s. p is the chance of leaving within one mean
// gap g: 1 − e^(−g/L), users leaving at the rate 1/L in time however often
// they come, with L = Lifetime + TenureWeight × tenure: among users who
// leave at different rates, those who have stayed long are the ones who
// leave slowly. The rate is multiplied by the partition's hazard of the
// kind of visit the silence began with (outcomes.go): where users leave
// after a purchase far more often than after a login, a silence after a
// login is less news. The level i is due when the risk reaches Risk[i]. That
// silence has a closed form, so the due times cost what fixed fractions
// of ChurnAfter cost.

// gapWindow is how many of the latest gaps weigh in a user's statistics.
const gapWindow = 16

const msPerHour = float64(time.Hour / time.Millisecond)

// observeGap folds one visit gap of gapMs into the user's statistics, in
// integers, so that the stored state is the same on every machine.
func (c Config) observeGap(s *State, gapMs int64) {
	if gapMs < int64(c.MinGap/time.Millisecond) {
		return
	}
	x := int64(math.Round(1000 * math.Log(float64(gapMs)/msPerHour)))
	if s.Gaps == 0 {
		s.GapLog, s.GapVar, s.Gaps = x, 0, 1
		return
	}
	n := int64(min(s.Gaps+1, gapWindow))
	d := x - s.GapLog
	s.GapLog += d / n
	s.GapVar = (n - 1) * (s.GapVar + d*d/(1000*n)) / n
	s.Gaps = satInc(s.Gaps)
}

// gapModel is the user's pooled ln-gap mean and standard deviation (ln
// hours), and p, the chance of leaving within one mean gap.
func (c Config) gapModel(s *State) (mu, sigma, p float64) {
	mu, sigma, g := c.pooledGap(s)
	return mu, sigma, c.leaveWithin(s, g, c.Outcomes.Hazard(s.visitKind()))
}

// pooledGap is the user's ln-gap mean and standard deviation pooled with
// the prior, and g, the mean gap in hours.
func (c Config) pooledGap(s *State) (mu, sigma, g float64) {
	k := c.PriorWeight
	mu0 := math.Log(c.PriorGap.Hours())
	v0 := c.PriorSpread * c.PriorSpread
	n := float64(min(s.Gaps, gapWindow))
	m, v := float64(s.GapLog)/1000, float64(s.GapVar)/1000
	mu = (k*mu0 + n*m) / (k + n)
	variance := (k*v0 + n*v + k*n/(k+n)*(m-mu0)*(m-mu0)) / (k + n)
	variance *= 1 + 1/(k+n)
	return mu, math.Sqrt(variance), math.Exp(mu + variance/2)
}

// leaveWithin is the chance of leaving within a mean gap of g hours, at
// the partition's rate times hazard.
func (c Config) leaveWithin(s *State, g, hazard float64) float64 {
	tenure := 0.0
	if s.First != 0 && s.LastActivity > s.First {
		tenure = float64(s.LastActivity-s.First) / msPerHour
	}
	return -math.Expm1(-g * hazard / (c.Lifetime.Hours() + c.TenureWeight*tenure))
}

// baseChance is p before the hazard of the kind of visit: how likely the
// model takes the silence to be a departure, by which the outcomes share
// the partition's departures out between the kinds (Outcomes.hazards).
func (c Config) baseChance(s *State) float64 {
	_, _, g := c.pooledGap(s)
	return c.leaveWithin(s, g, 1)
}

// usualGapDays is the user's median gap in days, for the warning's text.
func (c Config) usualGapDays(s *State) float64 {
	mu, _, _ := c.gapModel(s)
	return math.Exp(mu) / 24
}

// riskDue is the silence (ms, whole minutes) after which the risk reaches
// r, and never shorter than the user's median gap: a silence is no news
// before it is longer than usual, however likely the user was to leave (a
// user who returned after a long lapse, say).
func (c Config) riskDue(s *State, r float64) int64 {
	mu, sigma, p := c.gapModel(s)
	least := max(int64(c.MinGap/time.Millisecond), int64(math.Round(math.Exp(mu)*60))*int64(time.Minute/time.Millisecond))
	if c.firstSilence(s) {
		return c.firstDue(s, r, least, mu, sigma, p)
	}
	surv := p * (1 - r) / (r * (1 - p)) // the S(s) at which the risk is r
	if surv >= 1 {
		return least
	}
	z := math.Sqrt2 * math.Erfinv(1-2*surv) // Φ⁻¹(1 − S)
	minutes := math.Round(math.Exp(mu+sigma*z) * 60)
	if !(minutes < maxMinutes) {
		minutes = maxMinutes
	}
	return max(least, int64(minutes)*int64(time.Minute/time.Millisecond))
}

// firstDue is riskDue for a first silence, whose risk (the partition's
// share, first.go) has no closed form: the first whole minute from least
// at which it, rising with the silence up to the churn, reaches r; none
// before the churn when it does not. mu, sigma and p are the user's
// gapModel, taken once for the search.
func (c Config) firstDue(s *State, r float64, least int64, mu, sigma, p float64) int64 {
	const minute = int64(time.Minute / time.Millisecond)
	f := &c.Outcomes.first
	reaches := func(m int64) bool {
		return f.risk(m*minute, modelRisk(m*minute, mu, sigma, p)) >= r
	}
	lo, hi := (least+minute-1)/minute, c.churnMs()/minute
	switch {
	case lo > hi || !reaches(hi):
		return maxMinutes * minute
	case reaches(lo):
		return least
	}
	for lo < hi {
		if mid := (lo + hi) / 2; reaches(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo * minute
}

// RiskAt is the risk at time at that the user has left: what a check then
// would score. 0 before any activity.
func (c Config) RiskAt(s *State, at int64) float64 {
	if s.LastActivity == 0 {
		return 0
	}
	return c.riskAt(s, c.counted(s.LastActivity, at))
}

// maxMinutes bounds a due silence: far beyond any churn threshold.
const maxMinutes = 1 << 32

// riskAt is the risk after a silence of silenceMs: the rhythm model's,
// and for a first silence up to the churn the partition's share
// (first.go) pooled with it. Past the churn no warning is due, and the
// returns after so long a first silence are few and cut off by the end of
// what the partition has seen, so the model's risk stands there: only
// scoring churned users reads it (evaluate --cdnow;
// processor/quality/FINDINGS.md, "First visits").
func (c Config) riskAt(s *State, silenceMs int64) float64 {
	mu, sigma, p := c.gapModel(s)
	r := modelRisk(silenceMs, mu, sigma, p)
	if c.firstSilence(s) && silenceMs <= c.churnMs() {
		return c.Outcomes.first.risk(silenceMs, r)
	}
	return r
}

// modelRisk is the rhythm model's risk after a silence of silenceMs, for
// a user whose gapModel is mu, sigma and p.
func modelRisk(silenceMs int64, mu, sigma, p float64) float64 {
	if silenceMs <= 0 {
		return p
	}
	surv := 0.5 * math.Erfc((math.Log(float64(silenceMs)/msPerHour)-mu)/(sigma*math.Sqrt2))
	return p / (p + (1-p)*surv)
}

// firstSilence reports whether the user's silence follows their only
// visit so far and the partition has first silences to give its risk.
func (c Config) firstSilence(s *State) bool {
	return s.Gaps == 0 && c.Outcomes != nil && c.Outcomes.first.known()
}

func satInc(n uint32) uint32 {
	if n == math.MaxUint32 {
		return n
	}
	return n + 1
}
