package processor

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/segmentio/kafka-go"

	"github.com/lifecycle-engine/lifecycle/processor/kafkatest"
	"github.com/lifecycle-engine/lifecycle/processor/rules"
)

// TestIdleAdvance: with IdleAdvance on, a caught-up partition's stream time
// follows the wall clock, so users whose last event is long past churn
// without any newer event; with it off (pure event time), they do not.
func TestIdleAdvance(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	inputs := []string{kafkatest.Name(t, "login"), kafkatest.Name(t, "purchase"), kafkatest.Name(t, "content")}
	kafkatest.CreateTopics(t, brokers, 2, inputs...)
	long := time.Now().Add(-90 * 24 * time.Hour).UTC()
	var msgs []kafka.Message
	for i := 0; i < 6; i++ {
		u := fmt.Sprintf("u-%d", i)
		msgs = append(msgs, kafka.Message{Topic: inputs[0], Key: []byte(u),
			Value: fmt.Appendf(nil, `{"event_id":"e-%d","user_id":%q,"type":"login","ts":%q}`, i, u, long.Add(time.Duration(i)*time.Hour).Format(time.RFC3339))})
	}
	kafkatest.Produce(t, brokers, msgs...)
	f := &inputFixture{brokers: brokers, inputs: inputs, partitions: 2}

	churned := func(cfg Config) int {
		n := 0
		for _, m := range kafkatest.ReadAll(t, brokers, cfg.Topics.Transitions) {
			if strings.Contains(string(m.Value), `"to":"churned"`) {
				n++
			}
		}
		return n
	}

	off := f.config(t)
	runUntil(t, off, openStore(t, vfs.NewMem()), func(st Stats) bool { return st.Applied == 6 && st.Sent >= 6 })
	if n := churned(off); n != 0 {
		t.Errorf("pure event time: %d users churned without newer events, want 0", n)
	}

	on := f.config(t)
	on.IdleAdvance, on.AllowedLateness = true, time.Minute
	runUntil(t, on, openStore(t, vfs.NewMem()), func(st Stats) bool { return st.Stages[rules.Churned] == 6 })
	if n := churned(on); n != 6 {
		t.Errorf("idle advance: %d churn transitions on the topic, want 6", n)
	}
}

// TestIdleAdvanceHeldThroughAnInputOutage: an upstream outage (producers
// down) delays every user's events at once. With MaxInputSilence, stream
// time stops following the wall clock once no record has come for that
// long, so the delayed events, when they come, are applied before the
// churn they put off: nobody is churned for a silence that was not theirs.
// Without it (0) the same schedule churns every user during the outage.
func TestIdleAdvanceHeldThroughAnInputOutage(t *testing.T) {
	for _, tc := range []struct {
		name    string
		silence time.Duration
		churned int
	}{
		{"held after 2s without input", 2 * time.Second, 0},
		{"never held", 0, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			brokers, inputs, cfg := idleConfig(t, tc.silence)
			churn := rules.DefaultChurnAfter
			login := func(u string, at time.Time, round int) kafka.Message {
				return kafka.Message{Topic: inputs[0], Key: []byte(u),
					Value: fmt.Appendf(nil, `{"event_id":"e-%d-%s","user_id":%q,"type":"login","ts":%q}`, round, u, u, at.UTC().Format(time.RFC3339Nano))}
			}
			logins := func(at time.Time, round int) []kafka.Message {
				var msgs []kafka.Message
				for i := range 6 {
					msgs = append(msgs, login(fmt.Sprintf("u-%d", i), at, round))
				}
				return msgs
			}

			p, errc, cancel := startRun(t, cfg)
			// A first record shows the processor at work, however long
			// joining the group took.
			kafkatest.Produce(t, brokers, login("early", time.Now(), 0))
			waitFor(t, "the first record applied", func() bool { return p.Stats().Applied == 1 })
			// Every user's churn comes due 6 s from now: during the outage.
			due := time.Now().Add(6 * time.Second).Truncate(time.Millisecond)
			kafkatest.Produce(t, brokers, logins(due.Add(-churn), 1)...)
			waitFor(t, "the users' logins applied", func() bool { return p.Stats().Applied == 7 })

			// The outage: no record until past the users' churn.
			time.Sleep(time.Until(due.Add(3 * time.Second)))
			st := p.Stats()
			if st.StreamTimeHeld != (tc.silence > 0) {
				t.Errorf("after the inputs' silence: stream time held %v, want %v", st.StreamTimeHeld, tc.silence > 0)
			}
			if held := tc.silence > 0; held && !st.StreamTime.Before(due) {
				t.Errorf("held: stream time %v reached the churn due at %v", st.StreamTime, due)
			}
			// The events the outage delayed: each user logged in during it,
			// 2 s before the churn would have come due.
			kafkatest.Produce(t, brokers, logins(due.Add(-2*time.Second), 2)...)
			waitFor(t, "the delayed logins applied, and stream time following the clock", func() bool {
				st := p.Stats()
				return st.Applied == 13 && !st.StreamTimeHeld && st.StreamTime.After(due)
			})
			cancel()
			if err := <-errc; err != nil {
				t.Fatalf("Run: %v", err)
			}
			churned := 0
			for _, m := range kafkatest.ReadAll(t, brokers, cfg.Topics.Transitions) {
				if strings.Contains(string(m.Value), `"to":"churned"`) {
					churned++
				}
			}
			if churned != tc.churned {
				t.Errorf("%d churn transitions, want %d", churned, tc.churned)
			}
		})
	}
}

// idleConfig is a processor config with idle advance (a second of
// lateness, --max-input-silence silence) on three new input topics of two
// partitions, with their brokers and names.
func idleConfig(t *testing.T, silence time.Duration) (brokers, inputs []string, cfg Config) {
	t.Helper()
	brokers = kafkatest.Brokers(t)
	inputs = []string{kafkatest.Name(t, "login"), kafkatest.Name(t, "purchase"), kafkatest.Name(t, "content")}
	kafkatest.CreateTopics(t, brokers, 2, inputs...)
	f := &inputFixture{brokers: brokers, inputs: inputs, partitions: 2}
	cfg = f.config(t)
	cfg.IdleAdvance, cfg.AllowedLateness, cfg.MaxInputSilence = true, time.Second, silence
	return brokers, inputs, cfg
}
