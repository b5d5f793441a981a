package state

import (
	"context"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/lifecycle-engine/lifecycle/state/record"
)

// BenchmarkCommit1000Users commits one batch of 1000 dirty users whose
// timers move (delete the old index entry, write the new one), with the
// partition metadata, to a store on disk: the processor's per-batch write.
// Each user is rewritten in every iteration, as a hot working set is.
func BenchmarkCommit1000Users(b *testing.B) {
	s, err := Open(Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ids := make([]string, 1000)
	recs := make([]record.User, len(ids))
	for i := range ids {
		ids[i] = "u-" + strconv.Itoa(i*7919)
		recs[i] = sampleRecord(int64(i))
	}
	batch := s.NewBatch(0)
	defer batch.Close()
	meta := record.Meta{Partitions: 8, Offsets: map[string]int64{"events.login": 0, "events.purchase": 0, "events.content": 0}}
	b.ReportAllocs()
	for n := 0; b.Loop(); n++ {
		for i := range recs {
			old := recs[i].Wake
			recs[i].Wake += 1000
			recs[i].User.LastActivity += 1000
			if err := batch.PutUser(ids[i], recs[i], old); err != nil {
				b.Fatal(err)
			}
		}
		meta.StreamTime += 1000
		meta.Offsets["events.login"] += 1000
		if err := batch.PutMeta(meta); err != nil {
			b.Fatal(err)
		}
		if err := batch.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/user")
}

// BenchmarkDueTimersAfterMoves is the processor's timer scan after every
// commit when no timer is due, on a partition whose users' timers have
// moved forward many times: the scan starts at the beginning of the timer
// index and must step over the deletion tombstones of every moved entry.
// The sub-benchmarks differ in how many moved (deleted) entries lie
// before the due time.
func BenchmarkDueTimersAfterMoves(b *testing.B) {
	for _, moves := range []int{0, 10_000, 100_000} {
		b.Run("tombstones="+strconv.Itoa(moves), func(b *testing.B) {
			s, err := Open(Options{Dir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			batch := s.NewBatch(0)
			defer batch.Close()
			const users = 10_000
			rec := sampleRecord(0)
			wake := make([]int64, users)
			for i := range users {
				rec.Wake = int64(1_000_000 + i)
				wake[i] = rec.Wake
				if err := batch.PutUser("u-"+strconv.Itoa(i), rec, 0); err != nil {
					b.Fatal(err)
				}
			}
			if err := batch.Commit(); err != nil {
				b.Fatal(err)
			}
			for m := range moves {
				i := m % users
				rec.Wake = wake[i] + 1_000_000
				if err := batch.PutUser("u-"+strconv.Itoa(i), rec, wake[i]); err != nil {
					b.Fatal(err)
				}
				wake[i] = rec.Wake
				if m%1000 == 999 {
					if err := batch.Commit(); err != nil {
						b.Fatal(err)
					}
				}
			}
			if err := batch.Commit(); err != nil {
				b.Fatal(err)
			}
			// Stream time is below every live timer: nothing is due, as
			// after most commits.
			before := int64(1_000_000 + (moves/users)*1_000_000)
			b.ReportAllocs()
			for b.Loop() {
				due, _, err := s.DueTimers(0, 0, before, 4096)
				if err != nil || len(due) != 0 {
					b.Fatalf("DueTimers = %d entries, %v", len(due), err)
				}
			}
		})
	}
}

// BenchmarkReadUsers reads the 4,096 users of a timer pass from a
// partition of 400,000 stored users, compacted: a Get per user
// (Store.User) against iterators seeking them in key order
// (Store.ReadUsers).
func BenchmarkReadUsers(b *testing.B) {
	s, err := Open(Options{Dir: b.TempDir(), MemTableBytes: 8 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const users = 400_000
	rec := sampleRecord(0)
	for start := 0; start < users; start += 10_000 {
		batch := s.NewBatch(0)
		for i := start; i < start+10_000; i++ {
			rec.Wake = int64(1_000_000 + i)
			if err := batch.PutUser("u-"+strconv.Itoa(i*7919%users), rec, 0); err != nil {
				b.Fatal(err)
			}
		}
		if err := batch.Commit(); err != nil {
			b.Fatal(err)
		}
		batch.Close()
	}
	// One compaction to the last level, so that both ways read the same
	// layout, not one changed by compactions running in the background.
	if err := s.db.Compact(context.Background(), partitionKey(nil, 0, 'u'), partitionKey(nil, 0, 'u'+1), true); err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	ids := make([]string, 4096)
	for i := range ids {
		ids[i] = "u-" + strconv.Itoa(rng.IntN(users))
	}
	b.Run("get", func(b *testing.B) {
		for b.Loop() {
			for _, id := range ids {
				if _, ok, err := s.User(0, id); err != nil || !ok {
					b.Fatal(id, ok, err)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ids)), "ns/user")
	})
	b.Run("sorted", func(b *testing.B) {
		for b.Loop() {
			if err := s.ReadUsers(0, ids, func(id string, _ record.User, ok bool) error {
				if !ok {
					b.Fatal(id)
				}
				return nil
			}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ids)), "ns/user")
	})
}
