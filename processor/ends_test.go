package processor

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lifecycle-engine/lifecycle/processor/kafkatest"
)

// TestEndsAskerShared: partitions asking at once get their own partition's
// end offsets, per topic in order, and an answer never predates the
// question: records produced before a question are within its answer.
func TestEndsAskerShared(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topics := []string{kafkatest.Name(t, "a"), kafkatest.Name(t, "b")}
	const parts = 4
	kafkatest.CreateTopics(t, brokers, parts, topics...)
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kafkatest.Admin(t, brokers)
	asker := newEndsAsker(cl, topics, new(atomic.Int64))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for round := 1; round <= 3; round++ {
		var msgs []kafka.Message
		for i := range 40 * round {
			msgs = append(msgs, kafka.Message{Topic: topics[i%2], Key: fmt.Appendf(nil, "r%d-u%d", round, i), Value: []byte("{}")})
		}
		kafkatest.Produce(t, brokers, msgs...)
		want, err := adm.ListEndOffsets(ctx, topics...)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for p := range int32(parts) {
			for range 3 { // several questions of a partition at once
				wg.Add(1)
				go func() {
					defer wg.Done()
					got, err := asker.ends(ctx, p)
					if err != nil {
						t.Errorf("round %d, partition %d: %v", round, p, err)
						return
					}
					for i, topic := range topics {
						w, _ := want.Lookup(topic, p)
						if len(got) != len(topics) || got[i] != w.Offset {
							t.Errorf("round %d, partition %d: ends %v, want %s at %d", round, p, got, topic, w.Offset)
						}
					}
				}()
			}
		}
		wg.Wait()
	}
}
