package processor

import (
	"context"
	"errors"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"go.uber.org/zap"
)

// Standby replicas (Config.StandbyReplicas): an instance keeps a warm copy
// of partitions other instances own by tailing their changelog into its
// own store, under the partition's usual prefix, marked as a standby copy
// by its changelog position (state/standby.go). When the partition comes
// to it (the balancer prefers the instance whose copy is furthest), it
// applies what the changelog got since that position, instead of
// restoring every record from the start.

// runStandby keeps partition id's standby copy until the generation ends.
// It commits its changelog position to the group as that partition's
// offset, so that the group's lag on the changelog is the standby's.
// clID is the changelog's topic ID at the generation's start (zero when
// unknown): a copy of a changelog since deleted and created anew is made
// anew.
func (p *Processor) runStandby(ctx context.Context, gen offsetCommitter, adm *kadm.Client, id int32, clID kadm.TopicID, log *zap.Logger) error {
	from, ok, err := p.store.Standby(id)
	if err != nil {
		return err
	}
	copiedFrom, known, err := p.store.ChangelogID(id)
	if err != nil {
		return err
	}
	switch {
	case ok && known && clID != (kadm.TopicID{}) && copiedFrom != clID:
		log.Warn("the standby copy came from a changelog since deleted and created anew; copying anew")
		ok = false
	case ok && !p.changelogHas(ctx, adm, id, from):
		log.Warn("the standby copy's changelog position is outside the changelog (was the topic recreated?); copying anew", zap.Int64("position", from))
		ok = false
	}
	if !ok {
		from = 0
		log.Info("standby: copying the partition from the changelog")
	} else {
		log.Info("standby: following the changelog", zap.Int64("from", from))
	}
	a, err := newApplier(p.store, id, !ok, true)
	if err != nil {
		return err
	}
	defer a.b.Close()
	if !ok && clID != (kadm.TopicID{}) {
		if err := a.b.PutChangelogID(clID); err != nil {
			return err
		}
	}
	a.onCommit = func(next int64) {
		if err := gen.CommitOffsets(map[string]map[int]int64{p.cfg.Topics.Changelog: {int(id): next}}); err != nil && !errors.Is(err, kafka.ErrGenerationEnded) {
			log.Debug("committing the standby's changelog position failed", zap.Error(err))
		}
	}
	err = p.tail(ctx, a, from, -1, log)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// changelogHas reports whether offset is within partition id's changelog
// (from its log start to its end); true when that cannot be told.
func (p *Processor) changelogHas(ctx context.Context, adm *kadm.Client, id int32, offset int64) bool {
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	starts, err1 := adm.ListStartOffsets(lctx, p.cfg.Topics.Changelog)
	ends, err2 := adm.ListEndOffsets(lctx, p.cfg.Topics.Changelog)
	if err1 != nil || err2 != nil {
		return true
	}
	s, ok1 := starts.Lookup(p.cfg.Topics.Changelog, id)
	e, ok2 := ends.Lookup(p.cfg.Topics.Changelog, id)
	if !ok1 || !ok2 || s.Err != nil || e.Err != nil {
		return true
	}
	return offset >= s.Offset && offset <= e.Offset
}

// promote makes partition id's standby copy, at changelog position from,
// the owner's state: it applies the changelog up to end (its end at
// assignment), recounts and syncs, as a restore would end.
func (p *Processor) promote(ctx context.Context, id int32, from, end int64, stats *partitionStats, log *zap.Logger) error {
	if from > end {
		log.Warn("the standby copy is ahead of the changelog (was the topic recreated?); restoring instead", zap.Int64("position", from), zap.Int64("end", end))
		return p.restore(ctx, id, end, stats, log)
	}
	start := time.Now()
	a, err := newApplier(p.store, id, false, true)
	if err != nil {
		return err
	}
	defer a.b.Close()
	a.onCommit = stats.startRestore(from, end)
	if err := p.tail(ctx, a, from, end, log); err != nil {
		return err
	}
	users, err := a.finish()
	if err != nil {
		return err
	}
	a.logIgnored(log)
	log.Info("standby promoted", zap.Int("users", users), zap.Int64("changelog_records", end-from), zap.Duration("took", time.Since(start)))
	return nil
}

// held is this instance's progress on each partition it has local state
// of (its own or a standby copy): the sum of the input offsets the state
// has applied. The balancer gives a partition to the instance furthest on.
func (p *Processor) held() map[int32]int64 {
	ids, err := p.store.Partitions()
	if err != nil {
		return nil
	}
	out := make(map[int32]int64, len(ids))
	for _, id := range ids {
		meta, ok, err := p.store.Meta(id)
		if err != nil || !ok {
			continue
		}
		var sum int64
		for _, o := range meta.Offsets {
			sum += max(o, 0)
		}
		if sum > 0 {
			out[id] = sum
		}
	}
	return out
}
