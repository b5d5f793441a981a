package state

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestOpenOnAFullDisk: Pebble's own Open waits without end on a full disk
// (the flush of the WALs it replays is retried forever); the store's
// returns ErrDiskFull, calls the hook once, and leaves what is stored as
// it was: once space is freed, the same directory opens with every user.
func TestOpenOnAFullDisk(t *testing.T) {
	mem := vfs.NewMem()
	s := openMem(t, mem)
	b := s.NewBatch(0)
	for i := range 100 {
		must(t, b.PutUser(fmt.Sprintf("user-%03d", i), sampleRecord(int64(i)), 0))
	}
	must(t, b.Commit())
	must(t, s.Close())

	full := &limitedFS{FS: mem} // no room left
	var calls atomic.Int32
	opened := make(chan error, 1)
	go func() {
		s, err := Open(Options{Dir: "db", FS: full, OnDiskFull: func() { calls.Add(1) }})
		if err == nil {
			s.Close()
		}
		opened <- err
	}()
	select {
	case err := <-opened:
		if !errors.Is(err, ErrDiskFull) {
			t.Fatalf("Open on a full disk: %v, want ErrDiskFull", err)
		}
		t.Logf("Open on a full disk: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("Open on a full disk has not returned within a minute")
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("the disk-full hook was called %d times, want 1", n)
	}

	// Space freed: the abandoned Open finishes and lets the directory go.
	full.left.Store(1 << 40)
	var again *Store
	for deadline := time.Now().Add(time.Minute); ; {
		var err error
		if again, err = Open(Options{Dir: "db", FS: mem}); err == nil {
			break
		} else if !errors.Is(err, ErrLocked) || time.Now().After(deadline) {
			t.Fatalf("Open once space is freed: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	defer again.Close()
	for i := range 100 {
		if _, ok, err := again.User(0, fmt.Sprintf("user-%03d", i)); err != nil || !ok {
			t.Fatalf("user %d after the full disk: ok %v, %v", i, ok, err)
		}
	}
}

// TestCommitOnAFullDisk: a commit that meets a full disk calls the hook
// once, from within the write, and Pebble retries the write after it:
// a hook that frees space (as an operator deleting a ballast file
// would) lets the commit and the store go on.
func TestCommitOnAFullDisk(t *testing.T) {
	mem := vfs.NewMem()
	disk := &limitedFS{FS: mem}
	disk.left.Store(1 << 40)
	var calls atomic.Int32
	s, err := Open(Options{Dir: "db", FS: disk, OnDiskFull: func() {
		calls.Add(1)
		disk.left.Store(1 << 40)
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	disk.left.Store(64 << 10)
	i := 0
	for ; calls.Load() == 0 && i < 10_000; i++ {
		b := s.NewBatch(0)
		must(t, b.PutUser(fmt.Sprintf("user-%05d", i), sampleRecord(int64(i)), 0))
		must(t, b.Commit())
		must(t, s.Sync())
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d commits on a disk with 64 KiB free: the hook was called %d times, want 1", i, n)
	}
	for j := range i {
		if _, ok, err := s.User(0, fmt.Sprintf("user-%05d", j)); err != nil || !ok {
			t.Fatalf("user %d, committed across the full disk: ok %v, %v", j, ok, err)
		}
	}
}

// TestDiskFromEnv: the fault tests' disk of LIFECYCLE_DISK_BYTES takes
// that many bytes, then refuses writes with ENOSPC, on any file.
func TestDiskFromEnv(t *testing.T) {
	t.Setenv(EnvDiskBytes, "10")
	fs, err := diskFromEnv(vfs.NewMem())
	if err != nil {
		t.Fatal(err)
	}
	f, err := fs.Create("a", vfs.WriteCategoryUnspecified)
	must(t, err)
	if _, err := f.Write(make([]byte, 10)); err != nil {
		t.Fatalf("a write that fits: %v", err)
	}
	g, err := fs.Create("b", vfs.WriteCategoryUnspecified)
	must(t, err)
	if _, err := g.Write([]byte{1}); !vfs.IsNoSpaceError(err) {
		t.Fatalf("a write past the limit: %v, want ENOSPC", err)
	}
	t.Setenv(EnvDiskBytes, "-1")
	if _, err := diskFromEnv(vfs.NewMem()); err == nil {
		t.Fatal("a negative limit was taken")
	}
}

// TestDisk: a store on disk reports its size and its volume's room; one
// in memory cannot.
func TestDisk(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b := s.NewBatch(0)
	must(t, b.PutUser("u", sampleRecord(1), 0))
	must(t, b.Commit())
	d, err := s.Disk()
	if err != nil {
		t.Fatal(err)
	}
	if d.StoreBytes == 0 || d.FreeBytes == 0 || d.TotalBytes < d.FreeBytes {
		t.Errorf("Disk() = %+v: want a size, free bytes and a volume at least as large", d)
	}
	mem := openMem(t, vfs.NewMem())
	defer mem.Close()
	if _, err := mem.Disk(); err == nil {
		t.Error("Disk() of an in-memory store: no error")
	}
}

// TestStalledDiskReported: a write that does not complete is reported
// to OnDiskSlow after about 5 s, and again while it lasts, with the time
// it has taken; the commit waiting on it stays blocked (nothing returns
// an error: Pebble cannot tell a slow disk from a dead one).
func TestStalledDiskReported(t *testing.T) {
	disk := &limitedFS{FS: vfs.NewMem(), stall: true}
	disk.left.Store(1 << 40)
	slow := make(chan DiskSlow, 16)
	s, err := Open(Options{Dir: "db", FS: disk, OnDiskSlow: func(d DiskSlow) {
		select {
		case slow <- d:
		default:
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	disk.left.Store(0) // the volume hangs: Close would wait on it too
	committed := make(chan error, 1)
	go func() {
		b := s.NewBatch(0)
		if err := b.PutUser("u", sampleRecord(1), 0); err != nil {
			committed <- err
			return
		}
		if err := b.Commit(); err != nil {
			committed <- err
			return
		}
		committed <- s.Sync()
	}()
	var last DiskSlow
	for n := 0; n < 2; n++ {
		select {
		case last = <-slow:
			t.Logf("reported: %+v", last)
		case err := <-committed:
			t.Fatalf("the commit on a stalled disk returned (%v)", err)
		case <-time.After(30 * time.Second):
			t.Fatalf("no slow write reported within 30 s (%d so far)", n)
		}
	}
	if last.Took < diskSlowAfter || last.Path == "" || last.Op == "" {
		t.Errorf("the stall reported as %+v: want the op, the file and at least %v", last, diskSlowAfter)
	}
	if n := s.slowWrites.Load(); n < 2 {
		t.Errorf("%d slow writes counted after two reports", n)
	}
}
