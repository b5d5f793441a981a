package schemas_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lifecycle-engine/lifecycle/schemas"
)

const ratesCSV = `date,currency,rate
2026-01-01,EUR,1.0850
2026-02-01,EUR,1.0790
# the yen, from March
2026-03-01,JPY,0.0064
`

func mustRates(t testing.TB, text string) *schemas.Rates {
	t.Helper()
	r, err := schemas.ParseRates("rates.csv", strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func rate(t *testing.T, s string) schemas.Rate {
	t.Helper()
	r, err := schemas.ParseRate(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestParseRate(t *testing.T) {
	for s, want := range map[string]schemas.Rate{
		"1": 10_000_000_000, "1.085": 10_850_000_000, "1.0850": 10_850_000_000, "0.0000000001": 1,
		"150": 1_500_000_000_000, "922337203": 9_223_372_030_000_000_000, "0.0064": 64_000_000,
	} {
		got, err := schemas.ParseRate(s)
		if err != nil || got != want {
			t.Errorf("ParseRate(%q) = %d, %v; want %d", s, got, err, want)
		}
		if back, err := schemas.ParseRate(got.String()); err != nil || back != got {
			t.Errorf("ParseRate(%q.String() = %q) = %d, %v", s, got.String(), back, err)
		}
	}
	for _, s := range []string{"", "0", "0.0", "-1", "+1", "1e3", ".5", "5.", "1,085", "1.00000000001", "922337204", " 1", "1.0 ", "NaN"} {
		if r, err := schemas.ParseRate(s); err == nil {
			t.Errorf("ParseRate(%q) = %d, want an error", s, r)
		}
	}
	if got := rate(t, "1.0850").String(); got != "1.085" {
		t.Errorf("String of 1.0850 = %q, want 1.085", got)
	}
}

// TestConvert: exact products, rounded half to even to the micro.
func TestConvert(t *testing.T) {
	cases := []struct {
		amount schemas.Micros
		rate   string
		want   schemas.Micros
	}{
		{19_990_000, "1.085", 21_689_150}, // 19.99 × 1.085 = 21.689150 exactly
		{20_000_000, "1.079", 21_580_000},
		{1_000_000, "0.0064", 6_400},
		{123_456_789, "1", 123_456_789},
		{1, "0.5", 0}, // 0.0000005: half, to even 0
		{3, "0.5", 2},
		{5, "0.5", 2},
		{7, "0.5", 4},
		{1, "0.5000000001", 1},
		{1, "0.4999999999", 0},
		{1, "0.6", 1},
		{1_000_000, "1.0000000001", 1_000_000},           // 1_000_000.0001: down
		{5_000_000_000, "1.0000000001", 5_000_000_000},   // 5_000_000_000.5: half, and even: stays
		{15_000_000_000, "1.0000000001", 15_000_000_002}, // 15_000_000_001.5: half, to even
		{0, "1.085", 0},
		{schemas.MaxMicros, "2", schemas.MaxMicros}, // saturates, never wraps
		{schemas.MaxMicros, "922337203", schemas.MaxMicros},
		{schemas.MaxMicros, "1", schemas.MaxMicros},
		{-3, "0.5", -2}, // half to even is symmetric
		{-1, "0.6", -1},
	}
	for _, tc := range cases {
		if got := rate(t, tc.rate).Convert(tc.amount); got != tc.want {
			t.Errorf("%s × %s = %s, want %s", tc.amount, tc.rate, got, tc.want)
		}
	}
	// Against a plain formula where it cannot overflow: round(a × r / 1e10)
	// half to even, in integers.
	for a := schemas.Micros(0); a < 3000; a += 7 {
		for _, r := range []schemas.Rate{1, 3, 5_000_000_000, 5_000_000_001, 10_850_000_000, 64_000_000, 33_333_333_333} {
			p := int64(a) * int64(r) // < 3000 × 3.4e10: fits
			q, rem := p/1e10, p%1e10
			if 2*rem > 1e10 || 2*rem == 1e10 && q%2 == 1 {
				q++
			}
			if got := r.Convert(a); int64(got) != q {
				t.Fatalf("%d micros × %s = %d, want %d", a, r, got, q)
			}
		}
	}
}

func TestRatesLookup(t *testing.T) {
	tb := mustRates(t, ratesCSV)
	eur, _ := schemas.ParseCurrency("EUR")
	jpy, _ := schemas.ParseCurrency("JPY")
	gbp, _ := schemas.ParseCurrency("GBP")
	for _, tc := range []struct {
		c    schemas.Currency
		at   string
		want string // "" for none
	}{
		{eur, "2025-12-31T23:59:59.999Z", ""}, // before the first rate
		{eur, "2026-01-01T00:00:00Z", "1.085"},
		{eur, "2026-01-31T23:59:59.999Z", "1.085"}, // the latest on or before the date
		{eur, "2026-02-01T00:00:00Z", "1.079"},
		{eur, "2027-06-01T12:00:00Z", "1.079"},      // after the last: the last
		{eur, "2026-02-01T00:30:00+01:00", "1.085"}, // 2026-01-31 in UTC
		{jpy, "2026-02-15T00:00:00Z", ""},
		{jpy, "2026-03-01T00:00:00Z", "0.0064"},
		{gbp, "2026-03-01T00:00:00Z", ""},
	} {
		r, ok := tb.Lookup(tc.c, ms(t, tc.at))
		if got := map[bool]string{true: r.String()}[ok]; got != tc.want {
			t.Errorf("Lookup(%s, %s) = %q, want %q", tc.c, tc.at, got, tc.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { tb.Lookup(eur, 1_780_000_000_000) }); n != 0 {
		t.Errorf("Lookup allocates %v times", n)
	}
}

// TestDecodeConverts: a purchase in a currency of the table is converted
// at the rate of its date and keeps the original; the accounting currency
// is left as it is; a date before the currency's first rate, or a
// currency the table lacks, is still wrong_currency, with a reason that
// says so and how to fix it.
func TestDecodeConverts(t *testing.T) {
	tb := mustRates(t, ratesCSV)
	d := schemas.NewDecoder(schemas.DecoderConfig{Rates: tb})
	purchase := func(ts, amount, cur string) []byte {
		return []byte(`{"event_id":"e-1","user_id":"u-42","type":"purchase","ts":"` + ts + `","amount":` + amount + `,"currency":"` + cur + `"}`)
	}
	eur, _ := schemas.ParseCurrency("EUR")

	ev, err := d.Decode([]byte("u-42"), purchase("2026-01-15T10:00:00Z", `"19.99"`, "EUR"))
	if err != nil {
		t.Fatal(err)
	}
	want := schemas.Original{Amount: 19_990_000, Currency: eur, Rate: 10_850_000_000}
	if ev.Amount != 21_689_150 || ev.Original != want {
		t.Errorf("EUR 19.99 on 2026-01-15: amount %s, original %+v; want 21.68915 and %+v", ev.Amount, ev.Original, want)
	}
	if ev, err := d.Decode([]byte("u-42"), purchase("2026-02-01T00:00:00Z", `20`, "EUR")); err != nil || ev.Amount != 21_580_000 {
		t.Errorf("EUR 20 on 2026-02-01: %s, %v; want 21.58 (the February rate)", ev.Amount, err)
	}
	ev, err = d.Decode([]byte("u-42"), purchase("2026-01-15T10:00:00Z", `"19.99"`, "USD"))
	if err != nil || ev.Amount != 19_990_000 || ev.Original != (schemas.Original{}) {
		t.Errorf("USD 19.99: %s, %+v, %v; want 19.99 unconverted, no original", ev.Amount, ev.Original, err)
	}

	for _, tc := range []struct {
		value []byte
		want  []string
	}{
		{purchase("2025-12-31T23:00:00Z", `"5"`, "EUR"), []string{`field "currency": no rate is known for EUR on 2025-12-31`, "starts EUR on 2026-01-01", "add a line 2025-12-31,EUR,RATE", "rates.csv"}},
		{purchase("2026-03-01T00:00:00Z", `"5"`, "GBP"), []string{"no rate is known for GBP on 2026-03-01", "has no GBP rates", "add a line 2026-03-01,GBP,RATE"}},
		{purchase("2026-03-01T00:00:00Z", `"5"`, "eur"), []string{`"eur" is not the accounting currency "USD" nor a currency code`}},
	} {
		_, err := d.Decode([]byte("u-42"), tc.value)
		var rej *schemas.RejectError
		if !errors.As(err, &rej) || rej.Reason != schemas.ReasonWrongCurrency {
			t.Errorf("%s: %v, want wrong_currency", tc.value, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(rej.Error(), w) {
				t.Errorf("%s: reason %q lacks %q", tc.value, rej.Error(), w)
			}
		}
		if len(rej.Error()) > schemas.MaxReasonBytes {
			t.Errorf("reason of %d bytes", len(rej.Error()))
		}
	}

	// Without a table the sentence is the one before tables existed.
	_, err = schemas.NewDecoder(schemas.DecoderConfig{}).Decode([]byte("u-42"), purchase("2026-01-15T10:00:00Z", `"1"`, "EUR"))
	if err == nil || err.Error() != `field "currency": "EUR" is not the accounting currency "USD"` {
		t.Errorf("without rates: %v", err)
	}

	// Another accounting currency: the table's rates convert into it; a
	// table with rates for the accounting currency itself is refused.
	if err := (schemas.DecoderConfig{Currency: "EUR", Rates: tb}).Validate(); err == nil || !strings.Contains(err.Error(), "rates for EUR, the accounting currency") {
		t.Errorf("a table with the accounting currency: %v", err)
	}
}

// TestDecodeConvertsMapped: with an input mapping, properties.currency and
// a default_currency are converted alike.
func TestDecodeConvertsMapped(t *testing.T) {
	tb := mustRates(t, ratesCSV)
	m := schemas.Mapping{Preset: "segment"}
	d := schemas.NewDecoder(schemas.DecoderConfig{Rates: tb, Mapping: &m})
	track := `{"type":"track","event":"Order Completed","messageId":"m-1","userId":"u-1","timestamp":"2026-01-20T08:00:00Z","properties":{"revenue":10,"currency":"EUR"}}`
	ev, err := d.Decode([]byte("u-1"), []byte(track))
	if err != nil || ev.Amount != 10_850_000 || ev.Original.Amount != 10_000_000 || ev.Original.Currency.String() != "EUR" {
		t.Errorf("Segment EUR 10: %s, %+v, %v; want 10.85 from EUR 10", ev.Amount, ev.Original, err)
	}
	m2 := schemas.Mapping{Preset: "segment", Fields: schemas.MappedFields{DefaultCurrency: "EUR"}}
	d = schemas.NewDecoder(schemas.DecoderConfig{Rates: tb, Mapping: &m2})
	noCur := strings.Replace(track, `,"currency":"EUR"`, "", 1)
	if ev, err := d.Decode([]byte("u-1"), []byte(noCur)); err != nil || ev.Amount != 10_850_000 {
		t.Errorf("default_currency EUR: %s, %v; want 10.85", ev.Amount, err)
	}
	early := strings.Replace(noCur, "2026-01-20", "2025-01-20", 1)
	if _, err := d.Decode([]byte("u-1"), []byte(early)); err == nil || !strings.Contains(err.Error(), `field "properties.currency": no rate is known for EUR on 2025-01-20`) {
		t.Errorf("default_currency EUR before the first rate: %v", err)
	}
}

// TestConvertAllocatesNothing: converting a purchase costs no allocation
// beyond decoding one in the accounting currency.
func TestConvertAllocatesNothing(t *testing.T) {
	d := schemas.NewDecoder(schemas.DecoderConfig{Rates: mustRates(t, ratesCSV)})
	key := []byte("u-42")
	usd := []byte(`{"event_id":"e-1","user_id":"u-42","type":"purchase","ts":"2026-01-15T10:00:00Z","amount":"19.99","currency":"USD"}`)
	eur := []byte(`{"event_id":"e-1","user_id":"u-42","type":"purchase","ts":"2026-01-15T10:00:00Z","amount":"19.99","currency":"EUR"}`)
	base := testing.AllocsPerRun(200, func() { d.Decode(key, usd) })
	conv := testing.AllocsPerRun(200, func() { d.Decode(key, eur) })
	if conv > base {
		t.Errorf("a converted purchase allocates %v times, one in the accounting currency %v", conv, base)
	}
}

func TestParseRatesErrors(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"", "rates file rates.csv: is empty"},
		{"date,currency,rate\n", "has no rates"},
		{"day,currency,rate\n2026-01-01,EUR,1\n", `line 1: the header is "day,currency,rate"; want "date,currency,rate"`},
		{"2026-01-01,EUR,1.085\n", `line 1: the header is "2026-01-01,EUR,1.085"`},
		{"date,currency,rate\n2026-01-01,EUR\n", "line 2: 2 fields; want 3"},
		{"date,currency,rate\n2026-01-01,EUR,1.085\n01/02/2026,EUR,1.08\n", `line 3: date "01/02/2026" is not a date YYYY-MM-DD`},
		{"date,currency,rate\n2026-02-30,EUR,1.08\n", `line 2: date "2026-02-30"`},
		{"date,currency,rate\n2026-01-01,eur,1.08\n", `line 2: currency "eur" is not three upper-case letters`},
		{"date,currency,rate\n2026-01-01,EURO,1.08\n", `line 2: currency "EURO"`},
		{"date,currency,rate\n\n# a comment\n2026-01-01,EUR,1.08.5\n", `line 4: rate "1.08.5" is not a decimal`},
		{"date,currency,rate\n2026-01-01,EUR,0\n", `line 2: rate "0" is zero`},
		{"date,currency,rate\n2026-01-01,EUR,-1.08\n", `line 2: rate "-1.08" is not a decimal`},
		{"date,currency,rate\n2026-01-01,EUR,1.08000000001\n", "line 2: rate \"1.08000000001\" is more than 10 decimal places"},
		{"date,currency,rate\n2026-01-01,EUR,1e3\n", `line 2: rate "1e3" is not a decimal`},
		{"date,currency,rate\n2026-01-01,EUR,1.08\n2026-01-02,EUR,1.07\n2026-01-01,EUR,1.09\n", "line 4: EUR on 2026-01-01 is given twice (first on line 2)"},
		{"date,currency,rate\n2026-01-01,EUR,\"1.08\n", "line 2: not valid CSV"},
	} {
		_, err := schemas.ParseRates("rates.csv", strings.NewReader(tc.text))
		var re *schemas.RatesError
		if !errors.As(err, &re) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseRates(%q): %v; want a RatesError containing %q", tc.text, err, tc.want)
		}
	}
	if _, err := schemas.LoadRates("/nonexistent/rates.csv"); err == nil || !strings.Contains(err.Error(), "rates file /nonexistent/rates.csv") {
		t.Errorf("LoadRates of a missing file: %v", err)
	}
}

// TestRatesCanonical: the same rates, however laid out, have one canonical
// form and digest; a changed rate changes both.
func TestRatesCanonical(t *testing.T) {
	a := mustRates(t, ratesCSV)
	b := mustRates(t, "date,currency,rate\r\n2026-03-01 , JPY , 0.00640\r\n2026-02-01,EUR,1.079\r\n2026-01-01,EUR,1.085\r\n")
	if string(a.Canonical()) != string(b.Canonical()) || a.Digest() != b.Digest() {
		t.Errorf("the same rates, laid out differently:\n%s\n%s", a.Canonical(), b.Canonical())
	}
	want := "date,currency,rate\n2026-01-01,EUR,1.085\n2026-02-01,EUR,1.079\n2026-03-01,JPY,0.0064\n"
	if string(a.Canonical()) != want {
		t.Errorf("canonical form:\n%s\nwant\n%s", a.Canonical(), want)
	}
	if bom := mustRates(t, "\ufeff"+ratesCSV); bom.Digest() != a.Digest() {
		t.Error("a byte order mark changes the table")
	}
	c := mustRates(t, strings.Replace(ratesCSV, "1.0790", "1.0791", 1))
	if c.Digest() == a.Digest() {
		t.Error("a changed rate has the same digest")
	}
	if a.Len() != 3 || len(a.Currencies()) != 2 {
		t.Errorf("Len %d, currencies %v", a.Len(), a.Currencies())
	}
}

// BenchmarkDecodeConvertedPurchase: a native purchase in EUR, converted
// by a table of a year of daily rates for 30 currencies, against the
// same purchase in the accounting currency.
func BenchmarkDecodeConvertedPurchase(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(schemas.RatesHeader + "\n")
	for c := range 30 {
		cur := string([]byte{'E', 'A' + byte(c/26), 'A' + byte(c%26)})
		if c == 0 {
			cur = "EUR"
		}
		for d := range 365 {
			sb.WriteString(time.Date(2026, 1, 1+d, 0, 0, 0, 0, time.UTC).Format(time.DateOnly) + "," + cur + ",1.0" + strconv.Itoa(d) + "\n")
		}
	}
	d := schemas.NewDecoder(schemas.DecoderConfig{Rates: mustRates(b, sb.String())})
	key := []byte("u-42")
	for _, cur := range []string{"USD", "EUR"} {
		v := []byte(`{"event_id":"e-1","user_id":"u-42","type":"purchase","ts":"2026-11-22T06:30:00Z","amount":"19.99","currency":"` + cur + `"}`)
		b.Run(cur, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := d.Decode(key, v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
