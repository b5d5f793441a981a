// Package predict scores each user's future with two standard "buy till you
// die" models of non-contractual purchasing:
//
//   - BG/NBD (Fader, Hardie & Lee 2005, "Counting Your Customers the Easy
//     Way: An Alternative to the Pareto/NBD Model", Marketing Science 24(2))
//     gives the probability that a user is still "alive" (has not silently
//     lapsed for good) and the number of purchases to expect in the next n
//     periods, from three numbers per user: frequency, recency and age;
//   - Gamma-Gamma (Fader, Hardie & Lee 2005, "RFM and CLV: Using Iso-Value
//     Curves for Customer Base Analysis", JMR 42(4)) gives the value to expect
//     per purchase from the user's number of repeat purchases and their mean
//     value.
//
// Together they give a customer lifetime value (CLV) over a horizon.
//
// The package is pure math: fitting (maximum likelihood, with
// gonum.org/v1/gonum/optimize) and closed-form, allocation-free scoring. Its
// only I/O is reading and writing the model file (Load, Save).
//
// # Conventions
//
// Time is measured in periods of one Period (Day or Week); a Model records
// the period it was fitted with, and every Summary given to it must use the
// same one.
//
// A purchase occasion is a UTC calendar day: all purchases of a user on one
// day count as one transaction, whose value is their sum. This is the
// convention of the CDNOW benchmark as published by Fader, Hardie and Lee
// (and of lifetimes' summary_data_from_transaction_data at daily
// resolution): x counts repeat purchase days, while t_x and T are real
// numbers of weeks. The Period only sets the unit of t_x, T and of the
// prediction horizon, never the de-duplication: with Period Week, two
// purchases on Monday and Tuesday are two transactions 1/7 period apart.
//
// For one user, at "now" (the calibration end when fitting, the current
// event time when scoring):
//
//   - X is the number of distinct purchase days after the first purchase day
//     (repeat transactions);
//   - Tx is the time from the start of the first purchase day to the start of
//     the last purchase day, in periods (0 when X is 0);
//   - T is the time from the start of the first purchase day to now, in
//     periods (never less than Tx); when fitting, now is the calibration end,
//     and purchases on days starting after it are ignored;
//   - MeanValue is the mean value of the repeat transactions (day totals), in
//     currency units; the first day's purchases are not included, as in the
//     Gamma-Gamma paper, because the first purchase is often atypical.
//
// A user with no purchase has no Summary: the models are conditional on a
// first purchase.
//
// Users who bought on a day with a total of 0 are kept for BG/NBD; the
// Gamma-Gamma fit skips repeat buyers whose MeanValue is not positive (its
// likelihood needs log(mean value)).
//
// # Scoring
//
// Model.Score returns P(alive), E[Y(n)] and E[M] for one Summary in well under
// a microsecond, without allocating. Model.CLV sums, over periods k = 1..H,
// the expected purchases in period k (E[Y(k)] − E[Y(k−1)]) times E[M],
// discounted by (1+d)^k: a discrete approximation of the discounted expected
// residual value; it costs one hypergeometric evaluation per period.
package predict
