package schemas

import (
	"cmp"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Currency is an ISO 4217 currency code: three upper-case ASCII letters.
// The zero value is no currency. It is an array, so that it can be kept in
// an event and a user record, and used as a map key, without allocating.
type Currency [3]byte

// ParseCurrency returns the code s, and whether it is three upper-case
// ASCII letters.
func ParseCurrency[T string | []byte](s T) (Currency, bool) {
	var c Currency
	if len(s) != 3 {
		return c, false
	}
	for i := range 3 {
		if s[i] < 'A' || s[i] > 'Z' {
			return Currency{}, false
		}
		c[i] = s[i]
	}
	return c, true
}

// String returns the code, "" for the zero Currency.
func (c Currency) String() string {
	if c == (Currency{}) {
		return ""
	}
	return string(c[:])
}

// IsZero reports whether c is no currency.
func (c Currency) IsZero() bool { return c == Currency{} }

// Rate is an exchange rate: what one unit of a currency is worth in the
// accounting currency, exact to 10 decimal places (RateDecimals), in units
// of 1/RateScale: 1.085 is Rate(10_850_000_000). Like Micros, never a float.
type Rate int64

// RateDecimals is the most decimal places a rate may have; RateScale is
// 10^RateDecimals, the Rate of 1.
const (
	RateDecimals      = 10
	RateScale    Rate = 10_000_000_000
)

// ParseRate parses a rate: one or more digits, optionally a '.' and one
// to RateDecimals digits ("1.085", "0.0000625", "150"), more than zero
// and at most 922337203 (so that it fits a Rate). No sign, exponent,
// spaces or separators.
func ParseRate(s string) (Rate, error) {
	r, why := parseRate(s)
	if why != "" {
		return 0, errors.New(strconv.Quote(s) + ": " + why)
	}
	return r, nil
}

const rateWant = "want a decimal more than 0 with at most 10 decimal places, like 1.085 or 0.0000625"

func parseRate(s string) (Rate, string) {
	i := 0
	var n uint64
	const limit = uint64(math.MaxInt64)
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		n = n*10 + uint64(s[i]-'0')
		if n > limit/uint64(RateScale) {
			return 0, "too large (at most 922337203); " + rateWant
		}
		i++
	}
	if i == 0 {
		if len(s) == 0 {
			return 0, "empty; " + rateWant
		}
		return 0, "not a decimal; " + rateWant
	}
	n *= uint64(RateScale)
	if i < len(s) && s[i] == '.' {
		i++
		start := i
		scale := uint64(RateScale)
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			if i-start == RateDecimals {
				return 0, "more than 10 decimal places; " + rateWant
			}
			scale /= 10
			n += uint64(s[i]-'0') * scale
			i++
		}
		if i == start {
			return 0, "no digits after the decimal point; " + rateWant
		}
	}
	if i != len(s) {
		return 0, "not a decimal; " + rateWant
	}
	if n > limit {
		return 0, "too large (at most 922337203); " + rateWant
	}
	if n == 0 {
		return 0, "zero: a purchase would be worth nothing; " + rateWant
	}
	return Rate(n), ""
}

// String returns the canonical form of r: the units, and the decimal
// places without trailing zeros ("1.085", "150", "0.0000625").
// ParseRate(r.String()) == r for every valid rate.
func (r Rate) String() string {
	u := uint64(r)
	s := strconv.FormatUint(u/uint64(RateScale), 10)
	frac := u % uint64(RateScale)
	if frac == 0 {
		return s
	}
	var d [RateDecimals]byte
	for i := RateDecimals - 1; i >= 0; i-- {
		d[i] = byte('0' + frac%10)
		frac /= 10
	}
	n := RateDecimals
	for d[n-1] == '0' {
		n--
	}
	return s + "." + string(d[:n])
}

// Convert returns m converted at rate r: m × r, rounded to the micro half
// to even (banker's rounding: 0.0000005 → 0.000000, 0.0000015 →
// 0.000002), computed exactly in 128-bit integers, no float. A result
// beyond the range of Micros saturates at MaxMicros (or its negative), as
// totals do (AddSat): the rates table's rates are at most 922337203, so
// that takes a purchase of more than about 10,000 units at the largest.
func (r Rate) Convert(m Micros) Micros {
	neg := m < 0
	a := uint64(m)
	if neg {
		a = -a // two's complement: right for math.MinInt64 too
	}
	const d = uint64(RateScale)
	hi, lo := bits.Mul64(a, uint64(r))
	if hi >= d { // the quotient would not fit 64 bits
		return sat(neg)
	}
	q, rem := bits.Div64(hi, lo, d)
	// Half to even: up when the remainder is more than half the divisor,
	// or exactly half and q is odd. rem < d < 2^34, so 2*rem cannot wrap.
	if 2*rem > d || 2*rem == d && q&1 == 1 {
		q++
	}
	if q > math.MaxInt64 {
		return sat(neg)
	}
	if neg {
		return -Micros(q)
	}
	return Micros(q)
}

