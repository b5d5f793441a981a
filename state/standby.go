package state

import (
	"encoding/binary"
	"fmt"
)

// A partition whose local state is a standby copy (a replica kept by
// tailing another instance's changelog, not state this instance made)
// carries its changelog position: the offset of the next changelog record
// to apply. A promotion goes on from there instead of restoring from the
// start, and then deletes the position; state without one is the owner's.

// PutStandby records that the partition is a standby copy that has applied
// the changelog up to offset next.
func (b *Batch) PutStandby(next int64) error {
	b.val = binary.AppendUvarint(b.val[:0], uint64(next))
	return b.b.Set(partitionKey(b.key[:0], b.p, 's'), b.val, nil)
}

// DeleteStandby marks the partition's state as the owner's (promoted).
func (b *Batch) DeleteStandby() error {
	return b.b.Delete(partitionKey(b.key[:0], b.p, 's'), nil)
}

// Standby returns partition p's changelog position when its local state is
// a standby copy; ok is false when it is not.
func (s *Store) Standby(p int32) (next int64, ok bool, err error) {
	v, ok, err := s.get(partitionKey(nil, p, 's'))
	if err != nil || !ok {
		return 0, false, err
	}
	n, w := binary.Uvarint(v)
	if w <= 0 {
		return 0, false, fmt.Errorf("%w: standby position of partition %d", ErrCorrupt, p)
	}
	return int64(n), true, nil
}
