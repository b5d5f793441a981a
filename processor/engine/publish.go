package engine

import (
	"github.com/lifecycle-engine/lifecycle/processor/rules"
	"github.com/lifecycle-engine/lifecycle/processor/segments"
	"github.com/lifecycle-engine/lifecycle/schemas"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

// publishIfDue publishes the retention records that changed since the
// last boundary when streamTime reaches a new one (the end of a UTC day of
// event time), before the record that reached it is applied: first every
// timer due before the boundary fires (fireDue), so that what is
// published is the same function of the input whatever the commit
// boundaries, as an RFM rebuild is. The records go with the open batch;
// it reports whether it committed (fireDue).
func (e *Engine) publishIfDue(streamTime int64) (committed bool, err error) {
	if e.cfg.Topics.Metrics == "" {
		return false, nil
	}
	b, ok := e.ret.Due(streamTime)
	if !ok {
		return false, nil
	}
	e.meta.StreamTime = max(e.meta.StreamTime, b)
	if committed, err = e.fireDue(b); err != nil {
		return committed, err
	}
	pubs, err := e.ret.Publish(e.id, b, e.stageCounts(), e.cfg.Stamp)
	if err != nil {
		return committed, err
	}
	e.stats.MetricsRecords.Add(int64(len(pubs)))
	for _, p := range pubs {
		e.pending = append(e.pending, record.Output{Topic: e.cfg.Topics.Metrics, Key: []byte(p.Key), Value: p.Value,
			Headers: []record.Header{
				{Key: schemas.HeaderID, Value: []byte(p.ID)},
				{Key: schemas.HeaderSchema, Value: []byte(schemas.SchemaMetricsV1)},
			}})
	}
	return committed, nil
}

// fireDue fires every timer due before t (stream time) without committing
// (a commit per boundary would cut a backlog's batches small:
// BENCHMARKS.md): those of the open batch's changed users from their
// records in memory, those of the others from the store's timer index,
// whose entries for the changed users are stale until the commit. The users fired
// join the open batch. With more due entries than one read of the index
// takes, it commits and fires the rest as Flush does (committed true).
func (e *Engine) fireDue(t int64) (committed bool, err error) {
	// The batch's changed users, in the order they changed (firing them
	// adds none: they are marked already).
	for _, u := range e.dirty {
		if u.rec.Wake != 0 && u.rec.Wake < t {
			if _, err := e.fire(u, t, change{now: t}); err != nil {
				return false, err
			}
		}
	}
	var due []record.Timer
	if t > e.timerNext { // else nothing in the index wakes before t
		if due, _, err = e.store.DueTimers(e.id, e.timerFloor, t, passUsers); err != nil {
			return false, err
		}
	}
	if len(due) == passUsers {
		return true, e.Flush()
	}
	if err := e.readAhead(timerUsers(due)); err != nil {
		return false, err
	}
	for _, d := range due {
		if u, ok := e.hot[d.UserID]; ok && u.dirty {
			continue // fired above; its index entry moves with the commit
		}
		u, err := e.user(d.UserID)
		if err != nil {
			return false, err
		}
		if u.storedWake != d.Wake {
			continue // left behind by an older build (dueTimers deletes it)
		}
		if _, err := e.fire(u, t, change{now: t}); err != nil {
			return false, err
		}
	}
	return false, nil
}

// stageCounts are the partition's users per stage and segment now.
func (e *Engine) stageCounts() schemas.MetricsStages {
	s := schemas.MetricsStages{Stages: map[string]int64{}, Segments: map[string]int64{}}
	for _, st := range rules.Stages[1:] {
		s.Stages[st.String()] = e.meta.Stages[st]
	}
	for i, n := range e.meta.Segments {
		s.Segments[segments.Segment(i).String()] = n
	}
	return s
}

// rfmGrid adds a buyer's score and monetary value to g.
func rfmGrid(g *schemas.MetricsRFM, s segments.Score, v segments.Values) {
	if s.IsNone() {
		return
	}
	g.Users[s.R-1][s.F-1]++
	g.Monetary[s.R-1][s.F-1] = schemas.AddSat(g.Monetary[s.R-1][s.F-1], int64(v.Monetary))
}
