package processor

// The poison suite: single hostile records, produced in the middle of a
// normal stream, must each land in the dead-letter topic with their code,
// and leave every other user's outputs exactly as a run without them
// (ARCHITECTURE.md, invariant 6). It runs on kfake and, in CI, on real Kafka.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/lifecycle-engine/lifecycle/processor/kafkatest"
	"github.com/lifecycle-engine/lifecycle/processor/offline"
	"github.com/lifecycle-engine/lifecycle/processor/produce"
	"github.com/lifecycle-engine/lifecycle/processor/simulate"
	"github.com/lifecycle-engine/lifecycle/schemas"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

// poison is one hostile input record and the dead-letter code it must get.
type poison struct {
	name  string
	topic int // index of the input topic
	key   string
	value []byte
	code  schemas.Reason
}

func poisonRecords() []poison {
	login := func(user, ts string) []byte {
		return fmt.Appendf(nil, `{"event_id":"e-%s","user_id":%q,"type":"login","ts":%s}`, user, user, ts)
	}
	big := func(n int) []byte { // valid JSON of n bytes, but over --max-record-bytes
		head := `{"event_id":"e-big","user_id":"poison-big","type":"content","ts":"2026-01-02T00:00:00Z","kind":"`
		return []byte(head + strings.Repeat("x", n-len(head)-2) + `"}`)
	}
	wide := &bytes.Buffer{}
	wide.WriteString(`{"event_id":"e-w","user_id":"poison-wide","type":"refund","ts":"2026-01-02T00:00:00Z"`)
	for i := range 4000 {
		fmt.Fprintf(wide, `,"k%d":%d`, i, i)
	}
	wide.WriteString("}")
	head := `{"event_id":"e","user_id":"poison-deep","type":"login","a":`
	return []poison{
		{"unclosed nesting 25k deep", 0, "poison-deep", []byte(head + strings.Repeat("[", 25_000)), schemas.ReasonMalformedJSON},
		{"balanced nesting 30k deep", 0, "poison-deep", []byte(head + strings.Repeat("[", 30_000) + strings.Repeat("]", 30_000) + "}"), schemas.ReasonMalformedJSON},
		{"unclosed objects 10k deep", 2, "poison-deep", []byte(head + strings.Repeat(`{"a":`, 10_000)), schemas.ReasonMalformedJSON},
		{"1,048,390 bytes", 2, "poison-big", big(1_048_390), schemas.ReasonTooLarge},
		{"10 MB", 2, "poison-big", big(10 << 20), schemas.ReasonTooLarge},
		{"ts in 9999", 0, "poison-future", login("poison-future", `"9999-12-31T23:59:59Z"`), schemas.ReasonFutureTimestamp},
		{"ts in 9999, epoch ms", 0, "poison-future-ms", login("poison-future-ms", "253402300799000"), schemas.ReasonFutureTimestamp},
		{"ts a year ahead", 0, "poison-future-y", login("poison-future-y", strconv.Quote(time.Now().AddDate(1, 0, 0).UTC().Format(time.RFC3339))), schemas.ReasonFutureTimestamp},
		{"ts before 1970", 0, "poison-past", login("poison-past", `"1969-12-31T23:59:59Z"`), schemas.ReasonBadTimestamp},
		{"ts year 0001", 0, "poison-past", login("poison-past", `"0001-01-01T00:00:00Z"`), schemas.ReasonBadTimestamp},
		{"amount 1e400", 1, "poison-amount", []byte(`{"event_id":"e-a","user_id":"poison-amount","type":"purchase","ts":"2026-01-02T00:00:00Z","amount":1e400,"currency":"USD"}`), schemas.ReasonBadAmount},
		{"amount of 30 digits", 1, "poison-amount", []byte(`{"event_id":"e-a","user_id":"poison-amount","type":"purchase","ts":"2026-01-02T00:00:00Z","amount":"` + strings.Repeat("9", 30) + `","currency":"USD"}`), schemas.ReasonBadAmount},
		{"4,000 keys", 2, "poison-wide", wide.Bytes(), schemas.ReasonUnknownType},
		{"60 kB user id", 0, strings.Repeat("u", 60_000), []byte(`{"event_id":"e-l","user_id":"` + strings.Repeat("u", 60_000) + `","type":"sleep","ts":"2026-01-02T00:00:00Z"}`), schemas.ReasonUnknownType},
		{"invalid UTF-8", 0, "poison-utf8", []byte("{\"event_id\":\"e\",\"user_id\":\"poison-utf8\",\"type\":\"login\",\"ts\":\"2026-01-02T00:00:00Z\",\"x\":\"\xff\xfe\"}"), schemas.ReasonMalformedJSON},
		{"NUL and bidi overrides in the user id", 0, "poison-\u202e", []byte(`{"event_id":"e","user_id":"poison-\u0000\u202e","type":"login","ts":"2026-01-02T00:00:00Z"}`), schemas.ReasonKeyMismatch},
		{"key that does not match", 0, "someone-else", login("poison-key", `"2026-01-02T00:00:00Z"`), schemas.ReasonKeyMismatch},
		{"ts twice, the second in 9999", 0, "poison-twice", []byte(`{"event_id":"e-t","user_id":"poison-twice","type":"login","ts":"2026-01-02T00:00:00Z","ts":"9999-12-31T23:59:59Z"}`), schemas.ReasonDuplicate},
		{"tombstone", 0, "poison-null", nil, schemas.ReasonMalformedJSON},
	}
}

