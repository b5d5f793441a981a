package quality

import (
	"maps"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/lifecycle-engine/lifecycle/processor/rules"
	"github.com/lifecycle-engine/lifecycle/processor/warnings"
)

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
	// PerStayerYear is the warnings per user-year among the users who never
	// left within the data (from their first event to the end).
	PerStayerYear Num `json:"warnings_per_stayer_year"`
}

// Report is the result of an Evaluation.
type Report struct {
	Users             int     `json:"users"`              // users with at least one event
	Dropouts          int     `json:"dropouts"`           // users with a true dropout in the data
	ObservableDropout int     `json:"observable_dropout"` // dropouts at least ChurnAfter before the end: the recall denominator
	ActiveUserWeeks   int64   `json:"active_user_weeks"`  // (user, calendar week since the epoch, UTC) pairs with at least one event
	Recovered         int     `json:"recovered"`          // recovered records
	HorizonDays       float64 `json:"horizon_days"`
	GraceDays         float64 `json:"grace_days"`
	End               string  `json:"end"`
	// ScoredFrom is where scoring starts with Config.WarmUp (RFC 3339);
	// empty when everything is scored.
	ScoredFrom string `json:"scored_from,omitempty"`
	Overall    Row    `json:"overall"`
	Rules      []Row  `json:"rules"`
	// Levels is the overall row counting only the warnings at or above
	// each level (watch, at_risk, critical): the trade-off of thresholds.
	Levels []Row `json:"levels,omitempty"`
	// Oracle, for a population whose generator knows each user's true
	// process: its rows per threshold, and the best precision at recall
	// ≥ 0.9 (the limit the product is measured against).
	Oracle *TradeOff `json:"oracle,omitempty"`
	// PopulationOracle, for a family whose generator has one: the oracle
	// without each user's own dropout chance, which only their leaving
	// reveals; it knows the population's law of it instead (bgnbd).
	PopulationOracle *TradeOff `json:"population_oracle,omitempty"`
	// Sweep, when Config.Sweep asked for it: the product's own risk
	// scored as the oracle is, one warning per silence at each threshold
	// (sweep.go).
	Sweep *TradeOff `json:"risk_sweep,omitempty"`
	// Calibration of the warnings' scores (the risk).
	Calibration Calibration `json:"calibration"`
	// Watch is, per partition, the watch level its departures chose by
	// the end (warnings.Outcomes); absent where it had too few.
	Watch []WatchLevel `json:"watch_levels,omitempty"`
	// Breaks are, per partition that saw any, the days it took as breaks
	// (--warn-detect-breaks): a population's shared quiet days show here.
	Breaks []BreaksSeen `json:"breaks_seen,omitempty"`
}

// BreaksSeen are the days a partition took as breaks, as
// --warn-break-days writes them.
type BreaksSeen struct {
	Partition int32  `json:"partition"`
	Days      string `json:"days"`
}

// WatchLevel is the watch level a partition chose from its departures.
type WatchLevel struct {
	Partition  int32   `json:"partition"`
	Risk       float64 `json:"risk"`
	Departures uint64  `json:"departures"`
}

// TradeOff is a detector's rows per threshold on the population (the
// oracle's, or the product's risk at one level), in rising order.
type TradeOff struct {
	Thresholds []Row `json:"thresholds"`
	Best       *Row  `json:"best_at_recall_0_9"` // nil when no threshold reaches recall 0.9
	// Step: the report prints every Step-th row (0: each one), so that a
	// fine grid of thresholds reads as a short table.
	Step int `json:"-"`
}

// add appends a threshold's row, keeping the best precision at recall ≥
// 0.9.
func (t *TradeOff) add(row Row) {
	t.Thresholds = append(t.Thresholds, row)
	if row.Recall >= 0.9 && (t.Best == nil || row.Precision > t.Best.Precision) {
		best := row
		t.Best = &best
	}
}

// Printed is the rows the report prints: every Step-th.
func (t *TradeOff) Printed() []Row {
	if t.Step <= 1 {
		return t.Thresholds
	}
	var rows []Row
	for i := t.Step - 1; i < len(t.Thresholds); i += t.Step {
		rows = append(rows, t.Thresholds[i])
	}
	return rows
}

