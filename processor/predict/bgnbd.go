package predict

import (
	"math"

	"gonum.org/v1/gonum/mathext"
)

// BGNBD holds the parameters of the BG/NBD model (Fader, Hardie & Lee 2005):
// while alive, a user buys at a rate λ ~ Gamma(shape R, rate Alpha) per
// period; after each purchase they drop out for good with probability
// p ~ Beta(A, B).
type BGNBD struct {
	R     float64 `json:"r"`
	Alpha float64 `json:"alpha"`
	A     float64 `json:"a"`
	B     float64 `json:"b"`
}

// Valid reports whether all four parameters are finite and positive.
func (m BGNBD) Valid() bool {
	return positive(m.R) && positive(m.Alpha) && positive(m.A) && positive(m.B)
}

func positive(v float64) bool { return v > 0 && !math.IsInf(v, 1) }

// LogLik returns the log-likelihood of one user's (X, Tx, T) under m
// (equation 6 of the paper, without the constant-free terms dropped: the
// value comparable with the published -9582.4 on CDNOW).
func (m BGNBD) LogLik(s Summary) float64 {
	x := s.X
	l := math.Log
	base := lgamma(m.R+x) - lgamma(m.R) + m.R*l(m.Alpha) +
		lgamma(m.A+m.B) + lgamma(m.B+x) - lgamma(m.B) - lgamma(m.A+m.B+x)
	l3 := -(m.R + x) * l(m.Alpha+s.T)
	if x == 0 {
		return base + l3
	}
	l4 := l(m.A) - l(m.B+x-1) - (m.R+x)*l(m.Alpha+s.Tx)
	return base + logAddExp(l3, l4)
}

// PAlive returns P(alive | X, Tx, T): the probability that the user has not
// dropped out by T (equation 12 of the paper). A user without repeat
// purchases is alive with probability 1 under BG/NBD, since dropping out
// can only happen right after a purchase.
func (m BGNBD) PAlive(s Summary) float64 {
	if s.X == 0 {
		return 1
	}
	// odds of having dropped out after the last purchase
	lo := math.Log(m.A/(m.B+s.X-1)) + (m.R+s.X)*math.Log((m.Alpha+s.T)/(m.Alpha+s.Tx))
	return 1 / (1 + math.Exp(lo))
}

// ExpectedPurchases returns E[Y(n) | X, Tx, T], the expected number of
// repeat transactions in the next n periods after T (equation 10 of the
// paper). It needs A ≠ 1 (the formula divides by A−1); at A = 1 exactly it
// is evaluated at A = 1 ± 1e-9.
func (m BGNBD) ExpectedPurchases(s Summary, n float64) float64 {
	if n <= 0 {
		return 0
	}
	a := m.A
	if math.Abs(a-1) < 1e-9 {
		a = 1 + math.Copysign(1e-9, a-1)
	}
	x := s.X
	rx := m.R + x
	at := m.Alpha + s.T
	z := n / (at + n) // in (0, 1)
	h := hyp2f1(rx, m.B+x, a+m.B+x-1, z)
	// 1 − ((α+T)/(α+T+n))^(r+x) · 2F1(...), with (α+T)/(α+T+n) = 1−z.
	bracket := 1 - math.Exp(rx*math.Log1p(-z))*h
	e := (a + m.B + x - 1) / (a - 1) * bracket
	if x > 0 {
		e /= 1 + a/(m.B+x-1)*math.Exp(rx*math.Log(at/(m.Alpha+s.Tx)))
	}
	return e
}

