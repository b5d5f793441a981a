package predict

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"gonum.org/v1/gonum/optimize"
)

// Errors of the fits, wrapped with the details.
var (
	// ErrTooLittleData: fewer than MinUsers usable users, or no repeat buyer.
	ErrTooLittleData = errors.New("predict: too little data to fit")
	// ErrNoConvergence: the optimizer stopped without reaching a maximum, or
	// at parameters the model cannot use.
	ErrNoConvergence = errors.New("predict: the fit did not converge")
)

// MinUsers is the fewest users a fit accepts (repeat buyers with a positive
// mean value for Gamma-Gamma).
const MinUsers = 10

// FitStats describes one maximum-likelihood fit.
type FitStats struct {
	Users       int           `json:"users"`       // users the fit used
	LogLik      float64       `json:"loglik"`      // total log-likelihood at the estimate
	Iterations  int           `json:"iterations"`  // major iterations of the optimizer(s)
	Evaluations int           `json:"evaluations"` // log-likelihood evaluations
	Converged   bool          `json:"converged"`   // stopped at a maximum (gradient ~ 0)
	Status      string        `json:"status"`      // the optimizer's termination status
	GradNorm    float64       `json:"grad_norm"`   // max |∂ mean LL / ∂ log θ| at the estimate
	Duration    time.Duration `json:"duration_ns"` // wall time of the fit
}

// group is one distinct summary and how many users have it.
type group struct {
	s  Summary
	w  float64
	xi int // index of s.X in the distinct X values
}

// compress merges identical summaries (many users share (0, 0, T)) and
// indexes the distinct X values.
func compress(data []Summary, keep func(Summary) bool) (groups []group, xs []float64, n int) {
	type key struct{ x, tx, t, m float64 }
	at := map[key]int{}
	xi := map[float64]int{}
	for _, s := range data {
		if !keep(s) {
			continue
		}
		n++
		k := key{s.X, s.Tx, s.T, s.MeanValue}
		if i, ok := at[k]; ok {
			groups[i].w++
			continue
		}
		j, ok := xi[s.X]
		if !ok {
			j = len(xs)
			xi[s.X] = j
			xs = append(xs, s.X)
		}
		at[k] = len(groups)
		groups = append(groups, group{s: s, w: 1, xi: j})
	}
	return groups, xs, n
}

// objective is a negative mean log-likelihood over log-parameters, with its
// gradient computed in the same pass and cached for the point last seen.
type objective struct {
	n     float64
	eval  func(theta []float64, g []float64) float64 // returns the total LL, sets g to its gradient
	last  []float64
	f     float64
	g     []float64
	evals int
}

func newObjective(dim int, n int, eval func(theta, g []float64) float64) *objective {
	return &objective{n: float64(n), eval: eval, g: make([]float64, dim)}
}

func (o *objective) at(theta []float64) {
	if o.last != nil && slices.Equal(o.last, theta) {
		return
	}
	o.evals++
	o.last = append(o.last[:0], theta...)
	ll := o.eval(theta, o.g)
	o.f = -ll / o.n
	for i := range o.g {
		o.g[i] = -o.g[i] / o.n
	}
	if math.IsNaN(o.f) || math.IsInf(o.f, 0) {
		o.f = math.Inf(1)
	}
}

func (o *objective) problem() optimize.Problem {
	return optimize.Problem{
		Func: func(theta []float64) float64 { o.at(theta); return o.f },
		Grad: func(g, theta []float64) { o.at(theta); copy(g, o.g) },
	}
}

// gradTol is the convergence threshold on the largest derivative of the
// mean log-likelihood per user with respect to a log-parameter.
const gradTol = 1e-7

// maximize runs BFGS from start; if that fails, Nelder-Mead and then BFGS
// again. It returns the log-parameters at the maximum.
func maximize(o *objective, start []float64) ([]float64, FitStats, error) {
	t0 := time.Now()
	var st FitStats
	settings := func() *optimize.Settings {
		return &optimize.Settings{
			GradientThreshold: gradTol,
			MajorIterations:   2000,
			Converger:         &optimize.FunctionConverge{Absolute: 1e-13, Relative: 1e-13, Iterations: 50},
		}
	}
	run := func(x0 []float64, m optimize.Method) (*optimize.Result, error) {
		r, err := optimize.Minimize(o.problem(), x0, settings(), m)
		if r != nil {
			st.Iterations += r.Stats.MajorIterations
			st.Status = r.Status.String()
		}
		return r, err
	}
	converged := func(r *optimize.Result) bool {
		if r == nil || math.IsInf(r.F, 0) || math.IsNaN(r.F) {
			return false
		}
		o.at(r.X)
		return maxAbs(o.g) < 1e-5 // loose: BFGS may stop on a flat function a hair above gradTol
	}
	r, err := run(start, &optimize.BFGS{})
	if !converged(r) {
		nm, _ := run(start, &optimize.NelderMead{})
		if nm != nil && !math.IsInf(nm.F, 0) {
			r, err = run(nm.X, &optimize.BFGS{})
			if !converged(r) && (r == nil || nm.F < r.F) {
				r = nm
			}
		}
	}
	st.Evaluations = o.evals
	st.Duration = time.Since(t0)
	if r == nil {
		return nil, st, fmt.Errorf("%w: %v", ErrNoConvergence, err)
	}
	o.at(r.X)
	st.GradNorm = maxAbs(o.g)
	st.LogLik = -o.f * o.n
	st.Converged = converged(r)
	if !st.Converged {
		if err == nil {
			err = errors.New(st.Status)
		}
		return r.X, st, fmt.Errorf("%w: %v after %d iterations (largest gradient %.3g)", ErrNoConvergence, err, st.Iterations, st.GradNorm)
	}
	return r.X, st, nil
}

