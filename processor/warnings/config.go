package warnings

import (
	"cmp"
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
	// Risk are the risks (rhythm.go) at which watch, at_risk and critical
	// come due in a silence. Strictly increasing, each in (0, 1). Default
	// 0.4, 0.7, 0.85.
	Risk [3]float64
	// Lifetime and TenureWeight: users leave at the rate 1/(Lifetime +
	// TenureWeight × tenure) in time. Default 120 days and 1.
	Lifetime     time.Duration
	TenureWeight float64
	// PriorGap, PriorSpread and PriorWeight are the population prior of a
	// user's visit gaps: the median gap, the standard deviation of ln(gap),
	// and how many of the user's own gaps the prior weighs as. Default 48
	// hours, 1.5 and 2.
	PriorGap    time.Duration
	PriorSpread float64
	PriorWeight float64
	// MinGap: activities closer together than this are one visit. Default
	// 1 hour.
	MinGap time.Duration
	// Cooldown: at most one warning per user per reason in any Cooldown; a
	// higher level of the same reason (watch → at_risk → critical) is an
	// escalation and is not held back. Default 30 days.
	Cooldown time.Duration
	// PAliveBelow: low_p_alive when the prediction model's P(alive) is below
	// this (Context.PAlive < 0: no model, no such reason). In [0, 1].
	// Default 0.3.
	PAliveBelow float64
	// QuietAfter: valuable_quiet needs at least this long without activity,
	// besides the segment (important keep / important retain). Default 7 days.
	QuietAfter time.Duration
	// Recall lets the partition's own outcomes choose the watch level
	// (outcomes.go): the highest risk that this share of the users who
	// left had reached Lead before their churn. Risk[0] is the level until
	// the partition has MinDepartures of them. Default 0.85; negative:
	// Risk[0] always.
	Recall float64
	// Lead is how long before the churn a departure's risk is read, in
	// [0, ChurnAfter). Default 10 days.
	Lead time.Duration
	// Breaks are days users stop together, which no user's own history
	// foretells: public holidays, a shutdown, a region's week off
	// (processor/quality/FINDINGS.md, "Breaks users take together"). Their
	// time does not count in a silence or a gap, so a daily user quiet
	// over a week's break is as quiet as before it; the churn itself
	// (ChurnAfter) is the stage model's and counts every day. Sorted,
	// apart (ParseBreaks). Empty: none, and the rules' hash is as before.
	Breaks []Span `json:",omitempty"`
	// NoBreakDetection: the days a partition sees far fewer of its users
	// than usual (seen.go) count in silences like any other; only Breaks
	// are left out. false (the default) leaves them out too, and keeps the
	// rules' hash as before.
	NoBreakDetection bool `json:",omitempty"`
	// Outcomes is the partition's record of silences that ended in a
	// departure; the runtime keeps one per partition. nil: none kept, and
	// the watch level is Risk[0]. Not a setting: not in the rules' hash.
	Outcomes *Outcomes `json:"-"`
}

// Defaults of Config, in one place so help texts and docs can quote them.
// They were tuned on the simulator's population (`lifecycle evaluate
// --users 5000 --days 180 --seed 1`) and are reported on others (doc.go).
const (
	DefaultChurnAfter   = rules.DefaultChurnAfter
	DefaultLifetime     = 120 * 24 * time.Hour
	DefaultTenureWeight = 1.0
	DefaultPriorGap     = 48 * time.Hour
	DefaultPriorSpread  = 1.5
	DefaultPriorWeight  = 2.0
	DefaultMinGap       = time.Hour
	DefaultCooldown     = 30 * 24 * time.Hour
	DefaultPAliveBelow  = 0.3
	DefaultQuietAfter   = 7 * 24 * time.Hour
	DefaultRecall       = 0.85
	DefaultLead         = 10 * 24 * time.Hour
)

// DefaultRisk are the default risks of watch, at_risk and critical.
var DefaultRisk = [3]float64{0.4, 0.7, 0.85}

