package processor

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/lifecycle-engine/lifecycle/schemas"
)

func TestMergeOrder(t *testing.T) {
	login := func(off int64, ts string) kafka.Message {
		return kafka.Message{Offset: off, Key: []byte("u"),
			Value: fmt.Appendf(nil, `{"event_id":"e%d","user_id":"u","type":"login","ts":%q}`, off, ts)}
	}
	ins := []chan kafka.Message{make(chan kafka.Message, 10), make(chan kafka.Message, 10)}
	m := newMerger([]string{"b-topic", "a-topic"}, []<-chan kafka.Message{ins[0], ins[1]},
		[]int64{0, 0}, []int64{3, 2}, schemas.NewDecoder(schemas.DecoderConfig{}))

	// Only topic 0 has records: the merge must wait for topic 1, which is
	// not read to its end (next 0 < high watermark 2).
	ins[0] <- login(0, "2026-01-01T00:00:02Z")
	m.poll()
	if it := m.pop(); it != nil {
		t.Fatalf("popped %v while topic 1 may still hold an earlier record", it.Event)
	}
	ins[1] <- login(0, "2026-01-01T00:00:02Z") // same time as b-topic@0: a-topic goes first by name
	ins[1] <- login(1, "2026-01-01T00:00:01Z")
	ins[0] <- login(1, "garbage") // rejected: first as soon as it is a head
	ins[0] <- login(2, "2026-01-01T00:00:09Z")

	var got []string
	for len(got) < 5 {
		m.poll()
		it := m.pop()
		if it == nil {
			t.Fatalf("merge stalled after %v", got)
		}
		s := fmt.Sprintf("%s@%d", m.names[it.Topic], it.Offset)
		if it.Err != nil {
			s += "(rejected)"
		}
		got = append(got, s)
	}
	want := []string{"a-topic@0", "a-topic@1", "b-topic@0", "b-topic@1(rejected)", "b-topic@2"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("merge order %v, want %v", got, want)
	}
	if !m.caughtUp() {
		t.Error("every topic read to its high watermark, but caughtUp is false")
	}
	if m.stalled(time.Now().Add(time.Hour), time.Minute) {
		t.Error("a caught-up merge counts as stalled")
	}
}

// TestMergeStall: waiting for records the high watermark promises, for
// longer than the limit, is a stall; records arriving end it.
func TestMergeStall(t *testing.T) {
	in := make(chan kafka.Message, 1)
	m := newMerger([]string{"t"}, []<-chan kafka.Message{in}, []int64{0}, []int64{5}, schemas.NewDecoder(schemas.DecoderConfig{}))
	if it := m.pop(); it != nil {
		t.Fatal("popped from an empty topic")
	}
	if m.stalled(time.Now(), time.Minute) {
		t.Error("stalled at once")
	}
	if !m.stalled(time.Now().Add(2*time.Minute), time.Minute) {
		t.Error("two minutes without the promised records is not a stall")
	}
	in <- kafka.Message{Offset: 0, Key: []byte("u"), Value: []byte(`{"event_id":"e","user_id":"u","type":"login","ts":"2026-01-01T00:00:00Z"}`)}
	m.poll()
	if m.pop() == nil || m.stalled(time.Now().Add(2*time.Minute), time.Minute) {
		t.Error("a record arrived, but the merge still counts as stalled")
	}
}

