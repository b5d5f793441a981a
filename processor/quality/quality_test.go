package quality

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/lifecycle-engine/lifecycle/processor"
	"github.com/lifecycle-engine/lifecycle/processor/simulate"
	"github.com/lifecycle-engine/lifecycle/processor/simulate/bgnbd"
	"github.com/lifecycle-engine/lifecycle/processor/simulate/paretoggg"
	"github.com/lifecycle-engine/lifecycle/processor/simulate/paretonbd"
	"github.com/lifecycle-engine/lifecycle/processor/simulate/regular"
	"github.com/lifecycle-engine/lifecycle/processor/simulate/rhythm"
	"github.com/lifecycle-engine/lifecycle/processor/simulate/sessions"
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
	o, vq := r.Overall, row(warnings.CodeValuableQuiet)
	for _, f := range []floor{
		{"overall recall", o.Recall, 0.96, false},                                      // 0.983
		{"overall precision", o.Precision, 0.69, false},                                // 0.737
		{"overall median lead to churn (days)", o.ChurnLeadMedianDays, 14, false},      // 15.6
		{"overall 10th-percentile lead to churn (days)", o.ChurnLeadP10Days, 7, false}, // 8.1
		{"overall median lead to dropout (days)", o.LeadMedianDays, -9.5, false},       // -3.9
		// 48.7 and 3.19 before the first silences' risk (2026-12-06): one-visit
		// users, who mostly leave here, now reach at_risk and critical
		// (precision 0.83 and 0.87 at those levels, from 0.74 and 0.71).
		{"overall false alarms per 1000 active user-weeks", o.FalseAlarmsPer1kUserWeeks, 78, true}, // 71.1
		{"warnings per stayer-year", o.PerStayerYear, 4.7, true},                                   // 4.28
		{"inactive recall", row(warnings.CodeInactive).Recall, 0.96, false},                        // 0.983
		{"valuable_quiet precision", vq.Precision, 0.6, false},                                     // 0.674
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
	// Against the limit: the simulator's oracle (0.788 at recall 0.903).
	// Its stayer-year rate at that recall (1.83) comes with a median lead
	// to the churn of 12.6 days, and at 14 days it needs 2.4 warnings per
	// stayer-year: on this population no detector meets both targets, and
	// the product keeps the lead (see the README).
	if best := r.Oracle.Best; best == nil || o.Recall < 0.9 || float64(o.Precision) < 0.85*float64(best.Precision) {
		t.Errorf("overall precision %v at recall %v: want recall ≥ 0.9 and precision ≥ 0.85 × the oracle's best %+v", o.Precision, o.Recall, best)
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
// population (`lifecycle evaluate --population rhythm --users 3000 --seed
// 1`) and two of its variants that the fixed levels of the first release
// missed (users who stay a year; users who come monthly to weekly). It
// holds the targets of the warnings issue: recall ≥ 0.9 with a precision
// of at least 0.85 × the oracle's best at recall ≥ 0.9, and a median lead
// of 14 days to the declared churn; and at most 2 warnings per
// stayer-year where the oracle itself needs fewer than that (not on the
// monthly variant: see the README).
func TestRhythmFamily(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three 3000-user populations")
	}
	for _, tc := range []struct {
		name         string
		cfg          rhythm.Config
		perStayerMax float64
	}{
		{"default", rhythm.Config{Users: 3000, Seed: 1}, 2},                                              // 0.681 at 0.950 (oracle 0.598), 1.69, 16.4 days
		{"lifetime 365 days", rhythm.Config{Users: 3000, Seed: 1, MedianLifetime: 365}, 2},               // 0.553 at 0.940 (0.440), 1.63, 16.4
		{"monthly to weekly", rhythm.Config{Users: 3000, Seed: 1, MinRate: 0.01667, MaxRate: 0.1428}, 5}, // 0.411 at 0.938 (0.435), 4.41, 15.6
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := EvaluateRhythm(context.Background(), tc.cfg, defaultConfig())
			if err != nil {
				t.Fatal(err)
			}
			o, best := r.Overall, r.Oracle.Best
			t.Logf("product: precision %v recall %v, %v warnings per stayer-year; oracle best %+v; watch levels %+v", o.Precision, o.Recall, o.PerStayerYear, best, r.Watch)
			if best == nil || best.Precision < 0.35 {
				t.Fatalf("the oracle's best at recall ≥ 0.9: %+v; want a precision of at least 0.35", best)
			}
			if o.Recall < 0.9 || o.Precision < 0.85*best.Precision {
				t.Errorf("overall precision %v at recall %v: want recall ≥ 0.9 and precision ≥ 0.85 × the oracle's %v", o.Precision, o.Recall, best.Precision)
			}
			if float64(o.PerStayerYear) > tc.perStayerMax {
				t.Errorf("%v warnings per stayer-year: want at most %v", o.PerStayerYear, tc.perStayerMax)
			}
			if o.ChurnLeadMedianDays < 14 {
				t.Errorf("median lead to the declared churn %v days: want at least 14", o.ChurnLeadMedianDays)
			}
			if len(r.Watch) == 0 {
				t.Error("no partition chose its watch level from its departures")
			}
			// The watch warnings' scores mean what they say: the share of
			// them whose user did not come back is near their mean score.
			// With a fixed score (the risk) it was off by 0.16 on monthly
			// users.
			var n, score, gone float64
			for _, b := range r.Calibration.Bins {
				if b.Warnings > 0 && b.To <= 0.5 {
					w := float64(b.Warnings)
					n, score, gone = n+w, score+w*float64(b.MeanScore), gone+w*float64(b.Gone)
				}
			}
			if n == 0 || math.Abs(score-gone)/n > 0.12 {
				t.Errorf("warnings scored below 0.5: mean score %.3f, not back %.3f, of %v: want them within 0.12", score/n, gone/n, n)
			}
		})
	}
}

