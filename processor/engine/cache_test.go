package engine

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/lifecycle-engine/lifecycle/schemas"
)

// TestUserCacheAsMap runs random puts, overwrites and evictions against a
// plain map: every id the cache holds must give the last record put for it,
// and it may only lose ids by eviction.
func TestUserCacheAsMap(t *testing.T) {
	c := newUserCache()
	want := map[string][]byte{}
	rng := rand.New(rand.NewPCG(1, 2))
	compactions := 0
	for i := range 200_000 {
		id := fmt.Sprintf("u%d", rng.IntN(5_000))
		rec := bytes.Repeat([]byte{byte(i)}, 1+rng.IntN(300))
		c.put(id, rec)
		rec[0]++ // put copies: the caller may reuse its buffer
		want[id] = bytes.Repeat([]byte{byte(i)}, len(rec))
		if before := len(c.arena); i%997 == 0 {
			c.evictTo(c.len() / 2)
			if len(c.arena) < before {
				compactions++
			}
		}
		if c.dead*3 > len(c.arena) {
			t.Fatalf("after op %d: %d of %d arena bytes dead, more than a third", i, c.dead, len(c.arena))
		}
	}
	if compactions == 0 {
		t.Fatal("no eviction compacted the arena: the test does not reach compaction")
	}
	held := 0
	for id, rec := range want {
		got, ok := c.get(id)
		if !ok {
			continue // evicted
		}
		held++
		if !bytes.Equal(got, rec) {
			t.Fatalf("user %s: cached %d bytes of %d, want %d of %d", id, len(got), got[0], len(rec), rec[0])
		}
	}
	if held != c.len() {
		t.Fatalf("%d ids answer, the cache counts %d", held, c.len())
	}
	if c.has("nobody") {
		t.Fatal("an id never put is cached")
	}
}

// TestUserCacheHashCollision: an id whose hash points at another id's
// entry is a miss, never the other's record.
func TestUserCacheHashCollision(t *testing.T) {
	c := newUserCache()
	c.put("alice", []byte("alice's record"))
	c.index[maphash.String(c.seed, "bob")] = c.index[maphash.String(c.seed, "alice")]
	if rec, ok := c.get("bob"); ok {
		t.Fatalf("bob, colliding with alice, got %q", rec)
	}
	c.put("bob", []byte("bob's record"))
	if rec, ok := c.get("bob"); !ok || string(rec) != "bob's record" {
		t.Fatalf("bob after his put: %q, %v", rec, ok)
	}
	if rec, ok := c.get("alice"); !ok || string(rec) != "alice's record" {
		t.Fatalf("alice after bob's put: %q, %v", rec, ok)
	}
}

// TestUserCacheRecordOutlivesCompaction: a record returned by get stays
// as it was while later puts compact the arena.
func TestUserCacheRecordOutlivesCompaction(t *testing.T) {
	c := newUserCache()
	c.put("a", []byte("first"))
	got, _ := c.get("a")
	for i := range 1000 {
		c.put("a", []byte(fmt.Sprintf("record %d", i)))
	}
	if string(got) != "first" {
		t.Fatalf("record read before the compactions is now %q", got)
	}
}

// TestUserCacheOversizedRecord: a record too large for a slot is not
// cached, and the id's older record is gone with it.
func TestUserCacheOversizedRecord(t *testing.T) {
	c := newUserCache()
	c.put("a", []byte("small"))
	c.put("a", make([]byte, 1<<slotSizeBits))
	if rec, ok := c.get("a"); ok {
		t.Fatalf("got a record of %d bytes, want none cached", len(rec))
	}
	c.put("a", []byte("small again"))
	if rec, ok := c.get("a"); !ok || string(rec) != "small again" {
		t.Fatalf("after a small put: %q, %v", rec, ok)
	}
}

// TestUserCacheSteadyPutsDoNotGrowArena: once a cache of steady size has
// compacted, overwriting its users fills the room the compaction left
// and never grows the arena by a copy of it.
func TestUserCacheSteadyPutsDoNotGrowArena(t *testing.T) {
	c := newUserCache()
	rec := make([]byte, 140)
	for i := range 1000 {
		c.put(fmt.Sprintf("u%d", i), rec)
	}
	compactions, growths := 0, 0
	for i := range 100_000 {
		before, capBefore := len(c.arena), cap(c.arena)
		c.put(fmt.Sprintf("u%d", i%1000), rec)
		switch {
		case len(c.arena) < before:
			compactions++
		case cap(c.arena) != capBefore && compactions > 0:
			growths++
		}
	}
	if compactions == 0 || growths != 0 {
		t.Fatalf("%d compactions, %d growths of the arena after the first; want some compactions and no growth", compactions, growths)
	}
}

// TestCacheStats: the engine reports the users its cache holds and the
// bytes it takes, within the bound, after each batch.
func TestCacheStats(t *testing.T) {
	for _, bound := range []int{1000, 40} {
		cfg := testConfig()
		cfg.MaxUsersCached = bound
		stats := &Stats{}
		e, err := New(&cfg, NewMemStore(), 0, 1, stats, func(Commit) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		for i := range 100 {
			it := &Input{Offset: int64(i), Event: schemas.Event{ID: "e-" + strconv.Itoa(i), UserID: "u" + strconv.Itoa(i), Type: schemas.Login, Time: 1_767_225_600_000 + int64(i)}}
			if err := e.Apply(it); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.Flush(); err != nil {
			t.Fatal(err)
		}
		users, bytes := stats.CachedUsers.Load(), stats.CacheBytes.Load()
		if want := int64(min(100, bound)); users > want || users < want*9/10 || users != int64(e.cold.len()) {
			t.Errorf("bound %d: %d users cached by the stats, %d by the cache; want about %d", bound, users, e.cold.len(), want)
		}
		if bytes < users*20 {
			t.Errorf("bound %d: %d bytes for %d cached users", bound, bytes, users)
		}
	}
}
