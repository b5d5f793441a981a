package engine

import (
	"errors"
	"fmt"
	"iter"
	"time"

	"go.uber.org/zap"

	"github.com/lifecycle-engine/lifecycle/processor/rules"
	"github.com/lifecycle-engine/lifecycle/processor/segments"
	"github.com/lifecycle-engine/lifecycle/processor/warnings"
	"github.com/lifecycle-engine/lifecycle/schemas"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

// Apply applies one input record. Records below the stored offset were
// applied before (a replay after a crash or rebalance) and change nothing;
// so does a re-sent event id. A rejected record (in.Err) becomes a dead
// letter. A record that reaches an RFM rebuild point commits the open
// batch and the rebuild's batches first (rebuildIfDue).
func (e *Engine) Apply(in *Input) error {
	topic := e.cfg.Topics.Inputs[in.Topic]
	if in.Marker {
		// Stored with the batch, so the group's committed offset (lag
		// monitoring) and the next start are past it, as a Kafka
		// consumer's position is.
		if in.Offset >= e.meta.Offsets[topic] {
			e.meta.Offsets[topic] = in.Offset + 1
			e.records++
		}
		return nil
	}
	if in.Offset < e.meta.Offsets[topic] {
		e.stats.Skipped.Add(1)
		return nil
	}
	// consumed marks the record as applied in the open batch. It must come
	// after any commit made on the record's behalf (a rebuild), or a crash
	// there would store the record as applied before it was.
	consumed := func() {
		e.meta.Offsets[topic] = in.Offset + 1
		e.records++
	}
	if in.Err != nil {
		consumed()
		if rej, ok := errors.AsType[*schemas.RejectError](in.Err); ok && rej.Reason == schemas.ReasonIgnored {
			// An input mapping's ignore: the record is read, counted and
			// deliberately not applied, nor dead-lettered.
			e.stats.Ignored.Add(1)
			return nil
		}
		e.pending = append(e.pending, dlqOutput(e.cfg.Topics.DLQ, in, topic, e.cfg.DLQMaxBytes))
		e.stats.Rejected.Add(1)
		e.log.Debug("record rejected", zap.String("topic", topic), zap.Int64("offset", in.Offset), zap.Error(in.Err))
		return nil
	}
	ev := in.Event
	u, err := e.user(ev.UserID)
	if err != nil {
		return err
	}
	if in.Offset < u.rec.Offsets[in.Topic] {
		// The user's record is ahead of the partition's metadata (restored
		// from a changelog whose last batch arrived only in part).
		consumed()
		e.stats.Skipped.Add(1)
		return nil
	}
	if u.rec.User.IsDuplicate(ev.ID) {
		consumed()
		e.stats.Duplicates.Add(1)
		return nil
	}
	streamTime := max(e.meta.StreamTime, ev.Time)
	if e.meta.StreamTime > 0 && streamTime-e.meta.StreamTime > streamJumpLogged.Milliseconds() {
		// Every quiet user's timers up to the new time fire now: worth a
		// line and a count, though the event passed the future check.
		e.stats.StreamJumps.Add(1)
		e.log.Warn("stream time jumped ahead", zap.String("topic", topic), zap.Int64("offset", in.Offset),
			zap.Time("from", time.UnixMilli(e.meta.StreamTime).UTC()), zap.Time("to", time.UnixMilli(streamTime).UTC()))
	}
	passed, err := e.passDays(streamTime)
	if err != nil {
		return err
	}
	rebuilt, err := e.rebuildIfDue(streamTime)
	if err != nil {
		return err
	}
	committed, err := e.publishIfDue(streamTime)
	if err != nil {
		return err
	}
	if passed || rebuilt || committed {
		if u, err = e.user(ev.UserID); err != nil { // the commit may have evicted it
			return err
		}
	}
	consumed()
	// Before the rules move LastActivity and the stage.
	e.ret.Event(&u.rec.Activity, u.rec.User.LastActivity, u.rec.User.Stage == rules.None, ev.Time)
	e.outcomes.Visit(u.rec.User.LastActivity, ev.Time)
	model := e.cfg.Model.Load()
	// The user's overdue timers first, in due-time order; then the event.
	trs, ws := e.cfg.timers(e.trs[:0], e.ws[:0], &u.rec, model, e.outcomes, streamTime)
	trs, _ = e.cfg.Rules.Apply(trs, &u.rec.User, ev, streamTime)
	e.stats.Applied.Add(1)
	e.meta.StreamTime = streamTime
	u.rec.Offsets[in.Topic] = in.Offset + 1

	rescore := false
	if ev.Type == schemas.Purchase {
		// The audit field: this purchase as sent when it was converted
		// from another currency, zero when it was in the accounting one.
		u.rec.LastOriginal = ev.Original
		if u.rec.Window.Span > 0 {
			u.rec.Window.Add(ev.Time, ev.Amount)
		}
		rescore = true // F, M and R move only with purchases (and at rebuilds)
	}
	var buf [4]warnings.Warning
	for _, w := range e.cfg.WarningsFor(model, e.outcomes).OnEvent(buf[:0], &u.rec.Warn, ev, warnContext(&u.rec, model)) {
		ws = append(ws, staged(w, &u.rec.User))
	}
	// An old event can leave timers overdue at once.
	trs, ws = e.cfg.timers(trs, ws, &u.rec, model, e.outcomes, streamTime)
	e.trs, e.ws = trs, ws
	return e.changed(u, trs, ws, change{now: streamTime, rescore: rescore, trigger: ev.ID, reason: "purchase"})
}

// change says what moved a user, for the outputs it causes.
type change struct {
	now     int64  // event time of the change
	rescore bool   // re-compute the RFM score
	trigger string // event id, "" for timers and rebuilds
	reason  string // why the segment may have moved
}

// fire fires u's timers that time at has passed and records the change.
func (e *Engine) fire(u *entry, at int64, c change) (fired bool, err error) {
	trs, ws := e.cfg.timers(e.trs[:0], e.ws[:0], &u.rec, e.cfg.Model.Load(), e.outcomes, at)
	e.trs, e.ws = trs, ws
	return len(trs) > 0 || len(ws) > 0, e.changed(u, trs, ws, c)
}

// changed records that u's state moved, with the transitions and warnings
// that came with it, and re-scores the user's RFM segment when asked.
func (e *Engine) changed(u *entry, trs []rules.Transition, ws []stagedWarning, c change) error {
	e.markDirty(u)
	model := e.cfg.Model.Load()
	for _, tr := range trs {
		o, err := transitionOutput(e.cfg.Topics.Transitions, u.id, tr, predictAt(model, e.cfg.Prediction, tr.Buys, tr.At), e.cfg.Stamp)
		if err != nil {
			return err
		}
		e.pending = append(e.pending, o)
		if tr.From != rules.None {
			e.meta.Stages[tr.From]--
		} else {
			e.meta.Segments[segments.None]++ // a new user, not scored yet (rescore moves it)
		}
		e.meta.Stages[tr.To]++
		e.ret.Transition(tr.From, tr.To, tr.At)
		e.stats.Transitions.Add(1)
		e.stats.recent(u.id, tr)
	}
	for _, w := range ws {
		o, err := warningOutput(e.cfg.Topics.Warnings, u.id, w, u.rec.Segment, e.cfg.Stamp)
		if err != nil {
			return err
		}
		e.pending = append(e.pending, o)
		e.stats.Warnings.Add(1)
		for _, r := range w.Reasons {
			e.ret.Warning(w.Level.String(), r.Code, w.At)
		}
	}
	if c.rescore {
		if err := e.rescore(u, c); err != nil {
			return err
		}
	}
	u.rec.Wake = e.wake(u)
	return nil
}

// markDirty queues u for the next commit.
func (e *Engine) markDirty(u *entry) {
	if !u.dirty {
		u.dirty = true
		e.dirty = append(e.dirty, u)
	}
}

// wake is the earliest timer of the stage model and of the warnings.
func (e *Engine) wake(u *entry) int64 {
	a := e.cfg.Rules.Wake(&u.rec.User)
	m := e.cfg.Model.Load()
	b := e.cfg.WarningsFor(m, e.outcomes).Wake(&u.rec.Warn, warnContext(&u.rec, m))
	switch {
	case a == 0:
		return b
	case b == 0:
		return a
	}
	return min(a, b)
}

// rescore scores u against the cuts in effect and, when the named segment
// changed, stores the score and publishes the change. The 125-cell code
// alone moving is not stored: every user would be rewritten at every
// rebuild for a detail that the HTTP read side computes fresh.
func (e *Engine) rescore(u *entry, c change) error {
	prev := u.rec.Segment
	r := &u.rec
	s := e.pop.Score(r.Window.Values(c.now, r.User.LastPurchase, r.User.Purchases, r.User.Spend), prev)
	if s.Segment == prev.Segment {
		return nil
	}
	u.rec.Segment = s
	e.meta.Segments[prev.Segment]--
	e.meta.Segments[s.Segment]++
	e.markDirty(u)
	if s.IsNone() {
		return nil
	}
	o, err := segmentOutput(e.cfg.Topics.Segments, u.id, prev, s, c, &u.rec.User, e.cfg.Stamp)
	if err != nil {
		return err
	}
	e.pending = append(e.pending, o)
	e.stats.SegmentChanges.Add(1)
	return nil
}

// user returns the entry of user id for the open batch: decoded from the
// cache, read from the store, or new.
func (e *Engine) user(id string) (*entry, error) {
	if u, ok := e.hot[id]; ok {
		return u, nil
	}
	var rec record.User
	stored, cached := false, false
	if b, ok := e.cold.get(id); ok {
		r, err := record.DecodeUser(b)
		if err != nil {
			return nil, fmt.Errorf("engine: partition %d: cached user %q: %w", e.id, id, err)
		}
		rec, stored, cached = r, true, true
	} else if e.known.mayHave(id) {
		r, ok, err := e.store.User(e.id, id)
		if err != nil {
			return nil, fmt.Errorf("engine: partition %d: %w", e.id, err)
		}
		rec, stored = r, ok
		e.countRead(ok)
	} else {
		e.known.add(id)
	}
	return e.admit(id, rec, stored, cached), nil
}

// admit makes user id, with its record as read, part of the open batch.
func (e *Engine) admit(id string, rec record.User, stored, cached bool) *entry {
	u := &entry{id: id, rec: rec, stored: stored, cached: cached}
	u.storedBuyer, _ = record.BuyerOf(&u.rec)
	// A new user, or one stored under another RFM window setting, gets a
	// purchase history of the window in force.
	u.rec.Window = e.cfg.Segments.Refit(u.rec.Window)
	u.storedWake = u.rec.Wake
	e.hot[id] = u
	return u
}

func (e *Engine) countRead(found bool) {
	e.stats.StoreReads.Add(1)
	if !found {
		e.stats.StoreMisses.Add(1)
	}
}

// passUsers is the most users a timer pass, or one read-ahead of a
// rebuild, takes from the store at once (and holds decoded in the batch).
const passUsers = 4096

// readAhead reads the users among ids (a timer pass's, or a rebuild's)
// that are in neither the batch nor the cache from the store at once, in
// key order (Store.ReadUsers), where user would look each up on its own:
// with a population larger than the cache most of a pass's users are read,
// and a lookup each was the largest cost that grows with the population
// (BENCHMARKS.md, "Reading a timer pass's users in key order").
func (e *Engine) readAhead(ids iter.Seq[string]) error {
	read := e.readIDs[:0]
	for id := range ids {
		if _, hot := e.hot[id]; !hot && !e.cold.has(id) && e.known.mayHave(id) {
			read = append(read, id)
		}
	}
	e.readIDs = read
	if len(read) < 2 {
		return nil // user reads it as cheaply
	}
	err := e.store.ReadUsers(e.id, read, func(id string, r record.User, ok bool) error {
		e.countRead(ok)
		e.admit(id, r, ok, false)
		return nil
	})
	if err != nil {
		return fmt.Errorf("engine: partition %d: %w", e.id, err)
	}
	return nil
}

// timerUsers yields the users of due, for readAhead.
func timerUsers(due []record.Timer) iter.Seq[string] {
	return func(yield func(string) bool) {
		for _, t := range due {
			if !yield(t.UserID) {
				return
			}
		}
	}
}
