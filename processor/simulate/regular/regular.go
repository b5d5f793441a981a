// Package regular is a fifth population generator, written after the
// warnings' settings were fixed and unlike the other four in the thing it
// was written for: its users keep a regular rhythm (a weekly class, a
// payday shop, a Sunday read), so their gaps vary far less than the
// memoryless waits of every other family, and a silence of twice a
// user's period says much more. Every user's period, regularity and
// dropout hazard are known, so an oracle scores each silence's true risk
// (Oracle).
//
// The process, per user:
//
//   - arrival: uniform over the first half of the period;
//   - period T: log-uniform between MinPeriod and MaxPeriod days; each
//     gap is Gamma(Shape, T/Shape) days (mean T, coefficient of variation
//     1/√Shape: 0.35 at the default 8);
//   - dropout: a lifetime exponential with the hazard μ, itself
//     exponential with the mean 1/MeanLifetime per day, so that lifetimes
//     are heavy-tailed across users; no visit after it. The true dropout
//     time is the last visit before it;
//   - a visit is a login; with the user's purchase chance q (uniform in
//     [0.1, 0.5]) a purchase follows 5 minutes later, of LogNormal(ln 30,
//     0.8) dollars.
package regular

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"gonum.org/v1/gonum/mathext"
	"gonum.org/v1/gonum/stat/distuv"

	"github.com/lifecycle-engine/lifecycle/processor/simulate/rhythm"
)

// Config describes one population. Zero fields take their defaults.
type Config struct {
	Users        int       // default 5000
	Days         int       // default 365
	Seed         uint64    // the same seed and Config give the same events
	Start        time.Time // default 2026-01-01
	MinPeriod    float64   // days between visits of the most frequent users; default 1
	MaxPeriod    float64   // of the rarest; default 14
	Shape        float64   // the gaps' Gamma shape: higher is more regular; default 8
	MeanLifetime float64   // days; default 150
}

func (c Config) withDefaults() Config {
	c.Users = cmp.Or(c.Users, 5000)
	c.Days = cmp.Or(c.Days, 365)
	if c.Start.IsZero() {
		c.Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	c.MinPeriod = cmp.Or(c.MinPeriod, 1)
	c.MaxPeriod = cmp.Or(c.MaxPeriod, 14)
	c.Shape = cmp.Or(c.Shape, 8)
	c.MeanLifetime = cmp.Or(c.MeanLifetime, 150)
	return c
}

// Validate names the first invalid field.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.Users < 1 || c.Users > 1_000_000:
		return fmt.Errorf("regular: %d users; want 1 to 1,000,000", c.Users)
	case c.Days < 1 || c.Days > 3650:
		return fmt.Errorf("regular: %d days; want 1 to 3650", c.Days)
	case c.MinPeriod <= 0 || c.MaxPeriod < c.MinPeriod:
		return fmt.Errorf("regular: periods %g to %g days; want 0 < min ≤ max", c.MinPeriod, c.MaxPeriod)
	case c.Shape < 1 || c.Shape > 100 || c.Shape != math.Trunc(c.Shape):
		return fmt.Errorf("regular: gap shape %g; want a whole number from 1 (memoryless) to 100", c.Shape)
	case c.MeanLifetime <= 0:
		return fmt.Errorf("regular: mean lifetime %g days; want more than 0", c.MeanLifetime)
	}
	return nil
}

const day = 24 * 60 * 60 * 1000 // ms

// User is one generated user with the truth about them.
type User struct {
	ID     string
	Period float64 // mean days between visits
	Shape  float64 // the gaps' Gamma shape (a whole number here; any in package paretoggg)
	Hazard float64 // the chance of leaving, per day
	Visits []int64 // visit times, Unix ms
	// Left is the time of the last visit when the user left within the
	// period (0: still active at its end).
	Left int64
}

// Generate makes the population: its users (with their truth) and their
// events in time order, as package rhythm's records. End is the end of
// the period (Unix ms).
func Generate(ctx context.Context, cfg Config) (users []*User, events []rhythm.Record, end int64, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, 0, err
	}
	c := cfg.withDefaults()
	src := rand.NewPCG(c.Seed, 0x7265_6775_6c61_72)
	rng := rand.New(src)
	start := c.Start.UnixMilli()
	end = start + int64(c.Days)*day
	for i := range c.Users {
		if i%1000 == 0 && ctx.Err() != nil {
			return nil, nil, 0, ctx.Err()
		}
		u := &User{
			ID:     fmt.Sprintf("r-%06d", i),
			Period: math.Exp(math.Log(c.MinPeriod) + rng.Float64()*(math.Log(c.MaxPeriod)-math.Log(c.MinPeriod))),
			Shape:  c.Shape,
			Hazard: rng.ExpFloat64() / c.MeanLifetime,
		}
		events = u.Live(events, rng, src, start, c.Days, 0)
		users = append(users, u)
	}
	slices.SortStableFunc(events, func(a, b rhythm.Record) int { return cmp.Compare(a.Time, b.Time) })
	return users, events, end, nil
}

