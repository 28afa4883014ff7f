package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi3"
)

// errorSchema is the name of google.rpc.Status in the documents: every
// error answer is {"code", "message", "details"} (SPEC §4).
const errorSchema = "Error"

// Generate makes the v2 and v3 documents from protoc-gen-openapiv2's merged
// document and the overlay. Both are validated before they are returned.
func Generate(raw []byte, ov *Overlay) (v2, v3 []byte, err error) {
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, nil, fmt.Errorf("input: %w", err)
	}
	dropUnbound(doc)
	if err := renamePathParams(doc, ov.PathParams); err != nil {
		return nil, nil, err
	}
	if err := renameErrorSchema(doc); err != nil {
		return nil, nil, err
	}
	t, err := typed(doc)
	if err != nil {
		return nil, nil, err
	}
	if err := finish(t, ov); err != nil {
		return nil, nil, err
	}
	v2, err = prune(t, partSchemas(ov))
	if err != nil {
		return nil, nil, err
	}
	if err := ValidateV2(v2); err != nil {
		return nil, nil, fmt.Errorf("OpenAPI v2 document does not validate: %w", err)
	}
	v3, err = convert(v2, ov)
	if err != nil {
		return nil, nil, err
	}
	if err := ValidateV3(v3); err != nil {
		return nil, nil, fmt.Errorf("OpenAPI 3 document does not validate: %w", err)
	}
	return v2, v3, nil
}

// rpcPath is what generate_unbound_methods gives a method without an HTTP
// rule: /package.Service/Method. They are generated only so that the
// messages of the streaming RPCs behind the hand-written routes (upload
// metadata, download info) have schemas; they are not HTTP routes.
var rpcPath = regexp.MustCompile(`^/[a-z][a-z0-9_]*(\.[a-z0-9_]+)*\.[A-Z][A-Za-z0-9]*/[A-Z][A-Za-z0-9]*$`)

func dropUnbound(doc map[string]any) {
	paths, _ := doc["paths"].(map[string]any)
	for p := range paths {
		if rpcPath.MatchString(p) {
			delete(paths, p)
		}
	}
}

// renamePathParams names every path parameter after the collection segment
// before it: protoc-gen-openapiv2 expands {parent=companies/*} to
// companies/{companie} (it only trims an "s"); this gives
// companies/{company}, or the overlay's name for that collection.
func renamePathParams(doc map[string]any, overrides map[string]string) error {
	paths, _ := doc["paths"].(map[string]any)
	out := make(map[string]any, len(paths))
	for p, item := range paths {
		newPath, renames := paramNames(p, overrides)
		ops, _ := item.(map[string]any)
		for _, op := range ops {
			opm, _ := op.(map[string]any)
			params, _ := opm["parameters"].([]any)
			taken := map[string]bool{}
			for _, param := range params {
				pm, _ := param.(map[string]any)
				name, _ := pm["name"].(string)
				if pm["in"] == "path" {
					if nn, ok := renames[name]; ok {
						pm["name"] = nn
						name = nn
					}
				}
				key := fmt.Sprint(pm["in"]) + " " + name
				if taken[key] {
					return fmt.Errorf("%s: two %s parameters named %q after renaming", newPath, pm["in"], name)
				}
				taken[key] = true
			}
		}
		if _, dup := out[newPath]; dup {
			return fmt.Errorf("two paths become %s", newPath)
		}
		out[newPath] = item
	}
	doc["paths"] = out
	return nil
}

// paramNames returns the path with its parameters renamed, and old → new.
func paramNames(path string, overrides map[string]string) (string, map[string]string) {
	segs := strings.Split(path, "/")
	renames := map[string]string{}
	for i, seg := range segs {
		if !strings.HasPrefix(seg, "{") || i == 0 {
			continue
		}
		end := strings.Index(seg, "}")
		prev := segs[i-1]
		if end < 0 || prev == "" || strings.ContainsAny(prev, "{:") {
			continue
		}
		old := seg[1:end]
		name, ok := overrides[prev]
		if !ok {
			name = singular(prev)
		}
		segs[i] = "{" + name + "}" + seg[end+1:]
		renames[old] = name
	}
	return strings.Join(segs, "/"), renames
}

