package simulate

import (
	"container/heap"
	"context"
	"math/rand/v2"
	"strconv"
	"time"
)

// Record is one Kafka record of the simulated stream.
//
// Key and Value are never modified after emission and may be retained by
// emit; Key may be shared between records of the same user, and a duplicate
// shares its Value with the original, so callers must not modify them.
type Record struct {
	Topic string
	Key   []byte // user_id; for a "key_mismatch" record another user's id
	Value []byte // one JSON object (for "malformed_json" a truncated one)
	Time  int64  // stream position: Unix ms at which the record is sent; non-decreasing across emit calls
	Bad   string // "" for a valid record, else one of BadKinds
	Dup   bool   // an exact re-send of an earlier valid record
	Late  bool   // delivered late: Time is hours to days after the event's ts
}

// The defect kinds of bad records, produced in this rotation.
const (
	BadMalformedJSON = "malformed_json" // truncated JSON
	BadMissingField  = "missing_field"  // no user_id, or no event_id (alternating)
	BadTimestamp     = "bad_timestamp"  // ts is "yesterday" / not a time
	BadAmount        = "bad_amount"     // purchase with a negative or non-numeric amount
	BadUnknownType   = "unknown_type"   // type "refund"
	BadCurrency      = "wrong_currency" // purchase in another currency
	BadKeyMismatch   = "key_mismatch"   // record key is another user's id
)

// BadKinds lists every defect kind in the order of rotation.
var BadKinds = []string{BadMalformedJSON, BadMissingField, BadTimestamp, BadAmount, BadUnknownType, BadCurrency, BadKeyMismatch}

// LongGap is the gap between two logins after which Truth counts a return.
const LongGap = 30 * 24 * time.Hour

// Truth is what really happened to one user.
type Truth struct {
	UserID    string
	Arrival   time.Time // ts of the user's first login
	DropoutAt time.Time // when the user left for good; zero if not within the period
	LastEvent time.Time // ts of the user's last valid event (≤ DropoutAt)
	Visits    int       // logins
	Purchases int
	Contents  int
	Spent     int64 // sum of purchase amounts in cents
	LongGaps  int   // gaps longer than LongGap between consecutive logins (returns after a lapse)

	// The user's hidden traits, which only an oracle may use: the mean
	// visit rate per day and the Weibull scale of the lifetime in days.
	Rate, LifetimeScale float64
}

// Delivery delays.
const (
	dupDelayMinMs  = 1_000
	dupDelayMaxMs  = 10 * msPerMinute
	lateDelayMinMs = msPerHour
	lateDelayMean  = 12 * msPerHour
	lateDelayMaxMs = 4 * msPerDay
	badJitterMs    = msPerMinute
)

// Run generates the population described by cfg and calls emit for every
// record in non-decreasing Record.Time order, stopping at the first error of
// emit or when ctx is done. It returns the truth about every user, ordered by
// user id.
//
// Memory is O(Users) plus the records in flight in the delay queue (late,
// duplicate and bad records not yet due), which is O(rate × delay ×
// throughput), not O(events).
func Run(ctx context.Context, cfg Config, emit func(Record) error) ([]Truth, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	s := newSim(cfg)
	if err := s.run(ctx, emit); err != nil {
		return nil, err
	}
	return s.truth(), nil
}

type sim struct {
	cfg        Config
	start, end int64
	users      []user
	keys       [][]byte
	uh         userHeap
	dq         delayQueue
	dr         *rand.Rand // delivery: late, duplicate and bad records
	topics     [3]string
	otherCur   string
	nBad       int
	scratch    []byte
	slab       []byte
}

const slabSize = 32 << 10

