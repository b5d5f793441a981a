package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
)

// baseline reads every input topic-partition to its end with plain kafka-go
// Readers set up as the processor's own were until issue 18 (it fetches
// with one franz-go client now, processor/inputs.go), and discards: the
// throughput of the client library and the broker alone, to which the
// drain's is compared. It checks that it read want records.
func (r *Runner) baseline(ctx context.Context, topics []string, want int64) (*Throughput, error) {
	ends, err := r.adm.ListEndOffsets(ctx, topics...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, err
	}
	var count, size atomic.Int64
	var firstNano atomic.Int64
	cpu0 := cpuSeconds()
	err = r.readToEnd(ctx, ends, func(m kafka.Message) {
		firstNano.CompareAndSwap(0, time.Now().UnixNano())
		count.Add(1)
		size.Add(int64(len(m.Key) + len(m.Value)))
	})
	end := time.Now()
	cpu := cpuSeconds() - cpu0
	if err != nil {
		return nil, fmt.Errorf("baseline consumer: %w", err)
	}
	n := count.Load()
	if n != want {
		return nil, fmt.Errorf("baseline consumer read %d records, want %d", n, want)
	}
	secs := end.Sub(time.Unix(0, firstNano.Load())).Seconds()
	bl := &Throughput{Events: n, Bytes: size.Load(), Seconds: secs, EventsPerSec: float64(n) / secs,
		MBPerSec: float64(size.Load()) / 1e6 / secs, CPUSecPerM: cpu / float64(n) * 1e6}
	r.progress("baseline: %d records in %.2fs: %.0f records/s, %.1f MB/s, %.2f CPU s per million", bl.Events, bl.Seconds, bl.EventsPerSec, bl.MBPerSec, bl.CPUSecPerM)
	return bl, nil
}

// readToEnd reads every partition of ends from its first offset to its end
// offset, one kafka-go Reader each, concurrently, set up as the baseline's
// (above), and calls fn (from several
// goroutines) with every record. It returns the first error.
func (r *Runner) readToEnd(ctx context.Context, ends kadm.ListedOffsets, fn func(kafka.Message)) error {
	dialer := r.conn.Dialer()
	var wg sync.WaitGroup
	var firstErr atomic.Pointer[error]
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ends.Each(func(lo kadm.ListedOffset) {
		if lo.Offset <= 0 {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			fail := func(err error) {
				if firstErr.CompareAndSwap(nil, &err) {
					cancel()
				}
			}
			rd := kafka.NewReader(kafka.ReaderConfig{
				Brokers: r.conn.Brokers, Dialer: dialer, Topic: lo.Topic, Partition: int(lo.Partition),
				MinBytes: 1, MaxBytes: 8 << 20, MaxWait: 250 * time.Millisecond, QueueCapacity: 4096,
				ReadBackoffMin: 50 * time.Millisecond, ReadBackoffMax: 2 * time.Second,
			})
			defer rd.Close()
			if err := rd.SetOffset(kafka.FirstOffset); err != nil {
				fail(err)
				return
			}
			for {
				m, err := rd.FetchMessage(cctx)
				if err != nil {
					fail(err)
					return
				}
				fn(m)
				if m.Offset+1 >= lo.Offset {
					return
				}
			}
		}()
	})
	wg.Wait()
	if e := firstErr.Load(); e != nil {
		return *e
	}
	return nil
}