func maxAbs(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = math.Max(m, math.Abs(x))
	}
	if math.IsNaN(m) {
		return math.Inf(1)
	}
	return m
}

// FitBGNBD fits BG/NBD to the users' summaries by maximum likelihood (BFGS
// on the log-parameters, with the analytic gradient). It needs at least
// MinUsers valid summaries and one repeat buyer; invalid summaries are
// skipped and not counted.
func FitBGNBD(data []Summary) (BGNBD, FitStats, error) {
	groups, xs, n := compress(data, Summary.Valid)
	repeat := 0
	for _, g := range groups {
		if g.s.X > 0 {
			repeat += int(g.w)
		}
	}
	if n < MinUsers || repeat == 0 {
		return BGNBD{}, FitStats{Users: n}, fmt.Errorf("%w: BG/NBD needs at least %d users with a purchase and at least one repeat buyer; have %d users, %d repeat buyers", ErrTooLittleData, MinUsers, n, repeat)
	}
	terms := make([]xTerms, len(xs))
	o := newObjective(4, n, func(theta, g []float64) float64 {
		m := BGNBD{math.Exp(theta[0]), math.Exp(theta[1]), math.Exp(theta[2]), math.Exp(theta[3])}
		if !m.Valid() {
			return math.Inf(-1)
		}
		for i, x := range xs {
			terms[i] = m.xTerms(x)
		}
		var gg [4]float64
		ll := 0.0
		for i := range groups {
			gr := &groups[i]
			ll += m.gradAdd(gr.s, gr.w, &terms[gr.xi], &gg)
		}
		copy(g, gg[:])
		return ll
	})
	theta, st, err := maximize(o, []float64{0, 0, 0, 0})
	st.Users = n
	if theta == nil {
		return BGNBD{}, st, err
	}
	m := BGNBD{math.Exp(theta[0]), math.Exp(theta[1]), math.Exp(theta[2]), math.Exp(theta[3])}
	if err == nil && !m.Valid() {
		err = fmt.Errorf("%w: parameters out of range: %+v", ErrNoConvergence, m)
	}
	return m, st, err
}

// usableSpend reports whether s can enter the Gamma-Gamma fit.
func usableSpend(s Summary) bool { return s.Valid() && s.X > 0 && s.MeanValue > 0 }

// FitGammaGamma fits Gamma-Gamma by maximum likelihood to the repeat buyers
// among data (X > 0 and MeanValue > 0; others are skipped). It needs
// MinUsers of them, and fails with ErrNoConvergence if the estimate has
// q ≤ 1, where the expected spend is infinite.
func FitGammaGamma(data []Summary) (GammaGamma, FitStats, error) {
	groups, _, n := compress(data, usableSpend)
	if n < MinUsers {
		return GammaGamma{}, FitStats{Users: n}, fmt.Errorf("%w: Gamma-Gamma needs at least %d repeat buyers with a positive mean value; have %d", ErrTooLittleData, MinUsers, n)
	}
	o := newObjective(3, n, func(theta, g []float64) float64 {
		m := GammaGamma{math.Exp(theta[0]), math.Exp(theta[1]), math.Exp(theta[2])}
		if !m.Valid() {
			return math.Inf(-1)
		}
		var gg [3]float64
		ll := 0.0
		for i := range groups {
			ll += m.gradAdd(groups[i].s, groups[i].w, &gg)
		}
		copy(g, gg[:])
		return ll
	})
	// Start at p = q = 1 (log 0) and γ at the mean spend level, so that the
	// optimizer starts on the right scale whatever the currency.
	mean := 0.0
	for _, g := range groups {
		mean += g.w * g.s.MeanValue
	}
	mean /= float64(n)
	theta, st, err := maximize(o, []float64{0, math.Log(2), math.Log(mean)})
	st.Users = n
	if theta == nil {
		return GammaGamma{}, st, err
	}
	m := GammaGamma{math.Exp(theta[0]), math.Exp(theta[1]), math.Exp(theta[2])}
	if err == nil && !m.Valid() {
		err = fmt.Errorf("%w: parameters out of range: %+v", ErrNoConvergence, m)
	}
	if err == nil && m.Q <= 1 {
		err = fmt.Errorf("%w: q = %.4g ≤ 1: the spend distribution has an infinite mean, so expected values are undefined (too few or too extreme repeat buyers?)", ErrNoConvergence, m.Q)
	}
	return m, st, err
}
