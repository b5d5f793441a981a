package predict

import (
	"math"

	"gonum.org/v1/gonum/mathext"
)

// GammaGamma holds the parameters of the Gamma-Gamma spend model (Fader,
// Hardie & Lee 2005, "RFM and CLV"): each transaction's value is
// Gamma(shape P, rate ν), and a user's ν ~ Gamma(shape Q, rate Gamma), so the
// mean transaction value of a user is P·ν⁻¹, independent of how often they
// buy.
type GammaGamma struct {
	P     float64 `json:"p"`
	Q     float64 `json:"q"`
	Gamma float64 `json:"gamma"`
}

// Valid reports whether all three parameters are finite and positive.
func (m GammaGamma) Valid() bool {
	return positive(m.P) && positive(m.Q) && positive(m.Gamma)
}

// LogLik returns the log-likelihood of the mean value MeanValue of a user's
// X > 0 repeat transactions (the density of the sample mean, as in
// lifetimes); callers skip users with X = 0 or MeanValue ≤ 0.
func (m GammaGamma) LogLik(s Summary) float64 {
	x, z := s.X, s.MeanValue
	px := m.P * x
	l := math.Log
	return lgamma(px+m.Q) - lgamma(px) - lgamma(m.Q) + m.Q*l(m.Gamma) +
		(px-1)*l(z) + px*l(x) - (px+m.Q)*l(m.Gamma+z*x)
}

// gradAdd adds w times the gradient of LogLik(s) with respect to (log p,
// log q, log γ) to g and returns w·LogLik(s).
func (m GammaGamma) gradAdd(s Summary, w float64, g *[3]float64) float64 {
	x, z := s.X, s.MeanValue
	px := m.P * x
	l := math.Log
	psi := mathext.Digamma
	lgz := l(m.Gamma + z*x)
	ppq := psi(px + m.Q)
	ll := lgamma(px+m.Q) - lgamma(px) - lgamma(m.Q) + m.Q*l(m.Gamma) +
		(px-1)*l(z) + px*l(x) - (px+m.Q)*lgz
	dp := x * (ppq - psi(px) + l(z) + l(x) - lgz)
	dq := ppq - psi(m.Q) + l(m.Gamma) - lgz
	dg := m.Q/m.Gamma - (px+m.Q)/(m.Gamma+z*x)
	g[0] += w * dp * m.P
	g[1] += w * dq * m.Q
	g[2] += w * dg * m.Gamma
	return w * ll
}

// ExpectedValue returns E[M | X, MeanValue], the expected value of the
// user's future transactions (equation 5 of the paper): a weighted mean of
// the population mean p·γ/(q−1) and the user's own MeanValue, the weight of
// the latter growing with X. It needs Q > 1 (otherwise the population mean
// is infinite) and returns NaN if not; Fit refuses such a model.
func (m GammaGamma) ExpectedValue(s Summary) float64 {
	if m.Q <= 1 {
		return math.NaN()
	}
	return m.P * (m.Gamma + s.MeanValue*s.X) / (m.P*s.X + m.Q - 1)
}

// PopulationMean returns the mean transaction value of the population,
// p·γ/(q−1) (NaN when Q ≤ 1).
func (m GammaGamma) PopulationMean() float64 {
	if m.Q <= 1 {
		return math.NaN()
	}
	return m.P * m.Gamma / (m.Q - 1)
}
