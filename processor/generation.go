package processor

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sort"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"go.uber.org/zap"
)

// writers are the producers a partition sends with.
type writers struct{ outputs, changelog messageWriter }

// unlistedRetry is how long the group waits, after a generation that could
// assign nothing for want of a topic, before it assigns again.
const unlistedRetry = time.Second

// startGeneration starts one goroutine per assigned partition number (the
// balancer gives partition p of every input topic to the same member) and
// one per standby copy.
func (p *Processor) startGeneration(ctx context.Context, gen *kafka.Generation, adm *kadm.Client, w writers, partitions int32) {
	log := p.cfg.Log.With(zap.Int32("generation", gen.ID))
	ids := map[int]bool{}
	var standbys []int
	for topic, as := range gen.Assignments {
		for _, a := range as {
			if topic == p.cfg.Topics.Changelog {
				standbys = append(standbys, a.ID)
			} else {
				ids[a.ID] = true
			}
		}
	}
	owned := make([]int, 0, len(ids))
	for id := range ids {
		owned = append(owned, id)
	}
	sort.Ints(owned)
	sort.Ints(standbys)
	log.Info("partitions assigned", zap.Ints("partitions", owned), zap.Ints("standbys", standbys))
	t := p.unlisted.Swap(nil)
	if t != nil && len(*t) == 0 {
		t = nil
	}
	p.missing.Store(t)
	if t != nil {
		// Every member got nothing (copartitionBalancer). Ending this
		// generation asks for the next one, which assigns once the
		// topics are back; waiting first keeps the group from rejoining
		// without pause meanwhile (kafka-go rejoins at once, and its
		// partition watcher ends a generation whose topic is missing).
		log.Warn("the broker lists no partitions of these topics (deleted, or not created yet); nothing is assigned, and the group assigns again in a moment",
			zap.Strings("topics", *t), zap.Duration("in", unlistedRetry))
		gen.Start(func(context.Context) {})
		select {
		case <-time.After(unlistedRetry):
		case <-ctx.Done():
		}
		return
	}
	if len(owned)+len(standbys) == 0 {
		return
	}
	clID, err := topicID(ctx, adm, p.cfg.Topics.Changelog)
	if err != nil {
		log.Warn("reading the changelog's topic ID failed; it is asked for again in a moment", zap.Error(err))
	}
	inputIDs, err := topicIDs(ctx, adm, p.cfg.Topics.Inputs...)
	if err != nil {
		log.Warn("reading the input topics' IDs failed; this generation does not check them against the state's", zap.Error(err))
	}
	ident := newChangelogIdentity(clID)
	gen.Start(func(gctx context.Context) { p.watchChangelog(gctx, adm, ident, log) })
	for _, id := range standbys {
		gen.Start(func(gctx context.Context) {
			slog := log.With(zap.Int32("partition", int32(id)), zap.Bool("standby", true))
			for {
				sctx, clID, release := ident.follow(gctx)
				err := p.runStandby(sctx, gen, adm, int32(id), clID, slog)
				release()
				if gctx.Err() == nil && errors.Is(context.Cause(sctx), errChangelogReplaced) {
					continue // a copy of the new topic
				}
				if err != nil && gctx.Err() == nil {
					slog.Error("standby stopped; it starts again with the next generation", zap.Error(err))
				}
				return
			}
		})
	}
	if len(owned) == 0 {
		return
	}
	ends, err := p.partitionEnds(ctx, adm)
	if err != nil {
		log.Warn("listing end offsets failed; partitions start without them", zap.Error(err))
	}
	for _, id := range owned {
		a := assignment{gen: gen, genID: gen.ID, adm: adm, id: int32(id), partitions: partitions, committed: map[string]int64{},
			ends: ends, changelog: ident, inputIDs: inputIDs, w: w, log: log.With(zap.Int32("partition", int32(id)))}
		for topic, as := range gen.Assignments {
			for _, x := range as {
				if x.ID == id && x.Offset >= 0 {
					a.committed[topic] = x.Offset
				}
			}
		}
		gen.Start(func(gctx context.Context) {
			err := p.runPartition(gctx, a)
			switch {
			case errors.Is(err, ErrInputRestarted), errors.Is(err, ErrChangelogUnseeded):
				// Every rebalance would meet it again.
				p.fail(err)
			case err != nil && gctx.Err() == nil:
				a.log.Error("partition stopped; the group will rebalance and retry", zap.Error(err))
			}
		})
	}
}

