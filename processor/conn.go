package processor

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	kgosasl "github.com/segmentio/kafka-go/sasl"
	kplain "github.com/segmentio/kafka-go/sasl/plain"
	kscram "github.com/segmentio/kafka-go/sasl/scram"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	fsasl "github.com/twmb/franz-go/pkg/sasl"
	fplain "github.com/twmb/franz-go/pkg/sasl/plain"
	fscram "github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/lifecycle-engine/lifecycle/processor/produce"
)

// Conn says how to reach a Kafka cluster, for both client libraries the
// processor uses: kafka-go for the consumer group, producing and reading
// the changelog, franz-go for fetching the inputs (inputs.go) and kadm for
// administration.
type Conn struct {
	// Brokers are the bootstrap addresses, host:port. Required.
	Brokers []string
	// TLS, when set, encrypts every connection (SASL_SSL or SSL listeners).
	TLS *tls.Config
	// SASL, when set, authenticates every connection.
	SASL *SASL
	// Compression is the codec of every record batch written through
	// Writer: the outputs, dead letters, changelog and metrics. Empty
	// means lz4.
	Compression Compression
}

// Compression names a codec of Kafka's record batches.
type Compression string

// Compressions lists the codecs Conn supports, the default first. A
// broker or topic may still recompress to its own compression.type.
var Compressions = []Compression{"lz4", "zstd", "snappy", "gzip", "none"}

// codec is kafka-go's code for c; ok is false for a name not in
// Compressions.
func (c Compression) codec() (code kafka.Compression, ok bool) {
	switch c {
	case "", "lz4":
		return kafka.Lz4, true
	case "zstd":
		return kafka.Zstd, true
	case "snappy":
		return kafka.Snappy, true
	case "gzip":
		return kafka.Gzip, true
	case "none":
		return 0, true
	}
	return 0, false
}

// Validate says what to use instead of a codec that is not supported.
func (c Compression) Validate() error {
	if _, ok := c.codec(); !ok {
		return fmt.Errorf("processor: compression %q is not supported: use one of %s", string(c), joinCompressions())
	}
	return nil
}

func joinCompressions() string {
	names := make([]string, len(Compressions))
	for i, c := range Compressions {
		names[i] = string(c)
	}
	return strings.Join(names, ", ")
}

// SASL holds credentials. The password is never logged or printed.
type SASL struct {
	Mechanism string // PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512
	Username  string
	Password  string
}

// String hides the password, so a %v of a config cannot leak it.
func (s *SASL) String() string {
	if s == nil {
		return "none"
	}
	return fmt.Sprintf("%s user %q", s.Mechanism, s.Username)
}

// Mechanisms lists the SASL mechanisms Conn supports.
var Mechanisms = []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}

// Validate checks the SASL settings.
func (s *SASL) Validate() error {
	if s == nil {
		return nil
	}
	switch s.Mechanism {
	case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
	default:
		return fmt.Errorf("processor: SASL mechanism %q: use one of %s", s.Mechanism, strings.Join(Mechanisms, ", "))
	}
	if s.Username == "" || s.Password == "" {
		return errors.New("processor: SASL needs a username and a password (--sasl-username and --sasl-password-file or LIFECYCLE_SASL_PASSWORD)")
	}
	return nil
}