func sat(neg bool) Micros {
	if neg {
		return -MaxMicros
	}
	return MaxMicros
}

// Original is a converted purchase as its record gave it: Amount in
// Currency, and the Rate it was converted at. The event's Amount (and the
// user's spend) is Rate.Convert(Amount). The zero Original means the
// purchase was in the accounting currency and not converted.
type Original struct {
	Amount   Micros
	Currency Currency
	Rate     Rate
}

// Converted returns the amount o was converted to.
func (o Original) Converted() Micros { return o.Rate.Convert(o.Amount) }

// Rates is an exchange rates table (a rates file): per currency, the rates
// from the dates they apply from. A purchase in a currency of the table is
// converted at the latest rate on or before its date (UTC). It is
// immutable once made, so one table can serve every partition's decoder.
type Rates struct {
	name   string                   // where it was read from, for sentences
	by     map[Currency][]ratePoint // each sorted by day, days distinct
	rows   int
	digest string
}

// ratePoint is a rate and the day (since the Unix epoch, UTC) it applies from.
type ratePoint struct {
	day  int64
	rate Rate
}

// RatesError is what is wrong with a rates file: its name, the line (1
// for the header; 0 for the file as a whole) and what.
type RatesError struct {
	File string
	Line int
	Msg  string
}

func (e *RatesError) Error() string {
	if e.Line == 0 {
		return "rates file " + e.File + ": " + e.Msg
	}
	return "rates file " + e.File + ", line " + strconv.Itoa(e.Line) + ": " + e.Msg
}

// RatesHeader is the first line of a rates file.
const RatesHeader = "date,currency,rate"

// maxRatesBytes bounds a rates file: about a million lines.
const maxRatesBytes = 64 << 20

// LoadRates reads the rates file at path (ParseRates).
func LoadRates(path string) (*Rates, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &RatesError{File: path, Msg: err.Error()}
	}
	defer f.Close()
	return ParseRates(path, f)
}

// ParseRates reads a rates file, named name in its errors. The format is
// CSV (RFC 4180) with the header line `date,currency,rate`, then one line
// per currency and date:
//
//	date,currency,rate
//	2026-01-01,EUR,1.0850
//	2026-02-01,EUR,1.0790
//	2026-01-01,JPY,0.0064
//
// date is YYYY-MM-DD (a UTC day), from which the rate applies until the
// currency's next date; currency is three upper-case letters (ISO 4217);
// rate what one unit of it is worth in the accounting currency, a decimal
// more than 0 with at most 10 decimal places. Lines may come in any order;
// a UTF-8 byte order mark before the header is ignored;
// a currency and date may appear once. Blank lines and lines starting with
// '#' are skipped; spaces around a field are ignored. The first error is
// reported as a *RatesError naming the line.
func ParseRates(name string, r io.Reader) (*Rates, error) {
	fail := func(line int, format string, a ...any) error {
		return &RatesError{File: name, Line: line, Msg: fmt.Sprintf(format, a...)}
	}
	cr := csv.NewReader(io.LimitReader(r, maxRatesBytes+1))
	cr.Comment = '#'
	cr.FieldsPerRecord = -1 // checked here, with a better sentence
	cr.ReuseRecord = true
	t := &Rates{name: name, by: map[Currency][]ratePoint{}}
	type seenAt struct {
		c   Currency
		day int64
	}
	lineOf := map[seenAt]int{}
	header := false
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if pe, ok := errors.AsType[*csv.ParseError](err); ok {
				return nil, fail(pe.Line, "not valid CSV: %v", pe.Err)
			}
			return nil, &RatesError{File: name, Msg: err.Error()}
		}
		line, _ := cr.FieldPos(0)
		for i := range rec {
			rec[i] = strings.TrimSpace(rec[i])
		}
		if !header {
			rec[0] = strings.TrimPrefix(rec[0], "\ufeff") // a byte order mark, as spreadsheets write
			if strings.Join(rec, ",") != RatesHeader {
				return nil, fail(line, "the header is %q; want %q as the first line", strings.Join(rec, ","), RatesHeader)
			}
			header = true
			continue
		}
		if len(rec) != 3 {
			return nil, fail(line, "%d fields; want 3: date,currency,rate (like 2026-01-01,EUR,1.085)", len(rec))
		}
		d, err := time.Parse(time.DateOnly, rec[0])
		if err != nil {
			return nil, fail(line, "date %q is not a date YYYY-MM-DD (like 2026-01-01)", rec[0])
		}
		c, ok := ParseCurrency(rec[1])
		if !ok {
			return nil, fail(line, "currency %q is not three upper-case letters (an ISO 4217 code like EUR)", rec[1])
		}
		rate, why := parseRate(rec[2])
		if why != "" {
			return nil, fail(line, "rate %q is %s", rec[2], why)
		}
		day := d.Unix() / 86400
		if prev, dup := lineOf[seenAt{c, day}]; dup {
			return nil, fail(line, "%s on %s is given twice (first on line %d); keep one", c, rec[0], prev)
		}
		lineOf[seenAt{c, day}] = line
		t.by[c] = append(t.by[c], ratePoint{day: day, rate: rate})
		t.rows++
	}
	if cr.InputOffset() > maxRatesBytes {
		return nil, fail(0, "larger than %d MiB", maxRatesBytes>>20)
	}
	if !header {
		return nil, fail(0, "is empty; want the header %q and lines like 2026-01-01,EUR,1.085", RatesHeader)
	}
	if t.rows == 0 {
		return nil, fail(0, "has no rates, only the header; add lines like 2026-01-01,EUR,1.085")
	}
	for c, ps := range t.by {
		slices.SortFunc(ps, func(a, b ratePoint) int { return cmp.Compare(a.day, b.day) })
		t.by[c] = slices.Clip(ps)
	}
	sum := sha256.Sum256(t.Canonical())
	t.digest = hex.EncodeToString(sum[:])
	return t, nil
}

