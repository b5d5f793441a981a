// Package chartrender renders the Helm chart in deploy/helm/lifecycle as
// `helm template` does, with Helm's own Go packages (helm.sh/helm/v4), so
// that the tests check what `helm install` would apply and k8sgen writes
// deploy/k8s from the same rendering: the plain manifests are the chart
// with its default values, never a second copy kept by hand.
package chartrender

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
)

// Manifest is one rendered template of the chart.
type Manifest struct {
	Template string // its file name in templates/, like statefulset.yaml
	YAML     string // the rendered objects, "---"-separated
}

// Release names the release a chart is rendered for (helm's NAME and
// --namespace).
type Release struct {
	Name, Namespace string
}

// Render renders the chart in dir with vals over its values.yaml (as -f
// and --set do; values.schema.json is checked) for rel. It returns the
// non-empty manifests in file-name order and the rendered NOTES.txt.
func Render(dir string, vals map[string]any, rel Release) (manifests []Manifest, notes string, err error) {
	ch, err := loader.LoadDir(dir)
	if err != nil {
		return nil, "", fmt.Errorf("chartrender: %w", err)
	}
	top, err := util.ToRenderValues(ch, vals, common.ReleaseOptions{Name: rel.Name, Namespace: rel.Namespace, IsInstall: true}, nil)
	if err != nil {
		return nil, "", fmt.Errorf("chartrender: %s: %w", dir, err)
	}
	out, err := engine.Render(ch, top)
	if err != nil {
		return nil, "", fmt.Errorf("chartrender: %s: %w", dir, err)
	}
	for name, text := range out {
		file := path.Base(name)
		if file == "NOTES.txt" {
			notes = text
			continue
		}
		text = strings.TrimLeft(text, "\n")
		if strings.TrimSpace(text) == "" {
			continue // a template switched off by the values
		}
		manifests = append(manifests, Manifest{Template: file, YAML: text})
	}
	slices.SortFunc(manifests, func(a, b Manifest) int { return strings.Compare(a.Template, b.Template) })
	return manifests, notes, nil
}
