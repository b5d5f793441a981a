package segments

import (
	"fmt"
	"math"
	"time"
)

// Day is one day in milliseconds, the unit of event time.
const Day = int64(24 * time.Hour / time.Millisecond)

// Config holds the parameters of the RFM model. The zero value of a field
// means its default.
type Config struct {
	// Window is how far back F and M count purchases, in event time. 0 means
	// all time (the default). A window is kept as WindowBuckets buckets of
	// Window/WindowBuckets each, so a purchase leaves the window between
	// Window×(1-1/WindowBuckets) and Window after it was made.
	Window time.Duration
	// Refresh is how often, in event time, the population's cuts are
	// rebuilt. Rebuilds happen at multiples of Refresh since the Unix epoch
	// (see RebuildPoint). Default 24h.
	Refresh time.Duration
	// Hysteresis is the dead band around each cut, as a fraction of the
	// distance from the cut to the nearest neighbouring cut: a user on one
	// side of a cut only moves to the other side when their value passes
	// the cut by more than that. Default 0.1; at most 0.5 (so dead bands
	// never overlap); NoHysteresis turns it off.
	Hysteresis float64
}

// Defaults of Config, in one place so help texts and docs can quote them.
const (
	DefaultWindow     = time.Duration(0)
	DefaultRefresh    = 7 * 24 * time.Hour // a rebuild reads every buyer; quintiles barely move in a week
	DefaultHysteresis = 0.1
	// MaxHysteresis is the largest Hysteresis: beyond it the dead bands of
	// two neighbouring cuts could overlap.
	MaxHysteresis = 0.5
)

// NoHysteresis as Config.Hysteresis turns hysteresis off (0 would mean the
// default).
const NoHysteresis = -1.0

// MinWindow is the shortest non-zero Window (one bucket is then 5 minutes).
const MinWindow = WindowBuckets * 5 * time.Minute

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.Refresh == 0 {
		c.Refresh = DefaultRefresh
	}
	if c.Hysteresis == 0 {
		c.Hysteresis = DefaultHysteresis
	}
	return c
}

// Validate says which field is out of range and what would be valid.
func (c Config) Validate() error {
	c = c.WithDefaults()
	if c.Window < 0 || (c.Window > 0 && c.Window < MinWindow) {
		return fmt.Errorf("segments: window %v must be 0 (all time) or at least %v (for example 2160h for 90 days)", c.Window, MinWindow)
	}
	if c.Refresh < time.Minute {
		return fmt.Errorf("segments: refresh %v must be at least 1m (for example 24h)", c.Refresh)
	}
	if h := c.Hysteresis; math.IsNaN(h) || h > MaxHysteresis || (h < 0 && h != NoHysteresis) {
		return fmt.Errorf("segments: hysteresis %v must be in (0, %v] (a fraction of the band next to a cut, for example 0.1) or %v for none", h, MaxHysteresis, NoHysteresis)
	}
	return nil
}

// hysteresis is the effective fraction: 0 when turned off.
func (c Config) hysteresis() float64 { return max(c.Hysteresis, 0) }

// windowMs is Window in milliseconds.
func (c Config) windowMs() int64 { return int64(c.Window / time.Millisecond) }

// RebuildPoint is the latest scheduled rebuild at or before stream time t:
// the largest multiple of Refresh (since the Unix epoch) that is <= t. The
// schedule is a function of event time only, so a replay rebuilds at the
// same points. The runtime rebuilds when RebuildPoint(streamTime) is later
// than the population's SealedAt (or the population was never sealed), and
// computes every user's Values as of the returned time.
func (c Config) RebuildPoint(t int64) int64 {
	r := int64(c.WithDefaults().Refresh / time.Millisecond)
	p := t - t%r
	if t%r < 0 {
		p -= r
	}
	return p
}

// NewWindow returns an empty purchase history for this configuration: one
// that counts the last Window, or all time when Window is 0.
func (c Config) NewWindow() Window {
	return Window{Span: c.windowMs()}
}
