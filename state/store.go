package state

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
	"go.uber.org/zap"

	"github.com/lifecycle-engine/lifecycle/state/record"
)

// Errors of the package; match them with errors.Is.
var (
	ErrNewerFormat = record.ErrNewerFormat
	ErrCorrupt     = record.ErrCorrupt
	ErrLocked      = errors.New("state: the store is in use")
)

// FormatVersion is the layout of keys and records this build writes.
// Format 2 added the buyers index; a store of format 1 gets it at its
// first writable open. Format 3 added Meta.Commits (metadata version 2;
// version 1 still reads, with no commits counted).
const FormatVersion = 3

// Options configures a Store. The zero value of a field means its default.
type Options struct {
	// Dir is the store's directory. Required.
	Dir string
	// FS is the filesystem; nil means the operating system's. Tests pass
	// vfs.NewMem() or vfs.NewCrashableMem().
	FS vfs.FS
	// CacheBytes is the block cache size, beside the memtables. Default 64 MiB.
	CacheBytes int64
	// MemTableBytes is the size of one memtable. Default 128 MiB: the outbox
	// records of a batch are written and deleted within seconds, and a
	// larger memtable lets more of them die before a compaction rewrites
	// them (BENCHMARKS.md: 12-19 % less CPU per event on the uniform curve
	// than 32 MiB, at up to 2 × 96 MiB more memory).
	MemTableBytes uint64
	// ReadOnly opens the store for reading only (inspect).
	ReadOnly bool
	// Log receives Pebble's own messages (informational ones at debug
	// level). Default: none.
	Log *zap.Logger
	// OnDiskFull is called once, at the first write to Dir that fails for
	// lack of space, from within Pebble's write (which waits for it). The
	// store cannot go on after it; `lifecycle run` logs and exits, which
	// loses nothing (a stop there is a crash). Nil: Open returns
	// ErrDiskFull; a later failed commit panics in Pebble.
	OnDiskFull func()
	// OnDiskSlow is called every 2 s for each write to Dir that has not
	// completed after 5 s (DiskSlow). Nil: slow writes go unreported.
	OnDiskSlow func(DiskSlow)
}

// Store is the processor's Pebble database.
type Store struct {
	db         *pebble.DB
	lock       *pebble.Lock // held from before Open's checks until Close; nil for a read-only open of a missing directory
	fs         vfs.FS
	dir        string
	health     io.Closer     // the disk health checks' monitor (watchHealth)
	slowWrites *atomic.Int64 // its reports of slow writes
}

