package warnings

import (
	"container/heap"
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/lifecycle-engine/lifecycle/processor/predict"
	"github.com/lifecycle-engine/lifecycle/processor/rules"
	"github.com/lifecycle-engine/lifecycle/processor/simulate"
	"github.com/lifecycle-engine/lifecycle/schemas"
)

// EvalConfig configures an Evaluation. Zero fields mean their defaults.
type EvalConfig struct {
	Warnings Config       // the warnings under test; its ChurnAfter is the stage model's
	Stages   rules.Config // the stage model; ChurnAfter is taken from Warnings
	// Horizon: a warning at t is a true positive when the user's true
	// dropout is in (t − Grace, t + Horizon]. Default ChurnAfter + 14 days.
	Horizon time.Duration
	// Grace: how long after a true dropout a warning still counts (it still
	// comes before the stage model declares the churn, which is at most
	// ChurnAfter after the user's last event). Default ChurnAfter.
	Grace time.Duration
	// Model, when not nil, gives buyers' P(alive) for low_p_alive (its
	// BG/NBD part, at the stream time of each check).
	Model *predict.Model
}

// DefaultHorizonMargin is added to ChurnAfter for the default Horizon.
const DefaultHorizonMargin = 14 * 24 * time.Hour

func (c EvalConfig) withDefaults() EvalConfig {
	c.Warnings = c.Warnings.WithDefaults()
	c.Stages.ChurnAfter = c.Warnings.ChurnAfter
	c.Stages = c.Stages.WithDefaults()
	if c.Horizon == 0 {
		c.Horizon = c.Warnings.ChurnAfter + DefaultHorizonMargin
	}
	if c.Grace == 0 {
		c.Grace = c.Warnings.ChurnAfter
	}
	return c
}

// Validate names the first invalid field.
func (c EvalConfig) Validate() error {
	if err := c.Warnings.Validate(); err != nil {
		return err
	}
	c = c.withDefaults()
	if err := c.Stages.Validate(); err != nil {
		return err
	}
	if c.Horizon <= 0 || c.Grace < 0 {
		return fmt.Errorf("warnings: evaluation horizon %v must be positive and grace %v not negative", c.Horizon, c.Grace)
	}
	return nil
}

// Evaluation runs the stage model and the warnings over a stream of events,
// single-threaded and in memory, as the runtime would, and scores the
// warnings against the users' true dropout times. Feed it events with
// Event (in event-time order for the numbers to mean what doc.go says),
// then call Report.
type Evaluation struct {
	cfg        EvalConfig
	users      []*evUser
	byID       map[string]int32
	timers     timerHeap
	streamTime int64

	// running sums over buyers for the RFM segment (means as split points)
	buyers                 int64
	sumF, sumM, sumLastBuy float64

	recovered int
}

type evUser struct {
	id       string
	u        rules.User
	s        State
	tr       predict.Tracker
	wake     int64
	warns    []evWarning
	churns   []int64 // At of the stage model's churn transitions
	weeks    int64   // active user-weeks
	lastWeek int64
}

type evWarning struct {
	at    int64
	codes uint8 // bit set of reasons
	level Level
}

// NewEvaluation returns an Evaluation of cfg; it panics when cfg is invalid
// (validate first).
func NewEvaluation(cfg EvalConfig) *Evaluation {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	return &Evaluation{cfg: cfg.withDefaults(), byID: map[string]int32{}}
}

