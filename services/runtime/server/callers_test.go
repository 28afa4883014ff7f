package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	_ "github.com/vigil/vigil/gen/vigil/directory/v1"
	eventsv1 "github.com/vigil/vigil/gen/vigil/events/v1"
	_ "github.com/vigil/vigil/gen/vigil/identity/v1"
	notifyv1 "github.com/vigil/vigil/gen/vigil/notify/v1"
	_ "github.com/vigil/vigil/gen/vigil/vault/v1"
	"github.com/vigil/vigil/services/runtime/client"
	"github.com/vigil/vigil/services/runtime/config"
	"github.com/vigil/vigil/services/runtime/pki"
	"github.com/vigil/vigil/services/runtime/server/servertest"
)

// tlsServer runs a notify-named server on a real loopback socket with the
// given TLS files, serving the internal and public notification services
// and an events feed (which notify does not serve in the table).
func tlsServer(t *testing.T, cfg *config.Common) (addr string) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Service, cfg.NotifyAddr, cfg.ShutdownTimeout = "notify", lis.Addr().String(), time.Second
	srv, err := New(cfg, zap.NewNop(), Options{Listener: lis})
	if err != nil {
		t.Fatal(err)
	}
	notifyv1.RegisterNotificationInternalServiceServer(srv.GRPC(), &fakeNotify{})
	notifyv1.RegisterNotificationServiceServer(srv.GRPC(), notifyv1.UnimplementedNotificationServiceServer{})
	eventsv1.RegisterEventsInternalServiceServer(srv.GRPC(), eventsv1.UnimplementedEventsInternalServiceServer{})
	srv.MarkServing()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return lis.Addr().String()
}

func mtlsConfig(files pki.Files, name string) *config.Common {
	return &config.Common{TLSCertFile: files.CertFile(name), TLSKeyFile: files.KeyFile(name), TLSCAFile: files.CAFile()}
}

func dialTLS(t *testing.T, addr string, conf *tls.Config) *grpc.ClientConn {
	t.Helper()
	creds := insecure.NewCredentials()
	if conf != nil {
		creds = credentials.NewTLS(conf)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func enqueue(conn *grpc.ClientConn) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := notifyv1.NewNotificationInternalServiceClient(conn).EnqueueNotification(ctx, validRequest("ok"))
	return err
}

func listInbox(conn *grpc.ClientConn) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := notifyv1.NewNotificationServiceClient(conn).ListMyNotifications(ctx, &notifyv1.ListMyNotificationsRequest{})
	return err
}

func reasonOf(err error) string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}

// TestMutualTLSCallerTable (issue 7 point 7): over real sockets with the
// suite's CA, an internal method answers only the services the table names
// for it; a user-facing method answers any certificate of the CA; a
// certificate of another CA, no certificate and plaintext never get in.
func TestMutualTLSCallerTable(t *testing.T) {
	files, err := pki.Ensure(filepath.Join(t.TempDir(), "tls"), Identities...)
	if err != nil {
		t.Fatal(err)
	}
	addr := tlsServer(t, mtlsConfig(files, Notify))
	as := func(name string) *grpc.ClientConn {
		conf, err := files.ClientTLS(name)
		if err != nil {
			t.Fatal(err)
		}
		return dialTLS(t, addr, conf)
	}

	for _, caller := range Identities {
		t.Run(caller, func(t *testing.T) {
			conn := as(caller)
			err := enqueue(conn)
			allowed := slices.Contains(internalCallers[Notify][notifyv1.NotificationInternalService_EnqueueNotification_FullMethodName], caller)
			switch {
			case allowed && err != nil:
				t.Fatalf("EnqueueNotification from %s: %v, want OK", caller, err)
			case !allowed && (status.Code(err) != codes.PermissionDenied || reasonOf(err) != ReasonServiceNotAllowed):
				t.Fatalf("EnqueueNotification from %s: %v, want PERMISSION_DENIED %s", caller, err, ReasonServiceNotAllowed)
			}
			// A user-facing method: past the caller check to the handler.
			if err := listInbox(conn); status.Code(err) != codes.Unimplemented {
				t.Fatalf("public method from %s: %v, want the handler's Unimplemented", caller, err)
			}
			// Fail closed: an internal method the table has no row for.
			_, err = watchEvents(conn)
			if status.Code(err) != codes.PermissionDenied {
				t.Fatalf("WatchEvents (no row on notify) from %s: %v, want PERMISSION_DENIED", caller, err)
			}
		})
	}
	if !slices.Equal(internalCallers[Notify][notifyv1.NotificationInternalService_EnqueueNotification_FullMethodName], []string{Identity, Directory, Vault}) {
		t.Fatal("the cases above assume identity, directory and vault enqueue notifications")
	}

	t.Run("another CA's certificate", func(t *testing.T) {
		other, err := pki.Ensure(filepath.Join(t.TempDir(), "other"), Identity)
		if err != nil {
			t.Fatal(err)
		}
		conf, err := other.ClientTLS(Identity)
		if err != nil {
			t.Fatal(err)
		}
		conf.RootCAs = mustPool(t, files) // trusts the server; the server does not trust it
		if err := enqueue(dialTLS(t, addr, conf)); status.Code(err) != codes.Unavailable {
			t.Fatalf("certificate of another CA: %v, want the handshake refused", err)
		}
	})
	t.Run("no client certificate", func(t *testing.T) {
		conf := &tls.Config{RootCAs: mustPool(t, files), MinVersion: tls.VersionTLS12}
		if err := enqueue(dialTLS(t, addr, conf)); status.Code(err) != codes.Unavailable {
			t.Fatalf("no certificate: %v, want the handshake refused", err)
		}
		if err := listInbox(dialTLS(t, addr, conf)); status.Code(err) != codes.Unavailable {
			t.Fatalf("no certificate, public method: %v, want the handshake refused", err)
		}
	})
	t.Run("plaintext", func(t *testing.T) {
		if err := enqueue(dialTLS(t, addr, nil)); status.Code(err) != codes.Unavailable {
			t.Fatalf("plaintext to a TLS server: %v, want refused", err)
		}
	})
}

