package processor

import (
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/lifecycle-engine/lifecycle/processor/rules"
	"github.com/lifecycle-engine/lifecycle/schemas"
	"github.com/lifecycle-engine/lifecycle/state"
)

// benchInputs fills one channel per input topic with records whose event
// times interleave round-robin across the topics, as a backlog does.
type benchInputs struct {
	chans []chan kafka.Message
	next  int64 // next offset, per topic (the same for all)
}

func newBenchInputs() *benchInputs {
	in := &benchInputs{}
	for range 3 {
		in.chans = append(in.chans, make(chan kafka.Message, 4096))
	}
	return in
}

func (in *benchInputs) fill() {
	types := [3]string{`"type":"login"`, `"type":"purchase","amount":"19.99","currency":"USD"`, `"type":"content","kind":"post"`}
	for len(in.chans[0]) < cap(in.chans[0]) {
		off := in.next
		in.next++
		for i, c := range in.chans {
			ts := 1_767_225_600_000 + off*3 + int64(i)
			v := fmt.Appendf(nil, `{"event_id":"e-%d-%d","user_id":"u-%d",%s,"ts":%d}`, i, off, off%1000, types[i], ts)
			c <- kafka.Message{Offset: off, Key: []byte("u-" + strconv.FormatInt(off%1000, 10)), Value: v}
		}
	}
}

// BenchmarkMergePop is the merge's cost per record on a backlog of three
// input topics: take a record from its fetcher's channel, decode it, and
// pick the smallest head (poll + pop). Decoding dominates; compare with
// schemas' BenchmarkDecode.
func BenchmarkMergePop(b *testing.B) {
	in := newBenchInputs()
	in.fill()
	chans := make([]<-chan kafka.Message, len(in.chans))
	for i, c := range in.chans {
		chans[i] = c
	}
	big := int64(1 << 62)
	m := newMerger([]string{"events.login", "events.purchase", "events.content"}, chans,
		[]int64{0, 0, 0}, []int64{big, big, big}, schemas.NewDecoder(schemas.DecoderConfig{}))
	b.ReportAllocs()
	for b.Loop() {
		m.poll()
		it := m.pop()
		if it == nil {
			b.StopTimer()
			in.fill()
			b.StartTimer()
			continue
		}
		if it.err != nil {
			b.Fatal(it.err)
		}
	}
}

// BenchmarkPartitionApply applies one login to a cached user (the common
// case of a drain: no Pebble read, usually no transition), including the
// rules step and the bookkeeping around it, but not the commit.
func BenchmarkPartitionApply(b *testing.B) {
	store, err := state.Open(state.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	cfg := Config{Conn: Conn{Brokers: []string{"x:1"}}, Group: "g"}.withDefaults()
	p, err := newPartition(0, &cfg, store, &partitionStats{}, 8)
	if err != nil {
		b.Fatal(err)
	}
	p.model = &atomic.Pointer[Model]{}
	const users = 10_000
	its := make([]*item, 4096)
	for i := range its {
		u := "u-" + strconv.Itoa(i*7%users)
		its[i] = &item{topic: 0, msg: kafka.Message{Key: []byte(u)},
			ev: schemas.Event{ID: "e-" + strconv.Itoa(i), UserID: u, Type: schemas.Login}}
	}
	ts := int64(1_767_225_600_000)
	// Warm the cache: every user exists.
	for i := range users {
		u := "u-" + strconv.Itoa(i)
		if err := p.apply(&item{msg: kafka.Message{Offset: int64(i)}, ev: schemas.Event{ID: "w-" + u, UserID: u, Type: schemas.Login, Time: ts}}); err != nil {
			b.Fatal(err)
		}
	}
	p.pending, p.dirty = p.pending[:0], p.dirty[:0]
	for _, e := range p.hot {
		e.dirty = false
	}
	off := int64(users)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		it := its[i%len(its)]
		ts += 1000
		off++
		it.msg.Offset, it.ev.Time, it.ev.ID = off, ts, "e-"+strconv.FormatInt(off, 10)
		if err := p.apply(it); err != nil {
			b.Fatal(err)
		}
		if len(p.pending) > 4096 {
			p.pending = p.pending[:0]
		}
	}
}

// BenchmarkTransitionOutput builds one lifecycle.transitions record
// (deterministic id and JSON), which each transition costs on the hot path.
func BenchmarkTransitionOutput(b *testing.B) {
	tr := rules.Transition{From: rules.New, To: rules.Growing, At: 1_767_225_600_000, Reason: "first purchase",
		Trigger: "e-u-000042-17", Purchases: 1, LastPurchase: 1_767_225_600_000}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := transitionOutput("lifecycle.transitions", "u-000042", tr, nil); err != nil {
			b.Fatal(err)
		}
	}
}
