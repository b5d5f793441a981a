package state

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/record"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// ErrDamaged is Open's error when the store's files show that the disk lost
// part of what Pebble had written: the store cannot be trusted, and its
// partitions must be restored from the changelog (lifecycle run moves its
// files aside and starts afresh).
var ErrDamaged = errors.New("state: the store is damaged")

// lockAndCheck locks the store's directory (creating it, unless readOnly),
// so that no other process writes its files while they are checked, and
// checks them (checkManifest). The lock is passed to Pebble's Open and
// released by Store.Close. A read-only open of a missing directory gets
// no lock: Pebble's Open then says that the store does not exist.
func lockAndCheck(fs vfs.FS, dir string, readOnly bool) (*pebble.Lock, error) {
	if readOnly {
		if _, err := fs.Stat(dir); errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
	} else if err := fs.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("state: create %s: %w", dir, err)
	}
	lock, err := pebble.LockDirectory(dir, fs)
	if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK) {
		return nil, fmt.Errorf("%w: %s is locked by another process (a lifecycle run, bench or inspect on the same --state-dir); stop it, or give this one its own --state-dir", ErrLocked, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("state: lock %s: %w", dir, err)
	}
	if err := checkManifest(fs, dir); err != nil {
		lock.Close()
		return nil, err
	}
	return lock, nil
}

// checkManifest reads the store's current MANIFEST, Pebble's log of which
// files hold the data, and fails with ErrDamaged when it does not end in a
// whole record.
//
// Pebble reads a torn MANIFEST tail as the end of the log, as a crash in
// the middle of its last write would leave it, and opens without an error.
// But when a disk loses the tail of a MANIFEST that Pebble had synced, the
// lost edits are flushes whose write-ahead logs Pebble then deleted: the
// store opens without the data of those flushes, beside newer records of
// the logs after them. It then holds partition metadata that is current
// and users that are missing or older than it (a user's next event looked
// like its first: TestFaultSequences, seed 784114240006), and nothing at a
// later check can tell. A torn tail after a power loss during a MANIFEST
// write (before Pebble acted on the edit) is taken for damage too: the
// cost is a restore that was not needed.
func checkManifest(fs vfs.FS, dir string) error {
	desc, err := pebble.Peek(dir, fs)
	if err != nil || !desc.Exists {
		return nil // a new store, or one Open reports on itself
	}
	f, err := fs.Open(desc.ManifestFilename)
	if err != nil {
		return nil
	}
	defer f.Close()
	r := record.NewReader(f, 0)
	for n := 0; ; n++ {
		rec, err := r.Next()
		if err == nil {
			_, err = io.Copy(io.Discard, rec)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %s ends in a torn record after %d whole ones (%v): the disk lost part of what Pebble had written, so the store may lack data it had; move its files aside (lifecycle run does) and its partitions restore from the changelog", ErrDamaged, desc.ManifestFilename, n, err)
		}
	}
}

// damagedOr returns Pebble's Open error err for the store in dir, marked as
// ErrDamaged when it says that a file is corrupt, that a table the MANIFEST
// names is missing (the directory itself exists: it is locked), or that a
// table's size is not the one the MANIFEST recorded (Pebble's consistency
// check at Open marks that error with nothing but its words;
// TestLostOrCorruptTableIsDamage holds them).
func damagedOr(dir string, err error) error {
	if pebble.IsCorruptionError(err) || errors.Is(err, os.ErrNotExist) || strings.Contains(err.Error(), "object size mismatch") {
		return fmt.Errorf("%w: %s: Pebble cannot open it (%v); move its files aside (lifecycle run does) and its partitions restore from the changelog", ErrDamaged, dir, err)
	}
	return fmt.Errorf("state: open %s: %w", dir, err)
}
