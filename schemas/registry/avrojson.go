package registry

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"unicode/utf8"

	"github.com/hamba/avro/v2"
)

// avroJSON writes the JSON text of one Avro datum, walking its schema with
// hamba's reader. The JSON is what the decoder reads, so it is shaped for
// field paths, not for Avro's own JSON encoding:
//   - a union's value is written as itself, not wrapped in {"type": v}
//     (a nullable amount is `"amount": 19.99`, read as `amount`);
//   - timestamp-millis and timestamp-micros become integer epoch
//     milliseconds, and date the epoch milliseconds of its day, which the
//     decoder reads as a time;
//   - a decimal becomes its exact decimal text as a string ("19.99"),
//     trailing zeros beyond six places dropped, so that amounts stay exact;
//   - bytes and fixed become strings of one character per byte (U+0000 to
//     U+00FF), as Avro's JSON encoding has them; enums their symbol.
//
// Its time is linear in the payload: every value read consumes input
// except nulls, and the number of values (array items, map entries) is
// capped by the payload's length; the output is cut off at max bytes.
type avroJSON struct {
	r      *avro.Reader
	out    []byte
	max    int // the most bytes out may grow to
	values int // array items and map entries left to read
	depth  int // nesting left
	err    string
}

// maxAvroDepth bounds the nesting of a (recursive) schema's values.
const maxAvroDepth = 128

// errTooLong is avroJSON.err for output beyond max.
const errTooLong = "too long"

func (w *avroJSON) fail(msg string) {
	if w.err == "" {
		w.err = msg
	}
}

func (w *avroJSON) ok() bool {
	if w.err == "" && w.r.Error != nil {
		w.err = w.r.Error.Error()
	}
	if w.err == "" && len(w.out) > w.max {
		w.err = errTooLong
	}
	return w.err == ""
}

// value writes the datum of schema s.
func (w *avroJSON) value(s avro.Schema) {
	if !w.ok() {
		return
	}
	var logical avro.LogicalType
	if ls, ok := s.(avro.LogicalTypeSchema); ok && ls.Logical() != nil {
		logical = ls.Logical().Type()
	}
	switch s.Type() {
	case avro.Null:
		w.out = append(w.out, "null"...)
	case avro.Boolean:
		w.out = strconv.AppendBool(w.out, w.r.ReadBool())
	case avro.Int:
		v := int64(w.r.ReadInt())
		if logical == avro.Date {
			v *= 24 * 60 * 60 * 1000
		}
		w.out = strconv.AppendInt(w.out, v, 10)
	case avro.Long:
		v := w.r.ReadLong()
		switch logical {
		case avro.TimestampMicros, avro.LocalTimestampMicros:
			v /= 1000
		}
		w.out = strconv.AppendInt(w.out, v, 10)
	case avro.Float:
		w.float(float64(w.r.ReadFloat()), 32)
	case avro.Double:
		w.float(w.r.ReadDouble(), 64)
	case avro.String:
		b := w.r.ReadBytes()
		if !utf8.Valid(b) {
			w.fail("a string is not valid UTF-8")
			return
		}
		w.out = appendJSONString(w.out, b)
	case avro.Bytes:
		b := w.r.ReadBytes()
		if logical == avro.Decimal {
			w.decimal(b, s.(*avro.PrimitiveSchema).Logical().(*avro.DecimalLogicalSchema).Scale())
			return
		}
		w.out = appendLatin1(w.out, b)
	case avro.Fixed:
		f := s.(*avro.FixedSchema)
		b := make([]byte, f.Size())
		w.r.Read(b)
		if logical == avro.Decimal {
			w.decimal(b, f.Logical().(*avro.DecimalLogicalSchema).Scale())
			return
		}
		w.out = appendLatin1(w.out, b)
	case avro.Enum:
		symbols := s.(*avro.EnumSchema).Symbols()
		i := int(w.r.ReadInt())
		if i < 0 || i >= len(symbols) {
			w.fail(fmt.Sprintf("enum index %d is not one of its %d symbols", i, len(symbols)))
			return
		}
		w.out = appendJSONString(w.out, []byte(symbols[i]))
	case avro.Union:
		types := s.(*avro.UnionSchema).Types()
		i := w.r.ReadLong()
		if i < 0 || i >= int64(len(types)) {
			w.fail(fmt.Sprintf("union index %d is not one of its %d types", i, len(types)))
			return
		}
		w.nested(types[i])
	case avro.Record:
		w.out = append(w.out, '{')
		for i, f := range s.(*avro.RecordSchema).Fields() {
			if i > 0 {
				w.out = append(w.out, ',')
			}
			w.out = appendJSONString(w.out, []byte(f.Name()))
			w.out = append(w.out, ':')
			w.nested(f.Type())
		}
		w.out = append(w.out, '}')
	case avro.Array:
		items := s.(*avro.ArraySchema).Items()
		w.out = append(w.out, '[')
		first := true
		w.blocks(func() {
			if !first {
				w.out = append(w.out, ',')
			}
			first = false
			w.nested(items)
		})
		w.out = append(w.out, ']')
	case avro.Map:
		values := s.(*avro.MapSchema).Values()
		w.out = append(w.out, '{')
		first := true
		w.blocks(func() {
			if !first {
				w.out = append(w.out, ',')
			}
			first = false
			k := w.r.ReadBytes()
			if !utf8.Valid(k) {
				w.fail("a map key is not valid UTF-8")
				return
			}
			w.out = appendJSONString(w.out, k)
			w.out = append(w.out, ':')
			w.nested(values)
		})
		w.out = append(w.out, '}')
	case avro.Ref:
		w.value(s.(*avro.RefSchema).Schema())
	default:
		w.fail("unexpected schema type " + string(s.Type()))
	}
}

