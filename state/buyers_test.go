package state

import (
	"encoding/binary"
	"maps"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/lifecycle-engine/lifecycle/state/record"
)

// buyersOf reads partition p's buyers index.
func buyersOf(t *testing.T, s *Store, p int32) map[string]record.Buyer {
	t.Helper()
	got := map[string]record.Buyer{}
	if err := s.Buyers(p, func(id []byte, b *record.Buyer) error {
		got[string(id)] = *b
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

// TestPutUserIndexesBuyers: PutUser keeps the buyers index of the users it
// writes, and only of buyers; Partitions still finds a partition whose
// first keys are the index's.
func TestPutUserIndexesBuyers(t *testing.T) {
	s := openMem(t, vfs.NewMem())
	defer s.Close()
	b := s.NewBatch(4)
	buyer, browser := sampleRecord(1), sampleRecord(2)
	browser.User.Purchases = 0
	must(t, b.PutUser("a-buyer", buyer, 0))
	must(t, b.PutUser("b-browser", browser, 0))
	must(t, b.PutMeta(record.Meta{Offsets: map[string]int64{}}))
	must(t, b.Commit())
	want, _ := record.BuyerOf(&buyer)
	if got := buyersOf(t, s, 4); !maps.Equal(got, map[string]record.Buyer{"a-buyer": want}) {
		t.Fatalf("buyers index %+v, want only a-buyer: %+v", got, want)
	}
	ps, err := s.Partitions()
	if err != nil || len(ps) != 1 || ps[0] != 4 {
		t.Fatalf("Partitions() = %v, %v; want [4]", ps, err)
	}
}

// TestFormat1GetsBuyersIndex: a store written before the buyers index
// existed gets it when opened for writing, and is then of the current format.
func TestFormat1GetsBuyersIndex(t *testing.T) {
	fs := vfs.NewMem()
	s := openMem(t, fs)
	b := s.NewBatch(1)
	want := map[string]record.Buyer{}
	for i := range int64(5) {
		r := sampleRecord(i)
		if i == 3 {
			r.User.Purchases = 0
		}
		id := "u-" + string(rune('a'+i))
		// A format-1 build wrote the record only.
		must(t, b.PutUserEncoded(id, record.EncodeUser(r), 0, r.Wake))
		if by, ok := record.BuyerOf(&r); ok {
			want[id] = by
		}
	}
	must(t, b.PutMeta(record.Meta{Offsets: map[string]int64{}}))
	must(t, b.Commit())
	must(t, s.db.Set(formatKey, binary.AppendUvarint(nil, 1), pebble.Sync))
	s.Close()

	s = openMem(t, fs)
	defer s.Close()
	if got := buyersOf(t, s, 1); !maps.Equal(got, want) {
		t.Fatalf("buyers index after opening a format-1 store: %+v, want %+v", got, want)
	}
	v, _, err := s.get(formatKey)
	if got, _ := binary.Uvarint(v); err != nil || got != FormatVersion {
		t.Fatalf("format after the upgrade: %d, %v; want %d", got, err, FormatVersion)
	}
}
