package schemas

// Output kinds of the warning and segment topics (the kind argument of OutputID).
const (
	KindWarning = "warning"
	KindSegment = "segment"
)

// Schema names of the warning and segment records (values of HeaderSchema).
const (
	SchemaWarningV1 = "churn-warning.v1"
	SchemaSegmentV1 = "segment.v1"
)

// Schema files of the warning and segment records in Files.
const (
	WarningSchemaFile = "churn-warning.v1.schema.json"
	SegmentSchemaFile = "segment.v1.schema.json"
)

// Warning is one churn warning, the value of a record on
// lifecycle.churn-warnings (schema churn-warning.v1); key = UserID.
type Warning struct {
	ID             string          `json:"id"`
	UserID         string          `json:"user_id"`
	Level          string          `json:"level"` // watch, at_risk, critical, or recovered
	Score          float64         `json:"score"` // 0..1: the probability that the user has left (warnings.Warning.Score; 0 for recovered)
	Reasons        []WarningReason `json:"reasons"`
	Stage          string          `json:"stage"`
	Segment        *SegmentScore   `json:"segment"` // null before the user's first RFM score
	At             string          `json:"at"`      // FormatTime of the due time or the event's time
	TriggerEventID string          `json:"trigger_event_id,omitempty"`
	// ChurnAt is when the stage model declares the churn if the silence
	// goes on: ChurnAt − At is the time left to act. Absent on recovered.
	ChurnAt string `json:"churn_at,omitempty"`
	RFM     RFM    `json:"rfm"`
	Rules   *Rules `json:"rules,omitempty"` // with a rules file
}

// WarningReason says why a warning was raised, with its numbers.
type WarningReason struct {
	Code      string  `json:"code"` // inactive, valuable_quiet, low_p_alive (falling_* are retired: only in older records)
	Detail    string  `json:"detail"`
	Value     float64 `json:"value"`
	Threshold float64 `json:"threshold"`
}

// SegmentScore is an RFM score: the 125-cell code and the named segment.
type SegmentScore struct {
	Code    string `json:"code"`    // "R5F3M4"
	Segment string `json:"segment"` // "important value", …
}

// SegmentChange is a user's move between RFM segments, the value of a record
// on lifecycle.segments (schema segment.v1); key = UserID.
type SegmentChange struct {
	ID             string        `json:"id"`
	UserID         string        `json:"user_id"`
	From           *SegmentScore `json:"from"` // null for the user's first segment
	To             SegmentScore  `json:"to"`
	At             string        `json:"at"`
	Reason         string        `json:"reason"` // "purchase", "population rebuilt", …
	TriggerEventID string        `json:"trigger_event_id,omitempty"`
	RFM            RFM           `json:"rfm"`
	Rules          *Rules        `json:"rules,omitempty"` // with a rules file
}