// TestMergeRestartStalled: a stalled topic gets a new fetcher from the
// offset after its last record, the topics not waited for keep theirs, and
// what the old fetcher delivers late is not merged.
func TestMergeRestartStalled(t *testing.T) {
	rec := func(off int64) kafka.Message {
		return kafka.Message{Offset: off, Key: []byte("u"), HighWaterMark: 3,
			Value: fmt.Appendf(nil, `{"event_id":"e%d","user_id":"u","type":"login","ts":"2026-01-01T00:00:0%dZ"}`, off, off)}
	}
	old, other := make(chan kafka.Message, 4), make(chan kafka.Message, 4)
	m := newMerger([]string{"a", "b"}, []<-chan kafka.Message{old, other}, []int64{0, 0}, []int64{3, 0}, schemas.NewDecoder(schemas.DecoderConfig{}))
	fresh := make(chan kafka.Message, 4)
	var asked []string
	m.refetch = func(i int, from int64) (<-chan kafka.Message, error) {
		asked = append(asked, fmt.Sprintf("%s@%d", m.names[i], from))
		return fresh, nil
	}
	old <- rec(0)
	m.poll()
	if it := m.pop(); it == nil || it.Offset != 0 {
		t.Fatalf("first record: %+v", it)
	}
	m.poll()
	if m.pop() != nil || !m.stalled(time.Now().Add(time.Hour), time.Minute) {
		t.Fatal("records 1 and 2 of topic a are promised and missing: the merge should wait, and stall")
	}
	m.logStart = func(int) (int64, error) { return 0, nil } // nothing deleted: a hung reader
	names, err := m.restartStalled()
	lost := m.lost
	if err != nil || len(lost) != 0 || fmt.Sprint(names) != "[a]" || fmt.Sprint(asked) != "[a@1]" {
		t.Fatalf("restartStalled: %v, lost %v, %v; fetchers asked for %v, want [a@1]", names, lost, err, asked)
	}
	if m.stalled(time.Now().Add(time.Hour), time.Minute) {
		t.Error("still stalled right after the restart")
	}
	old <- rec(9) // the old reader wakes up: ignored
	fresh <- rec(1)
	fresh <- rec(2)
	var got []int64
	for range 3 {
		m.poll()
		if it := m.pop(); it != nil {
			got = append(got, it.Offset)
		}
	}
	if fmt.Sprint(got) != "[1 2]" || !m.caughtUp() {
		t.Errorf("after the restart: offsets %v (want [1 2]), caught up %v", got, m.caughtUp())
	}
}

// TestMergeLostToRetention: when the broker's log of a stalled topic now
// starts past the next offset, the records in between are reported lost and
// the merge goes on from the log start: with a new fetcher when records
// remain, as caught up when none do.
func TestMergeLostToRetention(t *testing.T) {
	for _, tc := range []struct {
		start      int64
		wantLost   string
		wantAsked  string
		wantCaught bool
	}{
		{start: 5, wantLost: "[{a 1 5}]", wantAsked: "[a@5]"},
		{start: 8, wantLost: "[{a 1 8}]", wantAsked: "[]", wantCaught: true},
	} {
		in := make(chan kafka.Message, 1)
		m := newMerger([]string{"a"}, []<-chan kafka.Message{in}, []int64{1}, []int64{8}, schemas.NewDecoder(schemas.DecoderConfig{}))
		var asked []string
		m.refetch = func(i int, from int64) (<-chan kafka.Message, error) {
			asked = append(asked, fmt.Sprintf("%s@%d", m.names[i], from))
			return make(chan kafka.Message), nil
		}
		m.logStart = func(int) (int64, error) { return tc.start, nil }
		m.held[0] = true // offset 1 is where the partition stopped
		m.poll()
		if m.pop() != nil || !m.stalled(time.Now().Add(time.Hour), time.Minute) {
			t.Fatal("records 1 to 7 are promised and missing: the merge should stall")
		}
		_, err := m.restartStalled()
		if lost := m.lost; err != nil || fmt.Sprint(lost) != tc.wantLost || fmt.Sprint(asked) != tc.wantAsked || m.caughtUp() != tc.wantCaught {
			t.Errorf("log start %d: lost %v (want %s), fetchers %v (want %s), caught up %v, err %v",
				tc.start, m.lost, tc.wantLost, asked, tc.wantAsked, m.caughtUp(), err)
		}
	}
}

// TestMergeGapChecked: the fetching client skips silently over deleted
// records; a gap is reported lost when the log start is past its first
// offset. The log start the fetches said is used without asking the
// broker, a gap of one too (one record deleted); without it, a gap longer
// than a transaction's marker is checked with the broker. Neither a
// marker's gap, nor a gap the log start does not explain (compaction, an
// aborted transaction), nor the first record of a fresh start is lost.
func TestMergeGapChecked(t *testing.T) {
	for _, tc := range []struct {
		name     string
		held     bool
		offsets  []int64
		fetched  int64 // the fetches' log start; -1: none said
		start    int64 // the broker's
		wantLost string
		checks   int
	}{
		{"deleted by retention", true, []int64{1, 6}, -1, 6, "[{a 2 6}]", 1},
		{"deleted, and more written after", true, []int64{1, 9}, -1, 6, "[{a 2 6}]", 1},
		{"transaction marker", true, []int64{1, 3}, -1, 0, "[]", 0},
		{"gap not from deletion (compaction)", true, []int64{1, 9}, -1, 0, "[]", 1},
		{"fresh start past deleted records", false, []int64{6}, -1, 6, "[]", 0},
		{"deleted, as the fetch said", true, []int64{1, 6}, 6, 6, "[{a 2 6}]", 0},
		{"one record deleted, as the fetch said", true, []int64{1, 3}, 3, 3, "[{a 2 3}]", 0},
		{"aborted records, as the fetch said", true, []int64{1, 9}, 0, 0, "[]", 0},
	} {
		in := make(chan kafka.Message, 4)
		m := newMerger([]string{"a"}, []<-chan kafka.Message{in}, []int64{1}, []int64{100}, schemas.NewDecoder(schemas.DecoderConfig{}))
		m.held[0] = tc.held
		checks := 0
		m.logStart = func(int) (int64, error) { checks++; return tc.start, nil }
		m.fetchedStart = func(int) int64 { return tc.fetched }
		for _, off := range tc.offsets {
			in <- kafka.Message{Offset: off, Key: []byte("u"), Value: []byte(`{"event_id":"e","user_id":"u","type":"login","ts":"2026-01-01T00:00:00Z"}`)}
			m.poll()
			m.pop()
		}
		if fmt.Sprint(m.lost) != tc.wantLost || checks != tc.checks {
			t.Errorf("%s: lost %v (want %s), %d log start checks (want %d)", tc.name, m.lost, tc.wantLost, checks, tc.checks)
		}
	}
}

