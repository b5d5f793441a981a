package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime/debug"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fastjson"

	"github.com/lifecycle-engine/lifecycle/processor/predict"
	"github.com/lifecycle-engine/lifecycle/processor/rules"
	"github.com/lifecycle-engine/lifecycle/processor/warnings"
	"github.com/lifecycle-engine/lifecycle/schemas"
	"github.com/lifecycle-engine/lifecycle/state"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

func runFit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("fit", "(--from FILE [--format ndjson|csv|cdnow] | --state-dir DIR) [--period week|day] [--calibration-end DATE] [--out FILE]",
		`Fits the BG/NBD model (how often each user buys and the chance they have
silently lapsed for good) and the Gamma-Gamma model (how much they spend per
purchase) to a purchase history by maximum likelihood, prints a report and
writes the model file that scoring uses.

All purchases of a user on one UTC day count as one transaction (their
amounts summed); times are measured in --period units. Only purchases up to
--calibration-end count, and each user's age T is measured to it.

It also fits the population's rhythm of activity (the median gap between a
user's visits, and how much it varies), the prior from which the churn
warnings start for a user with few visits: "run --model" and "evaluate
--model" use it instead of --warn-prior-gap. It needs at least 100 users
with 3 or more gaps between visits (all events of --format ndjson, the
purchases of cdnow; none from csv).

--state-dir fits from the store of a stopped "lifecycle run" instance
(read-only: the instance must be stopped): every user's purchase summary
and rhythm as the engine keeps them, at the calibration end (default: the
latest stream time of its partitions).`)
	from := fs.String("from", "", "input file: an event history, per-user summaries or CDNOW data, see --format (or --state-dir)")
	format := fs.String("format", "ndjson", `format of --from: ndjson (input events, one JSON object a line, the input schema; only valid purchases count, repeated event_ids once), csv (per-user summaries with the header user_id,x,t_x,T,mean_value, already in --period units) or cdnow (whitespace-separated customer id, [sample id,] date YYYYMMDD, quantity, dollar amount; an optional header line)`)
	periodName := fs.String("period", "week", "unit of time of the model: week or day")
	calEnd := fs.String("calibration-end", "", `end of the calibration period, "now" for the fit: a date YYYY-MM-DD (00:00 UTC; purchases on that day count) or an RFC 3339 time; default: the latest purchase day in the input (not for --format csv)`)
	stateDir := fs.String("state-dir", "", "fit from the Pebble store of a stopped lifecycle run instance instead of --from")
	out := fs.String("out", "model.json", "write the model file (JSON) here")
	breakDays := fs.String("warn-break-days", "", "with --from: the days users stop together, as run's --warn-break-days, left out of the gaps the rhythm is fitted from (a store's gaps already are)")
	if err := fs.parse(args, stdout); err != nil {
		return err
	}
	if (*from == "") == (*stateDir == "") {
		return fmt.Errorf("%w: fit: give exactly one of --from FILE and --state-dir DIR (see lifecycle fit --help)", errUsage)
	}
	breaks, err := warnings.ParseBreaks(*breakDays)
	if err != nil {
		return fmt.Errorf("%w: --warn-break-days: %v", errUsage, err)
	}
	if len(breaks) > 0 && *stateDir != "" {
		return fmt.Errorf("%w: --warn-break-days goes with --from: a store's gaps were measured with the break days of the run that made it", errUsage)
	}
	period, err := predict.ParsePeriod(*periodName)
	if err != nil {
		return fmt.Errorf("%w: --period %q: use week or day", errUsage, *periodName)
	}
	var end int64
	haveEnd := *calEnd != ""
	if haveEnd {
		t, err := time.Parse("2006-01-02", *calEnd)
		if err != nil {
			t, err = time.Parse(time.RFC3339, *calEnd)
		}
		if err != nil {
			return fmt.Errorf("%w: --calibration-end %q: use a date like 1997-09-30 or an RFC 3339 time", errUsage, *calEnd)
		}
		end = t.UnixMilli()
	}
	switch *format {
	case "ndjson", "cdnow":
	case "csv":
		if haveEnd {
			return fmt.Errorf("%w: --calibration-end does not apply to --format csv: the summaries already are at their calibration end", errUsage)
		}
	default:
		return fmt.Errorf("%w: --format %q: use ndjson, csv or cdnow", errUsage, *format)
	}

	t0 := time.Now()
	var (
		data   []predict.Summary
		note   string
		rhythm warnings.PriorFit
		source = *from
	)
	if *stateDir != "" {
		source = *stateDir + " (state store)"
		data, end, note, err = readStateDir(*stateDir, end, haveEnd, period, &rhythm)
	} else {
		data, end, note, err = readFitFile(*from, *format, end, haveEnd, period, breaks, &rhythm)
	}
	if err != nil {
		return err
	}
	readTime := time.Since(t0)
	if len(data) == 0 {
		return fmt.Errorf("fit: no user with a purchase in %s", source)
	}

	t1 := time.Now()
	m, err := predict.Fit(data, period)
	fitTime := time.Since(t1)
	if m != nil {
		m.Version = buildVersion()
		if *format != "csv" {
			m.CalibrationEnd = time.UnixMilli(end).UTC()
		}
	}
	if gap, spread, users, ok := rhythm.Prior(); m != nil && ok {
		m.Rhythm = &predict.GapPrior{MedianGapHours: math.Round(gap.Hours()*1000) / 1000, Spread: math.Round(spread*1000) / 1000, Users: users}
	}
	if *stateDir == "" {
		source += " (" + *format + ")"
	}
	fmt.Fprintf(stdout, "lifecycle fit: %s: %s\n", source, note)
	fmt.Fprintf(stdout, "  period %s", period)
	if *format != "csv" {
		fmt.Fprintf(stdout, ", calibration end %s", time.UnixMilli(end).UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(stdout, "; read in %.2f s, fitted in %.2f s\n\n", readTime.Seconds(), fitTime.Seconds())
	if m != nil && m.BGNBDFit.Iterations > 0 {
		fmt.Fprintf(stdout, "BG/NBD (purchase rate ~ Gamma(r, alpha), dropout after each purchase ~ Beta(a, b)), %d users\n", m.BGNBDFit.Users)
		fmt.Fprintf(stdout, "  r %.4f   alpha %.4f   a %.4f   b %.4f\n", m.BGNBD.R, m.BGNBD.Alpha, m.BGNBD.A, m.BGNBD.B)
		printFit(stdout, m.BGNBDFit)
	}
	if m != nil && m.GammaGammaFit.Iterations > 0 {
		fmt.Fprintf(stdout, "Gamma-Gamma (value per purchase), %d repeat buyers with a positive mean value\n", m.GammaGammaFit.Users)
		fmt.Fprintf(stdout, "  p %.4f   q %.4f   gamma %.4f   (mean value per purchase %.2f)\n", m.GammaGamma.P, m.GammaGamma.Q, m.GammaGamma.Gamma, m.GammaGamma.PopulationMean())
		printFit(stdout, m.GammaGammaFit)
	}
	if m != nil && m.Rhythm != nil {
		fmt.Fprintf(stdout, "Rhythm (the churn warnings' prior for a user with few visits), %d users with %d or more gaps\n", m.Rhythm.Users, warnings.MinPriorGaps)
		fmt.Fprintf(stdout, "  median gap %.1f hours (%.1f days)   spread of ln(gap) %.3f\n\n", m.Rhythm.MedianGapHours, m.Rhythm.MedianGapHours/24, m.Rhythm.Spread)
	} else {
		_, _, users, _ := rhythm.Prior()
		fmt.Fprintf(stdout, "Rhythm: not fitted (%d users with %d or more gaps; at least %d needed): the warnings keep --warn-prior-gap\n\n", users, warnings.MinPriorGaps, warnings.MinPriorUsers)
	}
	if err != nil {
		return fmt.Errorf("fit: %w; no model written", err)
	}
	if err := m.Save(*out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s\n", *out)
	return nil
}

// readFitFile reads --from: per-user summaries at end (the latest purchase
// day unless haveEnd) and, from the event histories, the rhythm.
func readFitFile(path, format string, end int64, haveEnd bool, period predict.Period, breaks []warnings.Span, rhythm *warnings.PriorFit) ([]predict.Summary, int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, "", err
	}
	defer f.Close()
	in := bufio.NewReaderSize(f, 1<<20)
	if format == "csv" {
		data, note, err := readSummaryCSV(in, path)
		return data, end, note, err
	}
	var h *histories
	if format == "ndjson" {
		h, err = readNDJSON(in, path)
	} else {
		h, err = readCDNOW(in, path)
	}
	if err != nil {
		return nil, 0, "", err
	}
	if !haveEnd {
		end = h.last
	}
	h.rhythm(end, breaks, rhythm)
	data, note := h.summaries(end, period)
	return data, end, note, nil
}

// readStateDir reads every user of a stopped instance's store: their
// purchase summary at end (the latest stream time of the partitions unless
// haveEnd) and their rhythm.
func readStateDir(dir string, end int64, haveEnd bool, period predict.Period, rhythm *warnings.PriorFit) ([]predict.Summary, int64, string, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, 0, "", fmt.Errorf("%w: --state-dir %s: %v", errUsage, dir, err)
	}
	store, err := state.Open(state.Options{Dir: dir, ReadOnly: true})
	if err != nil {
		return nil, 0, "", fmt.Errorf("fit: opening %s (is the instance stopped?): %w", dir, err)
	}
	defer store.Close()
	parts, err := store.Partitions()
	if err != nil {
		return nil, 0, "", err
	}
	if !haveEnd {
		for _, p := range parts {
			meta, ok, err := store.Meta(p)
			if err != nil {
				return nil, 0, "", err
			}
			if ok {
				end = max(end, meta.StreamTime)
			}
		}
	}
	var data []predict.Summary
	users := 0
	for _, p := range parts {
		err := store.Users(p, func(_ string, r record.User) error {
			users++
			rhythm.Add(&r.Warn)
			if s, ok := r.User.Buys.Summary(end, period); ok {
				data = append(data, s)
			}
			return nil
		})
		if err != nil {
			return nil, 0, "", err
		}
	}
	note := fmt.Sprintf("%d users in %d partitions, %d with a purchase up to the calibration end", users, len(parts), len(data))
	return data, end, note, nil
}

