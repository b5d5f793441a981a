package engine

import (
	"encoding/binary"
	"hash/maphash"
)

// userCache keeps users in their stored form between batches. It is the
// largest thing a partition holds in memory (up to MaxUsersCached users),
// so it holds no pointers: the records lie side by side in one byte arena,
// found through a map from a hash of the id to their offset. The GC
// neither scans nor marks it; a map of ids to records made it mark two
// objects per cached user in every cycle (BENCHMARKS.md, "A cache without
// pointers").
//
// Two ids with the same 64-bit hash (about one pair in 10^7 at 800k cached
// users) share a slot: the later put evicts the earlier one, and a get
// compares the stored id, so a collision costs a store read, never a wrong
// record.
type userCache struct {
	seed  maphash.Seed
	index map[uint64]int // hash of the id → offset of its entry in arena
	// arena holds the entries, each a uvarint length, the id, a uvarint
	// length and the record. An entry is never changed once written: a
	// record returned by get stays valid while the cache moves on.
	arena []byte
	dead  int // bytes of arena that no entry of index points to
}

func newUserCache() *userCache {
	return &userCache{seed: maphash.MakeSeed(), index: make(map[uint64]int)}
}

func (c *userCache) len() int { return len(c.index) }

// get returns the stored form of user id, if cached. The caller must not
// change it.
func (c *userCache) get(id string) ([]byte, bool) {
	off, ok := c.index[maphash.String(c.seed, id)]
	if !ok {
		return nil, false
	}
	key, rec, _ := c.entry(off)
	if string(key) != id {
		return nil, false // another id with the same hash
	}
	return rec, true
}

func (c *userCache) has(id string) bool {
	_, ok := c.get(id)
	return ok
}

// put caches rec as user id's stored form (a copy: rec may be reused).
func (c *userCache) put(id string, rec []byte) {
	h := maphash.String(c.seed, id)
	if off, ok := c.index[h]; ok {
		c.dead += c.size(off)
	}
	c.index[h] = len(c.arena)
	c.arena = binary.AppendUvarint(c.arena, uint64(len(id)))
	c.arena = append(c.arena, id...)
	c.arena = binary.AppendUvarint(c.arena, uint64(len(rec)))
	c.arena = append(c.arena, rec...)
	c.compactIfSparse()
}

// evictTo drops users, in no particular order, until at most n are cached.
func (c *userCache) evictTo(n int) {
	for h, off := range c.index {
		if len(c.index) <= n {
			break
		}
		c.dead += c.size(off)
		delete(c.index, h)
	}
	c.compactIfSparse()
}

// compactIfSparse copies the live entries into a new arena once a third
// of the arena is dead, so the arena stays within 1.5 × what it holds and
// each byte written is copied about twice over its life.
func (c *userCache) compactIfSparse() {
	if c.dead*3 <= len(c.arena) {
		return
	}
	live := len(c.arena) - c.dead
	arena := make([]byte, 0, live+live/4)
	for h, off := range c.index {
		c.index[h] = len(arena)
		arena = append(arena, c.arena[off:off+c.size(off)]...)
	}
	c.arena, c.dead = arena, 0
}

// entry parses the entry at off: the id, the record and the entry's size.
func (c *userCache) entry(off int) (id, rec []byte, size int) {
	b := c.arena[off:]
	n, k := binary.Uvarint(b)
	id, b = b[k:k+int(n)], b[k+int(n):]
	m, j := binary.Uvarint(b)
	rec = b[j : j+int(m) : j+int(m)]
	return id, rec, k + int(n) + j + int(m)
}

func (c *userCache) size(off int) int {
	_, _, n := c.entry(off)
	return n
}
