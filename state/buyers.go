package state

import (
	"fmt"

	"github.com/lifecycle-engine/lifecycle/state/record"
)

// Buyers calls fn for every buyer of partition p, in user id order. The id
// is only valid during the call.
func (s *Store) Buyers(p int32, fn func(id []byte, b *record.Buyer) error) error {
	return s.scan(p, 'b', "buyers", func(id, v []byte) error {
		b, err := record.DecodeBuyer(v)
		if err != nil {
			return err
		}
		return fn(id, &b)
	})
}

// PutBuyer writes user id's entry of the buyers index. PutUser writes it
// itself; a caller of PutUserEncoded writes it when it changed.
func (b *Batch) PutBuyer(id string, by record.Buyer) error {
	b.val = record.AppendBuyer(b.val[:0], by)
	b.key = buyerKey(b.key[:0], b.p, id)
	return b.b.Set(b.key, b.val, nil)
}

func buyerKey(dst []byte, p int32, id string) []byte {
	return append(partitionKey(dst, p, 'b'), id...)
}

// indexBuyers writes the buyers index of every partition from the user
// records: a store of format 1 has none.
func (s *Store) indexBuyers() error {
	ps, err := s.Partitions()
	if err != nil {
		return err
	}
	for _, p := range ps {
		b := s.NewBatch(p)
		err := s.Users(p, func(id string, r record.User) error {
			if by, ok := record.BuyerOf(&r); ok {
				if err := b.PutBuyer(id, by); err != nil {
					return err
				}
			}
			if b.b.Len() < 4<<20 {
				return nil
			}
			return b.Commit()
		})
		if err == nil {
			err = b.Commit()
		}
		b.Close()
		if err != nil {
			return fmt.Errorf("state: indexing the buyers of partition %d: %w", p, err)
		}
	}
	return nil
}