func newSim(cfg Config) *sim {
	s := &sim{
		cfg:    cfg,
		start:  cfg.Start.UnixMilli(),
		users:  make([]user, cfg.Users),
		keys:   make([][]byte, cfg.Users),
		dr:     rand.New(rand.NewPCG(uint64(cfg.Seed), splitmix64(0))),
		topics: [3]string{evLogin: cfg.Topics.Login, evPurchase: cfg.Topics.Purchase, evContent: cfg.Topics.Content},
	}
	s.end = s.start + int64(cfg.Days)*msPerDay
	s.otherCur = "EUR"
	if cfg.Currency == "EUR" {
		s.otherCur = "GBP"
	}
	keyBuf := make([]byte, 0, cfg.Users*9)
	s.uh.items = make([]heapItem, 0, cfg.Users)
	for i := range s.users {
		u := &s.users[i]
		newUser(u, cfg.Seed, i+1, s.start, s.end)
		k := len(keyBuf)
		keyBuf = appendUserID(keyBuf, i+1)
		s.keys[i] = keyBuf[k:len(keyBuf):len(keyBuf)]
		u.key = s.keys[i]
		if u.n > 0 {
			s.uh.items = append(s.uh.items, heapItem{u.pending[0].ts, int32(i)})
		}
	}
	heap.Init(&s.uh)
	return s
}

func (s *sim) run(ctx context.Context, emit func(Record) error) error {
	cfg := &s.cfg
	for iter := 0; ; iter++ {
		if iter&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if len(s.uh.items) == 0 {
			if len(s.dq.items) == 0 {
				return nil
			}
			if err := emit(s.dq.pop()); err != nil {
				return err
			}
			continue
		}
		top := s.uh.items[0]
		if len(s.dq.items) > 0 && s.dq.items[0].Time <= top.ts {
			if err := emit(s.dq.pop()); err != nil {
				return err
			}
			continue
		}
		ui := top.idx
		u := &s.users[ui]
		e := u.pending[u.head]
		u.head++
		u.seq++
		s.scratch = appendEvent(s.scratch[:0], u.idx, u.seq, e, epochTs(cfg.Seed, u.idx, u.seq), cfg.Currency)
		rec := Record{
			Topic: s.topics[e.typ],
			Key:   u.key,
			Value: s.value(s.scratch),
			Time:  e.ts,
		}
		if cfg.LateRate > 0 && s.dr.Float64() < cfg.LateRate {
			rec.Late = true
			d := lateDelayMinMs + int64(s.dr.ExpFloat64()*lateDelayMean)
			rec.Time += min(d, lateDelayMaxMs)
			s.dq.push(rec)
		} else if err := emit(rec); err != nil {
			return err
		}
		if cfg.DupRate > 0 && s.dr.Float64() < cfg.DupRate {
			d := rec
			d.Dup = true
			d.Time += dupDelayMinMs + s.dr.Int64N(dupDelayMaxMs-dupDelayMinMs)
			s.dq.push(d)
		}
		if cfg.BadRate > 0 && s.dr.Float64() < cfg.BadRate {
			s.dq.push(s.bad(u, e))
		}
		if u.head == u.n && !u.next() {
			heap.Pop(&s.uh)
		} else {
			s.uh.items[0].ts = u.pending[u.head].ts
			heap.Fix(&s.uh, 0)
		}
	}
}

// value copies b into the current slab (one allocation per slabSize bytes
// instead of one per record) and returns the copy, its capacity capped so
// that appending to it cannot overwrite its neighbours.
func (s *sim) value(b []byte) []byte {
	if cap(s.slab)-len(s.slab) < len(b) {
		s.slab = make([]byte, 0, max(slabSize, len(b)))
	}
	i := len(s.slab)
	s.slab = append(s.slab, b...)
	return s.slab[i:len(s.slab):len(s.slab)]
}

