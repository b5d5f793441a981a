package bench

import (
	"reflect"
	"strings"
	"testing"
)

// TestPhaseTopicsAreTheRunsOwn checks that every topic field the processor
// has is named after the bench phase: one left to its default would be
// shared by concurrent runs and deleted under them by the cleanup.
func TestPhaseTopicsAreTheRunsOwn(t *testing.T) {
	const prefix = "bench-1-drain"
	v := reflect.ValueOf(phaseTopics(prefix, prefix+"-group"))
	for i := range v.NumField() {
		name := v.Type().Field(i).Name
		f := v.Field(i)
		names := []string{}
		if f.Kind() == reflect.Slice {
			names = f.Interface().([]string)
		} else {
			names = append(names, f.String())
		}
		if len(names) == 0 {
			t.Errorf("Topics.%s is empty: the processor would use its default", name)
		}
		for _, n := range names {
			if !strings.Contains(n, prefix) {
				t.Errorf("Topics.%s = %q, not named after the run %q", name, n, prefix)
			}
		}
	}
}
