package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/vigil/vigil/services/runtime/errs"
)

// defaultRetryAfter is the Retry-After of a 429 whose gRPC error carries no
// RetryInfo: capacity refusals (the password-hashing queue) clear quickly.
const defaultRetryAfter = time.Second

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError writes the §4 error shape: {"code": <gRPC code>, "message": …, "details": []}.
func writeError(w http.ResponseWriter, httpStatus, grpcCode int, msg string) {
	writeJSON(w, httpStatus, map[string]any{"code": grpcCode, "message": msg, "details": []any{}})
}

// writeStatusError writes every error as §4 says: {"code", "message",
// "details"} (details always present) with the HTTP status of the gRPC code,
// and the headers HTTP clients expect: WWW-Authenticate on 401, Retry-After
// on 429. A message refused for its size is 413 (one body bound, issue 7
// point 9), never 429.
func writeStatusError(_ context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, _ *http.Request, err error) {
	httpStatus := 0
	var he *runtime.HTTPStatusError
	if errors.As(err, &he) {
		httpStatus, err = he.HTTPStatus, he.Err
	}
	st := status.Convert(err)
	if httpStatus == 0 {
		httpStatus = runtime.HTTPStatusFromCode(st.Code())
	}
	h := w.Header()
	switch st.Code() {
	case codes.Unauthenticated:
		h.Set("WWW-Authenticate", "Bearer")
	case codes.ResourceExhausted:
		if isMessageSizeError(st) {
			httpStatus = http.StatusRequestEntityTooLarge
			st = status.New(codes.ResourceExhausted, "request body too large: "+st.Message())
		} else {
			h.Set("Retry-After", strconv.Itoa(retryAfterSeconds(st)))
		}
	}
	pb := st.Proto()
	if pb.Details == nil {
		pb.Details = []*anypb.Any{}
	}
	body, merr := protojson.MarshalOptions{EmitUnpopulated: true}.Marshal(pb)
	if merr != nil {
		body = []byte(`{"code":13,"message":"failed to encode error","details":[]}`)
		httpStatus = http.StatusInternalServerError
	}
	h.Del("Trailer")
	h.Set("Content-Type", "application/json")
	w.WriteHeader(httpStatus)
	_, _ = w.Write(body)
}

// writeErr writes a gateway-made error (errs.*) like a service's: same
// code, message and ErrorInfo/BadRequest details.
func writeErr(w http.ResponseWriter, r *http.Request, err error) {
	st, _ := errs.ToStatus(err)
	writeStatusError(r.Context(), nil, nil, w, r, st.Err())
}

// isMessageSizeError tells a gRPC message refused for its size (by the
// service's receive bound or the gateway's send bound) from a rate or
// capacity refusal: gRPC reports both as RESOURCE_EXHAUSTED, the former
// with "message larger than max" and no details.
func isMessageSizeError(st *status.Status) bool {
	return len(st.Details()) == 0 && strings.Contains(st.Message(), "message larger than max")
}

// retryAfterSeconds is the RetryInfo delay of a refusal, rounded up, or the default.
func retryAfterSeconds(st *status.Status) int {
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok && ri.GetRetryDelay() != nil {
			if s := ri.GetRetryDelay().AsDuration().Seconds(); s > 0 {
				return int(math.Min(math.Ceil(s), 86400))
			}
		}
	}
	return int(defaultRetryAfter / time.Second)
}

// probeKey marks the requests methodsAllowed sends through the mux to learn
// which methods a path has.
type probeKey struct{}

type probe struct{ matched bool }

// probeRoutes is the first grpc-gateway middleware: a probe request stops
// at it once routed, without running any handler.
func stopProbes(next runtime.HandlerFunc) runtime.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, params map[string]string) {
		if p, ok := r.Context().Value(probeKey{}).(*probe); ok {
			p.matched = true
			return
		}
		next(w, r, params)
	}
}