// Open opens or creates the store in o.Dir.
func Open(o Options) (*Store, error) {
	if o.Dir == "" {
		return nil, errors.New("state: no directory given (set --state-dir)")
	}
	if o.CacheBytes == 0 {
		o.CacheBytes = 64 << 20
	}
	if o.MemTableBytes == 0 {
		o.MemTableBytes = 128 << 20
	}
	// Pebble reserves each memtable's size in the block cache (its memory
	// accounting), so the cache gets room for two, the one being written
	// and the one flushed or kept for reuse, on top of CacheBytes: a 64 MiB
	// cache beside 128 MiB memtables cached nothing (BENCHMARKS.md, "The
	// block cache held nothing").
	cache := pebble.NewCache(o.CacheBytes + 2*int64(o.MemTableBytes))
	defer cache.Unref()
	fs := o.FS
	if fs == nil {
		var err error
		if fs, err = diskFromEnv(vfs.Default); err != nil {
			return nil, err
		}
	}
	watch := newDiskWatch(o.OnDiskFull)
	slow := new(atomic.Int64)
	fs, health := watchHealth(vfs.OnDiskFull(fs, watch.fired), o.OnDiskSlow, slow)
	opts := &pebble.Options{
		FS:                 fs,
		Cache:              cache,
		MemTableSize:       o.MemTableBytes,
		FormatMajorVersion: pebble.FormatNewest,
		ReadOnly:           o.ReadOnly,
		ErrorIfNotExists:   o.ReadOnly,
		Logger:             pebbleLogger{o.Log},
	}
	// Bloom filters make the point lookups of cold users cheap (a miss in
	// most sstables is answered by the filter).
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	opts.EnsureDefaults()
	lock, err := lockAndCheck(opts.FS, o.Dir, o.ReadOnly)
	if err != nil {
		health.Close()
		return nil, err
	}
	opts.Lock = lock
	db, err := openWatched(o.Dir, opts, watch, health)
	if errors.Is(err, ErrDiskFull) {
		return nil, err
	}
	if err != nil {
		health.Close()
		if lock == nil {
			return nil, fmt.Errorf("state: open %s: %w", o.Dir, err)
		}
		lock.Close()
		return nil, damagedOr(o.Dir, err)
	}
	s := &Store{db: db, lock: lock, fs: opts.FS, dir: o.Dir, health: health, slowWrites: slow}
	if err := s.checkFormat(o.ReadOnly); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

var formatKey = []byte("gformat")

func (s *Store) checkFormat(readOnly bool) error {
	v, ok, err := s.get(formatKey)
	if err != nil {
		return err
	}
	if !ok {
		if readOnly {
			return fmt.Errorf("state: %w: no format version (not a lifecycle store?)", ErrCorrupt)
		}
		return s.db.Set(formatKey, binary.AppendUvarint(nil, FormatVersion), pebble.Sync)
	}
	got, n := binary.Uvarint(v)
	if n <= 0 {
		return fmt.Errorf("%w: format version does not decode", ErrCorrupt)
	}
	if got > FormatVersion {
		return fmt.Errorf("%w: store format %d, this build knows format %d or older; run a newer lifecycle or use another --state-dir", ErrNewerFormat, got, FormatVersion)
	}
	if got < FormatVersion && !readOnly {
		if got < 2 {
			if err := s.indexBuyers(); err != nil {
				return err
			}
		}
		return s.db.Set(formatKey, binary.AppendUvarint(nil, FormatVersion), pebble.Sync)
	}
	return nil
}

// Close closes the store and releases its directory.
func (s *Store) Close() error {
	err := s.db.Close()
	if s.lock != nil {
		err = errors.Join(err, s.lock.Close())
	}
	if s.health != nil {
		err = errors.Join(err, s.health.Close())
	}
	return err
}

// Metrics are Pebble's counters (write amplification, compactions, block
// cache), for the benchmarks.
func (s *Store) Metrics() *pebble.Metrics { return s.db.Metrics() }

// Sync makes every committed batch durable.
func (s *Store) Sync() error { return s.db.LogData(nil, pebble.Sync) }

// Meta returns partition p's metadata; ok is false when the store has none.
func (s *Store) Meta(p int32) (m record.Meta, ok bool, err error) {
	v, ok, err := s.get(metaKey(p))
	if err != nil || !ok {
		return record.Meta{Offsets: map[string]int64{}}, ok, err
	}
	m, err = record.DecodeMeta(v)
	return m, err == nil, err
}

// User returns the stored record of user id in partition p.
func (s *Store) User(p int32, id string) (r record.User, ok bool, err error) {
	v, ok, err := s.get(userKey(nil, p, id))
	if err != nil || !ok {
		return r, ok, err
	}
	r, err = record.DecodeUser(v)
	return r, err == nil, err
}

// ReadUsers reads the stored records of the users ids of partition p and
// calls fn for each id once, in id order; ok is false for a user the store
// does not hold. One iterator seeks them in key order: a Get builds its
// iterators over every level anew, and for the thousands of users outside
// the cache whose timers fall due in one pass that was most of the cost of
// reading them (BENCHMARKS.md, "Reading a timer pass's users in key
// order"). ids is not changed.
func (s *Store) ReadUsers(p int32, ids []string, fn func(id string, r record.User, ok bool) error) error {
	// An open iterator holds on to the memtables and tables it started
	// with; a new one every readUsersChunk users lets them go soon after a
	// flush or a compaction.
	for chunk := range slices.Chunk(slices.Compact(slices.Sorted(slices.Values(ids))), readUsersChunk) {
		if err := s.readSortedUsers(p, chunk, fn); err != nil {
			return err
		}
	}
	return nil
}

// readSortedUsers is ReadUsers for ids sorted and distinct, with one
// iterator.
func (s *Store) readSortedUsers(p int32, ids []string, fn func(id string, r record.User, ok bool) error) (err error) {
	key := partitionKey(nil, p, 'u')
	base := len(key)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: slices.Clone(key), UpperBound: partitionKey(nil, p, 'u'+1)})
	if err != nil {
		return fmt.Errorf("state: users: %w", err)
	}
	defer func() { err = errors.Join(err, it.Close()) }()
	for _, id := range ids {
		key = append(key[:base], id...)
		var r record.User
		found := it.SeekGE(key) && bytes.Equal(it.Key(), key)
		if found {
			var v []byte
			if v, err = it.ValueAndErr(); err == nil {
				r, err = record.DecodeUser(v)
			}
		} else {
			err = it.Error()
		}
		if err != nil {
			return fmt.Errorf("state: user %q: %w", id, err)
		}
		if err := fn(id, r, found); err != nil {
			return err
		}
	}
	return nil
}

