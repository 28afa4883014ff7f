// Package pagetoken makes list positions into opaque page tokens (AIP-158)
// and reads them back. A token is bound to the query that made it (the list
// and its filters): one made for another query is refused, so that a
// client cannot change its filters halfway through a listing. Tokens are
// not secret: a forged one only moves within what the caller may list
// anyway, so they carry no signature.
//
// A token is base64url of a fingerprint of the query (8 hex characters of
// its SHA-256; none for the empty query) followed by the position's parts,
// separated by NUL.
package pagetoken

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"

	"github.com/vigil/vigil/services/runtime/errs"
)

// MaxLen bounds the length of a token a request may carry.
const MaxLen = 1000

const sep = "\x00"

// Invalid is the error of a token the list did not make: INVALID_ARGUMENT
// naming page_token.
func Invalid() error {
	return errs.InvalidArgument("page_token", "is not a token this list returned")
}

func fingerprint(query string) string {
	if query == "" {
		return ""
	}
	h := sha256.Sum256([]byte(query))
	return hex.EncodeToString(h[:4])
}

// Encode returns the token of the page after position (its parts) for
// query, or "" when every part is empty (there is no next page).
func Encode(query string, position ...string) string {
	if strings.Join(position, "") == "" {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte(fingerprint(query) + strings.Join(position, sep)))
}

// Decode returns the n parts of the position of a token that Encode made
// for query; the last part keeps any NUL it had. The empty token is the
// first page: no parts, no error. Anything else is Invalid.
func Decode(token, query string, n int) ([]string, error) {
	if token == "" {
		return nil, nil
	}
	if len(token) > MaxLen {
		return nil, Invalid()
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	fp := fingerprint(query)
	if err != nil || len(raw) < len(fp) || string(raw[:len(fp)]) != fp {
		return nil, Invalid()
	}
	parts := strings.SplitN(string(raw[len(fp):]), sep, n)
	if len(parts) != n || strings.Join(parts, "") == "" { // Encode makes no token of an empty position
		return nil, Invalid()
	}
	return parts, nil
}

// Cursor is Decode of a one-part position: "" for the first page.
func Cursor(token, query string) (string, error) {
	parts, err := Decode(token, query, 1)
	if err != nil || parts == nil {
		return "", err
	}
	return parts[0], nil
}
