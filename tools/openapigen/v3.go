package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/go-openapi/loads"
	"github.com/go-openapi/strfmt"
	"github.com/go-openapi/validate"
)

// convert turns the finished v2 document into OpenAPI 3 with openapi2conv,
// then says what v2 could not: the bearer scheme as HTTP bearer (v2 only
// has API keys) and the hand-written routes' bodies in full.
func convert(v2 []byte, ov *Overlay) ([]byte, error) {
	var t openapi2.T
	if err := json.Unmarshal(v2, &t); err != nil {
		return nil, err
	}
	doc, err := openapi2conv.ToV3(&t)
	if err != nil {
		return nil, fmt.Errorf("openapi2conv: %w", err)
	}
	bearer := openapi3.NewJWTSecurityScheme()
	bearer.Description = t.SecurityDefinitions["bearer"].Description
	doc.Components.SecuritySchemes["bearer"] = &openapi3.SecuritySchemeRef{Value: bearer}
	for _, r := range ov.Routes {
		op := doc.Paths.Find(r.path).GetOperation(strings.ToUpper(r.method))
		if op == nil {
			return nil, fmt.Errorf("v3: %s lost in conversion", r.Route)
		}
		v3Route(op, r)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return render(m)
}

func schemaOf(name string) *openapi3.SchemaRef {
	return &openapi3.SchemaRef{Ref: "#/components/schemas/" + name}
}

func binary() *openapi3.SchemaRef {
	return &openapi3.SchemaRef{Value: &openapi3.Schema{Type: &openapi3.Types{"string"}, Format: "binary"}}
}

func text(desc string) *openapi3.SchemaRef {
	return &openapi3.SchemaRef{Value: &openapi3.Schema{Type: &openapi3.Types{"string"}, Description: desc}}
}

// v3Route writes a hand-written route's bodies: multipart parts with their
// JSON encoding, text/csv, binary answers.
func v3Route(op *openapi3.Operation, r Route) {
	var kept []string
	for _, para := range strings.Split(op.Description, "\n\n") {
		if !strings.HasSuffix(para, v2Only) {
			kept = append(kept, para)
		}
	}
	op.Description = strings.Join(kept, "\n\n")
	if rq := r.Request; rq != nil {
		content := openapi3.Content{}
		if len(rq.Multipart) > 0 {
			obj := &openapi3.Schema{Type: &openapi3.Types{"object"}, Properties: openapi3.Schemas{}}
			mt := &openapi3.MediaType{Schema: &openapi3.SchemaRef{Value: obj}, Encoding: map[string]*openapi3.Encoding{}}
			for _, part := range rq.Multipart {
				if part.Binary {
					s := binary()
					s.Value.Description = strings.TrimSpace(part.Description)
					obj.Properties[part.Name] = s
					mt.Encoding[part.Name] = &openapi3.Encoding{ContentType: "application/octet-stream"}
				} else {
					obj.Properties[part.Name] = schemaOf(part.Schema)
					mt.Encoding[part.Name] = &openapi3.Encoding{ContentType: "application/json"}
				}
				if !part.Optional {
					obj.Required = append(obj.Required, part.Name)
				}
			}
			content["multipart/form-data"] = mt
		}
		if rq.CSV {
			content["text/csv"] = &openapi3.MediaType{Schema: text("CSV text, UTF-8, with a header line.")}
		}
		if r.Extends && op.RequestBody != nil && op.RequestBody.Value != nil {
			for k, v := range content {
				op.RequestBody.Value.Content[k] = v
			}
		} else {
			op.RequestBody = &openapi3.RequestBodyRef{Value: &openapi3.RequestBody{
				Description: strings.TrimSpace(rq.Description), Required: true, Content: content}}
		}
	}
	rs := r.Response
	if rs == nil {
		return
	}
	ok := op.Responses.Value("200")
	if ok == nil || ok.Value == nil {
		return
	}
	switch {
	case len(rs.Binary) > 0:
		ok.Value.Content = openapi3.Content{}
		for _, mt := range rs.Binary {
			ok.Value.Content[mt] = &openapi3.MediaType{Schema: binary()}
		}
	case rs.CSV:
		ok.Value.Content = openapi3.Content{"text/csv": &openapi3.MediaType{Schema: text("CSV text, UTF-8, with a header line.")}}
	}
}

// ValidateV2 validates an OpenAPI v2 document with go-openapi/validate (the
// validator behind go-swagger: the JSON schema of Swagger 2.0 and its
// semantic rules: path parameters declared, unique operation ids, $refs).
func ValidateV2(doc []byte) error {
	d, err := loads.Analyzed(json.RawMessage(doc), "")
	if err != nil {
		return err
	}
	if err := validate.Spec(d, strfmt.Default); err != nil {
		return err
	}
	return nil
}

// ValidateV3 validates an OpenAPI 3 document with kin-openapi, read back as
// a client would read it.
func ValidateV3(doc []byte) error {
	loader := openapi3.NewLoader()
	t, err := loader.LoadFromData(doc)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(t.OpenAPI, "3.") {
		return errors.New("not an OpenAPI 3 document")
	}
	return t.Validate(context.Background())
}
