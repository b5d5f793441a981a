package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/bits"
	"reflect"
	"testing"
	"time"

	"github.com/lifecycle-engine/lifecycle/processor/retention"
	"github.com/lifecycle-engine/lifecycle/processor/rules"
	"github.com/lifecycle-engine/lifecycle/processor/segments"
	"github.com/lifecycle-engine/lifecycle/schemas"
)

func sampleUser(i int64) User {
	u := rules.User{Stage: rules.Mature, Since: 1000 + i, FirstSeen: 10, LastActivity: 2000 + i,
		LastPurchase: 1500, Purchases: 3 + i, Spend: 59_970_000, Logins: 7, Contents: 2, Returns: 1, RecentNext: 3}
	u.Recent[0], u.Recent[2] = 0xdeadbeef, uint64(i)|1
	u.Buys.Add(1500, 19_990_000)
	u.Buys.Add(1500+3*86_400_000+i, 5_000_000)
	r := User{User: u, Wake: 5000 + i, Offsets: [MaxInputs]int64{7 + i, 0, 3, 1 << 40},
		Segment: segments.Score{R: 5, F: 3, M: 4, Segment: segments.ImportantValue}}
	r.Window = segments.Config{Window: 90 * 24 * time.Hour}.NewWindow()
	r.Window.Add(1500, 19_990_000)
	r.Warn.LastActivity = 2000 + i
	r.Activity = retention.Activity{Cohort: 20_000 + i, Days: 0b1011 << i}
	return r
}

func TestRecordRoundTrip(t *testing.T) {
	for i := int64(0); i < 5; i++ {
		want := sampleUser(i)
		got, err := DecodeUser(AppendUser(nil, want))
		if err != nil || got != want {
			t.Errorf("DecodeUser(AppendUser(%+v)) = %+v, %v", want, got, err)
		}
	}
	m := Meta{StreamTime: -5, Partitions: 8, OutboxNext: 42, Stages: [6]int64{0, 3, 2, 1, 0, 9}, Population: []byte(`{"sealed":true}`), Offsets: map[string]int64{"b": 7, "a": 0}, Commits: 3, Rules: "v2@0123456789abcdef"}
	if got, err := DecodeMeta(AppendMeta(nil, m)); err != nil || !reflect.DeepEqual(got, m) {
		t.Errorf("decodeMeta = %+v, %v, want %+v", got, err, m)
	}
	m.Outcomes = []byte{1, 2, 3}
	if got, err := DecodeMeta(AppendMeta(nil, m)); err != nil || !reflect.DeepEqual(got, m) {
		t.Errorf("decodeMeta = %+v, %v, want %+v", got, err, m)
	}
	m.Epoch = 300
	if got, err := DecodeMeta(AppendMeta(nil, m)); err != nil || !reflect.DeepEqual(got, m) {
		t.Errorf("decodeMeta = %+v, %v, want %+v", got, err, m)
	}
	// Records of versions 4 (before Meta.Epoch), 3 (before Meta.Outcomes)
	// and 2 (before Meta.Rules) still decode, without them.
	m.Epoch, m.Outcomes = 0, nil
	v5 := AppendMeta(nil, m)
	v4 := append([]byte{metaV4}, v5[1:len(v5)-1]...) // no epoch: a varint 0
	if got, err := DecodeMeta(v4); err != nil || !reflect.DeepEqual(got, m) {
		t.Errorf("decodeMeta of version 4 = %+v, %v, want %+v", got, err, m)
	}
	v3 := append([]byte{metaV3}, v4[1:len(v4)-1]...) // no outcomes: a length of 0
	if got, err := DecodeMeta(v3); err != nil || !reflect.DeepEqual(got, m) {
		t.Errorf("decodeMeta of version 3 = %+v, %v, want %+v", got, err, m)
	}
	v2 := append([]byte{metaV2}, v3[1:len(v3)-1-len(m.Rules)]...)
	old := m
	old.Rules = ""
	if got, err := DecodeMeta(v2); err != nil || !reflect.DeepEqual(got, old) {
		t.Errorf("decodeMeta of version 2 = %+v, %v, want %+v", got, err, old)
	}
	o := Output{Topic: "t", Key: []byte("k"), Value: []byte(`{"x":1}`), Headers: []Header{{"h", []byte("v")}}}
	if got, err := DecodeOutput(AppendOutput(nil, o)); err != nil || !reflect.DeepEqual(got, o) {
		t.Errorf("decodeOut = %+v, %v, want %+v", got, err, o)
	}
}

