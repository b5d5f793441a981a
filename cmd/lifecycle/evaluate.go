package main

import (
	"cmp"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/lifecycle-engine/lifecycle/processor"
	"github.com/lifecycle-engine/lifecycle/processor/offline"
	"github.com/lifecycle-engine/lifecycle/processor/quality"
	"github.com/lifecycle-engine/lifecycle/processor/simulate"
	"github.com/lifecycle-engine/lifecycle/processor/simulate/bgnbd"
	"github.com/lifecycle-engine/lifecycle/processor/simulate/paretoggg"
	"github.com/lifecycle-engine/lifecycle/processor/simulate/paretonbd"
	"github.com/lifecycle-engine/lifecycle/processor/simulate/regular"
	"github.com/lifecycle-engine/lifecycle/processor/simulate/rhythm"
	"github.com/lifecycle-engine/lifecycle/processor/simulate/sessions"
)

func runEvaluate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("evaluate", "[--population simulator|rhythm|bgnbd|sessions|regular|paretonbd|paretoggg --users N --days D --seed S | --events FILE --truth FILE | --cdnow FILE] [flags]",
		`Measures the churn warnings on a population whose true dropout times are
known: the simulator's (default) or an NDJSON event file (--events, the
input schema) with its truth (--truth, CSV user_id,dropout_at in RFC 3339,
empty when the user never dropped out, as "lifecycle simulate --truth"
writes it). The events run through the same engine as "lifecycle run"
(package processor/engine), in memory and without Kafka: partitioned by
the user id's Murmur2 hash into --partitions partitions, sent to the input
topic of their type in file order, merged in event-time order, with the
same stage model, warnings, RFM segments (rebuilt per partition) and
model. The warnings scored are the records "lifecycle run" would write to
lifecycle.churn-warnings for the same events; a table per warning rule
(reason code) and overall is printed, then the calibration of the
warnings' scores. Simulated records are stamped with their send time, as
if produced then; the records of --events are checked against the wall
clock (--max-future-skew), as "run" checks a file produced now: a
population dated past today loses its records after it (evaluate says how
many), and --max-future-skew 0 keeps them.

Definitions:
  true positive   a warning at t (Recovered records are not warnings) for a
                  user whose true dropout D is in (t - grace, t + horizon];
                  horizon defaults to churn-after + 14d, grace to churn-after
                  (a warning after the dropout still precedes the churn the
                  stage model declares, at most churn-after after the last
                  event). A warning of a user who never dropped out whose
                  t + horizon is after the end of the data is undecided and
                  not counted; every other warning is a false alarm.
  precision       true positives / (true positives + false alarms), counting
                  warnings (a warning counts for every rule among its reasons).
  recall          observable dropouts with at least one true-positive warning
                  / observable dropouts: users whose true dropout is at least
                  churn-after before the end of the data, so that their churn
                  is observable.
  lead            per recalled user, from the first true-positive warning: to
                  the true dropout ("lead", negative when the warning came
                  after the user had left) and to the stage model's churn
                  transition ("churn lead"); median and 10th percentile
                  (nearest rank), in days.
  false alarms    per 1,000 active user-weeks; an active user-week is a user
                  and a calendar week (UTC, counted from the Unix epoch) with
                  at least one event of that user.

End of the data: for the simulator, the end of the simulated period, and
stream time advances to it (as --idle-advance would); for --events, --end
if given (stream time advances to it), else 1 ms after the last event with
no advance: exactly what "lifecycle run" writes for the file.
low_p_alive needs a model file (--model, from "lifecycle fit").

--cdnow FILE scores a real purchase history (CDNOW's format) instead: its
purchases up to --calibration-end run through the same engine, every
customer is scored at the end of that day, and the truth is whether they
bought again by --holdout-end. It prints the ROC AUC and the precision at
recall 0.9 of the warnings' risk, of recency, and with --model of BG/NBD.
Fit the model (and the warnings' rhythm prior) on the calibration period
only: lifecycle fit --from FILE --format cdnow --calibration-end DATE.`)
	population := fs.String("population", "simulator", "without --events: simulator (package simulate), rhythm (the second, independent generator, package simulate/rhythm, with its oracle), bgnbd (BG/NBD's buy-till-you-die process with visits, package simulate/bgnbd, with its oracle), sessions (bursts of visits minutes apart, lives that end between sessions, package simulate/sessions, with its oracle), regular (users who keep a regular rhythm, gaps far less varied than memoryless waits, package simulate/regular, with its oracle), paretonbd (Pareto/NBD's process, purchases only, package simulate/paretonbd, with its oracle) or paretoggg (Pareto/GGG: users who differ in how regular they are, from clumpy bursts to a steady rhythm, package simulate/paretoggg, with its oracle)")
	minRate := fs.Float64("rhythm-min-rate", 0, "with --population rhythm: visits a day of the rarest users (0: 1/30)")
	maxRate := fs.Float64("rhythm-max-rate", 0, "with --population rhythm: visits a day of the most frequent users (0: 3)")
	lifetime := fs.Float64("rhythm-lifetime", 0, "with --population rhythm: the median lifetime of a user in days (0: 180)")
	minVPP := fs.Float64("bgnbd-min-visits", 0, "with --population bgnbd: visits per purchase of the users who buy most often (0: 3)")
	maxVPP := fs.Float64("bgnbd-max-visits", 0, "with --population bgnbd: visits per purchase of the users who buy least often (0: 10)")
	maxPeriod := fs.Float64("regular-max-period", 0, "with --population regular: mean days between visits of the rarest users (0: 14)")
	shape := fs.Float64("regular-shape", 0, "with --population regular: the gaps' Gamma shape, a whole number; higher is more regular, 1 is memoryless (0: 8)")
	meanShape := fs.Float64("paretoggg-mean-shape", 0, "with --population paretoggg: the users' mean regularity (their gaps' Gamma shape): below 1 most users come in bursts, 1 is memoryless, above 1 regular (0: 1.5)")
	arrivalDays := fs.Int("bgnbd-arrival-days", 0, "with --population bgnbd: users arrive over the first this many days (0: a quarter of --days, a cohort; up to --days: users who keep arriving)")
	users := fs.Int("users", 5000, "simulated users (without --events)")
	days := fs.Int("days", 0, "simulated days (without --events; default 180 for simulator, 365 for the others)")
	seed := fs.Int64("seed", 1, "simulation seed (without --events)")
	events := fs.String("events", "", "NDJSON event file (input schema) instead of the simulator; needs --truth")
	truthFile := fs.String("truth", "", "CSV user_id,dropout_at for --events")
	end := fs.String("end", "", "end of the data for --events (RFC 3339); default: 1 ms after the last event")
	ef := fs.engineFlags("accounting currency of --events", "model file from lifecycle fit, for low_p_alive (default: no model, no such warning)")
	horizon := fs.duration("horizon", 0, "a warning is right when the true dropout comes at most this long after it (default churn-after + 14d)")
	grace := fs.duration("grace", 0, "… or at most this long before it (default churn-after)")
	partitions := fs.Int("partitions", 8, "partitions of the input topics: each has its own RFM population, as in lifecycle run")
	asJSON := fs.Bool("json", false, "print a machine-readable JSON summary instead of the table")
	sweep := fs.Bool("sweep", false, "with --population: also score the warnings' risk at one fixed watch level per threshold (0.20 to 0.80), the first warning of each silence only, as the oracle is scored: the engine runs once more per threshold")
	warmUp := fs.duration("warm-up", 0, "score only from this long after the first event on: warnings before it, users who left before it and stayers' time before it are left out, the oracles' too (a generated population starts cold, every partition at the prior watch level; a deployment that has run for months does not), like 120d")
	cdnow := fs.String("cdnow", "", "a purchase history in CDNOW's format, scored at --calibration-end against --holdout-end")
	calEnd := fs.String("calibration-end", "1997-09-30", "with --cdnow: the last day of the calibration period (YYYY-MM-DD)")
	holdEnd := fs.String("holdout-end", "1998-06-30", "with --cdnow: the last day of the holdout period (YYYY-MM-DD)")
	if err := fs.parse(args, stdout); err != nil {
		return err
	}
	if *partitions < 1 {
		return fmt.Errorf("%w: --partitions %d: want 1 or more", errUsage, *partitions)
	}
	if *horizon < 0 || *grace < 0 || *warmUp < 0 {
		return fmt.Errorf("%w: --horizon, --grace and --warm-up must not be negative", errUsage)
	}
	if *warmUp > 0 && *cdnow != "" {
		return fmt.Errorf("%w: --warm-up does not apply to --cdnow, which scores every customer at --calibration-end", errUsage)
	}
	pc, model, err := ef.config(fs, "evaluate", processor.Topics{})
	if err != nil {
		return err
	}
	cfg := quality.Config{Engine: pc.Engine(), Partitions: int32(*partitions), Decoder: pc.Decoder, MaxFutureSkew: pc.MaxFutureSkew, Horizon: *horizon, Grace: *grace, Sweep: *sweep, WarmUp: *warmUp}
	if *sweep && (*cdnow != "" || *events != "") {
		return fmt.Errorf("%w: --sweep scores a generated population (--population); drop it with --events or --cdnow", errUsage)
	}
	if *sweep {
		fmt.Fprintf(stderr, "evaluate: --sweep runs the engine %d more times after the main run, one per threshold\n", len(quality.SweepRisks))
	}
	cfg.Engine.Model = model
	if *cdnow != "" {
		return evaluateCDNOW(ctx, stdout, *cdnow, *calEnd, *holdEnd, cfg, *asJSON)
	}
	var rep quality.Report
	var source string
	if *events == "" {
		if *truthFile != "" {
			return fmt.Errorf("%w: --truth goes with --events", errUsage)
		}
		var err error
		switch *population {
		case "simulator":
			sim := simulate.Config{Users: *users, Days: cmp.Or(*days, simulate.DefaultDays), Seed: *seed}
			if err := sim.Validate(); err != nil {
				return fmt.Errorf("%w: %v", errUsage, err)
			}
			rep, err = quality.EvaluateSimulation(ctx, sim, cfg)
		case "rhythm":
			rc := rhythm.Config{Users: *users, Days: cmp.Or(*days, 365), Seed: uint64(*seed), MinRate: *minRate, MaxRate: *maxRate, MedianLifetime: *lifetime}
			if err := rc.Validate(); err != nil {
				return fmt.Errorf("%w: %v", errUsage, err)
			}
			rep, err = quality.EvaluateRhythm(ctx, rc, cfg)
		case "bgnbd":
			bc := bgnbd.Config{Users: *users, Days: cmp.Or(*days, 365), Seed: uint64(*seed), MinVisitsPerPurchase: *minVPP, MaxVisitsPerPurchase: *maxVPP, ArrivalDays: *arrivalDays}
			if err := bc.Validate(); err != nil {
				return fmt.Errorf("%w: %v", errUsage, err)
			}
			rep, err = quality.EvaluateBGNBD(ctx, bc, cfg)
		case "sessions":
			sc := sessions.Config{Users: *users, Days: cmp.Or(*days, 365), Seed: uint64(*seed)}
			if err := sc.Validate(); err != nil {
				return fmt.Errorf("%w: %v", errUsage, err)
			}
			rep, err = quality.EvaluateSessions(ctx, sc, cfg)
		case "regular":
			rc := regular.Config{Users: *users, Days: cmp.Or(*days, 365), Seed: uint64(*seed), MaxPeriod: *maxPeriod, Shape: *shape}
			if err := rc.Validate(); err != nil {
				return fmt.Errorf("%w: %v", errUsage, err)
			}
			rep, err = quality.EvaluateRegular(ctx, rc, cfg)
		case "paretonbd":
			pc := paretonbd.Config{Users: *users, Days: cmp.Or(*days, 365), Seed: uint64(*seed)}
			if err := pc.Validate(); err != nil {
				return fmt.Errorf("%w: %v", errUsage, err)
			}
			rep, err = quality.EvaluateParetoNBD(ctx, pc, cfg)
		case "paretoggg":
			gc := paretoggg.Config{Users: *users, Days: cmp.Or(*days, 365), Seed: uint64(*seed), MeanShape: *meanShape}
			if err := gc.Validate(); err != nil {
				return fmt.Errorf("%w: %v", errUsage, err)
			}
			rep, err = quality.EvaluateParetoGGG(ctx, gc, cfg)
		default:
			return fmt.Errorf("%w: --population %q: use simulator, rhythm, bgnbd, sessions, regular, paretonbd or paretoggg", errUsage, *population)
		}
		if err != nil {
			return err
		}
		source = fmt.Sprintf("%s population: %d users, %d days, seed %d", *population, *users, cmp.Or(*days, map[string]int{"simulator": simulate.DefaultDays, "rhythm": 365, "bgnbd": 365, "sessions": 365, "regular": 365, "paretonbd": 365, "paretoggg": 365}[*population]), *seed)
		if *population == "rhythm" && (*minRate != 0 || *maxRate != 0 || *lifetime != 0) {
			source += fmt.Sprintf(", rates %g-%g a day, median lifetime %g days", cmp.Or(*minRate, 1.0/30), cmp.Or(*maxRate, 3), cmp.Or(*lifetime, 180))
		}
		if *population == "regular" && (*maxPeriod != 0 || *shape != 0) {
			source += fmt.Sprintf(", periods 1-%g days, gap shape %g", cmp.Or(*maxPeriod, 14), cmp.Or(*shape, 8))
		}
		if *population == "paretoggg" && *meanShape != 0 {
			source += fmt.Sprintf(", mean regularity %g", *meanShape)
		}
		if *population == "bgnbd" && (*minVPP != 0 || *maxVPP != 0) {
			source += fmt.Sprintf(", %g-%g visits per purchase", cmp.Or(*minVPP, 3), cmp.Or(*maxVPP, 10))
		}
	} else {
		if *truthFile == "" {
			return fmt.Errorf("%w: --events needs --truth FILE (user_id,dropout_at)", errUsage)
		}
		dropout, err := readTruth(*truthFile)
		if err != nil {
			return err
		}
		e, err := quality.New(cfg)
		if err != nil {
			return err
		}
		lines, err := offline.ReadNDJSON(ctx, *events, e.Add)
		if err != nil {
			return err
		}
		if e.Events() == 0 {
			return fmt.Errorf("%s: no valid events", *events)
		}
		endMs, until := e.LastEvent()+1, int64(0)
		if *end != "" {
			t, err := time.Parse(time.RFC3339, *end)
			if err != nil {
				return fmt.Errorf("%w: --end %q: use RFC 3339", errUsage, *end)
			}
			endMs, until = t.UnixMilli(), t.UnixMilli()
		}
		if err := e.Run(until, nil); err != nil {
			return err
		}
		rep = e.Report(endMs, dropout)
		source = fmt.Sprintf("%s: %d events (%d records not valid events), truth %s", *events, e.Events(), lines-e.Events(), *truthFile)
		if n := e.Future(); n > 0 {
			// As "run" would for a file produced now; a simulated population
			// dated past today loses its last weeks to it, so say so.
			source = fmt.Sprintf("%s: %d events (%d records not valid events, %d of them dated after the wall clock), truth %s", *events, e.Events(), lines-e.Events(), n, *truthFile)
			fmt.Fprintf(stderr, "evaluate: %d records of %s have a ts more than --max-future-skew (%v) after the wall clock: they went to the dead letters as future_timestamp, as lifecycle run does with a file produced now, so the data ends at %s. For a population dated past today, add --max-future-skew 0 or shift its dates.\n",
				n, *events, pc.MaxFutureSkew, time.UnixMilli(e.LastEvent()).UTC().Format(time.RFC3339))
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Source string `json:"source"`
			quality.Report
		}{source, rep})
	}
	printReport(stdout, source, rep)
	return nil
}

