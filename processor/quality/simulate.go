package quality

import (
	"context"
	"fmt"
	"slices"

	"github.com/lifecycle-engine/lifecycle/processor/rules"
	"github.com/lifecycle-engine/lifecycle/processor/simulate"
)

// EvaluateSimulation runs the simulator's population (valid events only:
// no bad, duplicate or late records), sent in the simulator's order to the
// engine's input topics, through an Evaluation, and scores it against the
// simulator's truth and the simulator's oracle on the same users. Stream time advances to the end of the simulated
// period, which is the end of the data.
func EvaluateSimulation(ctx context.Context, sim simulate.Config, cfg Config) (Report, error) {
	sim.BadRate, sim.DupRate, sim.LateRate = 0, 0, 0
	in := cfg.Engine.Topics.Inputs
	if len(in) != 3 {
		return Report{}, fmt.Errorf("quality: the simulator writes 3 input topics; the engine reads %d", len(in))
	}
	sim.Topics = simulate.Topics{Login: in[0], Purchase: in[1], Content: in[2]}
	if err := sim.Validate(); err != nil {
		return Report{}, err
	}
	e, err := New(cfg)
	if err != nil {
		return Report{}, err
	}
	logins := map[string][]int64{} // for the oracle
	truth, err := simulate.Run(ctx, sim, func(r simulate.Record) error {
		topic := slices.Index(in, r.Topic)
		if topic == 0 {
			logins[string(r.Key)] = append(logins[string(r.Key)], r.Time) // a valid record is sent at its ts
		}
		e.Add(Record{Topic: topic, Key: r.Key, Value: r.Value, Time: r.Time})
		return nil
	})
	if err != nil {
		return Report{}, err
	}
	start := sim.Start
	if start.IsZero() {
		start = simulate.DefaultStart
	}
	days := sim.Days
	if days == 0 {
		days = simulate.DefaultDays
	}
	end := start.UnixMilli() + int64(days)*rules.Day
	if err := e.Run(end, nil); err != nil {
		return Report{}, err
	}
	dropout := make(map[string]int64, len(truth))
	for _, t := range truth {
		if !t.DropoutAt.IsZero() {
			dropout[t.UserID] = t.DropoutAt.UnixMilli()
		}
	}
	rep := e.Report(end, dropout)
	rep.Oracle = e.scoreOracle("oracle", simulate.Oracle(truth, logins, end, cfg.Engine.Rules.ChurnAfter, OracleThresholds), end, dropout)
	rep.Sweep, err = cfg.sweep(ctx, func(e *Evaluation) error {
		// The simulator is deterministic: the same records again.
		_, err := simulate.Run(ctx, sim, func(r simulate.Record) error {
			e.Add(Record{Topic: slices.Index(in, r.Topic), Key: r.Key, Value: r.Value, Time: r.Time})
			return nil
		})
		return err
	}, end, dropout)
	return rep, err
}
