package state

import (
	"bytes"

	"github.com/lifecycle-engine/lifecycle/processor/retention"
)

// PutRetention writes (or, with an empty Value, deletes) one of the
// partition's retention records.
func (b *Batch) PutRetention(r retention.KV) error {
	b.key = append(partitionKey(b.key[:0], b.p, 'r'), r.Key...)
	if len(r.Value) == 0 {
		return b.b.Delete(b.key, nil)
	}
	return b.b.Set(b.key, r.Value, nil)
}

// Retention returns partition p's retention records.
func (s *Store) Retention(p int32) ([]retention.KV, error) {
	var out []retention.KV
	err := s.scan(p, 'r', "retention", func(k, v []byte) error {
		out = append(out, retention.KV{Key: string(k), Value: bytes.Clone(v)})
		return nil
	})
	return out, err
}
