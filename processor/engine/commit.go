package engine

import (
	"fmt"
	"maps"

	"github.com/lifecycle-engine/lifecycle/state/record"
)

// Flush commits the open batch, hands it to the sink, and fires the timers
// that stream time has passed, committing again until none is left.
func (e *Engine) Flush() error {
	for {
		if err := e.commit(); err != nil {
			return err
		}
		fired, err := e.dueTimers()
		if err != nil || !fired {
			return err
		}
	}
}

// Close commits what the engine has applied, without firing timers, so
// that a clean stop loses no work and the next start resumes exactly after
// it. The engine is not used after.
func (e *Engine) Close() error {
	if !e.Dirty() {
		return nil
	}
	return e.commit()
}

// commit writes the open batch (users, timers, outbox, offsets, stream
// time) to the store atomically and hands it to the sink.
func (e *Engine) commit() error {
	w := &e.write
	w.Reset()
	w.StaleTimers = append(w.StaleTimers, e.stale...)
	e.stale = e.stale[:0]
	c := Commit{OutboxFrom: e.meta.OutboxNext, Outputs: e.pending, Users: make([]UserRecord, 0, len(e.dirty)), Rebuilding: e.rebuilding}
	for _, u := range e.dirty {
		// One encoding serves the store (which copies it), the changelog
		// and the cache; none of them changes it.
		enc := record.EncodeUser(u.rec)
		w.Users = append(w.Users, record.UserWrite{ID: u.id, Enc: enc, OldWake: u.storedWake, Wake: u.rec.Wake})
		if b, ok := record.BuyerOf(&u.rec); ok && b != u.storedBuyer {
			w.Buyers = append(w.Buyers, record.BuyerWrite{ID: u.id, Buyer: b})
			u.storedBuyer = b
		}
		if u.storedWake != u.rec.Wake {
			e.stats.TimerMoves.Add(1)
		}
		if wk := u.rec.Wake; wk != 0 {
			e.timerFloor, e.timerNext = min(e.timerFloor, wk), min(e.timerNext, wk)
		}
		c.Users = append(c.Users, UserRecord{ID: u.id, Enc: enc})
		e.cold.put(u.id, enc)
		u.storedWake, u.dirty, u.stored, u.cached = u.rec.Wake, false, true, true
	}
	// Cleared, not only cut: the array would keep the batch's decoded
	// entries (~650 bytes each) alive after cool() let go of them.
	clear(e.dirty)
	e.dirty = e.dirty[:0]
	w.Outputs, w.OutboxFrom = e.pending, e.meta.OutboxNext
	ret, err := e.ret.Changes(nil)
	if err != nil {
		return err
	}
	w.Retention, c.Retention = ret, ret
	e.meta.OutboxNext += uint64(len(e.pending))
	c.OutboxTo = e.meta.OutboxNext
	e.meta.Commits++
	e.meta.Rules = e.cfg.RulesID
	e.meta.Outcomes = e.outcomes.AppendBinary(nil) // a new slice: the store and the sink may keep the last one
	w.Meta = e.meta
	if err := e.store.Write(e.id, w); err != nil {
		return err
	}
	c.Meta = e.meta
	c.Meta.Offsets = maps.Clone(e.meta.Offsets)
	e.pending, e.records = nil, 0
	e.stats.setMeta(&e.meta)
	if e.known.full() {
		// Every user of the batch that needs to be known is stored now (a
		// new user left unchanged is not, and is added again if it returns).
		known, err := loadKnownUsers(e.store, e.id, e.known.added)
		if err != nil {
			return fmt.Errorf("engine: partition %d: %w", e.id, err)
		}
		e.known = known
	}
	e.cool()
	return e.sink(c)
}

// dueTimers fires the timers of quiet users that stream time has passed, in
// the order of the timer index, and reports whether it changed anything.
// Users with events fire their own timers before each event (rules.Apply),
// so firing the rest at commit time gives the same outputs whatever the
// batch boundaries are.
func (e *Engine) dueTimers() (bool, error) {
	if e.meta.StreamTime <= e.timerNext {
		return false, nil // nothing wakes before stream time
	}
	due, next, err := e.store.DueTimers(e.id, e.timerFloor, e.meta.StreamTime, passUsers)
	if err != nil {
		return false, err
	}
	// Everything below the next floor is handled by this pass; the new
	// wake times it produces lower the floor (and timerNext) again when
	// committed.
	if len(due) < passUsers {
		e.timerFloor, e.timerNext = e.meta.StreamTime, next
	} else {
		e.timerFloor, e.timerNext = due[len(due)-1].Wake, 0
	}
	if len(due) == 0 {
		return false, nil
	}
	if err := e.readAhead(timerUsers(due)); err != nil {
		return false, err
	}
	progress := false
	for _, t := range due {
		u, err := e.user(t.UserID)
		if err != nil {
			return false, err
		}
		if u.storedWake != t.Wake {
			// Left behind by an older build; the user's real entry is elsewhere.
			e.stale = append(e.stale, t)
			continue
		}
		fired, err := e.fire(u, e.meta.StreamTime, change{now: e.meta.StreamTime})
		if err != nil {
			return false, err
		}
		// Only a change is progress: an entry that fires nothing and keeps
		// its wake time must not make Flush loop.
		progress = progress || fired || u.rec.Wake != t.Wake
	}
	return progress || len(due) == passUsers, nil
}

// cool ends the batch's hold on its users after a commit: each stored one
// is cached in its stored form, and the cache is cut back when it is over
// its bound (MaxUsersCached); users dropped are read back from the store
// when they next appear.
func (e *Engine) cool() {
	for id, u := range e.hot {
		if u.stored && !u.cached {
			e.encoded = record.AppendUser(e.encoded[:0], u.rec)
			e.cold.put(id, e.encoded)
		}
	}
	clear(e.hot)
	if e.cold.len() > e.cfg.MaxUsersCached {
		e.cold.evictTo(e.cfg.MaxUsersCached * 9 / 10)
	}
	e.stats.CachedUsers.Store(int64(e.cold.len()))
	e.stats.CacheBytes.Store(int64(e.cold.bytes()))
}
