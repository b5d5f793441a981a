// Package rhythm is a second population generator, written apart from
// package simulate and unlike it, so that the churn warnings can be tuned
// on one family of populations and measured on another. Its users differ
// above all in rhythm: from several visits a day to one a month, some with
// a quarterly season, some who fade out slowly before they stop and some
// who stop at once. Every user's true rates and dropout process are known,
// so an oracle can score each user's true risk of having left (Oracle):
// the limit any detector of the same data can reach.
//
// The process, per user:
//
//   - arrival: uniform over the first half of the period;
//   - visit rate λ: log-uniform between MinRate and MaxRate visits a day;
//     a seasonal user (SeasonalShare) has λ·(1 + 0.8·sin(2πt/91 d + φ));
//   - dropout: at each visit the user decides to leave with probability
//     p = 1/(λ·L), L a lifetime in days drawn per user from
//     LogNormal(ln MedianLifetime, 0.8), so that how long users stay does
//     not depend on how often they come; an abrupt user
//     (1 − FadeShare) makes no visit after that, a fader's rate decays as
//     e^(−t/τ), τ uniform in 5–15 days, until it stops 3τ after the
//     decision. The true dropout time is the last visit;
//   - a visit is a login; with the user's purchase probability q (Beta(1.2,
//     6), zero for the 40 % who never buy) a purchase follows 5 minutes
//     later, of LogNormal(ln 30, 0.8) dollars.
package rhythm

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// Config describes one population. Zero fields take their defaults.
type Config struct {
	Users          int       // default 5000
	Days           int       // default 365
	Seed           uint64    // the same seed and Config give the same events
	Start          time.Time // default 2026-01-01
	MinRate        float64   // visits a day of the rarest users; default 1/30
	MaxRate        float64   // of the most frequent; default 3
	SeasonalShare  float64   // default 0.25
	FadeShare      float64   // default 0.4
	MedianLifetime float64   // days; default 180
}

func (c Config) withDefaults() Config {
	if c.Users == 0 {
		c.Users = 5000
	}
	if c.Days == 0 {
		c.Days = 365
	}
	if c.Start.IsZero() {
		c.Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if c.MinRate == 0 {
		c.MinRate = 1.0 / 30
	}
	if c.MaxRate == 0 {
		c.MaxRate = 3
	}
	if c.SeasonalShare == 0 {
		c.SeasonalShare = 0.25
	}
	if c.FadeShare == 0 {
		c.FadeShare = 0.4
	}
	if c.MedianLifetime == 0 {
		c.MedianLifetime = 180
	}
	return c
}

// Validate names the first invalid field.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.Users < 1 || c.Users > 1_000_000:
		return fmt.Errorf("rhythm: %d users; want 1 to 1,000,000", c.Users)
	case c.Days < 1 || c.Days > 3650:
		return fmt.Errorf("rhythm: %d days; want 1 to 3650", c.Days)
	case c.MinRate <= 0 || c.MaxRate < c.MinRate:
		return fmt.Errorf("rhythm: rates %g to %g visits a day; want 0 < min ≤ max", c.MinRate, c.MaxRate)
	case c.SeasonalShare < 0 || c.SeasonalShare > 1 || c.FadeShare < 0 || c.FadeShare > 1:
		return fmt.Errorf("rhythm: shares must be in [0, 1]")
	case c.MedianLifetime < 1:
		return fmt.Errorf("rhythm: median lifetime %g days; want 1 or more", c.MedianLifetime)
	}
	return nil
}

const day = 24 * 60 * 60 * 1000 // ms

// User is one generated user with the truth about them.
type User struct {
	ID       string
	Rate     float64 // visits a day while active (before the season)
	Seasonal bool
	Phase    float64 // of the season, radians
	Dropout  float64 // per-visit probability of deciding to leave
	Fade     float64 // τ in days for a fader; 0 for an abrupt user
	Visits   []int64 // visit times, Unix ms
	// Left is the time of the last visit when the user left within the
	// period (0: still active at its end).
	Left int64
}

// rate is u's visit intensity (per day) at t while active.
func (u *User) rate(t int64) float64 {
	if !u.Seasonal {
		return u.Rate
	}
	return u.Rate * (1 + 0.8*math.Sin(2*math.Pi*float64(t)/(91*day)+u.Phase))
}

// Record is one input event as a producer sends it.
type Record struct {
	Type  string // login or purchase
	Key   []byte
	Value []byte
	Time  int64
}

