package processor

import (
	"github.com/bits-and-blooms/bloom/v3"

	"github.com/lifecycle-engine/lifecycle/state"
)

// knownUsers is a Bloom filter of the users a partition has in its store.
// A user it does not hold is new and needs no Pebble lookup: a lookup that
// misses reads the filter and index blocks of every level, ~10 % of a drain
// of a growing population. A false positive only costs that lookup; a
// false negative would lose a user's history, so every user is added
// before it can be stored.
type knownUsers struct{ f *bloom.BloomFilter }

// knownFalsePositives is the filter's false-positive rate at its capacity.
const knownFalsePositives = 0.01

// newKnownUsers returns an empty filter with room for twice n users (at
// least 64k), so that a growing population stays near the target rate
// until the filter is next rebuilt.
func newKnownUsers(n int) knownUsers {
	return knownUsers{bloom.NewWithEstimates(uint(max(2*n, 1<<16)), knownFalsePositives)}
}

// loadKnownUsers builds the filter of partition p from its stored users,
// sized for users, the count the partition metadata keeps (a size hint
// only: a filter over its capacity just answers "maybe" more often).
func loadKnownUsers(store *state.Store, p int32, users int) (knownUsers, error) {
	k := newKnownUsers(users)
	return k, store.UserIDs(p, func(id []byte) { k.f.Add(id) })
}

func (k knownUsers) add(id string)          { k.f.AddString(id) }
func (k knownUsers) mayHave(id string) bool { return k.f.TestString(id) }
