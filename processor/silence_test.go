package processor

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/lifecycle-engine/lifecycle/processor/kafkatest"
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

// TestInputClockWatchesEnds: a record produced to an input partition that
// this process does not fetch (another instance's) counts as live input;
// a quiet topic does not move the clock.
func TestInputClockWatchesEnds(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Name(t, "in")
	kafkatest.CreateTopics(t, brokers, 2, topic)
	kafkatest.Produce(t, brokers, kafka.Message{Topic: topic, Key: []byte("before"), Value: []byte("{}")})
	start := time.Now().Add(-time.Hour)
	c := newInputClock(start, zap.NewNop())
	ctx, cancel := context.WithCancel(context.Background())
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		c.watchEnds(ctx, kafkatest.Admin(t, brokers), []string{topic}, 100*time.Millisecond)
	}()
	defer func() { cancel(); <-watched }()

	time.Sleep(time.Second)
	if got := c.last.Load(); got != start.UnixNano() {
		t.Errorf("a quiet topic moved the clock to %v", time.Unix(0, got))
	}
	produced := time.Now()
	kafkatest.Produce(t, brokers, kafka.Message{Topic: topic, Key: []byte("u"), Value: []byte("{}")})
	waitFor(t, "the record produced seen", func() bool { return c.last.Load() >= produced.UnixNano() })
}

// TestEndsInterval: the ends are asked for a few times within the silence
// and within the allowed lateness, whichever is shorter, at most once a
// minute; a zero of either does not count.
func TestEndsInterval(t *testing.T) {
	for _, tc := range []struct{ silence, lateness, want time.Duration }{
		{15 * time.Minute, 5 * time.Minute, time.Minute}, // the defaults
		{3 * time.Second, time.Second, time.Second / 3},
		{90 * time.Second, 10 * time.Minute, 30 * time.Second},
		{0, 90 * time.Second, 30 * time.Second},
		{0, 0, time.Minute},
		{100 * time.Millisecond, 0, 100 * time.Millisecond},
	} {
		if got := endsInterval(tc.silence, tc.lateness); got != tc.want {
			t.Errorf("silence %v, lateness %v: every %v, want %v", tc.silence, tc.lateness, got, tc.want)
		}
	}
}
