package schemas

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"time"
)

// Transition is one lifecycle transition, the value of a record on the
// transitions topic (schema transition.v1, file transition.v1.schema.json).
// The record key is UserID; the record carries the headers HeaderID (= ID)
// and HeaderSchema (= SchemaTransitionV1).
type Transition struct {
	ID             string `json:"id"`                         // deterministic, see OutputID
	UserID         string `json:"user_id"`                    // also the record key
	From           string `json:"from"`                       // none|new|growing|mature|silent|churned
	To             string `json:"to"`                         // new|growing|mature|silent|churned
	At             string `json:"at"`                         // FormatTime of the event time or due time
	Reason         string `json:"reason"`                     // human-readable, e.g. "first purchase"
	TriggerEventID string `json:"trigger_event_id,omitempty"` // absent for timer-driven transitions
	Returned       bool   `json:"returned"`                   // true when a churned user came back
	RFM            RFM    `json:"rfm"`

	// Prediction is present when the processor runs with a fitted model
	// (lifecycle run --model).
	Prediction *Prediction `json:"prediction,omitempty"`

	// Rules is present when the processor runs with a rules file.
	Rules *Rules `json:"rules,omitempty"`
}

// Prediction is the BG/NBD and Gamma-Gamma view of a user at a moment.
type Prediction struct {
	Model             string   `json:"model"`              // the model file's id (sha256 prefix)
	Period            string   `json:"period"`             // "day" or "week": the unit of the horizons
	PAlive            float64  `json:"p_alive"`            // probability the user has not dropped out
	ExpectedPurchases float64  `json:"expected_purchases"` // repeat purchases expected in the next HorizonPeriods
	HorizonPeriods    int      `json:"horizon_periods"`
	ExpectedValue     *float64 `json:"expected_value"` // expected value per future purchase; null if unknown
	CLV               *float64 `json:"clv"`            // discounted expected value over CLVHorizonPeriods; null if unknown
	CLVHorizonPeriods int      `json:"clv_horizon_periods"`
}

// RFM is the user's recency, frequency and monetary value at a transition's At.
type RFM struct {
	RecencyDays *float64 `json:"recency_days"` // days from the last purchase to At; null if never purchased
	Frequency   int64    `json:"frequency"`    // purchases so far
	Monetary    string   `json:"monetary"`     // total spend, Micros.String ("19.99")
}

// TransitionTarget is the target argument of OutputID for a transition:
// both stages, because a user can enter the same stage at the same moment
// from two different ones (a late event and a timer can line up).
func TransitionTarget(from, to string) string { return from + ">" + to }

// Output kinds: the kind argument of OutputID for each output topic.
const (
	KindTransition = "transition"
)

// FormatTime formats Unix milliseconds as RFC 3339 in UTC with exactly three
// fraction digits, the form of every timestamp this service writes:
// FormatTime(0) == "1970-01-01T00:00:00.000Z".
func FormatTime(ms int64) string {
	var buf [32]byte
	return string(AppendTime(buf[:0], ms))
}

// AppendTime appends FormatTime(ms) to b.
func AppendTime(b []byte, ms int64) []byte {
	return time.UnixMilli(ms).UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
}

// OutputID returns the deterministic id of an output: 32 lower-case hex
// digits, the first 16 bytes of a SHA-256 over the arguments.
//
//   - userID: the user the output is about;
//   - kind: what the output is (KindTransition, …);
//   - target: what it announces (for a transition, the stage entered);
//   - at: its time in Unix milliseconds (the event time, or a timer's due time);
//   - trigger: the event_id that caused it, or "" for a timer.
//
// Equal arguments always give equal ids, on any machine and in any run: the id
// depends on nothing else (no clock, no counter, no randomness). That is what
// lets a replay or a retry after a crash re-emit an output with the id it had,
// so consumers can drop duplicates by id.
//
// Each string is hashed as its length (8 bytes, big-endian) followed by its
// bytes, and at as 8 bytes big-endian two's complement, in argument order.
// The length prefixes make the encoding injective: without them ("ab", "c")
// and ("a", "bc") would hash the same bytes and so get the same id. Changing
// this encoding changes every id; do it only with a new output schema.
func OutputID(userID, kind, target string, at int64, trigger string) string {
	var stack [256]byte
	b := stack[:0]
	b = appendField(b, userID)
	b = appendField(b, kind)
	b = appendField(b, target)
	b = binary.BigEndian.AppendUint64(b, uint64(at))
	b = appendField(b, trigger)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

func appendField(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(len(s)))
	return append(b, s...)
}
