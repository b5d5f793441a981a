package produce_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/lifecycle-engine/lifecycle/processor/kafkatest"
	"github.com/lifecycle-engine/lifecycle/processor/produce"
)

func newGather(t *testing.T, brokers []string, maxBytes func(string) int) *produce.Gather {
	g := produce.NewGather(produce.GatherConfig{Transport: &kafka.Transport{}, Addr: kafka.TCP(brokers...), Compression: kafka.Lz4, MaxBytes: maxBytes})
	t.Cleanup(func() { g.Close() })
	return g
}

// Writers at once, each waiting for its call before the next, as the
// partitions' senders do: every record lands once, in its key's partition,
// and each key's records keep their order.
func TestGatherDelivers(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	a, b := kafkatest.Name(t, "gather-a"), kafkatest.Name(t, "gather-b")
	kafkatest.CreateTopics(t, brokers, 4, a, b)
	g := newGather(t, brokers, nil)
	const writers, calls = 8, 40
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for c := range calls {
				var msgs []kafka.Message
				for k := range 1 + c%3 {
					key := fmt.Sprintf("w%d-u%d", w, k)
					topic := a
					if k == 1 {
						topic = b
					}
					msgs = append(msgs, kafka.Message{Topic: topic, Key: []byte(key), Value: []byte(strconv.Itoa(c)),
						Headers: []kafka.Header{{Key: "id", Value: []byte(key + "/" + strconv.Itoa(c))}}})
				}
				if err := writeAll(g, msgs); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	want := map[string]int{}
	for w := range writers {
		for c := range calls {
			for k := range 1 + c%3 {
				want[fmt.Sprintf("w%d-u%d", w, k)]++
			}
		}
	}
	last := map[string]int{}
	got := map[string]int{}
	for _, topic := range []string{a, b} {
		for _, m := range kafkatest.ReadAll(t, brokers, topic) {
			key := string(m.Key)
			if p := produce.PartitionOf(m.Key, 4); int32(m.Partition) != p {
				t.Errorf("%s: key %s in partition %d, want %d (Murmur2)", topic, key, m.Partition, p)
			}
			c, _ := strconv.Atoi(string(m.Value))
			if prev, ok := last[key]; ok && c <= prev {
				t.Errorf("key %s: call %d after call %d", key, c, prev)
			}
			last[key] = c
			got[key]++
			if len(m.Headers) != 1 || string(m.Headers[0].Value) != key+"/"+string(m.Value) {
				t.Errorf("key %s: headers %v", key, m.Headers)
			}
		}
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("key %s: %d records, want %d", k, got[k], n)
		}
	}
}

// A call larger than a topic's record batch is cut into batches the topic
// takes, in order; a record larger than a batch may be is refused before
// anything is sent, as kafka-go's Writer does.
func TestGatherLimits(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Name(t, "gather-limit")
	kafkatest.CreateTopics(t, brokers, 1, topic)
	const limit = 8 << 10
	setMaxMessageBytes(t, brokers, topic, limit)
	g := newGather(t, brokers, func(string) int { return limit })
	var msgs []kafka.Message
	for i := range 60 {
		msgs = append(msgs, kafka.Message{Topic: topic, Key: []byte("u"), Value: random(1 << 10), Headers: []kafka.Header{{Key: "n", Value: []byte(strconv.Itoa(i))}}})
	}
	if err := writeAll(g, msgs); err != nil {
		t.Fatalf("60 records of 1 KiB to a topic of 8 KiB batches: %v", err)
	}
	got := kafkatest.ReadAll(t, brokers, topic)
	if len(got) != len(msgs) {
		t.Fatalf("%d records written, want %d", len(got), len(msgs))
	}
	for i, m := range got {
		if string(m.Headers[0].Value) != strconv.Itoa(i) {
			t.Fatalf("record %d is number %s: out of order", i, m.Headers[0].Value)
		}
	}

	big := kafka.Message{Topic: topic, Key: []byte("u"), Value: random(limit)}
	err := g.WriteMessages(context.Background(), msgs[0], big, msgs[1])
	var tooLarge kafka.MessageTooLargeError
	if !errors.As(err, &tooLarge) || len(tooLarge.Message.Value) != limit || len(tooLarge.Remaining) != 2 {
		t.Fatalf("a record larger than the topic's batches: got %v, want a kafka.MessageTooLargeError naming it, with the other 2 remaining", err)
	}
	if n := len(kafkatest.ReadAll(t, brokers, topic)); n != len(msgs) {
		t.Errorf("%d records after the refused call, want %d: nothing of it may be sent", n, len(msgs))
	}
}

