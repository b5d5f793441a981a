package quality

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/lifecycle-engine/lifecycle/processor/engine"
	"github.com/lifecycle-engine/lifecycle/processor/offline"
	"github.com/lifecycle-engine/lifecycle/processor/rules"
	"github.com/lifecycle-engine/lifecycle/processor/warnings"
	"github.com/lifecycle-engine/lifecycle/schemas"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

// Config configures an evaluation: the engine as `lifecycle run` would run
// it, the input topics' partition count, and the scoring window.
type Config struct {
	Engine        engine.Config // defaults applied; BatchRecords and MaxUsersCached only change speed
	Partitions    int32
	Decoder       schemas.DecoderConfig
	MaxFutureSkew time.Duration // as run's --max-future-skew
	// Horizon: a warning at t is a true positive when the user's true
	// dropout is in (t − Grace, t + Horizon]. Default ChurnAfter + 14 days.
	Horizon time.Duration
	// Grace: how long after a true dropout a warning still counts (it still
	// comes before the stage model declares the churn, which is at most
	// ChurnAfter after the user's last event). Default ChurnAfter.
	Grace time.Duration
	// Sweep: a generated population also scores the product's risk at
	// one level per threshold, as its oracle is scored (Report.Sweep);
	// it runs the engine once more per threshold.
	Sweep bool
	// WarmUp leaves the first stretch of the data out of the scores: the
	// warnings before the first event time + WarmUp, the users who left
	// before it, and stayers' time before it. A population generated as a
	// cohort starts every partition cold (its watch level at the prior
	// until enough departures); a deployment that has run for months, or
	// backfilled, does not. 0: everything is scored.
	WarmUp time.Duration
}

// DefaultHorizonMargin is added to ChurnAfter for the default Horizon.
const DefaultHorizonMargin = 14 * 24 * time.Hour

func (c Config) withDefaults() Config {
	if c.Horizon == 0 {
		c.Horizon = c.Engine.Rules.ChurnAfter + DefaultHorizonMargin
	}
	if c.Grace == 0 {
		c.Grace = c.Engine.Rules.ChurnAfter
	}
	return c
}

// Record is an input record as a producer sends it (package offline).
type Record = offline.Record

// Evaluation runs input records through the engine (package offline:
// exactly as `lifecycle run` applies them from Kafka) and scores the
// warnings it writes to the warnings topic, as a consumer of that topic
// would read them.
type Evaluation struct {
	cfg    Config
	run    *offline.Runner
	obs    observations
	future int64 // records dead-lettered as future_timestamp (Future)
}

// New returns an empty evaluation of cfg.
func New(cfg Config) (*Evaluation, error) {
	run, err := offline.New(offline.Config{Engine: cfg.Engine, Partitions: cfg.Partitions, Decoder: cfg.Decoder, MaxFutureSkew: cfg.MaxFutureSkew})
	if err != nil {
		return nil, err
	}
	return &Evaluation{cfg: cfg.withDefaults(), run: run, obs: observations{users: map[string]*observed{}}}, nil
}

// Add queues a record, as a producer appends it to its topic's partition.
func (e *Evaluation) Add(r Record) {
	var re *schemas.RejectError
	switch in := e.run.Add(r); {
	case in == nil: // outside the evaluated span
	case in.Err == nil:
		e.obs.event(&in.Event)
	case errors.As(in.Err, &re) && re.Reason == schemas.ReasonFutureTimestamp:
		e.future++
	}
}

// Future is how many records Add was given whose ts lay further ahead
// than MaxFutureSkew of the wall clock (records without a Time, as from
// an NDJSON file) or of their Time: they are dead-lettered, as "run"
// would, so the data ends before them.
func (e *Evaluation) Future() int64 { return e.future }

// Run applies every queued record and, when until is after a partition's
// stream time, advances it there (as idle advance would, firing the
// timers due before it; 0: no advance, as `lifecycle run` without
// --idle-advance). Each output goes to out (nil: none), in each
// partition's commit order.
func (e *Evaluation) Run(until int64, out func(record.Output) error) error {
	return e.run.Run(until, func(_ int32, o record.Output) error {
		if err := e.obs.output(&e.cfg.Engine.Topics, o); err != nil {
			return err
		}
		if out != nil {
			return out(o)
		}
		return nil
	})
}

// Report scores the warnings written against dropout (user id → true
// dropout time, Unix ms; users missing never dropped out within the data),
// the data ending at end (Unix ms, exclusive).
func (e *Evaluation) Report(end int64, dropout map[string]int64) Report {
	r := score(&e.obs, e.cfg, end, dropout, func(u *observed) []observedWarning { return u.warns })
	for _, l := range []warnings.Level{warnings.Watch, warnings.AtRisk, warnings.Critical} {
		at := score(&e.obs, e.cfg, end, dropout, func(u *observed) []observedWarning {
			var ws []observedWarning
			for _, w := range u.warns {
				if w.level >= l {
					ws = append(ws, w)
				}
			}
			return ws
		})
		at.Overall.Rule = "level ≥ " + l.String()
		r.Levels = append(r.Levels, at.Overall)
	}
	r.Calibration = calibrate(&e.obs, e.cfg.scoredFrom(&e.obs), dropout)
	if all, err := e.run.Outcomes(); err == nil { // a store that cannot tell leaves the levels out of the report
		for p, o := range all {
			if risk, _, ok := o.Watch(); ok {
				r.Watch = append(r.Watch, WatchLevel{Partition: int32(p), Risk: math.Round(risk*1000) / 1000, Departures: o.Departures()})
			}
			if seen := o.SeenBreaks(); len(seen) > 0 {
				r.Breaks = append(r.Breaks, BreaksSeen{Partition: int32(p), Days: warnings.FormatBreaks(seen)})
			}
		}
	}
	return r
}

