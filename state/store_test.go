package state

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/lifecycle-engine/lifecycle/processor/rules"
	"github.com/lifecycle-engine/lifecycle/processor/segments"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

func openMem(t *testing.T, fs vfs.FS) *Store {
	t.Helper()
	s, err := Open(Options{Dir: "db", FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func sampleRecord(i int64) record.User {
	u := rules.User{Stage: rules.Mature, Since: 1000 + i, FirstSeen: 10, LastActivity: 2000 + i,
		LastPurchase: 1500, Purchases: 3 + i, Spend: 59_970_000, Logins: 7, Contents: 2, Returns: 1, RecentNext: 3}
	u.Recent[0], u.Recent[2] = 0xdeadbeef, uint64(i)|1
	u.Buys.Add(1500, 19_990_000)
	u.Buys.Add(1500+3*86_400_000+i, 5_000_000)
	r := record.User{User: u, Wake: 5000 + i, Offsets: [record.MaxInputs]int64{7 + i, 0, 3, 1 << 40},
		Segment: segments.Score{R: 5, F: 3, M: 4, Segment: segments.ImportantValue}}
	r.Window = segments.Config{Window: 90 * 24 * time.Hour}.NewWindow()
	r.Window.Add(1500, 19_990_000)
	r.Warn.LastActivity = 2000 + i
	return r
}

// TestBlockCacheBesideMemtables: reads of users flushed to tables are
// served from the block cache the second time, with memtables larger than
// the cache (Pebble reserves their size in it).
func TestBlockCacheBesideMemtables(t *testing.T) {
	s, err := Open(Options{Dir: "db", FS: vfs.NewMem(), CacheBytes: 1 << 20, MemTableBytes: 2 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const users = 40_000 // ~6 MB of records: several full memtables
	b := s.NewBatch(0)
	for i := range users {
		must(t, b.PutUser(fmt.Sprintf("user-%06d", i), sampleRecord(int64(i)), 0))
		if i%500 == 499 {
			must(t, b.Commit())
		}
	}
	must(t, b.Commit())
	must(t, s.db.Flush())
	read := func() {
		for i := 0; i < users; i += 97 {
			if _, ok, err := s.User(0, fmt.Sprintf("user-%06d", i)); err != nil || !ok {
				t.Fatalf("user %d: ok %v, %v", i, ok, err)
			}
		}
	}
	read()
	before := s.Metrics().BlockCache.Hits
	read()
	m := s.Metrics().BlockCache
	if m.Hits-before == 0 || m.Size == 0 {
		t.Errorf("the second reads of the same users: %d block cache hits, %d bytes cached; want them served from the cache", m.Hits-before, m.Size)
	}
}

func TestNewerFormatRefused(t *testing.T) {
	fs := vfs.NewMem()
	s := openMem(t, fs)
	if err := s.db.Set(formatKey, binary.AppendUvarint(nil, FormatVersion+1), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err := Open(Options{Dir: "db", FS: fs})
	if !errors.Is(err, ErrNewerFormat) {
		t.Fatalf("Open on a newer store: got %v, want ErrNewerFormat", err)
	}
}

func TestBatchUsersTimersOutbox(t *testing.T) {
	s := openMem(t, vfs.NewMem())
	defer s.Close()
	b := s.NewBatch(3)
	r := sampleRecord(0)
	r.Wake = 300
	must(t, b.PutUser("u-1", r, 0))
	r2 := sampleRecord(1)
	r2.Wake = 100
	must(t, b.PutUser("u-2", r2, 0))
	must(t, b.PutOutput(0, record.Output{Topic: "a", Key: []byte("u-1")}))
	must(t, b.PutOutput(1, record.Output{Topic: "b", Key: []byte("u-2")}))
	must(t, b.PutMeta(record.Meta{StreamTime: 400, Partitions: 4, OutboxNext: 2, Offsets: map[string]int64{"events.login": 9}}))
	// Nothing is visible before the commit.
	if _, ok, _ := s.User(3, "u-1"); ok {
		t.Fatal("user visible before commit")
	}
	must(t, b.Commit())

	if got, ok, err := s.User(3, "u-1"); err != nil || !ok || got != r {
		t.Fatalf("User = %+v, %v, %v; want %+v", got, ok, err, r)
	}
	if _, ok, _ := s.User(2, "u-1"); ok {
		t.Fatal("user visible in another partition")
	}
	due, next, err := s.DueTimers(3, 0, 301, 10)
	if err != nil || !reflect.DeepEqual(due, []record.Timer{{Wake: 100, UserID: "u-2"}, {Wake: 300, UserID: "u-1"}}) || next != math.MaxInt64 {
		t.Fatalf("DueTimers(301) = %v, next %d, %v; want both entries and no next", due, next, err)
	}
	if due, next, _ := s.DueTimers(3, 0, 300, 10); len(due) != 1 || next != 300 {
		t.Fatalf("DueTimers(300) = %v, next %d; want only the entry before 300, and 300 next", due, next)
	}
	if due, _, _ := s.DueTimers(3, 101, 1<<62, 10); !reflect.DeepEqual(due, []record.Timer{{Wake: 300, UserID: "u-1"}}) {
		t.Fatalf("DueTimers from 101 = %v, want only the entry at 300", due)
	}

	// Moving u-2's timer deletes the old entry; a zero wake removes it.
	r2.Wake = 0
	must(t, b.PutUser("u-2", r2, 100))
	must(t, b.DeleteOutputs(0, 1))
	must(t, b.Commit())
	if due, _, _ := s.DueTimers(3, 0, 1<<62, 10); !reflect.DeepEqual(due, []record.Timer{{Wake: 300, UserID: "u-1"}}) {
		t.Fatalf("after moving: DueTimers = %v", due)
	}
	seqs, outs, err := s.Outbox(3)
	if err != nil || !reflect.DeepEqual(seqs, []uint64{1}) || outs[0].Topic != "b" {
		t.Fatalf("Outbox = %v %v %v", seqs, outs, err)
	}
	m, ok, err := s.Meta(3)
	if err != nil || !ok || m.OutboxNext != 2 || m.Offsets["events.login"] != 9 {
		t.Fatalf("Meta = %+v %v %v", m, ok, err)
	}
	if ps, err := s.Partitions(); err != nil || !reflect.DeepEqual(ps, []int32{3}) {
		t.Fatalf("Partitions = %v, %v", ps, err)
	}

	// Clear removes the partition and nothing else.
	other := s.NewBatch(4)
	must(t, other.PutUser("u-9", r, 0))
	must(t, other.Commit())
	must(t, b.Clear())
	must(t, b.Commit())
	if _, ok, _ := s.User(3, "u-1"); ok {
		t.Error("user survived Clear")
	}
	if due, _, _ := s.DueTimers(3, 0, 1<<62, 10); len(due) != 0 {
		t.Errorf("timers survived Clear: %v", due)
	}
	if _, ok, _ := s.Meta(3); ok {
		t.Error("metadata survived Clear")
	}
	if _, ok, _ := s.User(4, "u-9"); !ok {
		t.Error("Clear of partition 3 removed a user of partition 4")
	}
}

// TestCrashKeepsStateAndOffsetsTogether simulates power losses at random
// moments while batches commit with NoSync: the store that survives must hold
// state and offsets from the same batch (never one without the other), and at
// least everything that was synced.
func TestCrashKeepsStateAndOffsetsTogether(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const users = 50 // enough bytes per batch that the WAL writes blocks between syncs
	for round := 0; round < 20; round++ {
		fs := vfs.NewCrashableMem()
		s := openMem(t, fs)
		b := s.NewBatch(0)
		synced := int64(0)
		n := int64(1 + rng.IntN(200))
		for i := int64(1); i <= n; i++ {
			// Batch i: every user's purchase count and the input offset are both i.
			for u := 0; u < users; u++ {
				r := sampleRecord(0)
				r.User.Purchases = i
				must(t, b.PutUser(fmt.Sprintf("u-%d", u), r, 0))
			}
			must(t, b.PutMeta(record.Meta{Offsets: map[string]int64{"in": i}}))
			must(t, b.Commit())
			if rng.IntN(10) == 0 {
				must(t, s.Sync())
				synced = i
			}
		}
		crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: rng.IntN(101), RNG: rng})
		s.Close()

		s2 := openMem(t, crashed)
		m, _, err := s2.Meta(0)
		must(t, err)
		off := m.Offsets["in"]
		t.Logf("round %d: wrote %d batches, synced %d, survived %d", round, n, synced, off)
		if off < synced || off > n {
			t.Fatalf("round %d: offset after crash %d, want between synced %d and written %d", round, off, synced, n)
		}
		for u := 0; u < users; u++ {
			r, ok, err := s2.User(0, fmt.Sprintf("u-%d", u))
			must(t, err)
			if got := r.User.Purchases; (off == 0 && ok) || (off > 0 && got != off) {
				t.Fatalf("round %d: user u-%d has state of batch %d but offsets of batch %d", round, u, got, off)
			}
		}
		s2.Close()
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// A second process opening a directory in use is told so, and what to do,
// instead of the operating system's "resource temporarily unavailable".
func TestOpenLocked(t *testing.T) {
	if dir := os.Getenv("STATE_TEST_HOLD"); dir != "" {
		// The other process: hold the store until stdin closes.
		s, err := Open(Options{Dir: dir})
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		fmt.Println("open")
		io.Copy(io.Discard, os.Stdin)
		s.Close()
		os.Exit(0)
	}
	dir := t.TempDir()
	holder := exec.Command(os.Args[0], "-test.run=^TestOpenLocked$")
	holder.Env = append(os.Environ(), "STATE_TEST_HOLD="+dir)
	stdin, err := holder.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer holder.Wait()
	defer stdin.Close()
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "open\n" {
		t.Fatalf("the holding process did not open the store: %q", line)
	}
	_, err = Open(Options{Dir: dir})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("Open of a store another process holds: %v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), "another process") || !strings.Contains(err.Error(), "--state-dir") {
		t.Errorf("the error does not say what to do: %v", err)
	}
}

// ReadUsers answers as a User each would: every id once, in id order,
// another partition's users and ids that are prefixes or extensions of a
// stored id not taken for it, and the caller's slice left as it was.
func TestReadUsersAsUserEach(t *testing.T) {
	s := openMem(t, vfs.NewMem())
	defer s.Close()
	want := map[string]record.User{}
	b := s.NewBatch(3)
	for i, id := range []string{"u-1", "u-10", "u-2", "u-30"} {
		r := sampleRecord(int64(i))
		must(t, b.PutUser(id, r, 0))
		want[id] = r
	}
	must(t, b.Commit())
	other := s.NewBatch(4)
	must(t, other.PutUser("u-3", sampleRecord(9), 0))
	must(t, other.Commit())

	ids := []string{"u-30", "u-3", "u-1", "u-", "u-2", "u-1", "u-100", "u-10"}
	asked := slices.Clone(ids)
	var order []string
	err := s.ReadUsers(3, ids, func(id string, r record.User, ok bool) error {
		order = append(order, id)
		w, stored := want[id]
		if ok != stored || ok && r != w {
			t.Errorf("ReadUsers: %q = %+v, %v; want %+v, %v", id, r, ok, w, stored)
		}
		return nil
	})
	must(t, err)
	if want := []string{"u-", "u-1", "u-10", "u-100", "u-2", "u-3", "u-30"}; !slices.Equal(order, want) {
		t.Errorf("ReadUsers called back %v; want %v (each id once, in order)", order, want)
	}
	if !slices.Equal(ids, asked) {
		t.Errorf("ReadUsers changed its argument to %v", ids)
	}
	stop := errors.New("stop")
	if err := s.ReadUsers(3, ids, func(string, record.User, bool) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("ReadUsers returned %v; want the callback's error", err)
	}

	// More users than one iterator reads (readUsersChunk).
	many := s.NewBatch(5)
	ids = ids[:0]
	for i := range 3*readUsersChunk + 7 {
		id := fmt.Sprintf("m-%05d", i*7%(3*readUsersChunk+7))
		must(t, many.PutUser(id, sampleRecord(int64(i)), 0))
		ids = append(ids, id)
	}
	must(t, many.Commit())
	found := 0
	must(t, s.ReadUsers(5, append(ids, "m-none"), func(id string, _ record.User, ok bool) error {
		if ok {
			found++
		}
		return nil
	}))
	if found != len(ids) {
		t.Errorf("ReadUsers found %d of %d users across several iterators", found, len(ids))
	}
}

// TestChangelogID: a partition's changelog ID is absent until put, read
// back as put, survives a reopen, and is kept when put after a Clear in
// the same batch (a fresh copy names its source).
func TestChangelogID(t *testing.T) {
	fs := vfs.NewMem()
	s := openMem(t, fs)
	if _, ok, err := s.ChangelogID(3); ok || err != nil {
		t.Fatalf("before any: ok %v, %v", ok, err)
	}
	a, b := [16]byte{1, 2, 3}, [16]byte{9, 9}
	put := func(clear bool, id [16]byte) {
		t.Helper()
		batch := s.NewBatch(3)
		defer batch.Close()
		if clear {
			if err := batch.Clear(); err != nil {
				t.Fatal(err)
			}
		}
		if err := batch.PutChangelogID(id); err != nil {
			t.Fatal(err)
		}
		if err := batch.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	put(false, a)
	if got, ok, err := s.ChangelogID(3); !ok || err != nil || got != a {
		t.Fatalf("after put: %v %v %v; want %v", got, ok, err, a)
	}
	if _, ok, _ := s.ChangelogID(4); ok {
		t.Fatal("another partition has it too")
	}
	put(true, b)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openMem(t, fs)
	if got, ok, err := s.ChangelogID(3); !ok || err != nil || got != b {
		t.Fatalf("after a clear, a put and a reopen: %v %v %v; want %v", got, ok, err, b)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
