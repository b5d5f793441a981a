package schemas_test

import (
	"encoding/json"
	"regexp"
	"testing"
	"time"

	"github.com/lifecycle-engine/lifecycle/schemas"
)

func TestFormatTime(t *testing.T) {
	tests := []struct {
		ms   int64
		want string
	}{
		{0, "1970-01-01T00:00:00.000Z"},
		{1, "1970-01-01T00:00:00.001Z"},
		{1795329000000, "2026-11-22T06:30:00.000Z"},
		{1795329000120, "2026-11-22T06:30:00.120Z"},
		{253402300799999, "9999-12-31T23:59:59.999Z"},
	}
	for _, tt := range tests {
		if got := schemas.FormatTime(tt.ms); got != tt.want {
			t.Errorf("FormatTime(%d) = %q; want %q", tt.ms, got, tt.want)
		}
		back, err := time.Parse(time.RFC3339Nano, tt.want)
		if err != nil || back.UnixMilli() != tt.ms {
			t.Errorf("%q parses back to %d, %v; want %d", tt.want, back.UnixMilli(), err, tt.ms)
		}
	}
}

func TestOutputID(t *testing.T) {
	hex32 := regexp.MustCompile(`^[0-9a-f]{32}$`)
	base := schemas.OutputID("u-42", "transition", "growing", 1795329000000, "e-1")
	if !hex32.MatchString(base) {
		t.Fatalf("OutputID = %q; want 32 lower-case hex digits", base)
	}
	if again := schemas.OutputID("u-42", "transition", "growing", 1795329000000, "e-1"); again != base {
		t.Errorf("equal inputs gave %q and %q", base, again)
	}
	// A pinned value: the id is part of the wire contract (consumers
	// deduplicate by it across releases), so it must never change silently.
	// Checked independently of this code: Python hashlib.sha256 over the
	// encoding documented on OutputID gives the same digits.
	if want := "60ad664b48ab8d6b2de44b9ad0752623"; base != want {
		t.Errorf("OutputID(u-42, transition, growing, 1795329000000, e-1) = %s; want %s", base, want)
	}
	differ := map[string]string{
		"user":              schemas.OutputID("u-43", "transition", "growing", 1795329000000, "e-1"),
		"kind":              schemas.OutputID("u-42", "warning", "growing", 1795329000000, "e-1"),
		"target":            schemas.OutputID("u-42", "transition", "mature", 1795329000000, "e-1"),
		"at":                schemas.OutputID("u-42", "transition", "growing", 1795329000001, "e-1"),
		"trigger":           schemas.OutputID("u-42", "transition", "growing", 1795329000000, ""),
		"boundary shifted":  schemas.OutputID("u-4", "2transition", "growing", 1795329000000, "e-1"),
		"boundary shifted2": schemas.OutputID("u-42", "transitiong", "rowing", 1795329000000, "e-1"),
	}
	for what, id := range differ {
		if id == base {
			t.Errorf("changing the %s gave the same id %s", what, id)
		}
	}
}

// The ids in the transition schema's examples are real OutputIDs.
func TestTransitionExampleIDs(t *testing.T) {
	raw, err := schemas.Files.ReadFile(schemas.TransitionSchemaFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Examples []schemas.Transition }
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	for _, ex := range doc.Examples {
		at, err := time.Parse(time.RFC3339Nano, ex.At)
		if err != nil {
			t.Fatal(err)
		}
		if want := schemas.OutputID(ex.UserID, schemas.KindTransition, schemas.TransitionTarget(ex.From, ex.To), at.UnixMilli(), ex.TriggerEventID); ex.ID != want {
			t.Errorf("example %s→%s at %s: id %s; OutputID gives %s", ex.From, ex.To, ex.At, ex.ID, want)
		}
	}
}
