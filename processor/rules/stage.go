package rules

// Stage is a user's place in the lifecycle (domain.md, Lifecycle stages).
type Stage uint8

// The stages, in the order of the domain's model. The numbers are stored on
// disk: append, never renumber.
const (
	None    Stage = iota // before the first event
	New                  // has used the product, never paid
	Growing              // has paid, fewer than MatureAt times
	Mature               // has paid MatureAt times or more
	Silent               // used to buy, has not bought for SilentAfter
	Churned              // no activity for ChurnAfter
)

// Stages lists every stage in model order, for reports that count users per stage.
var Stages = [...]Stage{None, New, Growing, Mature, Silent, Churned}

var stageNames = [...]string{"none", "new", "growing", "mature", "silent", "churned"}

// String returns the wire name of the stage.
func (s Stage) String() string {
	if int(s) < len(stageNames) {
		return stageNames[s]
	}
	return "invalid"
}

// ParseStage maps a wire name to its Stage.
func ParseStage(name string) (Stage, bool) {
	for i, n := range stageNames {
		if n == name {
			return Stage(i), true
		}
	}
	return None, false
}
