package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// object is one rendered Kubernetes object.
type object struct {
	kind, name string
	m          map[string]any
}

func parseManifests(raw []byte) ([]object, error) {
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	var objs []object
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, err
		}
		if m == nil {
			continue
		}
		objs = append(objs, object{kind: str(m, "kind"), name: str(m, "metadata", "name"), m: m})
	}
}

// get walks nested maps: get(m, "spec", "template").
func get(m any, path ...string) any {
	for _, p := range path {
		mm, ok := m.(map[string]any)
		if !ok {
			return nil
		}
		m = mm[p]
	}
	return m
}

func str(m any, path ...string) string {
	if s, ok := get(m, path...).(string); ok {
		return s
	}
	return ""
}

func list(m any, path ...string) []any {
	l, _ := get(m, path...).([]any)
	return l
}

// secretsOf is which Secrets each process may see: its own TLS
// certificate; the secret key only where secrets at rest are (identity,
// notify); SMTP credentials only where mail is sent (notify).
var secretsOf = map[string][]string{
	"identity":  {"vigil-identity-tls", "vigil-secret-key"},
	"directory": {"vigil-directory-tls"},
	"vault":     {"vigil-vault-tls"},
	"notify":    {"vigil-notify-tls", "vigil-secret-key", "vigil-smtp"},
	"gateway":   {"vigil-gateway-tls"},
}

// checkPolicy applies the deployment rules of issue 12 point 8.
func checkPolicy(objs []object) []error {
	var errs []error
	fail := func(o object, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s/%s: %s", o.kind, o.name, fmt.Sprintf(format, args...)))
	}
	var pdbs []map[string]any
	kinds := map[string]int{}
	for _, o := range objs {
		kinds[o.kind]++
		if o.kind == "PodDisruptionBudget" {
			if sel, ok := get(o.m, "spec", "selector", "matchLabels").(map[string]any); ok {
				pdbs = append(pdbs, sel)
			}
		}
	}
	for _, o := range objs {
		switch o.kind {
		case "Deployment", "StatefulSet":
			checkWorkload(o, pdbs, fail)
		case "Service":
			for _, p := range list(o.m, "spec", "ports") {
				if str(p, "name") == "metrics" || fmt.Sprint(get(p, "targetPort")) == "metrics" {
					fail(o, "exposes /metrics; Prometheus scrapes the pods, a Service never carries it")
				}
			}
		case "Namespace":
			if str(o.m, "metadata", "labels", "pod-security.kubernetes.io/enforce") != "restricted" {
				fail(o, "enforce the restricted Pod Security Standard (label pod-security.kubernetes.io/enforce)")
			}
		}
	}
	for _, kind := range []string{"Namespace", "Ingress", "NetworkPolicy", "PodDisruptionBudget", "ConfigMap"} {
		if kinds[kind] == 0 {
			errs = append(errs, fmt.Errorf("no %s", kind))
		}
	}
	return errs
}

