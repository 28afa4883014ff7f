package main

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Overlay is what the OpenAPI documents say beyond proto/: see
// services/gateway/openapi.yaml, whose comments document each field.
type Overlay struct {
	Info struct {
		Title       string `yaml:"title"`
		Version     string `yaml:"version"`
		Description string `yaml:"description"`
	} `yaml:"info"`
	// Tags describes tags the routes below use (generated services describe their own).
	Tags []struct {
		Name        string `yaml:"name"`
		Description string `yaml:"description"`
	} `yaml:"tags"`
	// Public are the operations callable without a token.
	Public []string `yaml:"public"`
	// PathParams name a path parameter after the collection segment before
	// it where the singular of that segment is not the name.
	PathParams map[string]string `yaml:"pathParams"`
	// Definitions are extra v2 schemas the routes below refer to.
	Definitions map[string]any `yaml:"definitions"`
	// Routes are the hand-written routes, one entry each.
	Routes []Route `yaml:"routes"`
}

// Route is one hand-written route.
type Route struct {
	// Route is "METHOD /path/{param}", exactly the pattern the gateway registers.
	Route       string `yaml:"route"`
	OperationID string `yaml:"operationId"`
	Tag         string `yaml:"tag"`
	Summary     string `yaml:"summary"`
	Description string `yaml:"description"`
	// Public: callable without a token.
	Public bool `yaml:"public"`
	// Extends: the route also exists generated from proto (a JSON body);
	// the entry adds the bodies below to it.
	Extends  bool      `yaml:"extends"`
	Query    []Param   `yaml:"query"`
	Request  *Request  `yaml:"request"`
	Response *Response `yaml:"response"`
	method   string    // parsed from Route, lower case
	path     string    // parsed from Route
	params   []string  // path parameters, in order
}

// Param is a query parameter of a hand-written route.
type Param struct {
	Name        string   `yaml:"name"`
	Description string   `yaml:"description"`
	Type        string   `yaml:"type"` // string (default), integer, boolean
	Enum        []string `yaml:"enum"`
	Required    bool     `yaml:"required"`
}

// Request is a hand-written route's body: multipart parts, a CSV text, or both.
type Request struct {
	Description string `yaml:"description"`
	Multipart   []Part `yaml:"multipart"`
	CSV         bool   `yaml:"csv"`
}

// Part is one multipart/form-data part: JSON of a schema, or a file.
type Part struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	// Schema names a definition: the part is that JSON object.
	Schema string `yaml:"schema"`
	// Binary: the part is a file.
	Binary   bool `yaml:"binary"`
	Optional bool `yaml:"optional"`
}

// Response is a hand-written route's successful answer.
type Response struct {
	Description string `yaml:"description"`
	// Schema names the definition of a JSON answer.
	Schema string `yaml:"schema"`
	// Binary lists the media types of a file answer.
	Binary []string `yaml:"binary"`
	// CSV: the answer is text/csv.
	CSV bool `yaml:"csv"`
	// Headers of the answer: name → description.
	Headers map[string]string `yaml:"headers"`
}

var paramRe = regexp.MustCompile(`\{([A-Za-z][A-Za-z0-9_]*)\}`)

func readOverlay(path string) (*Overlay, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseOverlay(raw)
}

func parseOverlay(raw []byte) (*Overlay, error) {
	var ov Overlay
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&ov); err != nil {
		return nil, fmt.Errorf("overlay: %w", err)
	}
	seen := map[string]bool{}
	for i := range ov.Routes {
		r := &ov.Routes[i]
		method, path, ok := strings.Cut(r.Route, " ")
		if !ok || method != strings.ToUpper(method) || !strings.HasPrefix(path, "/") {
			return nil, fmt.Errorf("overlay: route %q: want \"METHOD /path\"", r.Route)
		}
		r.method, r.path = strings.ToLower(method), path
		for _, m := range paramRe.FindAllStringSubmatch(path, -1) {
			r.params = append(r.params, m[1])
		}
		key := r.method + " " + r.path
		if seen[key] {
			return nil, fmt.Errorf("overlay: route %q is listed twice", r.Route)
		}
		seen[key] = true
		if !r.Extends && (r.OperationID == "" || r.Tag == "" || r.Summary == "" || r.Response == nil) {
			return nil, fmt.Errorf("overlay: route %q needs operationId, tag, summary and response", r.Route)
		}
		if r.Extends && r.Request == nil {
			return nil, fmt.Errorf("overlay: route %q extends a generated one: give the request it adds", r.Route)
		}
		if rs := r.Response; rs != nil {
			kinds := 0
			for _, set := range []bool{rs.Schema != "", len(rs.Binary) > 0, rs.CSV} {
				if set {
					kinds++
				}
			}
			if kinds != 1 {
				return nil, fmt.Errorf("overlay: route %q: a response is one of schema, binary or csv", r.Route)
			}
		}
		if rq := r.Request; rq != nil {
			if len(rq.Multipart) == 0 && !rq.CSV {
				return nil, fmt.Errorf("overlay: route %q: a request has multipart parts or csv", r.Route)
			}
			for _, p := range rq.Multipart {
				if p.Name == "" || (p.Schema == "") == !p.Binary {
					return nil, fmt.Errorf("overlay: route %q: part %q is either a schema or binary", r.Route, p.Name)
				}
			}
		}
	}
	return &ov, nil
}
