package state

import (
	"reflect"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// The changelog markers of a partition survive a reopen with the batch
// they were committed in, name each user once, stay within their
// partition, and are gone once deleted.
func TestUnloggedMarkers(t *testing.T) {
	fs := vfs.NewMem()
	s := openMem(t, fs)
	b := s.NewBatch(3)
	for seq, ids := range [][]string{{"u1", "u2"}, {}, {"u2", "ü3"}} {
		if err := b.PutUnlogged(uint64(seq+5), ids); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	other := s.NewBatch(4)
	if err := other.PutUnlogged(0, []string{"x"}); err != nil {
		t.Fatal(err)
	}
	if err := other.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openMem(t, fs)
	defer s.Close()

	from, to, ids, err := s.Unlogged(3)
	if err != nil {
		t.Fatal(err)
	}
	if from != 5 || to != 8 || !reflect.DeepEqual(ids, []string{"u1", "u2", "ü3"}) {
		t.Fatalf("Unlogged(3) = [%d, %d) %q, want [5, 8) [u1 u2 ü3]", from, to, ids)
	}
	b = s.NewBatch(3)
	if err := b.DeleteUnlogged(5, 7); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if from, to, ids, _ = s.Unlogged(3); from != 7 || to != 8 || !reflect.DeepEqual(ids, []string{"u2", "ü3"}) {
		t.Fatalf("after deleting [5, 7): [%d, %d) %q, want [7, 8) [u2 ü3]", from, to, ids)
	}
	if err := b.DeleteUnlogged(0, 8); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if from, to, ids, _ = s.Unlogged(3); from != to || len(ids) != 0 {
		t.Fatalf("after deleting all: [%d, %d) %q, want none", from, to, ids)
	}
	if _, _, ids, _ = s.Unlogged(4); !reflect.DeepEqual(ids, []string{"x"}) {
		t.Fatalf("partition 4's marker: %q, want [x]", ids)
	}
}
