package gateway

import (
	"context"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/go-openapi/loads"
	"github.com/go-openapi/strfmt"
	"github.com/go-openapi/validate"
	"go.yaml.in/yaml/v3"

	"github.com/vigil/vigil/gen/openapi"
)

// TestOpenAPIDocumentsValidate: issue 12 point 1 — both documents the
// gateway serves pass a real validator: go-openapi/validate (Swagger 2.0's
// JSON schema and semantic rules) for v2, kin-openapi for v3.
func TestOpenAPIDocumentsValidate(t *testing.T) {
	doc, err := loads.Analyzed(json.RawMessage(openapi.Document), "")
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Spec(doc, strfmt.Default); err != nil {
		t.Fatalf("openapi.json (v2): %v", err)
	}
	v3, err := openapi3.NewLoader().LoadFromData(openapi.DocumentV3)
	if err != nil {
		t.Fatal(err)
	}
	if err := v3.Validate(context.Background()); err != nil || !strings.HasPrefix(v3.OpenAPI, "3.") {
		t.Fatalf("openapi.v3.json: %v (%s)", err, v3.OpenAPI)
	}
	if v3.Info.Title != "Vigil API" || v3.Info.Version == "" || v3.Components.SecuritySchemes["bearer"].Value.Scheme != "bearer" {
		t.Fatalf("info %+v, schemes %v", v3.Info, v3.Components.SecuritySchemes)
	}
	// Same API in both.
	if len(v3.Paths.Map()) != len(doc.Spec().Paths.Paths) {
		t.Fatalf("v2 has %d paths, v3 %d", len(doc.Spec().Paths.Paths), len(v3.Paths.Map()))
	}
}

type docOperation struct {
	method, path string
	public       bool
	op           map[string]any
}

func v2Operations(t *testing.T) []docOperation {
	t.Helper()
	var doc struct {
		Paths map[string]map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(openapi.Document, &doc); err != nil {
		t.Fatal(err)
	}
	var ops []docOperation
	for path, item := range doc.Paths {
		for method, op := range item {
			sec, _ := op["security"].([]any)
			ops = append(ops, docOperation{method: strings.ToUpper(method), path: path, public: len(sec) == 0, op: op})
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].path+ops[i].method < ops[j].path+ops[j].method })
	return ops
}

var docParam = regexp.MustCompile(`\{[^}]+\}`)

// TestOpenAPIDescribesEveryRoute: the document is the whole API. Every
// documented operation is routed by the gateway (so a service added to
// proto/ without its registration line in routes.go fails here), every
// hand-written route (HandlePath in this package) is documented, and the
// overlay lists only routes that exist.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	g := newTestGateway(t)
	ops := v2Operations(t)
	documented := map[string]bool{}
	for _, o := range ops {
		documented[o.method+" "+o.path] = true
		if strings.Contains(o.path, "companie}") {
			t.Errorf("%s: a path parameter is misnamed", o.path)
		}
		path := docParam.ReplaceAllString(o.path, "x1")
		g.logs.TakeAll()
		body := ""
		if o.method == "POST" || o.method == "PATCH" || o.method == "PUT" {
			body = "{}"
		}
		resp, _ := g.call(t, o.method, path, body)
		lines := g.accessLines(t, 1)
		if resp.StatusCode == http.StatusMethodNotAllowed || len(lines) != 1 || lines[0].ContextMap()["route"] == "unmatched" {
			t.Errorf("%s %s is documented but not routed (HTTP %d): register its service in routes.go", o.method, o.path, resp.StatusCode)
		}
	}

	handWritten := handlePathCalls(t)
	undocumented := map[string]string{"GET /metrics": "operations, not API; off the public port with --metrics-addr"}
	for _, route := range handWritten {
		if !documented[route] && undocumented[route] == "" {
			t.Errorf("hand-written route %s is not in the OpenAPI documents: add it to services/gateway/openapi.yaml and run make generate", route)
		}
	}
	var overlay struct {
		Routes []struct {
			Route string `yaml:"route"`
		} `yaml:"routes"`
	}
	raw, err := os.ReadFile("../../openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &overlay); err != nil {
		t.Fatal(err)
	}
	registered := map[string]bool{}
	for _, r := range handWritten {
		registered[r] = true
	}
	for _, r := range overlay.Routes {
		if !registered[r.Route] {
			t.Errorf("openapi.yaml describes %s, which no HandlePath registers", r.Route)
		}
	}
}

