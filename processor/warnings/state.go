package warnings

import (
	"encoding/binary"
	"errors"
)

// stateVersion is the first byte of an encoded State. Versions 1 (before
// the rhythm model), 2 (before Bought) and 3 (before Warned) are still
// read.
const stateVersion = 4

// AppendBinary appends the encoding of s to b: a version byte, then every
// field as a varint (signed fields zig-zag, as binary.AppendVarint does),
// those of each version after the earlier versions' fields, so that
// DecodeState reads an older encoding as far as it goes. A fresh user's
// State takes about 25 bytes.
func (s *State) AppendBinary(b []byte) []byte {
	b = append(b, stateVersion)
	b = binary.AppendVarint(b, s.LastActivity)
	b = binary.AppendVarint(b, s.ChurnedAt)
	b = binary.AppendUvarint(b, uint64(s.Fired))
	b = binary.AppendUvarint(b, uint64(s.Open))
	b = binary.AppendVarint(b, s.OpenAt)
	for i := range NumReasons {
		b = binary.AppendVarint(b, s.LastAt[i])
		b = binary.AppendUvarint(b, uint64(s.LastLevel[i]))
	}
	b = binary.AppendUvarint(b, uint64(s.Gaps))
	b = binary.AppendVarint(b, s.GapLog)
	b = binary.AppendVarint(b, s.GapVar)
	b = binary.AppendVarint(b, s.First)
	bought := uint64(0)
	if s.Bought {
		bought = 1
	}
	b = binary.AppendUvarint(b, bought)
	b = binary.AppendUvarint(b, uint64(s.ChurnBin))
	return binary.AppendUvarint(b, uint64(s.Warned))
}

var errState = errors.New("warnings: corrupt or unknown State encoding")

// DecodeState decodes a State written by AppendBinary, of this version or
// an earlier one, and returns the rest of b. A version-1 state has no rhythm
// (the prior speaks for the user until their next gaps) and loses the
// retired falling_* rules' fields.
func DecodeState(b []byte) (State, []byte, error) {
	var s State
	if len(b) == 0 || b[0] < 1 || b[0] > stateVersion {
		return s, b, errState
	}
	version := b[0]
	b = b[1:]
	bad := false
	i64 := func() int64 {
		v, n := binary.Varint(b)
		if n <= 0 {
			bad = true
			return 0
		}
		b = b[n:]
		return v
	}
	u64 := func(limit uint64) uint64 {
		v, n := binary.Uvarint(b)
		if n <= 0 || v > limit {
			bad = true
			return 0
		}
		b = b[n:]
		return v
	}
	s.LastActivity = i64()
	s.ChurnedAt = i64()
	if version == 1 {
		// PeriodStart, Periods, Visits, Purchases, Spend and the three
		// baselines of the retired falling_* rules.
		_ = i64()
		for range 3 {
			_ = u64(1<<32 - 1)
		}
		for range 4 {
			_ = i64()
		}
	}
	s.Fired = uint8(u64(3))
	s.Open = uint8(u64(1<<NumReasons-1)) & raisedMask
	s.OpenAt = i64()
	for i := range NumReasons {
		s.LastAt[i] = i64()
		s.LastLevel[i] = uint8(u64(uint64(Recovered)))
	}
	if version >= 2 {
		s.Gaps = uint32(u64(1<<32 - 1))
		s.GapLog = i64()
		s.GapVar = i64()
		s.First = i64()
	}
	if version >= 3 {
		s.Bought = u64(1) == 1
		s.ChurnBin = uint8(u64(outcomeBins))
	}
	if version >= 4 {
		s.Warned = uint8(u64(1<<3 - 1))
	} else {
		// Before Warned, a level's score counted every silence that
		// reached it: take the levels that came due as warned.
		s.Warned = 1<<s.Fired - 1
	}
	if bad {
		return State{}, b, errState
	}
	return s, b, nil
}
