package record

import (
	"encoding/binary"
	"fmt"
	"sort"

	"github.com/lifecycle-engine/lifecycle/processor/retention"
	"github.com/lifecycle-engine/lifecycle/processor/rules"
	"github.com/lifecycle-engine/lifecycle/processor/segments"
	"github.com/lifecycle-engine/lifecycle/processor/warnings"
	"github.com/lifecycle-engine/lifecycle/schemas"
)

// Record versions. Bump one when its layout changes and keep a decoder for
// every older version a deployed store may hold.
const (
	userRecordV1 = 1
	userRecordV2 = 2 // adds User.LastOriginal
	userRecordV3 = 3 // adds User.Activity
	userRecordV4 = 4 // User.Recent: a byte of the slots in use, then only theirs
	metaV1       = 1
	metaV2       = 2 // adds Meta.Commits
	metaV3       = 3 // adds Meta.Rules
	metaV4       = 4 // adds Meta.Outcomes
	metaV5       = 5 // adds Meta.Epoch
	outboxV1     = 1
)

// AppendUser appends the stored form of r to dst.
func AppendUser(dst []byte, r User) []byte {
	u := &r.User
	dst = append(dst, userRecordV4, byte(u.Stage))
	for _, v := range [...]int64{u.Since, u.FirstSeen, u.LastActivity, u.LastPurchase,
		u.Purchases, int64(u.Spend), u.Logins, u.Contents, u.Returns, r.Wake,
		r.Offsets[0], r.Offsets[1], r.Offsets[2], r.Offsets[3],
		u.Buys.First, u.Buys.Last, u.Buys.Days, int64(u.Buys.FirstValue), int64(u.Buys.RepeatValue)} {
		dst = binary.AppendVarint(dst, v)
	}
	// A user with fewer than RecentIDs events has empty slots (zero): they
	// are left out, 8 bytes each (BENCHMARKS.md, "Heap per cached user";
	// the cache holds records in this form). One byte marks the slots in
	// use, so RecentIDs is at most 8 (DecodeUser's constant would not
	// compile otherwise).
	var used byte
	for i, h := range u.Recent {
		if h != 0 {
			used |= 1 << i
		}
	}
	dst = append(dst, used)
	for _, h := range u.Recent {
		if h != 0 {
			dst = binary.LittleEndian.AppendUint64(dst, h)
		}
	}
	dst = append(dst, u.RecentNext)
	sc := r.Segment
	dst = append(dst, sc.R, sc.F, sc.M, byte(sc.Segment))
	dst, _ = r.Window.AppendBinary(dst) // fails only on a window the package never builds
	dst = r.Warn.AppendBinary(dst)
	dst = appendOriginal(dst, r.LastOriginal)
	dst = binary.AppendVarint(dst, r.Activity.Cohort)
	return binary.LittleEndian.AppendUint64(dst, r.Activity.Days)
}

// appendOriginal appends o: a 0 for the zero Original (a purchase that was
// not converted, or none: one byte in the records of a single-currency
// deployment), else a 1, the amount, the currency's three letters and the
// rate.
func appendOriginal(dst []byte, o schemas.Original) []byte {
	if o == (schemas.Original{}) {
		return append(dst, 0)
	}
	dst = append(dst, 1)
	dst = binary.AppendVarint(dst, int64(o.Amount))
	dst = append(dst, o.Currency[:]...)
	return binary.AppendVarint(dst, int64(o.Rate))
}

// original reads what appendOriginal wrote.
func (d *decoder) original() schemas.Original {
	var o schemas.Original
	switch d.byte() {
	case 0:
	case 1:
		o.Amount = schemas.Micros(d.varint())
		o.Currency = schemas.Currency{d.byte(), d.byte(), d.byte()}
		o.Rate = schemas.Rate(d.varint())
		if _, ok := schemas.ParseCurrency(o.Currency[:]); !ok || o.Rate <= 0 {
			d.fail()
		}
	default:
		d.fail()
	}
	return o
}