// bad builds the next defective record in the rotation, modelled on the
// valid event e of user u.
func (s *sim) bad(u *user, e event) Record {
	kind := BadKinds[s.nBad%len(BadKinds)]
	variant := s.nBad / len(BadKinds) % 2
	s.nBad++
	typ := e.typ
	switch kind {
	case BadAmount, BadUnknownType, BadCurrency:
		typ = evPurchase
	}
	cents := e.cents
	if e.typ != evPurchase {
		cents = 100 + s.dr.Int64N(9900)
	}
	key := s.keys[u.idx-1]
	b := make([]byte, 0, 160)
	b = append(b, '{')
	if !(kind == BadMissingField && variant == 1) {
		b = append(b, `"event_id":"e-bad-`...)
		b = strconv.AppendInt(b, int64(s.nBad), 10)
		b = append(b, `",`...)
	}
	if !(kind == BadMissingField && variant == 0) {
		b = append(b, `"user_id":"`...)
		b = appendUserID(b, u.idx)
		b = append(b, `",`...)
	}
	b = append(b, `"type":"`...)
	if kind == BadUnknownType {
		b = append(b, "refund"...)
	} else {
		b = append(b, typeNames[typ]...)
	}
	b = append(b, `","ts":`...)
	if kind == BadTimestamp {
		if variant == 0 {
			b = append(b, `"yesterday"`...)
		} else {
			b = append(b, `"2026-02-30T25:61:00Z"`...)
		}
	} else {
		b = appendTs(b, e.ts, false)
	}
	switch {
	case typ == evPurchase || kind == BadUnknownType:
		b = append(b, `,"amount":"`...)
		if kind == BadAmount {
			if variant == 0 {
				b = appendCents(b, -cents)
			} else {
				b = append(b, "12,50 dollars"...)
			}
		} else {
			b = appendCents(b, cents)
		}
		b = append(b, `","currency":"`...)
		if kind == BadCurrency {
			b = append(b, s.otherCur...)
		} else {
			b = append(b, s.cfg.Currency...)
		}
		b = append(b, '"')
	case typ == evContent:
		b = append(b, `,"kind":"`...)
		b = append(b, contentKinds[e.kind]...)
		b = append(b, '"')
	}
	b = append(b, '}')
	switch kind {
	case BadMalformedJSON:
		b = b[:len(b)/2]
	case BadKeyMismatch:
		other := u.idx%s.cfg.Users + 1
		if other == u.idx {
			key = []byte("u-000000")
		} else {
			key = s.keys[other-1]
		}
	}
	return Record{
		Topic: s.topics[typ],
		Key:   key,
		Value: b,
		Time:  e.ts + s.dr.Int64N(badJitterMs),
		Bad:   kind,
	}
}

func (s *sim) truth() []Truth {
	out := make([]Truth, len(s.users))
	for i := range s.users {
		u := &s.users[i]
		t := Truth{
			UserID:        string(s.keys[i]),
			Arrival:       time.UnixMilli(u.arrival).UTC(),
			LastEvent:     time.UnixMilli(u.lastTime).UTC(),
			Visits:        u.visits,
			Purchases:     u.purchases,
			Contents:      u.contents,
			Spent:         u.spent,
			LongGaps:      u.longGaps,
			Rate:          u.rate,
			LifetimeScale: u.scale,
		}
		if u.dropout < s.end {
			t.DropoutAt = time.UnixMilli(u.dropout).UTC()
		}
		out[i] = t
	}
	return out
}

// userHeap is a min-heap (container/heap) of users keyed by (next event ts,
// index). The key is copied into the heap so that sifting does not touch the
// user structs.
type userHeap struct {
	items []heapItem
}

type heapItem struct {
	ts  int64
	idx int32
}

func (h *userHeap) Len() int { return len(h.items) }
func (h *userHeap) Less(i, j int) bool {
	a, b := h.items[i], h.items[j]
	return a.ts < b.ts || a.ts == b.ts && a.idx < b.idx
}
func (h *userHeap) Swap(i, j int) { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *userHeap) Push(x any)    { h.items = append(h.items, x.(heapItem)) }
func (h *userHeap) Pop() any {
	n := len(h.items) - 1
	x := h.items[n]
	h.items = h.items[:n]
	return x
}

// delayQueue is a min-heap (container/heap) of records not yet due, keyed by
// (Time, order of push).
type delayQueue struct {
	items []delayed
	n     uint64
}

type delayed struct {
	Record
	order uint64
}

func (q *delayQueue) Len() int { return len(q.items) }
func (q *delayQueue) Less(i, j int) bool {
	a, b := &q.items[i], &q.items[j]
	return a.Time < b.Time || a.Time == b.Time && a.order < b.order
}
func (q *delayQueue) Swap(i, j int) { q.items[i], q.items[j] = q.items[j], q.items[i] }
func (q *delayQueue) Push(x any)    { q.items = append(q.items, x.(delayed)) }
func (q *delayQueue) Pop() any {
	n := len(q.items) - 1
	x := q.items[n]
	q.items[n] = delayed{}
	q.items = q.items[:n]
	return x
}

func (q *delayQueue) push(r Record) {
	heap.Push(q, delayed{r, q.n})
	q.n++
}

func (q *delayQueue) pop() Record { return heap.Pop(q).(delayed).Record }