// TestUserRecordRecentSlots: version 4 leaves the empty slots of
// User.Recent out, and a record of version 3 (every slot written) still
// decodes to the same user.
func TestUserRecordRecentSlots(t *testing.T) {
	want := sampleUser(1) // two slots in use
	v4 := AppendUser(nil, want)
	v3 := asV3(t, v4)
	if len(v3)-len(v4) != 6*8-1 {
		t.Errorf("version 4 is %d bytes, version 3 %d: want 6 empty slots left out at the cost of a byte", len(v4), len(v3))
	}
	if got, err := DecodeUser(v3); err != nil || got != want {
		t.Errorf("DecodeUser(version 3) = %+v, %v, want %+v", got, err, want)
	}
	full := want
	for i := range full.User.Recent {
		full.User.Recent[i] = uint64(i + 1)
	}
	if got, err := DecodeUser(AppendUser(nil, full)); err != nil || got != full {
		t.Errorf("every slot in use: DecodeUser = %+v, %v, want %+v", got, err, full)
	}
	// A slot marked in use that holds zero is damage.
	at := bytes.Index(v4, binary.LittleEndian.AppendUint64(nil, 0xdeadbeef))
	zeroed := append(append(append([]byte{}, v4[:at]...), make([]byte, 8)...), v4[at+8:]...)
	if _, err := DecodeUser(zeroed); !errors.Is(err, ErrCorrupt) {
		t.Errorf("a slot in use holding zero: got %v, want ErrCorrupt", err)
	}
}

func TestDecodeRejectsDamage(t *testing.T) {
	good := AppendUser(nil, sampleUser(1))
	for name, b := range map[string][]byte{
		"truncated":     good[:len(good)-3],
		"trailing":      append(append([]byte{}, good...), 0),
		"empty":         nil,
		"bad stage":     append([]byte{good[0], 99}, good[2:]...),
		"newer version": append([]byte{userRecordV4 + 1}, good[1:]...),
	} {
		if _, err := DecodeUser(b); err == nil {
			t.Errorf("%s: decodeUser accepted damaged bytes", name)
		}
	}
	if _, err := DecodeUser(append([]byte{userRecordV4 + 1}, good[1:]...)); !errors.Is(err, ErrNewerFormat) {
		t.Errorf("newer user record: got %v, want ErrNewerFormat", err)
	}
}

func TestBuyerRoundTrip(t *testing.T) {
	r := sampleUser(2)
	want, ok := BuyerOf(&r)
	if !ok {
		t.Fatal("a user with purchases is not a buyer")
	}
	got, err := DecodeBuyer(AppendBuyer(nil, want))
	if err != nil || got != want {
		t.Fatalf("DecodeBuyer(AppendBuyer(%+v)) = %+v, %v", want, got, err)
	}
	enc := AppendBuyer(nil, want)
	for name, b := range map[string][]byte{"truncated": enc[:len(enc)-2], "trailing": append(enc, 0), "empty": nil} {
		if _, err := DecodeBuyer(b); err == nil {
			t.Errorf("%s: decodeBuyer accepted damaged bytes", name)
		}
	}
	r.User.Purchases = 0
	if _, ok := BuyerOf(&r); ok {
		t.Error("a user without purchases is a buyer")
	}
}