// Lookup returns the rate of currency c at event time ms (Unix
// milliseconds): the latest rate on or before that UTC day; false when c
// has none by then. It is O(log n) in c's rates and does not allocate.
func (t *Rates) Lookup(c Currency, ms int64) (Rate, bool) {
	ps := t.by[c]
	day := floorDay(ms)
	// The first point after day, by binary search; the one before it is
	// the latest on or before day.
	lo, hi := 0, len(ps)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if ps[mid].day <= day {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == 0 {
		return 0, false
	}
	return ps[lo-1].rate, true
}

func floorDay(ms int64) int64 {
	const dayMs = 86_400_000
	d := ms / dayMs
	if ms%dayMs < 0 {
		d--
	}
	return d
}

// Has reports whether the table has rates for c.
func (t *Rates) Has(c Currency) bool { return len(t.by[c]) > 0 }

// Name is where the table was read from.
func (t *Rates) Name() string { return t.name }

// Len is the number of rates in the table.
func (t *Rates) Len() int { return t.rows }

// Currencies lists the table's currencies in order.
func (t *Rates) Currencies() []Currency {
	out := make([]Currency, 0, len(t.by))
	for c := range t.by {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Currency) int { return strings.Compare(a.String(), b.String()) })
	return out
}

// Canonical returns the table in one canonical form: the header, then a
// line per rate sorted by currency and date, each rate in its canonical
// form (Rate.String). Two files that convert alike, whatever their order,
// spacing, comments or trailing zeros, have the same canonical form.
func (t *Rates) Canonical() []byte {
	b := []byte(RatesHeader + "\n")
	for _, c := range t.Currencies() {
		for _, p := range t.by[c] {
			b = time.Unix(p.day*86400, 0).UTC().AppendFormat(b, time.DateOnly)
			b = append(b, ',')
			b = append(b, c[:]...)
			b = append(b, ',')
			b = append(b, p.rate.String()...)
			b = append(b, '\n')
		}
	}
	return b
}

// Digest is the hex SHA-256 of the canonical form: what the rules hash
// covers of the table.
func (t *Rates) Digest() string { return t.digest }

// noRate is the sentence of a purchase in currency c at ms that the table
// cannot convert.
func (t *Rates) noRate(c Currency, ms int64) string {
	date := time.UnixMilli(ms).UTC().Format(time.DateOnly)
	file := filepath.Base(t.name)
	ps := t.by[c]
	if len(ps) == 0 {
		return "no rate is known for " + c.String() + " on " + date + ": the rates file " + file +
			" has no " + c.String() + " rates; add a line " + date + "," + c.String() + ",RATE (or an earlier date) and restart"
	}
	first := time.Unix(ps[0].day*86400, 0).UTC().Format(time.DateOnly)
	return "no rate is known for " + c.String() + " on " + date + ": the rates file " + file +
		" starts " + c.String() + " on " + first + "; add a line " + date + "," + c.String() + ",RATE (or an earlier date) and restart"
}
