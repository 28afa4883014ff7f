package directory

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// FoldName is a name as lists sort and filter it: accents removed (É → e,
// ç → c, œ → oe), lower-cased, runs of spaces made one, control characters
// dropped. `Écologie  SA` and `ecologie sa` fold alike.
func FoldName(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range norm.NFD.String(s) {
		switch {
		case unicode.Is(unicode.Mn, r) || unicode.IsControl(r):
			continue
		case unicode.IsSpace(r):
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		switch r {
		case 'œ', 'Œ':
			b.WriteString("oe")
		case 'æ', 'Æ':
			b.WriteString("ae")
		case 'ß':
			b.WriteString("ss")
		default:
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}