// Live draws u's life in the period of days from start and appends its
// events:
// a purchase chance uniform in [0.1, 0.5], an arrival uniform over the
// first half of the period, a lifetime exponential at u's hazard (at most
// twice the period), and visits until then at Gamma(Shape, Period/Shape)
// days apart, at least minGap ms. Left is set when the life ended within
// the period.
func (u *User) Live(events []rhythm.Record, rng *rand.Rand, src rand.Source, start int64, days int, minGap int64) []rhythm.Record {
	end := start + int64(days)*day
	gap := distuv.Gamma{Alpha: u.Shape, Beta: u.Shape / u.Period, Src: src}
	buy := 0.1 + 0.4*rng.Float64()
	arrival := start + int64(rng.Float64()*float64(days)/2*day)
	death := arrival + int64(min(rng.ExpFloat64()/u.Hazard, float64(2*days))*day)
	for t := arrival; t < min(death, end); t += max(int64(gap.Rand()*day), minGap) {
		events = u.visit(events, rng, t, buy)
	}
	if death < end {
		u.Left = u.Visits[len(u.Visits)-1]
	}
	return events
}

// visit records u's visit at t and appends its events: a login, then,
// with the user's purchase chance buy, a purchase 5 minutes later of
// LogNormal(ln 30, 0.8) dollars.
func (u *User) visit(events []rhythm.Record, rng *rand.Rand, t int64, buy float64) []rhythm.Record {
	u.Visits = append(u.Visits, t)
	k := len(u.Visits) - 1
	events = append(events, rhythm.NewRecord(u.ID, "login", fmt.Sprintf("%s-%d", u.ID, k), t, ""))
	if rng.Float64() < buy {
		amount := math.Exp(math.Log(30) + 0.8*rng.NormFloat64())
		events = append(events, rhythm.NewRecord(u.ID, "purchase", fmt.Sprintf("%s-%dp", u.ID, k), t+5*60_000, fmt.Sprintf("%.2f", amount)))
	}
	return events
}

// Risk is the true probability that u, alive at a visit and silent for s
// days since, has left: B / (A + B), where A = e^(−μs)·S(s) is staying
// alive with the next gap still running and B = ∫₀ˢ μe^(−μt)·S(t) dt
// leaving before it ended, S being the gaps' survival. B is integrated by
// the midpoint rule in steps of step days; Risk(s) for every s up to the
// silence comes in one pass (risks).
func (u *User) Risk(s float64) float64 {
	var r float64
	u.risks(s, s/2000, func(_, risk float64) bool { r = risk; return true })
	return r
}

// risks calls f with the silence and its risk every step days up to
// until, until f returns false.
func (u *User) risks(until, step float64, f func(s, risk float64) bool) {
	b := 0.0
	for s := step; s <= until+step/2; s += step {
		m := s - step/2
		b += u.Hazard * math.Exp(-u.Hazard*m) * u.survival(m) * step
		a := math.Exp(-u.Hazard*s) * u.survival(s)
		if !f(s, b/(a+b)) {
			return
		}
	}
}

// survival is the chance that a gap lasts longer than s days: Erlang's
// sum for a whole shape (exact and cheap), the regularized upper
// incomplete gamma function for any other.
func (u *User) survival(s float64) float64 {
	z := s * u.Shape / u.Period
	if u.Shape != math.Trunc(u.Shape) {
		return mathext.GammaIncRegComp(u.Shape, z)
	}
	sum, term := 1.0, 1.0
	for n := 1.0; n < u.Shape; n++ {
		term *= z / n
		sum += term
	}
	return math.Exp(-z) * sum
}

// Oracle is the detector that knows each user's period, regularity and
// dropout hazard, which no real system can know: the limit of what the
// data allow. In every silence it warns once, when the user's true risk
// (Risk) first reaches the threshold, up to churnAfter (when the stage
// model declares the churn), and returns per threshold the warning times
// per user. The thresholds rise (as quality.OracleThresholds do).
func Oracle(users []*User, end int64, churnAfter time.Duration, thresholds []float64) []map[string][]int64 {
	out := make([]map[string][]int64, len(thresholds))
	for i := range out {
		out[i] = map[string][]int64{}
	}
	horizon := churnAfter.Hours() / 24
	reach := make([]float64, len(thresholds))
	for _, u := range users {
		// The silence at which each threshold is reached, the same in
		// every silence of the user (the gaps are independent).
		for i := range reach {
			reach[i] = math.Inf(1)
		}
		next := 0
		u.risks(horizon, min(u.Period/200, 0.01), func(s, risk float64) bool {
			for next < len(thresholds) && risk >= thresholds[next] {
				reach[next] = s
				next++
			}
			return next < len(thresholds)
		})
		for k, from := range u.Visits {
			to := min(end, from+churnAfter.Milliseconds())
			if k+1 < len(u.Visits) {
				to = min(to, u.Visits[k+1])
			}
			for i, s := range reach {
				if at := from + int64(s*day); !math.IsInf(s, 1) && at < to {
					out[i][u.ID] = append(out[i][u.ID], at)
				}
			}
		}
	}
	return out
}
