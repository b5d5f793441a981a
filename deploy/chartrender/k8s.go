package chartrender

import (
	"fmt"
	"strings"
)

// K8sRelease is the release deploy/k8s is rendered for.
var K8sRelease = Release{Name: "lifecycle", Namespace: "lifecycle"}

// K8s returns the files of deploy/k8s by name: every manifest of the chart
// in chartDir rendered with its default values for K8sRelease, a
// Namespace, and the kustomization listing them all.
func K8s(chartDir string) (map[string]string, error) {
	manifests, _, err := Render(chartDir, nil, K8sRelease)
	if err != nil {
		return nil, err
	}
	files := map[string]string{}
	resources := []string{"namespace.yaml"}
	for _, m := range manifests {
		if m.Template == "namespace.yaml" || m.Template == "kustomization.yaml" {
			return nil, fmt.Errorf("chartrender: the chart's template %s would overwrite a file of its own in deploy/k8s; rename it", m.Template)
		}
		files[m.Template] = header(m.Template) + m.YAML
		resources = append(resources, m.Template)
	}
	files["namespace.yaml"] = header("") + fmt.Sprintf(namespaceYAML, K8sRelease.Namespace)
	files["kustomization.yaml"] = header("") + fmt.Sprintf(kustomizationYAML, K8sRelease.Namespace, "  - "+strings.Join(resources, "\n  - "))
	return files, nil
}

func header(template string) string {
	from := "deploy/helm/lifecycle"
	if template != "" {
		from += "/templates/" + template
	}
	return "# Generated from the Helm chart (" + from + ", default values) by\n" +
		"# `cd deploy && go run ./k8sgen`: edit the chart, not this file.\n"
}

const namespaceYAML = `# Everything of the engine lives in this namespace (kustomization.yaml sets
# it on every object).
apiVersion: v1
kind: Namespace
metadata:
  name: %s
  labels:
    app.kubernetes.io/name: lifecycle
    app.kubernetes.io/part-of: lifecycle
`

const kustomizationYAML = `#
# kubectl apply -k deploy/k8s
#
# The chart with its default values: example brokers, image and credentials.
# Do not edit these files (they are rewritten from the chart); install the
# chart with your values (deploy/README.md), or keep a kustomize overlay of
# your own with this directory in its resources that sets the image
# (images:) and LIFECYCLE_BROKERS (the ConfigMap lifecycle-config), and drops
# the example Secrets (a patch with $patch: delete) for real ones from your
# secret manager.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: %s
resources:
%s
`
