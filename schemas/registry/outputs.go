package registry

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/lifecycle-engine/lifecycle/schemas"
)

//go:embed avsc/*.avsc
var avsc embed.FS

// outputSchema is the Avro form of one JSON output schema.
type outputSchema struct {
	file string
	new  func() any // the Go value the JSON decodes into
}

// outputSchemas are the outputs that can be written in Avro, by the name
// in their lifecycle.schema header.
var outputSchemas = map[string]outputSchema{
	schemas.SchemaTransitionV1: {"avsc/transition.v1.avsc", func() any { return new(schemas.Transition) }},
	schemas.SchemaWarningV1:    {"avsc/churn-warning.v1.avsc", func() any { return new(schemas.Warning) }},
	schemas.SchemaSegmentV1:    {"avsc/segment.v1.avsc", func() any { return new(schemas.SegmentChange) }},
}

// AvroSchema returns the Avro schema text of an output schema
// (transition.v1, churn-warning.v1, segment.v1).
func AvroSchema(name string) (string, error) {
	s, ok := outputSchemas[name]
	if !ok {
		return "", fmt.Errorf("no Avro schema for %q", name)
	}
	b, err := avsc.ReadFile(s.file)
	return string(b), err
}

// Outputs writes outputs in Avro with the Confluent wire format: each
// output topic's schema is registered under <topic>-value (the
// TopicNameStrategy), and a value is the JSON output re-encoded with it.
// The field names and meanings are the JSON schemas'; an optional string
// absent in JSON (trigger_event_id, churn_at) is "" in Avro.
type Outputs struct {
	topics map[string]*topicSchema // by topic
}

type topicSchema struct {
	name   string // the output schema, e.g. transition.v1
	schema avro.Schema
	header []byte // magic byte and schema id
	new    func() any
}

// api encodes the outputs' Go structs by their json tags, so that the
// Avro field names are the JSON ones.
var api = avro.Config{TagKey: "json"}.Freeze()

// NewOutputs registers the Avro schema of each topic's outputs (topics
// maps a topic to its schema name, e.g. lifecycle.transitions →
// transition.v1) under <topic>-value. Before registering a schema that
// differs from the subject's latest version it asks the registry whether
// the new one is compatible (POST /compatibility/subjects/…/versions/
// latest), and refuses with the registry's reasons when it is not: a
// consumer reading with the registered schema must be able to read what
// is written. A subject registered here for the first time is set to
// BACKWARD compatibility, so that the registry itself also guards it.
func NewOutputs(ctx context.Context, reg *Registry, topics map[string]string) (*Outputs, error) {
	o := &Outputs{topics: map[string]*topicSchema{}}
	for topic, name := range topics {
		text, err := AvroSchema(name)
		if err != nil {
			return nil, err
		}
		parsed, err := avro.ParseWithCache(text, "", &avro.SchemaCache{})
		if err != nil {
			return nil, fmt.Errorf("schema %s: %w", name, err)
		}
		id, err := register(ctx, reg.cl, topic+"-value", sr.Schema{Schema: text, Type: sr.TypeAvro})
		if err != nil {
			return nil, err
		}
		var h sr.ConfluentHeader
		header, _ := h.AppendEncode(nil, id, nil)
		o.topics[topic] = &topicSchema{name: name, schema: parsed, header: header, new: outputSchemas[name].new}
	}
	return o, nil
}

// register registers s under subject after checking it is compatible with
// the subject's latest version, and returns its id.
func register(ctx context.Context, cl *sr.Client, subject string, s sr.Schema) (int, error) {
	if got, err := cl.LookupSchema(ctx, subject, s); err == nil {
		return got.ID, nil // registered already: nothing changes
	}
	exists := true
	if _, err := cl.SubjectVersions(ctx, subject); err != nil {
		var re *sr.ResponseError
		if !errors.As(err, &re) || re.StatusCode != 404 {
			return 0, fmt.Errorf("schema registry: versions of subject %s: %w", subject, err)
		}
		exists = false
	}
	if exists {
		res, err := cl.CheckCompatibility(sr.WithParams(ctx, sr.Verbose), subject, -1, s)
		if err != nil {
			return 0, fmt.Errorf("schema registry: compatibility check of subject %s: %w", subject, err)
		}
		if !res.Is {
			return 0, fmt.Errorf("the Avro schema of %s is not compatible with the one registered under %s (%s); "+
				"consumers of the topic could not read the new records. Write to a new topic, or change the subject's compatibility level if that is intended",
				subject, subject, strings.Join(res.Messages, "; "))
		}
	}
	got, err := cl.CreateSchema(ctx, subject, s)
	if err != nil {
		return 0, fmt.Errorf("schema registry: register the Avro schema under %s: %w", subject, err)
	}
	if !exists {
		if r := cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatBackward}, subject); r[0].Err != nil {
			return 0, fmt.Errorf("schema registry: set BACKWARD compatibility on %s: %w", subject, r[0].Err)
		}
	}
	return got.ID, nil
}

// Encode returns the Avro value of an output to topic whose JSON value is
// value and whose schema (lifecycle.schema header) is schema. Outputs to
// topics without an Avro schema (the dead-letter topic) are returned
// unchanged.
func (o *Outputs) Encode(topic, schema string, value []byte) ([]byte, error) {
	t, ok := o.topics[topic]
	if !ok || t.name != schema {
		return value, nil
	}
	v := t.new()
	if err := json.Unmarshal(value, v); err != nil {
		return nil, fmt.Errorf("output to %s: %w", topic, err)
	}
	b, err := api.Marshal(t.schema, v)
	if err != nil {
		return nil, fmt.Errorf("output to %s in Avro: %w", topic, err)
	}
	return append(append(make([]byte, 0, len(t.header)+len(b)), t.header...), b...), nil
}
