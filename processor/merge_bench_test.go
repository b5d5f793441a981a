package processor

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/lifecycle-engine/lifecycle/schemas"
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
		if it.Err != nil {
			b.Fatal(it.Err)
		}
	}
}
