package processor

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/segmentio/kafka-go"

	"github.com/lifecycle-engine/lifecycle/processor/kafkatest"
	"github.com/lifecycle-engine/lifecycle/schemas"
)

// TestDeadLetters sends one record of each kind of bad input, each followed
// by a valid event of a new user: every bad record lands in the dead-letter
// topic with its reason code, source and original bytes, and processing goes
// on (each valid event still makes its user new). A re-sent event id changes
// nothing.
func TestDeadLetters(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	inputs := []string{kafkatest.Name(t, "login"), kafkatest.Name(t, "purchase"), kafkatest.Name(t, "content")}
	kafkatest.CreateTopics(t, brokers, 1, inputs...)
	cases := []struct {
		name, key, value string
		topic            int
		code             schemas.Reason
	}{
		{"malformed JSON", "u-1", `{"event_id":"e-1","user_id":"u-1","ty`, 0, schemas.ReasonMalformedJSON},
		{"not an object", "u-1", `["login"]`, 0, schemas.ReasonMalformedJSON},
		{"missing user_id", "u-1", `{"event_id":"e-1","type":"login","ts":"2026-01-01T00:00:00Z"}`, 0, schemas.ReasonMissingField},
		{"empty event_id", "u-1", `{"event_id":"","user_id":"u-1","type":"login","ts":"2026-01-01T00:00:00Z"}`, 0, schemas.ReasonMissingField},
		{"user_id a number", "u-1", `{"event_id":"e-1","user_id":42,"type":"login","ts":"2026-01-01T00:00:00Z"}`, 0, schemas.ReasonWrongType},
		{"bad timestamp", "u-1", `{"event_id":"e-1","user_id":"u-1","type":"login","ts":"yesterday"}`, 0, schemas.ReasonBadTimestamp},
		{"timestamp without offset", "u-1", `{"event_id":"e-1","user_id":"u-1","type":"login","ts":"2026-01-01T00:00:00"}`, 0, schemas.ReasonBadTimestamp},
		{"negative amount", "u-1", `{"event_id":"e-1","user_id":"u-1","type":"purchase","ts":"2026-01-01T00:00:00Z","amount":"-5.00","currency":"USD"}`, 1, schemas.ReasonBadAmount},
		{"non-numeric amount", "u-1", `{"event_id":"e-1","user_id":"u-1","type":"purchase","ts":"2026-01-01T00:00:00Z","amount":"lots","currency":"USD"}`, 1, schemas.ReasonBadAmount},
		{"purchase without amount", "u-1", `{"event_id":"e-1","user_id":"u-1","type":"purchase","ts":"2026-01-01T00:00:00Z","currency":"USD"}`, 1, schemas.ReasonMissingField},
		{"unknown type", "u-1", `{"event_id":"e-1","user_id":"u-1","type":"refund","ts":"2026-01-01T00:00:00Z"}`, 1, schemas.ReasonUnknownType},
		{"other currency", "u-1", `{"event_id":"e-1","user_id":"u-1","type":"purchase","ts":"2026-01-01T00:00:00Z","amount":"5.00","currency":"EUR"}`, 1, schemas.ReasonWrongCurrency},
		{"key is not user_id", "u-2", `{"event_id":"e-1","user_id":"u-1","type":"login","ts":"2026-01-01T00:00:00Z"}`, 0, schemas.ReasonKeyMismatch},
		{"too large", "u-1", `{"event_id":"e-1","user_id":"u-1","type":"content","ts":"2026-01-01T00:00:00Z","kind":"` + strings.Repeat("x", 70_000) + `"}`, 2, schemas.ReasonTooLarge},
	}
	var msgs []kafka.Message
	for i, c := range cases {
		msgs = append(msgs, kafka.Message{Topic: inputs[c.topic], Key: []byte(c.key), Value: []byte(c.value)})
		good := fmt.Sprintf("good-%02d", i)
		msgs = append(msgs, kafka.Message{Topic: inputs[c.topic], Key: []byte(good),
			Value: fmt.Appendf(nil, `{"event_id":"g-%d","user_id":%q,"type":"login","ts":"2026-01-01T00:%02d:00Z"}`, i, good, i)})
	}
	// The same event twice: applied once.
	dup := kafka.Message{Topic: inputs[0], Key: []byte("dup"), Value: []byte(`{"event_id":"d-1","user_id":"dup","type":"login","ts":"2026-01-01T01:00:00Z"}`)}
	msgs = append(msgs, dup, dup)
	kafkatest.Produce(t, brokers, msgs...)

	f := &inputFixture{brokers: brokers, inputs: inputs, partitions: 1}
	cfg := f.config(t)
	cfg.Decoder.MaxRecordBytes = 64 << 10
	st := runUntil(t, cfg, openStore(t, vfs.NewMem()), func(st Stats) bool { return seen(st) >= int64(len(msgs)) })
	if st.Rejected != int64(len(cases)) || st.Duplicates != 1 || st.Applied != int64(len(cases)+1) {
		t.Errorf("stats: %d rejected, %d duplicates, %d applied; want %d, 1, %d", st.Rejected, st.Duplicates, st.Applied, len(cases), len(cases)+1)
	}

	dlq := kafkatest.ReadAll(t, brokers, cfg.Topics.DLQ)
	if len(dlq) != len(cases) {
		t.Fatalf("dead-letter topic has %d records, want %d", len(dlq), len(cases))
	}
	byValue := map[string]kafka.Message{}
	for _, m := range dlq {
		byValue[string(m.Value)] = m
	}
	for _, c := range cases {
		m, ok := byValue[c.value]
		if !ok {
			t.Errorf("%s: not in the dead-letter topic with its original bytes", c.name)
			continue
		}
		if got := header(m, schemas.HeaderDLQCode); got != string(c.code) {
			t.Errorf("%s: code %q, want %q (reason %q)", c.name, got, c.code, header(m, schemas.HeaderDLQReason))
		}
		if header(m, schemas.HeaderDLQTopic) != inputs[c.topic] || header(m, schemas.HeaderDLQOffset) == "" || string(m.Key) != c.key {
			t.Errorf("%s: source headers %v, key %q", c.name, m.Headers, m.Key)
		}
	}

	newUsers := map[string]int{}
	for _, m := range kafkatest.ReadAll(t, brokers, cfg.Topics.Transitions) {
		newUsers[string(m.Key)]++
	}
	for i := range cases {
		if u := fmt.Sprintf("good-%02d", i); newUsers[u] != 1 {
			t.Errorf("valid event after bad record %d: user %s has %d transitions, want 1", i, u, newUsers[u])
		}
	}
	if newUsers["dup"] != 1 {
		t.Errorf("event sent twice: %d transitions, want 1", newUsers["dup"])
	}
}

