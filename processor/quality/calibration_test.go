package quality

import (
	"math"
	"testing"
)

// TestCalibrate: four warnings with known outcomes land in their bins,
// with the Brier score worked out by hand.
func TestCalibrate(t *testing.T) {
	o := observations{users: map[string]*observed{
		"left":   {warns: []observedWarning{{at: 100, score: 0.85}, {at: 50, score: 0.45}}}, // left at 80: had left by 100, not by 50
		"stayed": {warns: []observedWarning{{at: 100, score: 0.41}}},
		"later":  {warns: []observedWarning{{at: 100, score: 1}}}, // left at 200: not yet
	}}
	c := calibrate(&o, 0, map[string]int64{"left": 80, "later": 200})
	if len(c.Bins) != 10 {
		t.Fatalf("%d bins, want 10", len(c.Bins))
	}
	four, eight, nine := c.Bins[4], c.Bins[8], c.Bins[9]
	if four.Warnings != 2 || four.MeanScore != 0.43 || four.Left != 0 {
		t.Errorf("bin 0.4-0.5: %+v, want 2 warnings, mean 0.43, none left", four)
	}
	if eight.Warnings != 1 || eight.Left != 1 || nine.Warnings != 1 || nine.Left != 0 {
		t.Errorf("bins 0.8-0.9 and 0.9-1: %+v %+v, want one each, the first had left", eight, nine)
	}
	want := (0.15*0.15 + 0.45*0.45 + 0.41*0.41 + 1) / 4
	if math.Abs(float64(c.Brier)-want) > 1e-4 || c.BaseRateBrier != 0.1875 {
		t.Errorf("Brier %v (base rate %v), want %.4f (0.1875)", c.Brier, c.BaseRateBrier, want)
	}
}

// TestRank: the AUC of a perfect, a reversed and a tied score, and the
// precision where recall first reaches 0.9.
func TestRank(t *testing.T) {
	y := []bool{true, true, false, false}
	for _, tc := range []struct {
		score     []float64
		auc, prec Num
	}{
		{[]float64{4, 3, 2, 1}, 1, 1},
		{[]float64{1, 2, 3, 4}, 0, 0.5},
		{[]float64{1, 1, 1, 1}, 0.5, 0.5},
		{[]float64{4, 2, 3, 1}, 0.75, 0.667},
	} {
		if auc, prec := rank(tc.score, y, 0.9); auc != tc.auc || prec != tc.prec {
			t.Errorf("scores %v: AUC %v, precision %v; want %v, %v", tc.score, auc, prec, tc.auc, tc.prec)
		}
	}
}
