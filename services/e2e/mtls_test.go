package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	directoryv1 "github.com/vigil/vigil/gen/vigil/directory/v1"
	identityv1 "github.com/vigil/vigil/gen/vigil/identity/v1"
	notifyv1 "github.com/vigil/vigil/gen/vigil/notify/v1"
)

// dialAs dials a service of the suite with the certificate of process `as`
// (its service identity); "" dials without a certificate, "plaintext" without TLS.
func (s *suite) dialAs(service, as string) *grpc.ClientConn {
	s.t.Helper()
	creds := insecure.NewCredentials()
	if as != "plaintext" {
		conf, err := s.ClientTLS("gateway")
		if err != nil {
			s.t.Fatal(err)
		}
		if as == "" {
			conf = &tls.Config{RootCAs: conf.RootCAs, MinVersion: tls.VersionTLS12}
		} else if conf, err = s.ClientTLS(as); err != nil {
			s.t.Fatal(err)
		}
		creds = credentials.NewTLS(conf)
	}
	conn, err := grpc.NewClient(s.Addr(service), grpc.WithTransportCredentials(creds))
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func reasonOf(err error) string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}

// TestInternalMethodsNeedAServiceIdentity (issue 7 point 7): on the suite
// as `make run` starts it, a local process without the suite's certificates
// can neither add an Administrator to a company (AddMember) nor send
// Vigil-branded mail (EnqueueNotification); a service's certificate opens
// only the internal methods the caller table gives that service.
func TestInternalMethodsNeedAServiceIdentity(t *testing.T) {
	s := startSuite(t, "")
	company, admin := s.signUp("COMPANY_KIND_SUPPLIER", sirets[0], "mtls-admin@example.com")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	addMember := func(as string) error {
		_, err := identityv1.NewIdentityInternalServiceClient(s.dialAs("identity", as)).AddMember(ctx, &identityv1.AddMemberRequest{
			Company: company, Email: "intruder@example.com", GivenName: "In", FamilyName: "Truder", Role: identityv1.Role_ROLE_ADMINISTRATOR,
		})
		return err
	}
	enqueue := func(as string) error {
		_, err := notifyv1.NewNotificationInternalServiceClient(s.dialAs("notify", as)).EnqueueNotification(ctx, &notifyv1.EnqueueNotificationRequest{
			IdempotencyKey: "phish-" + as, Template: notifyv1.Template_TEMPLATE_PASSWORD_RESET,
			Recipients: []*notifyv1.Recipient{{Email: "victim@example.com"}},
		})
		return err
	}
	for _, tc := range []struct {
		as     string
		code   codes.Code
		reason string
	}{
		{"plaintext", codes.Unavailable, ""}, // the handshake fails
		{"", codes.Unavailable, ""},          // TLS without a client certificate
		{"gateway", codes.PermissionDenied, "SERVICE_NOT_ALLOWED"},
		{"vault", codes.PermissionDenied, "SERVICE_NOT_ALLOWED"},
	} {
		if err := addMember(tc.as); status.Code(err) != tc.code || reasonOf(err) != tc.reason {
			t.Errorf("AddMember as %q: %v, want %v %s", tc.as, err, tc.code, tc.reason)
		}
		if tc.as == "vault" {
			continue // vault may enqueue notifications
		}
		if err := enqueue(tc.as); status.Code(err) != tc.code || reasonOf(err) != tc.reason {
			t.Errorf("EnqueueNotification as %q: %v, want %v %s", tc.as, err, tc.code, tc.reason)
		}
	}
	// The refused calls changed nothing: the company still has one user.
	users := s.expect(s.do("GET", "/v1/"+company+"/users", nil, admin.token), 200, "list users").JSON(t)
	if list, _ := users["users"].([]any); len(list) != 1 {
		t.Fatalf("users after refused AddMember calls: %v", users)
	}

	// Allowed callers get past the check to the handler: identity looks a
	// company up in directory; directory may not.
	lookup := func(as string) error {
		_, err := directoryv1.NewDirectoryInternalServiceClient(s.dialAs("directory", as)).LookupCompany(ctx, &directoryv1.LookupCompanyRequest{
			Country: "FR", RegistrationNumber: sirets[1],
		})
		return err
	}
	if err := lookup("identity"); status.Code(err) != codes.NotFound {
		t.Errorf("LookupCompany as identity: %v, want the handler's NOT_FOUND", err)
	}
	if err := lookup("directory"); status.Code(err) != codes.PermissionDenied {
		t.Errorf("LookupCompany as directory: %v, want PERMISSION_DENIED", err)
	}
}

// TestRunMakesItsFilesOnce: the data folder gets a CA, one certificate per
// process and the secret key on first start, all 0600, and a restart
// reuses them.
func TestRunMakesItsFilesOnce(t *testing.T) {
	dataDir := t.TempDir()
	s := startSuite(t, dataDir)
	files := []string{s.TLS.CAFile(), s.TLS.CAKeyFile(), s.SecretKeyFile}
	for _, name := range []string{"identity", "directory", "vault", "notify", "gateway"} {
		files = append(files, s.TLS.CertFile(name), s.TLS.KeyFile(name))
	}
	before := map[string][]byte{}
	for _, p := range files {
		st, err := os.Stat(p)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v, want mode 0600", p, st, err)
		}
		if filepath.Dir(p) != dataDir && filepath.Dir(p) != filepath.Join(dataDir, "tls") {
			t.Fatalf("%s is outside the data folder", p)
		}
		before[p], _ = os.ReadFile(p)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	startSuite(t, dataDir)
	for _, p := range files {
		if now, _ := os.ReadFile(p); !bytes.Equal(now, before[p]) {
			t.Errorf("%s changed at restart", p)
		}
	}
}

// TestPublicURLIsHonoured (issue 7 point 10): links in e-mails start with
// the operator's VIGIL_PUBLIC_URL (set in the environment `make run` is
// started from), not the gateway's address.
func TestPublicURLIsHonoured(t *testing.T) {
	dataDir := t.TempDir()
	t.Setenv("VIGIL_PUBLIC_URL", "https://vigil.example.test/app")
	s := startSuite(t, dataDir)
	s.signUp("COMPANY_KIND_SUPPLIER", sirets[2], "public-url@example.com")
	s.expect(s.do("POST", "/v1/auth:requestPasswordReset", map[string]any{"email": "public-url@example.com"}, ""), 200, "request reset")
	s.mailLink(dataDir, "public-url@example.com", "https://vigil.example.test/app/reset-password")
}