// TestMergeBackwards: a record below the position a partition had reached
// (the client went back to the log start of a topic created anew or
// truncated) is not taken: the merge reports ErrInputRestarted and reads
// the topic no more; at a fresh start, or going on, nothing is reported.
func TestMergeBackwards(t *testing.T) {
	login := func(off int64) kafka.Message {
		return kafka.Message{Offset: off, Key: []byte("u"), Value: []byte(`{"event_id":"e","user_id":"u","type":"login","ts":"2026-01-01T00:00:00Z"}`)}
	}
	for _, tc := range []struct {
		name    string
		held    bool
		offsets []int64
		want    bool
	}{
		{"back to offset 0 of a topic created anew", true, []int64{0}, true},
		{"back after records", true, []int64{40, 41, 3}, true},
		{"going on", true, []int64{40, 41, 42}, false},
		{"fresh start", false, []int64{0, 1}, false},
	} {
		in := make(chan kafka.Message, 4)
		m := newMerger([]string{"a"}, []<-chan kafka.Message{in}, []int64{40}, []int64{100}, schemas.NewDecoder(schemas.DecoderConfig{}))
		m.held[0] = tc.held
		if !tc.held {
			m.next[0] = 0
		}
		popped := 0
		for _, off := range tc.offsets {
			in <- login(off)
			m.poll()
			if m.pop() != nil {
				popped++
			}
		}
		if got := errors.Is(m.backwards, ErrInputRestarted); got != tc.want {
			t.Errorf("%s: backwards %v, want reported: %v", tc.name, m.backwards, tc.want)
		}
		if tc.want && popped != len(tc.offsets)-1 {
			t.Errorf("%s: %d records taken; the one below the position must not be", tc.name, popped)
		}
	}
}

func TestCopartitionBalancer(t *testing.T) {
	members := []kafka.GroupMember{{ID: "m-2"}, {ID: "m-1"}, {ID: "m-3"}}
	var parts []kafka.Partition
	// Partitions listed out of order, as some brokers do.
	for _, p := range []int{3, 0, 5, 1, 4, 2, 6} {
		for _, topic := range []string{"x", "y", "z"} {
			parts = append(parts, kafka.Partition{Topic: topic, ID: p})
		}
	}
	got := copartitionBalancer{}.AssignGroups(members, parts)
	owner := map[int]string{}
	count := map[string]int{}
	for member, topics := range got {
		for topic, ps := range topics {
			for _, p := range ps {
				if o, ok := owner[p]; ok && o != member {
					t.Errorf("partition %d of %s went to %s, but another topic's partition %d to %s", p, topic, member, p, o)
				}
				owner[p] = member
				count[member]++
			}
		}
	}
	if len(owner) != 7 {
		t.Errorf("%d partition numbers assigned, want 7", len(owner))
	}
	for _, m := range members {
		if n := count[m.ID] / 3; n < 2 || n > 3 {
			t.Errorf("member %s owns %d partition numbers, want 2 or 3 of 7", m.ID, n)
		}
	}
	// Every member computes the same assignment whatever the order of its input.
	again := copartitionBalancer{}.AssignGroups([]kafka.GroupMember{members[2], members[0], members[1]}, parts)
	if fmt.Sprint(again) != fmt.Sprint(got) {
		t.Errorf("assignment depends on member order:\n%v\n%v", got, again)
	}
}

