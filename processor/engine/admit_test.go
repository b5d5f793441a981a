package engine

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/lifecycle-engine/lifecycle/schemas"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

// TestAdmitTime: an event more than the skew ahead of its record's Kafka
// timestamp is dead-lettered as future_timestamp; the wall clock stands in
// only where it is earlier; a negative skew turns the check off.
func TestAdmitTime(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	kts := now.Add(-48 * time.Hour) // the record was produced two days ago
	y9999 := time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).UnixMilli()
	for _, tc := range []struct {
		name   string
		ts     int64
		kafka  time.Time
		skew   time.Duration
		reject bool
	}{
		{"year 9999", y9999, kts, time.Hour, true},
		{"within the skew of the record", kts.Add(59 * time.Minute).UnixMilli(), kts, time.Hour, false},
		{"past the skew of the record, before the wall clock", kts.Add(2 * time.Hour).UnixMilli(), kts, time.Hour, true},
		{"history, as a backfill sends it", kts.Add(-300 * 24 * time.Hour).UnixMilli(), kts, time.Hour, false},
		{"no Kafka timestamp: the wall clock", now.Add(30 * time.Minute).UnixMilli(), time.Time{}, time.Hour, false},
		{"no Kafka timestamp, far ahead", now.Add(3 * time.Hour).UnixMilli(), time.Time{}, time.Hour, true},
		{"record stamped in the future: the wall clock", now.Add(3 * time.Hour).UnixMilli(), now.Add(5 * time.Hour), time.Hour, true},
		{"check off", y9999, kts, -1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			it := &Input{Time: tc.kafka, Event: schemas.Event{Time: tc.ts}}
			admitTime(it, tc.skew, now)
			var rej *schemas.RejectError
			switch {
			case tc.reject && (!errors.As(it.Err, &rej) || rej.Reason != schemas.ReasonFutureTimestamp):
				t.Fatalf("err = %v, want %s", it.Err, schemas.ReasonFutureTimestamp)
			case !tc.reject && it.Err != nil:
				t.Fatalf("err = %v, want the event admitted", it.Err)
			}
		})
	}
	// A record rejected already keeps its reason.
	first := errors.New("bad json")
	it := &Input{Err: first, Event: schemas.Event{Time: y9999}}
	admitTime(it, time.Hour, now)
	if it.Err != first {
		t.Errorf("a rejected record's error was replaced by %v", it.Err)
	}
}

// TestDeadLetterFits: the copy of a record too large for the dead-letter
// topic is cut to fit it, with the original size and hash in headers; a
// record that fits is copied whole, without them.
func TestDeadLetterFits(t *testing.T) {
	const limit = 1 << 20
	for _, tc := range []struct {
		name       string
		key, value []byte
		cut        bool
	}{
		{"small", []byte("u"), []byte(`{"x":1}`), false},
		{"just over the limit", []byte("u"), bytes.Repeat([]byte("a"), limit-100), true},
		{"10 MB", []byte("u"), bytes.Repeat([]byte("b"), 10<<20), true},
		{"huge key too", bytes.Repeat([]byte("k"), 600<<10), bytes.Repeat([]byte("c"), 600<<10), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			it := &Input{Key: tc.key, Value: tc.value, Partition: 2, Offset: 7,
				Err: &schemas.RejectError{Reason: schemas.ReasonTooLarge, Detail: "too large"}}
			o := dlqOutput("dlq", it, "events.login", limit)
			size := len(o.Key) + len(o.Value)
			for _, h := range o.Headers {
				size += len(h.Key) + len(h.Value)
			}
			if size > limit {
				t.Fatalf("dead letter of %d bytes for a topic that takes %d", size, limit)
			}
			got := headerOf(o, schemas.HeaderDLQOriginalSize)
			if !tc.cut {
				if got != "" || !bytes.Equal(o.Value, tc.value) || !bytes.Equal(o.Key, tc.key) {
					t.Fatalf("a record that fits was changed (original size header %q)", got)
				}
				return
			}
			sum := sha256.Sum256(tc.value)
			if got != strconv.Itoa(len(tc.value)) || headerOf(o, schemas.HeaderDLQSHA256) != hex.EncodeToString(sum[:]) {
				t.Errorf("headers: size %q, hash %q; want %d and the value's SHA-256", got, headerOf(o, schemas.HeaderDLQSHA256), len(tc.value))
			}
			if !bytes.HasPrefix(tc.value, o.Value) || !bytes.HasPrefix(tc.key, o.Key) || len(o.Value) == 0 {
				t.Errorf("the cut copy is not a prefix of the original")
			}
		})
	}
}

func headerOf(o record.Output, key string) string {
	for _, h := range o.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
