package processor

import (
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/segmentio/kafka-go"

	"github.com/lifecycle-engine/lifecycle/processor/kafkatest"
)

// TestInputLostToRetention: records the broker deletes (as retention does)
// after the processor stopped and before it read them are counted as lost
// (Stats.Lost, the metric), and the processor goes on with the records the
// broker still has.
func TestInputLostToRetention(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	inputs := []string{kafkatest.Name(t, "login"), kafkatest.Name(t, "purchase"), kafkatest.Name(t, "content")}
	kafkatest.CreateTopics(t, brokers, 1, inputs...)
	logins := func(from, to int) []kafka.Message {
		var msgs []kafka.Message
		for i := from; i < to; i++ {
			u := fmt.Sprintf("u-%02d", i)
			msgs = append(msgs, kafka.Message{Topic: inputs[0], Key: []byte(u),
				Value: fmt.Appendf(nil, `{"event_id":"e-%d","user_id":%q,"type":"login","ts":"2026-01-01T00:%02d:00Z"}`, i, u, i)})
		}
		return msgs
	}
	kafkatest.Produce(t, brokers, logins(0, 10)...)
	f := &inputFixture{brokers: brokers, inputs: inputs, partitions: 1}
	cfg := f.config(t)
	store := openStore(t, vfs.NewMem())
	runUntil(t, cfg, store, func(st Stats) bool { return st.Applied >= 10 })

	// While no processor runs: 10 more records, of which the broker then
	// deletes the first 5.
	kafkatest.Produce(t, brokers, logins(10, 20)...)
	kafkatest.DeleteRecords(t, brokers, inputs[0], 0, 15)

	st := runUntil(t, cfg, store, func(st Stats) bool { return st.Applied >= 5 })
	if st.Lost != 5 || st.Applied != 5 {
		t.Errorf("after the deletion: %d records lost (want 5: offsets 10 to 14), %d applied (want 5)", st.Lost, st.Applied)
	}
	for i := range 20 {
		_, ok, err := store.User(0, fmt.Sprintf("u-%02d", i))
		if err != nil {
			t.Fatal(err)
		}
		if want := i < 10 || i >= 15; ok != want {
			t.Errorf("user u-%02d stored: %v, want %v", i, ok, want)
		}
	}
}
