package processor

import (
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// TestInputClock: idle advance follows the clock minus the lateness while
// records come, stops silence after the last one, logs the hold once for
// the process, and follows the clock again with the next record.
func TestInputClock(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	t0 := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	c := newInputClock(t0, zap.New(core))
	const silence, lateness = 10 * time.Minute, 5 * time.Minute
	check := func(now time.Time, want time.Time, held bool) {
		t.Helper()
		if got := c.idleAdvance(now, silence, lateness); !got.Equal(want) {
			t.Errorf("at %v: idle advance to %v, want %v", now.Sub(t0), got.Sub(t0), want.Sub(t0))
		}
		if c.held.Load() != held {
			t.Errorf("at %v: held %v, want %v", now.Sub(t0), c.held.Load(), held)
		}
	}
	check(t0.Add(9*time.Minute), t0.Add(4*time.Minute), false)
	check(t0.Add(11*time.Minute), t0.Add(5*time.Minute), true)
	check(t0.Add(3*time.Hour), t0.Add(5*time.Minute), true) // a second partition, later: no second log line
	c.seen(t0.Add(3 * time.Hour))
	check(t0.Add(3*time.Hour+time.Second), t0.Add(3*time.Hour-lateness+time.Second), false)
	if got := c.idleAdvance(t0.Add(5*time.Hour), 0, lateness); !got.Equal(t0.Add(5*time.Hour - lateness)) {
		t.Errorf("silence 0: idle advance to %v, want the clock minus the lateness", got.Sub(t0))
	}
	var msgs []string
	for _, e := range logs.All() {
		msgs = append(msgs, e.Level.String()+": "+e.Message)
	}
	if len(msgs) != 2 || logs.FilterLevelExact(zap.WarnLevel).Len() != 1 || logs.FilterLevelExact(zap.InfoLevel).Len() != 1 {
		t.Errorf("log lines %q, want one warning when the hold begins and one line when it ends", msgs)
	}
}
