package engine

import (
	"github.com/lifecycle-engine/lifecycle/processor/rules"
	"github.com/lifecycle-engine/lifecycle/processor/segments"
	"github.com/lifecycle-engine/lifecycle/schemas"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

// publishIfDue publishes the retention records that changed since the
// last boundary when streamTime reaches a new one (the end of a UTC day of
// event time),
// before the record that reached it is applied: first every timer due
// before the boundary fires (a commit), so that what is published is the
// same function of the input whatever the commit boundaries, as an RFM
// rebuild is. It reports whether it committed.
func (e *Engine) publishIfDue(streamTime int64) (bool, error) {
	if e.cfg.Topics.Metrics == "" {
		return false, nil
	}
	b, ok := e.ret.Due(streamTime)
	if !ok {
		return false, nil
	}
	if b > e.meta.StreamTime {
		e.meta.StreamTime = b
	}
	e.records++
	if err := e.Flush(); err != nil {
		return false, err
	}
	pubs, err := e.ret.Publish(e.id, b, e.stageCounts(), e.cfg.Stamp)
	if err != nil {
		return false, err
	}
	for _, p := range pubs {
		e.pending = append(e.pending, record.Output{Topic: e.cfg.Topics.Metrics, Key: []byte(p.Key), Value: p.Value,
			Headers: []record.Header{
				{Key: schemas.HeaderID, Value: []byte(p.ID)},
				{Key: schemas.HeaderSchema, Value: []byte(schemas.SchemaMetricsV1)},
			}})
	}
	return true, nil
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
