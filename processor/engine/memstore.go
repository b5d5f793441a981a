package engine

import (
	"bytes"
	"cmp"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/lifecycle-engine/lifecycle/processor/retention"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

// MemStore is a Store in memory, for evaluate, the reference of the tests
// and replays that need no durable state. It keeps records in their stored
// form, as Pebble does, so that what goes through it is what would go
// through the disk. It keeps no outbox: its user takes the outputs from
// the commits. Not safe for concurrent use.
type MemStore struct {
	parts map[int32]*memPartition
}

type memPartition struct {
	meta   []byte
	users  map[string][]byte
	buyers map[string]record.Buyer
	timers map[record.Timer]struct{}
	ret    map[string][]byte
}

// NewMemStore returns an empty store.
func NewMemStore() *MemStore { return &MemStore{parts: map[int32]*memPartition{}} }

func (s *MemStore) part(p int32) *memPartition {
	mp := s.parts[p]
	if mp == nil {
		mp = &memPartition{users: map[string][]byte{}, buyers: map[string]record.Buyer{}, timers: map[record.Timer]struct{}{}, ret: map[string][]byte{}}
		s.parts[p] = mp
	}
	return mp
}

// Meta implements Store.
func (s *MemStore) Meta(p int32) (record.Meta, bool, error) {
	mp := s.part(p)
	if mp.meta == nil {
		return record.Meta{Offsets: map[string]int64{}}, false, nil
	}
	m, err := record.DecodeMeta(mp.meta)
	return m, err == nil, err
}

// User implements Store.
func (s *MemStore) User(p int32, id string) (record.User, bool, error) {
	b, ok := s.part(p).users[id]
	if !ok {
		return record.User{}, false, nil
	}
	r, err := record.DecodeUser(b)
	return r, err == nil, err
}

// ReadUsers implements Store.
func (s *MemStore) ReadUsers(p int32, ids []string, fn func(id string, r record.User, ok bool) error) error {
	sorted := slices.Compact(slices.Sorted(slices.Values(ids)))
	for _, id := range sorted {
		r, ok, err := s.User(p, id)
		if err != nil {
			return err
		}
		if err := fn(id, r, ok); err != nil {
			return err
		}
	}
	return nil
}

// UserIDs implements Store.
func (s *MemStore) UserIDs(p int32, fn func(id []byte)) error {
	for id := range s.part(p).users {
		fn([]byte(id))
	}
	return nil
}

// Buyers implements Store, in user id order.
func (s *MemStore) Buyers(p int32, fn func(id []byte, b *record.Buyer) error) error {
	mp := s.part(p)
	for _, id := range slices.Sorted(maps.Keys(mp.buyers)) {
		b := mp.buyers[id]
		if err := fn([]byte(id), &b); err != nil {
			return err
		}
	}
	return nil
}

// Retention implements Store.
func (s *MemStore) Retention(p int32) ([]retention.KV, error) {
	var out []retention.KV
	for k, v := range s.part(p).ret {
		out = append(out, retention.KV{Key: k, Value: bytes.Clone(v)})
	}
	return out, nil
}

// DueTimers implements Store.
func (s *MemStore) DueTimers(p int32, from, before int64, limit int) (due []record.Timer, next int64, err error) {
	next = math.MaxInt64
	for t := range s.part(p).timers {
		switch {
		case t.Wake >= before:
			next = min(next, t.Wake)
		case t.Wake >= max(from, 0):
			due = append(due, t)
		}
	}
	slices.SortFunc(due, func(a, b record.Timer) int {
		if a.Wake != b.Wake {
			return cmp.Compare(a.Wake, b.Wake)
		}
		return strings.Compare(a.UserID, b.UserID)
	})
	return due[:min(len(due), limit)], next, nil
}

// Write implements Store.
func (s *MemStore) Write(p int32, w *record.Write) error {
	mp := s.part(p)
	for _, u := range w.Users {
		mp.users[u.ID] = bytes.Clone(u.Enc)
		if u.OldWake != u.Wake {
			delete(mp.timers, record.Timer{Wake: u.OldWake, UserID: u.ID})
			if u.Wake != 0 {
				mp.timers[record.Timer{Wake: u.Wake, UserID: u.ID}] = struct{}{}
			}
		}
	}
	for _, b := range w.Buyers {
		mp.buyers[b.ID] = b.Buyer
	}
	for _, t := range w.StaleTimers {
		delete(mp.timers, t)
	}
	for _, r := range w.Retention {
		if len(r.Value) == 0 {
			delete(mp.ret, r.Key)
		} else {
			mp.ret[r.Key] = bytes.Clone(r.Value)
		}
	}
	mp.meta = record.AppendMeta(nil, w.Meta)
	return nil
}
