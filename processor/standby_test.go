package processor

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/lifecycle-engine/lifecycle/processor/kafkatest"
	"github.com/lifecycle-engine/lifecycle/processor/simulate"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

// assigned is a balancer's answer as owner and standbys per partition.
func assigned(t *testing.T, got kafka.GroupMemberAssignments, changelog string) (owner map[int]string, standbys map[int][]string) {
	t.Helper()
	owner, standbys = map[int]string{}, map[int][]string{}
	for member, topics := range got {
		for topic, ps := range topics {
			for _, p := range ps {
				switch {
				case topic == changelog:
					standbys[p] = append(standbys[p], member)
				case owner[p] != "" && owner[p] != member:
					t.Errorf("partition %d of %s went to %s, another topic's to %s", p, topic, member, owner[p])
				default:
					owner[p] = member
				}
			}
		}
	}
	return owner, standbys
}

// TestBalancerFollowsState: a partition goes to the member whose local
// state of it is furthest, within balanced counts; its standbys are other
// members, the furthest first; the answer does not depend on member order.
func TestBalancerFollowsState(t *testing.T) {
	inputs := []string{"a", "b"}
	var parts []kafka.Partition
	for p := range 6 {
		for _, topic := range append(inputs, "cl") {
			parts = append(parts, kafka.Partition{Topic: topic, ID: p})
		}
	}
	held := func(m map[int32]int64) []byte {
		b, _ := copartitionBalancer{held: func() map[int32]int64 { return m }}.UserData()
		return b
	}
	members := []kafka.GroupMember{
		// m-1 holds 0, 1, 2 and 3: too many for one of three; m-3 has a
		// standby copy of 3 nearly as far.
		{ID: "m-1", UserData: held(map[int32]int64{0: 100, 1: 100, 2: 100, 3: 100})},
		{ID: "m-2", UserData: held(map[int32]int64{4: 50})},
		{ID: "m-3", UserData: held(map[int32]int64{3: 90, 5: 70, 0: 10})},
	}
	b := copartitionBalancer{changelog: "cl", standbys: 1}
	got := b.AssignGroups(members, parts)
	owner, standbys := assigned(t, got, "cl")
	want := map[int]string{0: "m-1", 1: "m-1", 2: "m-2", 3: "m-3", 4: "m-2", 5: "m-3"}
	if fmt.Sprint(owner) != fmt.Sprint(want) {
		t.Errorf("owners %v, want %v", owner, want)
	}
	for p := range 6 {
		if len(standbys[p]) != 1 || standbys[p][0] == owner[p] {
			t.Errorf("partition %d: standbys %v with owner %s, want one other member", p, standbys[p], owner[p])
		}
	}
	if s := standbys[2]; len(s) != 1 || s[0] != "m-1" {
		t.Errorf("partition 2's standby is %v, want m-1, which holds it", s)
	}
	if s := standbys[0]; len(s) != 1 || s[0] != "m-3" {
		t.Errorf("partition 0's standby is %v, want m-3, which holds a copy", s)
	}
	again := b.AssignGroups([]kafka.GroupMember{members[2], members[0], members[1]}, parts)
	if fmt.Sprint(again) != fmt.Sprint(got) {
		t.Errorf("assignment depends on member order:\n%v\n%v", got, again)
	}
	// Unreadable metadata counts as no state.
	members[1].UserData = []byte{0xff}
	owner, _ = assigned(t, b.AssignGroups(members, parts), "cl")
	if len(owner) != 6 {
		t.Errorf("with unreadable metadata %d partitions were assigned, want 6", len(owner))
	}
}

