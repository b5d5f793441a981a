package quality

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"

	"github.com/lifecycle-engine/lifecycle/processor/engine"
	"github.com/lifecycle-engine/lifecycle/processor/predict"
	"github.com/lifecycle-engine/lifecycle/processor/rules"
	"github.com/lifecycle-engine/lifecycle/processor/warnings"
	"github.com/lifecycle-engine/lifecycle/schemas"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

// HoldoutReport scores a real purchase history (CDNOW's format) the way
// the customer-base literature does: every customer is scored at the end
// of a calibration period, and the truth is whether they bought again in
// the holdout period after it. Each score ranks customers by how likely
// they are to have no purchase in the holdout.
type HoldoutReport struct {
	Customers      int        `json:"customers"`       // with a purchase up to the calibration end
	NoPurchase     int        `json:"no_purchase"`     // of them, without one in the holdout
	CalibrationEnd string     `json:"calibration_end"` // scores are at the end of this day
	HoldoutEnd     string     `json:"holdout_end"`
	Scores         []ScoreRow `json:"scores"`
}

// ScoreRow is one score's ROC AUC (ties count half) and its precision at
// the first threshold that reaches recall 0.9, among customers without a
// purchase in the holdout.
type ScoreRow struct {
	Score       string `json:"score"`
	AUC         Num    `json:"auc"`
	PrecisionAt Num    `json:"precision_at_recall_0_9"`
}

// EvaluateCDNOW runs the purchases of a CDNOW file up to calEnd (a day,
// 00:00 UTC, whose purchases count) through an Evaluation, as `lifecycle
// run` would apply them, each sent at its own time, and scores every
// customer at the end of that day: the churn warnings' risk (with the
// rhythm prior of cfg's model, if it has one), recency alone, and with a
// model, BG/NBD's 1 − P(alive) and its expected purchases in the holdout.
// The truth is a purchase in (the end of calEnd's day, holdEnd].
func EvaluateCDNOW(ctx context.Context, path string, calEnd, holdEnd int64, cfg Config) (HoldoutReport, error) {
	const topic = 1 // the purchase topic, as the simulators send it
	f, err := os.Open(path)
	if err != nil {
		return HoldoutReport{}, err
	}
	defer f.Close()
	e, err := New(cfg)
	if err != nil {
		return HoldoutReport{}, err
	}
	scoreAt := calEnd + rules.Day
	bought := map[string]bool{}
	rows := 0
	err = predict.ReadCDNOW(f, path, func(id string, at int64, amount schemas.Micros) {
		rows++
		switch {
		case at < scoreAt:
			v, _ := json.Marshal(map[string]any{"event_id": fmt.Sprintf("cdnow-%d", rows), "user_id": id, "type": "purchase",
				"ts": at, "amount": amount.String(), "currency": schemas.DefaultCurrency})
			e.Add(Record{Topic: topic, Key: []byte(id), Value: v, Time: at})
		case at <= holdEnd:
			bought[id] = true
		}
	})
	if err != nil {
		return HoldoutReport{}, err
	}
	if err := ctx.Err(); err != nil {
		return HoldoutReport{}, err
	}
	if err := e.Run(scoreAt, nil); err != nil {
		return HoldoutReport{}, err
	}
	var m *engine.Model
	if cfg.Engine.Model != nil {
		m = cfg.Engine.Model.Load()
	}
	outcomes, err := e.Outcomes()
	if err != nil {
		return HoldoutReport{}, err
	}
	// The risk as each partition computes it, with its outcomes.
	wcs := make([]warnings.Config, len(outcomes))
	for p, o := range outcomes {
		wcs[p] = cfg.Engine.WarningsFor(m, o)
	}
	names := []string{"warnings' risk", "weeks since the last purchase"}
	if m != nil {
		names = append(names, "BG/NBD 1 - P(alive)", "BG/NBD expected purchases in the holdout (fewer first)")
	}
	scores := make([][]float64, len(names))
	var truth []bool
	var horizon float64 // the holdout in model periods
	if m != nil {
		horizon = float64(holdEnd-scoreAt) / float64(m.Period.Millis())
	}
	err = e.EachUser(func(p int32, id string, r *record.User) error {
		u := &r.User
		if u.Buys.Days == 0 {
			return nil
		}
		truth = append(truth, !bought[id])
		scores[0] = append(scores[0], wcs[p].RiskAt(&r.Warn, scoreAt))
		scores[1] = append(scores[1], float64(scoreAt-u.LastPurchase))
		if m != nil {
			s, _ := u.Buys.Summary(calEnd, m.Period)
			scores[2] = append(scores[2], 1-m.BGNBD.PAlive(s))
			scores[3] = append(scores[3], -m.BGNBD.ExpectedPurchases(s, horizon))
		}
		return nil
	})
	if err != nil {
		return HoldoutReport{}, err
	}
	rep := HoldoutReport{Customers: len(truth), CalibrationEnd: schemas.FormatTime(calEnd), HoldoutEnd: schemas.FormatTime(holdEnd)}
	for _, y := range truth {
		if y {
			rep.NoPurchase++
		}
	}
	for i, name := range names {
		auc, prec := rank(scores[i], truth, 0.9)
		rep.Scores = append(rep.Scores, ScoreRow{Score: name, AUC: auc, PrecisionAt: prec})
	}
	return rep, nil
}

// rank is the ROC AUC of score for the positives of y (ties count half)
// and the precision at the highest threshold whose recall reaches recall,
// taking tied scores together.
func rank(score []float64, y []bool, recall float64) (auc, precision Num) {
	idx := make([]int, len(score))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(score[b], score[a]) }) // highest first
	var pos, neg float64
	for _, v := range y {
		if v {
			pos++
		} else {
			neg++
		}
	}
	if pos == 0 || neg == 0 {
		return Num(math.NaN()), Num(math.NaN())
	}
	var tp, fp, area float64
	precision = Num(math.NaN())
	for i := 0; i < len(idx); {
		j := i
		var dtp, dfp float64
		for ; j < len(idx) && score[idx[j]] == score[idx[i]]; j++ {
			if y[idx[j]] {
				dtp++
			} else {
				dfp++
			}
		}
		area += dfp * (tp + dtp/2) // pairs a positive wins: those above each negative, ties half
		tp, fp = tp+dtp, fp+dfp
		if math.IsNaN(float64(precision)) && tp/pos >= recall {
			precision = Num(math.Round(tp/(tp+fp)*1000) / 1000)
		}
		i = j
	}
	return Num(math.Round(area/(pos*neg)*1000) / 1000), precision
}
