package processor

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"go.uber.org/zap/zaptest"

	"github.com/lifecycle-engine/lifecycle/processor/kafkatest"
	"github.com/lifecycle-engine/lifecycle/processor/retention"
	"github.com/lifecycle-engine/lifecycle/state"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

// changelogCycle is one batch's changelog records as the sender gets them:
// users, retention records, then the metadata.
func changelogCycle(commit uint64, users ...string) []kafka.Message {
	var msgs []kafka.Message
	for _, u := range users {
		var r record.User
		r.Offsets[0] = int64(commit)
		msgs = append(msgs, userRecord("cl", 0, u, record.EncodeUser(r)))
	}
	msgs = append(msgs, retentionRecord("cl", 0, retention.KV{Key: "day", Value: fmt.Appendf(nil, "%d", commit)}))
	return append(msgs, metaRecord("cl", 0, record.Meta{Commits: commit, Offsets: map[string]int64{"in": int64(commit)}}))
}

func TestChangelogWritesFitOneProduceBatch(t *testing.T) {
	one := changelogCycle(1, "a", "b")
	if got := changelogWrites(one, chunkLimits{records: 10, bytes: 1 << 20}); len(got) != 1 || len(got[0]) != len(one) || got[0][0].Key[0] == changelogGroup {
		t.Fatalf("a write that fits one produce batch is that batch, as it is; got %d chunks", len(got))
	}

	// Three gathered batches, cut by records and by bytes.
	var gathered []kafka.Message
	for c := uint64(1); c <= 3; c++ {
		gathered = append(gathered, changelogCycle(c, "a", "b", fmt.Sprint("new", c))...)
	}
	for _, lim := range []chunkLimits{{records: 4, bytes: 1 << 20}, {records: 100, bytes: 3 * messageBytes(gathered[0])}} {
		chunks := changelogWrites(gathered, lim)
		if len(chunks) < 2 {
			t.Fatalf("%+v: %d chunks, want several", lim, len(chunks))
		}
		var all []kafka.Message
		for i, c := range chunks {
			size := 0
			for _, m := range c {
				size += messageBytes(m)
			}
			if len(c) > lim.records || size > lim.bytes {
				t.Errorf("%+v: chunk %d has %d records, %d bytes: more than one produce batch", lim, i, len(c), size)
			}
			all = append(all, c...)
		}
		if all[0].Key[0] != changelogGroup {
			t.Errorf("%+v: the write does not open with a group record", lim)
		}
		var metas, users int
		for _, m := range all {
			metas += btoi(isMeta(m))
			users += btoi(m.Key[0] == changelogUser)
		}
		last := all[len(all)-1]
		if metas != 1 || !isMeta(last) || !bytes.Equal(last.Value, gathered[len(gathered)-1].Value) {
			t.Errorf("%+v: %d metadata records, the last record a metadata one %v: want only the newest, last", lim, metas, isMeta(last))
		}
		if users != 9 {
			t.Errorf("%+v: %d user records written, want all 9", lim, users)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// applyLog opens an applier (fresh; standby or not) on a new store and
// gives it log, numbered from offset 0, then commits.
func applyLog(t *testing.T, standby bool, log []kafka.Message) (*applier, *state.Store) {
	t.Helper()
	store := openStore(t, vfs.NewMem())
	t.Cleanup(func() { store.Close() })
	a, err := newApplier(store, 0, true, standby)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.b.Close() })
	for i := range log {
		log[i].Offset = int64(i)
		if err := a.add(log[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.commit(int64(len(log))); err != nil {
		t.Fatal(err)
	}
	return a, store
}

// TestApplierDropsWritesCutShort: a group whose metadata record never
// came (a crash between its chunks) is not applied, whether the next
// write opens another group or the changelog ends; a chunk repeated by a
// retry changes nothing; records outside groups apply as they come.
func TestApplierDropsWritesCutShort(t *testing.T) {
	group := kafka.Message{Key: []byte{changelogGroup}}
	var log []kafka.Message
	add := func(msgs ...kafka.Message) { log = append(log, msgs...) }
	add(changelogCycle(1, "a", "b")...)          // before groups: applied as it comes
	add(group)                                   // commit 2, whole: a, c
	add(changelogCycle(2, "a")[:1]...)           // its first chunk
	add(group)                                   // the first chunk again (a retry)
	add(changelogCycle(2, "a", "c")...)          // then all of it
	add(group)                                   // commit 3, cut short: a, b, d and day=3, no metadata
	add(changelogCycle(3, "a", "b", "d")[:4]...) //
	add(group)                                   // the next owner's commit 3: b only
	add(changelogCycle(3, "b")...)               //
	add(group)                                   // commit 4, cut short at the end of the changelog
	add(changelogCycle(4, "a", "e")[:2]...)      //
	a, store := applyLog(t, false, log)
	if _, err := a.finish(); err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"a": 2, "b": 3, "c": 2}
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		r, ok, err := store.User(0, id)
		switch {
		case err != nil:
			t.Fatal(err)
		case ok != (want[id] != 0):
			t.Errorf("user %s stored %v, want %v", id, ok, want[id] != 0)
		case ok && r.Offsets[0] != want[id]:
			t.Errorf("user %s is at commit %d, want %d", id, r.Offsets[0], want[id])
		}
	}
	ret, err := store.Retention(0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ret) != 1 || string(ret[0].Value) != "3" {
		t.Errorf("retention records %v, want day=3 (the next owner's, not the cut write's)", ret)
	}
	meta, _, err := store.Meta(0)
	if err != nil || meta.Commits != 3 {
		t.Errorf("metadata at commit %d (%v), want 3", meta.Commits, err)
	}
	if a.dropped != 1+4+2 {
		t.Errorf("%d records dropped, want 7: the repeated chunk's first copy and the two writes cut short", a.dropped)
	}
}

// TestStandbyPositionBeforeOpenGroup: a standby that stops inside a group
// reads it again from its group record, not from where it stopped.
func TestStandbyPositionBeforeOpenGroup(t *testing.T) {
	log := append(changelogCycle(1, "a"), kafka.Message{Key: []byte{changelogGroup}})
	log = append(log, changelogCycle(2, "a", "b")[:2]...)
	_, store := applyLog(t, true, log)
	at, ok, err := store.Standby(0)
	if err != nil || !ok || at != 3 {
		t.Errorf("standby position %d (%v, %v), want 3: the open group's record", at, ok, err)
	}
}

// TestGatheredChangelogKeepsNewestPerKey: a write of several gathered
// batches keeps the last record of each key, where it stood, and restores
// to the very state the whole write does; a single batch is left alone.
func TestGatheredChangelogKeepsNewestPerKey(t *testing.T) {
	one := changelogCycle(1, "a", "b")
	if got := newestByKey(slices.Clone(one), map[string]int{}); !slices.EqualFunc(got, one, sameRecord) {
		t.Errorf("one batch changed: %d records of %d", len(got), len(one))
	}
	var gathered []kafka.Message
	for _, c := range [][]kafka.Message{one, changelogCycle(2, "a", "c"), changelogCycle(3, "b")} {
		gathered = append(gathered, c...)
	}
	got := newestByKey(slices.Clone(gathered), map[string]int{})
	// a at commit 2, c at 2, b at 3, the day at 3, the metadata of 3.
	want := append(changelogCycle(2, "a", "c")[:2:2], changelogCycle(3, "b")...)
	if !slices.EqualFunc(got, want, sameRecord) {
		t.Fatalf("kept %d records %q, want %d %q", len(got), keys(got), len(want), keys(want))
	}

	_, full := applyLog(t, false, slices.Clone(gathered))
	_, kept := applyLog(t, false, got)
	for _, id := range []string{"a", "b", "c"} {
		f, fok, ferr := full.User(0, id)
		k, kok, kerr := kept.User(0, id)
		if ferr != nil || kerr != nil || fok != kok || f.Offsets != k.Offsets {
			t.Errorf("user %s restored at %v (%v, %v) from the kept records, at %v (%v, %v) from all", id, k.Offsets[0], kok, kerr, f.Offsets[0], fok, ferr)
		}
	}
	fr, _ := full.Retention(0)
	kr, _ := kept.Retention(0)
	if !slices.EqualFunc(fr, kr, func(x, y retention.KV) bool { return x.Key == y.Key && bytes.Equal(x.Value, y.Value) }) {
		t.Errorf("retention restored as %v from the kept records, %v from all", kr, fr)
	}
	fm, _, _ := full.Meta(0)
	km, _, _ := kept.Meta(0)
	if fm.Commits != km.Commits || fm.Offsets["in"] != km.Offsets["in"] {
		t.Errorf("metadata restored as %+v from the kept records, %+v from all", km, fm)
	}
}

func sameRecord(x, y kafka.Message) bool {
	return bytes.Equal(x.Key, y.Key) && bytes.Equal(x.Value, y.Value)
}

func keys(msgs []kafka.Message) []string {
	var ks []string
	for _, m := range msgs {
		ks = append(ks, string(m.Key))
	}
	return ks
}

// orderedWriter records, in one sequence, what each of several writers
// wrote: which kind of write came first.
type orderedWriter struct{ log *[]string }

func (w orderedWriter) as(kind string) messageWriter { return kindWriter{w.log, kind} }

type kindWriter struct {
	log  *[]string
	kind string
}

func (w kindWriter) WriteMessages(_ context.Context, msgs ...kafka.Message) error {
	for range msgs {
		*w.log = append(*w.log, w.kind)
	}
	return nil
}

// TestSeedAfterOutbox: a start on local state with an empty changelog
// (created anew, or a crash before its first write) seeds it with every
// user, so the outputs those users' batches left in the outbox must be
// acknowledged before the seed is written, as each batch's outputs come
// before its changelog records. Seeded first, a crash before the resend
// and a restore elsewhere lost them (TestFaultSequences, seed
// 764735230021). A failed write of the seed is retried in place.
func TestSeedAfterOutbox(t *testing.T) {
	store := openStore(t, vfs.NewMem())
	defer store.Close()
	b := store.NewBatch(0)
	for _, err := range []error{
		b.PutUser("u1", record.User{}, 0),
		b.PutOutput(7, record.Output{Topic: "out", Key: []byte("u1"), Value: []byte(`{"id":"a"}`)}),
		b.PutOutput(8, record.Output{Topic: "out", Key: []byte("u1"), Value: []byte(`{"id":"b"}`)}),
		b.PutMeta(record.Meta{Commits: 2, Offsets: map[string]int64{"in": 5}}),
		b.Commit(),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	p := &Processor{cfg: Config{Topics: Topics{Inputs: []string{"in"}, Changelog: "cl", DLQ: "dlq"}}, store: store}
	var order []string
	w := orderedWriter{&order}
	// The seed's first write fails as kafka-go fails one after its own
	// attempts (the topic being created anew): it is retried in place.
	failures := 1
	changelog := writerFunc(func(ctx context.Context, msgs ...kafka.Message) error {
		if failures > 0 {
			failures--
			return kafka.LeaderNotAvailable
		}
		return w.as("changelog").WriteMessages(ctx, msgs...)
	})
	a := assignment{id: 0, committed: map[string]int64{}, log: zaptest.NewLogger(t),
		ends: kadm.ListedOffsets{"cl": {0: {Topic: "cl", Partition: 0, Offset: 0}}}, w: writers{outputs: w.as("output"), changelog: changelog}}
	stats := newPartitionStats()
	seeded, _, err := p.makeCurrent(context.Background(), &a, stats)
	if err != nil || !seeded {
		t.Fatalf("makeCurrent = %v, %v; want the changelog seeded", seeded, err)
	}
	if i := slices.Index(order, "changelog"); i != 2 || slices.Contains(order[i:], "output") {
		t.Fatalf("writes in order %v: want the 2 outputs of the outbox, then the seed", order)
	}
	if n := stats.sendErrors.Load(); n != 1 {
		t.Errorf("%d failed writes counted, want the seed's 1", n)
	}
	if seqs, _, err := store.Outbox(0); err != nil || len(seqs) != 0 {
		t.Errorf("outbox after the seed: %v (%v), want empty: its outputs were sent, and the seed holds their state", seqs, err)
	}
}

// TestRestoreKeepsTheChangelogID: a partition whose local state is behind
// the group's offsets (another instance went on with it) is restored, and
// the restore empties the partition, the record of its changelog's topic
// ID too. The state must know the ID again afterwards even when it is the
// one it knew before: without it, a changelog deleted and created anew
// later is not seen, not seeded, and a state loss after that restores
// only what was written to it since (TestFaultSequences, soak seed
// 940976195067, lost half the users so).
func TestRestoreKeepsTheChangelogID(t *testing.T) {
	store := openStore(t, vfs.NewMem())
	defer store.Close()
	id := kadm.TopicID{1, 2, 3}
	b := store.NewBatch(0)
	for _, err := range []error{
		b.PutUser("u1", record.User{}, 0),
		b.PutMeta(record.Meta{Commits: 2, Offsets: map[string]int64{"in": 5}}),
		b.PutChangelogID(id),
		b.Commit(),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	p := &Processor{cfg: Config{Topics: Topics{Inputs: []string{"in"}, Changelog: "cl", DLQ: "dlq"}}, store: store}
	none := writerFunc(func(context.Context, ...kafka.Message) error { return nil })
	a := assignment{id: 0, committed: map[string]int64{"in": 9}, changelogID: id, log: zaptest.NewLogger(t),
		ends: kadm.ListedOffsets{"cl": {0: {Topic: "cl", Partition: 0, Offset: 0}}}, w: writers{outputs: none, changelog: none}}
	if _, _, err := p.makeCurrent(context.Background(), &a, newPartitionStats()); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := store.User(0, "u1"); err != nil || ok {
		t.Fatalf("user u1 after makeCurrent: %v, %v; want the partition restored (emptied: the changelog is empty)", ok, err)
	}
	if got, ok, err := store.ChangelogID(0); err != nil || !ok || got != id {
		t.Errorf("changelog ID after the restore: %v, known %v, %v; want %v", kadm.TopicID(got), ok, err, id)
	}
}

// TestCurrentStateSeedsAChangelogStampedWithAnother: a current local
// state that does not know its changelog's topic ID (restored before
// recordChangelogID, or older than the IDs) meets a changelog whose newest
// metadata names another topic: it was deleted and created anew, and an
// owner that had not noticed wrote to the new one. A restore from it is
// refused (changelogSeeded), so this state, which holds the partition's
// users, must seed it; taken as current and left so, the new topic never
// gets them, and a later state loss brings back only those written since.
func TestCurrentStateSeedsAChangelogStampedWithAnother(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	cl := kafkatest.Name(t, "cl")
	kafkatest.CreateTopics(t, brokers, 1, cl)
	deleted, now := kadm.TopicID{9, 9, 9}, kadm.TopicID{1, 2, 3}
	meta := record.Meta{Commits: 2, Offsets: map[string]int64{"in": 9}}
	var unnoticed []kafka.Message
	stampOwnership(writerFunc(func(_ context.Context, ms ...kafka.Message) error { unnoticed = append(unnoticed, ms...); return nil }),
		ownershipEpoch(0, 1), stamps{changelog: deleted}).WriteMessages(context.Background(), metaRecord(cl, 0, meta))
	kafkatest.Produce(t, brokers, unnoticed...)

	store := openStore(t, vfs.NewMem())
	defer store.Close()
	b := store.NewBatch(0)
	for _, err := range []error{b.PutUser("u1", record.User{}, 0), b.PutMeta(meta), b.Commit()} {
		if err != nil {
			t.Fatal(err)
		}
	}
	var written []kafka.Message
	capture := writerFunc(func(_ context.Context, ms ...kafka.Message) error { written = append(written, ms...); return nil })
	p := &Processor{cfg: Config{Conn: Conn{Brokers: brokers}, Topics: Topics{Inputs: []string{"in"}, Changelog: cl, DLQ: "dlq"}}, store: store}
	a := assignment{id: 0, committed: map[string]int64{"in": 9}, changelogID: now, log: zaptest.NewLogger(t),
		ends: kadm.ListedOffsets{cl: {0: {Topic: cl, Partition: 0, Offset: 1}}}, w: writers{outputs: capture, changelog: capture}}
	seeded, _, err := p.makeCurrent(context.Background(), &a, newPartitionStats())
	if err != nil || !seeded {
		t.Fatalf("makeCurrent = seeded %v, %v; want the changelog seeded from the current local state", seeded, err)
	}
	var seededUser, seededMeta bool
	for _, m := range written {
		seededUser = seededUser || string(m.Key) != string([]byte{changelogMeta}) && bytes.Contains(m.Key, []byte("u1"))
		seededMeta = seededMeta || isMeta(m) && stampsOf(m).changelog == now
	}
	if !seededUser || !seededMeta {
		t.Errorf("the seed wrote user u1: %v, metadata stamped with the new topic's ID: %v; want both (%d records)", seededUser, seededMeta, len(written))
	}
	if got, ok, err := store.ChangelogID(0); err != nil || !ok || got != now {
		t.Errorf("changelog ID after the seed: %v, known %v, %v; want %v", kadm.TopicID(got), ok, err, now)
	}
}

// stamped is msgs as a changelog writer of epoch writes them.
func stamped(epoch uint64, msgs []kafka.Message) []kafka.Message {
	var out []kafka.Message
	w := stampOwnership(writerFunc(func(_ context.Context, ms ...kafka.Message) error { out = append(out, ms...); return nil }), epoch, stamps{})
	w.WriteMessages(context.Background(), msgs...)
	return out
}

type writerFunc func(context.Context, ...kafka.Message) error

func (f writerFunc) WriteMessages(ctx context.Context, msgs ...kafka.Message) error {
	return f(ctx, msgs...)
}

// TestApplierIgnoresALowerEpoch: a former owner's write that lands after
// its successor's (it was in flight while that owner was paused past its
// session) is ignored even where its input offsets equal the successor's
// (a timer's warning, an RFM rebuild: TestFaultSequences, soak seed
// 862511445000), and its users, the retention records and the metadata
// are owed to the changelog again; records written before epochs apply as
// they come; the restored state keeps the highest epoch.
func TestApplierIgnoresALowerEpoch(t *testing.T) {
	former := ownershipEpoch(0, 7)
	successor := ownershipEpoch(0, 9) // the same state, a later generation
	if successor <= former || ownershipEpoch(successor, 1) <= successor {
		t.Fatalf("epochs out of order: %d, %d, and after a group's generations start again %d", former, successor, ownershipEpoch(successor, 1))
	}
	mine := changelogCycle(3, "a", "b")
	var r record.User
	r.Offsets[0] = 3
	r.Wake = 99 // the successor's timer fired, at the same offsets
	mine[0] = userRecord("cl", 0, "a", record.EncodeUser(r))
	var log []kafka.Message
	log = append(log, stamped(former, changelogCycle(2, "a", "b"))...) // the former owner's, before its pause
	log = append(log, stamped(successor, mine)...)
	log = append(log, stamped(former, changelogCycle(3, "a", "c"))...) // in flight during the pause: a at the same offsets
	log = append(log, changelogCycle(4, "d")...)                       // a release before epochs
	a, store := applyLog(t, false, log)
	if a.stale != 4 {
		t.Errorf("%d stale records, want the late write's 4", a.stale)
	}
	if u, ok, err := store.User(0, "a"); err != nil || !ok || u.Wake != 99 {
		t.Errorf("user a: %+v, %v, %v; want the successor's record (wake 99)", u, ok, err)
	}
	if _, ok, _ := store.User(0, "c"); ok {
		t.Error("user c of the late write was applied")
	}
	if _, ok, _ := store.User(0, "d"); !ok {
		t.Error("user d, written before epochs, was not applied")
	}
	if _, _, owed, err := store.Unlogged(0); err != nil || !slices.Contains(owed, "a") || !slices.Contains(owed, "c") {
		t.Errorf("owed to the changelog: %v (%v); want a and c, whose late records compaction would keep", owed, err)
	}
	if _, err := a.finish(); err != nil {
		t.Fatal(err)
	}
	if meta, _, err := store.Meta(0); err != nil || meta.Epoch != successor || meta.Commits != 4 {
		t.Errorf("metadata: epoch %d at commit %d (%v); want %d at 4", meta.Epoch, meta.Commits, err, successor)
	}
}
