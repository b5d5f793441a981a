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
// Two ids with the same 64-bit hash (a chance of about 10^-8 among 800k
// cached users) share a slot: the later put evicts the earlier one, and a get
// compares the stored id, so a collision costs a store read, never a wrong
// record.
type userCache struct {
	seed  maphash.Seed
	index map[uint64]slot // hash of the id → where its entry is in arena
	// arena holds the entries, each a uvarint length, the id, a uvarint
	// length and the record. An entry is never changed once written: a
	// record returned by get stays valid while the cache moves on.
	arena []byte
	dead  int // bytes of arena that no entry of index points to
}

// slot is an entry's offset in the arena (the high 40 bits) and its size
// (the low 24): evictions and compactions need the size, and reading it
// from the arena was a cache miss each.
type slot uint64

const slotSizeBits = 24

func (s slot) off() int  { return int(s >> slotSizeBits) }
func (s slot) size() int { return int(s & (1<<slotSizeBits - 1)) }

func newUserCache() *userCache {
	return &userCache{seed: maphash.MakeSeed(), index: make(map[uint64]slot)}
}

func (c *userCache) len() int { return len(c.index) }

// bytes is the memory the arena takes (its capacity), for the stats.
func (c *userCache) bytes() int { return cap(c.arena) }

// get returns the stored form of user id, if cached. The caller must not
// change it.
func (c *userCache) get(id string) ([]byte, bool) {
	s, ok := c.index[maphash.String(c.seed, id)]
	if !ok {
		return nil, false
	}
	key, rec := c.entry(s.off())
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
	if s, ok := c.index[h]; ok {
		c.dead += s.size()
	}
	off := len(c.arena)
	c.arena = binary.AppendUvarint(c.arena, uint64(len(id)))
	c.arena = append(c.arena, id...)
	c.arena = binary.AppendUvarint(c.arena, uint64(len(rec)))
	c.arena = append(c.arena, rec...)
	if size := len(c.arena) - off; size < 1<<slotSizeBits {
		c.index[h] = slot(off)<<slotSizeBits | slot(size)
	} else { // far larger than any user record: not cached
		delete(c.index, h)
		c.dead += size
	}
	c.compactIfSparse()
}

// evictTo drops users, in no particular order, until at most n are cached.
func (c *userCache) evictTo(n int) {
	for h, s := range c.index {
		if len(c.index) <= n {
			break
		}
		c.dead += s.size()
		delete(c.index, h)
	}
	c.compactIfSparse()
}

// compactIfSparse copies the live entries into a new arena once a third
// of the arena is dead, so the arena stays within 1.5 × what it holds and
// each byte written is copied about twice over its life. The new arena
// has room for that 1.5 ×: a cache that holds as much as before fills it
// by the next compaction without growing it (a copy of the whole arena).
func (c *userCache) compactIfSparse() {
	if c.dead*3 <= len(c.arena) {
		return
	}
	live := len(c.arena) - c.dead
	arena := make([]byte, 0, live+live/2+1024)
	for h, s := range c.index {
		c.index[h] = slot(len(arena))<<slotSizeBits | slot(s.size())
		arena = append(arena, c.arena[s.off():s.off()+s.size()]...)
	}
	c.arena, c.dead = arena, 0
}

// entry parses the entry at off: the id and the record.
func (c *userCache) entry(off int) (id, rec []byte) {
	b := c.arena[off:]
	n, k := binary.Uvarint(b)
	id, b = b[k:k+int(n)], b[k+int(n):]
	m, j := binary.Uvarint(b)
	return id, b[j : j+int(m) : j+int(m)]
}
