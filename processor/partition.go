package processor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sync/atomic"
	"time"

	"github.com/lifecycle-engine/lifecycle/state/record"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/lifecycle-engine/lifecycle/processor/rules"
	"github.com/lifecycle-engine/lifecycle/processor/segments"
	"github.com/lifecycle-engine/lifecycle/processor/warnings"
	"github.com/lifecycle-engine/lifecycle/schemas"
	"github.com/lifecycle-engine/lifecycle/state"
)

// entry is a user record decoded for the open batch.
type entry struct {
	id         string
	rec        record.User
	storedWake int64 // the timer index entry Pebble holds for this user
	// storedBuyer is the user's entry of the buyers index that Pebble
	// holds (the zero Buyer for none).
	storedBuyer record.Buyer
	dirty       bool
	cached      bool // the cache holds the stored form of rec
	stored      bool // Pebble holds a record of the user
}

// partition applies one input partition's records to its users. It is owned
// by one goroutine; nothing in it is shared, so the hot path takes no lock.
type partition struct {
	id    int32
	cfg   *Config
	log   *zap.Logger
	store *state.Store
	stats *partitionStats

	meta record.Meta
	// The users of the open batch are decoded (hot); between batches a
	// user is cached in its stored form (cold, ~140 bytes where the decoded
	// entry takes ~650), up to MaxUsersCached, and decoded again when it
	// next appears (~0.4 µs).
	hot     map[string]*entry
	cold    map[string][]byte
	known   *knownUsers // the users the store may hold
	dirty   []*entry
	pending []record.Output // outputs of the open batch, in the order the rules made them
	records int             // input records in the open batch
	batch   *state.Batch
	trs     []rules.Transition // scratch
	ws      []stagedWarning    // scratch
	pop     *segments.Population
	send    func(job) error // hands a committed batch to the sender
	// unloggedNext numbers the next batch's changelog marker; ids is
	// scratch for the users it names.
	unloggedNext uint64
	ids          []string
	// timerFloor is a wake time below which the timer index holds no entry
	// that is due and not yet handled: scans start there.
	timerFloor int64

	model *atomic.Pointer[Model] // the processor's current model, if any

	afterCommit func() // test hook, called after each commit; nil in production
}

func newPartition(id int32, cfg *Config, store *state.Store, stats *partitionStats, inputPartitions int32) (*partition, error) {
	meta, ok, err := store.Meta(id)
	if err != nil {
		return nil, err
	}
	if ok && meta.Partitions != inputPartitions {
		return nil, layoutError(id, meta.Partitions, inputPartitions)
	}
	meta.Partitions = inputPartitions
	pop, err := segments.NewPopulationWith(cfg.Segments)
	if err != nil {
		return nil, err
	}
	if meta.Population != nil {
		var cuts segments.Cuts
		if err := json.Unmarshal(meta.Population, &cuts); err != nil {
			return nil, fmt.Errorf("processor: partition %d: stored RFM cuts: %w", id, err)
		}
		pop.Restore(cuts)
	}
	known, err := loadKnownUsers(store, id, int(storedUsers(&meta)))
	if err != nil {
		return nil, fmt.Errorf("processor: partition %d: %w", id, err)
	}
	p := &partition{
		id: id, cfg: cfg, store: store, stats: stats, meta: meta, pop: pop, known: known,
		log:   cfg.Log, // already carries the partition
		hot:   make(map[string]*entry),
		cold:  make(map[string][]byte),
		batch: store.NewBatch(id),
	}
	stats.setMeta(&meta)
	return p, nil
}

// startOffset is where reading topic resumes: right after the last record
// whose effect is in the store. ok is false when the store has nothing for it.
func (p *partition) startOffset(topic string) (offset int64, ok bool) {
	offset, ok = p.meta.Offsets[topic]
	return offset, ok
}

