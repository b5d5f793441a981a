package simulate

import (
	"strconv"
)

const tsLayout = "2006-01-02T15:04:05.000Z" // UTC; the trailing Z is literal

// appendUserID appends "u-" and idx zero-padded to six digits.
func appendUserID(b []byte, idx int) []byte {
	b = append(b, "u-"...)
	return appendPadded(b, idx, 6)
}

func appendPadded(b []byte, v, width int) []byte {
	var d [20]byte
	s := strconv.AppendInt(d[:0], int64(v), 10)
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

func appendTs(b []byte, ts int64, epoch bool) []byte {
	if epoch {
		return strconv.AppendInt(b, ts, 10)
	}
	b = append(b, '"')
	b = appendRFC3339Milli(b, ts)
	return append(b, '"')
}

// appendRFC3339Milli appends ts (Unix ms, years 0..9999) as
// 2006-01-02T15:04:05.000Z; it is time.Time.AppendFormat(b, tsLayout) for
// UTC, without its cost.
func appendRFC3339Milli(b []byte, ts int64) []byte {
	days := ts / msPerDay
	ms := ts % msPerDay
	if ms < 0 {
		ms += msPerDay
		days--
	}
	// Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
	z := days + 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d := doy - (153*mp+2)/5 + 1
	m := mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	b = append2(append2(b, y/100), y%100)
	b = append2(append(b, '-'), m)
	b = append2(append(b, '-'), d)
	b = append2(append(b, 'T'), ms/msPerHour)
	b = append2(append(b, ':'), ms/msPerMinute%60)
	b = append2(append(b, ':'), ms/1000%60)
	v := ms % 1000
	return append(b, '.', byte('0'+v/100), byte('0'+v/10%10), byte('0'+v%10), 'Z')
}

func append2(b []byte, v int64) []byte {
	return append(b, byte('0'+v/10), byte('0'+v%10))
}

// appendCents appends cents as a decimal with two places ("19.99", "-5.00").
func appendCents(b []byte, cents int64) []byte {
	if cents < 0 {
		b = append(b, '-')
		cents = -cents
	}
	b = strconv.AppendInt(b, cents/100, 10)
	b = append(b, '.', byte('0'+cents%100/10), byte('0'+cents%10))
	return b
}

var typeNames = [...]string{evLogin: "login", evPurchase: "purchase", evContent: "content"}

// appendEvent appends the JSON of a valid event in the canonical field order
// event_id, user_id, type, ts, [amount, currency | kind], seq.
func appendEvent(b []byte, idx, seq int, e event, epoch bool, currency string) []byte {
	b = append(b, `{"event_id":"e-`...)
	b = appendUserID(b, idx)
	b = append(b, '-')
	b = strconv.AppendInt(b, int64(seq), 10)
	b = append(b, `","user_id":"`...)
	b = appendUserID(b, idx)
	b = append(b, `","type":"`...)
	b = append(b, typeNames[e.typ]...)
	b = append(b, `","ts":`...)
	b = appendTs(b, e.ts, epoch)
	switch e.typ {
	case evPurchase:
		b = append(b, `,"amount":"`...)
		b = appendCents(b, e.cents)
		b = append(b, `","currency":"`...)
		b = append(b, currency...)
		b = append(b, '"')
	case evContent:
		b = append(b, `,"kind":"`...)
		b = append(b, contentKinds[e.kind]...)
		b = append(b, '"')
	}
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, int64(seq), 10)
	return append(b, '}')
}