// TestBGNBDFamily runs the default Config over the third generator's
// population (`lifecycle evaluate --population bgnbd --users 3000 --seed
// 1`), where users leave only right after a purchase. It holds what the
// kinds of visit (warnings/outcomes.go) brought, a little below the
// measured figures: before them this family gave precision 0.39 at recall
// 0.93 and a median lead of 13.4 days to the churn. The target of
// 0.85 × the oracle's precision is met here, just (0.85 ×, the oracle's
// best found on thresholds 0.01 apart), since the first silences' risk is
// the partition's, and not on 5,000 users: 0.83–0.84 × (README, "Churn
// warnings: measured"); the floor is 0.8 ×.
// Against the oracle that
// knows all but each user's own dropout chance (bgnbd.PopulationOracle),
// which no data reveal, the target is held. The risk at one level,
// scored as the oracles are (Config.Sweep), has a floor of its own.
func TestBGNBDFamily(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a 3000-user population")
	}
	cfg := defaultConfig()
	cfg.Sweep = true
	r, err := EvaluateBGNBD(context.Background(), bgnbd.Config{Users: 3000, Seed: 1}, cfg) // 0.602 at 1.000 (oracle 0.71 at 0.901), 1.39, 16.8 days
	if err != nil {
		t.Fatal(err)
	}
	// The risk itself, scored as the oracle is (one level, one warning
	// per silence).
	sw := r.Sweep
	if sw == nil || len(sw.Thresholds) != len(SweepRisks) {
		t.Fatalf("sweep: %+v; want a row per threshold of SweepRisks", sw)
	}
	for i := 1; i < len(sw.Thresholds); i++ {
		a, b := sw.Thresholds[i-1], sw.Thresholds[i]
		if b.Warnings > a.Warnings || b.Recall > a.Recall {
			t.Errorf("sweep: %+v after %+v: a higher level must give no more warnings and no more recall", b, a)
		}
	}
	if sw.Best == nil || sw.Best.Precision < 0.85*r.Oracle.Best.Precision { // 0.698 at 0.911, against 0.71
		t.Errorf("sweep's best at recall ≥ 0.9: %+v; want a precision of at least 0.85 × the oracle's %+v", sw.Best, r.Oracle.Best)
	}
	o, best := r.Overall, r.Oracle.Best
	t.Logf("product: precision %v recall %v, %v warnings per stayer-year, lead %v days; oracle best %+v; population oracle best %+v; one level best %+v", o.Precision, o.Recall, o.PerStayerYear, o.ChurnLeadMedianDays, best, r.PopulationOracle.Best, r.Sweep.Best)
	if best == nil || best.Precision < 0.5 {
		t.Fatalf("the oracle's best at recall ≥ 0.9: %+v; want a precision of at least 0.5", best)
	}
	if o.Recall < 0.95 || o.Precision < 0.57 || o.Precision < 0.8*best.Precision {
		t.Errorf("overall precision %v at recall %v: want recall ≥ 0.95 and precision ≥ 0.57 and ≥ 0.8 × the oracle's %v", o.Precision, o.Recall, best.Precision)
	}
	pop := r.PopulationOracle
	if pop == nil || pop.Best == nil || pop.Best.Precision > best.Precision {
		t.Fatalf("the population oracle's best at recall ≥ 0.9: %+v; want one, below the oracle's %v", pop, best.Precision)
	}
	if o.Precision < 0.95*pop.Best.Precision { // 0.602 against 0.557
		t.Errorf("overall precision %v: want at least 0.95 × the population oracle's %v", o.Precision, pop.Best.Precision)
	}
	// The target, met since the kinds of visit count from a
	// partition's first departure (2.24 before).
	if float64(o.PerStayerYear) > 2 || o.ChurnLeadMedianDays < 16 {
		t.Errorf("%v warnings per stayer-year, median lead %v days: want at most 2 and at least 16", o.PerStayerYear, o.ChurnLeadMedianDays)
	}
}

