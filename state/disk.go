package state

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// ErrDiskFull: a write to the state directory failed for lack of space.
var ErrDiskFull = errors.New("state: the disk of the state directory is full")

// A full disk leaves Pebble no way on: a failed commit is fatal to it
// (it panics), a failed flush is retried without end, and an Open that
// must flush the WALs it replays never returns. So the store watches its
// filesystem for ENOSPC (Pebble's vfs.OnDiskFull) and says so at the
// first one: Options.OnDiskFull, and an Open in progress returns
// ErrDiskFull.
type diskWatch struct {
	once sync.Once
	full chan struct{} // closed at the first ENOSPC
	hook func()        // Options.OnDiskFull
}

func newDiskWatch(hook func()) *diskWatch {
	return &diskWatch{full: make(chan struct{}), hook: hook}
}

// fired is vfs.OnDiskFull's callback. Pebble blocks new writes while it
// runs and retries the failed one once after it.
func (w *diskWatch) fired() {
	w.once.Do(func() {
		// The hook first: an Open waiting on full would otherwise return
		// first, and its caller could exit before the hook has spoken.
		if w.hook != nil {
			w.hook()
		}
		close(w.full)
	})
}

// DiskFullError is the error of a full disk under the store of dir.
func DiskFullError(dir string) error {
	return fmt.Errorf("%w: %s: a write failed with %q. Free space on its disk or move --state-dir to a larger volume, then start again: it resumes where it stopped, and nothing is lost", ErrDiskFull, dir, syscall.ENOSPC.Error())
}

// DiskSlow is a write to the state directory that has not completed
// after diskSlowAfter: Options.OnDiskSlow is called every 2 s while it
// lasts, with Took growing. A disk that has stalled for good (a hung
// network volume) stalls its partitions while the instance stays in the
// group, so nobody else takes them over.
type DiskSlow struct {
	Op, Path string
	Took     time.Duration
}

// diskSlowAfter is when a write counts as slow: Pebble's own default.
const diskSlowAfter = 5 * time.Second

// watchHealth wraps fs with Pebble's disk health checks, which report
// the writes slower than diskSlowAfter to onSlow (nil: to nobody) and
// count the reports in slow.
func watchHealth(fs vfs.FS, onSlow func(DiskSlow), slow *atomic.Int64) (vfs.FS, io.Closer) {
	return vfs.WithDiskHealthChecks(fs, diskSlowAfter, nil, func(i vfs.DiskSlowInfo) {
		slow.Add(1)
		if onSlow != nil {
			onSlow(DiskSlow{Op: i.OpType.String(), Path: i.Path, Took: i.Duration})
		}
	})
}

// EnvDiskBytes and EnvDiskStallBytes name the environment variables of
// the fault tests' failing disks: with LIFECYCLE_DISK_BYTES=n, a store
// opened on the operating system's filesystem may write n bytes, and
// then every write fails with ENOSPC, as on a full disk; with
// LIFECYCLE_DISK_STALL_BYTES=n, every write after n bytes blocks for
// good, as on a hung volume. Unset, nothing changes.
const (
	EnvDiskBytes      = "LIFECYCLE_DISK_BYTES"
	EnvDiskStallBytes = "LIFECYCLE_DISK_STALL_BYTES"
)

// diskFromEnv returns fs, limited as EnvDiskBytes or EnvDiskStallBytes
// says.
func diskFromEnv(fs vfs.FS) (vfs.FS, error) {
	for _, env := range []string{EnvDiskBytes, EnvDiskStallBytes} {
		v := os.Getenv(env)
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("state: %s=%q: want a number of bytes ≥ 0", env, v)
		}
		l := &limitedFS{FS: fs, stall: env == EnvDiskStallBytes}
		l.left.Store(n)
		return l, nil
	}
	return fs, nil
}

// limitedFS is a filesystem with room for a fixed number of bytes more:
// past them a write fails with ENOSPC, or blocks for good (stall).
type limitedFS struct {
	vfs.FS
	left  atomic.Int64
	stall bool
}

func (l *limitedFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := l.FS.Create(name, c)
	return l.wrap(name, f, err)
}

func (l *limitedFS) OpenReadWrite(name string, c vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := l.FS.OpenReadWrite(name, c, opts...)
	return l.wrap(name, f, err)
}

func (l *limitedFS) ReuseForWrite(oldname, newname string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := l.FS.ReuseForWrite(oldname, newname, c)
	return l.wrap(newname, f, err)
}

func (l *limitedFS) wrap(name string, f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	return &limitedFile{File: f, fs: l, name: name}, nil
}

// take reserves n bytes; false when they do not fit. On a stalling disk
// it does not return then.
func (l *limitedFS) take(n int) bool {
	if l.left.Add(-int64(n)) >= 0 {
		return true
	}
	if l.stall {
		select {}
	}
	return false
}

type limitedFile struct {
	vfs.File
	fs   *limitedFS
	name string
}

func (f *limitedFile) Write(p []byte) (int, error) {
	if !f.fs.take(len(p)) {
		return 0, &os.PathError{Op: "write", Path: f.name, Err: syscall.ENOSPC}
	}
	return f.File.Write(p)
}

func (f *limitedFile) WriteAt(p []byte, off int64) (int, error) {
	if !f.fs.take(len(p)) {
		return 0, &os.PathError{Op: "write", Path: f.name, Err: syscall.ENOSPC}
	}
	return f.File.WriteAt(p, off)
}

// openWatched opens the Pebble store of dir, or returns ErrDiskFull as
// soon as the disk is found full: Pebble's Open would wait without end
// for the flush of the WALs it replayed. The abandoned Open then closes
// the store, its lock and the disk health checks if it ever ends, once
// space is freed.
func openWatched(dir string, opts *pebble.Options, w *diskWatch, health io.Closer) (*pebble.DB, error) {
	type opened struct {
		db  *pebble.DB
		err error
	}
	done := make(chan opened, 1)
	go func() {
		db, err := pebble.Open(dir, opts)
		done <- opened{db, err}
	}()
	select {
	case r := <-done:
		return r.db, r.err
	case <-w.full:
		go func() {
			if r := <-done; r.db != nil {
				r.db.Close()
			}
			if opts.Lock != nil {
				opts.Lock.Close()
			}
			health.Close()
		}()
		return nil, DiskFullError(dir)
	}
}

// DiskUse is the store's size and the room left on its volume: what an
// operator watches to act before the disk is full.
type DiskUse struct {
	StoreBytes uint64 // the store's files, as Pebble counts them
	FreeBytes  uint64 // available to this process on the volume
	TotalBytes uint64 // the volume's size
	// SlowWrites counts the reports of writes slower than 5 s (DiskSlow):
	// one every 2 s while such a write lasts.
	SlowWrites int64
}

// Disk returns the store's DiskUse, or an error when its filesystem
// cannot say (an in-memory one).
func (s *Store) Disk() (DiskUse, error) {
	u, err := s.fs.GetDiskUsage(s.dir)
	if err != nil {
		return DiskUse{}, err
	}
	return DiskUse{StoreBytes: s.db.Metrics().DiskSpaceUsage(), FreeBytes: u.AvailBytes, TotalBytes: u.TotalBytes, SlowWrites: s.slowWrites.Load()}, nil
}