// Event applies one event: the overdue timers of every user fire first
// (stage model, then warnings), then the event goes to the stage model and,
// unless it is a re-send, to the warnings.
func (e *Evaluation) Event(ev schemas.Event) {
	e.streamTime = max(e.streamTime, ev.Time)
	e.fire(e.streamTime)
	idx, ok := e.byID[ev.UserID]
	if !ok {
		idx = int32(len(e.users))
		e.byID[ev.UserID] = idx
		e.users = append(e.users, &evUser{id: ev.UserID, lastWeek: math.MinInt64})
	}
	u := e.users[idx]
	wasBuyer := u.u.Purchases > 0
	oldF, oldM, oldLast := float64(u.u.Purchases), float64(u.u.Spend), float64(u.u.LastPurchase)
	trs, applied := e.cfg.Stages.Apply(nil, &u.u, ev, e.streamTime)
	e.record(u, trs, nil)
	if !applied {
		return
	}
	if ev.Type == schemas.Purchase {
		u.tr.Add(ev.Time, ev.Amount)
		if wasBuyer {
			e.sumF -= oldF
			e.sumM -= oldM
			e.sumLastBuy -= oldLast
		} else {
			e.buyers++
		}
		e.sumF += float64(u.u.Purchases)
		e.sumM += float64(u.u.Spend)
		e.sumLastBuy += float64(u.u.LastPurchase)
	}
	if w := ev.Time / (7 * rules.Day); w != u.lastWeek {
		u.lastWeek = w
		u.weeks++
	}
	ctx := e.context(u)
	ws := e.cfg.Warnings.Advance(nil, &u.s, ctx, e.streamTime)
	ws = e.cfg.Warnings.OnEvent(ws, &u.s, ev, ctx)
	ws = e.cfg.Warnings.Advance(ws, &u.s, ctx, e.streamTime)
	e.record(u, nil, ws)
	e.schedule(idx)
}

// fire runs every timer due before t.
func (e *Evaluation) fire(t int64) {
	for len(e.timers) > 0 && e.timers[0].wake < t {
		it := heap.Pop(&e.timers).(timer)
		u := e.users[it.idx]
		if u.wake != it.wake {
			continue // stale entry
		}
		u.wake = 0
		trs := e.cfg.Stages.Advance(nil, &u.u, t)
		ws := e.cfg.Warnings.Advance(nil, &u.s, e.context(u), t)
		e.record(u, trs, ws)
		e.schedule(it.idx)
	}
}

func (e *Evaluation) schedule(idx int32) {
	u := e.users[idx]
	w := e.cfg.Stages.Wake(&u.u)
	if ww := e.cfg.Warnings.Wake(&u.s, e.context(u)); ww != 0 && (w == 0 || ww < w) {
		w = ww
	}
	if w == u.wake {
		return // already in the heap
	}
	u.wake = w
	if w != 0 {
		heap.Push(&e.timers, timer{w, idx})
	}
}

// context is what the runtime would know: the stage, the RFM segment (the
// population's means of frequency, monetary value and purchase recency over
// all buyers so far as split points, domain.md) and P(alive) from the model.
func (e *Evaluation) context(u *evUser) Context {
	c := Context{Stage: u.u.Stage, LastActivity: u.u.LastActivity, PAlive: -1}
	if u.u.Purchases > 0 && e.buyers > 0 {
		n := float64(e.buyers)
		recent := float64(e.streamTime-u.u.LastPurchase) <= (n*float64(e.streamTime)-e.sumLastBuy)/n
		highF := float64(u.u.Purchases) > e.sumF/n
		highM := float64(u.u.Spend) > e.sumM/n
		if !recent && highM {
			if highF {
				c.Segment = SegmentImportantKeep
			} else {
				c.Segment = SegmentImportantRetain
			}
		}
	}
	if m := e.cfg.Model; m != nil {
		if s, ok := u.tr.Summary(e.streamTime, m.Period); ok {
			c.PAlive = m.BGNBD.PAlive(s)
		}
	}
	return c
}

func (e *Evaluation) record(u *evUser, trs []rules.Transition, ws []Warning) {
	for _, tr := range trs {
		if tr.To == rules.Churned {
			u.churns = append(u.churns, tr.At)
		}
	}
	for _, w := range ws {
		if w.Level == Recovered {
			e.recovered++
			continue
		}
		var codes uint8
		for _, r := range w.Reasons {
			for i, c := range Codes {
				if c == r.Code {
					codes |= 1 << i
				}
			}
		}
		u.warns = append(u.warns, evWarning{w.At, codes, w.Level})
	}
}

