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
// Readers set up as processor/fetch.go sets up its own, and discards: the
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
	dialer := r.conn.Dialer()
	var count, size atomic.Int64
	var firstNano atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, len(topics)*int(r.partitions))
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cpu0 := cpuSeconds()
	ends.Each(func(lo kadm.ListedOffset) {
		if lo.Offset <= 0 {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			rd := kafka.NewReader(kafka.ReaderConfig{
				Brokers: r.conn.Brokers, Dialer: dialer, Topic: lo.Topic, Partition: int(lo.Partition),
				MinBytes: 1, MaxBytes: 8 << 20, MaxWait: 250 * time.Millisecond, QueueCapacity: 4096,
				ReadBackoffMin: 50 * time.Millisecond, ReadBackoffMax: 2 * time.Second,
			})
			defer rd.Close()
			if err := rd.SetOffset(kafka.FirstOffset); err != nil {
				errs <- err
				return
			}
			for {
				m, err := rd.FetchMessage(cctx)
				if err != nil {
					errs <- err
					return
				}
				firstNano.CompareAndSwap(0, time.Now().UnixNano())
				count.Add(1)
				size.Add(int64(len(m.Key) + len(m.Value)))
				if m.Offset+1 >= lo.Offset {
					return
				}
			}
		}()
	})
	wg.Wait()
	end := time.Now()
	cpu := cpuSeconds() - cpu0
	close(errs)
	if err := <-errs; err != nil {
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
