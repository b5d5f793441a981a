package predict

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"
)

// FormatVersion is the model file format this build reads and writes.
const FormatVersion = 1

// Model is a fitted pair of models: what the model file holds.
type Model struct {
	Format  int    `json:"format"`            // FormatVersion
	Version string `json:"version,omitempty"` // version of the program that fitted it
	Period  Period `json:"period"`            // unit of time of T, t_x and horizons

	BGNBD      BGNBD      `json:"bgnbd"`
	GammaGamma GammaGamma `json:"gamma_gamma"`

	FittedAt       time.Time `json:"fitted_at"`
	CalibrationEnd time.Time `json:"calibration_end"` // "now" of the fitting summaries

	BGNBDFit      FitStats `json:"bgnbd_fit"`
	GammaGammaFit FitStats `json:"gamma_gamma_fit"`

	// Rhythm, when present, is the population's rhythm of activity: the
	// prior of the churn warnings' per-user gap model (processor/warnings),
	// which otherwise uses its configured default.
	Rhythm *GapPrior `json:"rhythm,omitempty"`
}

// GapPrior is what a user not seen yet is expected to do between visits.
type GapPrior struct {
	MedianGapHours float64 `json:"median_gap_hours"`
	Spread         float64 `json:"spread"` // standard deviation of ln(gap in hours)
	Users          int     `json:"users"`  // the users it was fitted from
}

// Valid reports whether the prior can be used: finite and positive.
func (g GapPrior) Valid() bool {
	ok := func(f float64) bool { return f > 0 && !math.IsInf(f, 0) }
	return ok(g.MedianGapHours) && ok(g.Spread)
}

// Fit fits both models to the users' summaries, all in periods of p, and
// returns them as a Model (Format, Period, FittedAt and the fit statistics
// set; Version and CalibrationEnd are the caller's). The error of the first
// fit that failed is returned together with what was fitted.
func Fit(data []Summary, p Period) (*Model, error) {
	if p.Millis() == 0 {
		return nil, fmt.Errorf("predict: invalid period %d", uint8(p))
	}
	m := &Model{Format: FormatVersion, Period: p, FittedAt: time.Now().UTC()}
	var err error
	m.BGNBD, m.BGNBDFit, err = FitBGNBD(data)
	if err != nil {
		return m, fmt.Errorf("BG/NBD: %w", err)
	}
	m.GammaGamma, m.GammaGammaFit, err = FitGammaGamma(data)
	if err != nil {
		return m, fmt.Errorf("Gamma-Gamma: %w", err)
	}
	return m, nil
}

// Validate reports whether m can be used: the format this build knows, a
// valid period and positive parameters with Gamma-Gamma q > 1.
func (m *Model) Validate() error {
	switch {
	case m.Format != FormatVersion:
		return fmt.Errorf("predict: model format %d is not supported by this build (it reads format %d); refit the model with this version", m.Format, FormatVersion)
	case m.Period.Millis() == 0:
		return errors.New("predict: model has no valid period (day or week)")
	case !m.BGNBD.Valid():
		return fmt.Errorf("predict: model has invalid BG/NBD parameters %+v (all must be finite and > 0)", m.BGNBD)
	case !m.GammaGamma.Valid() || m.GammaGamma.Q <= 1:
		return fmt.Errorf("predict: model has invalid Gamma-Gamma parameters %+v (all must be finite and > 0, q > 1)", m.GammaGamma)
	case m.Rhythm != nil && !m.Rhythm.Valid():
		return fmt.Errorf("predict: model has an invalid rhythm prior %+v (median gap and spread must be finite and > 0)", *m.Rhythm)
	}
	return nil
}

// Save writes m as indented JSON to path, through a temporary file renamed
// into place.
func (m *Model) Save(path string) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("predict: encoding model: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".model-*.json")
	if err != nil {
		return err
	}
	_, err = tmp.Write(append(b, '\n'))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("predict: writing model: %w", err)
	}
	return nil
}

// Load reads a model file written by Save. It refuses files of another
// format version, and models that fail Validate.
func Load(path string) (*Model, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var head struct {
		Format *int `json:"format"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return nil, fmt.Errorf("predict: %s is not a model file: %w", path, err)
	}
	if head.Format == nil {
		return nil, fmt.Errorf("predict: %s is not a model file: it has no \"format\" field", path)
	}
	if *head.Format != FormatVersion {
		return nil, fmt.Errorf("predict: %s has model format %d, but this build reads only format %d; refit the model with this version", path, *head.Format, FormatVersion)
	}
	var m Model
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("predict: %s: %w", path, err)
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &m, nil
}

// Score is the model's view of one user.
type Score struct {
	PAlive    float64 // probability the user has not dropped out
	Purchases float64 // expected repeat transactions in the horizon
	Value     float64 // expected value per future transaction (currency units)
}

// Score returns P(alive), the expected transactions in the next n periods
// and the expected value per transaction for the user summarized by s, in
// the model's period. It does not allocate.
func (m *Model) Score(s Summary, n float64) Score {
	return Score{
		PAlive:    m.BGNBD.PAlive(s),
		Purchases: m.BGNBD.ExpectedPurchases(s, n),
		Value:     m.GammaGamma.ExpectedValue(s),
	}
}

// CLV returns the user's expected residual value over the next h periods,
// discounted at d per period: Σ_{k=1..h} (E[Y(k)] − E[Y(k−1)]) · E[M] /
// (1+d)^k, with E[Y(0)] = 0. Purchases of period k are discounted as if
// made at its end. d = 0 gives E[Y(h)]·E[M]. It costs h evaluations of
// ExpectedPurchases and does not allocate.
func (m *Model) CLV(s Summary, h int, d float64) float64 {
	ev := m.GammaGamma.ExpectedValue(s)
	if d == 0 {
		return m.BGNBD.ExpectedPurchases(s, float64(h)) * ev
	}
	v, prev, disc := 0.0, 0.0, 1.0
	f := 1 / (1 + d)
	for k := 1; k <= h; k++ {
		disc *= f
		y := m.BGNBD.ExpectedPurchases(s, float64(k))
		v += (y - prev) * disc
		prev = y
	}
	if math.IsNaN(v) {
		return v
	}
	return v * ev
}
