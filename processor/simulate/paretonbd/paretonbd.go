// Package paretonbd is a sixth population generator, written after the
// warnings' settings were fixed and unlike the other five in the thing it
// was written for: its stream is purchases only, as a shop's order topic
// or CDNOW's history, with no login or content view between them. It is
// Pareto/NBD's process (Schmittlein, Morrison and Colombo, 1987): while
// alive a user buys as a Poisson process, and dies at an exponential
// time, both rates gamma-distributed across users. Every user's rates are
// known, so an oracle scores each silence's true risk (Oracle).
//
// The process, per user:
//
//   - arrival: uniform over the first half of the period, with a purchase;
//   - purchase rate λ: Gamma(RateShape, MeanRate/RateShape) a day (mean
//     MeanRate: one purchase a week by default, from several a week to a
//     few a year);
//   - dropout hazard μ: Gamma(LifetimeShape, 1/(MeanLifetime·LifetimeShape))
//     a day (mean 1/MeanLifetime); no purchase after the death. The true
//     dropout time is the last purchase before it;
//   - each purchase is of LogNormal(ln 30, 0.8) dollars.
package paretonbd

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/lifecycle-engine/lifecycle/processor/simulate/rhythm"
)

// Config describes one population. Zero fields take their defaults.
type Config struct {
	Users         int       // default 5000
	Days          int       // default 365
	Seed          uint64    // the same seed and Config give the same events
	Start         time.Time // default 2026-01-01
	MeanRate      float64   // purchases a day, on average over users; default 1/7
	RateShape     float64   // the purchase rates' Gamma shape r; default 1.2
	MeanLifetime  float64   // days; default 150
	LifetimeShape float64   // the hazards' Gamma shape s; default 0.8
}

func (c Config) withDefaults() Config {
	c.Users = cmp.Or(c.Users, 5000)
	c.Days = cmp.Or(c.Days, 365)
	if c.Start.IsZero() {
		c.Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	c.MeanRate = cmp.Or(c.MeanRate, 1.0/7)
	c.RateShape = cmp.Or(c.RateShape, 1.2)
	c.MeanLifetime = cmp.Or(c.MeanLifetime, 150)
	c.LifetimeShape = cmp.Or(c.LifetimeShape, 0.8)
	return c
}

// Validate names the first invalid field.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.Users < 1 || c.Users > 1_000_000:
		return fmt.Errorf("paretonbd: %d users; want 1 to 1,000,000", c.Users)
	case c.Days < 1 || c.Days > 3650:
		return fmt.Errorf("paretonbd: %d days; want 1 to 3650", c.Days)
	case c.MeanRate <= 0 || c.RateShape <= 0:
		return fmt.Errorf("paretonbd: purchase rates of mean %g and shape %g; want both above 0", c.MeanRate, c.RateShape)
	case c.MeanLifetime <= 0 || c.LifetimeShape <= 0:
		return fmt.Errorf("paretonbd: lifetimes of mean %g days and shape %g; want both above 0", c.MeanLifetime, c.LifetimeShape)
	}
	return nil
}

const day = 24 * 60 * 60 * 1000 // ms

// User is one generated user with the truth about them.
type User struct {
	ID        string
	Rate      float64 // purchases a day while alive (λ)
	Hazard    float64 // the chance of dying, per day (μ)
	Purchases []int64 // purchase times, Unix ms
	// Left is the time of the last purchase when the user left within the
	// period (0: still active at its end).
	Left int64
}

// Generate makes the population: its users (with their truth) and their
// purchases in time order, as package rhythm's records. End is the end of
// the period (Unix ms).
func Generate(ctx context.Context, cfg Config) (users []*User, events []rhythm.Record, end int64, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, 0, err
	}
	c := cfg.withDefaults()
	src := rand.NewPCG(c.Seed, 0x7061_7265_746f)
	rng := rand.New(src)
	rate := distuv.Gamma{Alpha: c.RateShape, Beta: c.RateShape / c.MeanRate, Src: src}
	hazard := distuv.Gamma{Alpha: c.LifetimeShape, Beta: c.LifetimeShape * c.MeanLifetime, Src: src}
	start := c.Start.UnixMilli()
	end = start + int64(c.Days)*day
	for i := range c.Users {
		if i%1000 == 0 && ctx.Err() != nil {
			return nil, nil, 0, ctx.Err()
		}
		// Rates are kept off zero, so that every wait is finite.
		u := &User{ID: fmt.Sprintf("p-%06d", i), Rate: max(rate.Rand(), 1e-6), Hazard: max(hazard.Rand(), 1e-6)}
		arrival := start + int64(rng.Float64()*float64(c.Days)/2*day)
		death := arrival + int64(min(rng.ExpFloat64()/u.Hazard, float64(2*c.Days))*day)
		for t := arrival; t < min(death, end); t += int64(min(rng.ExpFloat64()/u.Rate, float64(2*c.Days)) * day) {
			u.Purchases = append(u.Purchases, t)
			amount := math.Exp(math.Log(30) + 0.8*rng.NormFloat64())
			events = append(events, rhythm.NewRecord(u.ID, "purchase", fmt.Sprintf("%s-%d", u.ID, len(u.Purchases)-1), t, fmt.Sprintf("%.2f", amount)))
		}
		if death < end {
			u.Left = u.Purchases[len(u.Purchases)-1]
		}
		users = append(users, u)
	}
	slices.SortStableFunc(events, func(a, b rhythm.Record) int { return cmp.Compare(a.Time, b.Time) })
	return users, events, end, nil
}

// Risk is the true probability that u, alive at a purchase and without
// one for s days since, has died: c(1 − x) / (x + c(1 − x)), x =
// e^(−(λ+μ)s), c = μ / (λ + μ), the next purchase and the death being
// two exponential clocks.
func (u *User) Risk(s float64) float64 {
	r := u.Rate + u.Hazard
	c, x := u.Hazard/r, math.Exp(-r*s)
	return c * (1 - x) / (x + c*(1-x))
}

// Oracle is the detector that knows each user's purchase rate and
// dropout hazard, which no real system can know: the limit of what the
// data allow. In every silence it warns once, when the user's true risk
// (Risk) first reaches the threshold, up to churnAfter (when the stage
// model declares the churn), and returns per threshold the warning times
// per user.
func Oracle(users []*User, end int64, churnAfter time.Duration, thresholds []float64) []map[string][]int64 {
	out := make([]map[string][]int64, len(thresholds))
	for i := range out {
		out[i] = map[string][]int64{}
	}
	for _, u := range users {
		r := u.Rate + u.Hazard
		c := u.Hazard / r
		for k, from := range u.Purchases {
			to := min(end, from+churnAfter.Milliseconds())
			if k+1 < len(u.Purchases) {
				to = min(to, u.Purchases[k+1])
			}
			for i, th := range thresholds {
				x := c * (1 - th) / (th + c*(1-th)) // e^(−r·s) where the risk reaches th
				if at := from + int64(-math.Log(x)/r*day); at < to {
					out[i][u.ID] = append(out[i][u.ID], at)
				}
			}
		}
	}
	return out
}
