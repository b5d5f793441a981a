package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"go.uber.org/zap"

	"github.com/lifecycle-engine/lifecycle/processor"
	"github.com/lifecycle-engine/lifecycle/schemas"
	"github.com/lifecycle-engine/lifecycle/schemas/registry"
)

// registryFlags choose the wire formats of run's inputs and outputs, and
// the schema registry the Avro ones need.
type registryFlags struct {
	inputFormat, outputFormat *string
	url, user, passwordFile   *string
}

func (fs *flagSet) registryFlags() registryFlags {
	return registryFlags{
		inputFormat: fs.String("input-format", "json", "format of the input records' values: json, or avro (the Confluent wire format: magic byte, schema id, Avro payload; needs --schema-registry). "+
			"An Avro record named like event.v1 (event_id, user_id, type, ts, amount, currency, kind) is read as the native event; any other is read by the rules file's inputs: mapping"),
		outputFormat: fs.String("output-format", "json", "format of transitions, churn warnings and segment changes: json, or avro (the Confluent wire format, schemas registered under <topic>-value in --schema-registry after a compatibility check; dead letters stay as they came)"),
		url:          fs.String("schema-registry", "", "URL of a Confluent-compatible schema registry, like http://registry:8081 (Apicurio: http://registry:8080/apis/ccompat/v7); needed by --input-format avro and --output-format avro"),
		user:         fs.String("schema-registry-user", "", "user (Confluent Cloud: API key) for HTTP basic auth to the registry; the password is read from --schema-registry-password-file"),
		passwordFile: fs.String("schema-registry-password-file", "", "file holding the registry password (a mounted secret; surrounding white space ignored)"),
	}
}

// formats is what registryFlags set up: the decoder's format and the
// processor's schema source and output encoder, all nil for JSON.
type formats struct {
	input   *registry.Inputs
	outputs *registry.Outputs
}

// setup checks the flags and connects what they ask for: the Avro input
// reader, and the Avro outputs, whose schemas it registers (refusing an
// incompatible change). maxRecordBytes is --max-record-bytes.
func (r registryFlags) setup(ctx context.Context, topics processor.Topics, maxRecordBytes int, log *zap.Logger) (formats, error) {
	var f formats
	for _, v := range []struct{ flag, value string }{{"--input-format", *r.inputFormat}, {"--output-format", *r.outputFormat}} {
		if v.value != "json" && v.value != "avro" {
			return f, fmt.Errorf("%w: %s %q: use json or avro", errUsage, v.flag, v.value)
		}
	}
	if *r.inputFormat == "json" && *r.outputFormat == "json" {
		if *r.url != "" {
			return f, fmt.Errorf("%w: --schema-registry is set but neither --input-format nor --output-format is avro; add --input-format avro and/or --output-format avro, or drop --schema-registry", errUsage)
		}
		return f, nil
	}
	if *r.url == "" {
		return f, fmt.Errorf("%w: --input-format avro and --output-format avro need --schema-registry URL, like --schema-registry http://registry:8081", errUsage)
	}
	cfg := registry.Config{URL: *r.url, User: *r.user, Log: log}
	if *r.passwordFile != "" {
		b, err := os.ReadFile(*r.passwordFile)
		if err != nil {
			return f, fmt.Errorf("%w: --schema-registry-password-file: %v", errUsage, err)
		}
		cfg.Password = strings.TrimSpace(string(b))
	}
	reg, err := registry.New(cfg)
	if err != nil {
		return f, fmt.Errorf("%w: --schema-registry: %v", errUsage, err)
	}
	if *r.inputFormat == "avro" {
		f.input = registry.NewInputs(ctx, reg, maxRecordBytes)
	}
	if *r.outputFormat == "avro" {
		f.outputs, err = registry.NewOutputs(ctx, reg, map[string]string{
			topics.Transitions: schemas.SchemaTransitionV1,
			topics.Warnings:    schemas.SchemaWarningV1,
			topics.Segments:    schemas.SchemaSegmentV1,
		})
		if err != nil {
			return f, fmt.Errorf("--output-format avro: %w", err)
		}
		log.Info("outputs in Avro", zap.String("registry", *r.url), zap.Strings("subjects", []string{topics.Transitions + "-value", topics.Warnings + "-value", topics.Segments + "-value"}))
	}
	return f, nil
}

// apply puts the formats into the processor's config.
func (f formats) apply(cfg *processor.Config) {
	if f.input != nil {
		cfg.Decoder.Format = f.input
		cfg.Schemas = f.input
	}
	if f.outputs != nil {
		cfg.OutputFormat = f.outputs
	}
}