// evaluateCDNOW runs --cdnow and prints its scores.
func evaluateCDNOW(ctx context.Context, w io.Writer, path, calEnd, holdEnd string, cfg quality.Config, asJSON bool) error {
	cal, err := time.Parse("2006-01-02", calEnd)
	if err != nil {
		return fmt.Errorf("%w: --calibration-end %q: use a date like 1997-09-30", errUsage, calEnd)
	}
	hold, err := time.Parse("2006-01-02", holdEnd)
	if err != nil || !hold.After(cal) {
		return fmt.Errorf("%w: --holdout-end %q: use a date after --calibration-end, like 1998-06-30", errUsage, holdEnd)
	}
	rep, err := quality.EvaluateCDNOW(ctx, path, cal.UnixMilli(), hold.UnixMilli()+24*time.Hour.Milliseconds()-1, cfg)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	fmt.Fprintf(w, "%s: %d customers scored at the end of %s; %d without a purchase by the end of %s\n\n", path, rep.Customers, calEnd, rep.NoPurchase, holdEnd)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "score of \"no purchase in the holdout\"\tROC AUC\tprecision at recall 0.9\t")
	for _, r := range rep.Scores {
		fmt.Fprintf(tw, "%s\t%s\t%s\t\n", r.Score, num(r.AUC, 3), num(r.PrecisionAt, 3))
	}
	return tw.Flush()
}

