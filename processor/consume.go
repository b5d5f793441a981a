package processor

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/lifecycle-engine/lifecycle/schemas"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"go.uber.org/zap"
)

// consume starts a fetcher per input topic and runs the partition's loop
// until ctx ends or something fails; the fetchers are stopped and joined
// before it returns.
func (p *Processor) consume(ctx context.Context, adm *kadm.Client, part *partition, ends kadm.ListedOffsets, log *zap.Logger) error {
	inputs := p.cfg.Topics.Inputs
	fctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stop()

	notify := make(chan struct{}, 1)
	cancels := make([]context.CancelFunc, len(inputs))
	// fetch starts topic i's fetcher at offset from, stopping the one it
	// replaces (merger.restartStalled).
	fetch := func(i int, from int64) (<-chan kafka.Message, error) {
		topic := inputs[i]
		f, err := newFetcher(p.cfg.Conn, topic, part.id, from, notify, fetchCounters{&p.kafkaErrors, &p.fetchTimeouts}, log.With(zap.String("topic", topic)))
		if err != nil {
			return nil, fmt.Errorf("processor: reader for %s/%d: %w", topic, part.id, err)
		}
		f.schemas, f.schemaWaits = p.cfg.Schemas, &p.schemaWaits
		if cancels[i] != nil {
			cancels[i]()
			p.kafkaErrors.Add(1) // a stalled reader is a Kafka error too
		}
		var c context.Context
		c, cancels[i] = context.WithCancel(fctx)
		wg.Add(1)
		go func() { defer wg.Done(); f.run(c) }()
		return f.out, nil
	}
	chans := make([]<-chan kafka.Message, len(inputs))
	start := make([]int64, len(inputs))
	hwm := make([]int64, len(inputs))
	for i, topic := range inputs {
		offset, ok := part.eng.Offset(topic)
		from := offset
		if !ok {
			from = kafka.FirstOffset
		}
		if end, ok := ends.Lookup(topic, part.id); ok {
			hwm[i] = end.Offset
		} else {
			hwm[i] = math.MaxInt64 // unknown: wait for this topic's records
		}
		start[i] = offset
		var err error
		if chans[i], err = fetch(i, from); err != nil {
			return err
		}
		log.Info("reading", zap.String("topic", topic), zap.Int64("offset", offset), zap.Bool("from_start", !ok))
	}
	m := newMerger(inputs, chans, start, hwm, schemas.NewDecoder(p.cfg.Decoder))
	m.skew = p.cfg.MaxFutureSkew
	m.refetch = fetch
	for i, topic := range inputs {
		_, m.held[i] = part.eng.Offset(topic)
	}
	m.ends, m.endsC, m.notify = func() ([]int64, error) {
		lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return endOffsets(lctx, p.kafka, inputs, part.id)
	}, make(chan endsAnswer, 1), notify
	m.logStart = func(i int) (int64, error) {
		lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		starts, err := adm.ListStartOffsets(lctx, inputs[i])
		if err != nil {
			return 0, fmt.Errorf("processor: log start offset of %s: %w", inputs[i], err)
		}
		o, ok := starts.Lookup(inputs[i], part.id)
		if !ok || o.Err != nil {
			return 0, fmt.Errorf("processor: log start offset of %s/%d: %v", inputs[i], part.id, o.Err)
		}
		return o.Offset, nil
	}
	return part.loop(ctx, m, notify)
}