// TestOutputsRefusedByTheirTopic: the transitions topic takes records of
// at most 100 bytes, so Kafka refuses every transition (each is larger).
// Each is set aside with a notice on the dead-letter topic, and the
// partition goes on: every event is applied, nothing is retried for ever.
func TestOutputsRefusedByTheirTopic(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	inputs := []string{kafkatest.Name(t, "login")}
	kafkatest.CreateTopics(t, brokers, 1, inputs...)
	f := &inputFixture{brokers: brokers, inputs: inputs, partitions: 1}
	cfg := f.config(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	setTopicConfig(ctx, t, kafkatest.Admin(t, brokers), "max.message.bytes", "100", cfg.Topics.Transitions)
	const users = 20
	var msgs []kafka.Message
	for i := range users {
		u := fmt.Sprintf("u-%02d", i)
		msgs = append(msgs, kafka.Message{Topic: inputs[0], Key: []byte(u),
			Value: fmt.Appendf(nil, `{"event_id":"e-%d","user_id":%q,"type":"login","ts":"2026-01-01T00:%02d:00Z"}`, i, u, i)})
	}
	kafkatest.Produce(t, brokers, msgs...)

	st := runUntil(t, cfg, openStore(t, vfs.NewMem()), func(st Stats) bool { return seen(st) >= users })
	if st.Applied != users || st.DeadOutputs != users {
		t.Errorf("stats: %d applied, %d outputs set aside; want %d and %d (one new-user transition each)", st.Applied, st.DeadOutputs, users, users)
	}
	if n := len(kafkatest.ReadAll(t, brokers, cfg.Topics.Transitions)); n != 0 {
		t.Errorf("%d transitions written to a topic that takes none", n)
	}
	notices := map[string]bool{}
	for _, m := range kafkatest.ReadAll(t, brokers, cfg.Topics.DLQ) {
		if header(m, schemas.HeaderDLQCode) != schemas.DLQCodeOutputRefused || header(m, schemas.HeaderDLQTopic) != cfg.Topics.Transitions {
			t.Errorf("dead letter %q: code %q, topic %q; want a notice of a refused transition", m.Key, header(m, schemas.HeaderDLQCode), header(m, schemas.HeaderDLQTopic))
		}
		notices[string(m.Key)] = true
	}
	for _, m := range msgs {
		if !notices[string(m.Key)] {
			t.Errorf("user %s: no notice of its refused transition", m.Key)
		}
	}
}
