package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/lifecycle-engine/lifecycle/processor"
	"github.com/lifecycle-engine/lifecycle/processor/offline"
	"github.com/lifecycle-engine/lifecycle/schemas"
	"github.com/lifecycle-engine/lifecycle/state"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

const testRates = `date,currency,rate
2025-01-01,EUR,1.0850
2025-02-01,EUR,1.0790
`

// rateEvents: u-eur buys EUR 19.99 in January (1.085: 21.68915) and EUR
// 10 in February (1.079: 10.79), then logs in; u-usd buys USD 5; u-early
// buys EUR 5 before the table's first EUR rate (dead-lettered).
var rateEvents = []string{
	`{"event_id":"e-1","user_id":"u-eur","type":"purchase","ts":"2025-01-15T10:00:00Z","amount":"19.99","currency":"EUR"}`,
	`{"event_id":"e-2","user_id":"u-usd","type":"purchase","ts":"2025-01-16T10:00:00Z","amount":"5","currency":"USD"}`,
	`{"event_id":"e-3","user_id":"u-early","type":"purchase","ts":"2024-12-31T23:59:00Z","amount":"5","currency":"EUR"}`,
	`{"event_id":"e-4","user_id":"u-eur","type":"purchase","ts":"2025-02-10T10:00:00Z","amount":10,"currency":"EUR"}`,
	`{"event_id":"e-5","user_id":"u-eur","type":"login","ts":"2025-02-11T10:00:00Z"}`,
}

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRatesThroughTheEngine: EUR purchases converted by the table make
// u-eur's spend what the table says, the user's audit fields hold the
// last one as sent, the transitions' monetary is the converted spend, and
// a purchase before the table's first EUR rate is dead-lettered as
// wrong_currency.
func TestRatesThroughTheEngine(t *testing.T) {
	tb, err := schemas.ParseRates("rates.csv", strings.NewReader(testRates))
	if err != nil {
		t.Fatal(err)
	}
	pc := processor.Config{Conn: processor.Conn{Brokers: []string{"unused:9092"}}, Group: "test",
		Decoder: schemas.DecoderConfig{Rates: tb}}
	if err := pc.Validate(); err != nil {
		t.Fatal(err)
	}
	r, err := offline.New(offline.Config{Engine: pc.Engine(), Partitions: 2, Decoder: pc.Decoder, MaxFutureSkew: -1})
	if err != nil {
		t.Fatal(err)
	}
	topic := map[string]int{"login": 0, "purchase": 1, "content": 2}
	for _, line := range rateEvents {
		var ev struct{ UserID, Type string }
		ev.UserID = strings.Split(strings.Split(line, `"user_id":"`)[1], `"`)[0]
		ev.Type = strings.Split(strings.Split(line, `"type":"`)[1], `"`)[0]
		r.Add(offline.Record{Topic: topic[ev.Type], Key: []byte(ev.UserID), Value: []byte(line)})
	}
	var monetary []string
	var dlq []string
	err = r.Run(0, func(_ int32, o record.Output) error {
		switch o.Topic {
		case "lifecycle.transitions":
			var v struct {
				UserID string `json:"user_id"`
				To     string `json:"to"`
				RFM    struct {
					Monetary string `json:"monetary"`
				} `json:"rfm"`
			}
			if err := json.Unmarshal(o.Value, &v); err != nil {
				return err
			}
			monetary = append(monetary, v.UserID+" "+v.To+" "+v.RFM.Monetary)
		case "lifecycle.dlq":
			for _, h := range o.Headers {
				if h.Key == schemas.HeaderDLQCode || h.Key == schemas.HeaderDLQReason {
					dlq = append(dlq, string(h.Value))
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	users := map[string]record.User{}
	r.EachUser(func(_ int32, id string, u *record.User) error { users[id] = *u; return nil })

	eur := users["u-eur"]
	if got := eur.User.Spend.String(); got != "32.47915" { // 21.68915 + 10.79
		t.Errorf("u-eur spend %s, want 32.47915 (EUR 19.99 at 1.085 and EUR 10 at 1.079)", got)
	}
	if o := eur.LastOriginal; o.Amount.String() != "10.00" || o.Currency.String() != "EUR" || o.Rate.String() != "1.079" || o.Converted().String() != "10.79" {
		t.Errorf("u-eur audit fields %+v (%s %s at %s), want EUR 10.00 at 1.079", o, o.Amount, o.Currency, o.Rate)
	}
	if u := users["u-usd"]; u.User.Spend.String() != "5.00" || u.LastOriginal != (schemas.Original{}) {
		t.Errorf("u-usd spend %s, audit %+v; want 5.00 unconverted, no audit", u.User.Spend, u.LastOriginal)
	}
	if _, ok := users["u-early"]; ok {
		t.Error("u-early's purchase before the first EUR rate was applied")
	}
	if !strings.Contains(strings.Join(monetary, "\n"), "u-eur growing 21.68915") {
		t.Errorf("transitions %q: want u-eur growing with monetary 21.68915", monetary)
	}
	if len(dlq) != 2 || dlq[0] != "wrong_currency" && dlq[1] != "wrong_currency" || !strings.Contains(strings.Join(dlq, " "), "no rate is known for EUR on 2024-12-31") {
		t.Errorf("dead letters %q: want u-early's purchase as wrong_currency, no rate known for EUR on 2024-12-31", dlq)
	}
}

// TestRatesInTheRulesHash: the table is part of the rules: a changed rate
// changes the hash, the same rates laid out otherwise do not, and without
// a table the hash is the one of before tables.
func TestRatesInTheRulesHash(t *testing.T) {
	parse := func(text string) *schemas.Rates {
		tb, err := schemas.ParseRates("r.csv", strings.NewReader(text))
		if err != nil {
			t.Fatal(err)
		}
		return tb
	}
	hash := func(currency string, tb *schemas.Rates) string {
		return processor.Config{Decoder: schemas.DecoderConfig{Currency: currency, Rates: tb}}.RulesHash()
	}
	none := hash("", nil)
	a := hash("", parse(testRates))
	if none == a {
		t.Error("a rates table does not change the rules hash")
	}
	if none != (processor.Config{}).RulesHash() {
		t.Error("without a table the hash is not the one of before tables")
	}
	if b := hash("USD", parse("date,currency,rate\n2025-02-01,EUR,1.079\n2025-01-01 , EUR , 1.085000\n")); b != a {
		t.Errorf("the same rates, laid out otherwise: hash %s, want %s", b, a)
	}
	if c := hash("", parse(strings.Replace(testRates, "1.0790", "1.0791", 1))); c == a {
		t.Error("a changed rate does not change the rules hash")
	}
	if d := hash("", parse(testRates+"2025-03-01,EUR,1.07\n")); d == a {
		t.Error("an added rate does not change the rules hash")
	}
	if e := hash("GBP", parse(testRates)); e == a {
		t.Error("the same table into another accounting currency has the same hash")
	}
}

// TestRatesFileFlags: --rates-file and rates_file: reach the decoder of
// replay (the outputs are converted, and the table is in the rules hash
// they carry); a changed table on a state made with the old one is
// refused by run unless --rules-change=forward.
func TestRatesFileFlags(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	archive := writeFile(t, dir, "events.ndjson", strings.Join(rateEvents, "\n")+"\n")
	rates := writeFile(t, dir, "rates.csv", testRates)
	monetaryOf := func(path string) (monetary, hash string, dlq int) {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var l struct {
				Topic string `json:"topic"`
				Value struct {
					UserID string          `json:"user_id"`
					To     json.RawMessage `json:"to"` // a stage, or a segment object
					RFM    struct {
						Monetary string `json:"monetary"`
					} `json:"rfm"`
					Rules *schemas.Rules `json:"rules"`
				} `json:"value"`
				Headers map[string]string `json:"headers"`
			}
			if err := json.Unmarshal([]byte(line), &l); err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			if l.Topic == "lifecycle.dlq" && l.Headers[schemas.HeaderDLQCode] == "wrong_currency" {
				dlq++
			}
			if l.Topic == "lifecycle.transitions" && l.Value.UserID == "u-eur" && string(l.Value.To) == `"growing"` {
				monetary = l.Value.RFM.Monetary
				if l.Value.Rules != nil {
					hash = l.Value.Rules.Hash
				}
			}
		}
		return monetary, hash, dlq
	}
	replay := func(name string, args ...string) string {
		t.Helper()
		out := filepath.Join(dir, name)
		if _, stderr, err := cli(t, ctx, append([]string{"replay", "--archive", archive, "--partitions", "2", "--to-file", out}, args...)...); err != nil {
			t.Fatalf("replay %v: %v\n%s", args, err, stderr)
		}
		return out
	}

	if m, _, dlq := monetaryOf(replay("flag.ndjson", "--rates-file", rates)); m != "21.68915" || dlq != 1 {
		t.Errorf("replay --rates-file: u-eur's first purchase made monetary %q with %d wrong_currency; want 21.68915 and 1", m, dlq)
	}
	if m, _, dlq := monetaryOf(replay("none.ndjson")); m != "" || dlq != 3 {
		t.Errorf("replay without rates: monetary %q, %d wrong_currency; want none and 3", m, dlq)
	}
	// rates_file: in the rules file, relative to it.
	sub := filepath.Join(dir, "conf")
	os.Mkdir(sub, 0o755)
	writeFile(t, sub, "rates.csv", testRates)
	rulesFile := writeFile(t, sub, "rules.yaml", "version: v1\nrates_file: rates.csv\n")
	m, h1, _ := monetaryOf(replay("rules.ndjson", "--rules", rulesFile))
	if m != "21.68915" {
		t.Errorf("replay --rules with rates_file: monetary %q, want 21.68915", m)
	}
	writeFile(t, sub, "rates.csv", strings.Replace(testRates, "1.0850", "1.0900", 1))
	m, h2, _ := monetaryOf(replay("rules2.ndjson", "--rules", rulesFile))
	if m != "21.7891" || h2 == h1 || h1 == "" {
		t.Errorf("a changed table under the same rules file: monetary %q (want 21.7891), hashes %q and %q (want different)", m, h1, h2)
	}

	// run: a state made with the old table is refused under the new one.
	old, _ := schemas.LoadRates(rates)
	stateDir := filepath.Join(dir, "state")
	store, err := state.Open(state.Options{Dir: stateDir})
	if err != nil {
		t.Fatal(err)
	}
	was := processor.Config{Decoder: schemas.DecoderConfig{Rates: old}}
	if err := store.Write(0, &record.Write{Meta: record.Meta{Partitions: 1, Rules: was.RulesID(), Offsets: map[string]int64{}}}); err != nil {
		t.Fatal(err)
	}
	store.Close()
	newRates := writeFile(t, dir, "rates-new.csv", testRates+"2025-03-01,EUR,1.07\n")
	// (Were it not refused, run would wait for the broker: the timeout
	// ends it, and the test fails.)
	runCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, _, err = cli(t, runCtx, "run", "--brokers", "127.0.0.1:1", "--state-dir", stateDir, "--http", "off", "--rates-file", newRates)
	if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "--rules-change=forward") {
		t.Errorf("run with a changed rates table: %v; want a refusal naming --rules-change=forward", err)
	}
	// checkRules is what refused it: the old table's id passes.
	st, _ := state.Open(state.Options{Dir: stateDir})
	defer st.Close()
	if err := checkRules(st, was.RulesID(), "", stateDir, zap.NewNop()); err != nil {
		t.Errorf("the same table: %v", err)
	}
}

// TestRatesFileErrors: a bad rates file is a usage error naming the file,
// the line and what is wrong; the flag beside a rules file is refused.
func TestRatesFileErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	archive := writeFile(t, dir, "events.ndjson", strings.Join(rateEvents, "\n")+"\n")
	out := filepath.Join(dir, "out.ndjson")
	good := writeFile(t, dir, "good.csv", testRates)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--rates-file", writeFile(t, dir, "bad.csv", testRates+"2025-03-01,EUR,1,07\n")},
			[]string{"rates file " + filepath.Join(dir, "bad.csv") + ", line 4: 4 fields; want 3"}},
		{[]string{"--rates-file", writeFile(t, dir, "date.csv", "date,currency,rate\n2025-13-01,EUR,1.07\n")},
			[]string{"date.csv, line 2: date \"2025-13-01\" is not a date YYYY-MM-DD"}},
		{[]string{"--rates-file", writeFile(t, dir, "usd.csv", testRates+"2025-01-01,USD,1\n")},
			[]string{"usd.csv has rates for USD, the accounting currency"}},
		{[]string{"--rates-file", filepath.Join(dir, "missing.csv")},
			[]string{"rates file " + filepath.Join(dir, "missing.csv"), "no such file"}},
		{[]string{"--rates-file", good, "--rules", writeFile(t, dir, "r1.yaml", "version: v1\n")},
			[]string{"--rates-file (or LIFECYCLE_RATES_FILE) given with --rules: put it in the rules file", "as rates_file: " + good}},
		{[]string{"--rates-file", good, "--rules", writeFile(t, dir, "r2.yaml", "version: v1\nrates_file: good.csv\n")},
			[]string{"has rates_file: too; keep one"}},
		{[]string{"--rules", writeFile(t, dir, "r3.yaml", "version: v1\nrates_file: nope.csv\n")},
			[]string{"rates file " + filepath.Join(dir, "nope.csv")}},
		{[]string{"--rules", writeFile(t, dir, "r4.yaml", "version: v1\nrates_file: \"\"\n")},
			[]string{"rates_file is empty"}},
	} {
		_, _, err := cli(t, ctx, append([]string{"replay", "--archive", archive, "--to-file", out}, tc.args...)...)
		if !errors.Is(err, errUsage) {
			t.Errorf("%v: %v; want a usage error", tc.args, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: %v; want it to say %q", tc.args, err, w)
			}
		}
	}
	// evaluate and run take the flag too, and check the file alike.
	bad := filepath.Join(dir, "bad.csv")
	for _, args := range [][]string{
		{"evaluate", "--rates-file", bad},
		{"run", "--brokers", "127.0.0.1:1", "--state-dir", t.TempDir(), "--rates-file", bad},
	} {
		if _, _, err := cli(t, ctx, args...); !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "bad.csv, line 4") {
			t.Errorf("%v: %v; want the rates file's error", args, err)
		}
	}
}