// DecodeUser parses the stored form of a user record.
func DecodeUser(b []byte) (User, error) {
	var r User
	if len(b) < 2 {
		return r, fmt.Errorf("%w: user record of %d bytes", ErrCorrupt, len(b))
	}
	if b[0] < userRecordV1 || b[0] > userRecordV4 {
		return r, fmt.Errorf("%w: user record version %d, this build reads versions %d to %d", ErrNewerFormat, b[0], userRecordV1, userRecordV4)
	}
	d := decoder{b: b[2:]}
	u := &r.User
	u.Stage = rules.Stage(b[1])
	for _, p := range [...]*int64{&u.Since, &u.FirstSeen, &u.LastActivity, &u.LastPurchase,
		&u.Purchases, (*int64)(&u.Spend), &u.Logins, &u.Contents, &u.Returns, &r.Wake,
		&r.Offsets[0], &r.Offsets[1], &r.Offsets[2], &r.Offsets[3],
		&u.Buys.First, &u.Buys.Last, &u.Buys.Days, (*int64)(&u.Buys.FirstValue), (*int64)(&u.Buys.RepeatValue)} {
		*p = d.varint()
	}
	used := byte(1<<rules.RecentIDs - 1)
	if b[0] >= userRecordV4 {
		used = d.byte()
	}
	for i := range u.Recent {
		if used&(1<<i) == 0 {
			continue
		}
		if u.Recent[i] = d.fixed64(); u.Recent[i] == 0 && b[0] >= userRecordV4 {
			d.fail() // a slot in use holds a hash, never zero
		}
	}
	u.RecentNext = d.byte()
	r.Segment = segments.Score{R: d.byte(), F: d.byte(), M: d.byte(), Segment: segments.Segment(d.byte())}
	if d.err == nil {
		w, n, err := segments.DecodeWindow(d.b)
		if err != nil {
			return r, fmt.Errorf("%w: user record: %v", ErrCorrupt, err)
		}
		r.Window, d.b = w, d.b[n:]
		var rest []byte
		if r.Warn, rest, err = warnings.DecodeState(d.b); err != nil {
			return r, fmt.Errorf("%w: user record: %v", ErrCorrupt, err)
		}
		d.b = rest
	}
	if b[0] >= userRecordV2 {
		r.LastOriginal = d.original()
	}
	if b[0] >= userRecordV3 {
		r.Activity = retention.Activity{Cohort: d.varint(), Days: d.fixed64()}
	} else if u.Stage != rules.None {
		// Before the metrics: the cohort of the first event, active on
		// the day of the last.
		r.Activity = retention.Activity{Cohort: retention.DayOf(u.FirstSeen), Days: 1}
	}
	if d.err != nil || len(d.b) != 0 || u.Stage > rules.Churned || u.RecentNext >= rules.RecentIDs {
		return r, fmt.Errorf("%w: user record does not decode", ErrCorrupt)
	}
	return r, nil
}

// AppendMeta appends the stored form of m to dst; the same metadata gives
// the same bytes.
func AppendMeta(dst []byte, m Meta) []byte {
	dst = append(dst, metaV5)
	dst = binary.AppendVarint(dst, m.StreamTime)
	dst = binary.AppendUvarint(dst, uint64(m.Partitions))
	dst = binary.AppendUvarint(dst, m.OutboxNext)
	for _, n := range m.Stages {
		dst = binary.AppendVarint(dst, n)
	}
	for _, n := range m.Segments {
		dst = binary.AppendVarint(dst, n)
	}
	dst = appendBytes(dst, m.Population)
	topics := make([]string, 0, len(m.Offsets))
	for t := range m.Offsets {
		topics = append(topics, t)
	}
	sort.Strings(topics) // same meta, same bytes
	dst = binary.AppendUvarint(dst, uint64(len(topics)))
	for _, t := range topics {
		dst = appendString(dst, t)
		dst = binary.AppendVarint(dst, m.Offsets[t])
	}
	dst = binary.AppendUvarint(dst, m.Commits)
	dst = appendString(dst, m.Rules)
	dst = appendBytes(dst, m.Outcomes)
	return binary.AppendUvarint(dst, m.Epoch)
}

