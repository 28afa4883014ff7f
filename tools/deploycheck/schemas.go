package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/yannh/kubeconform/pkg/validator"
)

// writeSchemas turns the Kubernetes API's swagger.json into the standalone
// JSON schemas kubeconform reads (what yannh/kubernetes-json-schema
// publishes, made here offline): one file per kind and version,
// <kind>-<group>-<version>.json, referring to _definitions.json. As that
// repository's "strict" flavour, objects allow no property they do not
// declare, so that a misspelt field fails.
func writeSchemas(swaggerPath, dir string) error {
	raw, err := os.ReadFile(swaggerPath)
	if err != nil {
		return err
	}
	var spec struct {
		Definitions map[string]any `json:"definitions"`
	}
	if err := json.Unmarshal(raw, &spec); err != nil {
		return fmt.Errorf("%s: %w", swaggerPath, err)
	}
	if len(spec.Definitions) == 0 {
		return fmt.Errorf("%s: no definitions", swaggerPath)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	defs := map[string]any{}
	for name, def := range spec.Definitions {
		defs[name] = convertSchema(name, def, "#/definitions/")
	}
	if err := writeJSON(filepath.Join(dir, "_definitions.json"), map[string]any{"definitions": defs}); err != nil {
		return err
	}
	for name, def := range spec.Definitions {
		m, _ := def.(map[string]any)
		gvks, _ := m["x-kubernetes-group-version-kind"].([]any)
		for _, g := range gvks {
			gvk, _ := g.(map[string]any)
			file := schemaFile(fmt.Sprint(gvk["group"]), fmt.Sprint(gvk["version"]), fmt.Sprint(gvk["kind"]))
			if err := writeJSON(filepath.Join(dir, file), convertSchema(name, def, "_definitions.json#/definitions/")); err != nil {
				return err
			}
		}
	}
	return nil
}

// schemaFile is kubeconform's file name for a kind: deployment-apps-v1.json,
// service-v1.json, ingress-networking-v1.json.
func schemaFile(group, version, kind string) string {
	suffix := ""
	if group != "" {
		suffix = "-" + strings.ToLower(strings.Split(group, ".")[0])
	}
	return strings.ToLower(kind) + suffix + "-" + strings.ToLower(version) + ".json"
}

// convertSchema copies a swagger schema as JSON schema: references point to
// refPrefix, int-or-string and quantities accept both JSON types, and objects
// with declared properties refuse others.
func convertSchema(name string, v any, refPrefix string) any {
	switch name {
	case "io.k8s.apimachinery.pkg.util.intstr.IntOrString":
		return map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}}
	case "io.k8s.apimachinery.pkg.api.resource.Quantity":
		return map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "number"}}}
	}
	return convertNode(v, refPrefix)
}

func convertNode(v any, refPrefix string) any {
	switch x := v.(type) {
	case map[string]any:
		if x["format"] == "int-or-string" {
			return map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}}
		}
		out := make(map[string]any, len(x)+1)
		for k, c := range x {
			switch {
			case k == "$ref":
				out[k] = refPrefix + strings.TrimPrefix(fmt.Sprint(c), "#/definitions/")
			case k == "properties" || k == "patternProperties":
				props := map[string]any{}
				for pk, pv := range c.(map[string]any) {
					props[pk] = convertNode(pv, refPrefix)
				}
				out[k] = props
			default:
				out[k] = convertNode(c, refPrefix)
			}
		}
		if _, has := x["properties"]; has {
			if _, open := x["additionalProperties"]; !open && x["x-kubernetes-preserve-unknown-fields"] != true {
				out["additionalProperties"] = false
			}
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, c := range x {
			out[i] = convertNode(c, refPrefix)
		}
		return out
	}
	return v
}

func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// validateSchemas runs kubeconform (strict: no undeclared field, no
// duplicate key) over the rendered manifests with the schemas in dir. A kind
// without a schema is an error, not a skip.
func validateSchemas(manifests []byte, dir string) (int, []error) {
	v, err := validator.New([]string{filepath.Join(dir, "{{ .ResourceKind }}{{ .KindSuffix }}.json")},
		validator.Opts{Strict: true})
	if err != nil {
		return 0, []error{err}
	}
	var errs []error
	n := 0
	for _, res := range v.Validate("manifests", io.NopCloser(bytes.NewReader(manifests))) {
		name := "?"
		if sig, err := res.Resource.Signature(); err == nil {
			name = sig.Kind + "/" + sig.Name
		}
		switch res.Status {
		case validator.Valid:
			n++
		case validator.Empty:
		case validator.Skipped:
			errs = append(errs, fmt.Errorf("%s: no schema", name))
		default:
			msg := fmt.Sprint(res.Err)
			for _, e := range res.ValidationErrors {
				msg += "; " + e.Path + ": " + e.Msg
			}
			errs = append(errs, fmt.Errorf("%s: %s", name, msg))
		}
	}
	if n == 0 && len(errs) == 0 {
		errs = append(errs, errors.New("no object validated"))
	}
	return n, errs
}
