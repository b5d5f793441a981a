package processor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/lifecycle-engine/lifecycle/processor/retention"
	"github.com/lifecycle-engine/lifecycle/state"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

// restore replaces partition id's local state with the changelog's: every
// user record (with its timer index entry) and the metadata. It reads the
// changelog partition from its start to end, the end offset at assignment.
func (p *Processor) restore(ctx context.Context, id int32, end int64, stats *partitionStats, log *zap.Logger) error {
	log.Info("restoring partition from the changelog", zap.String("changelog", p.cfg.Topics.Changelog), zap.Int64("records", end))
	start := time.Now()
	a, err := newApplier(p.store, id, true, false)
	if err != nil {
		return err
	}
	defer a.b.Close()
	a.onCommit = stats.startRestore(0, end)
	if err := p.tail(ctx, a, 0, end, log); err != nil {
		return err
	}
	users, err := a.finish()
	if err != nil {
		return err
	}
	a.logIgnored(log)
	log.Info("partition restored", zap.Int("users", users), zap.Int("records", a.records), zap.Duration("took", time.Since(start)),
		zap.Float64("records_per_second", float64(a.records)/time.Since(start).Seconds()))
	return nil
}

// tail applies partition a.id's changelog records from offset from up to
// end (exclusive; end < 0: until ctx ends, as a standby does), logging
// progress, and commits what it applied.
func (p *Processor) tail(ctx context.Context, a *applier, from, end int64, log *zap.Logger) error {
	if end >= 0 && from >= end {
		return a.commit(from)
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: p.cfg.Conn.Brokers, Dialer: p.cfg.Conn.Dialer(), Topic: p.cfg.Topics.Changelog, Partition: int(a.id),
		MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 250 * time.Millisecond, QueueCapacity: 10_000,
	})
	defer closeReader(r)
	if err := r.SetOffset(from); err != nil {
		return err
	}
	progress, start, committed, next := time.Now(), time.Now(), time.Now(), from
	for end < 0 || next < end {
		fctx, cancel := context.WithTimeout(ctx, time.Second)
		m, err := r.FetchMessage(fctx)
		cancel()
		switch {
		case err != nil && ctx.Err() != nil:
			return errors.Join(ctx.Err(), a.commit(next))
		case errors.Is(err, context.DeadlineExceeded):
			// Nothing new for a second: make what was applied durable
			// (a standby's position moves with it).
			if err := a.commit(next); err != nil {
				return err
			}
			a.caughtUp()
			continue
		case err != nil:
			return fmt.Errorf("processor: reading changelog %s/%d: %w", p.cfg.Topics.Changelog, a.id, err)
		}
		if err := a.add(m); err != nil {
			return err
		}
		next = m.Offset + 1
		if a.pending >= 10_000 || a.standby && time.Since(committed) > time.Second {
			if err := a.commit(next); err != nil {
				return err
			}
			committed = time.Now()
		}
		if time.Since(progress) > 2*time.Second {
			progress = time.Now()
			remaining := int64(-1)
			if end >= 0 {
				remaining = end - next
			}
			msg := "restoring"
			if a.standby {
				msg = "standby: applying the changelog"
			}
			log.Info(msg, zap.Int("records", a.records), zap.Int64("remaining", remaining),
				zap.Float64("records_per_second", float64(a.records)/time.Since(start).Seconds()))
		}
	}
	return a.commit(next)
}

