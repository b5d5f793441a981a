package warnings

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestBreaksCountAndAfter: after is the first time at which counted
// reaches a silence, whatever the breaks and wherever the silence starts
// (inside a break too); without breaks both are plain arithmetic.
func TestBreaksCountAndAfter(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		var c Config
		at := int64(0)
		for range rng.IntN(5) {
			at += 1 + rng.Int64N(50)
			from := at
			at += 1 + rng.Int64N(30)
			c.Breaks = append(c.Breaks, Span{From: from, To: at})
		}
		if err := validBreaks(c.Breaks); err != nil {
			t.Fatal(err)
		}
		from, d := rng.Int64N(at+20), 1+rng.Int64N(200)
		got := c.after(from, d)
		if n := c.counted(from, got); n != d {
			t.Fatalf("breaks %v: counted(%d, after(%d, %d) = %d) = %d, want %d", c.Breaks, from, from, d, got, n, d)
		}
		if n := c.counted(from, got-1); n >= d {
			t.Fatalf("breaks %v: after(%d, %d) = %d is not the first: counted to %d is already %d", c.Breaks, from, d, got, got-1, n)
		}
		if len(c.Breaks) == 0 && (got != from+d || c.counted(from, from+d) != d) {
			t.Fatalf("without breaks: after(%d, %d) = %d", from, d, got)
		}
	}
}

// TestFormatBreaks: what FormatBreaks writes, ParseBreaks reads back.
func TestFormatBreaks(t *testing.T) {
	spans, err := ParseBreaks("2025-05-11..2025-05-20,2025-07-21,2025-12-24..2026-01-01")
	if err != nil {
		t.Fatal(err)
	}
	s := FormatBreaks(spans)
	if want := "2025-05-11..2025-05-20,2025-07-21,2025-12-24..2026-01-01"; s != want {
		t.Errorf("FormatBreaks = %q, want %q", s, want)
	}
	if back, err := ParseBreaks(s); err != nil || !slices.Equal(back, spans) {
		t.Errorf("ParseBreaks(FormatBreaks) = %v, %v; want %v", back, err, spans)
	}
	if s := FormatBreaks(nil); s != "" {
		t.Errorf("FormatBreaks(nil) = %q", s)
	}
}

func TestParseBreaks(t *testing.T) {
	const day = 24 * 3600 * 1000
	got, err := ParseBreaks(" 2026-07-14 ,2026-01-01..2026-01-02,2025-12-24..2025-12-31, 2026-01-03")
	if err != nil {
		t.Fatal(err)
	}
	xmas := int64(1766534400000) // 2025-12-24T00:00:00Z
	july := int64(1783987200000) // 2026-07-14T00:00:00Z
	want := []Span{{xmas, xmas + 11*day}, {july, july + day}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("ParseBreaks = %v, want %v (sorted; adjacent and overlapping days merged)", got, want)
	}
	if b, err := ParseBreaks(""); err != nil || len(b) != 0 {
		t.Errorf("ParseBreaks(\"\") = %v, %v; want none", b, err)
	}
	for in, want := range map[string]string{
		"xmas":                   "want a day like 2026-12-25",
		"2026-12-31..2026-12-24": "the last day is before the first",
		"2026-02-30":             "want a day like",
	} {
		if _, err := ParseBreaks(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseBreaks(%q) = %v, want an error saying %q", in, err, want)
		}
	}
	for _, bad := range [][]Span{{{5, 5}}, {{1, 3}, {3, 4}}, {{4, 6}, {1, 2}}} {
		if err := (Config{Breaks: bad}).Validate(); err == nil {
			t.Errorf("Validate accepted breaks %v", bad)
		}
	}
}
