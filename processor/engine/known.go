package engine

import (
	"github.com/bits-and-blooms/bloom/v3"
)

// knownUsers is a Bloom filter of the users a partition has in its store.
// A user it does not hold is new and needs no Pebble lookup: a lookup that
// misses reads the filter and index blocks of every level, ~10 % of a drain
// of a growing population. A false positive only costs that lookup; a
// false negative would lose a user's history, so every user is added
// before it can be stored.
type knownUsers struct {
	f        *bloom.BloomFilter
	added    int // users added since the filter was built (some twice)
	capacity int // users the filter holds at knownFalsePositives
}

// knownFalsePositives is the filter's false-positive rate at its capacity.
const knownFalsePositives = 0.01

// newKnownUsers returns an empty filter with room for twice n users (at
// least 64k): a growing population doubles before the filter is full.
func newKnownUsers(n int) *knownUsers {
	c := max(2*n, 1<<16)
	return &knownUsers{f: bloom.NewWithEstimates(uint(c), knownFalsePositives), capacity: c}
}

// loadKnownUsers builds the filter of partition p from its stored users,
// sized for users (a hint: the count the partition metadata keeps).
func loadKnownUsers(store Store, p int32, users int) (*knownUsers, error) {
	k := newKnownUsers(users)
	err := store.UserIDs(p, func(id []byte) {
		k.f.Add(id)
		k.added++
	})
	return k, err
}

func (k *knownUsers) add(id string) {
	k.f.AddString(id)
	k.added++
}

func (k *knownUsers) mayHave(id string) bool { return k.f.TestString(id) }

// full reports whether the filter holds more users than it was sized for,
// and answers "maybe" more often than knownFalsePositives: time to build
// a larger one.
func (k *knownUsers) full() bool { return k.added > k.capacity }