// apply applies one input record. Records below the stored offset were
// applied before (a replay after a crash or rebalance) and change nothing;
// so does a re-sent event id.
func (p *partition) apply(it *item) error {
	topic := p.cfg.Topics.Inputs[it.topic]
	if it.msg.Offset < p.meta.Offsets[topic] {
		p.stats.skipped.Add(1)
		return nil
	}
	// consumed marks the record as applied in the open batch. It must come
	// after any commit made on the record's behalf (a rebuild), or a crash
	// there would store the record as applied before it was.
	consumed := func() {
		p.meta.Offsets[topic] = it.msg.Offset + 1
		p.records++
	}
	if it.err != nil {
		consumed()
		p.pending = append(p.pending, dlqOutput(p.cfg.Topics.DLQ, it, topic, p.cfg.dlqMaxBytes))
		p.stats.rejected.Add(1)
		p.log.Debug("record rejected", zap.String("topic", topic), zap.Int64("offset", it.msg.Offset), zap.Error(it.err))
		return nil
	}
	ev := it.ev
	e, err := p.user(ev.UserID)
	if err != nil {
		return err
	}
	if it.msg.Offset < e.rec.Offsets[it.topic] {
		// The user's record is ahead of the partition's metadata (restored
		// from a changelog whose last batch arrived only in part).
		consumed()
		p.stats.skipped.Add(1)
		return nil
	}
	if e.rec.User.IsDuplicate(ev.ID) {
		consumed()
		p.stats.duplicates.Add(1)
		return nil
	}
	streamTime := max(p.meta.StreamTime, ev.Time)
	if p.meta.StreamTime > 0 && streamTime-p.meta.StreamTime > streamJumpLogged.Milliseconds() {
		// Every quiet user's timers up to the new time fire now: worth a
		// line and a count, though the event passed the future check.
		p.stats.streamJumps.Add(1)
		p.log.Warn("stream time jumped ahead", zap.String("topic", topic), zap.Int64("offset", it.msg.Offset),
			zap.Time("from", time.UnixMilli(p.meta.StreamTime).UTC()), zap.Time("to", time.UnixMilli(streamTime).UTC()))
	}
	if rebuilt, err := p.rebuildIfDue(streamTime); err != nil {
		return err
	} else if rebuilt {
		if e, err = p.user(ev.UserID); err != nil { // the commit may have evicted it
			return err
		}
	}
	consumed()
	model := p.model.Load()
	// The user's overdue timers first, in due-time order; then the event.
	trs, ws := p.cfg.timers(p.trs[:0], p.ws[:0], &e.rec.User, &e.rec.Warn, e.rec.Segment, model, streamTime)
	trs, _ = p.cfg.Rules.Apply(trs, &e.rec.User, ev, streamTime)
	p.trs = trs
	p.stats.applied.Add(1)
	p.meta.StreamTime = streamTime
	e.rec.Offsets[it.topic] = it.msg.Offset + 1

	rescore := false
	if ev.Type == schemas.Purchase {
		if e.rec.Window.Span > 0 {
			e.rec.Window.Add(ev.Time, ev.Amount)
		}
		rescore = true // F, M and R move only with purchases (and at rebuilds)
	}
	var buf [4]warnings.Warning
	for _, w := range p.cfg.Warnings.OnEvent(buf[:0], &e.rec.Warn, ev, warnContext(&e.rec.User, e.rec.Segment, model)) {
		ws = append(ws, staged(w, &e.rec.User))
	}
	// An old event can leave timers overdue at once.
	trs, ws = p.cfg.timers(trs, ws, &e.rec.User, &e.rec.Warn, e.rec.Segment, model, streamTime)
	p.trs, p.ws = trs, ws
	return p.changed(e, trs, ws, change{now: streamTime, rescore: rescore, trigger: ev.ID, reason: "purchase"})
}

