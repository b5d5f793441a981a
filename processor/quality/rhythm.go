package quality

import (
	"context"
	"fmt"

	"github.com/lifecycle-engine/lifecycle/processor/simulate/bgnbd"
	"github.com/lifecycle-engine/lifecycle/processor/simulate/paretoggg"
	"github.com/lifecycle-engine/lifecycle/processor/simulate/paretonbd"
	"github.com/lifecycle-engine/lifecycle/processor/simulate/regular"
	"github.com/lifecycle-engine/lifecycle/processor/simulate/rhythm"
	"github.com/lifecycle-engine/lifecycle/processor/simulate/sessions"
)

// OracleThresholds are the risk thresholds at which the oracles are
// scored: 0.01 to 0.99 by 0.01. Their best precision at recall ≥ 0.9 is
// found on all of them: on a grid of 0.05, the threshold just above
// recall 0.9 could be up to 0.05 lower than the best, and the oracle's
// precision 0.03 lower (processor/quality/FINDINGS.md, "The oracle on a
// finer grid"). The report prints every fifth.
var OracleThresholds = func() []float64 {
	t := make([]float64, 99)
	for i := range t {
		t[i] = float64(i+1) / 100
	}
	return t
}()

// EvaluateRhythm runs a population of the second generator (package
// simulate/rhythm: rhythms from several visits a day to one a month,
// seasons, slow fades and abrupt stops) through an Evaluation, scores it
// against the generator's truth, and scores the generator's oracle on the
// same users: the limit of what the data allow. Stream time advances to
// the end of the period.
func EvaluateRhythm(ctx context.Context, rc rhythm.Config, cfg Config) (Report, error) {
	users, events, end, err := rhythm.Generate(ctx, rc)
	if err != nil {
		return Report{}, err
	}
	dropout := dropouts(users, func(u *rhythm.User) (string, int64) { return u.ID, u.Left })
	return evaluateGenerated(ctx, cfg, events, end, dropout, func() []map[string][]int64 {
		return rhythm.Oracle(users, end, cfg.Engine.Rules.ChurnAfter, OracleThresholds)
	}, nil)
}

// EvaluateBGNBD is EvaluateRhythm for the third generator (package
// simulate/bgnbd: BG/NBD's buy-till-you-die process with visits, where
// users leave only right after a purchase) and its oracle.
func EvaluateBGNBD(ctx context.Context, bc bgnbd.Config, cfg Config) (Report, error) {
	users, events, end, err := bgnbd.Generate(ctx, bc)
	if err != nil {
		return Report{}, err
	}
	dropout := dropouts(users, func(u *bgnbd.User) (string, int64) { return u.ID, u.Left })
	return evaluateGenerated(ctx, cfg, events, end, dropout, func() []map[string][]int64 {
		return bgnbd.Oracle(users, end, cfg.Engine.Rules.ChurnAfter, OracleThresholds)
	}, func() []map[string][]int64 {
		return bgnbd.PopulationOracle(users, end, cfg.Engine.Rules.ChurnAfter, OracleThresholds)
	})
}

// EvaluateSessions is EvaluateRhythm for the fourth generator (package
// simulate/sessions: bursts of visits minutes apart, lives that end
// between sessions) and its oracle.
func EvaluateSessions(ctx context.Context, sc sessions.Config, cfg Config) (Report, error) {
	users, events, end, err := sessions.Generate(ctx, sc)
	if err != nil {
		return Report{}, err
	}
	dropout := dropouts(users, func(u *sessions.User) (string, int64) { return u.ID, u.Left })
	return evaluateGenerated(ctx, cfg, events, end, dropout, func() []map[string][]int64 {
		return sessions.Oracle(users, end, cfg.Engine.Rules.ChurnAfter, OracleThresholds)
	}, nil)
}

