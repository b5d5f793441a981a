package schemas

import (
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"regexp"
	"testing"
)

func TestParseMicros(t *testing.T) {
	tests := []struct {
		in   string
		want Micros
	}{
		{"0", 0},
		{"-0", 0},
		{"19.99", 19_990_000},
		{"20", 20_000_000},
		{"20.00", 20_000_000},
		{"0.005", 5_000},
		{"0.000001", 1},
		{"-1.5", -1_500_000},
		{"007.50", 7_500_000},
		{"123456.789012", 123_456_789_012},
		{"9223372036854.775807", math.MaxInt64},
		{"-9223372036854.775808", math.MinInt64},
	}
	for _, tt := range tests {
		got, err := ParseMicros(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseMicros(%q) = %d, %v; want %d, nil", tt.in, got, err, tt.want)
		}
	}
}

func TestParseMicrosRejects(t *testing.T) {
	for _, in := range []string{
		"", "-", ".", ".5", "5.", "-.5", "+5", " 5", "5 ", "5 .0", "1,000.00",
		"1e3", "1E3", "1.5e2", "0x10", "19.9999999", "0.0000001", "1.2.3", "--5",
		"NaN", "Inf", "9223372036854.775808", "-9223372036854.775809",
		"9223372036855", "99999999999999999999999999", "١٢", "5\x00",
	} {
		got, err := ParseMicros(in)
		if err == nil {
			t.Errorf("ParseMicros(%q) = %d, nil; want an error", in, got)
			continue
		}
		if !errors.Is(err, ErrBadMicros) {
			t.Errorf("ParseMicros(%q) error %v does not wrap ErrBadMicros", in, err)
		}
	}
}

func TestMicrosString(t *testing.T) {
	tests := []struct {
		in   Micros
		want string
	}{
		{0, "0.00"},
		{19_990_000, "19.99"},
		{20_000_000, "20.00"},
		{5_000, "0.005"},
		{1, "0.000001"},
		{10, "0.00001"},
		{-1_500_000, "-1.50"},
		{-1, "-0.000001"},
		{1_234_567_890, "1234.56789"},
		{math.MaxInt64, "9223372036854.775807"},
		{math.MinInt64, "-9223372036854.775808"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("Micros(%d).String() = %q; want %q", int64(tt.in), got, tt.want)
		}
	}
}

func FuzzMicrosRoundTrip(f *testing.F) {
	for _, m := range []int64{0, 1, -1, 19_990_000, 5_000, math.MaxInt64, math.MinInt64} {
		f.Add(m)
	}
	f.Fuzz(func(t *testing.T, m int64) {
		s := Micros(m).String()
		got, err := ParseMicros(s)
		if err != nil || got != Micros(m) {
			t.Fatalf("ParseMicros(%q) = %d, %v; want %d, nil", s, got, err, m)
		}
	})
}

func FuzzParseMicros(f *testing.F) {
	for _, s := range []string{"19.99", "-0.000001", "007", "1e3", "9223372036854.775807", ".5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMicros(s)
		if err != nil {
			return
		}
		// Anything accepted prints canonically and reads back the same.
		c := m.String()
		if got, err := ParseMicros(c); err != nil || got != m {
			t.Fatalf("ParseMicros(%q) = %d; its String %q parses to %d, %v", s, m, c, got, err)
		}
		if len(s) > 0 && s[0] != '-' && m < 0 {
			t.Fatalf("ParseMicros(%q) = %d: negative without a sign", s, m)
		}
	})
}

func TestAddSat(t *testing.T) {
	const maxI, minI = math.MaxInt64, math.MinInt64
	tests := []struct{ a, b, want int64 }{
		{1, 2, 3},
		{-5, 3, -2},
		{0, 0, 0},
		{maxI, 0, maxI},
		{maxI, 1, maxI},
		{maxI, maxI, maxI},
		{maxI - 1, 1, maxI},
		{maxI - 1, 2, maxI},
		{1, maxI, maxI},
		{minI, -1, minI},
		{minI, minI, minI},
		{minI + 1, -1, minI},
		{-1, minI, minI},
		{maxI, minI, -1},
		{minI, maxI, -1},
		{maxI, -1, maxI - 1},
		{minI, 1, minI + 1},
	}
	for _, tt := range tests {
		if got := AddSat(tt.a, tt.b); got != tt.want {
			t.Errorf("AddSat(%d, %d) = %d; want %d", tt.a, tt.b, got, tt.want)
		}
		if got := AddSat(Micros(tt.a), Micros(tt.b)); got != Micros(tt.want) {
			t.Errorf("AddSat(Micros(%d), Micros(%d)) = %d; want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

// monetaryPattern compiles the pattern that the transition schema gives a
// total spend (rfm.monetary), read from the embedded schema file.
func monetaryPattern(t *testing.T) *regexp.Regexp {
	t.Helper()
	b, err := Files.ReadFile(TransitionSchemaFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Properties struct {
			RFM struct {
				Properties struct {
					Monetary struct {
						Pattern string `json:"pattern"`
					} `json:"monetary"`
				} `json:"properties"`
			} `json:"rfm"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	p := doc.Properties.RFM.Properties.Monetary.Pattern
	if p == "" {
		t.Fatalf("%s has no pattern at properties.rfm.properties.monetary", TransitionSchemaFile)
	}
	return regexp.MustCompile(p)
}

// TestAddSatSpendMatchesSchema: the sequence seen on a real deployment
// (9223372036854.775807, then 1.00) totals the largest amount, whose string
// form is a valid monetary amount; the wrapped total was not.
func TestAddSatSpendMatchesSchema(t *testing.T) {
	re := monetaryPattern(t)
	var spend Micros
	for _, s := range []string{"9223372036854.775807", "1.00"} {
		m, err := ParseMicros(s)
		if err != nil {
			t.Fatal(err)
		}
		spend = AddSat(spend, m)
	}
	if spend != MaxMicros || spend < 0 {
		t.Fatalf("spend = %s; want %s", spend, MaxMicros)
	}
	if s := spend.String(); !re.MatchString(s) {
		t.Errorf("spend %q does not match the schema's monetary pattern %s", s, re)
	}
	wrapped := MaxMicros
	wrapped += MicrosPerUnit // what += did before AddSat: -9223372036853.775809
	if re.MatchString(wrapped.String()) {
		t.Errorf("the wrapped total %s matches %s; the check above would prove nothing", wrapped, re)
	}
}

func FuzzAddSat(f *testing.F) {
	for _, p := range [][2]int64{{1, 2}, {math.MaxInt64, 1}, {math.MinInt64, -1}, {math.MaxInt64, math.MinInt64}} {
		f.Add(p[0], p[1])
	}
	lo, hi := big.NewInt(math.MinInt64), big.NewInt(math.MaxInt64)
	f.Fuzz(func(t *testing.T, a, b int64) {
		want := new(big.Int).Add(big.NewInt(a), big.NewInt(b))
		if want.Cmp(hi) > 0 {
			want.Set(hi)
		}
		if want.Cmp(lo) < 0 {
			want.Set(lo)
		}
		if got := AddSat(a, b); got != want.Int64() {
			t.Fatalf("AddSat(%d, %d) = %d; want %d", a, b, got, want.Int64())
		}
	})
}