// TestSessionsFamily runs the default Config over the fourth generator's
// population (`lifecycle evaluate --population sessions --users 3000
// --seed 1`: bursts of visits minutes apart, lives that end between
// sessions), written after every setting was fixed. It holds the issue's
// targets, all met there: 0.781 at recall 0.958 against the oracle's
// 0.704, 1.17 warnings per stayer-year, a median lead of 15.4 days; and
// scores that beat a constant (Brier).
func TestSessionsFamily(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a 3000-user population")
	}
	r, err := EvaluateSessions(context.Background(), sessions.Config{Users: 3000, Seed: 1}, defaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	holdTargets(t, r, 0.5, 0.85)
}

// TestRegularFamily runs the default Config over the fifth generator's
// population (`lifecycle evaluate --population regular --users 3000
// --seed 1`: users who keep a regular rhythm), written after every
// setting was fixed. It holds the targets, all met there: 0.961
// at recall 0.971 against the oracle's 0.994, 0.12 warnings per
// stayer-year, a median lead of 18.4 days. The floor on precision is
// 0.95 × the oracle's, not the 0.85: a user whose gaps hardly
// vary is where a rhythm model must come closest to the truth. Its
// scores beat a constant, just (Brier 0.0463 against 0.0472; 0.068
// before the score classes and the early levels' share, FINDINGS.md,
// "Regular users"): these users' warnings are right 0.95 of the time, so a
// constant is hard to beat.
func TestRegularFamily(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a 3000-user population")
	}
	r, err := EvaluateRegular(context.Background(), regular.Config{Users: 3000, Seed: 1}, defaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	holdTargets(t, r, 0.9, 0.95)
}

