package predict

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifecycle-engine/lifecycle/schemas"
)

func day(s string) int64 {
	t, err := time.Parse("2006-01-02T15:04", s)
	if err != nil {
		panic(err)
	}
	return t.UnixMilli()
}

func TestTracker(t *testing.T) {
	var tr Tracker
	if _, ok := tr.Summary(day("2026-01-10T00:00"), Week); ok {
		t.Fatal("a Tracker without purchases has a summary")
	}
	tr.Add(day("2026-01-01T09:00"), 10_000_000)
	tr.Add(day("2026-01-01T18:00"), 5_000_000) // same day: same transaction
	tr.Add(day("2026-01-08T10:00"), 20_000_000)
	tr.Add(day("2026-01-08T23:59"), 4_000_000)
	tr.Add(day("2026-01-15T00:00"), 6_000_000)
	s, ok := tr.Summary(day("2026-01-29T00:00"), Week)
	want := Summary{X: 2, Tx: 2, T: 4, MeanValue: 15}
	if !ok || s != want {
		t.Errorf("got %+v %v, want %+v", s, ok, want)
	}
	if s, _ := tr.Summary(day("2026-01-29T00:00"), Day); s.Tx != 14 || s.T != 28 {
		t.Errorf("in days: %+v", s)
	}
	// now before the last purchase day counts as that day
	if s, _ := tr.Summary(day("2026-01-02T00:00"), Week); s.T != s.Tx {
		t.Errorf("T %g < Tx %g", s.T, s.Tx)
	}
	// A late purchase before the first day makes the old first day a repeat.
	late := tr
	late.Add(day("2025-12-25T12:00"), 1_000_000)
	s, _ = late.Summary(day("2026-01-29T00:00"), Week)
	want = Summary{X: 3, Tx: 3, T: 5, MeanValue: (15 + 24 + 6) / 3.0}
	if math.Abs(s.MeanValue-want.MeanValue) > 1e-12 || s.X != want.X || s.Tx != want.Tx || s.T != want.T {
		t.Errorf("late first: got %+v, want %+v", s, want)
	}
	if late.FirstValue != 1_000_000 {
		t.Errorf("first value %d", late.FirstValue)
	}
	// Same summary from SummaryFrom, in any order, ignoring purchases after now.
	times := []int64{day("2026-01-15T00:00"), day("2026-01-01T18:00"), day("2026-02-01T00:00"), day("2026-01-08T10:00"), day("2026-01-01T09:00"), day("2026-01-08T23:59")}
	amounts := []schemas.Micros{6e6, 5e6, 99e6, 20e6, 10e6, 4e6}
	s, ok = SummaryFrom(times, amounts, day("2026-01-29T00:00"), Week)
	if want := (Summary{X: 2, Tx: 2, T: 4, MeanValue: 15}); !ok || s != want {
		t.Errorf("SummaryFrom: %+v, want %+v", s, want)
	}
	if _, ok := SummaryFrom(times, nil, day("2025-01-01T00:00"), Week); ok {
		t.Error("SummaryFrom with every purchase after now has a summary")
	}
	if DayStart(-1) != -dayMillis || DayStart(dayMillis+5) != dayMillis {
		t.Error("DayStart")
	}
}

func TestFitErrors(t *testing.T) {
	few := []Summary{{X: 1, Tx: 1, T: 2, MeanValue: 3}, {T: 3}}
	if _, _, err := FitBGNBD(few); !errors.Is(err, ErrTooLittleData) {
		t.Errorf("2 users: %v", err)
	}
	none := make([]Summary, 50)
	for i := range none {
		none[i] = Summary{T: float64(i + 1)}
	}
	_, _, err := FitBGNBD(none)
	if !errors.Is(err, ErrTooLittleData) || !strings.Contains(err.Error(), "repeat buyer") {
		t.Errorf("no repeat buyers: %v", err)
	}
	if _, _, err := FitGammaGamma(none); !errors.Is(err, ErrTooLittleData) {
		t.Errorf("Gamma-Gamma without repeat buyers: %v", err)
	}
	if _, err := Fit(none, Week); err == nil || !strings.HasPrefix(err.Error(), "BG/NBD: ") {
		t.Errorf("Fit: %v", err)
	}
}

