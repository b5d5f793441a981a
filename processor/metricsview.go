package processor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"go.uber.org/zap"

	"github.com/lifecycle-engine/lifecycle/processor/retention"
)

// readMetrics feeds p.metrics from every partition of the metrics topic,
// from its start, until ctx ends: each instance sums the latest record of
// every partition and period, whoever owns the partition, so that each
// serves the whole picture (/v1/cohorts, /v1/flows, /v1/segments) without
// asking the others. It returns when its readers have stopped.
func (p *Processor) readMetrics(ctx context.Context, adm *kadm.Client) error {
	topic := p.cfg.Topics.Metrics
	details, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return fmt.Errorf("processor: describe %s: %w", topic, err)
	}
	var wg sync.WaitGroup
	for part := range details[topic].Partitions {
		wg.Go(func() { p.readMetricsPartition(ctx, topic, part) })
	}
	wg.Wait()
	return nil
}

func (p *Processor) readMetricsPartition(ctx context.Context, topic string, part int32) {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: p.cfg.Conn.Brokers, Dialer: p.cfg.Conn.Dialer(), Topic: topic, Partition: int(part),
		MinBytes: 1, MaxBytes: 4 << 20, MaxWait: 500 * time.Millisecond, StartOffset: kafka.FirstOffset,
	})
	defer r.Close()
	log := p.cfg.Log.With(zap.String("topic", topic), zap.Int32("partition", part))
	for {
		m, err := r.ReadMessage(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, io.EOF):
			return
		case err != nil:
			p.kafkaErrors.Add(1)
			log.Warn("reading the metrics topic failed; retrying", zap.Error(err))
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
				return
			}
			continue
		}
		if err := p.metrics.Put(m.Key, m.Value); err != nil {
			log.Warn("a metrics record does not decode; skipped", zap.Int64("offset", m.Offset), zap.Error(err))
		}
	}
}

// Metrics returns the retention metrics of every partition, summed, as
// the metrics topic has them.
func (p *Processor) Metrics() retention.Totals { return p.metrics.Totals() }
