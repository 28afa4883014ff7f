package e2e

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"

	directoryv1 "github.com/vigil/vigil/gen/vigil/directory/v1"
	identityv1 "github.com/vigil/vigil/gen/vigil/identity/v1"
	notifyv1 "github.com/vigil/vigil/gen/vigil/notify/v1"
	vaultv1 "github.com/vigil/vigil/gen/vigil/vault/v1"
)

// servicesOf lists, per process, the gRPC services it must serve (health
// names and reflection).
var servicesOf = map[string][]string{
	"identity": {identityv1.IdentityService_ServiceDesc.ServiceName, identityv1.IdentityInternalService_ServiceDesc.ServiceName},
	"directory": {
		directoryv1.CompanyService_ServiceDesc.ServiceName, directoryv1.SupplierService_ServiceDesc.ServiceName,
		directoryv1.SupplierImportService_ServiceDesc.ServiceName, directoryv1.CustomerService_ServiceDesc.ServiceName,
		directoryv1.EmployeeService_ServiceDesc.ServiceName, directoryv1.ProjectService_ServiceDesc.ServiceName,
		directoryv1.DirectoryInternalService_ServiceDesc.ServiceName,
	},
	"vault": {
		vaultv1.DocumentTypeService_ServiceDesc.ServiceName, vaultv1.RequirementService_ServiceDesc.ServiceName,
		vaultv1.DocumentService_ServiceDesc.ServiceName, vaultv1.ComplianceService_ServiceDesc.ServiceName,
		vaultv1.VaultInternalService_ServiceDesc.ServiceName,
	},
	"notify": {notifyv1.NotificationService_ServiceDesc.ServiceName, notifyv1.NotificationInternalService_ServiceDesc.ServiceName},
}