// scoredFrom is the first time scored (Unix ms): the first event plus the
// warm-up; 0 without one.
func (c Config) scoredFrom(o *observations) int64 {
	if c.WarmUp <= 0 {
		return 0
	}
	return o.first + c.WarmUp.Milliseconds()
}

// score scores the observed warnings against dropout: user id → true
// dropout time (Unix ms); users missing never dropped out within the data,
// which ends at end (exclusive). With a warm-up (Config.WarmUp), only what
// happens from its end on is scored: the warnings from then, the users who
// left from then (the recall's denominator), the stayers' time and the
// active weeks from then.
func score(o *observations, c Config, end int64, dropout map[string]int64, allWarns func(*observed) []observedWarning) Report {
	horizon, grace := c.Horizon.Milliseconds(), c.Grace.Milliseconds()
	churnMs := c.Engine.Rules.ChurnAfter.Milliseconds()
	from := c.scoredFrom(o)
	r := Report{Users: len(o.users), Recovered: o.recovered,
		HorizonDays: float64(horizon) / float64(rules.Day), GraceDays: float64(grace) / float64(rules.Day),
		End: time.UnixMilli(end).UTC().Format(time.RFC3339)}
	if from != 0 {
		r.ScoredFrom = time.UnixMilli(from).UTC().Format(time.RFC3339)
	}
	warns := func(u *observed) []observedWarning {
		ws := allWarns(u)
		if from == 0 {
			return ws
		}
		var kept []observedWarning
		for _, w := range ws {
			if w.at >= from {
				kept = append(kept, w)
			}
		}
		return kept
	}
	type acc struct {
		row         Row
		lead, churn []float64
	}
	accs := make([]acc, warnings.NumReasons+1)      // last: overall
	var stayerWarnings [warnings.NumReasons + 1]int // per rule; last: overall
	var stayerYears float64
	for _, id := range slices.Sorted(maps.Keys(o.users)) {
		u := o.users[id]
		uw := warns(u)
		if start := max(u.first, from); dropout[id] == 0 && u.first != 0 && start < end {
			for _, w := range uw {
				for k := range warnings.NumReasons {
					if w.codes&(1<<k) != 0 {
						stayerWarnings[k]++
					}
				}
			}
			stayerWarnings[warnings.NumReasons] += len(uw)
			stayerYears += float64(end-start) / float64(365*rules.Day)
		}
		for w := range u.weeks {
			if (w+1)*7*rules.Day > from { // a week that ends after the warm-up
				r.ActiveUserWeeks++
			}
		}
		d := dropout[id]
		// A user who left before the scores start is no dropout to
		// recall; a warning of theirs from then on is still judged by
		// their dropout.
		scored := d != 0 && d >= from
		observable := scored && d+churnMs <= end
		if scored {
			r.Dropouts++
		}
		if observable {
			r.ObservableDropout++
		}
		var first [warnings.NumReasons + 1]int64 // first true-positive warning per rule
		for _, w := range uw {
			tp := d != 0 && d > w.at-grace && d <= w.at+horizon
			undecided := d == 0 && w.at+horizon > end
			for k := range accs {
				if k < warnings.NumReasons && w.codes&(1<<k) == 0 {
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
		if k < warnings.NumReasons {
			row.Rule = warnings.Codes[k]
		} else {
			row.Rule = "overall"
		}
		row.Precision = ratio(row.TP, row.TP+row.FP)
		row.Recall = ratio(row.Recalled, r.ObservableDropout)
		row.LeadMedianDays, row.LeadP10Days = quantile(a.lead, 0.5), quantile(a.lead, 0.1)
		row.ChurnLeadMedianDays, row.ChurnLeadP10Days = quantile(a.churn, 0.5), quantile(a.churn, 0.1)
		if stayerYears > 0 {
			row.PerStayerYear = Num(math.Round(float64(stayerWarnings[k])/stayerYears*100) / 100)
		}
		if r.ActiveUserWeeks > 0 {
			row.FalseAlarmsPer1kUserWeeks = Num(math.Round(float64(row.FP)*1000/float64(r.ActiveUserWeeks)*100) / 100)
		}
		if k < warnings.NumReasons {
			if slices.Contains(warnings.Raised, row.Rule) { // retired rules warn nothing
				r.Rules = append(r.Rules, *row)
			}
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