// WithDefaults returns c with every zero field set to its default. Risk is
// replaced as a whole when all three are zero.
func (c Config) WithDefaults() Config {
	if c.Risk == [3]float64{} {
		c.Risk = DefaultRisk
	}
	c.ChurnAfter = cmp.Or(c.ChurnAfter, DefaultChurnAfter)
	c.Lifetime = cmp.Or(c.Lifetime, DefaultLifetime)
	c.TenureWeight = cmp.Or(c.TenureWeight, DefaultTenureWeight)
	c.PriorGap = cmp.Or(c.PriorGap, DefaultPriorGap)
	c.PriorSpread = cmp.Or(c.PriorSpread, DefaultPriorSpread)
	c.PriorWeight = cmp.Or(c.PriorWeight, DefaultPriorWeight)
	c.MinGap = cmp.Or(c.MinGap, DefaultMinGap)
	c.Cooldown = cmp.Or(c.Cooldown, DefaultCooldown)
	c.PAliveBelow = cmp.Or(c.PAliveBelow, DefaultPAliveBelow)
	c.QuietAfter = cmp.Or(c.QuietAfter, DefaultQuietAfter)
	c.Recall = cmp.Or(c.Recall, DefaultRecall)
	c.Lead = cmp.Or(c.Lead, DefaultLead)
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
	case c.Lifetime < time.Hour:
		return fmt.Errorf("warnings: Lifetime %v must be at least an hour (for example 2880h for 120 days)", c.Lifetime)
	case bad(c.TenureWeight) || c.TenureWeight < 0 || c.TenureWeight > 100:
		return fmt.Errorf("warnings: TenureWeight %v must be in [0, 100] (for example 1)", c.TenureWeight)
	case c.PriorGap < time.Minute:
		return fmt.Errorf("warnings: PriorGap %v must be at least a minute (for example 48h)", c.PriorGap)
	case bad(c.PriorSpread) || c.PriorSpread <= 0 || c.PriorSpread > 10:
		return fmt.Errorf("warnings: PriorSpread %v must be in (0, 10], a standard deviation of ln(gap) (for example 1.5)", c.PriorSpread)
	case bad(c.PriorWeight) || c.PriorWeight <= 0 || c.PriorWeight > 1000:
		return fmt.Errorf("warnings: PriorWeight %v must be in (0, 1000], a number of gaps (for example 2)", c.PriorWeight)
	case c.MinGap < time.Second:
		return fmt.Errorf("warnings: MinGap %v must be at least a second (for example 1h)", c.MinGap)
	case c.Cooldown < 0:
		return fmt.Errorf("warnings: Cooldown %v must not be negative (for example 720h for 30 days)", c.Cooldown)
	case bad(c.PAliveBelow) || c.PAliveBelow < 0 || c.PAliveBelow > 1:
		return fmt.Errorf("warnings: PAliveBelow %v must be a probability in [0, 1] (for example 0.3)", c.PAliveBelow)
	case c.QuietAfter < 0:
		return fmt.Errorf("warnings: QuietAfter %v must not be negative (for example 168h)", c.QuietAfter)
	case bad(c.Recall) || c.Recall >= 1:
		return fmt.Errorf("warnings: Recall %v must be below 1 (for example 0.9; negative: the watch level is always Risk[0])", c.Recall)
	case c.Lead < 0 || c.Lead >= c.ChurnAfter:
		return fmt.Errorf("warnings: Lead %v must be in [0, ChurnAfter %v) (for example 168h)", c.Lead, c.ChurnAfter)
	}
	if err := validBreaks(c.Breaks); err != nil {
		return err
	}
	prev := 0.0
	for i, r := range c.Risk {
		if bad(r) || r <= prev || r >= 1 {
			return fmt.Errorf("warnings: Risk[%d] (%s) = %v: want strictly increasing risks in (0, 1), for example 0.4, 0.7, 0.85", i, Level(i+1), r)
		}
		prev = r
	}
	return nil
}

func (c Config) churnMs() int64 { return int64(c.ChurnAfter / time.Millisecond) }