func printFit(w io.Writer, st predict.FitStats) {
	conv := "converged"
	if !st.Converged {
		conv = "NOT converged"
	}
	fmt.Fprintf(w, "  log-likelihood %.2f, %d iterations (%d evaluations), %s (%s), %.3f s\n\n",
		st.LogLik, st.Iterations, st.Evaluations, conv, st.Status, st.Duration.Seconds())
}

func buildVersion() string {
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok && v == "" {
		v = bi.Main.Version
	}
	if v == "" || v == "(devel)" {
		v = "dev"
	}
	return v
}

// histories collects every user's purchases and activity.
type histories struct {
	users     map[string]*history
	last      int64 // latest purchase day start
	purchases int
	skipped   int    // records that are not valid purchases
	dups      int    // repeated event_ids
	firstErr  string // the first reason a record was skipped
}

// history is one user's purchases (day times and amounts) and activity.
type history struct {
	times   []int64
	amounts []schemas.Micros
	visits  []int64 // every activity (ndjson: every valid event; cdnow: the purchases)
}

func newHistories() *histories { return &histories{users: map[string]*history{}, last: -1 << 62} }

func (h *histories) add(user string, t int64, amount schemas.Micros) {
	p := h.users[user]
	if p == nil {
		p = &history{}
		h.users[user] = p
	}
	p.times = append(p.times, t)
	p.amounts = append(p.amounts, amount)
	h.purchases++
	h.last = max(h.last, predict.DayStart(t))
}

