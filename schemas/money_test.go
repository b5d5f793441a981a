package schemas

import (
	"errors"
	"math"
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