// When Kafka refuses one batch of a partition, nothing later of that
// partition is sent in the same call: the caller sends the refused records
// again, and later ones written meanwhile would overtake them. Here the
// topic takes less than the writer was told, so the first batch (five
// records of 1 KiB) is refused; the second (one of 1 KiB and five small
// ones) would be taken.
func TestGatherStopsAPartitionAtARefusal(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Name(t, "gather-refused")
	kafkatest.CreateTopics(t, brokers, 1, topic)
	if err := writeAll(newGather(t, brokers, nil), []kafka.Message{{Topic: topic, Value: []byte("leader ready")}}); err != nil {
		t.Fatal(err)
	}
	setMaxMessageBytes(t, brokers, topic, 3<<10)
	g := newGather(t, brokers, func(string) int { return 6 << 10 })
	var msgs []kafka.Message
	for i := range 11 {
		n := 1 << 10
		if i >= 6 {
			n = 10
		}
		msgs = append(msgs, kafka.Message{Topic: topic, Key: []byte("u"), Value: random(n)})
	}
	err := g.WriteMessages(context.Background(), msgs...)
	var werrs kafka.WriteErrors
	if !errors.As(err, &werrs) || len(werrs) != len(msgs) || werrs.Count() != len(msgs) {
		t.Fatalf("got %v, want kafka.WriteErrors failing all %d records", err, len(msgs))
	}
	if !errors.Is(werrs[0], kafka.MessageSizeTooLarge) {
		t.Errorf("first record's error %v, want the broker's MessageSizeTooLarge", werrs[0])
	}
	if n := len(kafkatest.ReadAll(t, brokers, topic)); n != 1 {
		t.Errorf("%d records in the topic, want only the first call's: nothing after a refused batch", n)
	}
}

// A record for a topic that does not exist fails alone: the call's others
// are written, and the failure names only it, as one the caller may send
// again (a topic being created).
func TestGatherUnknownTopic(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Name(t, "gather-known")
	kafkatest.CreateTopics(t, brokers, 2, topic)
	g := newGather(t, brokers, nil)
	msgs := []kafka.Message{
		{Topic: topic, Key: []byte("a"), Value: []byte("1")},
		{Topic: kafkatest.Name(t, "gather-missing"), Key: []byte("b"), Value: []byte("2")},
		{Topic: topic, Key: []byte("c"), Value: []byte("3")},
	}
	// First a record the topic takes once its leader does (just created).
	if err := writeAll(g, msgs[:1]); err != nil {
		t.Fatal(err)
	}
	err := g.WriteMessages(context.Background(), msgs...)
	var werrs kafka.WriteErrors
	if !errors.As(err, &werrs) || len(werrs) != 3 || werrs[0] != nil || werrs[1] == nil || werrs[2] != nil {
		t.Fatalf("got %v, want kafka.WriteErrors failing only the second record", err)
	}
	if !produce.Refused(err) {
		t.Errorf("Refused(%v) = false: a missing topic's record may be sent again", err)
	}
	if failed := produce.FailedOnly(msgs, err); len(failed) != 1 || string(failed[0].Key) != "b" {
		t.Errorf("FailedOnly kept %v, want only b", failed)
	}
	if n := len(kafkatest.ReadAll(t, brokers, topic)); n != 3 {
		t.Errorf("%d records in the known topic, want 3", n)
	}
}

// A closed Gather refuses writes instead of blocking them.
func TestGatherClosed(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	g := produce.NewGather(produce.GatherConfig{Transport: &kafka.Transport{}, Addr: kafka.TCP(brokers...)})
	g.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.WriteMessages(ctx, kafka.Message{Topic: "t", Value: []byte("x")}); !errors.Is(err, produce.ErrGatherClosed) {
		t.Fatalf("write after Close: %v, want ErrGatherClosed", err)
	}
}

// writeAll writes msgs as a sender does: what Gather says was refused for
// want of a leader (a topic just created) is sent again, alone.
func writeAll(g *produce.Gather, msgs []kafka.Message) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := g.WriteMessages(context.Background(), msgs...)
		if err == nil || !produce.Refused(err) || time.Now().After(deadline) {
			return err
		}
		msgs = produce.FailedOnly(msgs, err)
		time.Sleep(50 * time.Millisecond)
	}
}

func setMaxMessageBytes(t *testing.T, brokers []string, topic string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	v := strconv.Itoa(n)
	rs, err := kafkatest.Admin(t, brokers).AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "max.message.bytes", Value: &v}}, topic)
	if err == nil {
		for _, r := range rs {
			err = errors.Join(err, r.Err)
		}
	}
	if err != nil {
		t.Fatalf("setting max.message.bytes of %s: %v", topic, err)
	}
}

// random returns n bytes that do not compress, so that a batch's size on
// the wire is what the test means.
func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
