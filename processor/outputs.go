package processor

import (
	"encoding/json"
	"errors"
	"strconv"

	"github.com/lifecycle-engine/lifecycle/processor/rules"
	"github.com/lifecycle-engine/lifecycle/schemas"
	"github.com/lifecycle-engine/lifecycle/state"
)

// transitionOutput builds the lifecycle.transitions record of tr. Its id is
// a hash of what makes the transition unique, so a re-derived transition
// (after a crash or a replay) carries the same id as the first one.
func transitionOutput(topic, userID string, tr rules.Transition, pred *schemas.Prediction) (state.Output, error) {
	id := schemas.OutputID(userID, schemas.KindTransition, tr.To.String(), tr.At, tr.Trigger)
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
	}
	if tr.Purchases > 0 {
		days := float64(tr.At-tr.LastPurchase) / float64(rules.Day)
		t.RFM.RecencyDays = &days
	}
	v, err := json.Marshal(t)
	if err != nil {
		return state.Output{}, err
	}
	return state.Output{
		Topic: topic,
		Key:   []byte(userID),
		Value: v,
		Headers: []state.Header{
			{Key: schemas.HeaderID, Value: []byte(id)},
			{Key: schemas.HeaderSchema, Value: []byte(schemas.SchemaTransitionV1)},
		},
	}, nil
}

// dlqOutput builds the dead-letter record of a rejected input record: its
// original key and bytes, and why and where it was rejected.
func dlqOutput(topic string, it *item, inputTopic string) state.Output {
	code, reason := "invalid", it.err.Error()
	var rej *schemas.RejectError
	if errors.As(it.err, &rej) {
		code = string(rej.Reason)
	}
	return state.Output{
		Topic: topic,
		Key:   it.msg.Key,
		Value: it.msg.Value,
		Headers: []state.Header{
			{Key: schemas.HeaderDLQReason, Value: []byte(reason)},
			{Key: schemas.HeaderDLQCode, Value: []byte(code)},
			{Key: schemas.HeaderDLQTopic, Value: []byte(inputTopic)},
			{Key: schemas.HeaderDLQPartition, Value: strconv.AppendInt(nil, int64(it.msg.Partition), 10)},
			{Key: schemas.HeaderDLQOffset, Value: strconv.AppendInt(nil, it.msg.Offset, 10)},
			{Key: schemas.HeaderDLQTimestamp, Value: strconv.AppendInt(nil, it.msg.Time.UnixMilli(), 10)},
		},
	}
}
