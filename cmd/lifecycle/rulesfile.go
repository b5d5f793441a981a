package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/lifecycle-engine/lifecycle/schemas"
)

// rulesFile is what a rules file holds (schemas/rules.v1.schema.json): one
// place for every rule setting, with a version that every output made
// with it carries. Each setting is a flag's value, so a file and the flags
// mean the same; absent settings keep the flags' defaults.
type rulesFile struct {
	Version string `yaml:"version"`
	Stages  struct {
		ChurnAfter  *string `yaml:"churn_after"`
		SilentAfter *string `yaml:"silent_after"`
		MatureAt    *string `yaml:"mature_at"`
	} `yaml:"stages"`
	Warnings struct {
		Risk         []string `yaml:"risk"`
		Lifetime     *string  `yaml:"lifetime"`
		TenureWeight *string  `yaml:"tenure_weight"`
		PriorGap     *string  `yaml:"prior_gap"`
		Cooldown     *string  `yaml:"cooldown"`
		QuietAfter   *string  `yaml:"quiet_after"`
		PAliveBelow  *string  `yaml:"p_alive_below"`
		Recall       *string  `yaml:"recall"`
		RecallLead   *string  `yaml:"recall_lead"`
		BreakDays    *string  `yaml:"break_days"`
		DetectBreaks *string  `yaml:"detect_breaks"`
	} `yaml:"warnings"`
	Segments struct {
		Window  *string `yaml:"window"`
		Refresh *string `yaml:"refresh"`
	} `yaml:"segments"`
	Prediction struct {
		Horizon    *string `yaml:"horizon"`
		CLVHorizon *string `yaml:"clv_horizon"`
		Discount   *string `yaml:"discount"`
	} `yaml:"prediction"`
	// Inputs maps records in another format to events (schemas.Mapping):
	// not a flag's value, but part of the rules all the same, since it
	// decides what is computed; the rules hash covers it.
	Inputs *inputsSection `yaml:"inputs"`
	// RatesFile is the exchange rates table (schemas.ParseRates), a path
	// relative to the rules file: part of the rules, since it decides
	// the amounts; the rules hash covers its content (applyRates).
	RatesFile *string `yaml:"rates_file"`
}

// inputsSection is the inputs: section of a rules file, a schemas.Mapping
// in YAML: a field's paths may be one path or a list.
type inputsSection struct {
	Preset string `yaml:"preset"`
	Types  []struct {
		Type string `yaml:"type"`
		When string `yaml:"when"`
	} `yaml:"types"`
	Otherwise string `yaml:"otherwise"`
	Fields    struct {
		EventID         yamlPaths `yaml:"event_id"`
		UserID          yamlPaths `yaml:"user_id"`
		Time            yamlPaths `yaml:"time"`
		Amount          yamlPaths `yaml:"amount"`
		Currency        yamlPaths `yaml:"currency"`
		DefaultCurrency string    `yaml:"default_currency"`
		Kind            yamlPaths `yaml:"kind"`
	} `yaml:"fields"`
}

// yamlPaths is a field path or a list of them: `time: timestamp` or
// `user_id: [userId, anonymousId]`.
type yamlPaths []string

func (p *yamlPaths) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*p = yamlPaths{n.Value}
		return nil
	case yaml.SequenceNode:
		var s []string
		if err := n.Decode(&s); err != nil {
			return err
		}
		*p = s
		return nil
	}
	return fmt.Errorf("line %d: want a field path (like properties.revenue) or a list of them", n.Line)
}

// mapping returns the section as a schemas.Mapping.
func (in *inputsSection) mapping() schemas.Mapping {
	m := schemas.Mapping{Preset: in.Preset, Otherwise: in.Otherwise, Fields: schemas.MappedFields{
		EventID: in.Fields.EventID, UserID: in.Fields.UserID, Time: in.Fields.Time, Amount: in.Fields.Amount,
		Currency: in.Fields.Currency, DefaultCurrency: in.Fields.DefaultCurrency, Kind: in.Fields.Kind,
	}}
	if in.Types != nil {
		m.Types = make([]schemas.TypeRule, len(in.Types))
		for i, t := range in.Types {
			m.Types[i] = schemas.TypeRule{Type: t.Type, When: t.When}
		}
	}
	return m
}

// setting is one rule setting of a file: its path there and its flag.
type setting struct {
	path, flag string
	value      *string
}