// Row is the quality of one rule (a reason code) or of all warnings.
type Row struct {
	Rule      string `json:"rule"`
	Warnings  int    `json:"warnings"`  // warnings with this reason (Recovered not counted)
	TP        int    `json:"tp"`        // true positives: the user's true dropout in (At − grace, At + horizon]
	FP        int    `json:"fp"`        // false alarms: decided, not a true positive
	Undecided int    `json:"undecided"` // user never dropped out and At + horizon is after the end of the data
	// Precision = TP / (TP + FP).
	Precision Num `json:"precision"`
	// Recall = observable dropouts with at least one true-positive warning
	// of this rule / observable dropouts.
	Recall   Num `json:"recall"`
	Recalled int `json:"recalled"`
	// Lead times over the recalled users, from the first true-positive
	// warning: to the true dropout (negative: the warning came after the
	// user had left, but before the churn was declared) and to the stage
	// model's churn transition. Days; NaN when no user was recalled.
	LeadMedianDays      Num `json:"lead_median_days"`
	LeadP10Days         Num `json:"lead_p10_days"`
	ChurnLeadMedianDays Num `json:"churn_lead_median_days"`
	ChurnLeadP10Days    Num `json:"churn_lead_p10_days"`
	// FalseAlarmsPer1kUserWeeks = FP × 1000 / active user-weeks.
	FalseAlarmsPer1kUserWeeks Num `json:"false_alarms_per_1k_active_user_weeks"`
}

// Report is the result of an Evaluation.
type Report struct {
	Users             int     `json:"users"`              // users with at least one event
	Dropouts          int     `json:"dropouts"`           // users with a true dropout in the data
	ObservableDropout int     `json:"observable_dropout"` // dropouts at least ChurnAfter before the end: the recall denominator
	ActiveUserWeeks   int64   `json:"active_user_weeks"`  // (user, calendar week since the epoch, UTC) pairs with at least one event
	Recovered         int     `json:"recovered"`          // Recovered records
	HorizonDays       float64 `json:"horizon_days"`
	GraceDays         float64 `json:"grace_days"`
	End               string  `json:"end"`
	Overall           Row     `json:"overall"`
	Rules             []Row   `json:"rules"`
}

// Report fires every timer due before end (the end of the data, exclusive)
// and scores the warnings against dropout: user id → true dropout time (Unix
// ms); users missing or with 0 never dropped out within the data.
func (e *Evaluation) Report(end int64, dropout map[string]int64) Report {
	e.streamTime = max(e.streamTime, end)
	e.fire(end)
	c := e.cfg
	horizon, grace := c.Horizon.Milliseconds(), c.Grace.Milliseconds()
	churnMs := c.Warnings.ChurnAfter.Milliseconds()
	r := Report{Users: len(e.users), Recovered: e.recovered,
		HorizonDays: float64(horizon) / float64(rules.Day), GraceDays: float64(grace) / float64(rules.Day),
		End: time.UnixMilli(end).UTC().Format(time.RFC3339)}
	type acc struct {
		row         Row
		lead, churn []float64
	}
	accs := make([]acc, NumReasons+1) // last: overall
	for _, u := range e.users {
		r.ActiveUserWeeks += u.weeks
		d := dropout[u.id]
		observable := d != 0 && d+churnMs <= end
		if d != 0 {
			r.Dropouts++
		}
		if observable {
			r.ObservableDropout++
		}
		var first [NumReasons + 1]int64 // first true-positive warning per rule
		for _, w := range u.warns {
			tp := d != 0 && d > w.at-grace && d <= w.at+horizon
			undecided := d == 0 && w.at+horizon > end
			for k := range accs {
				if k < NumReasons && w.codes&(1<<k) == 0 {
					continue
				}
				a := &accs[k]
				a.row.Warnings++
				switch {
				case tp:
					a.row.TP++
					if first[k] == 0 {
						first[k] = w.at
					}
				case undecided:
					a.row.Undecided++
				default:
					a.row.FP++
				}
			}
		}
		if !observable {
			continue
		}
		for k := range accs {
			if first[k] == 0 {
				continue
			}
			a := &accs[k]
			a.row.Recalled++
			a.lead = append(a.lead, float64(d-first[k])/float64(rules.Day))
			for _, ch := range u.churns {
				if ch >= first[k] {
					a.churn = append(a.churn, float64(ch-first[k])/float64(rules.Day))
					break
				}
			}
		}
	}
	for k := range accs {
		a := &accs[k]
		row := &a.row
		if k < NumReasons {
			row.Rule = Codes[k]
		} else {
			row.Rule = "overall"
		}
		row.Precision = ratio(row.TP, row.TP+row.FP)
		row.Recall = ratio(row.Recalled, r.ObservableDropout)
		row.LeadMedianDays, row.LeadP10Days = quantile(a.lead, 0.5), quantile(a.lead, 0.1)
		row.ChurnLeadMedianDays, row.ChurnLeadP10Days = quantile(a.churn, 0.5), quantile(a.churn, 0.1)
		if r.ActiveUserWeeks > 0 {
			row.FalseAlarmsPer1kUserWeeks = Num(round2(float64(row.FP) * 1000 / float64(r.ActiveUserWeeks)))
		}
		if k < NumReasons {
			r.Rules = append(r.Rules, *row)
		} else {
			r.Overall = *row
		}
	}
	return r
}

