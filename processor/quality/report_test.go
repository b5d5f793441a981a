package quality

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lifecycle-engine/lifecycle/processor/rules"
)

// TestScoreWarmUp: with a warm-up, the warnings before its end, the users
// who left before it and the stayers' time before it are not scored; a
// warning after it of a user who left just before it is still judged by
// that dropout. Worked by hand, days from the first event.
func TestScoreWarmUp(t *testing.T) {
	day := rules.Day
	c := Config{Horizon: 44 * 24 * time.Hour, Grace: 30 * 24 * time.Hour, WarmUp: 100 * 24 * time.Hour}
	c.Engine.Rules.ChurnAfter = 30 * 24 * time.Hour
	week := func(d int64) map[int64]struct{} { return map[int64]struct{}{d * day / (7 * day): {}} }
	o := observations{first: 0, users: map[string]*observed{
		// Left at 50, warned at 40: all before the scores start.
		"early": {first: 1, weeks: week(10), warns: []observedWarning{{at: 40 * day}}},
		// Left at 95, warned at 105 (within the grace): a true positive,
		// but no dropout to recall.
		"edge": {first: 1, weeks: week(90), warns: []observedWarning{{at: 105 * day}}},
		// Left at 150, warned at 60 (not scored) and 140 (a true positive).
		"late": {first: 1, weeks: week(140), warns: []observedWarning{{at: 60 * day}, {at: 140 * day}}},
		// Never left: warned at 20 (not scored) and 200 (a false alarm);
		// a stayer from 100 to the end at 465: one year.
		"stayer": {first: 1, weeks: week(300), warns: []observedWarning{{at: 20 * day}, {at: 200 * day}}},
	}}
	dropout := map[string]int64{"early": 50 * day, "edge": 95 * day, "late": 150 * day}
	r := score(&o, c, 465*day, dropout, func(u *observed) []observedWarning { return u.warns })
	got := r.Overall
	if got.Warnings != 3 || got.TP != 2 || got.FP != 1 || got.Undecided != 0 {
		t.Errorf("warnings %d, TP %d, FP %d, undecided %d; want 3, 2, 1, 0", got.Warnings, got.TP, got.FP, got.Undecided)
	}
	if r.Dropouts != 1 || r.ObservableDropout != 1 || got.Recalled != 1 || got.Recall != 1 {
		t.Errorf("dropouts %d (observable %d), recalled %d, recall %v; want 1 (1), 1, 1", r.Dropouts, r.ObservableDropout, got.Recalled, got.Recall)
	}
	if got.PerStayerYear != 1 {
		t.Errorf("%v warnings per stayer-year, want 1 (one false alarm in a year from the end of the warm-up)", got.PerStayerYear)
	}
	if r.ActiveUserWeeks != 2 {
		t.Errorf("%d active user-weeks, want 2 (the weeks of days 140 and 300)", r.ActiveUserWeeks)
	}
	if r.ScoredFrom != "1970-04-11T00:00:00Z" {
		t.Errorf("scored from %q, want 1970-04-11T00:00:00Z (day 100)", r.ScoredFrom)
	}

	c.WarmUp = 0
	r = score(&o, c, 465*day, dropout, func(u *observed) []observedWarning { return u.warns })
	if r.Overall.Warnings != 6 || r.ObservableDropout != 3 || r.ScoredFrom != "" {
		t.Errorf("without a warm-up: %d warnings, %d observable dropouts, scored from %q; want 6, 3 and none", r.Overall.Warnings, r.ObservableDropout, r.ScoredFrom)
	}
}

// TestTradeOffGrid: the best at recall ≥ 0.9 is found on every threshold,
// including those the report does not print; the report prints every
// Step-th; atRecall is the highest threshold that reaches a recall.
func TestTradeOffGrid(t *testing.T) {
	tr := &TradeOff{Step: 5}
	for i := range 20 { // recall falls and precision rises with the threshold
		tr.add(Row{Rule: fmt.Sprint(i + 1), Recall: Num(1 - 0.01*float64(i)), Precision: Num(0.5 + 0.01*float64(i))})
	}
	if tr.Best == nil || tr.Best.Rule != "11" {
		t.Errorf("best at recall ≥ 0.9: %+v; want threshold 11 (recall 0.90), which is not printed", tr.Best)
	}
	var printed []string
	for _, r := range tr.Printed() {
		printed = append(printed, r.Rule)
	}
	if got := strings.Join(printed, ","); got != "5,10,15,20" {
		t.Errorf("printed rows %s; want 5,10,15,20", got)
	}
	if r := atRecall(tr, 0.95); r == nil || r.Rule != "6" {
		t.Errorf("at recall 0.95: %+v; want threshold 6", r)
	}
	if r := atRecall(tr, 1.01); r != nil {
		t.Errorf("at recall 1.01: %+v; want none", r)
	}
}

// atRecall is the row of the highest threshold of t whose recall is at
// least recall: the detector's fewest warnings for that recall. nil when
// none reaches it.
func atRecall(t *TradeOff, recall Num) *Row {
	for i := len(t.Thresholds) - 1; i >= 0; i-- {
		if t.Thresholds[i].Recall >= recall {
			row := t.Thresholds[i]
			return &row
		}
	}
	return nil
}
