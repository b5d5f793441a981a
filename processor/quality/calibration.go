package quality

import (
	"maps"
	"math"
	"slices"
)

// Calibration says whether the warnings' scores mean what they say. A
// warning's score is the chance that the user does not come back: that
// their silence ends in a departure, as the partition counts them
// (warnings/outcomes.go). The truth says so when the user has a true
// dropout and no activity after the warning. It also says whether the user
// had left by the warning (their true dropout at or before it), a stricter
// truth where a family's dropout can come after the last activity (the
// simulator's users leave some time after their last visit). Every warning
// counts, undecided ones included.
type Calibration struct {
	Bins []CalibrationBin `json:"bins"` // by score: [0, 0.1), [0.1, 0.2), …, [0.9, 1]
	// All is every warning in one bin: its mean score against the share
	// not back says whether the scores claim too much or too little
	// overall (processor/quality/FINDINGS.md, "Where the scores still
	// lean").
	All CalibrationBin `json:"all"`
	// Brier is the mean of (score − outcome)², outcome 1 when the user
	// did not come back. BaseRateBrier is that of a constant score equal
	// to the share of warnings whose user did not: what a score that knows
	// nothing about the user gets. The HadLeft pair is the same against
	// "had left by the warning".
	Brier                Num `json:"brier"`
	BaseRateBrier        Num `json:"brier_base_rate"`
	BrierHadLeft         Num `json:"brier_had_left"`
	BaseRateBrierHadLeft Num `json:"brier_had_left_base_rate"`
}

// CalibrationBin is the warnings whose score is in [From, To).
type CalibrationBin struct {
	From, To  float64
	Warnings  int `json:"warnings"`
	MeanScore Num `json:"mean_score"`
	Gone      Num `json:"gone"` // the share whose user did not come back after the warning
	Left      Num `json:"left"` // the share whose user had left by the warning
}

// calibrate scores every warning's score from from (Unix ms) on against
// the truth: user id → true dropout (Unix ms); missing users never left.
func calibrate(o *observations, from int64, dropout map[string]int64) Calibration {
	const bins = 10
	var n [bins]int
	var sum, gone, left [bins]float64
	var total, scores float64
	var gones, lefts, brier, brierLeft float64
	for _, id := range slices.Sorted(maps.Keys(o.users)) { // one summation order: the same digits every run
		u, d := o.users[id], dropout[id]
		for _, w := range u.warns {
			if w.at < from {
				continue
			}
			var g, l float64
			if d != 0 && u.last <= w.at {
				g = 1
			}
			if d != 0 && d <= w.at {
				l = 1
			}
			b := min(int(w.score*bins), bins-1)
			n[b]++
			sum[b] += w.score
			gone[b] += g
			left[b] += l
			brier += (w.score - g) * (w.score - g)
			brierLeft += (w.score - l) * (w.score - l)
			gones += g
			lefts += l
			scores += w.score
			total++
		}
	}
	nan := Num(math.NaN())
	c := Calibration{Brier: nan, BaseRateBrier: nan, BrierHadLeft: nan, BaseRateBrierHadLeft: nan,
		All: CalibrationBin{From: 0, To: 1, Warnings: int(total), MeanScore: nan, Gone: nan, Left: nan}}
	for b := range bins {
		bin := CalibrationBin{From: float64(b) / bins, To: float64(b+1) / bins, Warnings: n[b], MeanScore: nan, Gone: nan, Left: nan}
		if n[b] > 0 {
			bin.MeanScore = round(sum[b]/float64(n[b]), 1000)
			bin.Gone = round(gone[b]/float64(n[b]), 1000)
			bin.Left = round(left[b]/float64(n[b]), 1000)
		}
		c.Bins = append(c.Bins, bin)
	}
	if total > 0 {
		g, l := gones/total, lefts/total
		c.All.MeanScore, c.All.Gone, c.All.Left = round(scores/total, 1000), round(g, 1000), round(l, 1000)
		c.Brier, c.BaseRateBrier = round(brier/total, 10000), round(g*(1-g), 10000)
		c.BrierHadLeft, c.BaseRateBrierHadLeft = round(brierLeft/total, 10000), round(l*(1-l), 10000)
	}
	return c
}

func round(f, unit float64) Num { return Num(math.Round(f*unit) / unit) }
