// Package sessions is a fourth population generator, written after the
// warnings' settings were fixed and unlike the other three in the thing
// it was written for: activity comes in sessions, bursts of several
// visits minutes apart, as app logins do, and a user's life ends at a
// time of its own, not at a visit. The gaps a user shows are then of two
// kinds at once, minutes within a session and days between sessions.
// Every user's true session rate and dropout hazard are known, so an
// oracle scores each silence's true risk (Oracle).
//
// The process, per user:
//
//   - arrival: uniform over the first half of the period, so that
//     partitions see users arrive while others already leave;
//   - sessions: one after another, each starting an exponential wait of
//     mean 1/λ after the last one ended, λ log-uniform between MinRate
//     and MaxRate sessions a day; a session is 1 + Binomial(20, k/20)
//     visits (k uniform in [0, MaxExtraVisits] per user), 8 minutes apart
//     on average (exponential), the first a login and the rest content
//     views; each session has a purchase with the chance q, uniform in
//     [0.05, 0.4] per user, at one of its visits;
//   - dropout: an exponential lifetime of mean L, log-uniform between 30
//     and 720 days; no session starts after it. The true dropout time is
//     the last visit of the last session begun before it.
package sessions

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/lifecycle-engine/lifecycle/processor/simulate/rhythm"
)

// Config describes one population. Zero fields take their defaults.
type Config struct {
	Users          int       // default 5000
	Days           int       // default 365
	Seed           uint64    // the same seed and Config give the same events
	Start          time.Time // default 2026-01-01
	MinRate        float64   // sessions a day of the rarest users; default 1/20
	MaxRate        float64   // of the most frequent; default 1.5
	MaxExtraVisits float64   // visits a session adds to its first, on average, for the most bursty users; default 5
}

func (c Config) withDefaults() Config {
	c.Users = cmp.Or(c.Users, 5000)
	c.Days = cmp.Or(c.Days, 365)
	if c.Start.IsZero() {
		c.Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	c.MinRate = cmp.Or(c.MinRate, 1.0/20)
	c.MaxRate = cmp.Or(c.MaxRate, 1.5)
	c.MaxExtraVisits = cmp.Or(c.MaxExtraVisits, 5)
	return c
}

// Validate names the first invalid field.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.Users < 1 || c.Users > 1_000_000:
		return fmt.Errorf("sessions: %d users; want 1 to 1,000,000", c.Users)
	case c.Days < 1 || c.Days > 3650:
		return fmt.Errorf("sessions: %d days; want 1 to 3650", c.Days)
	case c.MinRate <= 0 || c.MaxRate < c.MinRate:
		return fmt.Errorf("sessions: rates %g to %g sessions a day; want 0 < min ≤ max", c.MinRate, c.MaxRate)
	case c.MaxExtraVisits < 0 || c.MaxExtraVisits > sessionDraws:
		return fmt.Errorf("sessions: %g extra visits a session; want 0 to %d", c.MaxExtraVisits, sessionDraws)
	}
	return nil
}

const (
	day          = 24 * 60 * 60 * 1000 // ms
	sessionDraws = 20                  // the Binomial's n: at most 20 extra visits a session
	visitGap     = 8 * 60 * 1000       // mean gap between a session's visits, ms
)

// User is one generated user with the truth about them.
type User struct {
	ID     string
	Rate   float64 // sessions a day while alive
	Hazard float64 // the chance of leaving, per day
	// Sessions are the start and the last visit of every session, Unix ms.
	Sessions [][2]int64
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
	rng := rand.New(rand.NewPCG(c.Seed, 0x7365_7373_696f_6e73))
	start := c.Start.UnixMilli()
	end = start + int64(c.Days)*day
	logUniform := func(lo, hi float64) float64 {
		return math.Exp(math.Log(lo) + rng.Float64()*(math.Log(hi)-math.Log(lo)))
	}
	for i := range c.Users {
		if i%1000 == 0 && ctx.Err() != nil {
			return nil, nil, 0, ctx.Err()
		}
		u := &User{ID: fmt.Sprintf("s-%06d", i), Rate: logUniform(c.MinRate, c.MaxRate), Hazard: 1 / logUniform(30, 720)}
		extra := rng.Float64() * c.MaxExtraVisits / sessionDraws
		buy := 0.05 + rng.Float64()*0.35
		arrival := start + int64(rng.Float64()*float64(c.Days)/2*day)
		death := arrival + int64(rng.ExpFloat64()/u.Hazard*day)
		// A session at the arrival; the next one starts a memoryless wait
		// after the last one ends, so that sessions never overlap.
		for t := arrival; ; {
			events = u.session(rng, events, t, end, extra, buy)
			if t = u.Sessions[len(u.Sessions)-1][1] + int64(rng.ExpFloat64()/u.Rate*day); t >= min(death, end) {
				break
			}
		}
		if death < end {
			u.Left = u.Sessions[len(u.Sessions)-1][1]
		}
		users = append(users, u)
	}
	slices.SortStableFunc(events, func(a, b rhythm.Record) int { return cmp.Compare(a.Time, b.Time) })
	return users, events, end, nil
}

// session appends the records of a session that starts at t: its visits
// before end, one of them with a purchase with the chance buy.
func (u *User) session(rng *rand.Rand, out []rhythm.Record, t, end int64, extra, buy float64) []rhythm.Record {
	n := 1
	for range sessionDraws {
		if rng.Float64() < extra {
			n++
		}
	}
	buyAt := -1
	if rng.Float64() < buy {
		buyAt = rng.IntN(n)
	}
	s := len(u.Sessions)
	last := t
	for k, v := 0, t; k < n && v < end; k, v = k+1, v+int64(rng.ExpFloat64()*visitGap) {
		typ := "content"
		if k == 0 {
			typ = "login"
		}
		out = append(out, rhythm.NewRecord(u.ID, typ, fmt.Sprintf("%s-%d-%d", u.ID, s, k), v, ""))
		if k == buyAt {
			amount := math.Exp(math.Log(30) + 0.8*rng.NormFloat64())
			out = append(out, rhythm.NewRecord(u.ID, "purchase", fmt.Sprintf("%s-%d-%dp", u.ID, s, k), v, fmt.Sprintf("%.2f", amount)))
		}
		last = v
	}
	u.Sessions = append(u.Sessions, [2]int64{t, last})
	return out
}

// Oracle is the detector that knows each user's session rate λ and
// dropout hazard μ, and where each session ends, which no real system can
// know: the limit of what the data allow. After a session's last visit
// the user, alive then, has left s days later with the probability
// c(1 − x) / (x + c(1 − x)), x = e^(−(λ+μ)s), c = μ / (λ + μ): the wait
// for the next session and the lifetime are both exponential. It warns once per silence,
// when that probability first reaches the threshold, up to churnAfter
// (when the stage model declares the churn), and returns per threshold
// the warning times per user.
func Oracle(users []*User, end int64, churnAfter time.Duration, thresholds []float64) []map[string][]int64 {
	out := make([]map[string][]int64, len(thresholds))
	for i := range out {
		out[i] = map[string][]int64{}
	}
	for _, u := range users {
		r := u.Rate + u.Hazard
		c := u.Hazard / r
		for k, s := range u.Sessions {
			from := s[1]
			to := min(end, from+churnAfter.Milliseconds())
			if k+1 < len(u.Sessions) {
				to = min(to, u.Sessions[k+1][0])
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
