package schemas

// parseRFC3339 parses an RFC 3339 date-time with a mandatory offset
// ("2026-11-22T06:30:00Z", "2026-11-22T08:30:00.123456789+02:00") to Unix
// milliseconds, truncating finer fractions. It accepts exactly what RFC 3339
// section 5.6 and the JSON Schema "date-time" format accept: 'T' and 'Z' in
// either case, any number of fraction digits, offsets up to ±23:59, and a
// leap second (ss = 60) only at 23:59 UTC, which counts as the next day's
// 00:00:00 (Unix time has no leap seconds). why is "" on success and
// otherwise says, for a sentence, what is wrong.
func parseRFC3339(b []byte) (ms int64, why string) {
	const form = "want the form 2006-01-02T15:04:05Z"
	if len(b) < len("2006-01-02T15:04:05") {
		return 0, form
	}
	year, ok1 := digits(b[0:4])
	month, ok2 := digits(b[5:7])
	day, ok3 := digits(b[8:10])
	hour, ok4 := digits(b[11:13])
	minute, ok5 := digits(b[14:16])
	sec, ok6 := digits(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) ||
		b[4] != '-' || b[7] != '-' || b[13] != ':' || b[16] != ':' {
		return 0, form
	}
	if b[10] != 'T' && b[10] != 't' {
		return 0, "want 'T' between date and time"
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(year, month) {
		return 0, "no such date"
	}
	if hour > 23 || minute > 59 || sec > 60 {
		return 0, "no such time of day"
	}
	rest := b[19:]
	var frac int64 // milliseconds
	if len(rest) > 0 && rest[0] == '.' {
		i := 1
		scale := int64(100)
		for i < len(rest) && '0' <= rest[i] && rest[i] <= '9' {
			frac += int64(rest[i]-'0') * scale
			scale /= 10 // 0 after three digits: the rest is truncated
			i++
		}
		if i == 1 {
			return 0, "no digits after '.'"
		}
		rest = rest[i:]
	}
	var offset int // minutes east of UTC
	switch {
	case len(rest) == 1 && (rest[0] == 'Z' || rest[0] == 'z'):
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, ok1 := digits(rest[1:3])
		om, ok2 := digits(rest[4:6])
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return 0, "bad offset, want Z or ±hh:mm"
		}
		offset = oh*60 + om
		if rest[0] == '-' {
			offset = -offset
		}
	case len(rest) == 0:
		return 0, "no offset, want Z or ±hh:mm"
	default:
		return 0, "bad offset, want Z or ±hh:mm"
	}
	if sec == 60 {
		if utc := ((hour*60+minute-offset)%1440 + 1440) % 1440; utc != 23*60+59 {
			return 0, "a leap second must be at 23:59:60 UTC"
		}
	}
	days := daysFromCivil(year, month, day)
	secs := ((days*24+int64(hour))*60+int64(minute)-int64(offset))*60 + int64(sec)
	return secs*1000 + frac, ""
}

// digits parses b, which must be all ASCII digits.
func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil returns the number of days from 1970-01-01 to the given
// proleptic Gregorian date (Howard Hinnant's days_from_civil).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400 // y >= -1 here, and the formula wants floor division
	if y < 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}
