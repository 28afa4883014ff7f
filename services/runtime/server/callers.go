package server

import (
	"context"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	directoryv1 "github.com/vigil/vigil/gen/vigil/directory/v1"
	eventsv1 "github.com/vigil/vigil/gen/vigil/events/v1"
	identityv1 "github.com/vigil/vigil/gen/vigil/identity/v1"
	notifyv1 "github.com/vigil/vigil/gen/vigil/notify/v1"
	vaultv1 "github.com/vigil/vigil/gen/vigil/vault/v1"
	"github.com/vigil/vigil/services/runtime/auth"
	"github.com/vigil/vigil/services/runtime/errs"
)

// The service identities: the DNS SAN of each process's certificate
// (VIGIL_TLS_CERT_FILE), which names it to the others over mutual TLS.
const (
	Identity  = "identity"
	Directory = "directory"
	Vault     = "vault"
	Notify    = "notify"
	Gateway   = "gateway"
)

// Identities are every service identity a certificate may carry.
var Identities = []string{Identity, Directory, Vault, Notify, Gateway}

// internalCallers is THE table of which service may call which internal
// method (issue 7 point 7): server → full method → callers. Internal
// methods are those of a …InternalService (user-facing methods are open to
// any holder of a certificate from the suite's CA, and decide on the
// user's token). A method of an internal service missing here is refused
// to every caller: a new internal call needs a row, added with the code
// that makes it. WatchEvents is keyed per server, as several serve it.
var internalCallers = map[string]map[string][]string{
	Identity: {
		identityv1.IdentityInternalService_WatchRevocations_FullMethodName:         {Directory, Vault, Notify},
		identityv1.IdentityInternalService_CheckPermission_FullMethodName:          {Directory, Vault, Notify},
		identityv1.IdentityInternalService_AddMember_FullMethodName:                {Directory},
		identityv1.IdentityInternalService_CountMembers_FullMethodName:             {Directory},
		identityv1.IdentityInternalService_SyncCompany_FullMethodName:              {Directory},
		identityv1.IdentityInternalService_BatchGetUsers_FullMethodName:            {Directory, Vault, Notify},
		identityv1.IdentityInternalService_ListMembers_FullMethodName:              {Directory, Vault, Notify},
		identityv1.IdentityInternalService_ListMemberships_FullMethodName:          {Notify},
		identityv1.IdentityInternalService_ReportUndeliverableEmail_FullMethodName: {Notify},
		eventsv1.EventsInternalService_WatchEvents_FullMethodName:                  {Notify},
	},
	Directory: {
		directoryv1.DirectoryInternalService_CreateCompany_FullMethodName:         {Identity},
		directoryv1.DirectoryInternalService_DeleteCompany_FullMethodName:         {Identity},
		directoryv1.DirectoryInternalService_LookupCompany_FullMethodName:         {Identity},
		directoryv1.DirectoryInternalService_GetRelationship_FullMethodName:       {Vault},
		directoryv1.DirectoryInternalService_ListSupplierCompanies_FullMethodName: {Vault},
		directoryv1.DirectoryInternalService_ListCustomerCompanies_FullMethodName: {Vault},
		directoryv1.DirectoryInternalService_ListReferences_FullMethodName:        {Vault, Notify},
		directoryv1.DirectoryInternalService_GetEmployee_FullMethodName:           {Vault, Notify},
		directoryv1.DirectoryInternalService_ListProjectEmployees_FullMethodName:  {Vault},
		directoryv1.DirectoryInternalService_BatchGetCompanies_FullMethodName:     {Vault, Notify},
		directoryv1.DirectoryInternalService_GetProject_FullMethodName:            {Vault},
		directoryv1.DirectoryInternalService_ListAssignments_FullMethodName:       {Vault},
		directoryv1.DirectoryInternalService_ListCompanies_FullMethodName:         {Vault, Notify},
		eventsv1.EventsInternalService_WatchEvents_FullMethodName:                 {Vault, Notify},
	},
	Vault: {
		vaultv1.VaultInternalService_ListExpiringForReminders_FullMethodName:  {Notify},
		vaultv1.VaultInternalService_GetComplianceDigest_FullMethodName:       {Notify},
		vaultv1.VaultInternalService_BatchGetComplianceDigests_FullMethodName: {Notify},
		eventsv1.EventsInternalService_WatchEvents_FullMethodName:             {Notify},
	},
	Notify: {
		notifyv1.NotificationInternalService_EnqueueNotification_FullMethodName: {Identity, Directory, Vault},
	},
}

