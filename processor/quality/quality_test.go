package quality

import (
	"context"
	"testing"
	"time"

	"github.com/lifecycle-engine/lifecycle/processor"
	"github.com/lifecycle-engine/lifecycle/processor/simulate"
	"github.com/lifecycle-engine/lifecycle/processor/simulate/rhythm"
	"github.com/lifecycle-engine/lifecycle/processor/warnings"
)

// TestQualityFloors runs the default Config over the simulator's population
// (seed 1, 5000 users, 180 days: `lifecycle evaluate --users 5000 --days 180
// --seed 1`) and checks floors a little below what the defaults measure
// (in the comments), so that a real regression of a rule fails here. It is
// a quality floor, not a timing: the run takes well under a second.
func TestQualityFloors(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a 5000-user simulation")
	}
	r, err := EvaluateSimulation(context.Background(), simulate.Config{Users: 5000, Days: 180, Seed: 1}, defaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	row := func(rule string) Row {
		for _, x := range r.Rules {
			if x.Rule == rule {
				return x
			}
		}
		t.Fatalf("no row %q", rule)
		return Row{}
	}
	type floor struct {
		what       string
		got        Num
		atLeast    float64
		noMoreThan bool // the floor is a ceiling
	}
	o, fv, vq := r.Overall, row(warnings.CodeFallingVisits), row(warnings.CodeValuableQuiet)
	for _, f := range []floor{
		{"overall recall", o.Recall, 0.98, false},                                                   // 0.998
		{"overall precision", o.Precision, 0.68, false},                                             // 0.718
		{"overall median lead to churn (days)", o.ChurnLeadMedianDays, 14.5, false},                 // 15
		{"overall 10th-percentile lead to churn (days)", o.ChurnLeadP10Days, 14, false},             // 15
		{"overall median lead to dropout (days)", o.LeadMedianDays, -6, false},                      // -3.8
		{"overall false alarms per 1000 active user-weeks", o.FalseAlarmsPer1kUserWeeks, 170, true}, // 150.6
		{"inactive recall", row(warnings.CodeInactive).Recall, 0.98, false},                         // 0.998
		{"falling_visits precision", fv.Precision, 0.42, false},                                     // 0.47
		{"falling_visits recall", fv.Recall, 0.08, false},                                           // 0.105
		{"falling_visits median lead to dropout (days)", fv.LeadMedianDays, 3, false},               // 5.1
		{"falling_spend precision", row(warnings.CodeFallingSpend).Precision, 0.36, false},          // 0.43
		{"valuable_quiet precision", vq.Precision, 0.52, false},                                     // 0.62
	} {
		bad := float64(f.got) < f.atLeast
		if f.noMoreThan {
			bad = float64(f.got) > f.atLeast
		}
		if bad || f.got != f.got {
			cmp := "at least"
			if f.noMoreThan {
				cmp = "at most"
			}
			t.Errorf("%s = %v, want %s %v", f.what, f.got, cmp, f.atLeast)
		}
	}
	if r.ObservableDropout < 2500 || r.Recovered == 0 {
		t.Errorf("population: %d observable dropouts, %d recovered: the simulation changed", r.ObservableDropout, r.Recovered)
	}
}

// defaultConfig is what `lifecycle evaluate` runs without flags.
func defaultConfig() Config {
	pc := processor.Config{Conn: processor.Conn{Brokers: []string{"unused:9092"}}, Group: "evaluate"}
	return Config{Engine: pc.Engine(), Partitions: 8, MaxFutureSkew: time.Hour}
}

// TestRhythmFamily runs the default Config over the second generator's
// population (`lifecycle evaluate --population rhythm --users 3000 --seed 1`),
// which the defaults were not tuned on, with floors a little under what
// they measure (in the comments), and checks that the oracle reaches
// recall 0.9. The targets of the warnings issue (precision ≥ 0.85 × the
// oracle's at recall ≥ 0.9, at most 2 warnings per stayer-year) are not
// met yet: the ceiling on warnings per stayer-year shows how far.
func TestRhythmFamily(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a 3000-user population")
	}
	r, err := EvaluateRhythm(context.Background(), rhythm.Config{Users: 3000, Seed: 1}, defaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	o := r.Overall
	t.Logf("product: precision %v recall %v, %v warnings per stayer-year; oracle best %+v", o.Precision, o.Recall, o.PerStayerYear, r.Oracle.Best)
	if o.Precision < 0.5 || o.Recall < 0.98 { // 0.542, 1.000
		t.Errorf("overall precision %v, recall %v: want at least 0.5 and 0.98", o.Precision, o.Recall)
	}
	if o.PerStayerYear > 15 { // 13.68
		t.Errorf("%v warnings per stayer-year: want at most 15", o.PerStayerYear)
	}
	if o.ChurnLeadMedianDays < 14 { // 24.9
		t.Errorf("median lead to the declared churn %v days: want at least 14", o.ChurnLeadMedianDays)
	}
	if b := r.Oracle.Best; b == nil || b.Precision < 0.55 { // 0.598 at recall 0.903
		t.Errorf("the oracle's best at recall ≥ 0.9: %+v; want a precision of at least 0.55", b)
	}
}