// TestParetoNBDFamily runs the default Config over the sixth generator's
// population (`lifecycle evaluate --population paretonbd --users 3000
// --seed 1`: Pareto/NBD's process, purchases only), written after every
// setting was fixed: 0.452 at recall 0.946 against the oracle's 0.47 at
// 0.904, 2.56 warnings per stayer-year, a median lead of 14.3 days. The
// issue's 2 warnings per stayer-year is beyond the oracle itself here
// (2.44 at its best for recall 0.9), so the test holds the product to no
// more than the oracle needs for the product's own recall.
func TestParetoNBDFamily(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a 3000-user population")
	}
	r, err := EvaluateParetoNBD(context.Background(), paretonbd.Config{Users: 3000, Seed: 1}, defaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	o, best := r.Overall, r.Oracle.Best
	t.Logf("product: precision %v recall %v, %v warnings per stayer-year, lead %v days; oracle best %+v; Brier %v (constant %v)", o.Precision, o.Recall, o.PerStayerYear, o.ChurnLeadMedianDays, best, r.Calibration.Brier, r.Calibration.BaseRateBrier)
	if best == nil || best.Precision < 0.4 {
		t.Fatalf("the oracle's best at recall ≥ 0.9: %+v; want a precision of at least 0.4", best)
	}
	if o.Recall < 0.9 || o.Precision < 0.85*best.Precision {
		t.Errorf("overall precision %v at recall %v: want recall ≥ 0.9 and precision ≥ 0.85 × the oracle's %v", o.Precision, o.Recall, best.Precision)
	}
	same := atRecall(r.Oracle, o.Recall)
	if same == nil || o.PerStayerYear > same.PerStayerYear || o.ChurnLeadMedianDays < 14 {
		t.Errorf("%v warnings per stayer-year, median lead %v days: want at most the oracle's at recall %v (%+v) and at least 14", o.PerStayerYear, o.ChurnLeadMedianDays, o.Recall, same)
	}
}

// TestParetoGGGFamily runs the default Config over the seventh
// generator's population (`lifecycle evaluate --population paretoggg
// --users 3000 --seed 1`: Pareto/GGG, users who differ in how regular
// they are, from clumpy bursts to a steady rhythm), written on 2026-12-07
// after every setting was fixed and measured before anything was changed
// for it. It holds every target of the issue, all met there: 0.708 at
// recall 0.956 against the oracle's 0.607 at recall 0.900, 1.09
// warnings per stayer-year, a median lead of 15.3 days, and scores that
// beat a constant (Brier 0.194 against 0.231).
func TestParetoGGGFamily(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a 3000-user population")
	}
	r, err := EvaluateParetoGGG(context.Background(), paretoggg.Config{Users: 3000, Seed: 1}, defaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	holdTargets(t, r, 0.5, 0.85)
}

// holdTargets holds a family's report to the targets: the
// oracle's best at recall ≥ 0.9 at a precision of at least oracleFloor
// (the family is as hard as its test says), the product's recall ≥ 0.9
// at a precision of at least ratio × the oracle's, at most 2 warnings per
// stayer-year, a median lead of 14 days to the churn, and scores that
// beat a constant (Brier).
func holdTargets(t *testing.T, r Report, oracleFloor, ratio Num) {
	t.Helper()
	o, best := r.Overall, r.Oracle.Best
	t.Logf("product: precision %v recall %v, %v warnings per stayer-year, lead %v days; oracle best %+v; Brier %v (constant %v)", o.Precision, o.Recall, o.PerStayerYear, o.ChurnLeadMedianDays, best, r.Calibration.Brier, r.Calibration.BaseRateBrier)
	if best == nil || best.Precision < oracleFloor {
		t.Fatalf("the oracle's best at recall ≥ 0.9: %+v; want a precision of at least %v", best, oracleFloor)
	}
	if o.Recall < 0.9 || o.Precision < ratio*best.Precision {
		t.Errorf("overall precision %v at recall %v: want recall ≥ 0.9 and precision ≥ %v × the oracle's %v", o.Precision, o.Recall, ratio, best.Precision)
	}
	if float64(o.PerStayerYear) > 2 || o.ChurnLeadMedianDays < 14 {
		t.Errorf("%v warnings per stayer-year, median lead %v days: want at most 2 and at least 14", o.PerStayerYear, o.ChurnLeadMedianDays)
	}
	if c := r.Calibration; !(c.Brier < c.BaseRateBrier) {
		t.Errorf("Brier score %v: want it below a constant's %v", c.Brier, c.BaseRateBrier)
	}
}