// hyp2f1 returns the Gaussian hypergeometric function 2F1(a, b; c; z) for
// 0 ≤ z < 1, the only arguments ExpectedPurchases needs (z = n/(α+T+n), and
// a, b, c > 0).
//
// The paper's note evaluates 2F1 by its power series, which converges for
// |z| < 1 but slowly as z → 1 (long horizons, young users: z > 0.9 is
// common). mathext.Hypergeo follows Cephes: the series for small z, the
// transformation to 1−z (Abramowitz & Stegun 15.3.6) for z > 0.9. Its one
// weak spot on our domain is z > 0.9 with c−a−b a negative integer (here
// a − r a whole number, e.g. r = 1, a = 3): there it falls back to a
// truncated power series that is wrong by up to 100% at z = 0.9999. There
// we average the values at c ± 1e-6, off the pole, on Cephes' accurate
// path (the error of the average is O(1e-10); one side alone would be off
// by O(1e-6)). TestHyp2f1 checks the result against the plain series from
// z = 1e-6 to 0.9999 to a relative 1e-8. (Pfaff's
// transformation, 2F1(a,b;c;z) = (1−z)^(−b) 2F1(c−a, b; c; z/(z−1)), does
// not help on this domain: it maps z > 1/2 to arguments below −1, outside
// the unit disc.)
func hyp2f1(a, b, c, z float64) float64 {
	if z == 0 {
		return 1
	}
	if d := c - a - b; z > 0.9 && d < 0 && math.Abs(d-math.Round(d)) < 1e-9 {
		const h = 1e-6
		return (mathext.Hypergeo(a, b, c-h, z) + mathext.Hypergeo(a, b, c+h, z)) / 2
	}
	return mathext.Hypergeo(a, b, c, z)
}

// gradAdd adds the gradient of LogLik(s) with respect to the log-parameters
// (log r, log α, log a, log b), times w, to g, and returns w·LogLik(s).
// k holds the terms that depend on the parameters and s.X only.
func (m BGNBD) gradAdd(s Summary, w float64, k *xTerms, g *[4]float64) float64 {
	x := s.X
	l := math.Log
	rx := m.R + x
	l3 := -rx * l(m.Alpha+s.T)
	ll := k.base + l3
	w4 := 0.0
	if x > 0 {
		l4 := l(m.A) - l(m.B+x-1) - rx*l(m.Alpha+s.Tx)
		mx := math.Max(l3, l4)
		e3, e4 := math.Exp(l3-mx), math.Exp(l4-mx)
		ll = k.base + mx + l(e3+e4)
		w4 = e4 / (e3 + e4)
	}
	w3 := 1 - w4
	dr := k.dr + l(m.Alpha) - w3*l(m.Alpha+s.T)
	dal := m.R/m.Alpha - w3*rx/(m.Alpha+s.T)
	da := k.da
	db := k.db
	if x > 0 {
		dr -= w4 * l(m.Alpha+s.Tx)
		dal -= w4 * rx / (m.Alpha + s.Tx)
		da += w4 / m.A
		db -= w4 / (m.B + x - 1)
	}
	g[0] += w * dr * m.R
	g[1] += w * dal * m.Alpha
	g[2] += w * da * m.A
	g[3] += w * db * m.B
	return w * ll
}

// xTerms are the parts of the BG/NBD log-likelihood and its gradient that
// depend on the parameters and x only.
type xTerms struct {
	base       float64 // log A1 + log A2, except r·log α
	dr, da, db float64 // their derivatives with respect to r, a, b
}

func (m BGNBD) xTerms(x float64) xTerms {
	ab := m.A + m.B
	base := lgamma(m.R+x) - lgamma(m.R) + m.R*math.Log(m.Alpha) +
		lgamma(ab) + lgamma(m.B+x) - lgamma(m.B) - lgamma(ab+x)
	if x == 0 {
		return xTerms{base: base}
	}
	psi := mathext.Digamma
	pab, pabx := psi(ab), psi(ab+x)
	return xTerms{
		base: base,
		dr:   psi(m.R+x) - psi(m.R),
		da:   pab - pabx,
		db:   pab + psi(m.B+x) - psi(m.B) - pabx,
	}
}

func lgamma(x float64) float64 {
	v, _ := math.Lgamma(x)
	return v
}

// logAddExp returns log(exp(a) + exp(b)) without overflow.
func logAddExp(a, b float64) float64 {
	if a < b {
		a, b = b, a
	}
	if math.IsInf(a, -1) {
		return a
	}
	return a + math.Log1p(math.Exp(b-a))
}
