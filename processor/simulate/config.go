package simulate

import (
	"fmt"
	"math"
	"time"

	"github.com/lifecycle-engine/lifecycle/schemas"
)

// Defaults applied by Run to zero-valued Config fields.
const (
	DefaultUsers    = 1000
	DefaultDays     = 180
	DefaultCurrency = schemas.DefaultCurrency

	// MaxUsers and MaxDays bound a simulation to something that finishes.
	MaxUsers = 10_000_000
	MaxDays  = 3650
)

// DefaultStart is the event time of day 0 when Config.Start is zero.
var DefaultStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Topics names the three input topics. Empty fields take the defaults.
type Topics struct {
	Login    string // default "events.login"
	Purchase string // default "events.purchase"
	Content  string // default "events.content"
}

// DefaultTopics are the topic names used for empty Topics fields.
var DefaultTopics = Topics{Login: schemas.DefaultLoginTopic, Purchase: schemas.DefaultPurchaseTopic, Content: schemas.DefaultContentTopic}

// Config describes one simulated population. The zero value of every field
// means "use the default"; see the field comments.
type Config struct {
	Users    int       // number of users; 0 → 1000
	Days     int       // length of the simulated period in days; 0 → 180
	Seed     int64     // random seed; the same seed and Config give byte-identical output
	Start    time.Time // event time of day 0; zero → 2026-01-01T00:00:00Z (kept at millisecond precision, UTC)
	Currency string    // ISO 4217 code of every valid purchase; "" → "USD"
	BadRate  float64   // extra malformed/invalid records per valid event, 0..1
	DupRate  float64   // fraction of valid events re-sent (same bytes) shortly after, 0..1
	LateRate float64   // fraction of valid events delivered hours to days after their ts, 0..1
	Topics   Topics    // topic names; empty fields → DefaultTopics
}

// Validate reports the first invalid field of c, naming the field and what
// would be valid. Zero values are valid (they mean the default).
func (c Config) Validate() error {
	if c.Users < 0 || c.Users > MaxUsers {
		return fmt.Errorf("simulate: Users = %d: want 1..%d (0 means the default %d)", c.Users, MaxUsers, DefaultUsers)
	}
	if c.Days < 0 || c.Days > MaxDays {
		return fmt.Errorf("simulate: Days = %d: want 1..%d (0 means the default %d)", c.Days, MaxDays, DefaultDays)
	}
	if !c.Start.IsZero() {
		if y := c.Start.UTC().Year(); y < 1971 || y > 9000 {
			return fmt.Errorf("simulate: Start = %s: want a year between 1971 and 9000 (zero means %s)", c.Start.Format(time.RFC3339), DefaultStart.Format(time.RFC3339))
		}
	}
	if c.Currency != "" && !isCurrencyCode(c.Currency) {
		return fmt.Errorf("simulate: Currency = %q: want a three-letter upper-case ISO 4217 code such as \"USD\" (empty means %q)", c.Currency, DefaultCurrency)
	}
	for _, r := range []struct {
		name string
		v    float64
	}{{"BadRate", c.BadRate}, {"DupRate", c.DupRate}, {"LateRate", c.LateRate}} {
		if math.IsNaN(r.v) || r.v < 0 || r.v > 1 {
			return fmt.Errorf("simulate: %s = %v: want a fraction between 0 and 1", r.name, r.v)
		}
	}
	t := c.Topics.withDefaults()
	for _, f := range []struct{ name, v string }{{"Topics.Login", t.Login}, {"Topics.Purchase", t.Purchase}, {"Topics.Content", t.Content}} {
		if err := checkTopic(f.v); err != "" {
			return fmt.Errorf("simulate: %s = %q: %s", f.name, f.v, err)
		}
	}
	if t.Login == t.Purchase || t.Login == t.Content || t.Purchase == t.Content {
		return fmt.Errorf("simulate: Topics = %+v: want three distinct topic names", t)
	}
	return nil
}

// withDefaults returns c with every zero field replaced by its default.
func (c Config) withDefaults() Config {
	if c.Users == 0 {
		c.Users = DefaultUsers
	}
	if c.Days == 0 {
		c.Days = DefaultDays
	}
	if c.Start.IsZero() {
		c.Start = DefaultStart
	}
	c.Start = c.Start.UTC().Truncate(time.Millisecond)
	if c.Currency == "" {
		c.Currency = DefaultCurrency
	}
	c.Topics = c.Topics.withDefaults()
	return c
}

func (t Topics) withDefaults() Topics {
	if t.Login == "" {
		t.Login = DefaultTopics.Login
	}
	if t.Purchase == "" {
		t.Purchase = DefaultTopics.Purchase
	}
	if t.Content == "" {
		t.Content = DefaultTopics.Content
	}
	return t
}

func isCurrencyCode(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

// checkTopic applies Kafka's topic-name rules; it returns "" for a valid name.
func checkTopic(s string) string {
	if s == "." || s == ".." {
		return "want a Kafka topic name other than \".\" or \"..\""
	}
	if len(s) > 249 {
		return "want a Kafka topic name of at most 249 characters"
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '.' || b == '_' || b == '-') {
			return "want a Kafka topic name of ASCII letters, digits, '.', '_' and '-'"
		}
	}
	return ""
}
