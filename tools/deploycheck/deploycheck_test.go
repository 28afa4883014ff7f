package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// swagger is a cut-down Kubernetes swagger.json: one kind with a nested
// object, an int-or-string and a quantity.
const swagger = `{"definitions": {
  "io.example.v1.Widget": {
    "type": "object",
    "properties": {
      "apiVersion": {"type": "string"}, "kind": {"type": "string"},
      "metadata": {"$ref": "#/definitions/io.example.v1.Meta"},
      "spec": {"$ref": "#/definitions/io.example.v1.WidgetSpec"}
    },
    "x-kubernetes-group-version-kind": [{"group": "example.com", "kind": "Widget", "version": "v1"}]
  },
  "io.example.v1.Meta": {"type": "object", "properties": {"name": {"type": "string"}}},
  "io.example.v1.WidgetSpec": {"type": "object", "properties": {
    "replicas": {"type": "integer", "format": "int32"},
    "port": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.util.intstr.IntOrString"},
    "memory": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.api.resource.Quantity"}
  }},
  "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"type": "string", "format": "int-or-string"},
  "io.k8s.apimachinery.pkg.api.resource.Quantity": {"type": "string"}
}}`

func TestSchemasAreStrict(t *testing.T) {
	dir := t.TempDir()
	sw := filepath.Join(dir, "swagger.json")
	if err := os.WriteFile(sw, []byte(swagger), 0o644); err != nil {
		t.Fatal(err)
	}
	schemas := filepath.Join(dir, "schemas")
	if err := writeSchemas(sw, schemas); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(schemas, "widget-example-v1.json")); err != nil {
		t.Fatalf("kubeconform's file name: %v", err)
	}
	valid := "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {replicas: 2, port: http, memory: 1}\n---\n" +
		"apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w2}\nspec: {port: 8080, memory: 64Mi}\n"
	if n, errs := validateSchemas([]byte(valid), schemas); n != 2 || len(errs) != 0 {
		t.Fatalf("valid widgets: %d %v", n, errs)
	}
	for name, bad := range map[string]string{
		"misspelt field": "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {replica: 2}\n",
		"wrong type":     "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {replicas: two}\n",
		"unknown kind":   "apiVersion: example.com/v1\nkind: Gadget\nmetadata: {name: g}\n",
		"duplicate key":  "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {replicas: 1, replicas: 2}\n",
	} {
		if _, errs := validateSchemas([]byte(bad), schemas); len(errs) == 0 {
			t.Errorf("%s: accepted", name)
		}
	}
}

// goodWorkload is a StatefulSet that follows every rule.
func goodWorkload() map[string]any {
	var m map[string]any
	_ = json.Unmarshal([]byte(`{
  "kind": "StatefulSet", "metadata": {"name": "vault"},
  "spec": {
    "template": {"metadata": {"labels": {"app": "vault"}}, "spec": {
      "automountServiceAccountToken": false,
      "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
      "containers": [{"name": "vault", "image": "vigil/vault:0.1.0",
        "ports": [{"name": "grpc", "containerPort": 7103}, {"name": "health", "containerPort": 7300}],
        "readinessProbe": {"grpc": {"port": 7300}}, "livenessProbe": {"grpc": {"port": 7300}},
        "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "capabilities": {"drop": ["ALL"]}},
        "resources": {"limits": {"memory": "512Mi"}},
        "volumeMounts": [{"name": "data", "mountPath": "/data"}, {"name": "tls", "mountPath": "/tls", "readOnly": true}]}],
      "volumes": [{"name": "tls", "secret": {"secretName": "vigil-vault-tls"}}]}},
    "volumeClaimTemplates": [{"metadata": {"name": "data"}}]}}`), &m)
	return m
}

func basics() []object {
	return []object{
		{kind: "Namespace", name: "vigil", m: map[string]any{"metadata": map[string]any{"labels": map[string]any{"pod-security.kubernetes.io/enforce": "restricted"}}}},
		{kind: "Ingress", name: "vigil"}, {kind: "NetworkPolicy", name: "n"}, {kind: "ConfigMap", name: "vigil"},
		{kind: "PodDisruptionBudget", name: "vault", m: map[string]any{"spec": map[string]any{"selector": map[string]any{"matchLabels": map[string]any{"app": "vault"}}}}},
	}
}