func checkWorkload(o object, pdbs []map[string]any, fail func(object, string, ...any)) {
	pod := get(o.m, "spec", "template", "spec")
	labels, _ := get(o.m, "spec", "template", "metadata", "labels").(map[string]any)
	app := fmt.Sprint(labels["app"])
	if get(pod, "securityContext", "runAsNonRoot") != true {
		fail(o, "pod securityContext.runAsNonRoot must be true")
	}
	if str(pod, "securityContext", "seccompProfile", "type") != "RuntimeDefault" {
		fail(o, "pod securityContext.seccompProfile.type must be RuntimeDefault")
	}
	if get(pod, "automountServiceAccountToken") != false {
		fail(o, "automountServiceAccountToken must be false: no process talks to the Kubernetes API")
	}
	if !slices.ContainsFunc(pdbs, func(sel map[string]any) bool { return subset(sel, labels) }) {
		fail(o, "no PodDisruptionBudget selects its pods")
	}

	// Writable volumes only where data lives (persistent volume claims).
	claims := map[string]bool{}
	for _, t := range list(o.m, "spec", "volumeClaimTemplates") {
		claims[str(t, "metadata", "name")] = true
	}
	secrets := map[string]bool{}
	for _, v := range list(pod, "volumes") {
		if get(v, "persistentVolumeClaim") != nil {
			claims[str(v, "name")] = true
		}
		if s := str(v, "secret", "secretName"); s != "" {
			secrets[s] = true
		}
		for _, src := range list(v, "projected", "sources") {
			if s := str(src, "secret", "name"); s != "" {
				secrets[s] = true
			}
		}
	}
	containers := append(list(pod, "containers"), list(pod, "initContainers")...)
	for _, c := range containers {
		name := str(c, "name")
		image := str(c, "image")
		if !pinned(image) {
			fail(o, "container %s: image %q is not pinned to a tag or digest (and not :latest)", name, image)
		}
		sc := get(c, "securityContext")
		if get(sc, "allowPrivilegeEscalation") != false {
			fail(o, "container %s: securityContext.allowPrivilegeEscalation must be false", name)
		}
		if get(sc, "readOnlyRootFilesystem") != true {
			fail(o, "container %s: securityContext.readOnlyRootFilesystem must be true", name)
		}
		if get(sc, "privileged") == true {
			fail(o, "container %s: must not be privileged", name)
		}
		if !slices.Contains(list(sc, "capabilities", "drop"), any("ALL")) || len(list(sc, "capabilities", "add")) > 0 {
			fail(o, "container %s: capabilities must drop ALL and add none", name)
		}
		if str(c, "resources", "limits", "memory") == "" {
			fail(o, "container %s: no memory limit", name)
		}
		for _, m := range list(c, "volumeMounts") {
			if get(m, "readOnly") != true && !claims[str(m, "name")] {
				fail(o, "container %s: volume %s is writable but holds no data (mount it readOnly)", name, str(m, "name"))
			}
		}
		for _, e := range list(c, "env") {
			if s := str(e, "valueFrom", "secretKeyRef", "name"); s != "" {
				secrets[s] = true
			}
		}
		for _, e := range list(c, "envFrom") {
			if s := str(e, "secretRef", "name"); s != "" {
				secrets[s] = true
			}
		}
		checkProbes(o, c, fail)
	}
	allowed, known := secretsOf[app]
	if !known {
		fail(o, "unknown app %q: add its secrets to secretsOf", app)
		return
	}
	var extra []string
	for s := range secrets {
		if !slices.Contains(allowed, s) {
			extra = append(extra, s)
		}
	}
	sort.Strings(extra)
	if len(extra) > 0 {
		fail(o, "mounts secrets it does not need: %s", strings.Join(extra, ", "))
	}
	if tls := "vigil-" + app + "-tls"; !secrets[tls] {
		fail(o, "does not mount its own certificate %s", tls)
	}
}

// checkProbes: readiness and liveness are required; gRPC probes must use
// the plaintext health port (kubelet has no client certificate for the
// mutual-TLS gRPC port).
func checkProbes(o object, c any, fail func(object, string, ...any)) {
	name := str(c, "name")
	ports := map[string]string{} // number or name → name
	for _, p := range list(c, "ports") {
		ports[fmt.Sprint(get(p, "containerPort"))] = str(p, "name")
		ports[str(p, "name")] = str(p, "name")
	}
	for _, kind := range []string{"readinessProbe", "livenessProbe", "startupProbe"} {
		probe := get(c, kind)
		if probe == nil {
			if kind != "startupProbe" {
				fail(o, "container %s: no %s", name, kind)
			}
			continue
		}
		if g := get(probe, "grpc"); g != nil {
			if port := ports[fmt.Sprint(get(g, "port"))]; port != "health" {
				fail(o, "container %s: %s uses port %v (%q), not the plaintext health port", name, kind, get(g, "port"), port)
			}
		}
	}
}

func pinned(image string) bool {
	if strings.Contains(image, "@sha256:") {
		return true
	}
	slash := strings.LastIndex(image, "/")
	colon := strings.LastIndex(image, ":")
	if colon <= slash {
		return false
	}
	tag := image[colon+1:]
	return tag != "" && tag != "latest"
}

func subset(sel, labels map[string]any) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}
