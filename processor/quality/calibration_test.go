package quality

import (
	"math"
	"testing"
)

// TestCalibrate: five warnings with known outcomes land in their bins,
// with both Brier scores worked out by hand.
func TestCalibrate(t *testing.T) {
	o := observations{users: map[string]*observed{
		// Last active at 80 and left then: gone and left by 100, not by 50.
		"left":   {last: 80, warns: []observedWarning{{at: 100, score: 0.85}, {at: 50, score: 0.45}}},
		"stayed": {last: 120, warns: []observedWarning{{at: 100, score: 0.41}}},
		// Active again at 150, left at 200: neither by 100.
		"later": {last: 200, warns: []observedWarning{{at: 100, score: 1}}},
		// Last active at 90, left at 300 without coming back: gone at 100,
		// not yet left.
		"quiet": {last: 90, warns: []observedWarning{{at: 100, score: 0.62}}},
	}}
	c := calibrate(&o, 0, map[string]int64{"left": 80, "later": 200, "quiet": 300})
	if len(c.Bins) != 10 {
		t.Fatalf("%d bins, want 10", len(c.Bins))
	}
	four, six, eight, nine := c.Bins[4], c.Bins[6], c.Bins[8], c.Bins[9]
	if four.Warnings != 2 || four.MeanScore != 0.43 || four.Left != 0 || four.Gone != 0 {
		t.Errorf("bin 0.4-0.5: %+v, want 2 warnings, mean 0.43, none gone or left", four)
	}
	if eight.Warnings != 1 || eight.Left != 1 || eight.Gone != 1 || nine.Warnings != 1 || nine.Left != 0 || nine.Gone != 0 {
		t.Errorf("bins 0.8-0.9 and 0.9-1: %+v %+v, want one each, the first gone and left", eight, nine)
	}
	if six.Warnings != 1 || six.Gone != 1 || six.Left != 0 {
		t.Errorf("bin 0.6-0.7: %+v, want one warning, gone but not yet left", six)
	}
	if a := c.All; a.Warnings != 5 || a.MeanScore != 0.666 || a.Gone != 0.4 || a.Left != 0.2 {
		t.Errorf("all: %+v, want 5 warnings, mean score 0.666, 0.4 gone, 0.2 left", a)
	}
	gone := (0.15*0.15 + 0.45*0.45 + 0.41*0.41 + 1 + 0.38*0.38) / 5
	left := (0.15*0.15 + 0.45*0.45 + 0.41*0.41 + 1 + 0.62*0.62) / 5
	if math.Abs(float64(c.Brier)-gone) > 1e-4 || c.BaseRateBrier != 0.24 {
		t.Errorf("Brier %v (base rate %v), want %.4f (0.24: 2 of 5 gone)", c.Brier, c.BaseRateBrier, gone)
	}
	if math.Abs(float64(c.BrierHadLeft)-left) > 1e-4 || c.BaseRateBrierHadLeft != 0.16 {
		t.Errorf("Brier against had left %v (base rate %v), want %.4f (0.16: 1 of 5 left)", c.BrierHadLeft, c.BaseRateBrierHadLeft, left)
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
