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