// TestPoisonRecords produces the poison records between the two halves of
// a simulated stream and checks that each is dead-lettered with its code,
// source and (possibly cut) bytes, that the partition caught up, and that
// every other user's outputs are exactly those of the stream without them.
func TestPoisonRecords(t *testing.T) {
	f, normal := newHeldFixture(t, simulate.Config{Users: 150, Days: 90, Seed: 23}, 2)
	poisons := poisonRecords()
	adm := kafkatest.Admin(t, f.brokers)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The inputs take the 10 MB record; the dead-letter topic keeps
	// Kafka's default limit (1 MiB), so the large copies must be cut.
	setTopicConfig(ctx, t, adm, "max.message.bytes", strconv.Itoa(16<<20), f.inputs...)

	half := len(normal) / 2
	produceLarge(t, f.brokers, normal[:half]...)
	var bad []kafka.Message
	for _, p := range poisons {
		bad = append(bad, kafka.Message{Topic: f.inputs[p.topic], Key: []byte(p.key), Value: p.value})
	}
	produceLarge(t, f.brokers, bad...)
	// Decompression bombs: batches of three records that decompress to
	// more than the processor's bound (set low here: 4 MiB, against 3 × 3
	// MiB of repeated bytes, a few kB compressed). With gzip, franz-go stops
	// the partition at the batch for good (ErrDecompressTooLarge); with zstd
	// the frame's window exceeds the bound and it fetches the batch again
	// and again.
	var bombs []kafka.Message
	for i, codec := range []kafka.Compression{kafka.Gzip, kafka.Zstd} {
		var batch []kafka.Message
		for j := range 3 {
			batch = append(batch, kafka.Message{Topic: f.inputs[2*i], Key: []byte(fmt.Sprint("poison-bomb-", i)),
				Value: append(bytes.Repeat([]byte{byte('x' + i)}, 3<<20), byte('0'+j))})
		}
		zw := &kafka.Writer{Addr: kafka.TCP(f.brokers...), Balancer: &kafka.Murmur2Balancer{}, RequiredAcks: kafka.RequireAll,
			BatchTimeout: time.Millisecond, BatchBytes: 64 << 20, Compression: codec}
		if err := zw.WriteMessages(ctx, batch...); err != nil {
			t.Fatalf("producing the %v decompression bomb: %v", codec, err)
		}
		zw.Close()
		bombs = append(bombs, batch...)
	}
	produceLarge(t, f.brokers, normal[half:]...)

	// The same stream without the poison, for the reference.
	clean := make([]string, len(f.inputs))
	for i, in := range f.inputs {
		clean[i] = in + ".clean"
	}
	kafkatest.CreateTopics(t, f.brokers, f.partitions, clean...)
	var cleanMsgs []kafka.Message
	for _, m := range normal {
		m.Topic = clean[slices.Index(f.inputs, m.Topic)]
		cleanMsgs = append(cleanMsgs, m)
	}
	kafkatest.Produce(t, f.brokers, cleanMsgs...)
	wantByID, wantPerUser, _, _ := reference(t, Config{Topics: Topics{Inputs: clean}}, f.brokers)

	cfg := f.config(t)
	cfg.maxBatch = 4 << 20
	total := int64(len(normal) + len(poisons) + len(bombs))
	st := runUntil(t, cfg, openStore(t, vfs.NewMem()), func(st Stats) bool { return seen(st)+st.Skipped >= total })
	if st.Rejected != int64(len(poisons)+len(bombs)) || st.StreamJumps != 0 || st.DeadOutputs != 0 {
		t.Errorf("stats: %d rejected, %d stream-time jumps, %d dead outputs; want %d, 0, 0", st.Rejected, st.StreamJumps, st.DeadOutputs, len(poisons)+len(bombs))
	}

	// Every poison record: dead-lettered once, with its code and source.
	dlq := kafkatest.ReadAll(t, f.brokers, cfg.Topics.DLQ)
	bySource := map[string]kafka.Message{}
	for _, m := range dlq {
		bySource[header(m, schemas.HeaderDLQTopic)+"/"+header(m, schemas.HeaderDLQPartition)+"/"+header(m, schemas.HeaderDLQOffset)] = m
		if r := header(m, schemas.HeaderDLQReason); len(r) > schemas.MaxReasonBytes {
			t.Errorf("a dead letter's reason has %d bytes, more than %d", len(r), schemas.MaxReasonBytes)
		}
	}
	if len(dlq) != len(poisons)+len(bombs) {
		t.Errorf("%d dead letters, want %d", len(dlq), len(poisons)+len(bombs))
	}
	inputs := map[string]kafka.Message{}
	for _, topic := range f.inputs {
		for _, m := range kafkatest.ReadAll(t, f.brokers, topic) {
			inputs[string(m.Value)] = m
		}
	}
	for i, bomb := range bombs {
		src, ok := inputs[string(bomb.Value)]
		if !ok {
			t.Fatalf("decompression bomb %d: not found in the input topic", i)
		}
		m, ok := bySource[fmt.Sprintf("%s/%d/%d", src.Topic, src.Partition, src.Offset)]
		if !ok {
			t.Errorf("decompression bomb %d: no dead letter", i)
			continue
		}
		if code, reason := header(m, schemas.HeaderDLQCode), header(m, schemas.HeaderDLQReason); code != string(schemas.ReasonTooLarge) || !strings.Contains(reason, "decompress") {
			t.Errorf("decompression bomb %d: dead-lettered with code %q (%s), want %q and why", i, code, reason, schemas.ReasonTooLarge)
		}
	}
	for _, p := range poisons {
		src, ok := inputs[string(p.value)]
		if !ok {
			t.Fatalf("%s: not found in the input topic", p.name)
		}
		m, ok := bySource[fmt.Sprintf("%s/%d/%d", src.Topic, src.Partition, src.Offset)]
		if !ok {
			t.Errorf("%s: no dead letter", p.name)
			continue
		}
		if got := header(m, schemas.HeaderDLQCode); got != string(p.code) {
			t.Errorf("%s: code %q, want %q (%s)", p.name, got, p.code, header(m, schemas.HeaderDLQReason))
		}
		if size := header(m, schemas.HeaderDLQOriginalSize); size == "" {
			if !bytes.Equal(m.Value, p.value) {
				t.Errorf("%s: the dead letter does not carry the original bytes", p.name)
			}
		} else {
			sum := sha256.Sum256(p.value)
			if size != strconv.Itoa(len(p.value)) || header(m, schemas.HeaderDLQSHA256) != hex.EncodeToString(sum[:]) || !bytes.HasPrefix(p.value, m.Value) {
				t.Errorf("%s: a cut copy without its original size, hash or prefix (size %q)", p.name, size)
			}
		}
	}

	// Everyone else: exactly the outputs of the clean stream.
	checkOutputs(t, cfg, wantByID, wantPerUser)

	checkReplayDeadLetters(t, cfg, f.partitions, dlq)
}