// nested writes a value one level deeper.
func (w *avroJSON) nested(s avro.Schema) {
	if w.depth == 0 {
		w.fail(fmt.Sprintf("values nest more than %d deep", maxAvroDepth))
		return
	}
	w.depth--
	w.value(s)
	w.depth++
}

// blocks reads an array's or map's blocks, calling item for each item.
func (w *avroJSON) blocks(item func()) {
	for w.ok() {
		n, _ := w.r.ReadBlockHeader()
		if n == 0 || !w.ok() {
			return
		}
		if n > int64(w.values) {
			w.fail("an array or map claims more items than the record has bytes")
			return
		}
		w.values -= int(n)
		for range n {
			if item(); !w.ok() {
				return
			}
		}
	}
}

// float writes a float or double: the shortest decimal that reads back as
// it, without an exponent; NaN and infinities as strings, which no event
// field accepts as a number.
func (w *avroJSON) float(f float64, bits int) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		w.out = strconv.AppendQuote(w.out, strconv.FormatFloat(f, 'g', -1, bits))
		return
	}
	w.out = strconv.AppendFloat(w.out, f, 'f', -1, bits)
}

// decimal writes the two's-complement big-endian unscaled value b at scale
// as exact decimal text, in a string.
func (w *avroJSON) decimal(b []byte, scale int) {
	if len(b) > 64 { // 150 digits: far beyond any amount
		w.fail("a decimal is longer than 64 bytes")
		return
	}
	v := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 {
		v.Sub(v, new(big.Int).Lsh(big.NewInt(1), uint(len(b))*8))
	}
	digits := v.Abs(v).String()
	for scale > 6 && len(digits) > 1 && digits[len(digits)-1] == '0' {
		digits, scale = digits[:len(digits)-1], scale-1
	}
	if scale > 0 {
		for len(digits) <= scale {
			digits = "0" + digits
		}
		digits = digits[:len(digits)-scale] + "." + digits[len(digits)-scale:]
	}
	w.out = append(w.out, '"')
	if len(b) > 0 && b[0]&0x80 != 0 {
		w.out = append(w.out, '-')
	}
	w.out = append(w.out, digits...)
	w.out = append(w.out, '"')
}

// appendJSONString appends s, valid UTF-8, as a JSON string.
func appendJSONString(dst, s []byte) []byte {
	dst = append(dst, '"')
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, `\u00`...)
			dst = append(dst, hex[c>>4], hex[c&15])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// appendLatin1 appends bytes as a JSON string of one character per byte.
func appendLatin1(dst, b []byte) []byte {
	dst = append(dst, '"')
	for _, c := range b {
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20 || c >= 0x7f:
			dst = append(dst, `\u00`...)
			dst = append(dst, hex[c>>4], hex[c&15])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

const hex = "0123456789abcdef"
