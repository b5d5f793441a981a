package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fastjson"

	"github.com/lifecycle-engine/lifecycle/processor/predict"
	"github.com/lifecycle-engine/lifecycle/schemas"
)

func runFit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("fit", "--from FILE [--format ndjson|csv|cdnow] [--period week|day] [--calibration-end DATE] [--out FILE]",
		`Fits the BG/NBD model (how often each user buys and the chance they have
silently lapsed for good) and the Gamma-Gamma model (how much they spend per
purchase) to a purchase history by maximum likelihood, prints a report and
writes the model file that scoring uses.

All purchases of a user on one UTC day count as one transaction (their
amounts summed); times are measured in --period units. Only purchases up to
--calibration-end count, and each user's age T is measured to it.

Fitting from the live state store (--state-dir) is not supported yet: export
the purchase events as NDJSON and use --from.`)
	from := fs.String("from", "", "input file (required): an event history, per-user summaries or CDNOW data, see --format")
	format := fs.String("format", "ndjson", `format of --from: ndjson (input events, one JSON object a line, the input schema; only valid purchases count, repeated event_ids once), csv (per-user summaries with the header user_id,x,t_x,T,mean_value, already in --period units) or cdnow (whitespace-separated customer id, [sample id,] date YYYYMMDD, quantity, dollar amount; an optional header line)`)
	periodName := fs.String("period", "week", "unit of time of the model: week or day")
	calEnd := fs.String("calibration-end", "", `end of the calibration period, "now" for the fit: a date YYYY-MM-DD (00:00 UTC; purchases on that day count) or an RFC 3339 time; default: the latest purchase day in the input (not for --format csv)`)
	out := fs.String("out", "model.json", "write the model file (JSON) here")
	for _, a := range args {
		if n := strings.TrimLeft(a, "-"); a != n && (n == "state-dir" || strings.HasPrefix(n, "state-dir=")) {
			return fmt.Errorf("%w: fit: --state-dir is not yet supported (fitting from the live store needs per-user purchase state the store does not keep yet); use --from FILE", errUsage)
		}
		if a == "--" {
			break
		}
	}
	if err := fs.parse(args, stdout); err != nil {
		return err
	}
	if *from == "" {
		return fmt.Errorf("%w: fit: --from FILE is required (see lifecycle fit --help)", errUsage)
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
	f, err := os.Open(*from)
	if err != nil {
		return err
	}
	defer f.Close()
	in := bufio.NewReaderSize(f, 1<<20)
	var (
		data []predict.Summary
		note string
	)
	if *format == "csv" {
		data, note, err = readSummaryCSV(in, *from)
	} else {
		var h *histories
		if *format == "ndjson" {
			h, err = readNDJSON(in, *from)
		} else {
			h, err = readCDNOW(in, *from)
		}
		if err == nil {
			if !haveEnd {
				end = h.last
			}
			data, note = h.summaries(end, period)
		}
	}
	if err != nil {
		return err
	}
	readTime := time.Since(t0)
	if len(data) == 0 {
		return fmt.Errorf("fit: no user with a purchase in %s", *from)
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
	fmt.Fprintf(stdout, "lifecycle fit: %s (%s): %s\n", *from, *format, note)
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
	if err != nil {
		return fmt.Errorf("fit: %w; no model written", err)
	}
	if err := m.Save(*out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s\n", *out)
	return nil
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

// histories collects every user's purchases.
type histories struct {
	users     map[string]*purchases
	last      int64 // latest purchase day start
	purchases int
	skipped   int    // records that are not valid purchases
	dups      int    // repeated event_ids
	firstErr  string // the first reason a record was skipped
}

type purchases struct {
	times   []int64
	amounts []schemas.Micros
}

func newHistories() *histories { return &histories{users: map[string]*purchases{}, last: -1 << 62} }

func (h *histories) add(user string, t int64, amount schemas.Micros) {
	p := h.users[user]
	if p == nil {
		p = &purchases{}
		h.users[user] = p
	}
	p.times = append(p.times, t)
	p.amounts = append(p.amounts, amount)
	h.purchases++
	h.last = max(h.last, predict.DayStart(t))
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
	for id := range h.users {
		ids = append(ids, id)
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
	note := fmt.Sprintf("%d purchases of %d users, %d purchases of %d users up to the calibration end", h.purchases, len(h.users), counted, len(out))
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
// decoder: records it rejects, and events other than purchases, are skipped.
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
		if ev.Type != schemas.Purchase {
			continue
		}
		if _, ok := seen[ev.ID]; ok {
			h.dups++
			continue
		}
		seen[ev.ID] = struct{}{}
		h.add(ev.UserID, ev.Time, ev.Amount)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	return h, nil
}

// readCDNOW reads the CDNOW format: customer id, [sample id,] date
// YYYYMMDD, quantity, dollar amount, whitespace-separated; each row is a
// purchase at 00:00 UTC of its day.
func readCDNOW(r *bufio.Reader, name string) (*histories, error) {
	h := newHistories()
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		fs := strings.Fields(sc.Text())
		if len(fs) == 0 {
			continue
		}
		n := len(fs)
		if n < 4 || n > 5 {
			return nil, fmt.Errorf("%s:%d: %d fields; want customer id, [sample id,] date YYYYMMDD, quantity, amount", name, line, n)
		}
		d, err := time.Parse("20060102", fs[n-3])
		if err != nil {
			if line == 1 { // a header
				continue
			}
			return nil, fmt.Errorf("%s:%d: date %q is not YYYYMMDD", name, line, fs[n-3])
		}
		amt, err := schemas.ParseMicros(fs[n-1])
		if err != nil || amt < 0 {
			return nil, fmt.Errorf("%s:%d: amount %q is not a decimal amount ≥ 0", name, line, fs[n-1])
		}
		h.add(fs[0], d.UnixMilli(), amt)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
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
