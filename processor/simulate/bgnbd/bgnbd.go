// Package bgnbd is a third population generator: the "buy till you die"
// process of BG/NBD (Fader, Hardie and Lee, 2005), with visits. It is the
// kind of population issue 15 first measured the warnings on (precision
// 0.19), and unlike packages simulate and rhythm in the one thing it was
// written for: a user leaves only right after a purchase, never after a
// visit without one. Every user's true rates and dropout chance are
// known, so an oracle scores each silence's true risk (Oracle).
//
// The process, per user:
//
//   - arrival: uniform over the first ArrivalDays of the period (a
//     quarter of it by default: a cohort), with a visit and a purchase;
//   - visit rate v: log-uniform between MinRate and MaxRate visits a day;
//     each visit is a purchase with the chance 1/m, m uniform in
//     [MinVisitsPerPurchase, MaxVisitsPerPurchase] per user (the purchase
//     5 minutes after the visit's login);
//   - dropout: after each repeat purchase the user leaves with their
//     chance p, drawn per user from Beta(1.2, 8) (mean 0.13), and makes no
//     visit after it. The true dropout time is that purchase's visit.
package bgnbd

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
	Users                int       // default 5000
	Days                 int       // default 365
	Seed                 uint64    // the same seed and Config give the same events
	Start                time.Time // default 2026-01-01
	MinRate              float64   // visits a day of the rarest users; default 1/30
	MaxRate              float64   // of the most frequent; default 5/7
	MinVisitsPerPurchase float64   // default 3
	MaxVisitsPerPurchase float64   // default 10
	// ArrivalDays spreads the arrivals over the first ArrivalDays days;
	// 0: the first quarter of the period, Days/4 exactly (91.25 days of
	// 365, as the population was before the field: the README's rows are
	// its). Up to Days: users who keep arriving, as a deployment sees
	// them, where a cohort's first silences are over by the end.
	ArrivalDays int
}

func (c Config) withDefaults() Config {
	c.Users = cmp.Or(c.Users, 5000)
	c.Days = cmp.Or(c.Days, 365)
	if c.Start.IsZero() {
		c.Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	c.MinRate = cmp.Or(c.MinRate, 1.0/30)
	c.MaxRate = cmp.Or(c.MaxRate, 5.0/7)
	c.MinVisitsPerPurchase = cmp.Or(c.MinVisitsPerPurchase, 3)
	c.MaxVisitsPerPurchase = cmp.Or(c.MaxVisitsPerPurchase, 10)
	return c
}

// Validate names the first invalid field.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.Users < 1 || c.Users > 1_000_000:
		return fmt.Errorf("bgnbd: %d users; want 1 to 1,000,000", c.Users)
	case c.Days < 1 || c.Days > 3650:
		return fmt.Errorf("bgnbd: %d days; want 1 to 3650", c.Days)
	case c.MinRate <= 0 || c.MaxRate < c.MinRate:
		return fmt.Errorf("bgnbd: rates %g to %g visits a day; want 0 < min ≤ max", c.MinRate, c.MaxRate)
	case c.MinVisitsPerPurchase < 1 || c.MaxVisitsPerPurchase < c.MinVisitsPerPurchase:
		return fmt.Errorf("bgnbd: %g to %g visits per purchase; want 1 ≤ min ≤ max", c.MinVisitsPerPurchase, c.MaxVisitsPerPurchase)
	case c.ArrivalDays < 0 || c.ArrivalDays > c.Days:
		return fmt.Errorf("bgnbd: arrivals over %d days; want 1 to the %d days of the period (0: its first quarter)", c.ArrivalDays, c.Days)
	}
	return nil
}

const day = 24 * 60 * 60 * 1000 // ms

// User is one generated user with the truth about them.
type User struct {
	ID      string
	Rate    float64 // visits a day while alive
	Buy     float64 // the chance that a visit is a purchase
	Dropout float64 // the chance of leaving after a repeat purchase
	Visits  []int64 // visit times, Unix ms
	Bought  []bool  // per visit, whether it had a purchase
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
	src := rand.NewPCG(c.Seed, 0x6267_6e62_64)
	rng := rand.New(src)
	dropout := distuv.Beta{Alpha: dropoutAlpha, Beta: dropoutBeta, Src: src}
	start := c.Start.UnixMilli()
	end = start + int64(c.Days)*day
	arrivals := float64(c.ArrivalDays)
	if arrivals == 0 {
		arrivals = float64(c.Days) / 4
	}
	for i := range c.Users {
		if i%1000 == 0 && ctx.Err() != nil {
			return nil, nil, 0, ctx.Err()
		}
		u := &User{ID: fmt.Sprintf("b-%06d", i)}
		u.Rate = math.Exp(math.Log(c.MinRate) + rng.Float64()*(math.Log(c.MaxRate)-math.Log(c.MinRate)))
		u.Buy = 1 / (c.MinVisitsPerPurchase + rng.Float64()*(c.MaxVisitsPerPurchase-c.MinVisitsPerPurchase))
		u.Dropout = dropout.Rand()
		u.visit(rng, start+int64(rng.Float64()*arrivals*day), end)
		users = append(users, u)
		events = u.events(rng, events)
	}
	slices.SortStableFunc(events, func(a, b rhythm.Record) int { return cmp.Compare(a.Time, b.Time) })
	return users, events, end, nil
}

