package simulate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// run collects every record of a simulation.
func run(t testing.TB, cfg Config) ([]Record, []Truth) {
	t.Helper()
	var recs []Record
	truth, err := Run(context.Background(), cfg, func(r Record) error {
		recs = append(recs, r)
		return nil
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return recs, truth
}

func digest(recs []Record, truth []Truth) string {
	h := sha256.New()
	for _, r := range recs {
		fmt.Fprintf(h, "%s|%s|%d|%s|%v|%v|%s\n", r.Topic, r.Key, r.Time, r.Bad, r.Dup, r.Late, r.Value)
	}
	if err := WriteTruthCSV(h, truth); err != nil {
		panic(err)
	}
	for _, t := range truth {
		fmt.Fprintf(h, "%+v\n", t)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

func TestDeterminism(t *testing.T) {
	cfg := Config{Users: 300, Days: 90, Seed: 1, BadRate: 0.05, DupRate: 0.05, LateRate: 0.05}
	a := digest(run(t, cfg))
	b := digest(run(t, cfg))
	if a != b {
		t.Fatalf("same seed gave different output: %s vs %s", a, b)
	}
	cfg.Seed = 2
	if c := digest(run(t, cfg)); c == a {
		t.Fatalf("seeds 1 and 2 gave identical output %s", a)
	}
}

// The population (valid events and truth) does not depend on the delivery
// defects: turning them on only adds, delays and re-sends records.
func TestPopulationIndependentOfDefects(t *testing.T) {
	clean, truthA := run(t, Config{Users: 200, Days: 60, Seed: 7})
	noisy, truthB := run(t, Config{Users: 200, Days: 60, Seed: 7, BadRate: 0.2, DupRate: 0.2, LateRate: 0.2})
	valid := func(recs []Record) []string {
		var out []string
		for _, r := range recs {
			if r.Bad == "" && !r.Dup {
				out = append(out, string(r.Value))
			}
		}
		sort.Strings(out)
		return out
	}
	a, b := valid(clean), valid(noisy)
	if len(a) != len(b) {
		t.Fatalf("valid records: %d without defects, %d with", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("valid record differs: %s vs %s", a[i], b[i])
		}
	}
	if digest(nil, truthA) != digest(nil, truthB) {
		t.Fatal("truth depends on the defect rates")
	}
}

type wireEvent struct {
	EventID  *string         `json:"event_id"`
	UserID   *string         `json:"user_id"`
	Type     *string         `json:"type"`
	Ts       json.RawMessage `json:"ts"`
	Amount   *string         `json:"amount"`
	Currency *string         `json:"currency"`
	Kind     *string         `json:"kind"`
	Seq      *int            `json:"seq"`
}

var (
	amountRe  = regexp.MustCompile(`^[0-9]+\.[0-9]{2}$`)
	tsRe      = regexp.MustCompile(`^"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z"$`)
	eventIDRe = regexp.MustCompile(`^e-u-[0-9]{6,}-[0-9]+$`)
)

// parseTs decodes a valid ts: an RFC 3339 string with milliseconds or
// integer epoch milliseconds; epoch reports which.
func parseTs(raw json.RawMessage) (ms int64, epoch bool, err error) {
	if tsRe.Match(raw) {
		tm, err := time.Parse(time.RFC3339Nano, string(raw[1:len(raw)-1]))
		return tm.UnixMilli(), false, err
	}
	var n int64
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, false, fmt.Errorf("ts %s is neither RFC 3339 with ms nor epoch ms", raw)
	}
	return n, true, nil
}

type userSeen struct {
	seqs      []int
	ts        map[int]int64
	logins    int
	purchases int
	contents  int
	spent     int64
	lastTs    int64
}

// checkStream verifies the invariants of a stream and returns per-user data.
func checkStream(t *testing.T, cfg Config, recs []Record, truth []Truth) map[string]*userSeen {
	t.Helper()
	cfg = cfg.withDefaults()
	topicOf := map[string]string{"login": cfg.Topics.Login, "purchase": cfg.Topics.Purchase, "content": cfg.Topics.Content}
	kinds := map[string]bool{"post": true, "answer": true, "comment": true, "review": true, "like": true}
	truthOf := map[string]Truth{}
	for _, tr := range truth {
		truthOf[tr.UserID] = tr
	}
	if len(truth) != cfg.Users {
		t.Fatalf("len(truth) = %d, want %d", len(truth), cfg.Users)
	}
	users := map[string]*userSeen{}
	valid := map[string][]byte{} // event_id → value
	validTime := map[string]int64{}
	epochs, nValid := 0, 0
	var prev int64 = math.MinInt64
	for i, r := range recs {
		if r.Time < prev {
			t.Fatalf("record %d: Time %d < previous %d", i, r.Time, prev)
		}
		prev = r.Time
		if r.Bad != "" {
			continue
		}
		var e wireEvent
		if err := json.Unmarshal(r.Value, &e); err != nil {
			t.Fatalf("record %d: invalid JSON %q: %v", i, r.Value, err)
		}
		if e.EventID == nil || e.UserID == nil || e.Type == nil || e.Ts == nil || e.Seq == nil {
			t.Fatalf("record %d: missing field in %s", i, r.Value)
		}
		if r.Dup {
			orig, ok := valid[*e.EventID]
			if !ok || !bytes.Equal(orig, r.Value) {
				t.Fatalf("record %d: duplicate %s does not repeat an earlier record", i, r.Value)
			}
			if d := r.Time - validTime[*e.EventID]; d < dupDelayMinMs || d > dupDelayMaxMs {
				t.Fatalf("record %d: duplicate %d ms after its original", i, d)
			}
			continue
		}
		if _, ok := valid[*e.EventID]; ok {
			t.Fatalf("record %d: event_id %s reused by a non-duplicate", i, *e.EventID)
		}
		valid[*e.EventID] = r.Value
		validTime[*e.EventID] = r.Time
		nValid++
		if !eventIDRe.MatchString(*e.EventID) || *e.EventID != fmt.Sprintf("e-%s-%d", *e.UserID, *e.Seq) {
			t.Fatalf("record %d: event_id %q", i, *e.EventID)
		}
		if string(r.Key) != *e.UserID {
			t.Fatalf("record %d: key %q != user_id %q", i, r.Key, *e.UserID)
		}
		if r.Topic != topicOf[*e.Type] {
			t.Fatalf("record %d: type %q on topic %q", i, *e.Type, r.Topic)
		}
		ts, epoch, err := parseTs(e.Ts)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if epoch {
			epochs++
		}
		if r.Late != (r.Time != ts) || (r.Late && r.Time-ts < lateDelayMinMs) || r.Time-ts > lateDelayMaxMs {
			t.Fatalf("record %d: Time %d, ts %d, Late %v", i, r.Time, ts, r.Late)
		}
		if ts < cfg.Start.UnixMilli() || ts >= cfg.Start.UnixMilli()+int64(cfg.Days)*msPerDay {
			t.Fatalf("record %d: ts %d outside the period", i, ts)
		}
		tr, ok := truthOf[*e.UserID]
		if !ok {
			t.Fatalf("record %d: unknown user %q", i, *e.UserID)
		}
		if !tr.DropoutAt.IsZero() && ts >= tr.DropoutAt.UnixMilli() {
			t.Fatalf("record %d: ts %d at or after dropout %s of %s", i, ts, tr.DropoutAt, *e.UserID)
		}
		if ts < tr.Arrival.UnixMilli() {
			t.Fatalf("record %d: ts before arrival %s", i, tr.Arrival)
		}
		u := users[*e.UserID]
		if u == nil {
			u = &userSeen{ts: map[int]int64{}}
			users[*e.UserID] = u
		}
		u.seqs = append(u.seqs, *e.Seq)
		u.ts[*e.Seq] = ts
		u.lastTs = max(u.lastTs, ts)
		switch *e.Type {
		case "login":
			u.logins++
			if e.Amount != nil || e.Kind != nil || e.Currency != nil {
				t.Fatalf("record %d: extra fields on login: %s", i, r.Value)
			}
		case "purchase":
			u.purchases++
			if e.Amount == nil || !amountRe.MatchString(*e.Amount) || e.Currency == nil || *e.Currency != cfg.Currency {
				t.Fatalf("record %d: bad purchase %s", i, r.Value)
			}
			var whole, cents int64
			fmt.Sscanf(*e.Amount, "%d.%d", &whole, &cents)
			if whole*100+cents <= 0 {
				t.Fatalf("record %d: non-positive amount %s", i, *e.Amount)
			}
			u.spent += whole*100 + cents
		case "content":
			u.contents++
			if e.Kind == nil || !kinds[*e.Kind] {
				t.Fatalf("record %d: bad content %s", i, r.Value)
			}
		default:
			t.Fatalf("record %d: type %q", i, *e.Type)
		}
	}
	for id, u := range users {
		sort.Ints(u.seqs)
		for j, s := range u.seqs {
			if s != j+1 {
				t.Fatalf("user %s: seqs %v are not 1..n", id, u.seqs)
			}
			if j > 0 && u.ts[s] < u.ts[s-1] {
				t.Fatalf("user %s: seq %d has ts %d before seq %d's %d", id, s, u.ts[s], s-1, u.ts[s-1])
			}
		}
	}
	for _, tr := range truth {
		u := users[tr.UserID]
		if u == nil {
			if tr.Visits != 0 {
				t.Fatalf("user %s: truth says %d visits, stream has none", tr.UserID, tr.Visits)
			}
			continue
		}
		if u.logins != tr.Visits || u.purchases != tr.Purchases || u.contents != tr.Contents || u.spent != tr.Spent {
			t.Fatalf("user %s: stream %d/%d/%d/%d, truth %+v", tr.UserID, u.logins, u.purchases, u.contents, u.spent, tr)
		}
		if u.ts[1] != tr.Arrival.UnixMilli() || u.lastTs != tr.LastEvent.UnixMilli() {
			t.Fatalf("user %s: first/last ts %d/%d, truth %+v", tr.UserID, u.ts[1], u.lastTs, tr)
		}
	}
	if nValid > 1000 {
		if f := float64(epochs) / float64(nValid); f < 0.07 || f > 0.13 {
			t.Errorf("%.3f of ts are epoch ms, want about %d%%", f, epochTsPercent)
		}
	}
	return users
}

func TestStreamInvariants(t *testing.T) {
	for _, cfg := range []Config{
		{Users: 1000, Days: 180, Seed: 1},
		{Users: 500, Days: 120, Seed: 3, BadRate: 0.05, DupRate: 0.05, LateRate: 0.1, Currency: "EUR",
			Start:  time.Date(2025, 6, 1, 12, 0, 0, 0, time.FixedZone("x", 3600)),
			Topics: Topics{Login: "in.login", Purchase: "in.purchase", Content: "in.content"}},
		{Users: 1, Days: 1, Seed: 4, BadRate: 1, DupRate: 1, LateRate: 1},
	} {
		t.Run(fmt.Sprintf("%d_users_seed_%d", cfg.Users, cfg.Seed), func(t *testing.T) {
			recs, truth := run(t, cfg)
			checkStream(t, cfg, recs, truth)
		})
	}
}

// TestMix reports and bounds the behaviour mix of the default population.
func TestMix(t *testing.T) {
	cfg := Config{Users: 1000, Days: 180, Seed: 1}
	recs, truth := run(t, cfg)
	checkStream(t, cfg, recs, truth)

	var logins, purchases, contents, buyers, repeat, dropped, returned, active30, revenue int64
	var visits []int
	end := DefaultStart.Add(180 * 24 * time.Hour)
	for _, tr := range truth {
		logins += int64(tr.Visits)
		purchases += int64(tr.Purchases)
		contents += int64(tr.Contents)
		revenue += tr.Spent
		visits = append(visits, tr.Visits)
		if tr.Purchases > 0 {
			buyers++
		}
		if tr.Purchases >= 2 {
			repeat++
		}
		if !tr.DropoutAt.IsZero() {
			dropped++
		}
		if tr.LastEvent.After(end.Add(-30 * 24 * time.Hour)) {
			active30++
		}
	}
	// Returns measured on the stream: a login more than 30 days after the
	// previous login of the same user.
	lastLogin := map[string]int64{}
	ret := map[string]bool{}
	var amounts []string
	for _, r := range recs {
		if r.Topic == DefaultTopics.Purchase {
			var e wireEvent
			json.Unmarshal(r.Value, &e)
			amounts = append(amounts, fmt.Sprintf("%012s", *e.Amount))
		}
		if r.Bad != "" || r.Dup || r.Topic != DefaultTopics.Login {
			continue
		}
		var e wireEvent
		json.Unmarshal(r.Value, &e)
		ts, _, _ := parseTs(e.Ts)
		if p, ok := lastLogin[*e.UserID]; ok && ts-p > 30*msPerDay {
			ret[*e.UserID] = true
		}
		lastLogin[*e.UserID] = ts
	}
	returned = int64(len(ret))
	var truthReturned int64
	for _, tr := range truth {
		if tr.LongGaps > 0 {
			truthReturned++
		}
	}
	sort.Ints(visits)
	n := float64(cfg.Users)
	var meanBasket float64
	if purchases > 0 {
		meanBasket = float64(revenue) / 100 / float64(purchases)
	}
	t.Logf("users %d, records %d", cfg.Users, len(recs))
	t.Logf("per user: logins %.1f, purchases %.2f, content %.2f; visits median %d, p90 %d, max %d",
		float64(logins)/n, float64(purchases)/n, float64(contents)/n, visits[len(visits)/2], visits[len(visits)*9/10], visits[len(visits)-1])
	sort.Strings(amounts)
	t.Logf("buyers %.1f%%, ≥2 purchases %.1f%%, basket mean %.2f, median %s, purchases/login %.3f, content/login %.3f",
		100*float64(buyers)/n, 100*float64(repeat)/n, meanBasket, strings.TrimLeft(amounts[len(amounts)/2], "0"), float64(purchases)/float64(logins), float64(contents)/float64(logins))
	t.Logf("dropped out within the period %.1f%%, active in the last 30 days %.1f%%, returned after a >30-day gap: %d users",
		100*float64(dropped)/n, 100*float64(active30)/n, returned)

	if returned != truthReturned {
		t.Errorf("stream shows %d returned users, truth %d", returned, truthReturned)
	}
	check := func(name string, v, lo, hi float64) {
		if v < lo || v > hi {
			t.Errorf("%s = %.3f, want in [%v, %v]", name, v, lo, hi)
		}
	}
	check("logins per user", float64(logins)/n, 5, 60)
	check("purchases per login", float64(purchases)/float64(logins), 0.01, 0.2)
	check("content per login", float64(contents)/float64(logins), 0.03, 0.4)
	check("fraction of buyers", float64(buyers)/n, 0.10, 0.80)
	check("fraction with ≥2 purchases", float64(repeat)/n, 0.05, 0.6)
	check("fraction dropped out", float64(dropped)/n, 0.3, 0.9)
	check("fraction active in the last 30 days", float64(active30)/n, 0.1, 0.7)
	check("returned users", float64(returned), 20, 400)
	check("mean basket", meanBasket, 20, 60)
	check("median visits", float64(visits[len(visits)/2]), 2, 30)
	check("max visits", float64(visits[len(visits)-1]), 150, 1100)
}

func TestRates(t *testing.T) {
	cfg := Config{Users: 2000, Days: 180, Seed: 5, BadRate: 0.03, DupRate: 0.05, LateRate: 0.1}
	recs, truth := run(t, cfg)
	checkStream(t, cfg, recs, truth)
	var st Stats
	for _, r := range recs {
		st.Add(r)
	}
	valid := float64(st.Valid)
	t.Logf("valid %d, dup %d (%.4f), late %d (%.4f), bad %d (%.4f), by kind %v",
		st.Valid, st.Dup, float64(st.Dup)/valid, st.Late, float64(st.Late)/valid, st.Bad, float64(st.Bad)/valid, st.ByBadKind)
	near := func(name string, got, want float64) {
		if math.Abs(got-want) > 0.1*want {
			t.Errorf("%s = %.4f, want %.4f ± 10%%", name, got, want)
		}
	}
	near("dup fraction", float64(st.Dup)/valid, cfg.DupRate)
	near("late fraction", float64(st.Late)/valid, cfg.LateRate)
	near("bad fraction", float64(st.Bad)/valid, cfg.BadRate)
	for _, k := range BadKinds {
		if st.ByBadKind[k] < st.Bad/len(BadKinds)-1 {
			t.Errorf("bad kind %s: %d records of %d", k, st.ByBadKind[k], st.Bad)
		}
	}
	// Every bad record really has its defect.
	users := map[string]bool{}
	for _, tr := range truth {
		users[tr.UserID] = true
	}
	for _, r := range recs {
		if r.Bad == "" {
			continue
		}
		var e wireEvent
		err := json.Unmarshal(r.Value, &e)
		if r.Bad == BadMalformedJSON {
			if err == nil {
				t.Errorf("malformed_json record parses: %s", r.Value)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s record is not JSON: %s", r.Bad, r.Value)
		}
		if e.Seq != nil {
			t.Errorf("bad record carries a seq: %s", r.Value)
		}
		if e.EventID != nil && !strings.HasPrefix(*e.EventID, "e-bad-") {
			t.Errorf("bad record has a valid-looking event_id: %s", r.Value)
		}
		var defect bool
		switch r.Bad {
		case BadMissingField:
			defect = e.UserID == nil || e.EventID == nil
		case BadTimestamp:
			_, _, err := parseTs(e.Ts)
			defect = err != nil || !tsRe.Match(e.Ts) && !bytes.HasPrefix(e.Ts, []byte("1"))
			if string(e.Ts) == `"2026-02-30T25:61:00Z"` || string(e.Ts) == `"yesterday"` {
				defect = true
			}
		case BadAmount:
			defect = r.Topic == DefaultTopics.Purchase && e.Amount != nil && !amountRe.MatchString(*e.Amount)
		case BadUnknownType:
			defect = *e.Type == "refund"
		case BadCurrency:
			defect = r.Topic == DefaultTopics.Purchase && *e.Currency != "USD"
		case BadKeyMismatch:
			defect = e.UserID != nil && string(r.Key) != *e.UserID && users[*e.UserID]
		}
		if !defect {
			t.Errorf("%s record without its defect: key %s value %s", r.Bad, r.Key, r.Value)
		}
	}
}

func TestValidate(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Fatalf("zero Config: %v", err)
	}
	for _, tc := range []struct {
		cfg   Config
		field string
	}{
		{Config{Users: -1}, "Users"},
		{Config{Users: MaxUsers + 1}, "Users"},
		{Config{Days: -5}, "Days"},
		{Config{Days: MaxDays + 1}, "Days"},
		{Config{Currency: "usd"}, "Currency"},
		{Config{Currency: "DOLLAR"}, "Currency"},
		{Config{BadRate: -0.1}, "BadRate"},
		{Config{DupRate: 1.5}, "DupRate"},
		{Config{LateRate: math.NaN()}, "LateRate"},
		{Config{Topics: Topics{Login: "events login"}}, "Topics.Login"},
		{Config{Topics: Topics{Content: "events.purchase"}}, "Topics"},
		{Config{Start: time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)}, "Start"},
	} {
		err := tc.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.field+" =") || !strings.Contains(err.Error(), "want") {
			t.Errorf("Validate(%+v) = %v, want an error naming %s", tc.cfg, err, tc.field)
		}
		if _, err := Run(context.Background(), tc.cfg, func(Record) error { return nil }); err == nil {
			t.Errorf("Run accepted %+v", tc.cfg)
		}
	}
}

func TestWriteTruthCSV(t *testing.T) {
	_, truth := run(t, Config{Users: 50, Days: 30, Seed: 1})
	var buf bytes.Buffer
	if err := WriteTruthCSV(&buf, truth); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if lines[0] != "user_id,dropout_at" || len(lines) != 51 {
		t.Fatalf("CSV: %d lines, header %q", len(lines), lines[0])
	}
	for i, l := range lines[1:] {
		id, d, _ := strings.Cut(l, ",")
		if id != truth[i].UserID || id != fmt.Sprintf("u-%06d", i+1) {
			t.Fatalf("line %d: %q", i+2, l)
		}
		if d == "" {
			if !truth[i].DropoutAt.IsZero() {
				t.Fatalf("line %d: empty dropout for %v", i+2, truth[i].DropoutAt)
			}
			continue
		}
		tm, err := time.Parse(time.RFC3339, d)
		if err != nil || !tm.Equal(truth[i].DropoutAt) {
			t.Fatalf("line %d: %q (%v), want %v", i+2, l, err, truth[i].DropoutAt)
		}
	}
}

func TestWriteNDJSON(t *testing.T) {
	var buf bytes.Buffer
	recs, _ := run(t, Config{Users: 20, Days: 30, Seed: 1, BadRate: 0.1})
	if _, err := Run(context.Background(), Config{Users: 20, Days: 30, Seed: 1, BadRate: 0.1}, WriteNDJSON(&buf)); err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	for _, r := range recs {
		want.Write(r.Value)
		want.WriteByte('\n')
	}
	if !bytes.Equal(buf.Bytes(), want.Bytes()) {
		t.Fatal("NDJSON output differs from the records")
	}
}

func TestStops(t *testing.T) {
	boom := errors.New("boom")
	n := 0
	_, err := Run(context.Background(), Config{Users: 100, Seed: 1}, func(Record) error {
		if n++; n == 10 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || n != 10 {
		t.Fatalf("emit error: got %v after %d records", err, n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n = 0
	_, err = Run(ctx, Config{Users: 100, Seed: 1}, func(Record) error {
		if n++; n == 10 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || n > 10+1024 {
		t.Fatalf("cancel: got %v after %d records", err, n)
	}
}

// BenchmarkRun: 100k users over 180 days; reports records/s.
func BenchmarkRun(b *testing.B) {
	b.Run("clean", func(b *testing.B) { benchRun(b, Config{Users: 100_000, Days: 180, Seed: 1}) })
	b.Run("defects", func(b *testing.B) {
		benchRun(b, Config{Users: 100_000, Days: 180, Seed: 1, BadRate: 0.02, DupRate: 0.05, LateRate: 0.05})
	})
}

func benchRun(b *testing.B, cfg Config) {
	b.ReportAllocs()
	var n int
	for b.Loop() {
		n = 0
		if _, err := Run(context.Background(), cfg, func(Record) error { n++; return nil }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n), "records/op")
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
