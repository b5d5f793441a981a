package offline

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/lifecycle-engine/lifecycle/schemas"
)

// maxLine is the longest line ReadNDJSON reads: far above any valid event
// (the decoder rejects records over its own limit), so a long line is
// dead-lettered by the engine, not an error of the file.
const maxLine = 16 << 20

// ReadNDJSON reads an NDJSON file of input events and calls add with each
// line as the record a producer would send (addLine), in file order. It
// returns the number of non-blank lines.
func ReadNDJSON(ctx context.Context, path string, add func(Record)) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var lines int64
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), maxLine)
	for sc.Scan() {
		if lines%100_000 == 0 && ctx.Err() != nil {
			return 0, ctx.Err()
		}
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		lines++
		addLine(line, add)
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("%s: line %d: %w", path, lines+1, err)
	}
	return lines, nil
}

// addLine calls add with a copy of line as the record a producer would
// send: to the input topic of its "type" (login, purchase, content: the
// inputs' order; the first for a line without a known type, where it is
// dead-lettered as it would be there), keyed by its user_id.
func addLine(line []byte, add func(Record)) {
	var v struct {
		UserID string `json:"user_id"`
		Type   string `json:"type"`
	}
	_ = json.Unmarshal(line, &v) // a bad line is the decoder's to reject
	topic := 0
	if t, ok := schemas.ParseEventType(v.Type); ok {
		topic = int(t) - int(schemas.Login)
	}
	add(Record{Topic: topic, Key: []byte(v.UserID), Value: bytes.Clone(line)})
}

// ReadArchive reads one archive file: Parquet when its name ends in
// .parquet, else NDJSON.
func ReadArchive(ctx context.Context, path string, add func(Record)) (int64, error) {
	if strings.HasSuffix(strings.ToLower(path), ".parquet") {
		return ReadParquet(ctx, path, add)
	}
	return ReadNDJSON(ctx, path, add)
}
