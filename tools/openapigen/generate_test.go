package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestSingular(t *testing.T) {
	for in, want := range map[string]string{
		"companies": "company", "users": "user", "deadLetters": "deadLetter", "addresses": "address",
		"boxes": "box", "matches": "match", "access": "access", "me": "me",
	} {
		if got := singular(in); got != want {
			t.Errorf("singular(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParamNames(t *testing.T) {
	path, renames := paramNames("/v1/companies/{companie}/supplierImports/{supplierImport}:cancel", map[string]string{"supplierImports": "import"})
	if path != "/v1/companies/{company}/supplierImports/{import}:cancel" || renames["companie"] != "company" || renames["supplierImport"] != "import" {
		t.Fatalf("%s %v", path, renames)
	}
	if path, _ := paramNames("/v1/companies:signup", nil); path != "/v1/companies:signup" {
		t.Fatal(path)
	}
}

// raw is what protoc-gen-openapiv2 writes, cut down: one bound route with a
// misnamed parameter, one unbound RPC (for its message's schema), the
// google.rpc.Status error.
const raw = `{
  "swagger": "2.0",
  "info": {"title": "x.proto", "version": "version not set"},
  "tags": [{"name": "ThingService"}, {"name": "ThingInternalService"}],
  "paths": {
    "/v1/companies/{companie}/things/{thing}": {
      "get": {"operationId": "ThingService_GetThing",
        "parameters": [{"name": "companie", "in": "path", "required": true, "type": "string"},
                       {"name": "thing", "in": "path", "required": true, "type": "string"}],
        "responses": {"200": {"description": "ok", "schema": {"$ref": "#/definitions/Thing"}},
                      "default": {"description": "err", "schema": {"$ref": "#/definitions/Status"}}},
        "tags": ["ThingService"]}
    },
    "/vigil.thing.v1.ThingInternalService/Sync": {
      "post": {"operationId": "ThingInternalService_Sync",
        "parameters": [{"name": "body", "in": "body", "required": true, "schema": {"$ref": "#/definitions/SyncRequest"}}],
        "responses": {"200": {"description": "ok", "schema": {"type": "object"}},
                      "default": {"description": "err", "schema": {"$ref": "#/definitions/Status"}}},
        "tags": ["ThingInternalService"]}
    }
  },
  "definitions": {
    "Thing": {"type": "object", "properties": {"name": {"type": "string"}}},
    "UploadThingMetadata": {"type": "object", "properties": {"title": {"type": "string"}}},
    "SyncRequest": {"type": "object", "properties": {"x": {"type": "string"}}},
    "Any": {"type": "object", "properties": {"@type": {"type": "string"}}, "additionalProperties": {}},
    "Status": {"type": "object", "properties": {"code": {"type": "integer", "format": "int32"}, "message": {"type": "string"},
      "details": {"type": "array", "items": {"type": "object", "$ref": "#/definitions/Any"}}}}
  }
}`

const overlay = `
info: {title: Thing API, version: v1, description: Things.}
public: [ThingService_UploadThing]
routes:
  - route: "POST /v1/companies/{company}/things"
    operationId: ThingService_UploadThing
    tag: ThingService
    summary: Upload a thing.
    request:
      multipart:
        - {name: metadata, schema: UploadThingMetadata}
        - {name: file, binary: true}
      csv: true
    response: {schema: Thing}
  - route: "GET /v1/companies/{company}/things/{thing}/content"
    operationId: ThingService_DownloadThing
    tag: ThingService
    summary: Download a thing.
    response: {binary: [application/pdf], headers: {Content-Disposition: attachment}}
`

func TestGenerate(t *testing.T) {
	ov, err := parseOverlay([]byte(overlay))
	if err != nil {
		t.Fatal(err)
	}
	v2, v3, err := Generate([]byte(raw), ov)
	if err != nil {
		t.Fatal(err)
	}
	s2, s3 := string(v2), string(v3)
	for _, want := range []string{`"/v1/companies/{company}/things/{thing}"`, `"name": "company"`, `"title": "Thing API"`,
		`"#/definitions/Error"`, `"bearer"`, `"X-Request-Id"`, `"If-None-Match"`, `"type": "file"`} {
		if !strings.Contains(s2, want) {
			t.Errorf("v2 lacks %s", want)
		}
	}
	for _, bad := range []string{"companie}", "ThingInternalService", "SyncRequest", `"Status"`} {
		if strings.Contains(s2, bad) {
			t.Errorf("v2 still has %s", bad)
		}
	}
	var d3 struct {
		OpenAPI string `json:"openapi"`
		Paths   map[string]map[string]struct {
			Security    []map[string][]string `json:"security"`
			RequestBody struct {
				Content map[string]struct {
					Encoding map[string]struct {
						ContentType string `json:"contentType"`
					} `json:"encoding"`
				} `json:"content"`
			} `json:"requestBody"`
			Responses map[string]struct {
				Content map[string]any `json:"content"`
			} `json:"responses"`
		} `json:"paths"`
		Components struct {
			SecuritySchemes map[string]struct {
				Type, Scheme string
			} `json:"securitySchemes"`
		} `json:"components"`
	}
	if err := json.Unmarshal(v3, &d3); err != nil {
		t.Fatal(err)
	}
	upload := d3.Paths["/v1/companies/{company}/things"]["post"]
	if d3.OpenAPI[:2] != "3." || upload.RequestBody.Content["multipart/form-data"].Encoding["metadata"].ContentType != "application/json" ||
		len(upload.RequestBody.Content) != 2 || upload.Security == nil || len(upload.Security) != 0 {
		t.Fatalf("upload in v3: %+v", upload)
	}
	get := d3.Paths["/v1/companies/{company}/things/{thing}"]["get"]
	if len(get.Security) != 1 || get.Security[0]["bearer"] == nil || d3.Components.SecuritySchemes["bearer"].Scheme != "bearer" {
		t.Fatalf("bearer: %+v %+v", get.Security, d3.Components.SecuritySchemes)
	}
	if _, ok := d3.Paths["/v1/companies/{company}/things/{thing}/content"]["get"].Responses["200"].Content["application/pdf"]; !ok {
		t.Fatal("binary answer missing in v3")
	}
	if !strings.Contains(s2, "/openapi.v3.json") || strings.Contains(s3, "/openapi.v3.json") {
		t.Error("the note pointing to v3 for the CSV body belongs to v2 only")
	}
	if !strings.Contains(s3, "UploadThingMetadata") {
		t.Fatal("the JSON part's schema was pruned")
	}
}

func TestOverlayMistakesAreRefused(t *testing.T) {
	for name, bad := range map[string]string{
		"no method":         `routes: [{route: "/v1/x", operationId: A, tag: T, summary: s, response: {schema: X}}]`,
		"two answers":       `routes: [{route: "GET /v1/x", operationId: A, tag: T, summary: s, response: {schema: X, csv: true}}]`,
		"unknown field":     `routes: [{route: "GET /v1/x", operationId: A, tag: T, summary: s, response: {schema: X}, auth: none}]`,
		"part kind":         `routes: [{route: "POST /v1/x", operationId: A, tag: T, summary: s, request: {multipart: [{name: f}]}, response: {schema: X}}]`,
		"twice":             `routes: [{route: "GET /v1/x", operationId: A, tag: T, summary: s, response: {csv: true}}, {route: "GET /v1/x", operationId: B, tag: T, summary: s, response: {csv: true}}]`,
		"extends no body":   `routes: [{route: "POST /v1/x", extends: true}]`,
		"missing operation": `routes: [{route: "GET /v1/x", tag: T, summary: s, response: {csv: true}}]`,
	} {
		if _, err := parseOverlay([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	ov, _ := parseOverlay([]byte(`routes: [{route: "GET /v1/companies/{company}/things/{thing}", operationId: A, tag: T, summary: s, response: {csv: true}}]`))
	if _, _, err := Generate([]byte(raw), ov); err == nil || !strings.Contains(err.Error(), "extends") {
		t.Errorf("a route proto generates must use extends: %v", err)
	}
	ov, _ = parseOverlay([]byte(`public: [Nope]`))
	if _, _, err := Generate([]byte(raw), ov); err == nil {
		t.Error("an unknown public operation is accepted")
	}
}
