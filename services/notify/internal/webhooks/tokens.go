package webhooks

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"

	"github.com/vigil/vigil/services/runtime/errs"
	"github.com/vigil/vigil/services/runtime/names"
)

// Page tokens are base64url of a small JSON cursor bound to the listing
// that made it. They are not secret: a forged one only moves within what
// the caller may list anyway.
type pageToken struct {
	V  int    `json:"v"`
	ID string `json:"id"`
	Q  string `json:"q"`
}

func encodePageToken(id, q string) string {
	b, _ := json.Marshal(pageToken{V: 1, ID: id, Q: q})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodePageToken(s, q string) (string, error) {
	if s == "" {
		return "", nil
	}
	bad := errs.InvalidArgument("page_token", "not a token this list returned")
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(s) > 1000 {
		return "", bad
	}
	var t pageToken
	if json.Unmarshal(raw, &t) != nil || t.V != 1 || t.Q != q || !names.IsNewID(t.ID) {
		return "", bad
	}
	return t.ID, nil
}

// The change feed's cursor is opaque to integrations: a version byte and
// notify's event position, base64url. Any cursor, even an old one, resumes
// after its position; events older than 30 days are gone.
const cursorVersion = 1

// EncodeCursor is the cursor after position seq.
func EncodeCursor(seq uint64) string {
	var b [9]byte
	b[0] = cursorVersion
	binary.BigEndian.PutUint64(b[1:], seq)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// DecodeCursor reads a cursor made by EncodeCursor; "" is the start.
func DecodeCursor(s string) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 9 || b[0] != cursorVersion {
		return 0, errs.InvalidArgument("after", "not a cursor this feed returned")
	}
	return binary.BigEndian.Uint64(b[1:]), nil
}