// TLSFiles builds a tls.Config from PEM files; empty names are skipped.
// With no CA file the system's roots are used.
func TLSFiles(caFile, certFile, keyFile, serverName string, insecureSkipVerify bool) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName, InsecureSkipVerify: insecureSkipVerify}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("processor: TLS CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("processor: TLS CA file %s holds no PEM certificate", caFile)
		}
		cfg.RootCAs = pool
	}
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("processor: a TLS client certificate needs both --tls-cert-file and --tls-key-file")
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("processor: TLS client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

func (c Conn) kafkaGoSASL() kgosasl.Mechanism {
	if c.SASL == nil {
		return nil
	}
	switch c.SASL.Mechanism {
	case "PLAIN":
		return kplain.Mechanism{Username: c.SASL.Username, Password: c.SASL.Password}
	case "SCRAM-SHA-256":
		m, _ := kscram.Mechanism(kscram.SHA256, c.SASL.Username, c.SASL.Password)
		return m
	default:
		m, _ := kscram.Mechanism(kscram.SHA512, c.SASL.Username, c.SASL.Password)
		return m
	}
}

func (c Conn) franzSASL() fsasl.Mechanism {
	switch c.SASL.Mechanism {
	case "PLAIN":
		return fplain.Auth{User: c.SASL.Username, Pass: c.SASL.Password}.AsMechanism()
	case "SCRAM-SHA-256":
		return fscram.Auth{User: c.SASL.Username, Pass: c.SASL.Password}.AsSha256Mechanism()
	default:
		return fscram.Auth{User: c.SASL.Username, Pass: c.SASL.Password}.AsSha512Mechanism()
	}
}

// Dialer is what kafka-go's readers (changelog, replay, metrics topic) and
// consumer group connect with: c's TLS and SASL settings. The benchmarks'
// readers use it too.
func (c Conn) Dialer() *kafka.Dialer {
	return &kafka.Dialer{Timeout: 10 * time.Second, DualStack: true, TLS: c.TLS, SASLMechanism: c.kafkaGoSASL()}
}

// transport is what kafka-go's writer connects with.
func (c Conn) transport() *kafka.Transport {
	return &kafka.Transport{DialTimeout: 10 * time.Second, TLS: c.TLS, SASL: c.kafkaGoSASL()}
}

// Admin returns an admin client; close it with Close.
func (c Conn) Admin() (*kadm.Client, error) {
	cl, err := c.Client()
	if err != nil {
		return nil, err
	}
	return kadm.NewClient(cl), nil
}

// Gather returns a producer of the outputs of every partition of a
// process to topics: the writes that come while a request is in flight go
// out in one request (produce.Gather), acknowledged by all in-sync
// replicas, compressed as Writer's, to the partition of the key's Murmur2
// hash as Writer's. maxBytes says what a record batch of a topic may take
// (0 for Kafka's default). Close it when done.
//
// Its metadata of topics, and only of them, is refreshed every second
// (kafka-go's default: every 6 s, of every topic of the cluster): after a
// partition's leader moves, its outputs are refused until the refresh, so
// this bounds how long they wait.
func (c Conn) Gather(topics []string, maxBytes func(topic string) int) *produce.Gather {
	codec, ok := c.Compression.codec()
	if !ok {
		codec = kafka.Lz4
	}
	tr := c.transport()
	tr.MetadataTTL, tr.MetadataTopics = gatherMetadataTTL, topics
	return produce.NewGather(produce.GatherConfig{Transport: tr, Addr: kafka.TCP(c.Brokers...), Compression: codec, MaxBytes: maxBytes})
}

// gatherMetadataTTL is how often Gather's metadata is refreshed.
const gatherMetadataTTL = time.Second

// Client is a franz-go client of the cluster, with extra options (a
// consumer's, for one): for the admin requests kadm does not make in one
// round trip, for the inputs' fetches (inputs.go), and for readers that
// need what kafka-go's do not report (LogAppendTime, in the latency bench).
func (c Conn) Client(extra ...kgo.Opt) (*kgo.Client, error) {
	opts := []kgo.Opt{kgo.SeedBrokers(c.Brokers...), kgo.DialTimeout(10 * time.Second)}
	if c.TLS != nil {
		opts = append(opts, kgo.DialTLSConfig(c.TLS.Clone()))
	}
	if c.SASL != nil {
		opts = append(opts, kgo.SASL(c.franzSASL()))
	}
	return kgo.NewClient(append(opts, extra...)...)
}

// ErrUnreachable is Check's error when no broker answers: an outage that
// may end, unlike refused credentials or a TLS mismatch.
var ErrUnreachable = errors.New("cannot reach the brokers")

// Check connects to the cluster and says clearly what is wrong when that
// fails: unreachable brokers, refused credentials, or a TLS mismatch (which
// otherwise shows up as an opaque EOF).
func (c Conn) Check(ctx context.Context, adm *kadm.Client) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	_, err := adm.BrokerMetadata(ctx)
	if err == nil {
		return nil
	}
	brokers := strings.Join(c.Brokers, ",")
	var netErr *net.OpError
	switch {
	case errors.Is(err, kerr.SaslAuthenticationFailed):
		return fmt.Errorf("processor: the brokers %s refused the credentials of %v: check --sasl-username, the password and --sasl-mechanism: %w", brokers, c.SASL, err)
	case (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) && c.SASL != nil:
		return fmt.Errorf("processor: the brokers %s closed the connection while authenticating with the credentials of %v: check --sasl-username, the password and --sasl-mechanism, and add --tls if the listener is SASL_SSL: %w", brokers, c.SASL, err)
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		if c.TLS == nil {
			return fmt.Errorf("processor: the brokers %s closed the connection: if the listener uses TLS (SSL or SASL_SSL), add --tls; if it uses SASL, set --sasl-mechanism: %w", brokers, err)
		}
		return fmt.Errorf("processor: the brokers %s closed the connection: check that the listener speaks TLS and --sasl-mechanism matches it: %w", brokers, err)
	case errors.As(err, &netErr) || errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("processor: %w %s: check --brokers and that Kafka is running: %w", ErrUnreachable, brokers, err)
	}
	return fmt.Errorf("processor: connecting to %s: %w", brokers, err)
}

// Writer returns a producer set up as the processor needs it, and as any
// producer of input events should be: the key hash of the Java client
// (Murmur2), so that one user's events of every kind land in the same
// partition number; acks from all in-sync replicas; and no lingering (the
// default waits up to 1 s for a batch to fill). Close it when done.
//
// BatchSize is small on purpose: kafka-go allocates, for every batch it
// starts, room for BatchSize messages (about 150 bytes each), cleared and
// then scanned by the GC. At 10,000 a live stream of small batches spent
// a third of the process's CPU there (BENCHMARKS.md, "Latency"); large
// writes are split at the batch byte limit (1 MiB) anyway. An unsupported
// Compression (Config.Validate refuses it) writes lz4.
func (c Conn) Writer() *kafka.Writer {
	codec, ok := c.Compression.codec()
	if !ok {
		codec = kafka.Lz4
	}
	return &kafka.Writer{
		Addr:         kafka.TCP(c.Brokers...),
		Transport:    c.transport(),
		Balancer:     &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: time.Millisecond,
		BatchSize:    200,
		MaxAttempts:  10,
		Compression:  codec,
	}
}
