package registry_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/lifecycle-engine/lifecycle/schemas"
	"github.com/lifecycle-engine/lifecycle/schemas/registry"
	"github.com/lifecycle-engine/lifecycle/schemas/registry/registrytest"
)

const loginSchema = `{"type":"record","name":"Login","namespace":"test","fields":[
 {"name":"event_id","type":"string"},{"name":"user_id","type":"string"},
 {"name":"type","type":"string"},{"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}}]}`

// TestInputsThroughRegistry: a record whose schema is registered decodes
// (its schema fetched by id from the registry); a record with an id the
// registry does not have is unknown_schema.
func TestInputsThroughRegistry(t *testing.T) {
	reg := registrytest.Registry(t)
	id := registrytest.Register(t, reg, registrytest.Subject(t, "events"), loginSchema)
	in := registry.NewInputs(context.Background(), reg, 0)
	dec := schemas.NewDecoder(schemas.DecoderConfig{Format: in})

	payload, err := avro.Marshal(avro.MustParse(loginSchema), map[string]any{"event_id": "e1", "user_id": "u1", "type": "login", "ts": time.UnixMilli(1700000000000)})
	if err != nil {
		t.Fatal(err)
	}
	value := append(binary.BigEndian.AppendUint32([]byte{0}, uint32(id)), payload...)
	if err := in.Prefetch(context.Background(), value); err != nil {
		t.Fatal(err)
	}
	ev, err := dec.Decode([]byte("u1"), value)
	if err != nil || ev.ID != "e1" || ev.UserID != "u1" || ev.Type != schemas.Login || ev.Time != 1700000000000 {
		t.Fatalf("decoded %+v, %v; want login e1 of u1 at 1700000000000", ev, err)
	}

	unknown := append(binary.BigEndian.AppendUint32([]byte{0}, 0x7fff0000), payload...)
	_, err = dec.Decode([]byte("u1"), unknown)
	var rej *schemas.RejectError
	if !errors.As(err, &rej) || rej.Reason != schemas.ReasonUnknownSchema {
		t.Errorf("unknown schema id: got %v; want unknown_schema", err)
	}
	if in.Failures() != 0 {
		t.Errorf("%d failed requests to a registry that answered", in.Failures())
	}
}

// TestUnreachableRegistryWaits: while the registry cannot be reached,
// Prefetch waits (until its context ends) and counts the failures; it
// decides nothing about the record.
func TestUnreachableRegistryWaits(t *testing.T) {
	// Port 1 on the loopback: nothing listens, connections are refused.
	reg, err := registry.New(registry.Config{URL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	in := registry.NewInputs(context.Background(), reg, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	err = in.Prefetch(ctx, []byte{0, 0, 0, 0, 1, 2})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Prefetch returned %v; want it to wait until its context ends", err)
	}
	if in.Failures() < 2 {
		t.Errorf("%d failures counted; want the retries counted", in.Failures())
	}
	if err := in.Prefetch(ctx, []byte(`{"not":"avro"}`)); err != nil {
		t.Errorf("a value not in the wire format needs no schema, got %v", err)
	}
}

// TestMisconfiguredRegistryWaits: a registry URL with a wrong path gets
// the server's plain 404, which says nothing about the schema: the record
// waits for the deployment to be fixed instead of being dead-lettered as
// unknown_schema, as a real "no such schema" answer is.
func TestMisconfiguredRegistryWaits(t *testing.T) {
	reg, err := registry.New(registry.Config{URL: registrytest.URL(t) + "/no/such/path"})
	if err != nil {
		t.Fatal(err)
	}
	in := registry.NewInputs(context.Background(), reg, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	if err := in.Prefetch(ctx, []byte{0, 0, 0, 0, 1, 2}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Prefetch returned %v; want it to wait until its context ends", err)
	}
	if in.Failures() < 1 {
		t.Errorf("%d failures counted; want the refused lookups counted", in.Failures())
	}
}

// TestOutputsRegistered: the outputs' schemas are registered under
// <topic>-value; an encoded transition read back with the schema the
// registry has for its id is the JSON transition; and a registered
// schema the new one is not compatible with makes NewOutputs refuse.
func TestOutputsRegistered(t *testing.T) {
	reg := registrytest.Registry(t)
	ctx := context.Background()
	topic := registrytest.Subject(t, "transitions")
	out, err := registry.NewOutputs(ctx, reg, map[string]string{topic: schemas.SchemaTransitionV1})
	if err != nil {
		t.Fatal(err)
	}
	days := 2.5
	tr := schemas.Transition{ID: "id1", UserID: "u1", From: "new", To: "growing", At: "2026-01-01T00:00:00.000Z", Reason: "second purchase",
		TriggerEventID: "e2", RFM: schemas.RFM{RecencyDays: &days, Frequency: 2, Monetary: "20.00"}, Rules: &schemas.Rules{Version: "v1", Hash: "0123456789abcdef"}}
	js, _ := json.Marshal(tr)
	b, err := out.Encode(topic, schemas.SchemaTransitionV1, js)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 5 || b[0] != 0 {
		t.Fatalf("value %x is not in the wire format", b)
	}
	id := int(binary.BigEndian.Uint32(b[1:5]))
	registered, err := reg.Client().SchemaByID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var back schemas.Transition
	if err := (avro.Config{TagKey: "json"}).Freeze().Unmarshal(avro.MustParse(registered.Schema), b[5:], &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, tr) {
		t.Errorf("read back %+v; want %+v", back, tr)
	}
	if same, err := registry.NewOutputs(ctx, reg, map[string]string{topic: schemas.SchemaTransitionV1}); err != nil {
		t.Errorf("registering the same schema again: %v", err)
	} else if again, _ := same.Encode(topic, schemas.SchemaTransitionV1, js); string(again[:5]) != string(b[:5]) {
		t.Errorf("the same schema got another id")
	}
	if dlq, _ := out.Encode("other", schemas.SchemaTransitionV1, js); string(dlq) != string(js) {
		t.Errorf("an output to a topic without an Avro schema was re-encoded")
	}

	// A subject whose registered schema has only an id: records written
	// with it lack every other field, which the new schema requires
	// (no defaults), so the new one cannot read them.
	old := registrytest.Subject(t, "old")
	registrytest.Register(t, reg, old+"-value", `{"type":"record","name":"Transition","namespace":"lifecycle.v1","fields":[{"name":"id","type":"string"}]}`)
	if r := reg.Client().SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatBackward}, old+"-value"); r[0].Err != nil {
		t.Fatal(r[0].Err)
	}
	_, err = registry.NewOutputs(ctx, reg, map[string]string{old: schemas.SchemaTransitionV1})
	if err == nil || !strings.Contains(err.Error(), "not compatible") {
		t.Errorf("incompatible change: got %v; want a refusal", err)
	}
}
