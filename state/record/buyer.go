package record

import (
	"encoding/binary"
	"fmt"

	"github.com/lifecycle-engine/lifecycle/processor/segments"
	"github.com/lifecycle-engine/lifecycle/schemas"
)

// Buyer is what an RFM rebuild needs of a user who has purchased: their
// purchase facts and their last score. The store keeps it in an index of
// its own, next to the user record, so that a rebuild reads a few dozen
// bytes per buyer instead of decoding every user's record: the rebuild's
// cost then follows the buyers, not the whole population.
type Buyer struct {
	LastPurchase int64
	Purchases    int64
	Spend        schemas.Micros
	Segment      segments.Score
	Window       segments.Window
}

// BuyerOf returns r's entry of the buyers index; ok is false for a user
// who never purchased (purchases are never taken back, so a buyer stays one).
func BuyerOf(r *User) (b Buyer, ok bool) {
	if r.User.Purchases <= 0 {
		return b, false
	}
	return Buyer{LastPurchase: r.User.LastPurchase, Purchases: r.User.Purchases, Spend: r.User.Spend,
		Segment: r.Segment, Window: r.Window}, true
}

// Values returns the buyer's RFM values at event time now.
func (b *Buyer) Values(now int64) segments.Values {
	return b.Window.Values(now, b.LastPurchase, b.Purchases, b.Spend)
}

const buyerV1 = 1

// AppendBuyer appends the stored form of a buyers index entry to dst.
func AppendBuyer(dst []byte, b Buyer) []byte {
	dst = append(dst, buyerV1)
	dst = binary.AppendVarint(dst, b.LastPurchase)
	dst = binary.AppendVarint(dst, b.Purchases)
	dst = binary.AppendVarint(dst, int64(b.Spend))
	sc := b.Segment
	dst = append(dst, sc.R, sc.F, sc.M, byte(sc.Segment))
	dst, _ = b.Window.AppendBinary(dst) // fails only on a window the package never builds
	return dst
}

// DecodeBuyer parses the stored form of a buyers index entry.
func DecodeBuyer(v []byte) (Buyer, error) {
	var b Buyer
	if len(v) < 1 || v[0] != buyerV1 {
		return b, fmt.Errorf("%w: buyers index entry version is not %d", ErrNewerFormat, buyerV1)
	}
	d := decoder{b: v[1:]}
	b.LastPurchase = d.varint()
	b.Purchases = d.varint()
	b.Spend = schemas.Micros(d.varint())
	b.Segment = segments.Score{R: d.byte(), F: d.byte(), M: d.byte(), Segment: segments.Segment(d.byte())}
	if d.err != nil {
		return b, fmt.Errorf("%w: buyers index entry does not decode", ErrCorrupt)
	}
	w, n, err := segments.DecodeWindow(d.b)
	if err != nil || n != len(d.b) {
		return b, fmt.Errorf("%w: buyers index entry: window does not decode", ErrCorrupt)
	}
	b.Window = w
	return b, nil
}
