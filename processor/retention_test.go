package processor

import (
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/segmentio/kafka-go"

	"github.com/lifecycle-engine/lifecycle/processor/kafkatest"
)

// TestInputLostToRetention: records the broker deletes (as retention
// does, or kafka-delete-records.sh) after the processor stopped and
// before it read them are counted as lost (Stats.Lost, the metric), one
// record as well as several, and the processor goes on with the records
// the broker still has. A gap of one was taken for an aborted
// transaction's before the fetches' log start was used.
func TestInputLostToRetention(t *testing.T) {
	for _, deleted := range []int{5, 1} {
		t.Run(fmt.Sprintf("%d deleted", deleted), func(t *testing.T) { lostToRetention(t, deleted) })
	}
}

func lostToRetention(t *testing.T, deleted int) {
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
	// deletes the first ones.
	kafkatest.Produce(t, brokers, logins(10, 20)...)
	kafkatest.DeleteRecords(t, brokers, inputs[0], 0, int64(10+deleted))

	st := runUntil(t, cfg, store, func(st Stats) bool { return st.Applied >= int64(10-deleted) })
	if st.Lost != int64(deleted) || st.Applied != int64(10-deleted) {
		t.Errorf("after the deletion: %d records lost (want %d: offsets 10 to %d), %d applied (want %d)", st.Lost, deleted, 9+deleted, st.Applied, 10-deleted)
	}
	for i := range 20 {
		_, ok, err := store.User(0, fmt.Sprintf("u-%02d", i))
		if err != nil {
			t.Fatal(err)
		}
		if want := i < 10 || i >= 10+deleted; ok != want {
			t.Errorf("user u-%02d stored: %v, want %v", i, ok, want)
		}
	}
}
