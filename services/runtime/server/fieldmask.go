package server

import (
	"context"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

// Update masks name fields by their proto names (`legal_name`) or, as SPEC
// §4 and AIP-161 allow, by their JSON names (`legalName`), in the query
// string or the body alike. normalizeUpdateMask rewrites JSON names into
// proto names before validation, once for every service, so that handlers
// and validation rules see one spelling.

var fieldMaskName = (&fieldmaskpb.FieldMask{}).ProtoReflect().Descriptor().FullName()

func (c *chain) unaryFieldMask(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if m, ok := req.(proto.Message); ok {
		normalizeUpdateMask(m.ProtoReflect())
	}
	return h(ctx, req)
}

// normalizeUpdateMask finds a request's `update_mask` and the resource it
// masks (the request's other message field), and rewrites each path's
// segments from JSON names to proto names. Unknown segments are left as
// they are, for validation to name.
func normalizeUpdateMask(req protoreflect.Message) {
	fields := req.Descriptor().Fields()
	maskField := fields.ByName("update_mask")
	if maskField == nil || maskField.Message() == nil || maskField.Message().FullName() != fieldMaskName || !req.Has(maskField) {
		return
	}
	var resource protoreflect.MessageDescriptor
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if fd != maskField && fd.Message() != nil && !fd.IsList() && !fd.IsMap() &&
			!strings.HasPrefix(string(fd.Message().FullName()), "google.protobuf.") {
			resource = fd.Message()
			break
		}
	}
	if resource == nil {
		return
	}
	mask := req.Get(maskField).Message().Interface().(*fieldmaskpb.FieldMask)
	for i, p := range mask.GetPaths() {
		mask.Paths[i] = protoPath(resource, p)
	}
}

func protoPath(md protoreflect.MessageDescriptor, path string) string {
	segs := strings.Split(path, ".")
	for i, seg := range segs {
		if md == nil {
			break
		}
		fd := md.Fields().ByName(protoreflect.Name(seg))
		if fd == nil {
			fd = md.Fields().ByJSONName(seg)
		}
		if fd == nil {
			break
		}
		segs[i] = string(fd.Name())
		md = fd.Message()
	}
	return strings.Join(segs, ".")
}