// InternalCallers returns a copy of the table, for tests and documentation.
func InternalCallers() map[string]map[string][]string {
	out := make(map[string]map[string][]string, len(internalCallers))
	for server, methods := range internalCallers {
		out[server] = make(map[string][]string, len(methods))
		for m, callers := range methods {
			out[server][m] = append([]string(nil), callers...)
		}
	}
	return out
}

// anyService is the identity of an in-process test caller that named no
// service: it passes the check (tests of other things than the table). No
// certificate can carry it: certificate identities are from Identities.
const anyService = "*"

// TestCallerKey is the metadata key with which a test names the service it
// calls as (servertest.As); the value TestNoCaller stands for a caller
// without a certificate. Only in-process servers (Options.Listener set, no
// TLS) read it, and only on in-memory connections, which no other process
// can open.
const (
	TestCallerKey = "vigil-test-caller"
	TestNoCaller  = "-"
)

// ServiceIdentity is the service identity of the peer of ctx: the one
// service name among the DNS SANs of its verified client certificate.
// False without a verified certificate, or with several service names.
func ServiceIdentity(ctx context.Context) (string, bool) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return "", false
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		return "", false
	}
	found := ""
	for _, name := range info.State.VerifiedChains[0][0].DNSNames {
		if !isIdentity(name) {
			continue
		}
		if found != "" && found != name {
			return "", false
		}
		found = name
	}
	return found, found != ""
}

func isIdentity(name string) bool {
	for _, id := range Identities {
		if name == id {
			return true
		}
	}
	return false
}

// callerCheck enforces the table for one server.
type callerCheck struct {
	// allowed: full method → caller → true, for this server's row.
	allowed map[string]map[string]bool
	// inProcess: an in-memory server without TLS (tests), whose callers
	// carry no certificate.
	inProcess bool
}

func newCallerCheck(service string, inProcess bool) *callerCheck {
	c := &callerCheck{allowed: map[string]map[string]bool{}, inProcess: inProcess}
	for method, callers := range internalCallers[service] {
		set := map[string]bool{}
		for _, caller := range callers {
			set[caller] = true
		}
		c.allowed[method] = set
	}
	return c
}

// Errors of the check; reasons are stable.
const (
	ReasonServiceIdentityRequired = "SERVICE_IDENTITY_REQUIRED"
	ReasonServiceNotAllowed       = "SERVICE_NOT_ALLOWED"
)

// check lets any call to a user-facing method through, and a call to an
// internal method only from a service the table names for it.
func (c *callerCheck) check(ctx context.Context, method string) error {
	if !auth.IsInternal(method) {
		return nil
	}
	caller, ok := c.caller(ctx)
	if !ok {
		return errs.Unauthenticated(ReasonServiceIdentityRequired, "internal method: the caller must present a service certificate (mutual TLS)")
	}
	if caller == anyService || c.allowed[method][caller] {
		return nil
	}
	return errs.PermissionDenied(ReasonServiceNotAllowed, "internal method not allowed for service %q", caller)
}

func (c *callerCheck) caller(ctx context.Context) (string, bool) {
	if id, ok := ServiceIdentity(ctx); ok {
		return id, true
	}
	if !c.inProcess {
		return "", false
	}
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil || p.Addr.Network() != "bufconn" {
		return "", false
	}
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get(TestCallerKey); len(v) > 0 {
		// The last value: a call's own name after its connection's.
		name := v[len(v)-1]
		if name == TestNoCaller {
			return "", false
		}
		return name, true
	}
	return anyService, true
}