func watchEvents(conn *grpc.ClientConn) (*eventsv1.Event, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stream, err := eventsv1.NewEventsInternalServiceClient(conn).WatchEvents(ctx, &eventsv1.WatchEventsRequest{})
	if err != nil {
		return nil, err
	}
	return stream.Recv()
}

func mustPool(t *testing.T, files pki.Files) *x509.CertPool {
	t.Helper()
	conf, err := files.ClientTLS(Identity)
	if err != nil {
		t.Fatal(err)
	}
	return conf.RootCAs
}

// TestPlaintextRefusesInternalMethods: a service started by hand on
// loopback without certificates runs, but no caller has an identity, so
// every internal method is refused (UNAUTHENTICATED) while user-facing
// methods work for development. A server certificate without a CA is the
// same: callers present no certificate.
func TestPlaintextRefusesInternalMethods(t *testing.T) {
	files, err := pki.Ensure(filepath.Join(t.TempDir(), "tls"), Identities...)
	if err != nil {
		t.Fatal(err)
	}
	for name, cfg := range map[string]*config.Common{
		"plaintext":        {},
		"TLS without a CA": {TLSCertFile: files.CertFile(Notify), TLSKeyFile: files.KeyFile(Notify)},
	} {
		t.Run(name, func(t *testing.T) {
			addr := tlsServer(t, cfg)
			var conf *tls.Config
			if cfg.TLSCertFile != "" {
				conf = &tls.Config{RootCAs: mustPool(t, files), ServerName: Notify, MinVersion: tls.VersionTLS12}
			}
			conn := dialTLS(t, addr, conf)
			err := enqueue(conn)
			if status.Code(err) != codes.Unauthenticated || reasonOf(err) != ReasonServiceIdentityRequired {
				t.Fatalf("internal method without identity: %v, want UNAUTHENTICATED %s", err, ReasonServiceIdentityRequired)
			}
			if err := listInbox(conn); status.Code(err) != codes.Unimplemented {
				t.Fatalf("public method: %v, want the handler's Unimplemented", err)
			}
		})
	}
}

// TestOffLoopbackNeedsMutualTLS: a service refuses to start beyond loopback
// without a certificate and a CA.
func TestOffLoopbackNeedsMutualTLS(t *testing.T) {
	files, err := pki.Ensure(filepath.Join(t.TempDir(), "tls"), Notify)
	if err != nil {
		t.Fatal(err)
	}
	for name, cfg := range map[string]config.Common{
		"plaintext":        {},
		"TLS without a CA": {TLSCertFile: files.CertFile(Notify), TLSKeyFile: files.KeyFile(Notify)},
	} {
		cfg.Service, cfg.NotifyAddr = Notify, "0.0.0.0:7104"
		if _, err := New(&cfg, zap.NewNop(), Options{}); err == nil || !strings.Contains(err.Error(), "mutual TLS") {
			t.Errorf("%s beyond loopback: %v, want refused", name, err)
		}
	}
	cfg := *mtlsConfig(files, Notify)
	cfg.Service, cfg.NotifyAddr = Notify, "0.0.0.0:7104"
	if _, err := New(&cfg, zap.NewNop(), Options{}); err != nil {
		t.Fatalf("mutual TLS beyond loopback: %v", err)
	}
}