// readUsersChunk is how many users ReadUsers seeks with one iterator.
const readUsersChunk = 256

func (s *Store) get(key []byte) ([]byte, bool, error) {
	v, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("state: get: %w", err)
	}
	defer closer.Close()
	return bytes.Clone(v), true, nil
}

// DueTimers returns up to limit timer entries of partition p with a wake
// time in [from, before), oldest first. A caller that knows no entry below
// from exists passes it: the scan then skips the deletion markers that
// moved timers leave at the start of the index.
func (s *Store) DueTimers(p int32, from, before int64, limit int) (due []record.Timer, next int64, err error) {
	prefix := partitionKey(nil, p, 't')
	lo := binary.BigEndian.AppendUint64(partitionKey(nil, p, 't'), uint64(max(from, 0)))
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: partitionKey(nil, p, 't'+1)})
	if err != nil {
		return nil, 0, fmt.Errorf("state: timers: %w", err)
	}
	next = math.MaxInt64
	for ok := it.First(); ok && len(due) < limit; ok = it.Next() {
		k := it.Key()[len(prefix):]
		wake := int64(binary.BigEndian.Uint64(k))
		if wake >= before {
			next = wake
			break
		}
		due = append(due, record.Timer{Wake: wake, UserID: string(k[8:])})
	}
	return due, next, errors.Join(it.Error(), it.Close())
}

// scan calls fn with the rest of the key (after partition and kind) and
// the value of every record of one kind of partition p, in key order, until
// fn fails; what names the records in an error. Both slices are only valid
// during the call.
func (s *Store) scan(p int32, kind byte, what string, fn func(rest, v []byte) error) error {
	lo := partitionKey(nil, p, kind)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: partitionKey(nil, p, kind+1)})
	if err != nil {
		return fmt.Errorf("state: %s: %w", what, err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		if err := fn(it.Key()[len(lo):], it.Value()); err != nil {
			it.Close()
			return err
		}
	}
	return errors.Join(it.Error(), it.Close())
}

// Outbox returns partition p's outbox records with their sequence numbers, in order.
func (s *Store) Outbox(p int32) (seqs []uint64, outs []record.Output, err error) {
	err = s.scan(p, 'o', "outbox", func(seq, v []byte) error {
		o, err := record.DecodeOutput(v)
		if err != nil {
			return err
		}
		seqs = append(seqs, binary.BigEndian.Uint64(seq))
		outs = append(outs, o)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return seqs, outs, nil
}

// Users calls fn for every user of partition p, in user id order.
func (s *Store) Users(p int32, fn func(id string, r record.User) error) error {
	return s.scan(p, 'u', "users", func(id, v []byte) error {
		r, err := record.DecodeUser(v)
		if err != nil {
			return err
		}
		return fn(string(id), r)
	})
}

// UserIDs calls fn for the id of every user of partition p, in id order.
// The id is only valid during the call.
func (s *Store) UserIDs(p int32, fn func(id []byte)) error {
	return s.scan(p, 'u', "user ids", func(id, _ []byte) error {
		fn(id)
		return nil
	})
}

// Partitions lists the partitions the store has metadata for, in order.
func (s *Store) Partitions() ([]int32, error) {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{'p'}, UpperBound: []byte{'q'}})
	if err != nil {
		return nil, fmt.Errorf("state: partitions: %w", err)
	}
	var ps []int32
	for ok := it.First(); ok; {
		k := it.Key()
		if len(k) < 6 {
			ok = it.Next()
			continue
		}
		p := int32(binary.BigEndian.Uint32(k[1:5]))
		if it.SeekGE(metaKey(p)) && bytes.Equal(it.Key(), metaKey(p)) {
			ps = append(ps, p)
		}
		// Skip the rest of this partition.
		ok = it.SeekGE(partitionKey(nil, p+1, 0))
	}
	return ps, errors.Join(it.Error(), it.Close())
}

// Batch collects the changes of one partition and commits them atomically.
// A Batch is used by one goroutine.
type Batch struct {
	b   *pebble.Batch
	p   int32
	key []byte
	val []byte
}

// NewBatch starts a batch for partition p.
func (s *Store) NewBatch(p int32) *Batch { return &Batch{b: s.db.NewBatch(), p: p} }

// PutUser writes user id's record and its entry of the buyers index, and
// moves its timer index entry from oldWake to r.Wake (0 means no entry).
func (b *Batch) PutUser(id string, r record.User, oldWake int64) error {
	b.val = record.AppendUser(b.val[:0], r)
	if err := b.PutUserEncoded(id, b.val, oldWake, r.Wake); err != nil {
		return err
	}
	if by, ok := record.BuyerOf(&r); ok {
		return b.PutBuyer(id, by)
	}
	return nil
}

