// Package openapi embeds the OpenAPI documents of Vigil's HTTP API, made by
// `make generate` from proto/ and the gateway's hand-written routes
// (tools/openapigen), so that the gateway serves them at /openapi.json (v2)
// and /openapi.v3.json (v3).
package openapi

import _ "embed"

// Document is the OpenAPI v2 (Swagger) document of every HTTP route.
//
//go:embed vigil.swagger.json
var Document []byte

// DocumentV3 is the same API as an OpenAPI 3 document, converted from
// Document at generation time.
//
//go:embed vigil.openapi3.json
var DocumentV3 []byte
