package registry

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/hamba/avro/v2"

	"github.com/lifecycle-engine/lifecycle/schemas"
)

// Inputs reads input records in Avro with the Confluent wire format as the
// JSON text the decoder reads (schemas.ValueFormat): an Avro record whose
// fields are named like event.v1's (event_id, user_id, type, ts, amount,
// currency, kind) decodes as the native event, and an input mapping reads
// any other record by its field paths. See avroJSON for how Avro values
// become JSON.
type Inputs struct {
	reg *Registry
	ctx context.Context
	api avro.API
}

// NewInputs returns the Avro reader of reg's schemas. ctx bounds the
// lookups AppendJSON makes itself (those Prefetch did not make first);
// maxRecordBytes is the decoder's MaxRecordBytes, the largest string a
// record may hold.
func NewInputs(ctx context.Context, reg *Registry, maxRecordBytes int) *Inputs {
	if maxRecordBytes <= 0 {
		maxRecordBytes = schemas.DefaultMaxRecordBytes
	}
	return &Inputs{reg: reg, ctx: ctx, api: avro.Config{MaxByteSliceSize: maxRecordBytes}.Freeze()}
}

// Failures counts the registry requests that failed without an answer.
func (in *Inputs) Failures() int64 { return in.reg.Failures() }

// Prefetch makes sure the schema of value's id is known (or known not to
// exist) before the record is decoded, waiting while the registry cannot
// be reached: the processor calls it as records are fetched, so that a
// registry outage stalls the partition instead of dead-lettering its
// records, and a shutdown is not held up by it. It returns only ctx's
// error; a value not in the wire format needs no schema.
func (in *Inputs) Prefetch(ctx context.Context, value []byte) error {
	id, ok := schemaID(value)
	if !ok {
		return nil
	}
	_, err := in.reg.lookup(ctx, id)
	return err
}

// schemaID returns the schema id of a value in the wire format.
func schemaID(value []byte) (int, bool) {
	if len(value) < 5 || value[0] != 0 {
		return 0, false
	}
	return int(binary.BigEndian.Uint32(value[1:5])), true
}

// AppendJSON appends the JSON text of value, an Avro record in the wire
// format, to dst. A record whose schema was not prefetched is looked up
// here, waiting for the registry as Prefetch does.
func (in *Inputs) AppendJSON(dst, value []byte, maxJSON int) ([]byte, error) {
	id, ok := schemaID(value)
	if !ok {
		return dst, &schemas.RejectError{Reason: schemas.ReasonBadWireFormat, Detail: badHeader(value)}
	}
	e, err := in.reg.lookup(in.ctx, id)
	if err != nil {
		// Only when the process stops: the record is not decided.
		return dst, &schemas.RejectError{Reason: schemas.ReasonUnknownSchema,
			Detail: fmt.Sprintf("schema id %d: the registry was not reached before the lookup was cancelled", id)}
	}
	if e.reject != nil {
		return dst, e.reject
	}
	payload := value[5:]
	w := avroJSON{r: avro.NewReader(nil, 0, avro.WithReaderConfig(in.api)).Reset(payload), out: dst,
		max: len(dst) + maxJSON, values: len(payload) + 1, depth: maxAvroDepth}
	w.value(e.schema)
	if !w.ok() {
		if w.err == errTooLong {
			return dst, &schemas.RejectError{Reason: schemas.ReasonTooLarge,
				Detail: fmt.Sprintf("record value (Avro, schema id %d) makes more than %d bytes of JSON", id, maxJSON)}
		}
		return dst, &schemas.RejectError{Reason: schemas.ReasonMalformedAvro,
			Detail: schemas.TruncateReason(fmt.Sprintf("record value does not decode with its Avro schema (id %d): %s", id, w.err))}
	}
	return w.out, nil
}

// badHeader says how value misses the wire format.
func badHeader(value []byte) string {
	const want = "; want the Confluent wire format: a magic byte 0, the 4-byte schema id, then the Avro payload (is the producer using a registry serializer?)"
	switch {
	case len(value) == 0:
		return "record value is empty (a tombstone?)" + want
	case value[0] != 0:
		return fmt.Sprintf("record value starts with byte 0x%02x, not the magic byte 0", value[0]) + want
	}
	return fmt.Sprintf("record value is %d bytes, too short for the 5-byte header", len(value)) + want
}