// methodsAllowed asks the mux, method by method, which ones route this
// path: the answer comes from the routes themselves (generated and
// hand-written), not from a list kept beside them.
func methodsAllowed(mux *runtime.ServeMux, r *http.Request) []string {
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		p := &probe{}
		pr := r.Clone(context.WithValue(r.Context(), probeKey{}, p))
		pr.Method = m
		pr.Body, pr.ContentLength = http.NoBody, 0
		pr.Header = http.Header{}
		mux.ServeHTTP(discardWriter{}, pr)
		if p.matched {
			allowed = append(allowed, m)
		}
	}
	return allowed
}

// routingError answers what grpc-gateway could not route: 405 with Allow
// (not grpc-gateway's 501) when the path exists for other methods, 404
// naming the path otherwise.
func routingError(ctx context.Context, mux *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, r *http.Request, httpStatus int) {
	if _, ok := ctx.Value(probeKey{}).(*probe); ok {
		return
	}
	switch httpStatus {
	case http.StatusMethodNotAllowed:
		allowed := methodsAllowed(mux, r)
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		writeError(w, http.StatusMethodNotAllowed, int(codes.Unimplemented),
			"method "+r.Method+" is not allowed on "+r.URL.Path+"; allowed: "+strings.Join(allowed, ", "))
	case http.StatusNotFound:
		writeError(w, http.StatusNotFound, int(codes.NotFound), "no route for "+r.Method+" "+r.URL.Path)
	default:
		writeError(w, httpStatus, int(codes.InvalidArgument), "malformed request path "+strconv.Quote(r.URL.Path))
	}
}

type discardWriter struct{}

func (discardWriter) Header() http.Header         { return http.Header{} }
func (discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (discardWriter) WriteHeader(int)             {}

// serveDocument serves an embedded JSON document (the OpenAPI documents).
func serveDocument(doc []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(doc)
	})
}

// readiness answers 200 only when every upstream reports SERVING, else 503
// naming the ones that do not.
func readiness(upstreams []upstream, timeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		var down []string
		for _, u := range upstreams {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(r.Context(), timeout)
				defer cancel()
				resp, err := healthpb.NewHealthClient(u.conn).Check(ctx, &healthpb.HealthCheckRequest{})
				if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
					mu.Lock()
					down = append(down, u.name)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(down) > 0 {
			sort.Strings(down)
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "notServing": down})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"status": "ready"})
	})
}

// limitBody refuses JSON bodies over max with 413. The body is read here, up
// to the bound, so that an oversize body is told apart from malformed JSON
// (which answers 400).
func limitBody(next http.Handler, max int64) http.Handler {
	tooLarge := "request body larger than " + strconv.FormatInt(max, 10) + " bytes"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody || isStreamingRoute(r) || isDirectoryStreamingRoute(r) {
			next.ServeHTTP(w, r)
			return
		}
		if r.ContentLength > max {
			writeError(w, http.StatusRequestEntityTooLarge, int(codes.ResourceExhausted), tooLarge)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, max+1))
		if err != nil {
			writeError(w, http.StatusBadRequest, int(codes.InvalidArgument), "reading request body: "+err.Error())
			return
		}
		if int64(len(body)) > max {
			writeError(w, http.StatusRequestEntityTooLarge, int(codes.ResourceExhausted), tooLarge)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		next.ServeHTTP(w, r)
	})
}

// tokenRoutes answer with tokens; with /v1/me and everything under it they
// are never stored by a cache (issue 7 point 9).
var tokenRoutes = map[string]bool{
	"/v1/auth:login": true, "/v1/auth:refresh": true, "/v1/auth:switchCompany": true,
	"/v1/companies:signup": true, "/v1/auth:acceptInvitation": true, "/v1/auth:resetPassword": true,
}

func noStore(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if tokenRoutes[p] || p == "/v1/me" || strings.HasPrefix(p, "/v1/me/") || strings.HasPrefix(p, "/v1/me:") {
			w.Header().Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}