// TestSuiteStandsUp: the whole suite starts as `make run` starts it, and the
// edge answers as SPEC §4 says (issue 2's done-when list).
func TestSuiteStandsUp(t *testing.T) {
	s := startSuite(t, "")

	s.expect(s.do("GET", "/healthz", nil, ""), 200, "healthz")
	ready := s.expect(s.do("GET", "/readyz", nil, ""), 200, "readyz").JSON(t)
	if ready["status"] != "ready" {
		t.Fatalf("readyz: %v", ready)
	}

	t.Run("openapi documents every route", func(t *testing.T) {
		doc := s.expect(s.do("GET", "/openapi.json", nil, ""), 200, "openapi").JSON(t)
		paths, _ := doc["paths"].(map[string]any)
		for _, p := range []string{
			"/v1/companies:signup", "/v1/auth:login", "/v1/auth/keys", "/v1/me", "/v1/me/totp:enroll",
			"/v1/companies/{company}/users", "/v1/companies/{company}/grants", "/v1/companies/{company}/auditEvents",
			"/v1/companies/{company}/suppliers", "/v1/companies/{company}/supplierImports",
			"/v1/companies/{company}/employees", "/v1/companies/{company}/projects", "/v1/documentTypes",
			"/v1/companies/{company}/requirements", "/v1/companies/{company}/documents:expiring",
			"/v1/companies/{company}/compliance", "/v1/me/notifications",
		} {
			if !hasPath(paths, p) {
				t.Errorf("openapi.json lacks %s", p)
			}
		}
	})

	t.Run("health per service name and reflection", func(t *testing.T) {
		for proc, names := range servicesOf {
			conf, err := s.ClientTLS("gateway")
			if err != nil {
				t.Fatal(err)
			}
			conn, err := grpc.NewClient(s.Addr(proc), grpc.WithTransportCredentials(credentials.NewTLS(conf)))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			for _, name := range append([]string{""}, names...) {
				resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: name})
				if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
					t.Errorf("%s: health of %q: %v %v", proc, name, resp.GetStatus(), err)
				}
			}
			listed := reflectedServices(t, ctx, conn)
			for _, name := range names {
				if !slices.Contains(listed, name) {
					t.Errorf("%s: reflection does not list %s (lists %v)", proc, name, listed)
				}
			}
		}
	})

	t.Run("metrics", func(t *testing.T) {
		s.do("GET", "/v1/documentTypes", nil, "")
		m := s.expect(s.do("GET", "/metrics", nil, ""), 200, "gateway metrics")
		if !strings.Contains(string(m.Body), `vigil_gateway_http_requests_total{code=`) ||
			!strings.Contains(string(m.Body), `route="/v1/documentTypes"`) {
			t.Errorf("gateway metrics lack per-route requests:\n%.2000s", m.Body)
		}
		for proc := range servicesOf {
			resp, err := s.http.Get("http://" + s.MetricsAddr(proc) + "/metrics")
			if err != nil {
				t.Fatalf("%s metrics: %v", proc, err)
			}
			body := readAll(t, resp)
			if !strings.Contains(body, "grpc_server_handled_total") {
				t.Errorf("%s metrics lack per-method gRPC counters", proc)
			}
		}
	})

	t.Run("bad input at the edge", func(t *testing.T) {
		nf := s.expect(s.do("GET", "/v1/noSuchThing", nil, ""), 404, "unknown route").JSON(t)
		if nf["code"] != float64(5) || nf["message"] == nil || nf["details"] == nil {
			t.Errorf("unknown route: error shape %v, want code 5 with message and details", nf)
		}
		bad := s.expect(s.do("POST", "/v1/auth:login", `{"email": 42}`, ""), 400, "wrong field type").JSON(t)
		if !strings.Contains(bad["message"].(string), "email") {
			t.Errorf("wrong field type: message %q does not name the field", bad["message"])
		}
		s.expect(s.do("POST", "/v1/auth:login", `{"email": "a@b.c", `, ""), 400, "malformed JSON")
		huge := `{"email":"` + strings.Repeat("a", 7<<20) + `"}`
		big := s.expect(s.do("POST", "/v1/auth:login", huge, ""), http.StatusRequestEntityTooLarge, "oversize body").JSON(t)
		if big["code"] == nil {
			t.Errorf("oversize: error shape %v", big)
		}
	})

	t.Run("a service down", func(t *testing.T) {
		if err := s.Stop("vault"); err != nil {
			t.Fatalf("vault did not stop cleanly: %v", err)
		}
		r := s.expect(s.do("GET", "/readyz", nil, ""), 503, "readyz with vault down").JSON(t)
		if down, _ := r["notServing"].([]any); len(down) != 1 || down[0] != "vault" {
			t.Errorf("readyz names %v, want [vault]", r["notServing"])
		}
		s.expect(s.do("GET", "/v1/documentTypes", nil, ""), 503, "vault route with vault down")
		if r := s.do("GET", "/v1/companies/c1", nil, ""); r.Status == 503 {
			t.Errorf("directory route answered 503 while only vault is down: %s", r.Body)
		}
		if err := s.StartProcess("vault"); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.WaitReady(ctx); err != nil {
			t.Fatalf("vault back: %v", err)
		}
	})
}

func hasPath(paths map[string]any, want string) bool {
	if _, ok := paths[want]; ok {
		return true
	}
	// protoc-gen-openapiv2 names path parameters after the request field
	// (e.g. {parent}); compare the literal segments only.
	norm := func(p string) string {
		var b strings.Builder
		depth := 0
		for _, r := range p {
			switch {
			case r == '{':
				depth++
				b.WriteString("{}")
			case r == '}':
				depth--
			case depth == 0:
				b.WriteRune(r)
			}
		}
		return b.String()
	}
	for p := range paths {
		if norm(p) == norm(want) || strings.ReplaceAll(norm(p), "{}/", "") == strings.ReplaceAll(norm(want), "{}/", "") {
			return true
		}
	}
	return false
}

func reflectedServices(t *testing.T, ctx context.Context, conn *grpc.ClientConn) []string {
	t.Helper()
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{ListServices: "*"}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	return names
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
