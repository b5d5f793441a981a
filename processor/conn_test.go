package processor

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

// saslBroker returns a broker that requires SASL/SCRAM-SHA-512 and its
// credentials: the real one CI starts with `deploy/kafka/local.sh start
// --sasl` when LIFECYCLE_TEST_SASL_BROKERS is set, else an in-process kfake.
func saslBroker(t *testing.T) (brokers []string, user, password string) {
	t.Helper()
	if b := os.Getenv("LIFECYCLE_TEST_SASL_BROKERS"); b != "" {
		return strings.Split(b, ","), os.Getenv("LIFECYCLE_TEST_SASL_USER"), os.Getenv("LIFECYCLE_TEST_SASL_PASSWORD")
	}
	user, password = "lifecycle", "lifecycle-secret"
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", user, password))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs(), user, password
}

func TestSASLCredentials(t *testing.T) {
	brokers, user, password := saslBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	check := func(c Conn) error {
		adm, err := c.Admin()
		if err != nil {
			t.Fatal(err)
		}
		defer adm.Close()
		return c.Check(ctx, adm)
	}

	good := Conn{Brokers: brokers, SASL: &SASL{Mechanism: "SCRAM-SHA-512", Username: user, Password: password}}
	if err := check(good); err != nil {
		t.Fatalf("right credentials: %v", err)
	}

	bad := good
	bad.SASL = &SASL{Mechanism: "SCRAM-SHA-512", Username: user, Password: "wrong-" + password}
	err := check(bad)
	if err == nil {
		t.Fatal("a wrong password was accepted")
	}
	if !strings.Contains(err.Error(), "credentials of SCRAM-SHA-512 user") {
		t.Errorf("wrong password: error %q does not name the cause", err)
	}
	if strings.Contains(err.Error(), bad.SASL.Password) {
		t.Errorf("error %q leaks the password", err)
	}

	none := Conn{Brokers: brokers}
	if err := check(none); err == nil {
		t.Error("a SASL listener accepted a client without credentials")
	}
}

func TestSASLValidate(t *testing.T) {
	for _, tc := range []struct {
		s    *SASL
		want string
	}{
		{nil, ""},
		{&SASL{Mechanism: "SCRAM-SHA-256", Username: "u", Password: "p"}, ""},
		{&SASL{Mechanism: "GSSAPI", Username: "u", Password: "p"}, "use one of PLAIN"},
		{&SASL{Mechanism: "PLAIN", Username: "u"}, "needs a username and a password"},
	} {
		err := tc.s.Validate()
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("Validate(%v) = %v, want error containing %q", tc.s, err, tc.want)
		}
	}
	if s := (&SASL{Mechanism: "PLAIN", Username: "u", Password: "hunter2"}).String(); strings.Contains(s, "hunter2") {
		t.Errorf("String() = %q shows the password", s)
	}
}

// TestCompression: every listed codec is kafka-go's, the empty one is the
// default's, and an unknown one is refused by Config.Validate, saying
// what to use.
func TestCompression(t *testing.T) {
	want := map[Compression]kafka.Compression{"": kafka.Lz4, "lz4": kafka.Lz4, "zstd": kafka.Zstd, "snappy": kafka.Snappy, "gzip": kafka.Gzip, "none": 0}
	for _, c := range append(Compressions, "") {
		if w := (Conn{Compression: c}).Writer(); w.Compression != want[c] {
			t.Errorf("%q writes with codec %v, want %v", c, w.Compression, want[c])
		}
	}
	cfg := Config{Conn: Conn{Brokers: []string{"h:1"}, Compression: "brotli"}, Group: "g"}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), `"brotli" is not supported: use one of lz4, zstd, snappy, gzip, none`) {
		t.Errorf("Validate with compression brotli = %v", err)
	}
}
