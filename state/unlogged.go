package state

import (
	"encoding/binary"
	"fmt"
)

// The changelog marker: why it exists.
//
// A batch is committed to Pebble first and reaches the changelog topic
// later (after its outputs). A crash in between leaves local state ahead of
// the changelog; a restart on the same disk then finds its state current
// and goes on, and without a record of the gap the changelog would never
// get that batch's users: a later restore would combine a newer partition
// metadata (offsets) with older user records. So every batch also stores,
// in the same atomic Pebble write, a marker with the ids of the users it
// changed; the sender deletes the markers once the changelog acknowledged
// their batches, and a start republishes the users of any marker left
// (ARCHITECTURE.md, invariant 7).

// PutUnlogged stores the marker of batch seq: ids are the users the batch
// changed (none for a batch that moved only the metadata).
func (b *Batch) PutUnlogged(seq uint64, ids []string) error {
	b.val = b.val[:0]
	for _, id := range ids {
		b.val = binary.AppendUvarint(b.val, uint64(len(id)))
		b.val = append(b.val, id...)
	}
	return b.b.Set(unloggedKey(b.key[:0], b.p, seq), b.val, nil)
}

// DeleteUnlogged removes the markers of batches [from, to): the changelog
// holds them.
func (b *Batch) DeleteUnlogged(from, to uint64) error {
	if from >= to {
		return nil
	}
	return b.b.DeleteRange(unloggedKey(nil, b.p, from), unloggedKey(nil, b.p, to), nil)
}

// Unlogged returns the markers partition p holds: the sequence numbers
// [from, to) they span (from == to when there is none) and the ids of the
// users they name, each once.
func (s *Store) Unlogged(p int32) (from, to uint64, ids []string, err error) {
	seen := map[string]bool{}
	first := true
	err = s.scan(p, 'c', "changelog markers", func(k, v []byte) error {
		if len(k) != 8 {
			return fmt.Errorf("%w: changelog marker key of %d bytes", ErrCorrupt, len(k))
		}
		seq := binary.BigEndian.Uint64(k)
		if first {
			from, first = seq, false
		}
		to = seq + 1
		for len(v) > 0 {
			n, w := binary.Uvarint(v)
			if w <= 0 || uint64(len(v)-w) < n {
				return fmt.Errorf("%w: changelog marker %d", ErrCorrupt, seq)
			}
			id := string(v[w : w+int(n)])
			v = v[w+int(n):]
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
		return nil
	})
	return from, to, ids, err
}

func unloggedKey(dst []byte, p int32, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(partitionKey(dst, p, 'c'), seq)
}
