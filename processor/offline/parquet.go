package offline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// ReadParquet reads a Parquet file of input events, as data-lake tools
// write a topic's values (one row an event, a column a field of the input
// schema), and calls add with each row as the JSON record a producer would
// have sent, routed as ReadNDJSON routes a line, in row order. Columns
// become fields of the same name; a TIMESTAMP column becomes epoch
// milliseconds, a DECIMAL column a decimal string, text a string, numbers
// numbers; null columns are left out. Nested and repeated columns are not
// part of the input schema and are refused. It returns the number of rows.
func ReadParquet(ctx context.Context, path string, add func(Record)) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		return 0, fmt.Errorf("%s: not a Parquet file: %w", path, err)
	}
	cols, err := parquetColumns(pf.Schema())
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	r := parquet.NewReader(pf)
	defer r.Close()
	rows := make([]parquet.Row, 512)
	var n int64
	var line []byte
	for {
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		k, err := r.ReadRows(rows)
		for _, row := range rows[:k] {
			n++
			line = line[:0]
			if line, err = appendRowJSON(line, row, cols); err != nil {
				return n, fmt.Errorf("%s: row %d: %w", path, n, err)
			}
			addLine(line, add)
		}
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("%s: row %d: %w", path, n+1, err)
		}
	}
}

// parquetColumn is how one leaf column becomes a JSON field.
type parquetColumn struct {
	name    []byte // the quoted JSON key
	millis  int64  // a TIMESTAMP: units per millisecond (0: not one)
	scale   int32  // a DECIMAL: its scale (with decimal)
	decimal bool
}

func parquetColumns(s *parquet.Schema) ([]parquetColumn, error) {
	var out []parquetColumn
	for _, path := range s.Columns() {
		if len(path) != 1 {
			return nil, fmt.Errorf("column %s is nested; the input schema's fields are flat columns", strings.Join(path, "."))
		}
		leaf, _ := s.Lookup(path...)
		if leaf.MaxRepetitionLevel > 0 {
			return nil, fmt.Errorf("column %s is repeated; the input schema's fields are single values", path[0])
		}
		name, _ := json.Marshal(path[0])
		c := parquetColumn{name: name}
		if lt := leaf.Node.Type().LogicalType(); lt != nil {
			switch v := lt.Value.(type) {
			case *format.TimestampType:
				switch v.Unit.Value.(type) {
				case *format.MilliSeconds:
					c.millis = 1
				case *format.MicroSeconds:
					c.millis = 1_000
				case *format.NanoSeconds:
					c.millis = 1_000_000
				}
			case *format.DecimalType:
				c.decimal, c.scale = true, v.Scale
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// appendRowJSON appends row as one JSON object.
func appendRowJSON(b []byte, row parquet.Row, cols []parquetColumn) ([]byte, error) {
	b = append(b, '{')
	first := true
	for _, v := range row {
		i := v.Column()
		if i < 0 || i >= len(cols) {
			return nil, fmt.Errorf("value of unknown column %d", i)
		}
		if v.IsNull() {
			continue
		}
		c := &cols[i]
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(append(b, c.name...), ':')
		var err error
		if b, err = appendValue(b, v, c); err != nil {
			return nil, fmt.Errorf("column %s: %w", c.name, err)
		}
	}
	return append(b, '}'), nil
}

func appendValue(b []byte, v parquet.Value, c *parquetColumn) ([]byte, error) {
	switch {
	case c.millis > 0:
		return strconv.AppendInt(b, v.Int64()/c.millis, 10), nil
	case c.decimal:
		var unscaled big.Int
		switch v.Kind() {
		case parquet.Int32:
			unscaled.SetInt64(int64(v.Int32()))
		case parquet.Int64:
			unscaled.SetInt64(v.Int64())
		default: // big-endian two's complement bytes
			raw := v.ByteArray()
			unscaled.SetBytes(raw)
			if len(raw) > 0 && raw[0]&0x80 != 0 {
				unscaled.Sub(&unscaled, new(big.Int).Lsh(big.NewInt(1), uint(8*len(raw))))
			}
		}
		return strconv.AppendQuote(b, new(big.Rat).SetFrac(&unscaled, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(c.scale)), nil)).FloatString(int(c.scale))), nil
	}
	switch v.Kind() {
	case parquet.Boolean:
		return strconv.AppendBool(b, v.Boolean()), nil
	case parquet.Int32:
		return strconv.AppendInt(b, int64(v.Int32()), 10), nil
	case parquet.Int64:
		return strconv.AppendInt(b, v.Int64(), 10), nil
	case parquet.Float:
		return strconv.AppendFloat(b, float64(v.Float()), 'g', -1, 32), nil
	case parquet.Double:
		return strconv.AppendFloat(b, v.Double(), 'g', -1, 64), nil
	case parquet.ByteArray, parquet.FixedLenByteArray:
		s, err := json.Marshal(string(v.ByteArray()))
		return append(b, s...), err
	}
	return nil, fmt.Errorf("values of kind %s are not part of the input schema", v.Kind())
}