// DecodeMeta parses the stored form of partition metadata.
func DecodeMeta(b []byte) (Meta, error) {
	var m Meta
	if len(b) < 1 {
		return m, fmt.Errorf("%w: empty partition metadata", ErrCorrupt)
	}
	if b[0] < metaV1 || b[0] > metaV5 {
		return m, fmt.Errorf("%w: partition metadata version %d, this build reads versions %d to %d", ErrNewerFormat, b[0], metaV1, metaV5)
	}
	d := decoder{b: b[1:]}
	m.StreamTime = d.varint()
	m.Partitions = int32(d.uvarint())
	m.OutboxNext = d.uvarint()
	for i := range m.Stages {
		m.Stages[i] = d.varint()
	}
	for i := range m.Segments {
		m.Segments[i] = d.varint()
	}
	if m.Population = d.bytes(); len(m.Population) == 0 {
		m.Population = nil
	}
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)) {
		return m, fmt.Errorf("%w: partition metadata lists %d topics", ErrCorrupt, n)
	}
	m.Offsets = make(map[string]int64, n)
	for i := uint64(0); i < n && d.err == nil; i++ {
		t := d.string()
		m.Offsets[t] = d.varint()
	}
	if b[0] >= metaV2 {
		m.Commits = d.uvarint()
	}
	if b[0] >= metaV3 {
		m.Rules = d.string()
	}
	if b[0] >= metaV4 {
		if m.Outcomes = d.bytes(); len(m.Outcomes) == 0 {
			m.Outcomes = nil
		}
	}
	if b[0] >= metaV5 {
		m.Epoch = d.uvarint()
	}
	if d.err != nil || len(d.b) != 0 {
		return m, fmt.Errorf("%w: partition metadata does not decode", ErrCorrupt)
	}
	return m, nil
}

// AppendOutput appends the stored form of an outbox record to dst.
func AppendOutput(dst []byte, o Output) []byte {
	dst = append(dst, outboxV1)
	dst = appendString(dst, o.Topic)
	dst = appendBytes(dst, o.Key)
	dst = appendBytes(dst, o.Value)
	dst = binary.AppendUvarint(dst, uint64(len(o.Headers)))
	for _, h := range o.Headers {
		dst = appendString(dst, h.Key)
		dst = appendBytes(dst, h.Value)
	}
	return dst
}

// DecodeOutput parses the stored form of an outbox record.
func DecodeOutput(b []byte) (Output, error) {
	var o Output
	if len(b) < 1 || b[0] != outboxV1 {
		return o, fmt.Errorf("%w: outbox record version is not %d", ErrNewerFormat, outboxV1)
	}
	d := decoder{b: b[1:]}
	o.Topic = d.string()
	o.Key = d.bytes()
	o.Value = d.bytes()
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)) {
		return o, fmt.Errorf("%w: outbox record lists %d headers", ErrCorrupt, n)
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		o.Headers = append(o.Headers, Header{Key: d.string(), Value: d.bytes()})
	}
	if d.err != nil || len(d.b) != 0 {
		return o, fmt.Errorf("%w: outbox record does not decode", ErrCorrupt)
	}
	return o, nil
}

func appendString(dst []byte, s string) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(s))), s...)
}

func appendBytes(dst, b []byte) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(b))), b...)
}

// decoder reads the fields of a record and remembers the first error, so
// decoding code reads as a list of fields.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() { d.err, d.b = ErrCorrupt, nil }

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) fixed64() uint64 {
	if len(d.b) < 8 {
		d.fail()
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	v := append([]byte(nil), d.b[:n]...)
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string { return string(d.bytes()) }
