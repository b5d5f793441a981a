package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/lifecycle-engine/lifecycle/processor/rules"
	"github.com/lifecycle-engine/lifecycle/processor/segments"
	"github.com/lifecycle-engine/lifecycle/schemas"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

// transitionOutput builds the lifecycle.transitions record of tr. Its id is
// a hash of what makes the transition unique, so a re-derived transition
// (after a crash or a replay) carries the same id as the first one.
func transitionOutput(topic, userID string, tr rules.Transition, pred *schemas.Prediction, stamp *schemas.Rules) (record.Output, error) {
	id := schemas.OutputID(userID, schemas.KindTransition, schemas.TransitionTarget(tr.From.String(), tr.To.String()), tr.At, tr.Trigger)
	t := schemas.Transition{
		ID:             id,
		UserID:         userID,
		From:           tr.From.String(),
		To:             tr.To.String(),
		At:             schemas.FormatTime(tr.At),
		Reason:         tr.Reason,
		TriggerEventID: tr.Trigger,
		Returned:       tr.Returned,
		RFM: schemas.RFM{
			Frequency: tr.Purchases,
			Monetary:  tr.Spend.String(),
		},
		Prediction: pred,
		Rules:      stamp,
	}
	if tr.Purchases > 0 {
		days := float64(tr.At-tr.LastPurchase) / float64(rules.Day)
		t.RFM.RecencyDays = &days
	}
	v, err := json.Marshal(t)
	if err != nil {
		return record.Output{}, err
	}
	return record.Output{
		Topic: topic,
		Key:   []byte(userID),
		Value: v,
		Headers: []record.Header{
			{Key: schemas.HeaderID, Value: []byte(id)},
			{Key: schemas.HeaderSchema, Value: []byte(schemas.SchemaTransitionV1)},
		},
	}, nil
}

// dlqOutput builds the dead-letter record of a rejected input record: its
// original key and bytes, and why and where it was rejected. A record too
// large to copy whole within maxBytes (the dead-letter topic's
// max.message.bytes) is cut, with its size and hash in headers
// (schemas/dlq.md), so that the copy can always be written.
func dlqOutput(topic string, in *Input, inputTopic string, maxBytes int) record.Output {
	code, reason := "invalid", schemas.TruncateReason(in.Err.Error())
	var rej *schemas.RejectError
	if errors.As(in.Err, &rej) {
		code = string(rej.Reason)
	}
	o := record.Output{
		Topic: topic,
		Headers: []record.Header{
			{Key: schemas.HeaderDLQReason, Value: []byte(reason)},
			{Key: schemas.HeaderDLQCode, Value: []byte(code)},
			{Key: schemas.HeaderDLQTopic, Value: []byte(inputTopic)},
			{Key: schemas.HeaderDLQPartition, Value: strconv.AppendInt(nil, int64(in.Partition), 10)},
			{Key: schemas.HeaderDLQOffset, Value: strconv.AppendInt(nil, in.Offset, 10)},
		},
	}
	if !in.Time.IsZero() { // a record from an archive (lifecycle replay) has no Kafka timestamp
		o.Headers = append(o.Headers, record.Header{Key: schemas.HeaderDLQTimestamp, Value: strconv.AppendInt(nil, in.Time.UnixMilli(), 10)})
	}
	o.Key, o.Value = fitCopy(&o, in.Key, in.Value, maxBytes)
	return o
}

// copyHeadroom is what a dead letter's headers and Kafka's per-record
// overhead may take besides its key and value.
const copyHeadroom = 4 << 10