// singular is the English singular of a collection name (lowerCamel).
func singular(s string) string {
	switch {
	case strings.HasSuffix(s, "ies"):
		return s[:len(s)-3] + "y"
	case strings.HasSuffix(s, "sses"), strings.HasSuffix(s, "xes"), strings.HasSuffix(s, "ches"), strings.HasSuffix(s, "shes"):
		return s[:len(s)-2]
	case strings.HasSuffix(s, "s") && !strings.HasSuffix(s, "ss"):
		return s[:len(s)-1]
	}
	return s
}

// renameErrorSchema renames the schema of the default (error) answers —
// google.rpc.Status — to Error.
func renameErrorSchema(doc map[string]any) error {
	var old string
	walk(doc["paths"], func(m map[string]any) {
		if d, ok := m["default"].(map[string]any); ok && old == "" {
			if s, ok := d["schema"].(map[string]any); ok {
				old, _ = s["$ref"].(string)
			}
		}
	})
	if old == "" {
		return fmt.Errorf("no default error answer in the input")
	}
	defs, _ := doc["definitions"].(map[string]any)
	oldName := strings.TrimPrefix(old, "#/definitions/")
	if _, clash := defs[errorSchema]; clash && oldName != errorSchema {
		return fmt.Errorf("a message is already named %s", errorSchema)
	}
	defs[errorSchema] = defs[oldName]
	delete(defs, oldName)
	walk(doc, func(m map[string]any) {
		if m["$ref"] == old {
			m["$ref"] = "#/definitions/" + errorSchema
		}
	})
	return nil
}

// walk calls f on every object in v, depth first.
func walk(v any, f func(map[string]any)) {
	switch x := v.(type) {
	case map[string]any:
		f(x)
		for _, c := range x {
			walk(c, f)
		}
	case []any:
		for _, c := range x {
			walk(c, f)
		}
	}
}