// assignment is one input partition given to this member for one
// generation, with what its goroutine needs.
type assignment struct {
	gen        offsetCommitter
	genID      int32 // the group generation's (ownershipEpoch)
	adm        *kadm.Client
	id         int32
	partitions int32            // the input topics' partition count
	committed  map[string]int64 // the group's offsets at assignment, per topic
	ends       kadm.ListedOffsets
	changelog  *changelogIdentity
	// changelogID is the changelog topic's ID this ownership started on;
	// zero when unknown (the broker did not say).
	changelogID kadm.TopicID
	// inputIDs are the input topics' IDs at the generation's start; nil
	// when unknown.
	inputIDs map[string]kadm.TopicID
	w        writers
	log      *zap.Logger
}

// runPartition owns partition a.id for one generation. When the changelog
// is deleted and created anew meanwhile, the ownership starts again on the
// new topic without a rebalance, and makeCurrent seeds it from local state
// before another instance can own the partition and restore from a topic
// that lacks most users.
func (p *Processor) runPartition(ctx context.Context, a assignment) error {
	w := a.w
	for {
		octx, clID, release := a.changelog.follow(ctx)
		a.changelogID, a.w = clID, w
		err := p.ownPartition(octx, a)
		release()
		if err != nil || ctx.Err() != nil || !errors.Is(context.Cause(octx), errChangelogReplaced) {
			return err
		}
		if a.ends, a.committed, err = p.positions(ctx, a.adm, a.id); err != nil {
			return err
		}
		end, _ := a.ends.Lookup(p.cfg.Topics.Changelog, a.id)
		a.log.Info("the partition starts again on the changelog created anew", zap.Int64("changelog_end", end.Offset))
	}
}

// partitionEnds lists the end offsets a partition's ownership starts
// from: the changelog's high watermark, and the inputs' last stable
// offsets, the end of what is read of them (committed records, inputs.go).
func (p *Processor) partitionEnds(ctx context.Context, adm *kadm.Client) (kadm.ListedOffsets, error) {
	ends, err := adm.ListEndOffsets(ctx, p.cfg.Topics.Changelog)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return ends, err
	}
	inputs, err := adm.ListCommittedOffsets(ctx, p.cfg.Topics.Inputs...)
	if err == nil {
		err = inputs.Error()
	}
	maps.Copy(ends, inputs)
	return ends, err
}

// positions returns the end offsets of the changelog and the inputs, and
// the group's committed offsets of partition id, as a new generation would
// give them.
func (p *Processor) positions(ctx context.Context, adm *kadm.Client, id int32) (kadm.ListedOffsets, map[string]int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ends, err := p.partitionEnds(ctx, adm)
	if err != nil {
		return nil, nil, fmt.Errorf("processor: listing end offsets: %w", err)
	}
	offsets, err := adm.FetchOffsets(ctx, p.cfg.Group)
	if err == nil {
		err = offsets.Error()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("processor: fetching the group's offsets: %w", err)
	}
	committed := map[string]int64{}
	for _, topic := range p.cfg.Topics.Inputs {
		if o, ok := offsets.Lookup(topic, id); ok && o.At >= 0 {
			committed[topic] = o.At
		}
	}
	return ends, committed, nil
}

