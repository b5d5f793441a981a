package simulate

import (
	"testing"
	"time"
)

func TestAppendRFC3339Milli(t *testing.T) {
	for _, ms := range []int64{0, 1, -1, 86_399_999, 951_782_400_000, 1_767_225_600_000, 1_798_761_599_999, 4_102_444_800_000, -62_135_596_800_000, 253_402_300_799_999} {
		want := time.UnixMilli(ms).UTC().Format(tsLayout)
		if got := string(appendRFC3339Milli(nil, ms)); got != want {
			t.Errorf("%d: got %s, want %s", ms, got, want)
		}
	}
	for ms := int64(-5e11); ms < 5e12; ms += 7_919_123_457 {
		want := time.UnixMilli(ms).UTC().Format(tsLayout)
		if got := string(appendRFC3339Milli(nil, ms)); got != want {
			t.Fatalf("%d: got %s, want %s", ms, got, want)
		}
	}
}
