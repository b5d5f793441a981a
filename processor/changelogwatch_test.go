package processor

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
)

// TestInputsUnchanged: a start is refused when an input the state has
// applied records of now has another topic ID, and only then.
func TestInputsUnchanged(t *testing.T) {
	old, anew, none := kadm.TopicID{1}, kadm.TopicID{2}, kadm.TopicID{}
	for _, c := range []struct {
		name    string
		then    map[string]kadm.TopicID
		applied map[string]int64
		now     map[string]kadm.TopicID
		refused bool
	}{
		{"the same topic", map[string]kadm.TopicID{"login": old}, map[string]int64{"login": 7}, map[string]kadm.TopicID{"login": old}, false},
		{"created anew after records were applied", map[string]kadm.TopicID{"login": old}, map[string]int64{"login": 7}, map[string]kadm.TopicID{"login": anew}, true},
		{"created anew before its first record", map[string]kadm.TopicID{"login": old}, map[string]int64{"login": 0}, map[string]kadm.TopicID{"login": anew}, false},
		{"created anew, nothing of it applied", map[string]kadm.TopicID{"login": old}, nil, map[string]kadm.TopicID{"login": anew}, false},
		{"its ID unknown now", map[string]kadm.TopicID{"login": old}, map[string]int64{"login": 7}, map[string]kadm.TopicID{"login": none}, false},
		{"no longer an input", map[string]kadm.TopicID{"login": old}, map[string]int64{"login": 7}, map[string]kadm.TopicID{}, false},
		{"one of two created anew", map[string]kadm.TopicID{"login": old, "purchase": old}, map[string]int64{"login": 7, "purchase": 3},
			map[string]kadm.TopicID{"login": old, "purchase": anew}, true},
	} {
		err := inputsUnchanged(0, c.then, c.applied, c.now)
		if got := errors.Is(err, ErrInputRestarted); got != c.refused {
			t.Errorf("%s: %v, want refused %v", c.name, err, c.refused)
		}
	}
}