// ownPartition owns partition a.id until ctx ends: it makes the local state
// current (from the changelog when it is not), starts the sender, sends
// what the last run left unsent, then consumes, and commits what it
// applied.
func (p *Processor) ownPartition(ctx context.Context, a assignment) error {
	stats := newPartitionStats()
	// Until makeCurrent returns, the local state may be behind the
	// changelog: reads are refused and the partition counts as restoring.
	stats.restoring.Store(true)
	p.own(a.id, stats)
	defer p.disown(a.id, stats)
	if p.beforeCurrent != nil {
		p.beforeCurrent()
	}
	seeded, epoch, err := p.makeCurrent(ctx, &a, stats)
	stats.restoring.Store(false)
	if err != nil {
		return err
	}
	// Batches the changelog never got (a crash after their commit) are
	// owed to it before any new one: their users' current records.
	owed, logFrom, logTo, err := p.unlogged(a.id)
	if err != nil {
		return err
	}
	if seeded {
		owed = nil // the seed holds every user
	}
	snd, stopSender := p.startSender(a, stats)
	defer stopSender()
	if err := p.resend(a, snd, owed, logFrom, logTo); err != nil {
		return errors.Join(err, snd.close())
	}
	part, err := p.openPartition(a.id, a.partitions, logTo, epoch, stats, a.log, snd.send)
	if err != nil {
		return errors.Join(err, snd.close())
	}
	loopErr := p.consume(ctx, a.adm, part, a.ends, a.log)

	// Stop: commit what was applied, then let the sender drain, but not
	// for longer than the shutdown timeout.
	deadline := time.AfterFunc(p.cfg.ShutdownTimeout, stopSender)
	defer deadline.Stop()
	err = errors.Join(part.shutdown(), snd.close())
	if errors.Is(loopErr, context.Canceled) || errors.Is(loopErr, kafka.ErrGenerationEnded) {
		loopErr = nil
	}
	a.log.Info("partition released", zap.Int64("stream_time", part.eng.StreamTime()))
	return errors.Join(loopErr, err)
}

// makeCurrent brings the partition's local state up to the changelog:
// from a standby copy (its tail), by a restore (when the local state is
// missing or behind), or by seeding a changelog without metadata from it. seeded
// reports the last: the changelog then holds every user. epoch is this
// ownership's (record.Meta.Epoch): one more than any the state and the
// changelog's newest records hold; a's changelog writer stamps it from
// here on, the seed's records included. It refuses state whose input
// topics were created anew since (ErrInputRestarted), and a restore or a
// promotion from a changelog created anew that no owner has seeded
// (ErrChangelogUnseeded): the changelog's newest metadata names the
// topics it was written for (changelogIDHeader, inputIDHeader).
func (p *Processor) makeCurrent(ctx context.Context, a *assignment, stats *partitionStats) (seeded bool, epoch uint64, err error) {
	id, cfg := a.id, &p.cfg
	clEnd, ok := a.ends.Lookup(cfg.Topics.Changelog, id)
	if !ok || clEnd.Err != nil {
		return false, 0, fmt.Errorf("processor: the end offset of changelog %s/%d is unknown; retrying with the next generation", cfg.Topics.Changelog, id)
	}
	meta, haveLocal, err := p.store.Meta(id)
	if err != nil {
		return false, 0, err
	}
	standbyAt, standby, err := p.store.Standby(id)
	if err != nil {
		return false, 0, err
	}
	loggedTo, known, err := p.store.ChangelogID(id)
	if err != nil {
		return false, 0, err
	}
	tail, err := p.newestMeta(ctx, id, clEnd.Offset)
	if err != nil {
		return false, 0, err
	}
	// replaced: the changelog was deleted and created anew since this
	// state was logged to it (or copied from it), or since its newest
	// metadata was written by an owner that had not noticed (stamped with
	// the deleted topic's ID). The new topic holds only what was written
	// since, so a current state is seeded into it again. The stamp also
	// catches a state that does not know its changelog: one restored
	// before recordChangelogID, or one from before the IDs were recorded.
	none := kadm.TopicID{}
	replaced := a.changelogID != none &&
		(known && loggedTo != a.changelogID || tail.on.changelog != none && tail.on.changelog != a.changelogID)
	var applied map[string]int64
	if tail.meta != nil {
		applied = tail.meta.Offsets
	}
	if err := inputsUnchanged(id, tail.on.inputs, applied, a.inputIDs); err != nil {
		return false, 0, err
	}
	current := !standby && localStateCurrent(meta, haveLocal, a.committed, tail.meta)
	if !current {
		if err := changelogSeeded(cfg.Topics.Changelog, id, a.changelogID, tail); err != nil {
			return false, 0, err
		}
	}
	switch {
	case current:
	case standby && replaced:
		// Its position is in the deleted topic; the owner seeded the new one.
		a.log.Warn("the standby copy came from a changelog since deleted and created anew; restoring from the new one")
		err = p.restore(ctx, id, clEnd.Offset, stats, a.log)
	case standby:
		// A standby copy: what the changelog got since it last applied.
		err = p.promote(ctx, id, standbyAt, clEnd.Offset, stats, a.log)
	default:
		err = p.restore(ctx, id, clEnd.Offset, stats, a.log)
	}
	if err != nil {
		return false, 0, err
	}
	// After a restore or a promotion the store holds the highest epoch
	// the changelog had.
	if meta, _, err = p.store.Meta(id); err != nil {
		return false, 0, err
	}
	epoch = ownershipEpoch(max(meta.Epoch, tail.epoch), a.genID)
	a.w.changelog = stampOwnership(a.w.changelog, epoch, stamps{changelog: a.changelogID, inputs: a.inputIDs})
	switch {
	case !current:
	case tail.meta == nil:
		// An empty changelog (created anew, or a crash came before its
		// first write), or one whose seed was cut short: the seed's
		// metadata record is its last.
		seeded, err = true, p.seedAfterOutbox(ctx, *a, stats)
	case replaced:
		a.log.Warn("the changelog was deleted and created anew since this state was logged to it; seeding it from local state",
			zap.Stringer("logged_to", kadm.TopicID(loggedTo)), zap.Stringer("newest_metadata_on", tail.on.changelog),
			zap.Stringer("now", a.changelogID))
		seeded, err = true, p.seedAfterOutbox(ctx, *a, stats)
	default:
		a.log.Info("local state is current; no restore needed")
	}
	if err == nil && a.changelogID != none {
		err = p.recordChangelogID(id, a.changelogID)
	}
	return seeded, epoch, err
}