// fitCopy returns key and value unchanged when they fit in maxBytes with
// o's headers; otherwise the value cut to fit (and a key longer than 1 KiB
// cut to 1 KiB), and headers on o with the original sizes and the value's
// SHA-256, so that the original can be found and checked.
func fitCopy(o *record.Output, key, value []byte, maxBytes int) ([]byte, []byte) {
	room := maxBytes - copyHeadroom
	if len(key)+len(value) <= room {
		return key, value
	}
	sum := sha256.Sum256(value)
	o.Headers = append(o.Headers,
		record.Header{Key: schemas.HeaderDLQOriginalSize, Value: strconv.AppendInt(nil, int64(len(value)), 10)},
		record.Header{Key: schemas.HeaderDLQSHA256, Value: []byte(hex.EncodeToString(sum[:]))})
	if len(key) > 1<<10 {
		o.Headers = append(o.Headers, record.Header{Key: schemas.HeaderDLQOriginalKeySize, Value: strconv.AppendInt(nil, int64(len(key)), 10)})
		key = key[:1<<10]
	}
	return key, value[:max(0, min(len(value), room-len(key)))]
}

// warningOutput builds the lifecycle.churn-warnings record of w. Its id
// hashes the level and reason codes with the time and trigger, so a
// re-derived warning carries the same id.
func warningOutput(topic, userID string, w stagedWarning, seg segments.Score, stamp *schemas.Rules) (record.Output, error) {
	level := w.Level.String()
	id := schemas.OutputID(userID, schemas.KindWarning, level+":"+w.Codes(), w.At, w.Trigger)
	out := schemas.Warning{
		ID: id, UserID: userID, Level: level, Score: round6(w.Score), Reasons: make([]schemas.WarningReason, len(w.Reasons)),
		Stage: w.Stage.String(), Segment: segmentScore(seg), At: schemas.FormatTime(w.At), TriggerEventID: w.Trigger,
		RFM: rfmAt(w.Purchases, w.Spend, w.LastPurchase, w.At), Rules: stamp,
	}
	if w.ChurnAt != 0 {
		out.ChurnAt = schemas.FormatTime(w.ChurnAt)
	}
	for i, r := range w.Reasons {
		out.Reasons[i] = schemas.WarningReason{Code: r.Code, Detail: r.Detail, Value: round6(r.Value), Threshold: round6(r.Threshold)}
	}
	return jsonOutput(topic, userID, id, schemas.SchemaWarningV1, out)
}

// segmentOutput builds the lifecycle.segments record of a move from prev to s.
func segmentOutput(topic, userID string, prev, s segments.Score, c change, u *rules.User, stamp *schemas.Rules) (record.Output, error) {
	to := segmentScore(s)
	id := schemas.OutputID(userID, schemas.KindSegment, s.Segment.String(), c.now, c.trigger)
	out := schemas.SegmentChange{
		ID: id, UserID: userID, From: segmentScore(prev), To: *to, At: schemas.FormatTime(c.now),
		Reason: c.reason, TriggerEventID: c.trigger, RFM: rfmAt(u.Purchases, u.Spend, u.LastPurchase, c.now),
		Rules: stamp,
	}
	return jsonOutput(topic, userID, id, schemas.SchemaSegmentV1, out)
}

func segmentScore(s segments.Score) *schemas.SegmentScore {
	if s.IsNone() {
		return nil
	}
	return &schemas.SegmentScore{Code: s.Code(), Segment: s.Segment.String()}
}

// rfmAt is the RFM block of a user at time at.
func rfmAt(purchases int64, spend schemas.Micros, lastPurchase, at int64) schemas.RFM {
	r := schemas.RFM{Frequency: purchases, Monetary: spend.String()}
	if purchases > 0 {
		days := round6(float64(at-lastPurchase) / float64(rules.Day))
		r.RecencyDays = &days
	}
	return r
}

func jsonOutput(topic, key, id, schema string, v any) (record.Output, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return record.Output{}, err
	}
	return record.Output{Topic: topic, Key: []byte(key), Value: b, Headers: []record.Header{
		{Key: schemas.HeaderID, Value: []byte(id)},
		{Key: schemas.HeaderSchema, Value: []byte(schema)},
	}}, nil
}