func printReport(w io.Writer, source string, r quality.Report) {
	fmt.Fprintf(w, "%s\n%d users, %d dropouts (%d observable: the recall denominator), %d active user-weeks, %d recovered records; end %s\n",
		source, r.Users, r.Dropouts, r.ObservableDropout, r.ActiveUserWeeks, r.Recovered, r.End)
	if r.ScoredFrom != "" {
		fmt.Fprintf(w, "scored from %s (--warm-up): warnings before it, users who left before it and stayers' time before it are not counted\n", r.ScoredFrom)
	}
	fmt.Fprintf(w, "true positive: true dropout in (warning - %gd, warning + %gd]; lead in days from the first true-positive warning\n\n", r.GraceDays, r.HorizonDays)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "rule\twarnings\tTP\tFP\tundecided\tprecision\trecall\tlead med\tlead p10\tchurn lead med\tchurn lead p10\tFA/1k user-wk\tper stayer-yr\t")
	rows := append(r.Rules, r.Overall)
	rows = append(rows, r.Levels...)
	if r.Oracle != nil {
		rows = append(rows, r.Oracle.Printed()...)
	}
	if r.PopulationOracle != nil {
		rows = append(rows, r.PopulationOracle.Printed()...)
	}
	if r.Sweep != nil {
		rows = append(rows, r.Sweep.Printed()...)
	}
	for _, row := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", row.Rule, row.Warnings, row.TP, row.FP, row.Undecided,
			num(row.Precision, 3), num(row.Recall, 3), num(row.LeadMedianDays, 1), num(row.LeadP10Days, 1),
			num(row.ChurnLeadMedianDays, 1), num(row.ChurnLeadP10Days, 1), num(row.FalseAlarmsPer1kUserWeeks, 1), num(row.PerStayerYear, 2))
	}
	tw.Flush()
	c := r.Calibration
	fmt.Fprintf(w, "\ncalibration: a warning's score is the chance that the user does not come back (a true dropout, and no activity after the warning);\n\"had left\" is the stricter truth that the dropout was at or before the warning\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "score\twarnings\tmean score\tnot back\thad left\t")
	for _, b := range c.Bins {
		if b.Warnings > 0 {
			fmt.Fprintf(tw, "%.1f-%.1f\t%d\t%s\t%s\t%s\t\n", b.From, b.To, b.Warnings, num(b.MeanScore, 3), num(b.Gone, 3), num(b.Left, 3))
		}
	}
	if a := c.All; a.Warnings > 0 {
		fmt.Fprintf(tw, "all\t%d\t%s\t%s\t%s\t\n", a.Warnings, num(a.MeanScore, 3), num(a.Gone, 3), num(a.Left, 3))
	}
	tw.Flush()
	fmt.Fprintf(w, "Brier score %s (a constant at the share not back: %s); against \"had left\" %s (%s)\n",
		num(c.Brier, 4), num(c.BaseRateBrier, 4), num(c.BrierHadLeft, 4), num(c.BaseRateBrierHadLeft, 4))
	if len(r.Watch) > 0 {
		fmt.Fprintf(w, "\nwatch level chosen from each partition's departures by the end (--warn-recall):")
		for _, l := range r.Watch {
			fmt.Fprintf(w, " p%d %.3f (%d)", l.Partition, l.Risk, l.Departures)
		}
		fmt.Fprintln(w)
	}
	if len(r.Breaks) > 0 {
		// Partitions that saw the same days are listed together: a break
		// the whole population took shows as one line.
		var days []string
		parts := map[string][]string{}
		for _, b := range r.Breaks {
			if parts[b.Days] == nil {
				days = append(days, b.Days)
			}
			parts[b.Days] = append(parts[b.Days], fmt.Sprintf("p%d", b.Partition))
		}
		fmt.Fprintf(w, "\ndays the partitions took as breaks (--warn-detect-breaks; given as --warn-break-days, they would be left out from their first hour):\n")
		for _, d := range days {
			fmt.Fprintf(w, "  %s: %s\n", strings.Join(parts[d], " "), d)
		}
	}
	if r.Oracle != nil {
		fmt.Fprintln(w)
	}
	printBest(w, "oracle (knows every user's true rates and dropout process)", r.Oracle)
	printBest(w, "population oracle (the same without each user's own dropout chance; knows the population's law of it)", r.PopulationOracle)
	printBest(w, "the warnings' risk at one level, scored as the oracle (--sweep)", r.Sweep)
}