// TestBalancerReportsUnlistedTopics: when the broker lists no partitions
// of a subscribed topic (kafka-go then hands the balancer none at all),
// the leading member is told which, so that it can ask for a new
// generation (startGeneration); otherwise it is told none.
func TestBalancerReportsUnlistedTopics(t *testing.T) {
	members := []kafka.GroupMember{
		{ID: "m-1", Topics: []string{"login", "purchase"}},
		{ID: "m-2", Topics: []string{"purchase", "login", "changelog"}},
	}
	listed := []kafka.Partition{{Topic: "login", ID: 0}, {Topic: "purchase", ID: 0}, {Topic: "changelog", ID: 0}}
	for _, tc := range []struct {
		name  string
		parts []kafka.Partition
		want  []string
	}{
		{"every topic listed", listed, nil},
		{"none listed", nil, []string{"changelog", "login", "purchase"}},
		{"one missing", listed[1:], []string{"login"}},
	} {
		var got []string
		called := false
		b := copartitionBalancer{unlisted: func(t []string) { got, called = t, true }}
		b.AssignGroups(members, tc.parts)
		if !called || !slices.Equal(got, tc.want) {
			t.Errorf("%s: told %v (called %v), want %v", tc.name, got, called, tc.want)
		}
	}
}

// confirmingMerger is a merger of topics a and b, both read to the ends
// last seen (0 records each), whose confirmations of end offsets answer
// what is sent on ends, counted in asked; lastLogin makes their records.
func confirmingMerger() (m *merger, ins []chan kafka.Message, ends chan []int64, notify chan struct{}, asked *int) {
	ins = []chan kafka.Message{make(chan kafka.Message, 10), make(chan kafka.Message, 10)}
	m = newMerger([]string{"a", "b"}, []<-chan kafka.Message{ins[0], ins[1]},
		[]int64{0, 0}, []int64{0, 0}, schemas.NewDecoder(schemas.DecoderConfig{}))
	notify, ends, asked = make(chan struct{}, 1), make(chan []int64, 1), new(int)
	m.ends, m.endsC, m.notify = func() ([]int64, error) { *asked++; return <-ends, nil }, make(chan endsAnswer, 1), notify
	return m, ins, ends, notify, asked
}

// lastLogin is a login of user u at offset off and time ts, the last record
// its topic has.
func lastLogin(off int64, ts string) kafka.Message {
	return kafka.Message{Offset: off, Key: []byte("u"), HighWaterMark: off + 1,
		Value: fmt.Appendf(nil, `{"event_id":"e%d","user_id":"u","type":"login","ts":%q}`, off, ts)}
}

// TestMergeConfirmsEnds: a record does not pass over a topic read to the
// end the merge last knew until the broker has confirmed that end after
// the record was in Kafka; a topic that got records meanwhile is waited
// for, and one answer covers every record it counted.
func TestMergeConfirmsEnds(t *testing.T) {
	m, ins, ends, notify, asked := confirmingMerger()
	answer := func(e ...int64) {
		ends <- e
		<-notify
		m.poll()
	}

	// a@0 arrives; b, read to its known end, may have got an earlier one.
	ins[0] <- lastLogin(0, "2026-01-01T00:00:05Z")
	m.poll()
	if it := m.pop(); it != nil {
		t.Fatal("a record passed over a topic whose end was not confirmed")
	}
	answer(1, 1) // b got a record meanwhile: wait for it
	if it := m.pop(); it != nil {
		t.Fatalf("popped %s@%d while b has a record on its way", m.names[it.Topic], it.Offset)
	}
	ins[1] <- lastLogin(0, "2026-01-01T00:00:01Z")
	m.poll()
	if it := m.pop(); it == nil || m.names[it.Topic] != "b" {
		t.Fatalf("popped %v, want b@0, the earlier event", it)
	}
	// a@0 passes over the empty b now: the answer covered a@0 (end 1).
	if it := m.pop(); it == nil || m.names[it.Topic] != "a" {
		t.Fatalf("popped %v, want a@0", it)
	}
	if *asked != 1 {
		t.Errorf("asked the broker %d times, want 1", *asked)
	}
	// a@1 came after that answer: a new one is needed, and it is enough.
	ins[0] <- lastLogin(1, "2026-01-01T00:00:09Z")
	m.poll()
	if it := m.pop(); it != nil {
		t.Fatal("a record newer than the last answer passed over an empty topic")
	}
	answer(2, 1)
	if it := m.pop(); it == nil || it.Offset != 1 {
		t.Fatalf("popped %v, want a@1", it)
	}
}