// applier writes one partition's changelog records into the local store
// as the owner wrote them: restore runs it on an emptied partition, a
// standby from where it left off. A stale write of a paused former owner
// that landed after its successor's is ignored: a record of a lower epoch
// than one already read (epochHeader), or a user record whose input
// offsets go back. Its user (for another record: every retention record
// and the metadata) is marked as owed to the changelog
// (state.PutUnlogged), so that the next owner republishes the winner on
// top of it: compaction keeps a key's last record.
type applier struct {
	store *state.Store
	id    int32
	b     *state.Batch
	fresh bool // applying into an emptied partition, nothing committed yet: nothing stored to compare with
	// standby: the state is a standby copy (or its promotion): each commit
	// stores the metadata and the changelog position.
	standby bool
	// onCommit, when set, is told the changelog position after each
	// commit: a standby commits it to the group, a restore reports its
	// progress.
	onCommit func(next int64)
	// Per user: the offsets and timer entry of the newest record written in
	// the open batch (or, when fresh, since the start; then the store has
	// nothing, and reading it back per record would cost a lookup each).
	kept     map[string][record.MaxInputs]int64
	wakes    map[string]int64
	meta     record.Meta
	haveMeta bool
	epoch    uint64   // the highest epoch read (with the stored one)
	owed     []string // users whose newest record a stale one followed
	metaOwed bool
	markNext uint64 // number of the next changelog marker
	pending  int    // records since the last commit
	records  int    // records applied
	stale    int
	// The open group (changelogWrites): its records, held until its
	// metadata record arrives, and the offset of its group record (-1: no
	// group is open).
	group   []kafka.Message
	groupAt int64
	dropped int // records of groups cut short, never applied
}

// newApplier returns an applier for partition id; fresh empties the
// partition first (in the same batch as the first records); standby keeps
// a standby copy (see the field).
func newApplier(store *state.Store, id int32, fresh, standby bool) (*applier, error) {
	a := &applier{store: store, id: id, b: store.NewBatch(id), fresh: fresh, standby: standby,
		kept: map[string][record.MaxInputs]int64{}, wakes: map[string]int64{}, groupAt: -1}
	if fresh {
		return a, a.b.Clear()
	}
	var err error
	if a.meta, a.haveMeta, err = store.Meta(id); err != nil {
		return nil, err
	}
	a.epoch = a.meta.Epoch
	_, a.markNext, _, err = store.Unlogged(id)
	return a, err
}

// add takes the next changelog record. A group's records wait for its
// metadata record and are then applied in order; a group record that
// arrives while another group is open means that one was cut short by a
// crash (its writer, or the next owner, starts a new write), and it is
// dropped. Records outside a group (each a whole produce batch, or from
// before groups, or a repeated last chunk) are applied as they come.
func (a *applier) add(m kafka.Message) error {
	// Records written before epochs (0) are not ordered by them.
	switch e := epochOf(m); {
	case e != 0 && e < a.epoch:
		a.stale++
		if len(m.Key) > 1 && m.Key[0] == changelogUser {
			a.owed = append(a.owed, string(m.Key[1:]))
		} else if !(len(m.Key) == 1 && m.Key[0] == changelogGroup) {
			a.metaOwed = true
		}
		return nil
	case e > a.epoch:
		a.epoch = e
	}
	switch {
	case len(m.Key) == 1 && m.Key[0] == changelogGroup:
		a.dropGroup()
		a.groupAt = m.Offset
		return nil
	case a.groupAt < 0:
		return a.apply(m)
	}
	a.group = append(a.group, m)
	if !isMeta(m) {
		return nil
	}
	for _, g := range a.group {
		if err := a.apply(g); err != nil {
			return err
		}
	}
	a.group, a.groupAt = a.group[:0], -1
	return nil
}

// logIgnored says what the applier did not apply, and why.
func (a *applier) logIgnored(log *zap.Logger) {
	if a.stale > 0 {
		log.Warn("ignored stale changelog records (written late by a former owner); their users' newest records go to the changelog again", zap.Int("records", a.stale))
	}
	if a.dropped > 0 {
		log.Warn("ignored the records of changelog writes cut short by a crash; the inputs they came from are applied again", zap.Int("records", a.dropped))
	}
}

// dropGroup drops the open group's records, if a group is open.
func (a *applier) dropGroup() {
	a.dropped += len(a.group)
	a.group, a.groupAt = a.group[:0], -1
}