// checkReplayDeadLetters replays the input topics as `lifecycle replay`
// does and checks that it dead-letters exactly the records the live run
// did, with the same codes and reasons: the decompression bombs too,
// which a reader that decompresses a batch whole, whatever its size,
// would read as records (or run out of memory on).
func checkReplayDeadLetters(t *testing.T, cfg Config, partitions int32, live []kafka.Message) {
	t.Helper()
	want := map[string]string{}
	for _, m := range live {
		src := header(m, schemas.HeaderDLQTopic) + "/" + header(m, schemas.HeaderDLQPartition) + "/" + header(m, schemas.HeaderDLQOffset)
		want[src] = header(m, schemas.HeaderDLQCode) + ": " + header(m, schemas.HeaderDLQReason)
	}
	r, err := offline.New(offline.Config{Engine: cfg.Engine(), Partitions: partitions, Decoder: cfg.Decoder, MaxFutureSkew: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	src, err := OpenReplay(ctx, cfg, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	got := map[string]string{}
	err = r.RunFrom(ctx, src.Read, 0, func(_ int32, o record.Output) error {
		if o.Topic != cfg.Topics.DLQ {
			return nil
		}
		h := map[string]string{}
		for _, x := range o.Headers {
			h[x.Key] = string(x.Value)
		}
		got[h[schemas.HeaderDLQTopic]+"/"+h[schemas.HeaderDLQPartition]+"/"+h[schemas.HeaderDLQOffset]] = h[schemas.HeaderDLQCode] + ": " + h[schemas.HeaderDLQReason]
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for src, w := range want {
		if g, ok := got[src]; !ok {
			t.Errorf("replay: no dead letter for %s (the live run: %s)", src, w)
		} else if g != w {
			t.Errorf("replay: the dead letter for %s is %q; the live run's is %q", src, g, w)
		}
	}
	for src, g := range got {
		if _, ok := want[src]; !ok {
			t.Errorf("replay: a dead letter for %s (%s) that the live run did not write", src, g)
		}
	}
}

// setTopicConfig sets one configuration key of topics.
func setTopicConfig(ctx context.Context, t *testing.T, adm *kadm.Client, key, value string, topics ...string) {
	t.Helper()
	resp, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: key, Value: &value}}, topics...)
	if err == nil {
		for _, r := range resp {
			if r.Err != nil {
				err = r.Err
			}
		}
	}
	if err != nil {
		t.Fatalf("setting %s=%s on %v: %v", key, value, topics, err)
	}
}

// produceLarge is kafkatest.Produce for records of up to 16 MiB, one
// write at a time so that each record keeps its place in the stream.
func produceLarge(t *testing.T, brokers []string, msgs ...kafka.Message) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Balancer: &kafka.Murmur2Balancer{}, RequiredAcks: kafka.RequireAll,
		BatchTimeout: time.Millisecond, BatchSize: 10_000, BatchBytes: 16 << 20}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for len(msgs) > 0 {
		err := w.WriteMessages(ctx, msgs...)
		if err == nil {
			return
		}
		// Right after a topic is created, a real broker may not take
		// writes yet (as in kafkatest.Produce): send the failed again.
		if !produce.Refused(err) || ctx.Err() != nil {
			t.Fatalf("produce: %v", err)
		}
		msgs = produce.FailedOnly(msgs, err)
		time.Sleep(100 * time.Millisecond)
	}
}
