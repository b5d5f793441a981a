package schemas

// EventType says what a user did. The zero value is invalid.
type EventType uint8

// The three kinds of behaviour the product understands (domain.md, Events).
const (
	Login EventType = iota + 1
	Purchase
	Content
)

// String returns the wire name of the type ("login", "purchase", "content").
func (t EventType) String() string {
	switch t {
	case Login:
		return "login"
	case Purchase:
		return "purchase"
	case Content:
		return "content"
	}
	return "invalid"
}

// ParseEventType maps a wire name to its EventType; ok is false for an unknown name.
func ParseEventType(s string) (t EventType, ok bool) {
	switch s {
	case "login":
		return Login, true
	case "purchase":
		return Purchase, true
	case "content":
		return Content, true
	}
	return 0, false
}

// Event is one decoded, validated input record (schema event.v1).
type Event struct {
	ID     string    // event_id: unique per event; re-sends keep it
	UserID string    // user_id: also the record key
	Type   EventType // type
	Time   int64     // ts: when it happened, Unix milliseconds (UTC)
	Amount Micros    // amount of a purchase in the deployment's currency; 0 otherwise
	Kind   string    // kind of a content event ("post", "answer", …); may be empty
	// Original is a purchase in another currency as it was sent, with the
	// rate it was converted at (DecoderConfig.Rates); zero for a purchase
	// in the accounting currency and for other events.
	Original Original
}
