package engine

import (
	"time"

	"github.com/lifecycle-engine/lifecycle/processor/rules"
	"github.com/lifecycle-engine/lifecycle/processor/warnings"
	"github.com/lifecycle-engine/lifecycle/schemas"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

// stagedWarning is a warning with the user's stage and purchase facts at
// its time (for the output's stage and RFM block).
type stagedWarning struct {
	warnings.Warning
	Stage        rules.Stage
	Purchases    int64
	Spend        schemas.Micros
	LastPurchase int64
}

func staged(w warnings.Warning, u *rules.User) stagedWarning {
	return stagedWarning{Warning: w, Stage: u.Stage, Purchases: u.Purchases, Spend: u.Spend, LastPurchase: u.LastPurchase}
}

// timers fires a user's stage-model and warning timers that stream time st
// has passed, in due-time order: a warning due before a stage change sees
// the old stage, one due after it the new. The result is the same whether
// the timers fire on time or late (a quiet user's timers fire at the
// runtime's next commit), which keeps outputs a function of the input.
func (c *Config) timers(trs []rules.Transition, ws []stagedWarning, r *record.User, m *Model, o *warnings.Outcomes, st int64) ([]rules.Transition, []stagedWarning) {
	for {
		due := c.Rules.Wake(&r.User)
		if due == 0 || due >= st {
			break
		}
		ws = c.warn(ws, r, m, o, due)              // warnings due before the stage change
		trs = c.Rules.Advance(trs, &r.User, due+1) // the stage change itself
	}
	return trs, c.warn(ws, r, m, o, st)
}

// warn fires r's warning timers due before st, stamped with its stage now.
func (c *Config) warn(ws []stagedWarning, r *record.User, m *Model, o *warnings.Outcomes, st int64) []stagedWarning {
	var buf [4]warnings.Warning
	for _, x := range c.WarningsFor(m, o).Advance(buf[:0], &r.Warn, warnContext(r, m), st) {
		ws = append(ws, staged(x, &r.User))
	}
	return ws
}

// WarningsFor is the warning rules' configuration with the rhythm prior of
// m when it has one (fitted from the population by lifecycle fit), and the
// partition's outcomes o (nil: none kept).
// A model swapped in moves the due times of users who have few gaps: a
// timer indexed at the old due time fires then, with the outputs of the
// new one (Advance emits what is due, at its due time).
func (c *Config) WarningsFor(m *Model, o *warnings.Outcomes) warnings.Config {
	w := c.Warnings
	w.Outcomes = o
	if m != nil && m.Rhythm != nil {
		w.PriorGap = time.Duration(m.Rhythm.MedianGapHours * float64(time.Hour))
		w.PriorSpread = m.Rhythm.Spread
	}
	return w
}

// warnContext is what the warning rules see of a user besides their own
// state. P(alive) is given as a function of time, evaluated at each check's
// due time: a lazily fired timer then computes the same number as one
// fired on time.
func warnContext(r *record.User, m *Model) warnings.Context {
	u := &r.User
	ctx := warnings.Context{Stage: u.Stage, LastActivity: u.LastActivity, PAlive: -1}
	if !r.Segment.IsNone() {
		ctx.Segment = r.Segment.Segment.String()
	}
	if m != nil && u.Buys.Days > 0 {
		buys := u.Buys
		ctx.PAliveAt = func(at int64) float64 {
			s, ok := buys.Summary(at, m.Period)
			if !ok {
				return -1
			}
			return round6(m.BGNBD.PAlive(s))
		}
	}
	return ctx
}
