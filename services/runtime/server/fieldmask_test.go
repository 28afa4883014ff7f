package server

import (
	"testing"

	"google.golang.org/protobuf/types/known/fieldmaskpb"

	directoryv1 "github.com/vigil/vigil/gen/vigil/directory/v1"
)

// TestUpdateMaskJSONNames: `updateMask=legalName` (JSON) and `legal_name`
// (proto) mean the same (SPEC §4, AIP-161), nested paths included.
func TestUpdateMaskJSONNames(t *testing.T) {
	req := &directoryv1.UpdateCompanyRequest{
		Company:    &directoryv1.Company{},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"legalName", "require_two_factor", "address.postalCode", "timeZone", "nope"}},
	}
	normalizeUpdateMask(req.ProtoReflect())
	want := []string{"legal_name", "require_two_factor", "address.postal_code", "time_zone", "nope"}
	for i, p := range req.GetUpdateMask().GetPaths() {
		if p != want[i] {
			t.Fatalf("paths %v, want %v", req.GetUpdateMask().GetPaths(), want)
		}
	}
	// No mask, no resource: nothing to do, nothing breaks.
	normalizeUpdateMask((&directoryv1.UpdateCompanyRequest{}).ProtoReflect())
}
