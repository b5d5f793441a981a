package processor

// Inputs written in transactions, as an upstream application with
// exactly-once semantics (Kafka Streams, Flink) writes them. It runs on
// kfake and, in CI, on real Kafka.

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/lifecycle-engine/lifecycle/processor/kafkatest"
	"github.com/lifecycle-engine/lifecycle/processor/rules"
	"github.com/lifecycle-engine/lifecycle/processor/simulate"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

// TestTransactionalInputs produces a simulated stream in transactions,
// each followed by an aborted one that carries a phantom purchase of
// 5,000 for every user of the chunk, and checks that
//   - the run applies exactly the committed records: its outputs and
//     final state are those of the same stream produced plainly;
//   - it reaches the end of every partition, though the last entry of
//     each is a transaction's marker, and its committed offsets are past
//     them (the group's lag is 0);
//   - a transaction still open does not hold the partition's other
//     topics: records produced after it to another topic are applied
//     while it is open, and once it is aborted its record never is;
//   - a replay of the topics reads the same, through an open
//     transaction too.
//
// Before reading committed records, the phantoms were applied, and the
// first marker at a partition's end held its other topics for ever
// ("fetching stalled", every 15 s).
func TestTransactionalInputs(t *testing.T) {
	f, msgs := newHeldFixture(t, simulate.Config{Users: 120, Days: 60, Seed: 41}, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	clean := make([]string, len(f.inputs))
	renamed := map[string]string{}
	for i, in := range f.inputs {
		clean[i] = in + ".clean"
		renamed[in] = clean[i]
	}
	kafkatest.CreateTopics(t, f.brokers, f.partitions, clean...)
	produceClean := func(ms []kafka.Message) {
		t.Helper()
		var copies []kafka.Message
		for _, m := range ms {
			copies = append(copies, kafka.Message{Topic: renamed[m.Topic], Key: m.Key, Value: m.Value})
		}
		kafkatest.Produce(t, f.brokers, copies...)
	}
	produceClean(msgs)

	tx := transactionalClient(t, f.brokers, "lifecycle-test-tx")
	const chunk = 40
	for i := 0; i < len(msgs); i += chunk {
		part := msgs[i:min(i+chunk, len(msgs))]
		inTransaction(ctx, t, tx, true, part...)
		inTransaction(ctx, t, tx, false, phantoms(t, f.inputs[1], part)...)
	}

	cfg := f.config(t)
	store := openStore(t, vfs.NewMem())
	total := int64(len(msgs))
	st := runUntil(t, cfg, store, func(st Stats) bool { return seen(st) >= total && caughtUp(t, cfg) })
	var taken int64
	for _, n := range st.InputRecords {
		taken += n
	}
	if got := seen(st); got != total || taken != total || st.KafkaErrors != 0 || st.Lost != 0 {
		t.Errorf("%d records applied, rejected or dropped as duplicates, %d taken, %d Kafka errors, %d lost; want %d, %[5]d, 0, 0", got, taken, st.KafkaErrors, st.Lost, total)
	}

	// A transaction left open on the purchase topic, then later records
	// to the login topic of the same partitions, plainly.
	open := transactionalClient(t, f.brokers, "lifecycle-test-open")
	beginWith(ctx, t, open, phantoms(t, f.inputs[1], msgs[len(msgs)-chunk:])...)
	later := laterLogins(t, f.inputs[0], msgs)
	kafkatest.Produce(t, f.brokers, later...)
	produceClean(later)
	st = runUntil(t, cfg, store, func(st Stats) bool { return st.Applied >= int64(len(later)) })
	if st.Applied != int64(len(later)) || st.KafkaErrors != 0 {
		t.Errorf("with a transaction open: %d events applied, %d Kafka errors; want %d, 0", st.Applied, st.KafkaErrors, len(later))
	}

	// A replay reads up to the open transaction.
	wantByID, wantPerUser, wantDLQ, final := reference(t, Config{Topics: Topics{Inputs: clean}}, f.brokers)
	checkReplay(t, cfg, f.partitions, wantByID, wantDLQ)

	if err := open.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatal(err)
	}
	st = runUntil(t, cfg, store, func(Stats) bool { return caughtUp(t, cfg) })
	if seen(st) != 0 || st.KafkaErrors != 0 {
		t.Errorf("after the abort: %d records seen, %d Kafka errors; want 0, 0", seen(st), st.KafkaErrors)
	}
	checkOutputs(t, cfg, wantByID, wantPerUser)
	checkState(t, final, store)
	checkReplay(t, cfg, f.partitions, wantByID, wantDLQ)
}

