package simulate

import (
	"math"
	"time"
)

// Oracle is the detector that knows each user's hidden traits (visit rate,
// lifetime distribution, lapse and fade process), which no real system can
// know: the limit of what the data allow on this population.
//
// In every silence after a login it scores, every three hours, the
// probability that the user has left by then, given that they were there
// at the login and have not logged in since:
//
//	P(D ≤ t | D > s, silence) = ∫ₛᵗ f(d)·L(silence | d) dd / ∫ₛ^∞ f(d)·L(silence | d) dd
//
// with f the density of the user's Weibull lifetime, and the likelihood of
// the silence under a dropout at d from the visit rate faded before d and
// the chance of a lapse after the login, as the model generates them (the
// daily rhythm averages out and is left aside). It warns once per silence,
// when the probability first reaches a threshold, and follows silences up
// to churnAfter, when the stage model declares the churn.
//
// logins holds each user's login times (Unix ms, ascending). It returns,
// per threshold, the warning times per user.
func Oracle(truth []Truth, logins map[string][]int64, end int64, churnAfter time.Duration, thresholds []float64) []map[string][]int64 {
	out := make([]map[string][]int64, len(thresholds))
	for i := range out {
		out[i] = map[string][]int64{}
	}
	const step = 3 * msPerHour
	limit := churnAfter.Milliseconds()
	for _, u := range truth {
		o := oracleUser{rate: u.Rate, scale: u.LifetimeScale, lapse: lapseChance(u.Rate), arrival: u.Arrival.UnixMilli()}
		visits := logins[u.UserID]
		for k, from := range visits {
			to := min(end, from+limit)
			if k+1 < len(visits) {
				to = min(to, visits[k+1])
			}
			crossed := make([]bool, len(thresholds))
			var leave float64 // ∫ₛᵗ f(d)·L(silence | d) dd so far
			prev := o.survival(from)
			for t := from + step; t < to; t += step {
				s := o.survival(t)
				leave += (prev - s) * o.silenceIfLeft(float64(t-step/2-from)/msPerDay)
				prev = s
				risk := leave / (leave + o.stay(from, t))
				for i, th := range thresholds {
					if !crossed[i] && risk >= th {
						crossed[i] = true
						out[i][u.UserID] = append(out[i][u.UserID], t)
					}
				}
			}
		}
	}
	return out
}

// oracleUser holds one user's hidden traits.
type oracleUser struct {
	rate, scale, lapse float64
	arrival            int64
}

// survival is P(D > t), unnormalised: the Weibull survival of the age at t.
func (o oracleUser) survival(t int64) float64 {
	age := math.Max(0, float64(t-o.arrival)/msPerDay)
	return math.Exp(-math.Pow(age/o.scale, lifetimeShape))
}

// faded is the integral of the fade factor over the last y days before a
// dropout: 1 more than fadeDays before it, falling linearly to fadeFloor.
func faded(y float64) float64 {
	if y >= fadeDays {
		return y - fadeDays + fadeDays*(1+fadeFloor)/2
	}
	return fadeFloor*y + (1-fadeFloor)*y*y/(2*fadeDays)
}

// afterLapse is the probability of no login in the g days after a login
// that a lapse follows, at the user's base rate: the lapse covers them, or
// it ends and the visits that follow leave the rest empty.
func (o oracleUser) afterLapse(g float64) float64 {
	if g <= lapseMinDays {
		return 1
	}
	a, x := 1/lapseMeanDays, g-lapseMinDays
	if math.Abs(o.rate-a) < 1e-9 {
		return math.Exp(-a*x) * (1 + a*x)
	}
	return math.Exp(-a*x) + a/(o.rate-a)*(math.Exp(-a*x)-math.Exp(-o.rate*x))
}

// silence is the likelihood of no login for g days after a login, given
// the expected logins in them (the rate, faded when a dropout is near).
func (o oracleUser) silence(g, expected float64) float64 {
	return (1-o.lapse)*math.Exp(-expected) + o.lapse*o.afterLapse(g)
}

// silenceIfLeft is the likelihood of no login between a login and a
// dropout g days after it.
func (o oracleUser) silenceIfLeft(g float64) float64 {
	return o.silence(g, o.rate*faded(g))
}

// stay is ∫ₜ^∞ f(d)·L(silence since from | d) dd, unnormalised: the user is
// still there at t, and logged in less in the days before t when the
// dropout is near.
func (o oracleUser) stay(from, t int64) float64 {
	g := float64(t-from) / msPerDay
	const parts = 14
	const w = fadeDays / parts
	var sum float64
	prev := o.survival(t)
	for i := 1; i <= parts; i++ {
		ahead := w * float64(i) // dropout this many days after t
		s := o.survival(t + int64(ahead*msPerDay))
		mid := ahead - w/2
		sum += (prev - s) * o.silence(g, o.rate*(faded(g+mid)-faded(mid)))
		prev = s
	}
	return sum + prev*o.silence(g, o.rate*g)
}
