// Package registry reads and writes records in the Confluent Schema
// Registry wire format: a magic byte 0, the schema's id as 4 big-endian
// bytes, then the payload. Inputs in Avro are turned into the JSON text
// the decoder reads (Inputs, a schemas.ValueFormat), so that event.v1 field
// names and input mappings apply to them unchanged; outputs can be written
// in Avro with their schemas registered under <topic>-value (Outputs).
//
// Schemas are fetched by id with franz-go's sr client and cached for the
// life of the process (an id's schema never changes). A registry that
// cannot be reached is not a reason to dead-letter a record: the lookup
// retries until it answers (Inputs.Prefetch), so the partition waits,
// logs and counts the failures (Failures) instead of losing data. Only a
// registry's own answer that it has no such schema is a dead letter
// (unknown_schema).
package registry

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr"
	"go.uber.org/zap"

	"github.com/lifecycle-engine/lifecycle/schemas"
)

// Config says how to reach a schema registry.
type Config struct {
	// URL is the registry's base URL, e.g. http://registry:8081, or
	// Apicurio's http://registry:8080/apis/ccompat/v7.
	URL string
	// User and Password, when User is set, are sent as HTTP basic auth
	// (Confluent Cloud: an API key and secret).
	User, Password string
	// TLS, when set, configures https connections (a private CA); https
	// URLs work without it against the system's roots.
	TLS *tls.Config
	// Log receives the lookups that fail; nil logs nothing.
	Log *zap.Logger
}

// Registry is a schema registry client with a cache of schemas by id.
// It is safe for concurrent use.
type Registry struct {
	cl       *sr.Client
	url      string
	log      *zap.Logger
	mu       sync.Mutex
	schemas  map[int]*entry
	failures atomic.Int64
}

// entry is what is known of one schema id: its Avro schema, or why a
// record with that id is rejected (the registry has no such schema, or it
// is not an Avro record).
type entry struct {
	schema avro.Schema
	reject *schemas.RejectError
}

// New returns a client of the registry at cfg.URL. It does not contact
// the registry.
func New(cfg Config) (*Registry, error) {
	if !strings.HasPrefix(cfg.URL, "http://") && !strings.HasPrefix(cfg.URL, "https://") {
		return nil, fmt.Errorf("schema registry URL %q: want http:// or https:// and the registry's address, like http://registry:8081", cfg.URL)
	}
	opts := []sr.ClientOpt{sr.URLs(cfg.URL), sr.HTTPClient(&http.Client{Timeout: 10 * time.Second})}
	if cfg.User != "" {
		opts = append(opts, sr.BasicAuth(cfg.User, cfg.Password))
	}
	if cfg.TLS != nil {
		opts = append(opts, sr.DialTLSConfig(cfg.TLS))
	}
	cl, err := sr.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("schema registry %s: %w", cfg.URL, err)
	}
	log := cfg.Log
	if log == nil {
		log = zap.NewNop()
	}
	return &Registry{cl: cl, url: cfg.URL, log: log, schemas: map[int]*entry{}}, nil
}

// Client is the sr client, for what this package does not wrap.
func (r *Registry) Client() *sr.Client { return r.cl }

// Failures counts the registry requests that failed without an answer
// about the schema (unreachable, 5xx, timeouts, refused credentials):
// lifecycle_schema_registry_errors_total.
func (r *Registry) Failures() int64 { return r.failures.Load() }

// Retry delays of a lookup while the registry cannot be reached.
const (
	retryFirst = 100 * time.Millisecond
	retryMax   = 5 * time.Second
)

// lookup returns what is known of schema id, asking the registry the first
// time. While the registry cannot be reached (or answers 5xx) it retries,
// with backoff up to retryMax, until it answers or ctx ends; it returns an
// error only for ctx.
func (r *Registry) lookup(ctx context.Context, id int) (*entry, error) {
	r.mu.Lock()
	e := r.schemas[id]
	r.mu.Unlock()
	if e != nil {
		return e, nil
	}
	delay := retryFirst
	for attempt := 1; ; attempt++ {
		s, err := r.cl.SchemaByID(ctx, id)
		if err == nil || definitive(err) {
			e = r.entryOf(id, s, err)
			if attempt > 1 {
				r.log.Info("schema registry answered after failures", zap.Int("schema_id", id), zap.Int("attempts", attempt))
			}
			break
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		r.failures.Add(1)
		// Every failure is logged while they are few, then every tenth:
		// a registry down for an hour should not flood the log.
		if attempt <= 5 || attempt%10 == 0 {
			r.log.Warn("schema registry unreachable or refusing the lookup; the partition waits for it (records are not dead-lettered for this)",
				zap.String("registry", r.url), zap.Int("schema_id", id), zap.Int("attempt", attempt), zap.Duration("retry_in", delay), zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, retryMax)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if old := r.schemas[id]; old != nil {
		return old, nil
	}
	r.schemas[id] = e
	return e, nil
}

// definitive reports whether err is the registry's own answer that it has
// no such schema (404 with error code 40403), as opposed to not getting an
// answer. Any other refusal (a wrong URL path's plain 404, 401 or 403 for
// credentials) is the deployment's to fix: the partition waits and logs it
// rather than dead-letter every record.
func definitive(err error) bool {
	var re *sr.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusNotFound && re.ErrorCode == sr.ErrSchemaNotFound.Code
}

// entryOf makes the cache entry of id from the registry's answer.
func (r *Registry) entryOf(id int, s sr.Schema, err error) *entry {
	if err != nil {
		return &entry{reject: &schemas.RejectError{Reason: schemas.ReasonUnknownSchema,
			Detail: schemas.TruncateReason(fmt.Sprintf("schema id %d: the schema registry has no such schema (%v); was it registered in another registry?", id, err))}}
	}
	if s.Type != sr.TypeAvro {
		return &entry{reject: &schemas.RejectError{Reason: schemas.ReasonUnknownSchema,
			Detail: fmt.Sprintf("schema id %d is a %s schema; --input-format avro reads Avro records only", id, s.Type)}}
	}
	if len(s.References) > 0 {
		return &entry{reject: &schemas.RejectError{Reason: schemas.ReasonUnknownSchema,
			Detail: fmt.Sprintf("schema id %d references other schemas, which this reader does not resolve; register it self-contained", id)}}
	}
	parsed, perr := avro.ParseWithCache(s.Schema, "", &avro.SchemaCache{})
	if perr != nil {
		return &entry{reject: &schemas.RejectError{Reason: schemas.ReasonUnknownSchema,
			Detail: schemas.TruncateReason(fmt.Sprintf("schema id %d does not parse as Avro: %v", id, perr))}}
	}
	if parsed.Type() != avro.Record {
		return &entry{reject: &schemas.RejectError{Reason: schemas.ReasonUnknownSchema,
			Detail: fmt.Sprintf("schema id %d is an Avro %s; an event must be an Avro record", id, parsed.Type())}}
	}
	return &entry{schema: parsed}
}
