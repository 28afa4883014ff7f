package gateway

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// CORS for browsers (issue 12 point 2): only the origins the operator lists
// in VIGIL_CORS_ALLOWED_ORIGINS (none by default) may call the API from a
// page. The API authenticates with bearer tokens, but a browser client may
// still send credentials mode "include"; credentials are allowed for listed
// origins only, and an unknown origin never sees an Access-Control-* header.
var (
	corsMethods = []string{"GET", "POST", "PUT", "PATCH", "DELETE"}
	// corsHeaders are the request headers a page may send: the ones the API
	// reads, plus W3C trace context for browser tracing.
	corsHeaders = []string{"Accept", "Accept-Language", "Authorization", "Content-Type", "If-None-Match",
		"X-Request-Id", "Traceparent", "Tracestate"}
	// corsExposed are the response headers a page may read.
	corsExposed = []string{"X-Request-Id", "ETag", "Retry-After", "Allow", "WWW-Authenticate",
		"Content-Disposition", "X-Content-Sha256", "Traceparent"}
)

// corsMaxAge is how long (seconds) a browser may cache a preflight answer.
const corsMaxAge = "600"

type corsPolicy struct {
	origins map[string]bool
}

// newCORS checks every origin: scheme://host[:port], http or https, nothing else.
func newCORS(origins []string) (*corsPolicy, error) {
	p := &corsPolicy{origins: map[string]bool{}}
	for _, o := range origins {
		norm, err := normalizeOrigin(o)
		if err != nil {
			return nil, fmt.Errorf("cors-allowed-origins: %q: %w", o, err)
		}
		p.origins[norm] = true
	}
	return p, nil
}

func normalizeOrigin(o string) (string, error) {
	u, err := url.Parse(strings.TrimSuffix(o, "/"))
	switch {
	case err != nil:
		return "", err
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("an origin is http:// or https:// followed by a host")
	case u.Host == "" || u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "":
		return "", fmt.Errorf("an origin is scheme://host[:port], without path, query or user")
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), nil
}

func (p *corsPolicy) allowed(origin string) bool {
	return origin != "" && p.origins[strings.ToLower(origin)]
}

// wrap answers preflights and marks the answers to allowed origins. With no
// origin configured, every preflight is refused and no header is added.
func (p *corsPolicy) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if len(p.origins) > 0 {
			w.Header().Add("Vary", "Origin")
		}
		if r.Method == http.MethodOptions && origin != "" && r.Header.Get("Access-Control-Request-Method") != "" {
			p.preflight(w, r, origin)
			return
		}
		if p.allowed(origin) {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Set("Access-Control-Expose-Headers", strings.Join(corsExposed, ", "))
		}
		next.ServeHTTP(w, r)
	})
}

func (p *corsPolicy) preflight(w http.ResponseWriter, r *http.Request, origin string) {
	h := w.Header()
	h.Add("Vary", "Access-Control-Request-Method")
	h.Add("Vary", "Access-Control-Request-Headers")
	if !p.allowed(origin) {
		writeError(w, http.StatusForbidden, 7, "CORS: origin "+origin+" is not allowed (VIGIL_CORS_ALLOWED_ORIGINS)")
		return
	}
	method := r.Header.Get("Access-Control-Request-Method")
	if !slices.Contains(corsMethods, method) {
		writeError(w, http.StatusForbidden, 7, "CORS: method "+method+" is not allowed; allowed: "+strings.Join(corsMethods, ", "))
		return
	}
	for _, line := range r.Header.Values("Access-Control-Request-Headers") {
		for _, name := range strings.Split(line, ",") {
			name = strings.TrimSpace(name)
			if name != "" && !slices.ContainsFunc(corsHeaders, func(a string) bool { return strings.EqualFold(a, name) }) {
				writeError(w, http.StatusForbidden, 7, "CORS: request header "+name+" is not allowed; allowed: "+strings.Join(corsHeaders, ", "))
				return
			}
		}
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Credentials", "true")
	h.Set("Access-Control-Allow-Methods", strings.Join(corsMethods, ", "))
	h.Set("Access-Control-Allow-Headers", strings.Join(corsHeaders, ", "))
	h.Set("Access-Control-Max-Age", corsMaxAge)
	w.WriteHeader(http.StatusNoContent)
}