// EvaluateRegular is EvaluateRhythm for the fifth generator (package
// simulate/regular: users who keep a regular rhythm, gaps far less
// varied than memoryless waits) and its oracle.
func EvaluateRegular(ctx context.Context, rc regular.Config, cfg Config) (Report, error) {
	users, events, end, err := regular.Generate(ctx, rc)
	if err != nil {
		return Report{}, err
	}
	dropout := dropouts(users, func(u *regular.User) (string, int64) { return u.ID, u.Left })
	return evaluateGenerated(ctx, cfg, events, end, dropout, func() []map[string][]int64 {
		return regular.Oracle(users, end, cfg.Engine.Rules.ChurnAfter, OracleThresholds)
	}, nil)
}

// EvaluateParetoNBD is EvaluateRhythm for the sixth generator (package
// simulate/paretonbd: Pareto/NBD's process, purchases only) and its
// oracle.
func EvaluateParetoNBD(ctx context.Context, pc paretonbd.Config, cfg Config) (Report, error) {
	users, events, end, err := paretonbd.Generate(ctx, pc)
	if err != nil {
		return Report{}, err
	}
	dropout := dropouts(users, func(u *paretonbd.User) (string, int64) { return u.ID, u.Left })
	return evaluateGenerated(ctx, cfg, events, end, dropout, func() []map[string][]int64 {
		return paretonbd.Oracle(users, end, cfg.Engine.Rules.ChurnAfter, OracleThresholds)
	}, nil)
}

// EvaluateParetoGGG is EvaluateRhythm for the seventh generator (package
// simulate/paretoggg: Pareto/GGG, users who differ in how regular they
// are, from clumpy to regular) and its oracle (regular's).
func EvaluateParetoGGG(ctx context.Context, gc paretoggg.Config, cfg Config) (Report, error) {
	users, events, end, err := paretoggg.Generate(ctx, gc)
	if err != nil {
		return Report{}, err
	}
	dropout := dropouts(users, func(u *regular.User) (string, int64) { return u.ID, u.Left })
	return evaluateGenerated(ctx, cfg, events, end, dropout, func() []map[string][]int64 {
		return regular.Oracle(users, end, cfg.Engine.Rules.ChurnAfter, OracleThresholds)
	}, nil)
}

// dropouts is the true dropout time of every user who left (left returns
// 0 for one who did not), by id.
func dropouts[U any](users []U, left func(U) (string, int64)) map[string]int64 {
	out := map[string]int64{}
	for _, u := range users {
		if id, t := left(u); t != 0 {
			out[id] = t
		}
	}
	return out
}

// evaluateGenerated runs a generated population's events through an
// Evaluation to the end of its period, and scores the warnings, the
// generator's oracle and, when the generator has one (population not
// nil), its oracle without each user's own dropout chance against the
// true dropout times.
func evaluateGenerated(ctx context.Context, cfg Config, events []rhythm.Record, end int64, dropout map[string]int64, oracle, population func() []map[string][]int64) (Report, error) {
	e, err := New(cfg)
	if err != nil {
		return Report{}, err
	}
	for _, r := range events {
		e.Add(recordOf(r))
	}
	if err := e.Run(end, nil); err != nil {
		return Report{}, err
	}
	rep := e.Report(end, dropout)
	rep.Oracle = e.scoreOracle("oracle", oracle(), end, dropout)
	if population != nil {
		rep.PopulationOracle = e.scoreOracle("population oracle", population(), end, dropout)
	}
	rep.Sweep, err = cfg.sweep(ctx, func(e *Evaluation) error {
		for _, r := range events {
			e.Add(recordOf(r))
		}
		return nil
	}, end, dropout)
	return rep, err
}

// recordOf is a generated record as a producer sends it to the login or
// the purchase topic.
func recordOf(r rhythm.Record) Record {
	topic := 0 // login
	if r.Type == "purchase" {
		topic = 1
	}
	return Record{Topic: topic, Key: r.Key, Value: r.Value, Time: r.Time}
}

// scoreOracle scores the warning times of the oracle called name, one
// map per threshold of OracleThresholds.
func (e *Evaluation) scoreOracle(name string, times []map[string][]int64, end int64, dropout map[string]int64) *TradeOff {
	t := &TradeOff{Step: 5} // the multiples of 0.05
	for i, th := range OracleThresholds {
		t.add(e.ScoreTimes(fmt.Sprintf("%s risk ≥ %.2f", name, th), times[i], end, dropout))
	}
	return t
}
