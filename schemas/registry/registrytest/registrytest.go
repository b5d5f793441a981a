// Package registrytest gives tests the real schema registry they run
// against: the one at LIFECYCLE_TEST_REGISTRY (deploy/registry/local.sh
// starts Apicurio Registry and prints it with `env`). There is no fake:
// without one, tests that need it skip, except with CI=true, where they
// fail, since .ci/run starts one.
package registrytest

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/lifecycle-engine/lifecycle/schemas/registry"
)

// URL returns the registry's URL, or skips t (fails it with CI=true).
func URL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("LIFECYCLE_TEST_REGISTRY")
	if u == "" {
		const why = "LIFECYCLE_TEST_REGISTRY is not set: start a schema registry with `deploy/registry/local.sh start` and `eval \"$(deploy/registry/local.sh env)\"`"
		if os.Getenv("CI") == "true" {
			t.Fatal(why + " (.ci/run does)")
		}
		t.Skip(why)
	}
	return u
}

// Registry returns a client of the registry of URL.
func Registry(t testing.TB) *registry.Registry {
	t.Helper()
	r, err := registry.New(registry.Config{URL: URL(t)})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Subject returns a subject name unique to t and this run, so that tests
// on one registry do not share subjects.
func Subject(t testing.TB, name string) string {
	return fmt.Sprintf("%s-%s-%d", t.Name(), name, time.Now().UnixNano())
}

// Register registers an Avro schema under subject and returns its id.
func Register(t testing.TB, r *registry.Registry, subject, schema string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := r.Client().CreateSchema(ctx, subject, srSchema(schema))
	if err != nil {
		t.Fatalf("register %s: %v", subject, err)
	}
	return s.ID
}

func srSchema(s string) sr.Schema { return sr.Schema{Schema: s, Type: sr.TypeAvro} }