// visit records an activity of user at t.
func (h *histories) visit(user string, t int64) {
	p := h.users[user]
	if p == nil {
		p = &history{}
		h.users[user] = p
	}
	p.visits = append(p.visits, t)
}

// rhythm adds every user's gaps between activities up to end to f, as the
// churn warnings learn them (the same code, on a default configuration).
func (h *histories) rhythm(end int64, breaks []warnings.Span, f *warnings.PriorFit) {
	c := warnings.Config{Breaks: breaks}.WithDefaults()
	ctx := warnings.Context{Stage: rules.New, PAlive: -1}
	for _, u := range h.users {
		slices.Sort(u.visits)
		var s warnings.State
		for _, t := range u.visits {
			if t > end {
				break
			}
			c.OnEvent(nil, &s, schemas.Event{Type: schemas.Login, Time: t}, ctx)
		}
		f.Add(&s)
	}
}

func (h *histories) skip(why string) {
	if h.skipped == 0 {
		h.firstErr = why
	}
	h.skipped++
}

// summaries returns the users' summaries at end, in user id order, and a
// line describing the input.
func (h *histories) summaries(end int64, p predict.Period) ([]predict.Summary, string) {
	ids := make([]string, 0, len(h.users))
	for id, u := range h.users {
		if len(u.times) > 0 { // a buyer
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	out := make([]predict.Summary, 0, len(ids))
	later, counted := 0, 0
	for _, id := range ids {
		u := h.users[id]
		for _, t := range u.times {
			if predict.DayStart(t) <= end {
				counted++
			}
		}
		s, ok := predict.SummaryFrom(u.times, u.amounts, end, p)
		if !ok {
			later++
			continue
		}
		out = append(out, s)
	}
	note := fmt.Sprintf("%d purchases of %d users, %d purchases of %d users up to the calibration end", h.purchases, len(ids), counted, len(out))
	if later > 0 {
		note += fmt.Sprintf(", %d users whose first purchase is after the calibration end left out", later)
	}
	if h.dups > 0 {
		note += fmt.Sprintf(", %d repeated event_ids ignored", h.dups)
	}
	if h.skipped > 0 {
		note += fmt.Sprintf(", %d other records skipped (first: %s)", h.skipped, h.firstErr)
	}
	return out, note
}

// readNDJSON reads input events, one JSON object a line, with the engine's
// decoder: records it rejects are skipped; every event counts for the
// rhythm, purchases for the models of purchases.
func readNDJSON(r *bufio.Reader, name string) (*histories, error) {
	h := newHistories()
	dec := schemas.NewDecoder(schemas.DecoderConfig{})
	seen := map[string]struct{}{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<16), 1<<22)
	for line := 1; sc.Scan(); line++ {
		b := sc.Bytes()
		if len(strings.TrimSpace(string(b))) == 0 {
			continue
		}
		// The key of an input record is its user_id.
		ev, err := dec.Decode(fastjson.GetBytes(b, "user_id"), b)
		if err != nil {
			h.skip(fmt.Sprintf("line %d: %v", line, err))
			continue
		}
		if _, ok := seen[ev.ID]; ok {
			h.dups++
			continue
		}
		seen[ev.ID] = struct{}{}
		h.visit(ev.UserID, ev.Time)
		if ev.Type == schemas.Purchase {
			h.add(ev.UserID, ev.Time, ev.Amount)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	return h, nil
}

// readCDNOW reads the CDNOW format (predict.ReadCDNOW): every row is a
// purchase, and an activity.
func readCDNOW(r *bufio.Reader, name string) (*histories, error) {
	h := newHistories()
	err := predict.ReadCDNOW(r, name, func(id string, at int64, amount schemas.Micros) {
		h.add(id, at, amount)
		h.visit(id, at)
	})
	if err != nil {
		return nil, err
	}
	return h, nil
}

// readSummaryCSV reads per-user summaries: user_id,x,t_x,T,mean_value with
// that header.
func readSummaryCSV(r io.Reader, name string) ([]predict.Summary, string, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = 5
	cr.TrimLeadingSpace = true
	head, err := cr.Read()
	if err != nil {
		return nil, "", fmt.Errorf("%s: reading the header: %w", name, err)
	}
	want := []string{"user_id", "x", "t_x", "T", "mean_value"}
	for i := range want {
		if strings.TrimSpace(head[i]) != want[i] {
			return nil, "", fmt.Errorf("%s: header %q; want %s", name, strings.Join(head, ","), strings.Join(want, ","))
		}
	}
	var out []predict.Summary
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", name, err)
		}
		line, _ := cr.FieldPos(0)
		var v [4]float64
		for i := range v {
			v[i], err = strconv.ParseFloat(strings.TrimSpace(rec[i+1]), 64)
			if err != nil {
				return nil, "", fmt.Errorf("%s:%d: %s %q is not a number", name, line, want[i+1], rec[i+1])
			}
		}
		s := predict.Summary{X: v[0], Tx: v[1], T: v[2], MeanValue: v[3]}
		if !s.Valid() {
			return nil, "", fmt.Errorf("%s:%d: user %q: impossible summary x=%g t_x=%g T=%g mean_value=%g (want a whole x ≥ 0, 0 ≤ t_x ≤ T, t_x = 0 when x = 0, mean_value ≥ 0)", name, line, rec[0], s.X, s.Tx, s.T, s.MeanValue)
		}
		out = append(out, s)
	}
	return out, fmt.Sprintf("%d users", len(out)), nil
}
