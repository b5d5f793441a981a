package offline

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/lifecycle-engine/lifecycle/processor/produce"
)

// Spool keeps an archive's records on disk, one file per partition and
// input topic, in the order added, so that RunFrom reads each partition's
// as its engine takes them: a replay of an archive then holds the users'
// state, not the archive (which Add would hold in memory, about 0.5 KB an
// event).
type Spool struct {
	dir        string
	partitions int32
	files      [][]*os.File // partition → topic
	writers    [][]*bufio.Writer
	records    int64
	err        error // the first write error; Add does nothing after it
	scratch    []byte
}

// NewSpool makes a spool in a new directory under dir ("" for the
// system's temporary directory) for partitions partitions of topics
// input topics. Close removes it.
func NewSpool(dir string, partitions int32, topics int) (*Spool, error) {
	d, err := os.MkdirTemp(dir, "lifecycle-replay-spool-")
	if err != nil {
		return nil, fmt.Errorf("replay: the spool for the archive: %w", err)
	}
	s := &Spool{dir: d, partitions: partitions, files: make([][]*os.File, partitions), writers: make([][]*bufio.Writer, partitions)}
	for p := range partitions {
		s.files[p] = make([]*os.File, topics)
		s.writers[p] = make([]*bufio.Writer, topics)
		for t := range topics {
			f, err := os.Create(filepath.Join(d, fmt.Sprintf("%d-%d", p, t)))
			if err != nil {
				s.Close()
				return nil, fmt.Errorf("replay: the spool for the archive: %w", err)
			}
			s.files[p][t], s.writers[p][t] = f, bufio.NewWriterSize(f, 64<<10)
		}
	}
	return s, nil
}

// Add spools rec in the partition its key hashes to, as Runner.Add
// queues it. A write error is kept for Err.
func (s *Spool) Add(rec Record) {
	if s.err != nil {
		return
	}
	p := produce.PartitionOf(rec.Key, s.partitions)
	b := binary.AppendUvarint(s.scratch[:0], uint64(len(rec.Key)))
	b = append(b, rec.Key...)
	b = binary.AppendUvarint(b, uint64(len(rec.Value)))
	b = append(b, rec.Value...)
	b = binary.AppendVarint(b, rec.Time)
	s.scratch = b
	if _, err := s.writers[p][rec.Topic].Write(b); err != nil {
		s.err = fmt.Errorf("replay: writing the spool in %s: %w", s.dir, err)
		return
	}
	s.records++
}

// Err is the first error Add met, after flushing what it spooled: call it
// once every record is added, before Read.
func (s *Spool) Err() error {
	for _, ws := range s.writers {
		for _, w := range ws {
			if err := w.Flush(); err != nil && s.err == nil {
				s.err = fmt.Errorf("replay: writing the spool in %s: %w", s.dir, err)
			}
		}
	}
	return s.err
}

// Records is how many records were spooled.
func (s *Spool) Records() int64 { return s.records }

// Read reads partition p of input topic topic back, with the offsets
// Runner.Add would give them (0, 1, …): a Source for RunFrom.
func (s *Spool) Read(ctx context.Context, p int32, topic int, add func(offset int64, rec Record)) error {
	f, err := os.Open(s.files[p][topic].Name())
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64<<10)
	for off := int64(0); ; off++ {
		if off%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		n, err := binary.ReadUvarint(r)
		if errors.Is(err, io.EOF) {
			return nil
		}
		rec := Record{Topic: topic}
		if err == nil {
			rec.Key, err = readN(r, n)
		}
		if err == nil {
			n, err = binary.ReadUvarint(r)
		}
		if err == nil {
			rec.Value, err = readN(r, n)
		}
		if err == nil {
			rec.Time, err = binary.ReadVarint(r)
		}
		if err != nil {
			return fmt.Errorf("replay: reading the spool %s: %w", f.Name(), err)
		}
		add(off, rec)
	}
}

// maxSpooled bounds a length read back from the spool: far above any
// record an archive reader hands on (ReadNDJSON's lines are at most 16
// MiB), so that a damaged file is an error, not an allocation.
const maxSpooled = 256 << 20

func readN(r io.Reader, n uint64) ([]byte, error) {
	if n > maxSpooled {
		return nil, fmt.Errorf("a record of %d bytes: the file is damaged", n)
	}
	b := make([]byte, n)
	_, err := io.ReadFull(r, b)
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return b, err
}

// Close removes the spool.
func (s *Spool) Close() error {
	for _, fs := range s.files {
		for _, f := range fs {
			if f != nil {
				f.Close()
			}
		}
	}
	return os.RemoveAll(s.dir)
}
