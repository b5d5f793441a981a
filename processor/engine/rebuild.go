package engine

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/lifecycle-engine/lifecycle/schemas"
	"github.com/lifecycle-engine/lifecycle/state/record"
	"go.uber.org/zap"
)

// rebuildIfDue rebuilds the RFM population when stream time reaches a new
// rebuild point (Segments.Refresh, in event time), before the record that
// reached it is applied. First every timer due before the point fires (with
// the old cuts), then the cuts are computed from every user's values at the
// point, then every user is re-scored at the point. All three are functions
// of the input up to that record, so a replay rebuilds identically.
func (e *Engine) rebuildIfDue(streamTime int64) (bool, error) {
	at := e.cfg.Segments.RebuildPoint(streamTime)
	if at <= 0 || (e.pop.Sealed() && at <= e.pop.SealedAt()) || at < e.meta.StreamTime {
		return false, nil
	}
	e.meta.StreamTime = at
	e.records++
	if err := e.Flush(); err != nil {
		return false, err
	}
	cuts, ids, grid, err := e.recut(at)
	if err != nil {
		return false, err
	}
	e.refreshWatch(at)
	e.rebuilding = true
	defer func() { e.rebuilding = false }()
	for chunk := range slices.Chunk(ids, passUsers) {
		if err := e.readAhead(slices.Values(chunk)); err != nil {
			return false, err
		}
		for _, id := range chunk {
			u, err := e.user(id)
			if err != nil {
				return false, err
			}
			// The timer index skips warning checks that would warn nothing
			// with the user's segment (wake); with the segment about to
			// change, fire them first, as an eager index would have.
			if _, err := e.fire(u, at, change{now: at, rescore: true, reason: "population rebuilt"}); err != nil {
				return false, err
			}
			if len(e.pending) >= e.cfg.BatchRecords {
				if err := e.Flush(); err != nil {
					return false, err
				}
			}
		}
	}
	// The new cuts are stored with the last of the re-scored users, not
	// before: a crash between the batches above leaves the old cuts, and
	// the rebuild is done again at restart. The users already re-scored
	// keep their segment then (scoring again under the same cuts changes
	// nothing), and the others get theirs, as if there had been no crash.
	e.rebuilding = false
	e.meta.Population = cuts
	e.ret.SetRFM(grid)
	e.records++
	return true, e.Flush()
}

// recut computes the cuts at time at and returns them (stored form) with
// the buyers whose segment they change and the R×F grid of every buyer's
// new score. Two scans of the buyers index,
// holding nothing per buyer in memory: the first feeds every buyer's
// values to the population (the other users are only counted: they have
// no values and score none), the second re-scores them against the new
// cuts. Nothing is written between the two, so both read the same buyers.
func (e *Engine) recut(at int64) (cuts []byte, ids []string, grid schemas.MetricsRFM, err error) {
	var buyers int64
	err = e.store.Buyers(e.id, func(_ []byte, b *record.Buyer) error {
		e.pop.Add(b.Values(at))
		buyers++
		return nil
	})
	if err != nil {
		e.pop.Abort()
		return nil, nil, grid, err
	}
	grid.Rebuilt, grid.NonBuyers = schemas.FormatTime(at), StoredUsers(&e.meta)-buyers
	e.pop.AddNonBuyers(StoredUsers(&e.meta) - buyers)
	e.pop.Seal(at)
	if cuts, err = json.Marshal(e.pop.Cuts()); err != nil {
		return nil, nil, grid, err
	}
	err = e.store.Buyers(e.id, func(id []byte, b *record.Buyer) error {
		v := b.Values(at)
		s := e.pop.Score(v, b.Segment)
		rfmGrid(&grid, s, v)
		if s.Segment != b.Segment.Segment {
			ids = append(ids, string(id))
		}
		return nil
	})
	return cuts, ids, grid, err
}

// refreshWatch lets the partition's outcomes choose the warnings' watch
// level at the rebuild point at, and logs a change: operators see what
// their population's departures asked for.
func (e *Engine) refreshWatch(at int64) {
	was, _, _ := e.outcomes.Watch()
	e.outcomes.Refresh(at, e.cfg.Warnings.Recall)
	now, since, ok := e.outcomes.Watch()
	if ok {
		e.stats.setWatch(now)
	}
	if ok && since == at && now != was {
		e.log.Info("churn warnings: watch level chosen from this partition's departures",
			zap.Int32("partition", e.id), zap.Float64("risk", now), zap.Float64("was", was),
			zap.Uint64("departures", e.outcomes.Departures()), zap.String("at", schemas.FormatTime(at)))
	}
}

// passDays lets the partition's outcomes judge the days that stream time
// st passes (warnings.Outcomes.PassDays): a day far quieter than usual is
// a break, left out of every silence from then on. Every check due before
// the stream time already passed fires first, with the breaks as they
// were, so the outputs are the same whatever the batching: the judgment
// comes at the same point of the input in every run. It reports whether
// that firing committed.
func (e *Engine) passDays(st int64) (committed bool, err error) {
	if e.cfg.Warnings.NoBreakDetection || !e.outcomes.DaysPassed(st) {
		return false, nil
	}
	if committed, err = e.fireDue(e.meta.StreamTime); err != nil {
		return committed, err
	}
	seen := e.outcomes.PassDays(st, e.cfg.Warnings.Breaks)
	for _, d := range seen {
		e.stats.BreakDays.Add(1)
		e.log.Info("churn warnings: a break seen in this partition's activity; its time is not counted in silences",
			zap.Int32("partition", e.id), zap.String("day", time.UnixMilli(d.From).UTC().Format(time.DateOnly)))
	}
	e.stats.setBreaks(e.outcomes.SeenBreaks()) // once a day: new ones, or old ones dropped
	return committed, nil
}
