package warnings

import (
	"encoding/binary"
	"errors"
)

// stateVersion is the first byte of an encoded State.
const stateVersion = 1

// AppendBinary appends the encoding of s to b: a version byte, then every
// field in declaration order as a varint (signed fields zig-zag, as
// binary.AppendVarint does). A fresh user's State takes about 20 bytes.
func (s *State) AppendBinary(b []byte) []byte {
	b = append(b, stateVersion)
	b = binary.AppendVarint(b, s.LastActivity)
	b = binary.AppendVarint(b, s.ChurnedAt)
	b = binary.AppendVarint(b, s.PeriodStart)
	b = binary.AppendUvarint(b, uint64(s.Periods))
	b = binary.AppendUvarint(b, uint64(s.Visits))
	b = binary.AppendUvarint(b, uint64(s.Purchases))
	b = binary.AppendVarint(b, s.Spend)
	b = binary.AppendVarint(b, s.BaseVisits)
	b = binary.AppendVarint(b, s.BasePurchases)
	b = binary.AppendVarint(b, s.BaseSpend)
	b = binary.AppendUvarint(b, uint64(s.Fired))
	b = binary.AppendUvarint(b, uint64(s.Open))
	b = binary.AppendVarint(b, s.OpenAt)
	for i := range NumReasons {
		b = binary.AppendVarint(b, s.LastAt[i])
		b = binary.AppendUvarint(b, uint64(s.LastLevel[i]))
	}
	return b
}

var errState = errors.New("warnings: corrupt or unknown State encoding")

// DecodeState decodes a State written by AppendBinary and returns the rest
// of b.
func DecodeState(b []byte) (State, []byte, error) {
	var s State
	if len(b) == 0 || b[0] != stateVersion {
		return s, b, errState
	}
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
	s.PeriodStart = i64()
	s.Periods = uint32(u64(1<<32 - 1))
	s.Visits = uint32(u64(1<<32 - 1))
	s.Purchases = uint32(u64(1<<32 - 1))
	s.Spend = i64()
	s.BaseVisits = i64()
	s.BasePurchases = i64()
	s.BaseSpend = i64()
	s.Fired = uint8(u64(3))
	s.Open = uint8(u64(1<<NumReasons - 1))
	s.OpenAt = i64()
	for i := range NumReasons {
		s.LastAt[i] = i64()
		s.LastLevel[i] = uint8(u64(uint64(Recovered)))
	}
	if bad {
		return State{}, b, errState
	}
	return s, b, nil
}
