// Package paretoggg is a seventh population generator, written on
// 2026-12-07 after every setting of the warnings was fixed: Pareto/GGG
// (Platzer & Reutterer 2016), the "buy till you die" model whose users
// differ in how regular they are, not only in how often they come. Each
// user's gaps are Gamma(k, T/k) days around their own period T, and k
// itself varies across users: below 1 a user is clumpy (bursts of visits,
// then long gaps that are not departures), at 1 memoryless, above it
// regular. The other families each give all their users one kind of gap:
// memoryless waits, sessions, or one fixed regularity (package regular).
//
// The process, per user:
//
//   - arrival: uniform over the first half of the period;
//   - visit rate 1/T: Gamma(RateShape) with the mean MeanRate a day,
//     bounded to one visit in 60 days and 6 a day;
//   - regularity k: Gamma(ShapeShape) with the mean MeanShape, bounded to
//     [0.15, 20]; gaps are at least a minute;
//   - dropout: a lifetime exponential with the hazard μ, itself
//     Gamma(0.8) with the mean 1/MeanLifetime per day; no visit after it.
//     The true dropout time is the last visit before it;
//   - a visit is a login; with the user's purchase chance q (uniform in
//     [0.1, 0.5]) a purchase follows 5 minutes later, of LogNormal(ln 30,
//     0.8) dollars.
//
// Its users are package regular's, with a shape of any size, so the oracle
// is regular's: it integrates each silence's true risk from the period,
// the regularity and the hazard (regular.Oracle).
package paretoggg

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/lifecycle-engine/lifecycle/processor/simulate/regular"
	"github.com/lifecycle-engine/lifecycle/processor/simulate/rhythm"
)

// Config describes one population. Zero fields take their defaults.
type Config struct {
	Users        int       // default 5000
	Days         int       // default 365
	Seed         uint64    // the same seed and Config give the same events
	Start        time.Time // default 2026-01-01
	MeanRate     float64   // visits a day, the mean over users; default 0.35
	RateShape    float64   // the rates' Gamma shape (lower: more spread); default 1.5
	MeanShape    float64   // the mean regularity k; default 1.5
	ShapeShape   float64   // the regularities' Gamma shape (lower: more spread); default 2
	MeanLifetime float64   // days, 1 / the mean hazard; default 150
}

func (c Config) withDefaults() Config {
	c.Users = cmp.Or(c.Users, 5000)
	c.Days = cmp.Or(c.Days, 365)
	if c.Start.IsZero() {
		c.Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	c.MeanRate = cmp.Or(c.MeanRate, 0.35)
	c.RateShape = cmp.Or(c.RateShape, 1.5)
	c.MeanShape = cmp.Or(c.MeanShape, 1.5)
	c.ShapeShape = cmp.Or(c.ShapeShape, 2)
	c.MeanLifetime = cmp.Or(c.MeanLifetime, 150)
	return c
}

// Validate names the first invalid field.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.Users < 1 || c.Users > 1_000_000:
		return fmt.Errorf("paretoggg: %d users; want 1 to 1,000,000", c.Users)
	case c.Days < 1 || c.Days > 3650:
		return fmt.Errorf("paretoggg: %d days; want 1 to 3650", c.Days)
	case c.MeanRate <= 0 || c.RateShape <= 0:
		return fmt.Errorf("paretoggg: visit rates of mean %g and shape %g; want both above 0", c.MeanRate, c.RateShape)
	case c.MeanShape <= 0 || c.ShapeShape <= 0:
		return fmt.Errorf("paretoggg: regularities of mean %g and shape %g; want both above 0", c.MeanShape, c.ShapeShape)
	case c.MeanLifetime <= 0:
		return fmt.Errorf("paretoggg: mean lifetime %g days; want more than 0", c.MeanLifetime)
	}
	return nil
}

const day = 24 * 60 * 60 * 1000 // ms

// minGap is the shortest gap: a clumpy user's Gamma draws under a
// millisecond (one in 25 at the lowest regularity) would give visits at
// the same instant. A minute changes no silence the oracle scores.
const minGap = 60_000 // ms

// Generate makes the population: its users (with their truth) and their
// events in time order, as package rhythm's records. End is the end of
// the period (Unix ms).
func Generate(ctx context.Context, cfg Config) (users []*regular.User, events []rhythm.Record, end int64, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, 0, err
	}
	c := cfg.withDefaults()
	src := rand.NewPCG(c.Seed, 0x7061_7265_746f_6767)
	rng := rand.New(src)
	rates := distuv.Gamma{Alpha: c.RateShape, Beta: c.RateShape / c.MeanRate, Src: src}
	shapes := distuv.Gamma{Alpha: c.ShapeShape, Beta: c.ShapeShape / c.MeanShape, Src: src}
	hazards := distuv.Gamma{Alpha: 0.8, Beta: 0.8 * c.MeanLifetime, Src: src}
	start := c.Start.UnixMilli()
	end = start + int64(c.Days)*day
	for i := range c.Users {
		if i%1000 == 0 && ctx.Err() != nil {
			return nil, nil, 0, ctx.Err()
		}
		u := &regular.User{
			ID:     fmt.Sprintf("g-%06d", i),
			Period: 1 / min(max(rates.Rand(), 1.0/60), 6),
			Shape:  min(max(shapes.Rand(), 0.15), 20),
			Hazard: hazards.Rand(),
		}
		events = u.Live(events, rng, src, start, c.Days, minGap)
		users = append(users, u)
	}
	slices.SortStableFunc(events, func(a, b rhythm.Record) int { return cmp.Compare(a.Time, b.Time) })
	return users, events, end, nil
}
