package processor

import (
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// inputClock is when the process last fetched an input record, for
// Config.MaxInputSilence: idle advance lets stream time follow the wall
// clock only while the inputs are seen to be live. When every input goes
// silent at once, the likelier cause is upstream (producers down, the
// broker unreachable, a connector stopped) than every user quiet at the
// same moment; stream time following the clock through it would fire the
// inactivity timers of users whose events are only delayed, and churn and
// warn them for a silence that was not theirs. Held, the delayed events
// are applied in event time when they come.
type inputClock struct {
	last atomic.Int64 // Unix ns of the last fetch that brought records
	held atomic.Bool  // stream time is held now (lifecycle_stream_time_held)
	log  *zap.Logger
}

func newInputClock(now time.Time, log *zap.Logger) *inputClock {
	c := &inputClock{log: log}
	c.last.Store(now.UnixNano())
	return c
}

// seen records that a fetch brought records at now.
func (c *inputClock) seen(now time.Time) { c.last.Store(now.UnixNano()) }

// idleAdvance is the stream time idle advance may take a caught-up
// partition to at now: the wall clock minus the allowed lateness, but
// the clock at most silence past the last fetched record. silence 0 never
// holds. The first partition to find the hold begun or ended logs it,
// once for the process.
func (c *inputClock) idleAdvance(now time.Time, silence, lateness time.Duration) time.Time {
	if silence <= 0 {
		return now.Add(-lateness)
	}
	last := time.Unix(0, c.last.Load())
	until := last.Add(silence)
	if now.Before(until) {
		if c.held.CompareAndSwap(true, false) {
			c.log.Info("input records again: stream time follows the wall clock again (--idle-advance)", zap.Time("last_record_fetched", last))
		}
		return now.Add(-lateness)
	}
	if c.held.CompareAndSwap(false, true) {
		c.log.Warn("no input record fetched for --max-input-silence: stream time held instead of following the wall clock, so that an upstream outage does not churn and warn users whose events are only delayed; it follows the clock again with the next record",
			zap.Time("last_record_fetched", last), zap.Duration("max_input_silence", silence), zap.Time("stream_time_held_at", until.Add(-lateness)))
	}
	return until.Add(-lateness)
}
