package schemas

import (
	"errors"
	"math"
	"strconv"
)

// Micros is an exact decimal amount in millionths of the accounting currency
// unit: 19.99 USD is Micros(19_990_000). Amounts are never floats in state.
type Micros int64

// MicrosPerUnit is the number of Micros in one currency unit.
const MicrosPerUnit = 1_000_000

// MaxMicros is the largest Micros, 9223372036854.775807 units: the value a
// total saturates at (see AddSat).
const MaxMicros Micros = math.MaxInt64

// AddSat returns a+b, saturated: a sum above the largest value of T is that
// largest value, one below the smallest is the smallest. It never wraps, so
// a total of non-negative amounts or a count never turns negative
// (ARCHITECTURE.md, invariant 6: sums never wrap). It is for money (Micros) and
// counts (int64) alike, in every package that accumulates them.
//
// Why saturate, rather than reject the event or report an error: it is
// deterministic and keeps the rules total functions of their input, so the
// same history gives the same state and outputs (invariant 4); for the
// non-negative amounts and counts that are summed here the result is
// min(true sum, max) whatever the order of the additions. The event is
// still applied (its stage, recency and count effects are not lost), and
// no error path runs per event. A saturated total reads as "at least this
// much", which is all its readers (RFM cuts, stage rules) need, and the
// string form of MaxMicros is a valid monetary amount in the schemas.
//
// It is small enough to be inlined: one add and one compare when nothing
// overflows.
func AddSat[T ~int64](a, b T) T {
	s := a + b
	// Without overflow s < a exactly when b < 0; wrapping flips that.
	if (s < a) != (b < 0) {
		if b < 0 {
			return math.MinInt64
		}
		return math.MaxInt64
	}
	return s
}

// maxFracDigits is the number of decimal places a Micros can hold.
const maxFracDigits = 6

// ErrBadMicros is returned (wrapped) by ParseMicros for text that is not an
// exact decimal amount that fits a Micros.
var ErrBadMicros = errors.New("schemas: invalid decimal amount")

// ParseMicros parses an exact decimal amount: an optional leading '-', one or
// more digits, and optionally a '.' followed by one to six digits ("19.99",
// "-1.5", "0.000001", "007"). Leading zeros are allowed. Nothing else is:
// no '+', no exponent, no spaces, no thousands separators, no ".5" or "5.",
// no more than six decimal places (they would not be exact), and no value
// outside the range of Micros (about ±9.2 trillion units). The error wraps
// ErrBadMicros.
func ParseMicros(s string) (Micros, error) {
	m, why := parseMicros(s)
	if why != "" {
		return 0, &microsError{s: s, why: why}
	}
	return m, nil
}

// parseMicros is ParseMicros without the error allocation: why is "" on
// success and otherwise says what is wrong, for use in a sentence.
func parseMicros[T string | []byte](s T) (Micros, string) {
	i := 0
	neg := false
	if i < len(s) && s[i] == '-' {
		neg = true
		i++
	}
	start := i
	var n uint64 // magnitude in micros; limit below keeps it from wrapping
	const limit = uint64(math.MaxInt64) + 1
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		// The units times MicrosPerUnit may not exceed limit; checking each
		// digit also keeps n from wrapping on long input.
		n = n*10 + uint64(s[i]-'0')
		if n > limit/MicrosPerUnit {
			return 0, "out of range"
		}
		i++
	}
	if i == start {
		if i == len(s) {
			return 0, "no digits"
		}
		return 0, "must start with a digit"
	}
	n *= MicrosPerUnit
	if i < len(s) && s[i] == '.' {
		i++
		fracStart := i
		scale := uint64(MicrosPerUnit)
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			if i-fracStart == maxFracDigits {
				return 0, "more than 6 decimal places"
			}
			scale /= 10
			n += uint64(s[i]-'0') * scale
			i++
		}
		if i == fracStart {
			return 0, "no digits after the decimal point"
		}
	}
	if i != len(s) {
		switch s[i] {
		case 'e', 'E':
			return 0, "exponents are not allowed"
		}
		return 0, "unexpected character " + strconv.QuoteRune(rune(s[i]))
	}
	if neg {
		if n > limit {
			return 0, "out of range"
		}
		return Micros(-int64(n)), "" // n == limit wraps to math.MinInt64, as wanted
	}
	if n > math.MaxInt64 {
		return 0, "out of range"
	}
	return Micros(n), ""
}

type microsError struct{ s, why string }

func (e *microsError) Error() string {
	return "schemas: amount " + strconv.Quote(e.s) + ": " + e.why +
		" (want digits with an optional '.' and at most 6 decimal places, like \"19.99\")"
}

func (e *microsError) Unwrap() error { return ErrBadMicros }

// String returns the canonical decimal form: an optional '-', the units, a
// '.', and at least two decimal places with any trailing zeros beyond the
// second removed: "19.99", "20.00", "0.005", "-1.50", "0.000001".
// ParseMicros(m.String()) == m for every m.
func (m Micros) String() string {
	var buf [32]byte
	return string(m.Append(buf[:0]))
}

// Append appends the canonical form of m (see String) to b.
func (m Micros) Append(b []byte) []byte {
	u := uint64(m)
	if m < 0 {
		b = append(b, '-')
		u = -u // two's complement: correct for math.MinInt64 too
	}
	b = strconv.AppendUint(b, u/MicrosPerUnit, 10)
	frac := u % MicrosPerUnit
	var d [maxFracDigits]byte
	for i := maxFracDigits - 1; i >= 0; i-- {
		d[i] = byte('0' + frac%10)
		frac /= 10
	}
	n := maxFracDigits
	for n > 2 && d[n-1] == '0' {
		n--
	}
	b = append(b, '.')
	return append(b, d[:n]...)
}