// recordChangelogID records that partition id's local state is logged to
// the changelog with ID clID, unless the store says so already. It reads
// the ID again rather than trust the one makeCurrent started from: a
// restore empties the partition, its ID too, and a state that no longer
// knows its changelog would not see it deleted and created anew, and
// would not seed it (TestFaultSequences, soak seed 940976195067: a state
// restored from the same changelog, the changelog created anew, the new
// one never seeded, and a later state loss restored half the users).
func (p *Processor) recordChangelogID(id int32, clID kadm.TopicID) error {
	now, ok, err := p.store.ChangelogID(id)
	if err != nil || ok && now == clID {
		return err
	}
	return p.store.SetChangelogID(id, clID)
}

// ownershipEpoch is the epoch of an ownership that starts from a state
// and changelog whose highest epoch is last: a count of ownerships above
// the group generation's number. Two owners that start from the same
// state (the second while the first is paused before its first write)
// differ by their generations; the count keeps the order when the group
// starts its generations again (a group that was empty for longer than
// the broker keeps it).
func ownershipEpoch(last uint64, generation int32) uint64 {
	return (last>>32+1)<<32 | uint64(uint32(generation))
}

// seedAfterOutbox seeds partition a.id's changelog from local state, in
// the delivery order of every batch (ARCHITECTURE.md): the outputs still
// in the outbox first, since the seed holds the state that produced them;
// then the seed; then the outbox deleted. Seeded before its outputs, the
// state of a batch whose outputs a crash then kept from Kafka would be
// restored elsewhere with its outputs never sent (TestFaultSequences,
// seed 764735230021: a crash before the first changelog write, a restart
// that seeded and crashed before resending, a failover).
func (p *Processor) seedAfterOutbox(ctx context.Context, a assignment, stats *partitionStats) error {
	seqs, outs, err := p.store.Outbox(a.id)
	if err != nil {
		return err
	}
	// Both writes retry as the sender's do, logged, until they succeed or
	// ctx ends: a seed that failed after kafka-go's own attempts (the
	// topic being deleted under it, a broker restarting) ended the
	// generation, and the group rebalanced every partition for it.
	s := &sender{partition: a.id, stats: stats, log: a.log, w: a.w.outputs, dlq: p.cfg.Topics.DLQ, dlqMaxBytes: p.cfg.dlqMaxBytes}
	if len(outs) > 0 {
		msgs, err := outputMessages(outs, p.cfg.OutputFormat)
		if err != nil {
			return err
		}
		a.log.Info("sending the outputs left in the outbox before seeding the changelog", zap.Int("records", len(outs)))
		if err := s.write(ctx, a.w.outputs, msgs); err != nil {
			return err
		}
		stats.sent.Add(int64(len(outs)))
		crashPoint(crashSent)
	}
	if err := p.seedChangelog(ctx, a.id, retrying{s, a.w.changelog}, a.log); err != nil {
		return err
	}
	if len(seqs) == 0 {
		return nil
	}
	b := p.store.NewBatch(a.id)
	defer b.Close()
	if err := b.DeleteOutputs(seqs[0], seqs[len(seqs)-1]+1); err != nil {
		return err
	}
	return b.Commit()
}

