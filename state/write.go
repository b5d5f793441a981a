package state

import (
	"errors"

	"github.com/lifecycle-engine/lifecycle/state/record"
)

// Write applies w to partition p atomically: the users with their timer
// index moves, the buyers index, the outbox, the retention records, the
// metadata and the changelog marker, all or nothing (NoSync: see the
// package comment). It is the one way the engine writes
// (processor/engine.Store).
func (s *Store) Write(p int32, w *record.Write) error {
	b := s.NewBatch(p)
	err := b.put(w)
	if err == nil {
		err = b.Commit()
	}
	return errors.Join(err, b.Close())
}

func (b *Batch) put(w *record.Write) error {
	for _, u := range w.Users {
		if err := b.PutUserEncoded(u.ID, u.Enc, u.OldWake, u.Wake); err != nil {
			return err
		}
	}
	for _, by := range w.Buyers {
		if err := b.PutBuyer(by.ID, by.Buyer); err != nil {
			return err
		}
	}
	for _, t := range w.StaleTimers {
		if err := b.DeleteTimer(t); err != nil {
			return err
		}
	}
	for i, o := range w.Outputs {
		if err := b.PutOutput(w.OutboxFrom+uint64(i), o); err != nil {
			return err
		}
	}
	for _, r := range w.Retention {
		if err := b.PutRetention(r); err != nil {
			return err
		}
	}
	if err := b.PutMeta(w.Meta); err != nil {
		return err
	}
	if m := w.Marker; m != nil {
		return b.PutUnlogged(m.Seq, m.IDs)
	}
	return nil
}
