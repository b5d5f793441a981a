package state

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/lifecycle-engine/lifecycle/state/record"
)

// A disk that lost the tail of a MANIFEST Pebble had synced: Pebble itself
// opens such a store, without the data of the flush the lost edit recorded
// (its log already deleted), and Open must refuse it as damaged instead.
func TestTornManifestIsDamage(t *testing.T) {
	fs := vfs.NewMem()
	write := func(from, to int, offset int64) {
		s := openMem(t, fs)
		b := s.NewBatch(0)
		for u := from; u < to; u++ {
			must(t, b.PutUser(fmt.Sprintf("u-%d", u), sampleRecord(int64(u)), 0))
		}
		must(t, b.PutMeta(record.Meta{Offsets: map[string]int64{"in": offset}}))
		must(t, b.Commit())
		must(t, s.Close())
	}
	write(0, 100, 1)
	write(100, 200, 2) // this open flushed the first run's log to a table: an edit of the MANIFEST
	desc, err := pebble.Peek("db", fs)
	must(t, err)
	truncateToHalf(t, fs, desc.ManifestFilename)

	_, err = Open(Options{Dir: "db", FS: fs})
	if !errors.Is(err, ErrDamaged) {
		t.Fatalf("Open of a store whose MANIFEST lost its tail = %v, want ErrDamaged", err)
	}
	t.Log(err)

	// What the check prevents: Pebble alone opens the store without the
	// first run's users, beside the second run's metadata.
	db, err := pebble.Open("db", &pebble.Options{FS: fs, Logger: pebbleLogger{}})
	if err != nil {
		t.Logf("Pebble refuses it too: %v", err)
		return
	}
	s := &Store{db: db}
	n := countUsers(t, s)
	t.Logf("Pebble alone opens it with %d of 200 users", n)
	if n == 200 {
		t.Errorf("the damage lost nothing: the test no longer makes the damage it is about")
	}
	must(t, s.Close())
}

// A store that lost a table, or whose table is corrupt, is damaged too.
func TestLostOrCorruptTableIsDamage(t *testing.T) {
	for _, fault := range []string{"deleted", "truncated"} {
		fs := vfs.NewMem()
		for run := range 2 { // the second open flushes the first one's log to a table
			s := openMem(t, fs)
			b := s.NewBatch(0)
			for u := range 100 {
				must(t, b.PutUser(fmt.Sprintf("u-%d-%d", run, u), sampleRecord(int64(u)), 0))
			}
			must(t, b.Commit())
			must(t, s.Close())
		}
		tables, err := fs.List("db")
		must(t, err)
		n := 0
		for _, name := range tables {
			if !strings.HasSuffix(name, ".sst") {
				continue
			}
			n++
			if fault == "deleted" {
				must(t, fs.Remove(fs.PathJoin("db", name)))
			} else {
				truncateToHalf(t, fs, fs.PathJoin("db", name))
			}
		}
		if n == 0 {
			t.Fatal("no table to damage: the test no longer makes the damage it is about")
		}
		if _, err := Open(Options{Dir: "db", FS: fs}); !errors.Is(err, ErrDamaged) {
			t.Errorf("Open of a store whose tables were %s = %v, want ErrDamaged", fault, err)
		}
	}
}

// A store whose process stopped at any moment, however much of its unsynced
// writes the disk kept, is not taken for damaged: only lost synced data is.
func TestCrashIsNotDamage(t *testing.T) {
	for _, pct := range []int{0, 50, 100} {
		fs := vfs.NewCrashableMem()
		s := openMem(t, fs)
		for i := range 5 {
			b := s.NewBatch(0)
			for u := range 300 {
				must(t, b.PutUser(fmt.Sprintf("u-%d", u), sampleRecord(int64(i)), 0))
			}
			must(t, b.Commit())
			must(t, s.db.Flush()) // an edit of the MANIFEST per batch
		}
		crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: pct, RNG: rand.New(rand.NewPCG(1, uint64(pct)))})
		must(t, s.Close())
		s2, err := Open(Options{Dir: "db", FS: crashed})
		if err != nil {
			t.Fatalf("Open after a crash keeping %d%% of unsynced data: %v", pct, err)
		}
		must(t, s2.Close())
	}
}

func countUsers(t *testing.T, s *Store) int {
	t.Helper()
	n := 0
	must(t, s.Users(0, func(string, record.User) error { n++; return nil }))
	return n
}

// truncateToHalf keeps the first half of file name.
func truncateToHalf(t *testing.T, fs vfs.FS, name string) {
	t.Helper()
	f, err := fs.Open(name)
	must(t, err)
	data, err := io.ReadAll(f)
	must(t, err)
	must(t, f.Close())
	must(t, fs.Remove(name))
	g, err := fs.Create(name, vfs.WriteCategoryUnspecified)
	must(t, err)
	_, err = g.Write(data[:len(data)/2])
	must(t, err)
	must(t, g.Sync())
	must(t, g.Close())
}