// visit draws u's visits from arrival to end and the dropout.
func (u *User) visit(rng *rand.Rand, arrival, end int64) {
	u.Visits, u.Bought = append(u.Visits, arrival), append(u.Bought, true)
	for t := arrival; ; {
		t += int64(rng.ExpFloat64() / u.Rate * day)
		if t >= end {
			return
		}
		bought := rng.Float64() < u.Buy
		u.Visits, u.Bought = append(u.Visits, t), append(u.Bought, bought)
		if bought && rng.Float64() < u.Dropout {
			u.Left = t
			return
		}
	}
}

// events appends u's login and purchase records.
func (u *User) events(rng *rand.Rand, out []rhythm.Record) []rhythm.Record {
	for k, t := range u.Visits {
		out = append(out, rhythm.NewRecord(u.ID, "login", fmt.Sprintf("%s-%d", u.ID, k), t, ""))
		if u.Bought[k] {
			amount := math.Exp(math.Log(30) + 0.8*rng.NormFloat64())
			out = append(out, rhythm.NewRecord(u.ID, "purchase", fmt.Sprintf("%s-%dp", u.ID, k), t+5*60_000, fmt.Sprintf("%.2f", amount)))
		}
	}
	return out
}

// Oracle is the detector that knows each user's visit rate and dropout
// chance, which no real system can know: the limit of what the data
// allow. In the silence after a repeat purchase the user has left with
// the probability p / (p + (1 − p)·e^(−v·s)) after s days; after any
// other visit they cannot have. It warns once per silence, when that
// probability first reaches the threshold, up to churnAfter (when the
// stage model declares the churn), and returns per threshold the warning
// times per user.
func Oracle(users []*User, end int64, churnAfter time.Duration, thresholds []float64) []map[string][]int64 {
	return oracle(users, end, churnAfter, thresholds, func(u *User, _ int) float64 { return u.Dropout })
}

// PopulationOracle is Oracle without each user's own dropout chance p,
// which nothing a user does reveals except by leaving: it knows the
// population's law of p (Beta(dropoutAlpha, dropoutBeta)), each user's
// visit rate, and that users leave only right after a repeat purchase,
// and takes p as its mean given the repeat purchases the user has
// survived, α / (α + β + n). The limit for a detector that has learned
// everything the population can teach about its users.
func PopulationOracle(users []*User, end int64, churnAfter time.Duration, thresholds []float64) []map[string][]int64 {
	return oracle(users, end, churnAfter, thresholds, func(_ *User, survived int) float64 {
		return dropoutAlpha / (dropoutAlpha + dropoutBeta + float64(survived))
	})
}

// The law of the dropout chance p.
const dropoutAlpha, dropoutBeta = 1.2, 8

// oracle warns as Oracle says, with chance(u, n) the chance taken for
// leaving at a repeat purchase that follows n survived ones.
func oracle(users []*User, end int64, churnAfter time.Duration, thresholds []float64, chance func(u *User, survived int) float64) []map[string][]int64 {
	out := make([]map[string][]int64, len(thresholds))
	for i := range out {
		out[i] = map[string][]int64{}
	}
	for _, u := range users {
		survived := 0
		for k, from := range u.Visits {
			if k == 0 || !u.Bought[k] {
				continue // the first purchase is not a repeat one; a visit without a purchase is never the last
			}
			to := min(end, from+churnAfter.Milliseconds())
			if k+1 < len(u.Visits) {
				to = min(to, u.Visits[k+1])
			}
			p := chance(u, survived)
			survived++
			for i, th := range thresholds {
				s := 0.0 // days until the risk reaches th
				if p < th {
					s = math.Log((1-p)*th/(p*(1-th))) / u.Rate
				}
				if at := from + int64(s*day); at < to {
					out[i][u.ID] = append(out[i][u.ID], at)
				}
			}
		}
	}
	return out
}
