package simulate

import (
	"encoding/csv"
	"io"
	"time"
)

// WriteTruthCSV writes one line per user with the header "user_id,dropout_at";
// dropout_at is RFC 3339 with milliseconds (UTC), or empty when the user did
// not drop out within the period.
func WriteTruthCSV(w io.Writer, truth []Truth) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"user_id", "dropout_at"}); err != nil {
		return err
	}
	for _, t := range truth {
		d := ""
		if !t.DropoutAt.IsZero() {
			d = t.DropoutAt.UTC().Format("2006-01-02T15:04:05.000Z07:00")
		}
		if err := cw.Write([]string{t.UserID, d}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteNDJSON returns an emit function writing each record's Value followed
// by a newline to w (bad and duplicate records included). Wrap w in a
// bufio.Writer and flush it after Run.
func WriteNDJSON(w io.Writer) func(Record) error {
	var buf []byte
	return func(r Record) error {
		buf = append(append(buf[:0], r.Value...), '\n')
		_, err := w.Write(buf)
		return err
	}
}

// Stats counts the records of a stream; use Stats.Add as (part of) an emit
// function.
type Stats struct {
	Records   int            // all records
	Valid     int            // valid, non-duplicate records
	Dup       int            // duplicates (re-sends of valid records)
	Late      int            // valid non-duplicate records delivered late
	Bad       int            // defective records
	ByTopic   map[string]int // all records per topic
	ByBadKind map[string]int
	First     time.Time // Time of the first record
	Last      time.Time // Time of the last record
}

// Add counts r.
func (s *Stats) Add(r Record) {
	if s.ByTopic == nil {
		s.ByTopic = map[string]int{}
		s.ByBadKind = map[string]int{}
	}
	if s.Records == 0 {
		s.First = time.UnixMilli(r.Time).UTC()
	}
	s.Last = time.UnixMilli(r.Time).UTC()
	s.Records++
	s.ByTopic[r.Topic]++
	switch {
	case r.Bad != "":
		s.Bad++
		s.ByBadKind[r.Bad]++
	case r.Dup:
		s.Dup++
	default:
		s.Valid++
		if r.Late {
			s.Late++
		}
	}
}