func TestPolicy(t *testing.T) {
	if errs := checkPolicy(append(basics(), object{kind: "StatefulSet", name: "vault", m: goodWorkload()})); len(errs) != 0 {
		t.Fatalf("a good workload: %v", errs)
	}
	container := func(m map[string]any) map[string]any {
		return get(m, "spec", "template", "spec", "containers").([]any)[0].(map[string]any)
	}
	podSpec := func(m map[string]any) map[string]any { return get(m, "spec", "template", "spec").(map[string]any) }
	for name, tc := range map[string]struct {
		mutate func(map[string]any)
		want   string
	}{
		"latest image":   {func(m map[string]any) { container(m)["image"] = "vigil/vault:latest" }, "not pinned"},
		"untagged image": {func(m map[string]any) { container(m)["image"] = "registry:5000/vigil/vault" }, "not pinned"},
		"root allowed":   {func(m map[string]any) { delete(podSpec(m)["securityContext"].(map[string]any), "runAsNonRoot") }, "runAsNonRoot"},
		"no seccomp":     {func(m map[string]any) { delete(podSpec(m)["securityContext"].(map[string]any), "seccompProfile") }, "seccomp"},
		"writable root": {func(m map[string]any) {
			container(m)["securityContext"].(map[string]any)["readOnlyRootFilesystem"] = false
		}, "readOnlyRootFilesystem"},
		"escalation": {func(m map[string]any) {
			delete(container(m)["securityContext"].(map[string]any), "allowPrivilegeEscalation")
		}, "allowPrivilegeEscalation"},
		"capabilities kept": {func(m map[string]any) { delete(container(m)["securityContext"].(map[string]any), "capabilities") }, "drop ALL"},
		"probe on mTLS port": {func(m map[string]any) {
			container(m)["readinessProbe"] = map[string]any{"grpc": map[string]any{"port": 7103}}
		}, "health port"},
		"no liveness": {func(m map[string]any) { delete(container(m), "livenessProbe") }, "no livenessProbe"},
		"writable tls": {func(m map[string]any) {
			container(m)["volumeMounts"].([]any)[1].(map[string]any)["readOnly"] = false
		}, "writable"},
		"secret key in vault": {func(m map[string]any) {
			podSpec(m)["volumes"] = append(podSpec(m)["volumes"].([]any), map[string]any{"name": "k", "secret": map[string]any{"secretName": "vigil-secret-key"}})
		}, "vigil-secret-key"},
		"smtp env in vault": {func(m map[string]any) {
			container(m)["env"] = []any{map[string]any{"name": "X", "valueFrom": map[string]any{"secretKeyRef": map[string]any{"name": "vigil-smtp"}}}}
		}, "vigil-smtp"},
		"another's certificate": {func(m map[string]any) {
			podSpec(m)["volumes"].([]any)[0].(map[string]any)["secret"] = map[string]any{"secretName": "vigil-identity-tls"}
		}, "vigil-identity-tls"},
		"token mounted": {func(m map[string]any) { delete(podSpec(m), "automountServiceAccountToken") }, "automountServiceAccountToken"},
	} {
		m := goodWorkload()
		tc.mutate(m)
		errs := checkPolicy(append(basics(), object{kind: "StatefulSet", name: "vault", m: m}))
		if len(errs) == 0 || !strings.Contains(errs[0].Error(), tc.want) {
			t.Errorf("%s: %v", name, errs)
		}
	}
	// A Service that carries /metrics, a workload without a budget, a missing Ingress.
	svc := object{kind: "Service", name: "gateway", m: map[string]any{"spec": map[string]any{"ports": []any{map[string]any{"name": "metrics", "port": 9090}}}}}
	errs := checkPolicy(append(basics()[:1], svc, object{kind: "StatefulSet", name: "vault", m: goodWorkload()}))
	joined := ""
	for _, e := range errs {
		joined += e.Error() + "\n"
	}
	for _, want := range []string{"exposes /metrics", "no PodDisruptionBudget", "no Ingress", "no NetworkPolicy"} {
		if !strings.Contains(joined, want) {
			t.Errorf("missing %q in %s", want, joined)
		}
	}
}

func TestShippedFilesPass(t *testing.T) {
	df, err := os.ReadFile("../../deploy/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	ignore, err := os.ReadFile("../../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	if errs := lintDockerfile(string(df), string(ignore)); len(errs) != 0 {
		t.Fatalf("deploy/Dockerfile: %v", errs)
	}
	dash, err := os.ReadFile("../../deploy/grafana/vigil.json")
	if err != nil {
		t.Fatal(err)
	}
	if errs := checkDashboard(dash); len(errs) != 0 {
		t.Fatalf("dashboard: %v", errs)
	}
	// Without the outbox panel, the check fails.
	if errs := checkDashboard([]byte(strings.ReplaceAll(string(dash), "vigil_notify_outbox_depth", "x"))); len(errs) == 0 {
		t.Fatal("a dashboard without the outbox depth passes")
	}
}

func TestDockerfileLint(t *testing.T) {
	ignore := ".git\ndata\n.bin\n.build\n.third_party\n"
	for rule, src := range map[string]string{
		"DL3007": "FROM golang:latest\nUSER 1000\nENTRYPOINT [\"/x\"]\n",
		"DL3006": "FROM golang\nUSER 1000\nENTRYPOINT [\"/x\"]\n",
		"DL3002": "FROM golang:1.26 AS b\nUSER 1000\nFROM gcr.io/distroless/static:nonroot\nENTRYPOINT [\"/x\"]\n",
		"root":   "FROM golang:1.26\nUSER root\n",
		"DL3003": "FROM golang:1.26\nRUN cd /src && \\\n  go build\nUSER 1\n",
		"DL3020": "FROM golang:1.26\nADD x /x\nUSER 1\n",
		"DL3025": "FROM golang:1.26\nUSER 1\nENTRYPOINT /x\n",
		"DL3000": "FROM golang:1.26\nWORKDIR src\nUSER 1\n",
		"ignore": "FROM golang:1.26\nCOPY . .\nUSER 1\n",
	} {
		ig := ignore
		if rule == "ignore" {
			ig = ".git\n"
		}
		errs := lintDockerfile(src, ig)
		found := false
		for _, e := range errs {
			found = found || strings.Contains(e.Error(), rule) || rule == "root" && strings.Contains(e.Error(), "DL3002")
		}
		if !found {
			t.Errorf("%s not reported: %v", rule, errs)
		}
	}
	// A later stage may start from an earlier one by name.
	if errs := lintDockerfile("FROM golang:1.26 AS build\nFROM build\nUSER 1\n", ignore); len(errs) != 0 {
		t.Errorf("stage reference: %v", errs)
	}
}