// Generate makes the population: its users (with their truth) and their
// events in time order. End is the end of the period (Unix ms).
func Generate(ctx context.Context, cfg Config) (users []*User, events []Record, end int64, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, 0, err
	}
	c := cfg.withDefaults()
	rng := rand.New(rand.NewPCG(c.Seed, 0x7268797468d))
	start := c.Start.UnixMilli()
	end = start + int64(c.Days)*day
	for i := range c.Users {
		if i%1000 == 0 && ctx.Err() != nil {
			return nil, nil, 0, ctx.Err()
		}
		u := newUser(rng, &c, i)
		u.visit(rng, start+int64(rng.Float64()*float64(c.Days)/2*day), end)
		users = append(users, u)
		events = u.events(rng, events)
	}
	slices.SortStableFunc(events, func(a, b Record) int { return cmp.Compare(a.Time, b.Time) })
	return users, events, end, nil
}

func newUser(rng *rand.Rand, c *Config, i int) *User {
	u := &User{ID: fmt.Sprintf("r-%06d", i)}
	u.Rate = math.Exp(math.Log(c.MinRate) + rng.Float64()*(math.Log(c.MaxRate)-math.Log(c.MinRate)))
	if rng.Float64() < c.SeasonalShare {
		u.Seasonal, u.Phase = true, rng.Float64()*2*math.Pi
	}
	lifetime := math.Exp(math.Log(c.MedianLifetime) + 0.8*rng.NormFloat64())
	u.Dropout = min(0.5, 1/(u.Rate*lifetime))
	if rng.Float64() < c.FadeShare {
		u.Fade = 5 + 10*rng.Float64()
	}
	return u
}

// visit draws u's visits from arrival to end by thinning, and the dropout.
func (u *User) visit(rng *rand.Rand, arrival, end int64) {
	maxRate := u.Rate * 1.8
	t := arrival
	u.Visits = append(u.Visits, t)
	decided := int64(0)
	for {
		t += int64(rng.ExpFloat64() / maxRate * day)
		if t >= end {
			break
		}
		r := u.rate(t)
		if decided != 0 {
			since := float64(t-decided) / day
			if since > 3*u.Fade {
				break
			}
			r *= math.Exp(-since / u.Fade)
		}
		if rng.Float64()*maxRate >= r {
			continue
		}
		u.Visits = append(u.Visits, t)
		if decided == 0 && rng.Float64() < u.Dropout {
			decided = t
			if u.Fade == 0 {
				break
			}
		}
	}
	if decided != 0 {
		u.Left = u.Visits[len(u.Visits)-1]
	}
}

// events appends u's login and purchase records.
func (u *User) events(rng *rand.Rand, out []Record) []Record {
	q := 0.0
	if rng.Float64() >= 0.4 {
		q = betaSample(rng, 1.2, 6)
	}
	for k, t := range u.Visits {
		out = append(out, NewRecord(u.ID, "login", fmt.Sprintf("%s-%d", u.ID, k), t, ""))
		if rng.Float64() < q {
			amount := math.Exp(math.Log(30) + 0.8*rng.NormFloat64())
			out = append(out, NewRecord(u.ID, "purchase", fmt.Sprintf("%s-%dp", u.ID, k), t+5*60_000, fmt.Sprintf("%.2f", amount)))
		}
	}
	return out
}

// NewRecord is user's event of type typ with id at t (Unix ms), keyed by
// the user, with amount in USD when it is not "": what every generator
// here produces.
func NewRecord(user, typ, id string, t int64, amount string) Record {
	v := map[string]any{"event_id": id, "user_id": user, "type": typ, "ts": t}
	if amount != "" {
		v["amount"], v["currency"] = amount, "USD"
	}
	b, _ := json.Marshal(v)
	return Record{Type: typ, Key: []byte(user), Value: b, Time: t}
}

// betaSample draws Beta(a, b) from two gamma draws.
func betaSample(rng *rand.Rand, a, b float64) float64 {
	x, y := gammaSample(rng, a), gammaSample(rng, b)
	return x / (x + y)
}

// gammaSample draws Gamma(k, 1) (Marsaglia and Tsang; k < 1 boosted).
func gammaSample(rng *rand.Rand, k float64) float64 {
	if k < 1 {
		return gammaSample(rng, k+1) * math.Pow(rng.Float64(), 1/k)
	}
	d := k - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := rng.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		if u := rng.Float64(); math.Log(u) < 0.5*x*x+d-d*v+d*math.Log(v) {
			return d * v
		}
	}
}
