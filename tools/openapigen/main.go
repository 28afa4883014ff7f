// Command openapigen makes Vigil's OpenAPI documents, offline, at `make
// generate` time: it takes the merged OpenAPI v2 document that
// protoc-gen-openapiv2 writes from proto/ (every service, so that a new
// service or route is picked up by regenerating) and the gateway's overlay
// (services/gateway/openapi.yaml: title, which operations need no token, the
// hand-written routes), and writes
//
//   - the finished v2 document (served at /openapi.json), and
//   - the same API converted to OpenAPI 3 with kin-openapi's openapi2conv
//     (served at /openapi.v3.json),
//
// after validating each with a real validator (go-openapi/validate for v2,
// kin-openapi for v3). It fails rather than write a document that does not
// validate.
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	in := flag.String("in", "", "merged OpenAPI v2 document written by protoc-gen-openapiv2")
	overlay := flag.String("overlay", "", "the gateway's OpenAPI overlay (YAML)")
	outV2 := flag.String("out-v2", "", "where to write the OpenAPI v2 document")
	outV3 := flag.String("out-v3", "", "where to write the OpenAPI 3 document")
	flag.Parse()
	if *in == "" || *overlay == "" || *outV2 == "" || *outV3 == "" {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*in, *overlay, *outV2, *outV3); err != nil {
		fmt.Fprintln(os.Stderr, "openapigen:", err)
		os.Exit(1)
	}
}

func run(in, overlayPath, outV2, outV3 string) error {
	raw, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	ov, err := readOverlay(overlayPath)
	if err != nil {
		return err
	}
	v2, v3, err := Generate(raw, ov)
	if err != nil {
		return err
	}
	if err := os.WriteFile(outV2, v2, 0o644); err != nil {
		return err
	}
	return os.WriteFile(outV3, v3, 0o644)
}
