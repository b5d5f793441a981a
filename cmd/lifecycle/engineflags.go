package main

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/lifecycle-engine/lifecycle/processor"
	"github.com/lifecycle-engine/lifecycle/processor/engine"
	"github.com/lifecycle-engine/lifecycle/processor/rules"
	"github.com/lifecycle-engine/lifecycle/processor/segments"
	"github.com/lifecycle-engine/lifecycle/schemas"
)

// engineFlags are the settings of the commands that run the engine away
// from the consumer group (evaluate, replay): the rules, the accounting
// currency and the model as run has them, so that what they compute is
// what run would.
type engineFlags struct {
	churn, silent         *time.Duration
	matureAt              *int
	warn                  *warnFlags
	pred                  predictionFlags
	rules                 *string
	rfmWindow, rfmRefresh *time.Duration
	skew                  *time.Duration
	currency, model       *string
}

func (fs *flagSet) engineFlags(currencyUsage, modelUsage string) engineFlags {
	var f engineFlags
	f.currency = fs.String("currency", schemas.DefaultCurrency, currencyUsage)
	f.model = fs.String("model", "", modelUsage)
	f.churn, f.silent, f.matureAt = fs.ruleFlags()
	f.warn = fs.warnFlags()
	f.pred = fs.predictionFlags()
	f.rules = fs.rulesFlag()
	f.rfmWindow = fs.duration("rfm-window", 0, "as lifecycle run --rfm-window")
	f.rfmRefresh = fs.duration("rfm-refresh", segments.DefaultRefresh, "as lifecycle run --rfm-refresh")
	f.skew = fs.duration("max-future-skew", time.Hour, "as lifecycle run --max-future-skew")
	return f
}

// config reads the flags, once fs is parsed, and the rules file into the
// processor configuration of group on topics, and loads the model (nil
// without --model).
func (f engineFlags) config(fs *flagSet, group string, topics processor.Topics) (processor.Config, *atomic.Pointer[engine.Model], error) {
	version, err := fs.applyRules(*f.rules)
	if err != nil {
		return processor.Config{}, nil, err
	}
	warn, err := f.warn.config()
	if err != nil {
		return processor.Config{}, nil, err
	}
	prediction, err := f.pred.config()
	if err != nil {
		return processor.Config{}, nil, err
	}
	pc := processor.Config{Conn: processor.Conn{Brokers: []string{"unused:9092"}}, Group: group, Topics: topics,
		Rules:    rules.Config{ChurnAfter: *f.churn, SilentAfter: *f.silent, MatureAt: *f.matureAt},
		Warnings: warn, Prediction: prediction, RulesVersion: version,
		Segments: segments.Config{Window: *f.rfmWindow, Refresh: *f.rfmRefresh},
		Decoder:  schemas.DecoderConfig{Currency: *f.currency, Mapping: fs.inputs, Rates: fs.rates}, MaxFutureSkew: *f.skew}
	if err := pc.Validate(); err != nil {
		return processor.Config{}, nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	if *f.model == "" {
		return pc, nil, nil
	}
	m, err := engine.LoadModel(*f.model)
	if err != nil {
		return processor.Config{}, nil, err
	}
	var model atomic.Pointer[engine.Model]
	model.Store(m)
	return pc, &model, nil
}
