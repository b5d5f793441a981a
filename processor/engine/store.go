package engine

import (
	"github.com/lifecycle-engine/lifecycle/processor/retention"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

// Store is where an engine keeps its partition's state between commits.
// *state.Store (Pebble) implements it for the runtime, MemStore in memory
// for evaluate, tests and the reference. Everything is per partition p.
type Store interface {
	// Meta returns the partition's metadata; ok is false when it has none.
	Meta(p int32) (m record.Meta, ok bool, err error)
	// User returns a user's record; ok is false when it has none.
	User(p int32, id string) (r record.User, ok bool, err error)
	// ReadUsers calls fn once for each of the users ids, in id order, with
	// its record; ok is false when the store has none. It reads many
	// users at a cost below a User each (state.Store.ReadUsers).
	ReadUsers(p int32, ids []string, fn func(id string, r record.User, ok bool) error) error
	// UserIDs calls fn for every stored user (the id is valid during the call).
	UserIDs(p int32, fn func(id []byte)) error
	// Buyers calls fn for every buyers index entry in user id order (the id
	// is valid during the call). The order is part of the outputs: a
	// rebuild re-scores users in it.
	Buyers(p int32, fn func(id []byte, b *record.Buyer) error) error
	// DueTimers returns up to limit timer index entries with a wake time in
	// [from, before), by wake time, then user id, and next: the wake time of
	// the first entry at or after before (math.MaxInt64 for none), so that
	// the caller need not look again until stream time passes it.
	DueTimers(p int32, from, before int64, limit int) (due []record.Timer, next int64, err error)
	// Retention returns the partition's retention records (Write.Retention).
	Retention(p int32) ([]retention.KV, error)
	// Write applies w atomically: all of it or none.
	Write(p int32, w *record.Write) error
}
