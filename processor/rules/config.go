package rules

import (
	"fmt"
	"time"
)

// Day is one day in milliseconds, the unit of event time.
const Day = int64(24 * time.Hour / time.Millisecond)

// Config holds the thresholds of the stage model. The zero value of a field
// means its default.
type Config struct {
	// ChurnAfter is how long a user may show no activity at all before they
	// count as churned. Default 30 days ("has not logged in for more than a month").
	ChurnAfter time.Duration
	// SilentAfter is how long a buyer may go without a purchase, while still
	// active, before they count as silent. Default 60 days.
	SilentAfter time.Duration
	// MatureAt is the purchase count from which a user is mature. Default 2
	// ("has paid more than once").
	MatureAt int
}

// Defaults of Config, in one place so help texts and docs can quote them.
const (
	DefaultChurnAfter  = 30 * 24 * time.Hour
	DefaultSilentAfter = 60 * 24 * time.Hour
	DefaultMatureAt    = 2
)

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.ChurnAfter == 0 {
		c.ChurnAfter = DefaultChurnAfter
	}
	if c.SilentAfter == 0 {
		c.SilentAfter = DefaultSilentAfter
	}
	if c.MatureAt == 0 {
		c.MatureAt = DefaultMatureAt
	}
	return c
}

// Validate says which field is out of range and what would be valid.
func (c Config) Validate() error {
	c = c.WithDefaults()
	if c.ChurnAfter < time.Millisecond {
		return fmt.Errorf("rules: churn-after %v must be positive (for example 720h for 30 days)", c.ChurnAfter)
	}
	if c.SilentAfter < time.Millisecond {
		return fmt.Errorf("rules: silent-after %v must be positive (for example 1440h for 60 days)", c.SilentAfter)
	}
	if c.MatureAt < 1 {
		return fmt.Errorf("rules: mature-at %d must be 1 or more (the purchase count from which a user is mature)", c.MatureAt)
	}
	return nil
}

func (c Config) churnMs() int64  { return int64(c.ChurnAfter / time.Millisecond) }
func (c Config) silentMs() int64 { return int64(c.SilentAfter / time.Millisecond) }
