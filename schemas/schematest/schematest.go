// Package schematest compiles the JSON Schema files of package schemas for
// tests, with format assertions on (so "date-time" is checked), and
// validates JSON texts against them.
package schematest

import (
	"bytes"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/lifecycle-engine/lifecycle/schemas"
)

// BaseURL is the prefix of every schema file's $id.
const BaseURL = "https://github.com/lifecycle-engine/lifecycle/schemas/"

// Compile compiles the schema file name of schemas.Files (for example
// schemas.EventSchemaFile), failing tb if it cannot.
func Compile(tb testing.TB, name string) *jsonschema.Schema {
	tb.Helper()
	s, err := compile(name)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func compile(name string) (*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	files, err := fs.Glob(schemas.Files, "*.schema.json")
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		b, err := schemas.Files.ReadFile(f)
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("schematest: %s: %w", f, err)
		}
		if err := c.AddResource(BaseURL+f, doc); err != nil {
			return nil, fmt.Errorf("schematest: %s: %w", f, err)
		}
	}
	return c.Compile(BaseURL + name)
}

// Validate reports whether the JSON text doc is valid against s: nil if it
// is, otherwise why not. Numbers are read exactly (as json.Number).
func Validate(s *jsonschema.Schema, doc []byte) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	return s.Validate(v)
}

// Oneline flattens a multi-line validation error for a test log line.
func Oneline(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