// TestMergeMarkers: a transaction's marker, the last entry of a topic,
// is popped at once as a marker, and the topic is then read to its end:
// the other topic's later records pass. Without it, the topic's next
// offset would stay below its end for ever.
func TestMergeMarkers(t *testing.T) {
	login := func(off int64, ts string) kafka.Message {
		return kafka.Message{Offset: off, Key: []byte("u"),
			Value: fmt.Appendf(nil, `{"event_id":"e%d","user_id":"u","type":"login","ts":%q}`, off, ts)}
	}
	marker := func(off int64) kafka.Message {
		return kafka.Message{Offset: off, WriterData: controlRecord{}}
	}
	ins := []chan kafka.Message{make(chan kafka.Message, 10), make(chan kafka.Message, 10)}
	m := newMerger([]string{"a", "b"}, []<-chan kafka.Message{ins[0], ins[1]},
		[]int64{0, 0}, []int64{4, 2}, schemas.NewDecoder(schemas.DecoderConfig{}))
	ins[0] <- login(0, "2026-01-01T00:00:05Z")
	ins[0] <- marker(1) // its transaction's commit
	// Offset 2, an aborted transaction's record, is not read; 3 is its marker.
	ins[0] <- marker(3)
	ins[1] <- login(0, "2026-01-01T00:00:01Z")
	ins[1] <- login(1, "2026-01-01T00:00:09Z")
	var got []string
	for range 5 {
		m.poll()
		it := m.pop()
		if it == nil {
			t.Fatalf("merge stalled after %v", got)
		}
		s := fmt.Sprintf("%s@%d", m.names[it.Topic], it.Offset)
		if it.Marker {
			s += "(marker)"
		}
		got = append(got, s)
	}
	want := []string{"b@0", "a@0", "a@1(marker)", "a@3(marker)", "b@1"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("merge order %v, want %v", got, want)
	}
	if !m.caughtUp() || m.lag(0) != 0 {
		t.Errorf("every topic read to its end: caught up %v, lag of a %d", m.caughtUp(), m.lag(0))
	}
}

// TestMergeTakesFetchedEnds: the ends a fetch response brought confirm the
// records below them without asking the broker, a topic whose fetched end
// is past its position is waited for, and an answer older than the ends
// held does not take their place.
func TestMergeTakesFetchedEnds(t *testing.T) {
	m, ins, ends, notify, asked := confirmingMerger()
	var fetched []int64
	var response uint64
	m.fetchedEnds = func() ([]int64, uint64, bool) { return fetched, response, fetched != nil }

	// a@0 came in response 1, which found b empty at 0.
	fetched, response = []int64{1, 0}, 1
	ins[0] <- lastLogin(0, "2026-01-01T00:00:05Z")
	m.poll()
	if it := m.pop(); it == nil || m.names[it.Topic] != "a" {
		t.Fatalf("popped %v, want a@0 on the response's ends", it)
	}
	// a@1 came in response 2, which had b at 1: b@0 is on its way.
	fetched, response = []int64{2, 1}, 2
	ins[0] <- lastLogin(1, "2026-01-01T00:00:09Z")
	m.poll()
	if it := m.pop(); it != nil {
		t.Fatalf("popped %s@%d while b has a record on its way", m.names[it.Topic], it.Offset)
	}
	ins[1] <- lastLogin(0, "2026-01-01T00:00:01Z")
	m.poll()
	for _, want := range []string{"b", "a"} {
		if it := m.pop(); it == nil || m.names[it.Topic] != want {
			t.Fatalf("popped %v, want %s", it, want)
		}
	}
	if *asked != 0 {
		t.Errorf("asked the broker %d times, want none", *asked)
	}
	// a@2 came in a response without b (another leader): the merge asks.
	ins[0] <- lastLogin(2, "2026-01-01T00:00:10Z")
	m.poll()
	if it := m.pop(); it != nil {
		t.Fatal("a record passed over b on ends that do not cover it")
	}
	// The next response, with both, comes before the answer: it confirms
	// a@2 and a@3, and the older answer does not replace its ends.
	fetched, response = []int64{4, 1}, 3
	ins[0] <- lastLogin(3, "2026-01-01T00:00:11Z")
	for _, want := range []int64{2, 3} {
		m.poll()
		if it := m.pop(); it == nil || it.Offset != want {
			t.Fatalf("popped %v, want a@%d", it, want)
		}
	}
	ends <- []int64{3, 1}
	<-notify
	m.poll()
	if *asked != 1 {
		t.Errorf("asked %d times, want 1", *asked)
	}
	if m.confirmed[0] != 4 {
		t.Errorf("confirmed ends %v after an older answer, want the response's [4 1]", m.confirmed)
	}
}
