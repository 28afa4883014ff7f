package webhooks

import (
	"encoding/base64"
	"encoding/binary"

	"github.com/vigil/vigil/services/runtime/errs"
	"github.com/vigil/vigil/services/runtime/names"
	"github.com/vigil/vigil/services/runtime/pagetoken"
)

// Page tokens are runtime/pagetoken's, bound to the listing that made
// them; the position is an id.

func encodePageToken(id, q string) string { return pagetoken.Encode(q, id) }

func decodePageToken(s, q string) (string, error) {
	id, err := pagetoken.Cursor(s, q)
	if err != nil || id == "" {
		return "", err
	}
	if !names.IsNewID(id) {
		return "", pagetoken.Invalid()
	}
	return id, nil
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
