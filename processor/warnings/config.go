package warnings

import (
	"fmt"
	"math"
	"time"

	"github.com/lifecycle-engine/lifecycle/processor/rules"
)

// Config holds the thresholds of the churn warnings. The zero value of a
// field means its default (see the Default* constants).
type Config struct {
	// ChurnAfter must equal the stage model's churn threshold
	// (rules.Config.ChurnAfter): the warnings run up to it, and a user
	// silent for longer is churned and gets no more warnings. Default 30 days.
	ChurnAfter time.Duration
	// Fractions are the shares of ChurnAfter without any activity after which
	// a user is on watch, at risk and critical ("inactive"). Strictly
	// increasing, each in (0, 1). Default 0.5, 0.7, 0.85 (15, 21 and 25.5
	// days of a 30-day threshold).
	Fractions [3]float64
	// Cooldown: at most one warning per user per reason in any Cooldown; a
	// higher level of the same reason (watch → at_risk → critical) is an
	// escalation and is not held back. Default 14 days.
	Cooldown time.Duration
	// Week is the activity period of the "falling" rules. A user's periods
	// start at their first event. Default 7 days.
	Week time.Duration
	// FallingRatio: a complete period with fewer visits (purchases, spend)
	// than FallingRatio times the user's own baseline warns. In (0, 1].
	// Default 0.35.
	FallingRatio float64
	// MinBaseline: falling_visits only for users whose baseline is at least
	// this many visits per period. Default 3.
	MinBaseline float64
	// MinBasePurchases: falling_purchases and falling_spend only for users
	// whose baseline is at least this many purchases per period. Default 1.
	MinBasePurchases float64
	// PAliveBelow: low_p_alive when the prediction model's P(alive) is below
	// this (Context.PAlive < 0: no model, no such warning). In [0, 1].
	// Default 0.3.
	PAliveBelow float64
	// QuietAfter: valuable_quiet needs at least this long without activity,
	// besides the segment (important keep / important retain). Default 7 days.
	QuietAfter time.Duration
	// WarmupPeriods: complete periods a user needs before the falling rules
	// compare against their baseline. Default 2.
	WarmupPeriods int
}

// Defaults of Config, in one place so help texts and docs can quote them.
// They were tuned with `lifecycle evaluate --users 5000 --days 180 --seed 1`
// (see doc.go).
const (
	DefaultChurnAfter       = rules.DefaultChurnAfter
	DefaultCooldown         = 14 * 24 * time.Hour
	DefaultWeek             = 7 * 24 * time.Hour
	DefaultFallingRatio     = 0.35
	DefaultMinBaseline      = 3.0
	DefaultMinBasePurchases = 1.0
	DefaultPAliveBelow      = 0.3
	DefaultQuietAfter       = 7 * 24 * time.Hour
	DefaultWarmupPeriods    = 2
)

// DefaultFractions are the default inactivity fractions of ChurnAfter for
// watch, at_risk and critical.
var DefaultFractions = [3]float64{0.5, 0.7, 0.85}

// WithDefaults returns c with every zero field set to its default. The
// Fractions are replaced as a whole when all three are zero.
func (c Config) WithDefaults() Config {
	if c.ChurnAfter == 0 {
		c.ChurnAfter = DefaultChurnAfter
	}
	if c.Fractions == [3]float64{} {
		c.Fractions = DefaultFractions
	}
	if c.Cooldown == 0 {
		c.Cooldown = DefaultCooldown
	}
	if c.Week == 0 {
		c.Week = DefaultWeek
	}
	if c.FallingRatio == 0 {
		c.FallingRatio = DefaultFallingRatio
	}
	if c.MinBaseline == 0 {
		c.MinBaseline = DefaultMinBaseline
	}
	if c.MinBasePurchases == 0 {
		c.MinBasePurchases = DefaultMinBasePurchases
	}
	if c.PAliveBelow == 0 {
		c.PAliveBelow = DefaultPAliveBelow
	}
	if c.QuietAfter == 0 {
		c.QuietAfter = DefaultQuietAfter
	}
	if c.WarmupPeriods == 0 {
		c.WarmupPeriods = DefaultWarmupPeriods
	}
	return c
}

// Validate names the first field out of range and says what would be valid.
// Zero fields are valid: they mean the default.
func (c Config) Validate() error {
	c = c.WithDefaults()
	bad := func(f float64) bool { return math.IsNaN(f) || math.IsInf(f, 0) }
	switch {
	case c.ChurnAfter < time.Millisecond:
		return fmt.Errorf("warnings: ChurnAfter %v must be positive and equal to the stage model's churn threshold (for example 720h for 30 days)", c.ChurnAfter)
	case c.Cooldown < 0:
		return fmt.Errorf("warnings: Cooldown %v must not be negative (for example 168h for 7 days)", c.Cooldown)
	case c.Week < time.Millisecond:
		return fmt.Errorf("warnings: Week %v must be positive (for example 168h)", c.Week)
	case bad(c.FallingRatio) || c.FallingRatio <= 0 || c.FallingRatio > 1:
		return fmt.Errorf("warnings: FallingRatio %v must be in (0, 1], a share of the user's baseline (for example 0.5)", c.FallingRatio)
	case bad(c.MinBaseline) || c.MinBaseline < 0:
		return fmt.Errorf("warnings: MinBaseline %v must be a number of visits per period ≥ 0 (for example 2)", c.MinBaseline)
	case bad(c.MinBasePurchases) || c.MinBasePurchases < 0:
		return fmt.Errorf("warnings: MinBasePurchases %v must be a number of purchases per period ≥ 0 (for example 1)", c.MinBasePurchases)
	case bad(c.PAliveBelow) || c.PAliveBelow < 0 || c.PAliveBelow > 1:
		return fmt.Errorf("warnings: PAliveBelow %v must be a probability in [0, 1] (for example 0.3)", c.PAliveBelow)
	case c.QuietAfter < 0:
		return fmt.Errorf("warnings: QuietAfter %v must not be negative (for example 168h)", c.QuietAfter)
	case c.WarmupPeriods < 1 || c.WarmupPeriods > 1000:
		return fmt.Errorf("warnings: WarmupPeriods %d must be 1..1000 (complete periods before the falling rules apply)", c.WarmupPeriods)
	}
	prev := 0.0
	for i, f := range c.Fractions {
		if bad(f) || f <= prev || f >= 1 {
			return fmt.Errorf("warnings: Fractions[%d] (%s) = %v: want strictly increasing shares of ChurnAfter in (0, 1), for example 0.5, 0.7, 0.85", i, Level(i+1), f)
		}
		prev = f
	}
	return nil
}

func (c Config) churnMs() int64 { return int64(c.ChurnAfter / time.Millisecond) }
func (c Config) weekMs() int64  { return int64(c.Week / time.Millisecond) }

// dueAfter is the inactivity delay of level i (0 watch, 1 at_risk, 2 critical) in ms.
func (c Config) dueAfter(i int) int64 {
	return int64(math.Round(c.Fractions[i] * float64(c.churnMs())))
}
