// Command k8sgen writes deploy/k8s, the plain manifests for `kubectl apply
// -k`, from the Helm chart in deploy/helm/lifecycle with its default
// values, and removes the YAML files there that the chart no longer makes.
// Run it from deploy/ after changing the chart:
//
//	cd deploy && go run ./k8sgen
//
// TestK8sIsTheRenderedChart fails while deploy/k8s differs from what this
// writes.
package main

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/lifecycle-engine/lifecycle/deploy/chartrender"
)

func main() {
	if err := run("helm/lifecycle", "k8s"); err != nil {
		fmt.Fprintln(os.Stderr, "k8sgen:", err)
		os.Exit(1)
	}
}

func run(chartDir, outDir string) error {
	if _, err := os.Stat(filepath.Join(chartDir, "Chart.yaml")); err != nil {
		return fmt.Errorf("%v: run it in deploy/ (cd deploy && go run ./k8sgen)", err)
	}
	files, err := chartrender.K8s(chartDir)
	if err != nil {
		return err
	}
	old, err := filepath.Glob(filepath.Join(outDir, "*.yaml"))
	if err != nil {
		return err
	}
	for _, f := range old {
		if _, keep := files[filepath.Base(f)]; !keep {
			if err := os.Remove(f); err != nil {
				return err
			}
			fmt.Println("removed", f)
		}
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(outDir, name), []byte(text), 0o644); err != nil {
			return err
		}
	}
	fmt.Printf("wrote %d files to %s: %s\n", len(files), outDir, strings.Join(slices.Sorted(maps.Keys(files)), " "))
	return nil
}
