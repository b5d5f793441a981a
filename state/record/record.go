package record

import (
	"bytes"
	"errors"

	"github.com/lifecycle-engine/lifecycle/processor/retention"
	"github.com/lifecycle-engine/lifecycle/processor/rules"
	"github.com/lifecycle-engine/lifecycle/processor/segments"
	"github.com/lifecycle-engine/lifecycle/processor/warnings"
	"github.com/lifecycle-engine/lifecycle/schemas"
)

// Errors of the package; match them with errors.Is.
var (
	ErrNewerFormat = errors.New("state: written by a newer version of lifecycle")
	ErrCorrupt     = errors.New("state: corrupt record")
)

// Meta is one partition's progress.
type Meta struct {
	StreamTime int64            // largest event time seen (Unix ms)
	Partitions int32            // input partition count the keys were made for
	OutboxNext uint64           // sequence number of the next outbox record
	Stages     [6]int64         // users per stage, indexed by rules.Stage
	Segments   [9]int64         // users per RFM segment, indexed by segments.Segment (0: none yet)
	Population []byte           // the RFM cuts in effect (JSON of segments.Cuts); nil before the first rebuild
	Offsets    map[string]int64 // next input offset to read, per input topic
	// Commits counts the partition's commits. It orders states that input
	// offsets cannot: batches of timers or of an RFM rebuild apply no
	// input. A local state with fewer commits than the changelog's lost
	// some (a truncated WAL), and is replaced from the changelog.
	Commits uint64
	// Rules names the rules of the partition's last commit: "version@hash"
	// (processor.Config.RulesHash; the version empty without a rules
	// file), "" in states older than it. A restart with other rules is
	// refused unless asked for (lifecycle run --rules-change=forward).
	Rules string
	// Outcomes is how the partition's silences ended (warnings.Outcomes,
	// its stored form), from which the churn warnings choose their watch
	// level at each rebuild point; nil in older states.
	Outcomes []byte
	// Epoch numbers the partition's ownerships: each owner writes with one
	// more than the state it started from, and stamps its changelog
	// records with it, so that a restore can tell a former owner's late
	// write (a lower epoch after a higher) from the current owner's
	// (processor/restore.go); 0 in older states.
	Epoch uint64
}

// MaxInputs is the most input topics a processor reads.
const MaxInputs = 4

// User is a user's stored state.
type User struct {
	User rules.User
	Wake int64 // the timer index entry that exists for this user; 0 for none
	// Offsets holds, per input topic (by its index in the configuration),
	// the offset after the last record applied to this user. Partition
	// metadata says the same for the whole partition; keeping it per user
	// too makes each user record self-describing, so a restore from a
	// changelog whose last batch arrived only in part cannot apply a record
	// to a user twice (invariant 2).
	Offsets [MaxInputs]int64

	Warn    warnings.State  // the churn-warning rules' memory of this user
	Segment segments.Score  // the user's last RFM score and segment
	Window  segments.Window // purchases in the RFM window (empty when the window is all time)

	// LastOriginal is an audit field: the last purchase applied, as it
	// was sent, when it was in another currency and converted by the
	// rates table (its amount and currency, and the rate); zero when that
	// purchase was in the accounting currency, and in records of version
	// 1, which predate it. One purchase's worth, so a record stays O(1).
	LastOriginal schemas.Original

	// Activity is what the retention metrics keep of the user: their
	// cohort and active days (version 3; older records get the cohort of
	// FirstSeen and the day of LastActivity).
	Activity retention.Activity
}

// EncodeUser returns the stored form of r (for the store, the changelog
// and the engine's cache), in a slice of its exact length: caches hold
// millions.
func EncodeUser(r User) []byte {
	var buf [512]byte
	return bytes.Clone(AppendUser(buf[:0], r))
}

// EncodeMeta returns the stored form of m (for the changelog).
func EncodeMeta(m Meta) []byte { return AppendMeta(nil, m) }

// Header is a Kafka record header.
type Header struct {
	Key   string
	Value []byte
}

// Output is a Kafka record the engine made, waiting in the outbox until
// Kafka has it.
type Output struct {
	Topic   string
	Key     []byte
	Value   []byte
	Headers []Header
}

// Timer is one timer index entry.
type Timer struct {
	Wake   int64
	UserID string
}

// Write is one atomic change of a partition's state: everything an engine
// commit stores, applied all or nothing (ARCHITECTURE.md, invariant 3).
type Write struct {
	Users       []UserWrite
	Buyers      []BuyerWrite
	StaleTimers []Timer // timer index entries that no longer match their user
	// Outputs go to the outbox at sequence numbers OutboxFrom, +1, …
	Outputs    []Output
	OutboxFrom uint64
	// Retention are the partition's retention records that changed
	// (processor/retention; a nil Value deletes one).
	Retention []retention.KV
	Meta      Meta
	// Marker, when set, is the changelog marker of the batch (package
	// state, unlogged.go): the runtime adds it; the engine does not know
	// the changelog.
	Marker *Marker
}

// UserWrite is a user record in its stored form, and the move of its timer
// index entry from OldWake to Wake (0: none).
type UserWrite struct {
	ID            string
	Enc           []byte
	OldWake, Wake int64
}

// BuyerWrite is a changed buyers index entry.
type BuyerWrite struct {
	ID    string
	Buyer Buyer
}

// Marker names the users of a batch that the changelog does not have yet.
type Marker struct {
	Seq uint64
	IDs []string
}

// Reset empties w for reuse, keeping its slices' room.
func (w *Write) Reset() {
	clear(w.Users)
	clear(w.Buyers)
	w.Users, w.Buyers, w.StaleTimers, w.Outputs, w.Retention = w.Users[:0], w.Buyers[:0], w.StaleTimers[:0], nil, w.Retention[:0]
	w.OutboxFrom, w.Meta, w.Marker = 0, Meta{}, nil
}
