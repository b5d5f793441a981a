// Package schemas is the wire contract of the lifecycle service, version 1:
// the events it reads, the transitions it writes, the dead-letter records
// it writes for input it cannot use, and the headers of all of them.
//
// The JSON Schema files (draft 2020-12) embedded in Files are the source of
// truth: event.v1.schema.json for input events, transition.v1.schema.json
// for the values on lifecycle.transitions. dlq.md describes dead-letter
// records. The Go code follows the files, and tests check that it agrees
// with them.
//
// Decoder is the strict, fast decoder of input records: one Kafka record
// (key, value) in, an Event or a *RejectError out. It accepts what the event
// schema accepts, with a key equal to the user_id, and is stricter than the
// schema where JSON Schema cannot say what is wanted:
//   - the record key must equal user_id, and the value must be at most
//     MaxRecordBytes long, valid UTF-8, and nest objects and arrays at most
//     MaxDepth deep (128 by default), unknown fields included;
//   - currency must be the deployment's accounting currency;
//   - numbers are judged by their text, not their value: an integer ts must
//     be plain digits (1.7e12 and 1700000000000.0 are rejected, though JSON
//     Schema calls them integers), an amount may not use an exponent or more
//     than six decimal places (19.9900000 is rejected), and -0 is rejected as
//     negative;
//   - an amount must fit a Micros (about 9.2 trillion units);
//   - a ts whose offset moves it before 1970 or after 9999 in UTC is rejected
//     (the schema checks the year as written).
//
// Decoding is bounded (design invariant 6): time linear in the record's
// size whatever its shape, and an error sentence of at most MaxReasonBytes
// (TruncateReason bounds any other reason the same way); dlq.md lists the
// bounds.
//
// Every rejection has a stable Reason code, the dead-letter header
// lifecycle.dlq.code:
//
//	too_large         value longer than DecoderConfig.MaxRecordBytes
//	malformed_json    not UTF-8, not JSON, not a JSON object, or nested too deep
//	duplicate_field   a field the decoder reads appears twice (parsers differ
//	                  on which one counts)
//	missing_field     a required field is missing, null or ""
//	wrong_field_type  a field has the wrong JSON type
//	key_mismatch      the record key is not the user_id
//	unknown_type      type is not login, purchase or content
//	bad_timestamp     ts is not RFC 3339 with offset or epoch ms, or out of range
//	bad_amount        amount is negative, not an exact decimal, or too large
//	wrong_currency    currency is not the accounting currency, and no rate
//	                  converts it on the event's day (DecoderConfig.Rates)
//	unmapped          with an input mapping: no rule maps the record
//	ignored           with an input mapping: a rule says to ignore it; not
//	                  a dead letter (the engine counts and drops it)
//	bad_wire_format   with --input-format avro: the value does not start
//	                  with the Confluent wire format's magic byte 0 and a
//	                  4-byte schema id
//	unknown_schema    with --input-format avro: the registry answers that
//	                  it has no schema with the record's id, or the schema
//	                  is not an Avro record (a registry it cannot reach is
//	                  no reason: the partition waits, see schemas/registry)
//	malformed_avro    with --input-format avro: the payload does not
//	                  decode with its schema
//
// Amounts are Micros, exact millionths of a currency unit, never floats.
// Times are Unix milliseconds in UTC; outputs write them with FormatTime.
// Outputs carry deterministic ids from OutputID, so that a replay or a retry
// re-emits an output with the id it had before.
package schemas
