package schemas

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

var rfc3339 = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$`)

// offsetInRange reports whether the time-offset of an RFC 3339 date-time
// ("Z" or "±hh:mm") is in RFC 3339's range: time-numoffset is
// time-hour ":" time-minute, hours 00-23 and minutes 00-59 (section 5.6).
func offsetInRange(off string) bool {
	if len(off) != len("+00:00") {
		return true // "Z" or "z"
	}
	return off[1:3] <= "23" && off[4:6] <= "59"
}

// FuzzRFC3339 compares parseRFC3339 with the time package on the inputs
// both are meant to handle (time.Parse knows no leap seconds, no lower-case
// 't'/'z' and no more than nine fraction digits), and checks that an offset
// outside RFC 3339's range is rejected: time.Parse is laxer there (its
// general layout parser takes offset hours up to 24 and minutes up to 60,
// "+24:00", "+05:60"), so it is no oracle for those.
func FuzzRFC3339(f *testing.F) {
	for _, s := range []string{
		"2026-11-22T06:30:00Z", "2026-11-22T08:30:00.123456789+02:00", "1970-01-01T00:00:00-00:00",
		"2024-02-29T23:59:59.999-23:59", "2026-11-22T06:30:00.5+05:45", "9999-12-31T23:59:59.999Z",
		"2026-11-22T06:30:00+24:00", "2026-11-22T06:30:00-24:00", "2026-11-22T06:30:00+05:60",
		"2026-11-22T06:30:00.5+24:59", "2026-11-22t06:30:00+99:99", "2026-11-22T06:30:00+23:59",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, why := parseRFC3339([]byte(s))
		if m := rfc3339.FindStringSubmatch(s); m != nil && !offsetInRange(m[2]) {
			if why == "" {
				t.Errorf("parseRFC3339(%q) = %d; want a rejection: offset %s is outside ±23:59", s, got, m[2])
			}
			return
		}
		tm, err := time.Parse(time.RFC3339Nano, s)
		comparable := !strings.ContainsAny(s, "tz") && !strings.Contains(s, ":60")
		if i := strings.IndexByte(s, '.'); i >= 0 {
			n := 0
			for _, c := range s[i+1:] {
				if c < '0' || c > '9' {
					break
				}
				n++
			}
			comparable = comparable && n <= 9
		}
		if !comparable {
			return
		}
		switch {
		case err == nil && why != "" && rfc3339.MatchString(s): // time.Parse also takes "T6:30:00"
			t.Errorf("parseRFC3339(%q): %s; time.Parse gives %v", s, why, tm)
		case err != nil && why == "":
			t.Errorf("parseRFC3339(%q) = %d; time.Parse: %v", s, got, err)
		case err == nil && why == "" && tm.UnixMilli() >= 0 && got != tm.UnixMilli():
			t.Errorf("parseRFC3339(%q) = %d; time.Parse gives %d", s, got, tm.UnixMilli())
		}
	})
}