// PutUserEncoded is PutUser for a record already in its stored form
// (EncodeRecord) whose Wake is wake, without the buyers index (PutBuyer).
func (b *Batch) PutUserEncoded(id string, enc []byte, oldWake, wake int64) error {
	b.key = userKey(b.key[:0], b.p, id)
	if err := b.b.Set(b.key, enc, nil); err != nil {
		return err
	}
	if oldWake == wake {
		return nil
	}
	if oldWake != 0 {
		if err := b.b.Delete(timerKey(b.key[:0], b.p, oldWake, id), nil); err != nil {
			return err
		}
	}
	if wake != 0 {
		return b.b.Set(timerKey(b.key[:0], b.p, wake, id), nil, nil)
	}
	return nil
}

// Clear deletes everything stored for the batch's partition (before a
// restore replaces it).
func (b *Batch) Clear() error {
	return b.b.DeleteRange(partitionKey(nil, b.p, 0), partitionKey(nil, b.p+1, 0), nil)
}

// DeleteTimer removes a timer index entry that no longer matches its user.
func (b *Batch) DeleteTimer(t record.Timer) error {
	return b.b.Delete(timerKey(b.key[:0], b.p, t.Wake, t.UserID), nil)
}

// PutOutput adds an output record to the outbox at sequence number seq.
func (b *Batch) PutOutput(seq uint64, o record.Output) error {
	b.val = record.AppendOutput(b.val[:0], o)
	return b.b.Set(outboxKey(b.key[:0], b.p, seq), b.val, nil)
}

// DeleteOutputs removes the outbox records with sequence numbers in [from, to).
func (b *Batch) DeleteOutputs(from, to uint64) error {
	if from >= to {
		return nil
	}
	return b.b.DeleteRange(outboxKey(nil, b.p, from), outboxKey(nil, b.p, to), nil)
}

// PutMeta writes the partition's metadata.
func (b *Batch) PutMeta(m record.Meta) error {
	b.val = record.AppendMeta(b.val[:0], m)
	return b.b.Set(metaKey(b.p), b.val, nil)
}

// Empty reports whether the batch holds no change.
func (b *Batch) Empty() bool { return b.b.Empty() }

// Commit applies the batch atomically (NoSync: see the package comment) and
// leaves it empty for reuse.
func (b *Batch) Commit() error {
	if err := b.b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("state: commit partition %d: %w", b.p, err)
	}
	b.b.Reset()
	return nil
}

// Close releases the batch without committing what it holds.
func (b *Batch) Close() error { return b.b.Close() }

func partitionKey(dst []byte, p int32, kind byte) []byte {
	dst = append(dst, 'p')
	dst = binary.BigEndian.AppendUint32(dst, uint32(p))
	return append(dst, kind)
}

func metaKey(p int32) []byte { return partitionKey(nil, p, 'm') }

func userKey(dst []byte, p int32, id string) []byte {
	return append(partitionKey(dst, p, 'u'), id...)
}

func timerKey(dst []byte, p int32, wake int64, id string) []byte {
	dst = binary.BigEndian.AppendUint64(partitionKey(dst, p, 't'), uint64(wake))
	return append(dst, id...)
}

func outboxKey(dst []byte, p int32, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(partitionKey(dst, p, 'o'), seq)
}

// pebbleLogger sends Pebble's messages to zap: its chatter at debug level,
// its background errors (failed compactions, for one) at error level.
type pebbleLogger struct{ log *zap.Logger }

func (l pebbleLogger) Infof(format string, args ...any) {
	if l.log != nil {
		l.log.Debug(fmt.Sprintf(format, args...), zap.String("component", "pebble"))
	}
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	if l.log != nil {
		l.log.Error(fmt.Sprintf(format, args...), zap.String("component", "pebble"))
	}
}

func (l pebbleLogger) Fatalf(format string, args ...any) {
	l.Errorf(format, args...)
	panic(fmt.Sprintf(format, args...))
}

// DropOutbox deletes partition p's whole outbox: for a state built by
// `lifecycle replay --handover`, whose outputs went where the replay sent
// them, so that the live run starting on it does not send them again.
func (s *Store) DropOutbox(p int32) error {
	m, ok, err := s.Meta(p)
	if err != nil || !ok {
		return err
	}
	b := s.NewBatch(p)
	err = b.DeleteOutputs(0, m.OutboxNext)
	if err == nil {
		err = b.Commit()
	}
	return errors.Join(err, b.Close())
}