// Num is a float64 that is written as JSON null when it is NaN (no data).
type Num float64

// MarshalJSON writes null for NaN.
func (n Num) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(n)) || math.IsInf(float64(n), 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, float64(n), 'f', -1, 64), nil
}

func ratio(a, b int) Num {
	if b == 0 {
		return Num(math.NaN())
	}
	return Num(math.Round(float64(a)/float64(b)*1000) / 1000)
}

// quantile is the nearest-rank q-quantile (the ⌈q·n⌉-th smallest), rounded
// to 0.1 day; NaN for no values.
func quantile(v []float64, q float64) Num {
	if len(v) == 0 {
		return Num(math.NaN())
	}
	slices.Sort(v)
	i := max(int(math.Ceil(q*float64(len(v))))-1, 0)
	return Num(math.Round(v[i]*10) / 10)
}

type timer struct {
	wake int64
	idx  int32
}

type timerHeap []timer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	return h[i].wake < h[j].wake || h[i].wake == h[j].wake && h[i].idx < h[j].idx
}
func (h timerHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *timerHeap) Push(x any)   { *h = append(*h, x.(timer)) }
func (h *timerHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// EvaluateSimulation runs the simulator's population (valid events only: no
// bad, duplicate or late records) through an Evaluation and scores it
// against the simulator's Truth, with the end of the simulated period as
// the end of the data.
func EvaluateSimulation(ctx context.Context, sim simulate.Config, cfg EvalConfig) (Report, error) {
	if err := cfg.Validate(); err != nil {
		return Report{}, err
	}
	sim.BadRate, sim.DupRate, sim.LateRate = 0, 0, 0
	if err := sim.Validate(); err != nil {
		return Report{}, err
	}
	e := NewEvaluation(cfg)
	dec := schemas.NewDecoder(schemas.DecoderConfig{Currency: sim.Currency})
	truth, err := simulate.Run(ctx, sim, func(r simulate.Record) error {
		ev, err := dec.Decode(r.Key, r.Value)
		if err != nil {
			return fmt.Errorf("simulated record %s: %w", r.Value, err)
		}
		e.Event(ev)
		return nil
	})
	if err != nil {
		return Report{}, err
	}
	start := sim.Start
	if start.IsZero() {
		start = simulate.DefaultStart
	}
	days := sim.Days
	if days == 0 {
		days = simulate.DefaultDays
	}
	end := start.UnixMilli() + int64(days)*rules.Day
	dropout := make(map[string]int64, len(truth))
	for _, t := range truth {
		if !t.DropoutAt.IsZero() {
			dropout[t.UserID] = t.DropoutAt.UnixMilli()
		}
	}
	return e.Report(end, dropout), nil
}