func typed(doc map[string]any) (*openapi2.T, error) {
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	var t openapi2.T
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

func ref(kind, name string) string { return "#/" + kind + "/" + name }

func types(t string) *openapi3.Types { return &openapi3.Types{t} }

func schemaRef(name string) *openapi2.SchemaRef {
	return &openapi2.SchemaRef{Ref: ref("definitions", name)}
}

// finish adds what proto does not say: title and version, the bearer scheme
// on every operation but the public ones, the HTTP conventions (request id,
// ETag/If-None-Match, error answers with their headers) and the
// hand-written routes.
func finish(t *openapi2.T, ov *Overlay) error {
	t.Info = openapi3.Info{Title: ov.Info.Title, Version: ov.Info.Version, Description: strings.TrimSpace(ov.Info.Description)}
	t.Consumes, t.Produces = []string{"application/json"}, []string{"application/json"}
	t.SecurityDefinitions = map[string]*openapi2.SecurityScheme{
		"bearer": {Type: "apiKey", In: "header", Name: "Authorization",
			Description: "`Authorization: Bearer <accessToken>`, the access token of a sign-in (`POST /v1/auth:login`); a JWT signed with EdDSA, whose keys are at `/.well-known/jwks.json`."},
	}
	t.Parameters = map[string]*openapi2.Parameter{
		"RequestId": {In: "header", Name: "X-Request-Id", Type: types("string"), MaxLength: ptr(uint64(128)),
			Description: "Your id for this request (printable ASCII, at most 128 characters), logged by the gateway and every service; anything else is replaced by a new id. The answer carries it back."},
		"IfNoneMatch": {In: "header", Name: "If-None-Match", Type: types("string"),
			Description: "The ETag of a previous answer: 304 Not Modified if the resource is still the same."},
	}
	errResp := func(desc string, headers map[string]*openapi2.Header) *openapi2.Response {
		return &openapi2.Response{Description: desc, Schema: schemaRef(errorSchema), Headers: headers}
	}
	t.Responses = map[string]*openapi2.Response{
		"BadRequest":       errResp("The request is malformed or a field is invalid; the message names the field (and, for a malformed body, the line and column).", nil),
		"Unauthenticated":  errResp("No valid access token (or wrong credentials).", map[string]*openapi2.Header{"WWW-Authenticate": {Parameter: openapi2.Parameter{Type: types("string"), Description: "`Bearer`"}}}),
		"PermissionDenied": errResp("The caller may not do this; nothing was changed.", nil),
		"NotFound":         errResp("No such resource, or not one the caller may see.", nil),
		"PayloadTooLarge":  errResp("The body is larger than the gateway accepts (4 MiB for JSON; uploads have their own bound).", nil),
		"TooManyRequests": errResp("Too many attempts, or no capacity right now; retry after the delay given.",
			map[string]*openapi2.Header{"Retry-After": {Parameter: openapi2.Parameter{Type: types("integer"), Description: "Seconds to wait before retrying."}}}),
		"NotModified": {Description: "The resource still has the ETag given in If-None-Match.",
			Headers: map[string]*openapi2.Header{"ETag": {Parameter: openapi2.Parameter{Type: types("string")}}}},
	}
	if e := t.Definitions[errorSchema]; e != nil && e.Value != nil {
		e.Value.Description = "Every error answer (SPEC §4), with the HTTP status of its gRPC code."
		e.Value.Required = []string{"code", "message", "details"}
		describe := map[string]string{
			"code":    "The gRPC status code: 3 INVALID_ARGUMENT (400), 5 NOT_FOUND (404), 6 ALREADY_EXISTS (409), 7 PERMISSION_DENIED (403), 8 RESOURCE_EXHAUSTED (429, or 413 for a body too large), 9 FAILED_PRECONDITION (400), 16 UNAUTHENTICATED (401), …",
			"message": "What is wrong, naming the field at fault (for a malformed body, the line and column and what was expected).",
			"details": "Typed details: google.rpc.ErrorInfo (a stable `reason`), google.rpc.BadRequest (the field violations), google.rpc.RetryInfo.",
		}
		for name, prop := range e.Value.Properties {
			if prop.Value != nil {
				prop.Value.Description = describe[name]
			}
		}
	}
	for name, def := range ov.Definitions {
		b, err := json.Marshal(def)
		if err != nil {
			return err
		}
		var s openapi2.SchemaRef
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("overlay definition %s: %w", name, err)
		}
		if _, clash := t.Definitions[name]; clash {
			return fmt.Errorf("overlay definition %s: proto already defines it", name)
		}
		t.Definitions[name] = &s
	}
	for _, r := range ov.Routes {
		if err := addRoute(t, r); err != nil {
			return err
		}
	}
	public := map[string]bool{}
	for _, id := range ov.Public {
		public[id] = true
	}
	for _, r := range ov.Routes {
		if r.Public {
			public[r.OperationID] = true
		}
	}
	seen := map[string]bool{}
	for path, item := range t.Paths {
		for method, op := range item.Operations() {
			if op.OperationID == "" || seen[op.OperationID] {
				return fmt.Errorf("%s %s: missing or duplicate operationId %q", method, path, op.OperationID)
			}
			seen[op.OperationID] = true
			conventions(path, method, op, public[op.OperationID])
			delete(public, op.OperationID)
		}
	}
	for id := range public {
		return fmt.Errorf("overlay: public operation %s does not exist", id)
	}
	for _, tag := range ov.Tags {
		t.Tags = append(t.Tags, &openapi3.Tag{Name: tag.Name, Description: strings.TrimSpace(tag.Description)})
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

// conventions applies the edge's behaviour to one operation.
func conventions(path, method string, op *openapi2.Operation, public bool) {
	api := strings.HasPrefix(path, "/v1/")
	if public || !api {
		op.Security = &openapi2.SecurityRequirements{}
	} else {
		op.Security = &openapi2.SecurityRequirements{{"bearer": {}}}
	}
	op.Parameters = append(openapi2.Parameters{{Ref: ref("parameters", "RequestId")}}, op.Parameters...)
	if op.Responses == nil {
		op.Responses = openapi2.NewResponsesWithCapacity(8)
	}
	rs := op.Responses
	rs.Set("default", &openapi2.Response{Description: "An error: {\"code\", \"message\", \"details\"} with the HTTP status of the gRPC code.", Schema: schemaRef(errorSchema)})
	if !api {
		return
	}
	add := func(code, name string) {
		if rs.Value(code) == nil {
			rs.Set(code, &openapi2.Response{Ref: ref("responses", name)})
		}
	}
	add("400", "BadRequest")
	add("401", "Unauthenticated")
	add("429", "TooManyRequests")
	if !public {
		add("403", "PermissionDenied")
	}
	if strings.Contains(path, "{") {
		add("404", "NotFound")
	}
	hasBody := slices.ContainsFunc(op.Parameters, func(p *openapi2.Parameter) bool { return p.In == "body" || p.In == "formData" })
	if hasBody {
		add("413", "PayloadTooLarge")
	}
	if ok := rs.Value("200"); method == "GET" && ok != nil && ok.Schema != nil && !(ok.Schema.Value != nil && ok.Schema.Value.Type.Is("file")) {
		// JSON answers to GET carry an ETag (files and CSV stream untagged).
		op.Parameters = append(op.Parameters, &openapi2.Parameter{Ref: ref("parameters", "IfNoneMatch")})
		add("304", "NotModified")
		if ok.Headers == nil {
			ok.Headers = map[string]*openapi2.Header{}
		}
		ok.Headers["ETag"] = &openapi2.Header{Parameter: openapi2.Parameter{Type: types("string"), Description: "Tag of this answer, for If-None-Match."}}
	}
}

// v2Only ends the sentences of the v2 document that point to the v3 one for
// what v2 cannot say; the v3 document drops them.
const v2Only = ": see the OpenAPI 3 document (/openapi.v3.json), which describes every body."

// addRoute describes one hand-written route in v2 terms. What v2 cannot say
// (a multipart and a text/csv body on one operation, JSON parts) is said
// again, fully, in v3 (v3Route).
func addRoute(t *openapi2.T, r Route) error {
	item := t.Paths[r.path]
	if item == nil {
		item = &openapi2.PathItem{}
		t.Paths[r.path] = item
	}
	existing := item.GetOperation(strings.ToUpper(r.method))
	if r.Extends {
		if existing == nil {
			return fmt.Errorf("overlay: route %q extends a route proto does not generate", r.Route)
		}
		var also []string
		if len(r.Request.Multipart) > 0 {
			also = append(also, "multipart/form-data")
		}
		if r.Request.CSV {
			also = append(also, "text/csv")
		}
		existing.Description = strings.TrimSpace(existing.Description + "\n\n" + strings.TrimSpace(r.Request.Description) +
			"\n\nAlso accepts a " + strings.Join(also, " or a ") + " body" + v2Only)
		return nil
	}
	if existing != nil {
		return fmt.Errorf("overlay: route %q is already generated from proto (use extends)", r.Route)
	}
	op := &openapi2.Operation{OperationID: r.OperationID, Summary: r.Summary, Description: strings.TrimSpace(r.Description), Tags: []string{r.Tag}}
	for _, p := range r.params {
		op.Parameters = append(op.Parameters, &openapi2.Parameter{In: "path", Name: p, Required: true, Type: types("string")})
	}
	for _, q := range r.Query {
		typ := q.Type
		if typ == "" {
			typ = "string"
		}
		p := &openapi2.Parameter{In: "query", Name: q.Name, Description: q.Description, Required: q.Required, Type: types(typ)}
		for _, e := range q.Enum {
			p.Enum = append(p.Enum, e)
		}
		op.Parameters = append(op.Parameters, p)
	}
	if rq := r.Request; rq != nil {
		switch {
		case len(rq.Multipart) > 0:
			op.Consumes = []string{"multipart/form-data"}
			for _, part := range rq.Multipart {
				p := &openapi2.Parameter{In: "formData", Name: part.Name, Required: !part.Optional, Description: strings.TrimSpace(part.Description)}
				if part.Binary {
					p.Type = types("file")
				} else {
					p.Type = types("string")
					p.Description = strings.TrimSpace(p.Description + " A JSON " + part.Schema + " object (see the definition).")
				}
				op.Parameters = append(op.Parameters, p)
			}
			if rq.CSV {
				op.Description = strings.TrimSpace(op.Description + "\n\nAlso accepts a text/csv body" + v2Only)
			}
		case rq.CSV:
			op.Consumes = []string{"text/csv"}
			op.Parameters = append(op.Parameters, &openapi2.Parameter{In: "body", Name: "body", Required: true,
				Description: strings.TrimSpace(rq.Description), Schema: &openapi2.SchemaRef{Value: &openapi2.Schema{Type: types("string")}}})
		}
	}
	rs := r.Response
	ok := &openapi2.Response{Description: rs.Description}
	if ok.Description == "" {
		ok.Description = "A successful response."
	}
	switch {
	case rs.Schema != "":
		if _, found := t.Definitions[rs.Schema]; !found {
			return fmt.Errorf("overlay: route %q answers %s, which no proto message or overlay definition defines", r.Route, rs.Schema)
		}
		ok.Schema = schemaRef(rs.Schema)
	case len(rs.Binary) > 0:
		op.Produces = append(append([]string{}, rs.Binary...), "application/json")
		ok.Schema = &openapi2.SchemaRef{Value: &openapi2.Schema{Type: types("file")}}
	case rs.CSV:
		op.Produces = []string{"text/csv", "application/json"}
		ok.Schema = &openapi2.SchemaRef{Value: &openapi2.Schema{Type: types("file")}}
	}
	for name, desc := range rs.Headers {
		if ok.Headers == nil {
			ok.Headers = map[string]*openapi2.Header{}
		}
		ok.Headers[name] = &openapi2.Header{Parameter: openapi2.Parameter{Type: types("string"), Description: desc}}
	}
	if rq := r.Request; rq != nil {
		for _, part := range rq.Multipart {
			if part.Schema != "" {
				if _, found := t.Definitions[part.Schema]; !found {
					return fmt.Errorf("overlay: route %q: part %s is a %s, which nothing defines", r.Route, part.Name, part.Schema)
				}
			}
		}
	}
	op.Responses = openapi2.NewResponsesWithCapacity(1)
	op.Responses.Set("200", ok)
	item.SetOperation(strings.ToUpper(r.method), op)
	return nil
}

// partSchemas are the definitions of JSON multipart parts: v2 cannot refer
// to them, v3 does.
func partSchemas(ov *Overlay) []string {
	var names []string
	for _, r := range ov.Routes {
		if r.Request != nil {
			for _, p := range r.Request.Multipart {
				if p.Schema != "" {
					names = append(names, p.Schema)
				}
			}
		}
	}
	return names
}

// prune drops the definitions and tags nothing uses (the internal services'
// messages, generated only for their schemas) but those named in keep, and
// renders the document.
func prune(t *openapi2.T, keep []string) ([]byte, error) {
	b, err := json.Marshal(t)
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	defs, _ := doc["definitions"].(map[string]any)
	used := map[string]bool{}
	var queue []string
	mark := func(m map[string]any) {
		if r, ok := m["$ref"].(string); ok {
			if name, ok := strings.CutPrefix(r, "#/definitions/"); ok && !used[name] {
				used[name] = true
				queue = append(queue, name)
			}
		}
	}
	for k, v := range doc {
		if k != "definitions" {
			walk(v, mark)
		}
	}
	for _, name := range keep {
		mark(map[string]any{"$ref": "#/definitions/" + name})
	}
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		walk(defs[name], mark)
	}
	for name := range defs {
		if !used[name] {
			delete(defs, name)
		}
	}
	usedTags := map[string]bool{}
	paths, _ := doc["paths"].(map[string]any)
	for _, item := range paths {
		for _, op := range item.(map[string]any) {
			opm, _ := op.(map[string]any)
			tags, _ := opm["tags"].([]any)
			for _, tag := range tags {
				usedTags[fmt.Sprint(tag)] = true
			}
		}
	}
	tags, _ := doc["tags"].([]any)
	var kept []any
	for _, tag := range tags {
		if tm, _ := tag.(map[string]any); usedTags[fmt.Sprint(tm["name"])] {
			kept = append(kept, tag)
		}
	}
	sort.SliceStable(kept, func(i, j int) bool {
		return fmt.Sprint(kept[i].(map[string]any)["name"]) < fmt.Sprint(kept[j].(map[string]any)["name"])
	})
	doc["tags"] = kept
	return render(doc)
}

// render writes JSON with sorted keys, two-space indented, newline-terminated.
func render(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
