package processor

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/lifecycle-engine/lifecycle/schemas"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"go.uber.org/zap"
)

// consume opens a source per input topic (inputs.go) and runs the
// partition's loop until ctx ends or something fails; the sources are
// stopped before it returns, so nothing of them is handed on afterwards.
func (p *Processor) consume(ctx context.Context, adm *kadm.Client, part *partition, ends kadm.ListedOffsets, log *zap.Logger) error {
	inputs := p.cfg.Topics.Inputs
	notify := make(chan struct{}, 1)
	sources := make([]*source, len(inputs))
	defer func() {
		for _, s := range sources {
			if s != nil {
				s.stop()
			}
		}
	}()
	// fetch opens topic i's source at offset from, stopping the one it
	// replaces (merger.restartStalled): what the old one fetched never
	// reaches the new one's channel.
	fetch := func(i int, from int64) (<-chan kafka.Message, error) {
		if sources[i] != nil {
			sources[i].stop()
			p.kafkaErrors.Add(1) // a stalled fetch is a Kafka error too
		}
		sources[i] = p.inputs.open(inputs[i], part.id, from, notify)
		return sources[i].out, nil
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
		if end, known := ends.Lookup(topic, part.id); known {
			hwm[i] = end.Offset
			if ok && end.Err == nil && offset > end.Offset {
				// Past the last stable offset: a release that read
				// uncommitted records may have stored a position inside
				// a transaction still open, short of the high watermark.
				hw, err := listedOffset(ctx, adm.ListEndOffsets, "end offset", topic, part.id)
				if err != nil {
					return err
				}
				if offset > hw {
					return inputRestarted(topic, part.id, offset, hw)
				}
			}
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
		return p.ends.ends(ctx, part.id)
	}, make(chan endsAnswer, 1), notify
	m.logStart = func(i int) (int64, error) {
		return listedOffset(ctx, adm.ListStartOffsets, "log start offset", inputs[i], part.id)
	}
	m.fetchedStart = func(i int) int64 { return sources[i].logStart.Load() }
	m.fetchedEnds = func() ([]int64, uint64, bool) { return fetchedEnds(sources) }
	return part.loop(ctx, m, notify)
}

// listedOffset asks the broker, with list (a kadm.Client lister), for
// what partition id of topic has: its log start, its high watermark.
func listedOffset(ctx context.Context, list func(context.Context, ...string) (kadm.ListedOffsets, error), what, topic string, id int32) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	listed, err := list(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("processor: %s of %s: %w", what, topic, err)
	}
	o, ok := listed.Lookup(topic, id)
	if !ok || o.Err != nil {
		return 0, fmt.Errorf("processor: %s of %s/%d: %v", what, topic, id, o.Err)
	}
	return o.Offset, nil
}