// retrying writes through its sender's write: retried with backoff until
// it succeeds or ctx ends, each failure logged and counted.
type retrying struct {
	s *sender
	w messageWriter
}

func (r retrying) WriteMessages(ctx context.Context, msgs ...kafka.Message) error {
	return r.s.write(ctx, r.w, msgs)
}

// runningSender is a partition's sender goroutine and the way to it.
type runningSender struct {
	jobs chan job
	done chan struct{}
	err  error
}

// send hands a job to the sender; it fails at once when the sender has
// stopped (it lost the partition, or the shutdown deadline passed), so the
// partition stops too instead of waiting for a queue nobody drains.
func (s *runningSender) send(j job) error {
	select {
	case s.jobs <- j:
		return nil
	case <-s.done:
		return fmt.Errorf("processor: the partition's sender stopped: %w", s.err)
	}
}

// close tells the sender no job follows and waits for it to finish.
func (s *runningSender) close() error {
	close(s.jobs)
	<-s.done
	return s.err
}

// startSender starts the partition's sender. It lives until the partition
// has committed its last batch; stop ends it before (the shutdown deadline).
func (p *Processor) startSender(a assignment, stats *partitionStats) (rs *runningSender, stop func()) {
	cfg := &p.cfg
	sendCtx, stop := context.WithCancel(context.Background())
	snd := &sender{partition: a.id, format: cfg.OutputFormat, w: a.w.outputs, changelog: a.w.changelog, changelogChunk: cfg.changelogChunk, store: p.store, commit: a.gen, dlq: cfg.Topics.DLQ, dlqMaxBytes: cfg.dlqMaxBytes,
		stats: stats, log: a.log, session: cfg.SessionTimeout, lastContact: time.Now(), committed: map[string]int64{}}
	for _, topic := range cfg.Topics.Inputs {
		// What the group had at assignment: safe to commit again when only
		// checking that this member is still in the group.
		snd.committed[topic] = max(a.committed[topic], 0)
	}
	rs = &runningSender{jobs: make(chan job, 16), done: make(chan struct{})}
	snd.jobs = rs.jobs
	go func() { rs.err = snd.run(sendCtx); close(rs.done) }()
	return rs, stop
}

// resend hands the sender, before any new batch, the outputs committed
// but not acknowledged before the last stop, and the users owed to the
// changelog (markers [logFrom, logTo)).
func (p *Processor) resend(a assignment, s *runningSender, owed []kafka.Message, logFrom, logTo uint64) error {
	seqs, outs, err := p.store.Outbox(a.id)
	if err != nil {
		return err
	}
	first := job{outs: outs, changelog: owed, logFrom: logFrom, logTo: logTo}
	if len(outs) > 0 {
		a.log.Info("resending outputs left in the outbox", zap.Int("records", len(outs)))
		first.from, first.to = seqs[0], seqs[len(seqs)-1]+1
	}
	if len(owed) > 0 {
		a.log.Info("republishing to the changelog what a crash kept from it", zap.Int("records", len(owed)), zap.Uint64("batches", logTo-logFrom))
	}
	if first.to > first.from || first.logTo > first.logFrom {
		_ = s.send(first) // a stopped sender fails the first batch's send too
	}
	return nil
}