// transactionalClient is a producer that writes in transactions,
// partitioning as the processor does (Murmur2, as the Java client).
func transactionalClient(t *testing.T, brokers []string, id string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.TransactionalID(kafkatest.Name(t, id)),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)), kgo.TransactionTimeout(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// inTransaction produces msgs in one transaction and commits or aborts it.
func inTransaction(ctx context.Context, t *testing.T, cl *kgo.Client, commit bool, msgs ...kafka.Message) {
	t.Helper()
	beginWith(ctx, t, cl, msgs...)
	if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
		t.Fatal(err)
	}
}

// beginWith begins a transaction and produces msgs in it, acknowledged:
// they are in the log, and the transaction is open.
func beginWith(ctx context.Context, t *testing.T, cl *kgo.Client, msgs ...kafka.Message) {
	t.Helper()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	rs := make([]*kgo.Record, len(msgs))
	for i, m := range msgs {
		rs[i] = &kgo.Record{Topic: m.Topic, Key: m.Key, Value: m.Value}
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// phantoms is, for every decodable event of msgs, a purchase of 5,000 by
// its user at its time on the purchase topic, with an event id of its own.
func phantoms(t *testing.T, topic string, msgs []kafka.Message) []kafka.Message {
	t.Helper()
	var out []kafka.Message
	for i, m := range msgs {
		var ev struct {
			User string `json:"user_id"`
			TS   any    `json:"ts"`
		}
		if json.Unmarshal(m.Value, &ev) != nil || ev.User == "" || ev.TS == nil {
			continue
		}
		ts, _ := json.Marshal(ev.TS)
		v := fmt.Sprintf(`{"event_id":"phantom-%d-%s","user_id":%q,"type":"purchase","ts":%s,"amount":"5000.00","currency":"USD"}`, i, m.Key, ev.User, ts)
		out = append(out, kafka.Message{Topic: topic, Key: m.Key, Value: []byte(v)})
	}
	if len(out) == 0 {
		t.Fatal("no phantom could be made")
	}
	return out
}

// laterLogins is a login on topic, a day after the last event of msgs,
// for each of the first 30 users of msgs.
func laterLogins(t *testing.T, topic string, msgs []kafka.Message) []kafka.Message {
	t.Helper()
	var last time.Time
	users := map[string]bool{}
	var out []kafka.Message
	for _, m := range msgs {
		var ev struct {
			User string    `json:"user_id"`
			TS   time.Time `json:"ts"`
		}
		if json.Unmarshal(m.Value, &ev) != nil || ev.User == "" {
			continue
		}
		if ev.TS.After(last) {
			last = ev.TS
		}
		if len(users) < 30 && !users[ev.User] {
			users[ev.User] = true
			out = append(out, kafka.Message{Topic: topic, Key: m.Key})
		}
	}
	at := last.Add(24 * time.Hour).UTC().Format(time.RFC3339)
	for i := range out {
		out[i].Value = fmt.Appendf(nil, `{"event_id":"later-%d","user_id":%q,"type":"login","ts":%q}`, i, out[i].Key, at)
	}
	return out
}

// checkReplay replays cfg's input topics as `lifecycle replay` does and
// compares its outputs with the reference's.
func checkReplay(t *testing.T, cfg Config, partitions int32, wantByID map[string][]byte, wantDLQ int) {
	t.Helper()
	got, dlq := map[string][]byte{}, 0
	err := replayInputs(t, cfg, partitions, func(o record.Output) {
		if o.Topic == cfg.Topics.DLQ {
			dlq++
			return
		}
		got[string(o.Headers[0].Value)] = o.Value
	})
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	differ := 0
	for id, v := range wantByID {
		if string(got[id]) != string(v) {
			differ++
		}
	}
	if differ > 0 || len(got) != len(wantByID) || dlq != wantDLQ {
		t.Errorf("replay: %d outputs and %d dead letters, %d of the reference's %d outputs differ or are missing; want %d dead letters", len(got), dlq, differ, len(wantByID), wantDLQ)
	}
}

// TestIdleAdvanceWaitsForAnOpenTransaction: with --idle-advance, a
// partition whose input has a transaction open does not let stream time
// follow the clock past the transaction's events. Six users' churns come
// due 6 s from now; their logins from 2 s before that are in a transaction
// that commits 3 s after. Without the wait every user churned, and the
// logins, late, came back as returns.
func TestIdleAdvanceWaitsForAnOpenTransaction(t *testing.T) {
	// A silence of 3 s: the ends are asked for every 333 ms (a third of
	// the allowed lateness, 1 s), and a quiet moment before the
	// transaction holds stream time; the hold must end when records come
	// again (the log, lifecycle_stream_time_held), though the wait keeps
	// stream time where it is. A silence of 0 never holds stream time,
	// and the ends are asked for all the same: before, the wait needed
	// the silence watch.
	for _, silence := range []time.Duration{3 * time.Second, 0} {
		t.Run(fmt.Sprint("silence ", silence), func(t *testing.T) { waitsForAnOpenTransaction(t, silence) })
	}
}

func waitsForAnOpenTransaction(t *testing.T, silence time.Duration) {
	brokers, inputs, cfg := idleConfig(t, silence)
	start := time.Now()
	login := func(u string, at time.Time, id string) kafka.Message {
		return kafka.Message{Topic: inputs[0], Key: []byte(u),
			Value: fmt.Appendf(nil, `{"event_id":%q,"user_id":%q,"type":"login","ts":%q}`, id, u, at.UTC().Format(time.RFC3339Nano))}
	}
	p, errc, cancel := startRun(t, cfg)
	kafkatest.Produce(t, brokers, login("early", start, "early"))
	waitFor(t, "the first record applied", func() bool { return p.Stats().Applied == 1 })
	var quiet time.Duration
	if silence > 0 {
		quiet = silence + 2*time.Second
	}
	due := time.Now().Add(6*time.Second + quiet).Truncate(time.Millisecond)
	var first, delayed []kafka.Message
	for i := range 6 {
		u := fmt.Sprint("u-", i)
		first = append(first, login(u, due.Add(-rules.DefaultChurnAfter), "first-"+u))
		delayed = append(delayed, login(u, due.Add(-2*time.Second), "delayed-"+u))
	}
	kafkatest.Produce(t, brokers, first...)
	waitFor(t, "the users' logins applied", func() bool { return p.Stats().Applied == 7 })
	if silence > 0 {
		waitFor(t, "stream time held in a quiet moment", func() bool { return p.Stats().StreamTimeHeld })
	}

	ctx, stop := context.WithTimeout(context.Background(), time.Minute)
	defer stop()
	tx := transactionalClient(t, brokers, "lifecycle-test-idle")
	beginWith(ctx, t, tx, delayed...)
	// Past the churns' due time, with records coming all along (an old
	// event, late, keeps the inputs live without moving stream time).
	ticks := 0
	for ; time.Now().Before(due.Add(3 * time.Second)); ticks++ {
		kafkatest.Produce(t, brokers, login("ticker", start, fmt.Sprint("tick-", ticks)))
		time.Sleep(300 * time.Millisecond)
	}
	if st := p.Stats(); st.StreamTimeHeld || !st.StreamTime.Before(due) {
		t.Errorf("with the transaction open: stream time %v (held for silence %v); want it before the churns' %v", st.StreamTime, st.StreamTimeHeld, due)
	}
	if err := tx.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the delayed logins applied, and stream time following the clock", func() bool {
		st := p.Stats()
		return st.Applied == int64(1+6+ticks+6) && st.StreamTime.After(due)
	})
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, m := range kafkatest.ReadAll(t, brokers, cfg.Topics.Transitions) {
		if strings.Contains(string(m.Value), `"to":"churned"`) {
			t.Errorf("a churn while its user's login was in an open transaction: %s", m.Value)
		}
	}
}