func (f *rulesFile) settings() []setting {
	var risk *string
	if f.Warnings.Risk != nil {
		s := strings.Join(f.Warnings.Risk, ",")
		risk = &s
	}
	return []setting{
		{"stages.churn_after", "churn-after", f.Stages.ChurnAfter},
		{"stages.silent_after", "silent-after", f.Stages.SilentAfter},
		{"stages.mature_at", "mature-at", f.Stages.MatureAt},
		{"warnings.risk", "warn-risk", risk},
		{"warnings.lifetime", "warn-lifetime", f.Warnings.Lifetime},
		{"warnings.tenure_weight", "warn-tenure-weight", f.Warnings.TenureWeight},
		{"warnings.prior_gap", "warn-prior-gap", f.Warnings.PriorGap},
		{"warnings.cooldown", "warn-cooldown", f.Warnings.Cooldown},
		{"warnings.quiet_after", "warn-quiet-after", f.Warnings.QuietAfter},
		{"warnings.p_alive_below", "warn-p-alive-below", f.Warnings.PAliveBelow},
		{"warnings.recall", "warn-recall", f.Warnings.Recall},
		{"warnings.recall_lead", "warn-recall-lead", f.Warnings.RecallLead},
		{"warnings.break_days", "warn-break-days", f.Warnings.BreakDays},
		{"warnings.detect_breaks", "warn-detect-breaks", f.Warnings.DetectBreaks},
		{"segments.window", "rfm-window", f.Segments.Window},
		{"segments.refresh", "rfm-refresh", f.Segments.Refresh},
		{"prediction.horizon", "prediction-horizon", f.Prediction.Horizon},
		{"prediction.clv_horizon", "clv-horizon", f.Prediction.CLVHorizon},
		{"prediction.discount", "discount", f.Prediction.Discount},
	}
}

// rulesFlag adds --rules (and --rates-file); applyRules reads the file it
// names, and sets fs.inputs from its inputs: section and fs.rates from its
// rates_file: (or --rates-file).
func (fs *flagSet) rulesFlag() *string {
	fs.ratesFlag() // a rates table is part of the rules (rates.go)
	return fs.String("rules", "", "a rules file (YAML, schemas/rules.v1.schema.json) with every rule setting and a version stamped on every output; the rule flags are then refused")
}

// applyRules reads the rules file at path into the rule flags of fs and
// returns its version ("" without a file). A rule flag given as well, on
// the command line or in the environment, is refused: the version would
// no longer say what ran.
func (fs *flagSet) applyRules(path string) (string, error) {
	if path == "" {
		return "", fs.applyRates("", nil)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%w: --rules: %v", errUsage, err)
	}
	var f rulesFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		msg := err.Error()
		if te, ok := errors.AsType[*yaml.TypeError](err); ok {
			for i, e := range te.Errors { // "line 3: field x not found in type struct { … }"
				e, _, _ = strings.Cut(e, " in type ")
				te.Errors[i] = e
			}
			msg = strings.Join(te.Errors, "; ")
		}
		return "", fmt.Errorf("%w: rules file %s: %s (see schemas/rules.v1.schema.json for the settings)", errUsage, path, msg)
	}
	if strings.TrimSpace(f.Version) == "" {
		return "", fmt.Errorf("%w: rules file %s: no version: add a line like `version: \"2026-12-01\"`, which every output made with these rules will carry", errUsage, path)
	}
	var given []string
	fs.Visit(func(fl *flag.Flag) {
		for _, s := range f.settings() {
			if fl.Name == s.flag {
				given = append(given, "--"+fl.Name+" (or "+envName(fl.Name)+")")
			}
		}
	})
	if len(given) > 0 {
		return "", fmt.Errorf("%w: %s given with --rules: put the setting in the rules file %s, so that its version says what ran", errUsage, strings.Join(given, ", "), path)
	}
	if f.Inputs != nil {
		m := f.Inputs.mapping()
		if _, err := m.Resolve(); err != nil {
			return "", fmt.Errorf("%w: rules file %s: %v", errUsage, path, err)
		}
		// evaluate's inputs (the simulator, --events) are native events,
		// routed and keyed by the event.v1 fields type and user_id: mapped
		// records would all be dead-lettered.
		if fs.name == "evaluate" {
			return "", fmt.Errorf("%w: rules file %s: inputs: is for lifecycle run and replay; evaluate reads native events (the simulator's, or --events in the event.v1 schema): use a rules file without inputs: here", errUsage, path)
		}
		fs.inputs = &m
	}
	for _, s := range f.settings() {
		if s.value == nil {
			continue
		}
		if fs.Lookup(s.flag) == nil {
			return "", fmt.Errorf("%w: rules file %s: %s is not used by lifecycle %s; leave it out here", errUsage, path, s.path, fs.name)
		}
		if err := fs.Set(s.flag, *s.value); err != nil {
			return "", fmt.Errorf("%w: rules file %s: %s %s: %v (as --%s)", errUsage, path, s.path, strconv.Quote(*s.value), err, s.flag)
		}
	}
	if err := fs.applyRates(path, f.RatesFile); err != nil {
		return "", err
	}
	return f.Version, nil
}