// warnContext is what the warning rules see of a user besides their own
// state. P(alive) is given as a function of time, evaluated at each check's
// due time: a lazily fired timer then computes the same number as one
// fired on time.
func (p *partition) warnContext(e *entry) warnings.Context {
	return warnContext(&e.rec.User, e.rec.Segment, p.model.Load())
}

func warnContext(u *rules.User, seg segments.Score, m *Model) warnings.Context {
	ctx := warnings.Context{Stage: u.Stage, LastActivity: u.LastActivity, PAlive: -1}
	if !seg.IsNone() {
		ctx.Segment = seg.Segment.String()
	}
	if m != nil && u.Buys.Days > 0 {
		buys := u.Buys
		ctx.PAliveAt = func(at int64) float64 {
			s, ok := buys.Summary(at, m.Period)
			if !ok {
				return -1
			}
			return round6(m.BGNBD.PAlive(s))
		}
	}
	return ctx
}

// change says what moved a user, for the outputs it causes.
type change struct {
	now     int64  // event time of the change
	rescore bool   // re-compute the RFM score
	trigger string // event id, "" for timers and rebuilds
	reason  string // why the segment may have moved
}

// changed records that e's state moved, with the transitions and warnings
// that came with it, and re-scores the user's RFM segment when asked.
func (p *partition) changed(e *entry, trs []rules.Transition, ws []stagedWarning, c change) error {
	p.markDirty(e)
	model := p.model.Load()
	for _, tr := range trs {
		o, err := transitionOutput(p.cfg.Topics.Transitions, e.id, tr, predictAt(model, p.cfg.Prediction, tr.Buys, tr.At))
		if err != nil {
			return err
		}
		p.pending = append(p.pending, o)
		if tr.From != rules.None {
			p.meta.Stages[tr.From]--
		} else {
			p.meta.Segments[segments.None]++ // a new user, not scored yet (rescore moves it)
		}
		p.meta.Stages[tr.To]++
		p.stats.transitions.Add(1)
		p.stats.recent(e.id, tr)
	}
	for _, w := range ws {
		o, err := warningOutput(p.cfg.Topics.Warnings, e.id, w, e.rec.Segment)
		if err != nil {
			return err
		}
		p.pending = append(p.pending, o)
		p.stats.warnings.Add(1)
	}
	if c.rescore {
		if err := p.rescore(e, c); err != nil {
			return err
		}
	}
	e.rec.Wake = p.wake(e)
	return nil
}

// markDirty queues e for the next commit.
func (p *partition) markDirty(e *entry) {
	if !e.dirty {
		e.dirty = true
		p.dirty = append(p.dirty, e)
	}
}

// wake is the earliest timer of the stage model and of the warnings, not
// counting warning checks that would warn nothing (warnings.LazyWake): most
// weekly checks of quiet users would otherwise cost a write each.
func (p *partition) wake(e *entry) int64 {
	a := p.cfg.Rules.Wake(&e.rec.User)
	b := p.cfg.Warnings.LazyWake(&e.rec.Warn, p.warnContext(e))
	switch {
	case a == 0:
		return b
	case b == 0:
		return a
	}
	return min(a, b)
}

// rfmValues are e's RFM values at now.
func (p *partition) rfmValues(e *entry, now int64) segments.Values {
	u := &e.rec.User
	return e.rec.Window.Values(now, u.LastPurchase, u.Purchases, u.Spend)
}

// rescore scores e against the cuts in effect and, when the named segment
// changed, stores the score and publishes the change. The 125-cell code
// alone moving is not stored: every user would be rewritten at every
// rebuild for a detail that the HTTP read side computes fresh.
func (p *partition) rescore(e *entry, c change) error {
	prev := e.rec.Segment
	s := p.pop.Score(p.rfmValues(e, c.now), prev)
	if s.Segment == prev.Segment {
		return nil
	}
	e.rec.Segment = s
	p.meta.Segments[prev.Segment]--
	p.meta.Segments[s.Segment]++
	p.markDirty(e)
	if s.IsNone() {
		return nil
	}
	o, err := segmentOutput(p.cfg.Topics.Segments, e.id, prev, s, c, &e.rec.User)
	if err != nil {
		return err
	}
	p.pending = append(p.pending, o)
	p.stats.segmentChanges.Add(1)
	return nil
}