// TestStandbyFailover: with a standby replica, the partitions of an
// instance that leaves mid-stream go to the instance that kept copies of
// them, which applies the changelog's tail instead of restoring it all,
// and goes on to the same outputs and state as the reference.
func TestStandbyFailover(t *testing.T) {
	f, want := faultFreeFixture(t)
	cfg := f.config(t)
	cfg.StandbyReplicas = 1

	instance := func(name string, batch int) (*Processor, *observer.ObservedLogs, func() error) {
		c := cfg
		c.BatchRecords = batch
		return observedInstance(t, c, name, batch == 1) // slow enough to stop mid-stream
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Minute)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("no %s within 2m", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	a, _, stopA := instance("A", 1) // slow: it is stopped mid-stream
	// B joins once A is under way: a B first would take every partition
	// and drain the input before A had any.
	waitFor("A applying events", func() bool { return a.Stats().Applied > 100 })
	b, logsB, stopB := instance("B", 0)
	// B's own partitions restored first: an ownership's restore starts
	// after it has read the changelog's tail, so counting B's restores
	// any earlier could count them as the failover's.
	waitFor("two instances sharing the partitions, B's own restored, with B's standby copies of A's", func() bool {
		return a.Stats().Partitions == 2 && b.Stats().Partitions == 2 && logsB.FilterMessage("partition restored").Len() == 2 && standbyCopies(t, b) == 2
	})
	if caughtUp(t, cfg) {
		t.Fatalf("everything was processed before the failover; the test needs a mid-stream stop (A applied %d, B %d)", a.Stats().Applied, b.Stats().Applied)
	}
	restoredBefore := logsB.FilterMessage("restoring partition from the changelog").Len()
	if err := stopA(); err != nil {
		t.Fatalf("A: %v", err)
	}
	waitFor("B owning every partition and caught up", func() bool { return b.Stats().Partitions == 4 && caughtUp(t, cfg) })
	promoted := logsB.FilterMessage("standby promoted").Len()
	restored := logsB.FilterMessage("restoring partition from the changelog").Len() - restoredBefore
	if promoted != 2 || restored != 0 {
		t.Errorf("B promoted %d standby copies and restored %d partitions from the changelog after A left; want 2 and 0", promoted, restored)
	}
	if err := stopB(); err != nil {
		t.Fatalf("B: %v", err)
	}
	checkOutputs(t, cfg, want.byID, want.perUser)
	checkState(t, want.final, b.store)
}

// observedInstance starts a processor on cfg whose logs the test reads; a
// slow one sleeps 3 ms after each commit. stop ends it as SIGTERM would and
// returns what Run returned.
func observedInstance(t *testing.T, cfg Config, name string, slow bool) (p *Processor, logs *observer.ObservedLogs, stop func() error) {
	t.Helper()
	core, logs := observer.New(zapcore.InfoLevel)
	cfg.Log = zap.New(core).With(zap.String("instance", name))
	p, err := New(cfg, openStore(t, vfs.NewMem()))
	if err != nil {
		t.Fatal(err)
	}
	if slow {
		p.afterCommit = func() { time.Sleep(3 * time.Millisecond) }
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(cancel)
	return p, logs, func() error { cancel(); return <-done }
}

// TestStandbyChangelogCreatedAnew: the changelog deleted and created anew
// under two instances that keep standby copies of each other's
// partitions. Each owner seeds the new topic from its local state, each
// standby copies it anew (its old copy came from the deleted topic), and
// after one instance leaves, the other owns every partition with every
// user.
func TestStandbyChangelogCreatedAnew(t *testing.T) {
	f := newInputFixture(t, simulate.Config{Users: 300, Days: 40, Seed: 31}, 4)
	cfg := f.config(t)
	cfg.StandbyReplicas = 1
	cfg.changelogWatch = time.Second
	a, logsA, stopA := observedInstance(t, cfg, "A", false)
	waitFor(t, "A applying events", func() bool { return a.Stats().Applied > 0 })
	b, logsB, stopB := observedInstance(t, cfg, "B", false)
	waitFor(t, "two instances caught up, with standby copies of each other's partitions", func() bool {
		return a.Stats().Partitions == 2 && b.Stats().Partitions == 2 && standbyCopies(t, a) == 2 && standbyCopies(t, b) == 2 && caughtUp(t, cfg)
	})
	users := ownUsers(t, a) + ownUsers(t, b)

	kafkatest.DeleteTopic(t, f.brokers, cfg.Topics.Changelog)
	kafkatest.CreateCompacted(t, f.brokers, f.partitions, cfg.Topics.Changelog)
	seeded := func(l *observer.ObservedLogs) int { return l.FilterMessage("changelog seeded from local state").Len() }
	copied := func(l *observer.ObservedLogs) int {
		return l.FilterMessage("the standby copy came from a changelog since deleted and created anew; copying anew").Len()
	}
	waitFor(t, "each owner seeding the new changelog, each standby copying it anew", func() bool {
		return seeded(logsA)+seeded(logsB) >= 4 && copied(logsA)+copied(logsB) >= 4 &&
			standbyCopies(t, a) == 2 && standbyCopies(t, b) == 2
	})
	if err := stopA(); err != nil {
		t.Fatalf("A: %v", err)
	}
	waitFor(t, "B owning every partition and caught up", func() bool { return b.Stats().Partitions == 4 && b.Stats().Restoring == 0 && caughtUp(t, cfg) })
	if err := stopB(); err != nil {
		t.Fatalf("B: %v", err)
	}
	if got := ownUsers(t, b); got != users {
		t.Errorf("B holds %d users after A left; the two instances had %d", got, users)
		logAll(t, logsA, logsB)
	}
}

// faultFreeFixture is a simulated population of 1,500 users over 120 days
// in 4 partitions, without bad, duplicate or late records, and its
// reference.
func faultFreeFixture(t *testing.T) (*inputFixture, expected) {
	t.Helper()
	f := newInputFixture(t, simulate.Config{Users: 1500, Days: 120, Seed: 29}, 4)
	var e expected
	e.byID, e.perUser, e.dlq, e.final = reference(t, Config{Topics: Topics{Inputs: f.inputs}}, f.brokers)
	return f, e
}

// logAll writes the instances' logs into the test's, in order, to see
// which step a failure missed.
func logAll(t *testing.T, logs ...*observer.ObservedLogs) {
	t.Helper()
	for _, l := range logs {
		for _, e := range l.All() {
			t.Logf("%s %s %v", e.Time.Format("15:04:05.000"), e.Message, e.ContextMap())
		}
	}
}

// ownUsers is the number of users in the partitions p's store holds as
// their owner (not as standby copies).
func ownUsers(t *testing.T, p *Processor) int {
	t.Helper()
	n := 0
	for _, id := range heldPartitions(t, p, false) {
		if err := p.store.Users(id, func(string, record.User) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// standbyCopies is the number of partitions p keeps a standby copy of.
func standbyCopies(t *testing.T, p *Processor) int {
	t.Helper()
	return len(heldPartitions(t, p, true))
}

// heldPartitions lists the partitions whose state p's store holds as
// standby copies (standby) or as their owner.
func heldPartitions(t *testing.T, p *Processor, standby bool) []int32 {
	t.Helper()
	ids, err := p.store.Partitions()
	if err != nil {
		t.Fatal(err)
	}
	var held []int32
	for _, id := range ids {
		_, isCopy, err := p.store.Standby(id)
		if err != nil {
			t.Fatal(err)
		}
		if isCopy == standby {
			held = append(held, id)
		}
	}
	return held
}

// TestReadsRefusedUntilCurrent: from an ownership's start until its state
// is current (the changelog's tail read, a restore or a promotion), the
// partition counts as restoring and refuses reads of its users, whose
// local state may be behind the changelog.
func TestReadsRefusedUntilCurrent(t *testing.T) {
	f := newInputFixture(t, simulate.Config{Users: 50, Days: 10, Seed: 7}, 2)
	p, err := New(f.config(t), openStore(t, vfs.NewMem()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var held atomic.Int32
	hold := make(chan struct{})
	p.beforeCurrent = func() {
		held.Add(1)
		select {
		case <-hold:
		case <-ctx.Done(): // the test failed before it released them
		}
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	waitFor(t, "both ownerships started, their state not current yet", func() bool { return held.Load() == 2 })
	if st := p.Stats(); st.Partitions != 2 || st.Restoring != 2 {
		t.Errorf("before the state is current: %d partitions owned, %d restoring; want 2 and 2", st.Partitions, st.Restoring)
	}
	if _, _, _, err := p.User("u-1"); !errors.Is(err, ErrRestoring) {
		t.Errorf("a read before the state is current: %v, want ErrRestoring", err)
	}
	close(hold)
	waitFor(t, "both partitions current", func() bool { st := p.Stats(); return st.Partitions == 2 && st.Restoring == 0 })
	if _, _, _, err := p.User("u-1"); err != nil {
		t.Errorf("a read once the state is current: %v", err)
	}
}