// printBest prints a trade-off's best precision at recall ≥ 0.9, when
// there is a trade-off.
func printBest(w io.Writer, what string, t *quality.TradeOff) {
	switch {
	case t == nil:
	case t.Best == nil:
		fmt.Fprintf(w, "%s: no threshold reaches recall 0.9\n", what)
	default:
		fmt.Fprintf(w, "%s: precision %s at recall %s (%s)\n", what, num(t.Best.Precision, 3), num(t.Best.Recall, 3), t.Best.Rule)
	}
}

func num(n quality.Num, prec int) string {
	if math.IsNaN(float64(n)) {
		return "-"
	}
	return fmt.Sprintf("%.*f", prec, float64(n))
}

// readTruth reads the CSV user_id,dropout_at.
func readTruth(path string) (map[string]int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = 2
	out := map[string]int64{}
	for line := 1; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if errors.Is(err, csv.ErrFieldCount) {
			return nil, fmt.Errorf("%s:%d: %d columns; want two, user_id,dropout_at (the dropout in RFC 3339, empty for a user who did not leave)", path, line, len(rec))
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if line == 1 && rec[0] == "user_id" {
			continue
		}
		if rec[1] == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, rec[1])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: dropout_at %q: want RFC 3339 or empty", path, line, rec[1])
		}
		out[rec[0]] = t.UnixMilli()
	}
}
