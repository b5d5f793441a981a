package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"os"

	"github.com/lifecycle-engine/lifecycle/processor/predict"
	"github.com/lifecycle-engine/lifecycle/schemas"
)

// Prediction configures scoring users with a fitted model. The zero value
// of a field means its default.
type Prediction struct {
	// Horizon is the number of model periods of "expected purchases".
	// Default 13 (a quarter, with weekly periods).
	Horizon int
	// CLVHorizon is the number of periods the lifetime value covers.
	// Default 52.
	CLVHorizon int
	// Discount is the discount rate per period for the lifetime value.
	// Default 0.0019 (about 10% a year with weekly periods).
	Discount float64
}

// WithDefaults fills in the defaults of zero fields.
func (p Prediction) WithDefaults() Prediction {
	if p.Horizon == 0 {
		p.Horizon = 13
	}
	if p.CLVHorizon == 0 {
		p.CLVHorizon = 52
	}
	if p.Discount == 0 {
		p.Discount = 0.0019
	}
	return p
}

// Model is a loaded model file and its id, the first 12 hex digits of the
// file's SHA-256: outputs name the model they were computed with.
type Model struct {
	*predict.Model
	ID string
}

// LoadModel reads a model file written by `lifecycle fit`.
func LoadModel(path string) (*Model, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	m, err := predict.Load(path)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	return &Model{Model: m, ID: "sha256:" + hex.EncodeToString(sum[:6])}, nil
}

// PredictAt scores a purchase history at time at with the settings of cfg
// (zero fields: defaults); nil without a model or a purchase.
func PredictAt(m *Model, cfg Prediction, buys predict.Tracker, at int64) *schemas.Prediction {
	return predictAt(m, cfg.WithDefaults(), buys, at)
}

func predictAt(m *Model, cfg Prediction, buys predict.Tracker, at int64) *schemas.Prediction {
	if m == nil {
		return nil
	}
	s, ok := buys.Summary(at, m.Period)
	if !ok {
		return nil
	}
	sc := m.Score(s, float64(cfg.Horizon))
	out := &schemas.Prediction{
		Model: m.ID, Period: m.Period.String(),
		PAlive: round6(sc.PAlive), ExpectedPurchases: round6(sc.Purchases), HorizonPeriods: cfg.Horizon,
		CLVHorizonPeriods: cfg.CLVHorizon,
	}
	if v := round6(sc.Value); finite(v) && v >= 0 {
		out.ExpectedValue = &v
		if clv := round6(m.CLV(s, cfg.CLVHorizon, cfg.Discount)); finite(clv) && clv >= 0 {
			out.CLV = &clv
		}
	}
	if !finite(out.PAlive) || !finite(out.ExpectedPurchases) {
		return nil
	}
	return out
}

// round6 keeps six decimals: enough for any decision, and the same text on
// every platform whatever the last bits of the arithmetic.
func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
