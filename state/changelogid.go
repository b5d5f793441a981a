package state

import "fmt"

// A partition's local state records the ID of the changelog topic it is
// logged to (or was restored or copied from). A changelog deleted and
// created anew under the same name has another ID and holds only what was
// written to it since, so a restore from it would bring back only the
// users written since: the owner must seed it from local state again
// (processor/generation.go, makeCurrent).

// ChangelogID returns the changelog topic ID partition p's local state was
// last logged to; ok is false when none is recorded (state from before the
// IDs were, or none at all).
func (s *Store) ChangelogID(p int32) (id [16]byte, ok bool, err error) {
	v, ok, err := s.get(partitionKey(nil, p, 'i'))
	if err != nil || !ok {
		return id, false, err
	}
	if len(v) != len(id) {
		return id, false, fmt.Errorf("%w: changelog ID of partition %d has %d bytes", ErrCorrupt, p, len(v))
	}
	copy(id[:], v)
	return id, true, nil
}

// PutChangelogID records that the partition's local state is logged to (or
// copied from) the changelog topic with ID id. After a Clear in the same
// batch it is kept: a restore's or a standby's fresh copy names its source.
func (b *Batch) PutChangelogID(id [16]byte) error {
	return b.b.Set(partitionKey(b.key[:0], b.p, 'i'), id[:], nil)
}

// SetChangelogID records that partition p's local state is logged to the
// changelog topic with ID id.
func (s *Store) SetChangelogID(p int32, id [16]byte) error {
	b := s.NewBatch(p)
	defer b.Close()
	if err := b.PutChangelogID(id); err != nil {
		return err
	}
	return b.Commit()
}
