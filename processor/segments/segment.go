package segments

import "strconv"

// Segment is one of the eight named RFM segments of domain.md. The numbers
// are stored on disk and never change: 1 + 4×(M low) + 2×(not recent) +
// (F low), so the bits of Segment-1 are the three high/low splits.
type Segment uint8

// The segments. None is a user without a score (never purchased, or no
// population yet).
const (
	None             Segment = iota
	ImportantValue           // recent, high F, high M
	ImportantDevelop         // recent, low F, high M
	ImportantKeep            // not recent, high F, high M: a valuable regular gone quiet
	ImportantRetain          // not recent, low F, high M: a big spender slipping away
	GeneralValue             // recent, high F, low M
	GeneralDevelop           // recent, low F, low M
	GeneralKeep              // not recent, high F, low M
	GeneralRetain            // not recent, low F, low M
)

var segmentNames = [...]string{
	None:             "none",
	ImportantValue:   "important value",
	ImportantDevelop: "important develop",
	ImportantKeep:    "important keep",
	ImportantRetain:  "important retain",
	GeneralValue:     "general value",
	GeneralDevelop:   "general develop",
	GeneralKeep:      "general keep",
	GeneralRetain:    "general retain",
}

// String returns the domain's name: "important value", …, or "none".
func (s Segment) String() string {
	if int(s) < len(segmentNames) {
		return segmentNames[s]
	}
	return "segment(" + strconv.Itoa(int(s)) + ")"
}

// ParseSegment is the inverse of String.
func ParseSegment(name string) (Segment, bool) {
	for i, n := range segmentNames {
		if n == name {
			return Segment(i), true
		}
	}
	return None, false
}

// SegmentOf returns the segment of the three splits.
func SegmentOf(recent, highF, highM bool) Segment {
	s := Segment(1)
	if !highM {
		s += 4
	}
	if !recent {
		s += 2
	}
	if !highF {
		s++
	}
	return s
}

// Splits returns the three high/low splits of s; ok is false for None and
// for numbers that are not a segment.
func (s Segment) Splits() (recent, highF, highM, ok bool) {
	if s == None || s > GeneralRetain {
		return false, false, false, false
	}
	b := s - 1
	return b&2 == 0, b&1 == 0, b&4 == 0, true
}

// Score is a user's RFM score: 1–5 per dimension by quintile of the
// population (5 is best: most recent, most frequent, largest spend), and the
// segment. The zero Score is "none".
type Score struct {
	R, F, M uint8
	Segment Segment
}

// IsNone reports whether s is no score.
func (s Score) IsNone() bool { return s.R == 0 }

// Code returns "R5F3M4", or "" for no score.
func (s Score) Code() string {
	if s.R == 0 || s.F == 0 || s.M == 0 {
		return ""
	}
	return string([]byte{'R', '0' + s.R, 'F', '0' + s.F, 'M', '0' + s.M})
}

// String returns the code and the segment: "R5F3M4 important value", or "none".
func (s Score) String() string {
	if s.IsNone() {
		return "none"
	}
	return s.Code() + " " + s.Segment.String()
}