// TestOpenAPIConventions: every API operation declares its security (bearer,
// or none for the public ones), and the error shape is a schema.
func TestOpenAPIConventions(t *testing.T) {
	public := map[string]bool{}
	for _, o := range v2Operations(t) {
		if _, declared := o.op["security"]; !declared {
			t.Errorf("%s %s declares no security", o.method, o.path)
		}
		if o.public && strings.HasPrefix(o.path, "/v1/") {
			public[o.op["operationId"].(string)] = true
		}
		responses, _ := o.op["responses"].(map[string]any)
		if def, _ := responses["default"].(map[string]any); def == nil || !strings.Contains(toJSON(def), "#/definitions/Error") {
			t.Errorf("%s %s: the default answer is not the Error schema", o.method, o.path)
		}
	}
	for _, id := range []string{"IdentityService_Login", "IdentityService_SignUp", "IdentityService_GetJwks"} {
		if !public[id] {
			t.Errorf("%s must be callable without a token", id)
		}
	}
	if public["IdentityService_GetMe"] || public["DocumentService_UploadDocument"] {
		t.Error("authenticated operations are marked public")
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// handlePathCalls lists "METHOD pattern" of every mux.HandlePath call in this
// package's sources. Method and pattern must be literals or constants.
func handlePathCalls(t *testing.T) []string {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var parsed []*ast.File
	consts := map[string]string{}
	ambiguous := map[string]bool{}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		parsed = append(parsed, f)
		ast.Inspect(f, func(n ast.Node) bool {
			decl, ok := n.(*ast.GenDecl)
			if !ok || decl.Tok != token.CONST {
				return true
			}
			for _, spec := range decl.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, id := range vs.Names {
					if i < len(vs.Values) {
						if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							v, _ := strconv.Unquote(lit.Value)
							if old, seen := consts[id.Name]; seen && old != v {
								ambiguous[id.Name] = true
							}
							consts[id.Name] = v
						}
					}
				}
			}
			return true
		})
	}
	resolve := func(e ast.Expr) (string, bool) {
		switch x := e.(type) {
		case *ast.BasicLit:
			v, err := strconv.Unquote(x.Value)
			return v, err == nil && x.Kind == token.STRING
		case *ast.Ident:
			v, ok := consts[x.Name]
			return v, ok && !ambiguous[x.Name]
		case *ast.SelectorExpr:
			if pkg, ok := x.X.(*ast.Ident); ok && pkg.Name == "http" && strings.HasPrefix(x.Sel.Name, "Method") {
				return strings.ToUpper(strings.TrimPrefix(x.Sel.Name, "Method")), true
			}
		}
		return "", false
	}
	var routes []string
	for _, f := range parsed {
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || sel.Sel.Name != "HandlePath" || len(call.Args) != 3 {
				return true
			}
			method, ok1 := resolve(call.Args[0])
			pattern, ok2 := resolve(call.Args[1])
			if !ok1 || !ok2 {
				t.Errorf("%s: give HandlePath its method and pattern as literals or string constants, so that this test can check them against the OpenAPI documents", fset.Position(call.Pos()))
				return true
			}
			routes = append(routes, method+" "+pattern)
			return true
		})
	}
	if len(routes) < 4 {
		t.Fatalf("found only %v: the scan is broken", routes)
	}
	return routes
}