// apply applies one changelog record.
func (a *applier) apply(m kafka.Message) error {
	a.records++
	a.pending++
	switch {
	case len(m.Key) > 1 && m.Key[0] == changelogUser:
		uid := string(m.Key[1:])
		rec, err := record.DecodeUser(m.Value)
		if err != nil {
			return fmt.Errorf("processor: changelog %s/%d offset %d: %w", m.Topic, m.Partition, m.Offset, err)
		}
		prev, wake, ok := a.kept[uid], a.wakes[uid], false
		if _, ok = a.kept[uid]; !ok && !a.fresh {
			var r record.User
			if r, ok, err = a.store.User(a.id, uid); err != nil {
				return err
			}
			prev, wake = r.Offsets, r.Wake
		}
		if ok && behind(rec.Offsets[:], prev[:]) {
			a.stale++
			a.owed = append(a.owed, uid)
			return nil
		}
		if err := a.b.PutUser(uid, rec, wake); err != nil {
			return err
		}
		a.kept[uid], a.wakes[uid] = rec.Offsets, rec.Wake
	case len(m.Key) > 1 && m.Key[0] == changelogRetention:
		// As the owner wrote it; one without a value was pruned.
		return a.b.PutRetention(retention.KV{Key: string(m.Key[1:]), Value: m.Value})
	case isMeta(m):
		next, err := record.DecodeMeta(m.Value)
		if err != nil {
			return fmt.Errorf("processor: changelog %s/%d offset %d: %w", m.Topic, m.Partition, m.Offset, err)
		}
		if a.haveMeta && metaBehind(next, a.meta) {
			a.stale++
			a.metaOwed = true
			return nil
		}
		a.meta, a.haveMeta = next, true
	}
	return nil
}

// commit writes what was applied; a standby also stores its metadata
// and its position next (a restore writes its metadata only when it is
// done: partial state must never look current, and a standby copy is
// marked as one by its position).
func (a *applier) commit(next int64) error {
	if len(a.owed) > 0 || a.metaOwed {
		if err := a.b.PutUnlogged(a.markNext, a.owed); err != nil {
			return err
		}
		a.markNext++
		a.owed, a.metaOwed = a.owed[:0], false
	}
	if a.standby {
		if a.haveMeta {
			a.meta.Epoch = max(a.meta.Epoch, a.epoch)
			if err := a.b.PutMeta(a.meta); err != nil {
				return err
			}
		}
		if a.groupAt >= 0 {
			next = a.groupAt // the open group is read again from its start
		}
		if err := a.b.PutStandby(next); err != nil {
			return err
		}
	}
	a.pending = 0
	if err := a.b.Commit(); err != nil {
		return err
	}
	if a.standby && !a.fresh {
		clear(a.kept) // committed: the store answers from now on
		clear(a.wakes)
	}
	if a.onCommit != nil {
		a.onCommit(next)
	}
	return nil
}

// caughtUp tells a standby's applier that it has read to the changelog's
// end. A fresh copy keeps every user's offsets in memory until then, as a
// restore does (a lookup per record would cost a third of the copy's
// speed); from then on the store answers and memory holds one commit.
func (a *applier) caughtUp() {
	if a.standby && a.fresh {
		a.fresh = false
		clear(a.kept)
		clear(a.wakes)
	}
}

// finish ends a restore or a promotion: users per stage and segment are
// recounted (the users may be ahead of the metadata when the last batch
// reached the changelog only in part), the metadata is written, the state
// becomes the owner's (no standby position), and all of it is synced. It
// returns the number of users.
// Everything tail applied is committed already.
func (a *applier) finish() (int, error) {
	a.dropGroup() // the changelog ends inside a write cut short
	meta := a.meta
	meta.Epoch = max(meta.Epoch, a.epoch) // the next owner's is higher
	meta.Stages = [len(meta.Stages)]int64{}
	meta.Segments = [len(meta.Segments)]int64{}
	users := 0
	if err := a.store.Users(a.id, func(_ string, r record.User) error {
		meta.Stages[r.User.Stage]++
		meta.Segments[r.Segment.Segment]++
		users++
		return nil
	}); err != nil {
		return 0, err
	}
	if a.haveMeta || users > 0 {
		if meta.Offsets == nil {
			meta.Offsets = map[string]int64{}
		}
		if err := a.b.PutMeta(meta); err != nil {
			return 0, err
		}
	}
	if err := a.b.DeleteStandby(); err != nil {
		return 0, err
	}
	if err := a.b.Commit(); err != nil {
		return 0, err
	}
	return users, a.store.Sync()
}