// TestClientChecksThePeersIdentity: client.Dial to a configured service
// address accepts only that service's certificate, not any of the CA's.
func TestClientChecksThePeersIdentity(t *testing.T) {
	files, err := pki.Ensure(filepath.Join(t.TempDir(), "tls"), Identities...)
	if err != nil {
		t.Fatal(err)
	}
	addr := tlsServer(t, mtlsConfig(files, Notify))
	for _, tc := range []struct {
		as   string // the service the client takes the address for
		want codes.Code
	}{{Notify, codes.OK}, {Identity, codes.Unavailable}} {
		cfg := mtlsConfig(files, Identity)
		cfg.NotifyAddr, cfg.IdentityAddr = "127.0.0.1:1", "127.0.0.1:2"
		if tc.as == Notify {
			cfg.NotifyAddr = addr
		} else {
			cfg.IdentityAddr = addr
		}
		conn, err := client.Dial(cfg, addr)
		if err != nil {
			t.Fatal(err)
		}
		err = enqueue(conn)
		_ = conn.Close()
		if status.Code(err) != tc.want {
			t.Errorf("notify's certificate at the address of %s: %v, want %v", tc.as, err, tc.want)
		}
	}
}

// TestInProcessCallers: in-process servers (bufconn, no TLS) take the
// caller a test names; a call naming none passes as any service would.
func TestInProcessCallers(t *testing.T) {
	h := start(t, nil)
	c := notifyv1.NewNotificationInternalServiceClient(h.conn)
	for _, tc := range []struct {
		caller string
		want   codes.Code
	}{
		{"", codes.OK},
		{Identity, codes.OK},
		{Gateway, codes.PermissionDenied},
		{Notify, codes.PermissionDenied},
		{"stranger", codes.PermissionDenied},
		{servertest.NoService, codes.Unauthenticated},
	} {
		ctx := context.Background()
		if tc.caller != "" {
			ctx = servertest.AsCaller(ctx, tc.caller)
		}
		if _, err := c.EnqueueNotification(ctx, validRequest("ok")); status.Code(err) != tc.want {
			t.Errorf("as %q: %v, want %v", tc.caller, err, tc.want)
		}
	}
	lis := h.lis
	conn := servertest.Dial(t, lis, servertest.As(Gateway))
	if _, err := notifyv1.NewNotificationInternalServiceClient(conn).EnqueueNotification(context.Background(), validRequest("ok")); status.Code(err) != codes.PermissionDenied {
		t.Errorf("connection as gateway: %v, want PERMISSION_DENIED", err)
	}
	ctx := servertest.AsCaller(context.Background(), Vault)
	if _, err := notifyv1.NewNotificationInternalServiceClient(conn).EnqueueNotification(ctx, validRequest("ok")); err != nil {
		t.Errorf("a call as vault on a connection as gateway: %v, want the call's name to win", err)
	}
	if servertest.NoService != TestNoCaller {
		t.Fatal("servertest.NoService must equal server.TestNoCaller")
	}
}

// TestCallerTableIsComplete: every method of every internal service in the
// contracts has its row on the service that serves it (so a missing row is
// a decision, not an oversight), and the table names only internal methods
// that exist and known services.
func TestCallerTableIsComplete(t *testing.T) {
	owners := map[protoreflect.FullName][]string{
		"vigil.identity.v1.IdentityInternalService":   {Identity},
		"vigil.directory.v1.DirectoryInternalService": {Directory},
		"vigil.vault.v1.VaultInternalService":         {Vault},
		"vigil.notify.v1.NotificationInternalService": {Notify},
		"vigil.events.v1.EventsInternalService":       {Identity, Directory, Vault},
	}
	seen := map[string]bool{}
	protoregistry.GlobalFiles.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		for i := 0; i < fd.Services().Len(); i++ {
			sd := fd.Services().Get(i)
			if !strings.HasPrefix(string(sd.FullName()), "vigil.") || !strings.HasSuffix(string(sd.Name()), "InternalService") {
				continue
			}
			servers, ok := owners[sd.FullName()]
			if !ok {
				t.Errorf("internal service %s has no server in this test", sd.FullName())
			}
			for j := 0; j < sd.Methods().Len(); j++ {
				method := "/" + string(sd.FullName()) + "/" + string(sd.Methods().Get(j).Name())
				for _, server := range servers {
					seen[server+method] = true
					if len(internalCallers[server][method]) == 0 {
						t.Errorf("%s on %s: no row in the caller table", method, server)
					}
				}
			}
		}
		return true
	})
	for server, methods := range internalCallers {
		for method, callers := range methods {
			if !seen[server+method] {
				t.Errorf("table row %s on %s: no such internal method on that server", method, server)
			}
			for _, c := range callers {
				if !isIdentity(c) || c == server || c == Gateway {
					t.Errorf("%s on %s: caller %q must be another service", method, server, c)
				}
			}
		}
	}
}
