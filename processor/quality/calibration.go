package quality

import (
	"maps"
	"math"
	"slices"
)

// Calibration says whether the warnings' scores mean what they say. A
// warning's score is the risk that the user had left by its At: their
// true dropout (their last activity before leaving) was at or before it.
// The truth says whether they had, so every warning counts, undecided
// ones included.
type Calibration struct {
	Bins []CalibrationBin `json:"bins"` // by score: [0, 0.1), [0.1, 0.2), …, [0.9, 1]
	// Brier is the mean of (score − outcome)², outcome 1 when the user had
	// left. BaseRateBrier is that of a constant score equal to the share of
	// warnings whose user had left: what a score that knows nothing about
	// the user gets.
	Brier         Num `json:"brier"`
	BaseRateBrier Num `json:"brier_base_rate"`
}

// CalibrationBin is the warnings whose score is in [From, To).
type CalibrationBin struct {
	From, To  float64
	Warnings  int `json:"warnings"`
	MeanScore Num `json:"mean_score"`
	Left      Num `json:"left"` // the share whose user had left by the warning
}

// calibrate scores every warning's score from from (Unix ms) on against
// the truth: user id → true dropout (Unix ms); missing users never left.
func calibrate(o *observations, from int64, dropout map[string]int64) Calibration {
	const bins = 10
	var n [bins]int
	var sum, left [bins]float64
	var brier, total, lefts float64
	for _, id := range slices.Sorted(maps.Keys(o.users)) { // one summation order: the same digits every run
		u, d := o.users[id], dropout[id]
		for _, w := range u.warns {
			if w.at < from {
				continue
			}
			y := 0.0
			if d != 0 && d <= w.at {
				y = 1
			}
			b := min(int(w.score*bins), bins-1)
			n[b]++
			sum[b] += w.score
			left[b] += y
			brier += (w.score - y) * (w.score - y)
			lefts += y
			total++
		}
	}
	c := Calibration{Brier: Num(math.NaN()), BaseRateBrier: Num(math.NaN())}
	for b := range bins {
		bin := CalibrationBin{From: float64(b) / bins, To: float64(b+1) / bins, Warnings: n[b], MeanScore: Num(math.NaN()), Left: Num(math.NaN())}
		if n[b] > 0 {
			bin.MeanScore = Num(math.Round(sum[b]/float64(n[b])*1000) / 1000)
			bin.Left = Num(math.Round(left[b]/float64(n[b])*1000) / 1000)
		}
		c.Bins = append(c.Bins, bin)
	}
	if total > 0 {
		p := lefts / total
		c.Brier = Num(math.Round(brier/total*10000) / 10000)
		c.BaseRateBrier = Num(math.Round(p*(1-p)*10000) / 10000)
	}
	return c
}