// ScoreTimes scores warnings given as times per user (a detector outside
// the engine, such as an oracle) on the same users, events and truth as
// the engine's warnings: the overall row.
func (e *Evaluation) ScoreTimes(name string, times map[string][]int64, end int64, dropout map[string]int64) Row {
	byUser := map[*observed][]observedWarning{}
	for id, ts := range times {
		u := e.obs.user(id)
		for _, t := range ts {
			byUser[u] = append(byUser[u], observedWarning{at: t})
		}
	}
	row := score(&e.obs, e.cfg, end, dropout, func(u *observed) []observedWarning { return byUser[u] }).Overall
	row.Rule = name
	return row
}

// EachUser calls fn with every user's state after Run, partition by
// partition.
func (e *Evaluation) EachUser(fn func(p int32, id string, r *record.User) error) error {
	return e.run.EachUser(fn)
}

// Outcomes is, after Run, each partition's record of how its silences
// ended (warnings.Outcomes), by partition.
func (e *Evaluation) Outcomes() ([]*warnings.Outcomes, error) { return e.run.Outcomes() }

// Events is the number of valid events added.
func (e *Evaluation) Events() int64 { return e.obs.events }

// LastEvent is the largest event time added (Unix ms).
func (e *Evaluation) LastEvent() int64 { return e.obs.last }

// observations are what scoring needs, read from the events and from the
// outputs as a consumer of the output topics reads them.
type observations struct {
	users     map[string]*observed
	recovered int
	events    int64
	first     int64 // the smallest event time added (Unix ms)
	last      int64
}

type observed struct {
	warns  []observedWarning
	churns []int64 // At of the stage model's churn transitions
	weeks  map[int64]struct{}
	first  int64 // the user's first event
	last   int64 // and their last
}

type observedWarning struct {
	at      int64
	churnAt int64 // the churn time of its silence: tells the silences apart
	codes   uint8 // bit set of reasons (warnings.Codes)
	level   warnings.Level
	score   float64
}

func (o *observations) user(id string) *observed {
	u := o.users[id]
	if u == nil {
		u = &observed{weeks: map[int64]struct{}{}}
		o.users[id] = u
	}
	return u
}

// event counts a valid event: its user, and the user's active week
// (calendar weeks counted from the Unix epoch, UTC).
func (o *observations) event(ev *schemas.Event) {
	o.events++
	o.last = max(o.last, ev.Time)
	if o.events == 1 || ev.Time < o.first {
		o.first = ev.Time
	}
	u := o.user(ev.UserID)
	u.weeks[ev.Time/(7*rules.Day)] = struct{}{}
	if u.first == 0 || ev.Time < u.first {
		u.first = ev.Time
	}
	u.last = max(u.last, ev.Time)
}

// output reads a warning or a transition as its topic's consumer would.
func (o *observations) output(t *engine.Topics, out record.Output) error {
	switch out.Topic {
	case t.Warnings:
		var w schemas.Warning
		if err := json.Unmarshal(out.Value, &w); err != nil {
			return fmt.Errorf("quality: warning output: %w", err)
		}
		if w.Level == warnings.Recovered.String() {
			o.recovered++
			return nil
		}
		at, err := time.Parse(time.RFC3339, w.At)
		if err != nil {
			return fmt.Errorf("quality: warning output: at: %w", err)
		}
		var codes uint8
		for _, r := range w.Reasons {
			if i := slices.Index(warnings.Codes[:], r.Code); i >= 0 {
				codes |= 1 << i
			}
		}
		churnAt, err := time.Parse(time.RFC3339, w.ChurnAt)
		if err != nil {
			return fmt.Errorf("quality: warning output: churn_at: %w", err)
		}
		level, _ := warnings.ParseLevel(w.Level)
		u := o.user(w.UserID)
		u.warns = append(u.warns, observedWarning{at.UnixMilli(), churnAt.UnixMilli(), codes, level, w.Score})
	case t.Transitions:
		var tr schemas.Transition
		if err := json.Unmarshal(out.Value, &tr); err != nil {
			return fmt.Errorf("quality: transition output: %w", err)
		}
		if tr.To == rules.Churned.String() {
			at, err := time.Parse(time.RFC3339, tr.At)
			if err != nil {
				return fmt.Errorf("quality: transition output: at: %w", err)
			}
			u := o.user(tr.UserID)
			u.churns = append(u.churns, at.UnixMilli())
		}
	}
	return nil
}
