package schemas

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

var rfc3339 = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$`)

// FuzzRFC3339 compares parseRFC3339 with the time package on the inputs
// both are meant to handle (time.Parse knows no leap seconds, no lower-case
// 't'/'z' and no more than nine fraction digits).
func FuzzRFC3339(f *testing.F) {
	for _, s := range []string{
		"2026-11-22T06:30:00Z", "2026-11-22T08:30:00.123456789+02:00", "1970-01-01T00:00:00-00:00",
		"2024-02-29T23:59:59.999-23:59", "2026-11-22T06:30:00.5+05:45", "9999-12-31T23:59:59.999Z",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, why := parseRFC3339([]byte(s))
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
