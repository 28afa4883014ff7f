// Package openapi embeds the merged OpenAPI v2 document generated from proto/,
// so that the gateway can serve it at /openapi.json.
package openapi

import _ "embed"

// Document is the merged OpenAPI v2 (Swagger) document for every HTTP route.
//
//go:embed vigil.swagger.json
var Document []byte
