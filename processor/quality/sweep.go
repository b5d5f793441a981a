package quality

import (
	"context"
	"fmt"
)

// SweepRisks are the risks at which Config.Sweep scores the product's
// own risk.
var SweepRisks = []float64{0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8}

// sweep scores the product's risk the way the oracle is scored, so that
// the two can be compared at equal recall whatever watch level the
// partitions chose: for each of SweepRisks, the same records run through
// the engine again with one fixed watch level at that risk (none chosen
// from departures), and only the first warning of each silence counts,
// as the oracle warns once per silence. nil without c.Sweep. feed adds
// the population's records to an Evaluation. It stops between runs when
// ctx ends.
func (c Config) sweep(ctx context.Context, feed func(*Evaluation) error, end int64, dropout map[string]int64) (*TradeOff, error) {
	if !c.Sweep {
		return nil, nil
	}
	t := &TradeOff{}
	for _, r := range SweepRisks {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		rc := c
		rc.Sweep = false
		rc.Engine.Warnings.Recall = -1 // the watch level is Risk[0]
		// Escalations above it, which the scoring leaves out.
		rc.Engine.Warnings.Risk = [3]float64{r, (1 + r) / 2, (3 + r) / 4}
		e, err := New(rc)
		if err != nil {
			return nil, err
		}
		if err := feed(e); err != nil {
			return nil, err
		}
		if err := e.Run(end, nil); err != nil {
			return nil, err
		}
		row := score(&e.obs, e.cfg, end, dropout, firstOfSilence).Overall
		row.Rule = fmt.Sprintf("risk ≥ %.2f, one level", r)
		t.add(row)
	}
	return t, nil
}

// firstOfSilence is a user's warnings, only the first of each silence.
func firstOfSilence(u *observed) []observedWarning {
	var ws []observedWarning
	for _, w := range u.warns {
		if len(ws) == 0 || ws[len(ws)-1].churnAt != w.churnAt {
			ws = append(ws, w)
		}
	}
	return ws
}