// TestUnread: what the ends asked for say a partition has not read, for
// idle advance: committed records past its position, or a transaction
// still open (a high watermark past the last stable offset).
func TestUnread(t *testing.T) {
	topics := []string{"a", "b"}
	listed := func(offsets map[string]map[int32]int64) kadm.ListedOffsets {
		l := kadm.ListedOffsets{}
		for topic, ps := range offsets {
			l[topic] = map[int32]kadm.ListedOffset{}
			for p, o := range ps {
				l[topic][p] = kadm.ListedOffset{Topic: topic, Partition: p, Offset: o}
			}
		}
		return l
	}
	ends := listed(map[string]map[int32]int64{"a": {0: 10, 1: 10}, "b": {0: 5, 1: 7}})
	stable := listed(map[string]map[int32]int64{"a": {0: 10, 1: 10}, "b": {0: 5, 1: 6}})
	c := newInputClock(time.Now(), zap.NewNop())
	if c.unread(0, []int64{0, 0}) {
		t.Error("unread before any ends were learned")
	}
	c.ends.Store(partitionInputEnds(topics, ends, stable))
	for _, tc := range []struct {
		p    int32
		next []int64
		want bool
	}{
		{0, []int64{10, 5}, false}, // read to the ends
		{0, []int64{9, 5}, true},   // a committed record not read yet
		{1, []int64{10, 6}, true},  // b/1: a transaction open past 6
		{2, []int64{0, 0}, false},  // a partition the ends did not list
	} {
		if got := c.unread(tc.p, tc.next); got != tc.want {
			t.Errorf("unread(%d, %v) = %v, want %v", tc.p, tc.next, got, tc.want)
		}
	}
}