// rebuildIfDue rebuilds the RFM population when stream time reaches a new
// rebuild point (Segments.Refresh, in event time), before the record that
// reached it is applied. First every timer due before the point fires (with
// the old cuts), then the cuts are computed from every user's values at the
// point, then every user is re-scored at the point. All three are functions
// of the input up to that record, so a replay rebuilds identically.
func (p *partition) rebuildIfDue(streamTime int64) (bool, error) {
	at := p.cfg.Segments.RebuildPoint(streamTime)
	if at <= 0 || (p.pop.Sealed() && at <= p.pop.SealedAt()) || at < p.meta.StreamTime {
		return false, nil
	}
	p.meta.StreamTime = at
	p.records++
	if err := p.flush(); err != nil {
		return false, err
	}
	// Two scans of the buyers index, holding nothing per buyer in memory:
	// the first feeds every buyer's values to the population (the other
	// users are only counted: they have no values and score none), the
	// second re-scores them against the new cuts. Nothing is written
	// between the two, so both read the same buyers.
	var buyers int64
	err := p.store.Buyers(p.id, func(_ []byte, b *record.Buyer) error {
		p.pop.Add(b.Values(at))
		buyers++
		return nil
	})
	if err != nil {
		p.pop.Abort()
		return false, err
	}
	p.pop.AddNonBuyers(storedUsers(&p.meta) - buyers)
	p.pop.Seal(at)
	cuts, err := json.Marshal(p.pop.Cuts())
	if err != nil {
		return false, err
	}
	var ids []string
	err = p.store.Buyers(p.id, func(id []byte, b *record.Buyer) error {
		if p.pop.Score(b.Values(at), b.Segment).Segment != b.Segment.Segment {
			ids = append(ids, string(id))
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	model := p.model.Load()
	for _, id := range ids {
		e, err := p.user(id)
		if err != nil {
			return false, err
		}
		// The timer index skips warning checks that would warn nothing
		// with the user's segment (wake); with the segment about to
		// change, fire them first, as an eager index would have.
		trs, ws := p.cfg.timers(p.trs[:0], p.ws[:0], &e.rec.User, &e.rec.Warn, e.rec.Segment, model, at)
		p.trs, p.ws = trs, ws
		if err := p.changed(e, trs, ws, change{now: at, rescore: true, reason: "population rebuilt"}); err != nil {
			return false, err
		}
		if len(p.pending) >= p.cfg.BatchRecords {
			if err := p.flush(); err != nil {
				return false, err
			}
			crashPointAfter(crashRebuilding, func() { p.store.Sync() })
		}
	}
	// The new cuts are stored with the last of the re-scored users, not
	// before: a crash between the batches above leaves the old cuts, and
	// the rebuild is done again at restart. The users already re-scored
	// keep their segment then (scoring again under the same cuts changes
	// nothing), and the others get theirs, as if there had been no crash.
	p.meta.Population = cuts
	p.records++
	return true, p.flush()
}

// user returns the entry of user id for the open batch: decoded from the
// cache, read from Pebble, or new.
func (p *partition) user(id string) (*entry, error) {
	if e, ok := p.hot[id]; ok {
		return e, nil
	}
	e := &entry{id: id}
	if b, ok := p.cold[id]; ok {
		rec, err := record.DecodeUser(b)
		if err != nil {
			return nil, fmt.Errorf("processor: partition %d: cached user %q: %w", p.id, id, err)
		}
		e.rec, e.stored, e.cached = rec, true, true
	} else if p.known.mayHave(id) {
		rec, ok, err := p.store.User(p.id, id)
		if err != nil {
			return nil, fmt.Errorf("processor: partition %d: %w", p.id, err)
		}
		e.rec, e.stored = rec, ok
	} else {
		p.known.add(id)
	}
	e.storedBuyer, _ = record.BuyerOf(&e.rec)
	// A new user, or one stored under another RFM window setting, gets a
	// purchase history of the window in force.
	e.rec.Window = p.cfg.Segments.Refit(e.rec.Window)
	e.storedWake = e.rec.Wake
	p.hot[id] = e
	return e, nil
}

// storedUsers is the number of users a partition's store holds, from its
// metadata: each was counted in a stage at its first event (a user is
// stored only with a transition out of none), and a restore counts them
// again.
func storedUsers(m *record.Meta) int64 {
	var n int64
	for _, c := range m.Stages {
		n += c
	}
	return n
}

// dirtyBatch reports whether anything waits to be committed.
func (p *partition) dirtyBatch() bool { return p.records > 0 || len(p.dirty) > 0 || len(p.pending) > 0 }

// commit writes the open batch (users, timers, outbox, offsets, stream time)
// to Pebble atomically and returns the job that sends its outputs.
func (p *partition) commit() (job, error) {
	j := job{from: p.meta.OutboxNext, outs: p.pending, changelog: make([]kafka.Message, 0, len(p.dirty)+1)}
	p.ids = p.ids[:0]
	for _, e := range p.dirty {
		// One encoding serves Pebble (which copies it), the changelog and
		// the cache; none of them changes it.
		enc := record.EncodeUser(e.rec)
		if err := p.batch.PutUserEncoded(e.id, enc, e.storedWake, e.rec.Wake); err != nil {
			return job{}, err
		}
		if b, ok := record.BuyerOf(&e.rec); ok && b != e.storedBuyer {
			if err := p.batch.PutBuyer(e.id, b); err != nil {
				return job{}, err
			}
			e.storedBuyer = b
		}
		if w := e.rec.Wake; w != 0 && w < p.timerFloor {
			p.timerFloor = w
		}
		j.changelog = append(j.changelog, userRecord(p.cfg.Topics.Changelog, p.id, e.id, enc))
		p.ids = append(p.ids, e.id)
		p.cold[e.id] = enc
		e.storedWake, e.dirty, e.stored, e.cached = e.rec.Wake, false, true, true
	}
	p.dirty = p.dirty[:0]
	for _, o := range p.pending {
		if err := p.batch.PutOutput(p.meta.OutboxNext, o); err != nil {
			return job{}, err
		}
		p.meta.OutboxNext++
	}
	j.to = p.meta.OutboxNext
	j.offsets = maps.Clone(p.meta.Offsets)
	p.meta.Commits++
	// Metadata goes last: a restore that sees it has seen the whole batch.
	j.changelog = append(j.changelog, metaRecord(p.cfg.Topics.Changelog, p.id, p.meta))
	if err := p.batch.PutMeta(p.meta); err != nil {
		return job{}, err
	}
	// The marker of what the changelog does not have yet, in the same
	// atomic write (state/unlogged.go).
	if err := p.batch.PutUnlogged(p.unloggedNext, p.ids); err != nil {
		return job{}, err
	}
	j.logFrom = p.unloggedNext
	p.unloggedNext++
	j.logTo = p.unloggedNext
	p.ids = p.ids[:0]
	if err := p.batch.Commit(); err != nil {
		return job{}, err
	}
	p.pending, p.records = nil, 0
	p.stats.setMeta(&p.meta)
	if p.known.full() {
		// Every user of the batch that needs to be known is stored now (a
		// new user left unchanged is not, and is added again if it returns).
		known, err := loadKnownUsers(p.store, p.id, p.known.added)
		if err != nil {
			return job{}, fmt.Errorf("processor: partition %d: %w", p.id, err)
		}
		p.known = known
	}
	p.cool()
	return j, nil
}

// dueTimers fires the timers of quiet users that stream time has passed, in
// the order of the timer index, and reports whether it changed anything.
// Users with events fire their own timers before each event (rules.Apply),
// so firing the rest at commit time gives the same outputs whatever the
// batch boundaries are.
func (p *partition) dueTimers() (bool, error) {
	const limit = 4096
	due, err := p.store.DueTimers(p.id, p.timerFloor, p.meta.StreamTime, limit)
	if err != nil || len(due) == 0 {
		return false, err
	}
	// Everything below the next floor is handled by this pass; the new
	// wake times it produces lower the floor again when committed.
	if len(due) < limit {
		p.timerFloor = p.meta.StreamTime
	} else {
		p.timerFloor = due[len(due)-1].Wake
	}
	progress := false
	for _, t := range due {
		e, err := p.user(t.UserID)
		if err != nil {
			return false, err
		}
		if e.storedWake != t.Wake {
			// Left behind by an older build; the user's real entry is elsewhere.
			if err := p.batch.DeleteTimer(t); err != nil {
				return false, err
			}
			continue
		}
		trs, ws := p.cfg.timers(p.trs[:0], p.ws[:0], &e.rec.User, &e.rec.Warn, e.rec.Segment, p.model.Load(), p.meta.StreamTime)
		p.trs, p.ws = trs, ws
		if err := p.changed(e, trs, ws, change{now: p.meta.StreamTime}); err != nil {
			return false, err
		}
		// Only a change is progress: an entry that fires nothing and keeps
		// its wake time must not make flush loop.
		progress = progress || len(trs) > 0 || len(ws) > 0 || e.rec.Wake != t.Wake
	}
	return progress || len(due) == limit, nil
}

// cool ends the batch's hold on its users after a commit: each stored one
// is cached in its stored form, and the cache is cut back when it is over
// its bound (MaxUsersCached); users dropped are read back from Pebble when
// they next appear.
func (p *partition) cool() {
	for id, e := range p.hot {
		if e.stored && !e.cached {
			p.cold[id] = record.EncodeUser(e.rec)
		}
	}
	clear(p.hot)
	if len(p.cold) <= p.cfg.MaxUsersCached {
		return
	}
	target := p.cfg.MaxUsersCached * 9 / 10
	for id := range p.cold {
		if len(p.cold) <= target {
			break
		}
		delete(p.cold, id)
	}
}

// idleAdvance moves stream time up to the wall clock minus the allowed
// lateness, when the setting is on and every input is caught up.
func (p *partition) idleAdvance(now time.Time) bool {
	if !p.cfg.IdleAdvance {
		return false
	}
	t := now.Add(-p.cfg.AllowedLateness).UnixMilli()
	if t <= p.meta.StreamTime {
		return false
	}
	p.meta.StreamTime = t
	p.records++ // the new stream time must be committed
	return true
}

// streamJumpLogged is the advance of stream time by one event above which
// it is logged and counted (lifecycle_stream_time_jumps_total).
const streamJumpLogged = 7 * 24 * time.Hour

var errFetcherStopped = errors.New("processor: a fetcher stopped")

// fetchStallLimit is how long the merge may wait for records known to
// exist before it replaces their readers (merger.restartStalled). Longer
// than kafka-go's own fetch timeout (10 s), so that a slow broker is not
// taken for a hung reader.
const fetchStallLimit = 15 * time.Second

// flush commits the open batch, hands it to the sender, and fires the
// timers that stream time has passed, committing again until none is left.
func (p *partition) flush() error {
	for {
		j, err := p.commit()
		if err != nil {
			return err
		}
		crashPoint(crashCommitted)
		if err := p.send(j); err != nil {
			return err
		}
		if p.afterCommit != nil {
			p.afterCommit()
		}
		fired, err := p.dueTimers()
		if err != nil || !fired {
			return err
		}
	}
}

// loop is the partition's run loop: merge the inputs in event-time order,
// apply records, commit a batch when it is full or when the input has
// nothing more to give at once, fire overdue timers after each commit, and
// hand each committed batch to the sender.
//
// send must not give up when ctx ends: a committed batch whose job is lost
// would be sent after newer ones, out of order (it gives up only when the
// shutdown deadline passes).
func (p *partition) loop(ctx context.Context, m *merger, notify <-chan struct{}, send func(job) error) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	p.send = send
	commitAndFire := p.flush
	// linger bounds how long a batch waits for records still on their way.
	const linger = 5 * time.Millisecond
	lingerT := time.NewTimer(time.Hour)
	defer lingerT.Stop()
	var lingerStart time.Time
	// Timers may be overdue already: the last run can have stopped (or
	// crashed) after a commit and before its timer pass, and without new
	// records nothing else would fire them.
	if err := commitAndFire(); err != nil {
		return err
	}
	for {
		m.poll()
		p.reportLost(m)
		if it := m.pop(); it != nil {
			if err := p.apply(it); err != nil {
				return err
			}
			if p.records >= p.cfg.BatchRecords {
				if err := commitAndFire(); err != nil {
					return err
				}
				lingerStart = time.Time{}
				// With a backlog the loop never waits; stop here when asked.
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			continue
		}
		if m.closed && ctx.Err() == nil {
			return errFetcherStopped
		}
		// Nothing can be applied without waiting. When the input is read to
		// its end, commit at once, so outputs leave as soon as it pauses;
		// when a topic still has records on their way, give them a moment
		// (linger) rather than commit a small batch.
		var lingerC <-chan time.Time
		if p.dirtyBatch() {
			if lingerStart.IsZero() {
				lingerStart = time.Now()
			}
			wait := linger - time.Since(lingerStart)
			if m.caughtUp() || wait <= 0 {
				if err := commitAndFire(); err != nil {
					return err
				}
				lingerStart = time.Time{}
				continue
			}
			lingerT.Reset(wait)
			lingerC = lingerT.C
		}
		select {
		case <-notify:
		case <-lingerC:
		case now := <-tick.C:
			if m.stalled(now, fetchStallLimit) {
				topics, err := m.restartStalled()
				if err != nil {
					return fmt.Errorf("processor: replacing a stalled reader: %w", err)
				}
				p.reportLost(m)
				if len(topics) > 0 {
					p.log.Warn("fetching stalled: records the high watermark promised have not arrived; reading again with new readers",
						zap.Duration("waited", fetchStallLimit), zap.Strings("topics", topics))
				}
			}
			if m.caughtUp() && p.idleAdvance(now) {
				if _, err := p.rebuildIfDue(p.meta.StreamTime); err != nil {
					return err
				}
				if err := commitAndFire(); err != nil {
					return err
				}
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// reportLost logs and counts the input records the merge found deleted by
// the broker before they were read. Nothing can bring them back; the
// error and lifecycle_input_records_lost_total say so.
func (p *partition) reportLost(m *merger) {
	for _, l := range m.lost {
		p.stats.lost.Add(l.to - l.from)
		p.log.Error("input records lost: the broker deleted them (retention) before they were read; going on from the first record it still has. Raise the topic's retention.ms, or produce backfills with the send time as the Kafka timestamp",
			zap.String("topic", l.topic), zap.Int64("from_offset", l.from), zap.Int64("to_offset", l.to), zap.Int64("records", l.to-l.from))
	}
	m.lost = m.lost[:0]
}

// shutdown commits what the partition has applied, so a clean stop loses no
// work and the next start resumes exactly after it.
func (p *partition) shutdown(send func(job) error) error {
	defer p.batch.Close()
	crashPoint(crashRevoking)
	if !p.dirtyBatch() {
		return nil
	}
	j, err := p.commit()
	if err != nil {
		return err
	}
	return send(j)
}