// TestUserRecordAudit: the audit fields of a converted purchase survive
// the round trip; a record of version 1, written before they existed,
// still decodes, with them empty; damaged audit bytes are refused.
func TestUserRecordAudit(t *testing.T) {
	eur, _ := schemas.ParseCurrency("EUR")
	want := sampleUser(3)
	want.LastOriginal = schemas.Original{Amount: 19_990_000, Currency: eur, Rate: 10_850_000_000}
	enc := withoutActivity(t, asV3(t, AppendUser(nil, want)))
	want.Activity = retention.Activity{Cohort: retention.DayOf(want.User.FirstSeen), Days: 1}
	if got, err := DecodeUser(enc); err != nil || got != want {
		t.Errorf("DecodeUser(AppendUser(%+v)) = %+v, %v", want, got, err)
	}

	// Version 1 is version 2 without the audit byte (a user without a
	// converted purchase: one 0 byte at the end).
	old := sampleUser(4)
	v2 := withoutActivity(t, asV3(t, AppendUser(nil, old)))
	old.Activity = retention.Activity{Cohort: retention.DayOf(old.User.FirstSeen), Days: 1}
	if v2[len(v2)-1] != 0 {
		t.Fatalf("a record without a converted purchase ends in %d, want 0", v2[len(v2)-1])
	}
	v1 := append([]byte{userRecordV1}, v2[1:len(v2)-1]...)
	got, err := DecodeUser(v1)
	if err != nil || got != old || got.LastOriginal != (schemas.Original{}) {
		t.Errorf("a version 1 record decodes to %+v, %v; want %+v with empty audit fields", got, err, old)
	}
	// A version 1 record carrying audit bytes, or a version 2 record
	// without them, is damaged.
	if _, err := DecodeUser(append([]byte{userRecordV1}, enc[1:]...)); err == nil {
		t.Error("a version 1 record with audit bytes decodes")
	}
	if _, err := DecodeUser(append([]byte{userRecordV2}, v1[1:]...)); err == nil {
		t.Error("a version 2 record without its audit byte decodes")
	}
	for name, b := range map[string][]byte{
		"bad flag":     append(append([]byte{}, v2[:len(v2)-1]...), 2),
		"bad currency": bytes.Replace(enc, []byte("EUR"), []byte("eUR"), 1),
		"cut":          enc[:len(enc)-2],
	} {
		if _, err := DecodeUser(b); err == nil {
			t.Errorf("%s: DecodeUser accepted damaged audit bytes", name)
		}
	}
}

// asV3 turns a record of version 4 into the version 3 that builds before
// it wrote: every slot of User.Recent, 8 bytes each.
func asV3(t *testing.T, v4 []byte) []byte {
	t.Helper()
	if v4[0] != userRecordV4 {
		t.Fatalf("a user record is written as version %d, want %d", v4[0], userRecordV4)
	}
	r, err := DecodeUser(v4)
	if err != nil {
		t.Fatal(err)
	}
	at := 2 // the version, the stage, then 19 varints
	for range 19 {
		_, n := binary.Varint(v4[at:])
		at += n
	}
	v3 := append([]byte{userRecordV3}, v4[1:at]...)
	for _, h := range r.User.Recent {
		v3 = binary.LittleEndian.AppendUint64(v3, h)
	}
	return append(v3, v4[at+1+8*bits.OnesCount8(v4[at]):]...)
}

// withoutActivity turns a version 3 record into the version 2 record of
// the same user: without the activity fields at the end.
func withoutActivity(t *testing.T, v3 []byte) []byte {
	t.Helper()
	if v3[0] != userRecordV3 {
		t.Fatalf("a user record is written as version %d, want %d", v3[0], userRecordV3)
	}
	r, err := DecodeUser(v3)
	if err != nil {
		t.Fatal(err)
	}
	tail := len(binary.AppendVarint(nil, r.Activity.Cohort)) + 8
	return append([]byte{userRecordV2}, v3[1:len(v3)-tail]...)
}