// TestGradient checks the analytic gradients against central differences
// of LogLik.
func TestGradient(t *testing.T) {
	data := simulate(300, BGNBD{0.3, 5, 0.9, 3}, GammaGamma{5, 3, 12}, 10, 40, 9)
	bg := BGNBD{0.4, 3, 1.2, 2}
	var g [4]float64
	for _, s := range data {
		k := bg.xTerms(s.X)
		bg.gradAdd(s, 1, &k, &g)
	}
	const h = 1e-6
	for i := range 4 {
		th := [4]float64{math.Log(bg.R), math.Log(bg.Alpha), math.Log(bg.A), math.Log(bg.B)}
		f := func(d float64) float64 {
			t := th
			t[i] += d
			m := BGNBD{math.Exp(t[0]), math.Exp(t[1]), math.Exp(t[2]), math.Exp(t[3])}
			ll := 0.0
			for _, s := range data {
				ll += m.LogLik(s)
			}
			return ll
		}
		if fd := (f(h) - f(-h)) / (2 * h); math.Abs(fd-g[i]) > 1e-4*math.Max(1, math.Abs(fd)) {
			t.Errorf("BG/NBD gradient %d: analytic %g, numeric %g", i, g[i], fd)
		}
	}
	gg := GammaGamma{4, 2, 10}
	var g3 [3]float64
	for _, s := range data {
		if usableSpend(s) {
			gg.gradAdd(s, 1, &g3)
		}
	}
	for i := range 3 {
		th := [3]float64{math.Log(gg.P), math.Log(gg.Q), math.Log(gg.Gamma)}
		f := func(d float64) float64 {
			t := th
			t[i] += d
			m := GammaGamma{math.Exp(t[0]), math.Exp(t[1]), math.Exp(t[2])}
			ll := 0.0
			for _, s := range data {
				if usableSpend(s) {
					ll += m.LogLik(s)
				}
			}
			return ll
		}
		if fd := (f(h) - f(-h)) / (2 * h); math.Abs(fd-g3[i]) > 1e-4*math.Max(1, math.Abs(fd)) {
			t.Errorf("Gamma-Gamma gradient %d: analytic %g, numeric %g", i, g3[i], fd)
		}
	}
}

func TestModelFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.json")
	m := &Model{Format: FormatVersion, Version: "test", Period: Week, BGNBD: publishedBGNBD, GammaGamma: publishedGG,
		FittedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), BGNBDFit: FitStats{Users: 2357, LogLik: -9582.4, Converged: true}}
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), `"format": 1`) || !strings.Contains(string(b), `"period": "week"`) {
		t.Errorf("model file:\n%s", b)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.BGNBD != m.BGNBD || got.GammaGamma != m.GammaGamma || got.Period != Week || got.BGNBDFit.Users != 2357 || !got.FittedAt.Equal(m.FittedAt) {
		t.Errorf("round trip: %+v", got)
	}
	for _, c := range []struct{ body, want string }{
		{strings.Replace(string(b), `"format": 1`, `"format": 2`, 1), "model format 2, but this build reads only format 1"},
		{strings.Replace(string(b), `"format": 1,`, ``, 1), `no "format" field`},
		{`[1,2]`, "not a model file"},
		{strings.Replace(string(b), `"period": "week"`, `"period": "month"`, 1), `period "month"`},
		{strings.Replace(string(b), `"q": 3.74`, `"q": 0.5`, 1), "invalid Gamma-Gamma parameters"},
	} {
		os.WriteFile(path, []byte(c.body), 0o644)
		if _, err := Load(path); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Load: %v, want an error with %q", err, c.want)
		}
	}
}

func TestCLV(t *testing.T) {
	m := &Model{Format: FormatVersion, Period: Week, BGNBD: publishedBGNBD, GammaGamma: publishedGG}
	s := Summary{X: 2, Tx: 30.43, T: 38.86, MeanValue: 22.345}
	sc := m.Score(s, 52)
	if got, want := m.CLV(s, 52, 0), sc.Purchases*sc.Value; math.Abs(got-want) > 1e-9 {
		t.Errorf("undiscounted CLV %g, want %g", got, want)
	}
	d := m.CLV(s, 52, 0.002)
	if !(d < m.CLV(s, 52, 0) && d > m.CLV(s, 52, 0)/(1.002*1.002*52)) {
		t.Errorf("discounted CLV %g", d)
	}
	if a := testing.AllocsPerRun(100, func() { m.CLV(s, 52, 0.002) }); a != 0 {
		t.Errorf("CLV allocates %v times", a)
	}
}

var sink Score

// BenchmarkScore scores one user: P(alive), E[Y(39)] and E[M].
func BenchmarkScore(b *testing.B) {
	m := &Model{Format: FormatVersion, Period: Week, BGNBD: publishedBGNBD, GammaGamma: publishedGG}
	users := []Summary{{X: 2, Tx: 30.43, T: 38.86, MeanValue: 22.345}, {T: 38.86}, {X: 7, Tx: 29.43, T: 38.86, MeanValue: 73.7}, {X: 1, Tx: 1.71, T: 3, MeanValue: 11.77}}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		sink = m.Score(users[i&3], 39)
		i++
	}
}

var sinkF float64

// BenchmarkCLV52 is a one-year CLV with weekly discounting: 52 evaluations
// of E[Y(k)].
func BenchmarkCLV52(b *testing.B) {
	m := &Model{Format: FormatVersion, Period: Week, BGNBD: publishedBGNBD, GammaGamma: publishedGG}
	s := Summary{X: 2, Tx: 30.43, T: 38.86, MeanValue: 22.345}
	b.ReportAllocs()
	for b.Loop() {
		sinkF = m.CLV(s, 52, 0.002)
	}
}

// BenchmarkFitMaster fits both models to the 23,570 CDNOW customers.
func BenchmarkFitMaster(b *testing.B) {
	data, _ := cdnowSummaries(b, "CDNOW_master.txt", cdnowCalibrationEnd)
	for b.Loop() {
		if _, err := Fit(data, Week); err != nil {
			b.Fatal(err)
		}
	}
}
