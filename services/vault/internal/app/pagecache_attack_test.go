package app_test

import (
	"fmt"
	"strings"
	"testing"

	vaultv1 "github.com/vigil/vigil/gen/vigil/vault/v1"
)

// TestCompliancePageFollowsOtherWrites: the operator's page cache
// (issue 10) is served again only at the same store revisions; the writes
// not covered by TestCompliancePageFollowsEveryChange — a rejection, an
// assignment and its end, a project closed, an employee deleted, a
// requirement deleted, the supplier unlinked — each show in the very next
// read of the same page (same filter, same page size, same token).
func TestCompliancePageFollowsOtherWrites(t *testing.T) {
	e := newEnv(t)
	w := e.world()
	p1 := e.project(w.c1)
	for _, f := range []string{"", "non_compliant", "compliant"} {
		page := func(size int32) string {
			t.Helper()
			l := must(e.comp.ListComplianceSummaries(w.c1Admin.ctx, &vaultv1.ListComplianceSummariesRequest{Parent: cn(w.c1), StatusFilter: f, PageSize: size}))
			var b strings.Builder
			for _, s := range l.GetSummaries() {
				fmt.Fprintf(&b, "%s compliant=%v counts=%v open=", s.GetSupplier(), s.GetCompliant(), s.GetCounts())
				for _, o := range s.GetOpenEntries() {
					fmt.Fprintf(&b, "%s/%s/%v,", o.GetDocumentType(), o.GetSubject(), o.GetStatus())
				}
				b.WriteString("; ")
			}
			fmt.Fprintf(&b, "totals=%v", l.GetTotals())
			return b.String()
		}
		// The page of 10 rows is kept; a page of another size (each used
		// once, so never kept) is built from the store: with fewer than 10
		// suppliers both show the same rows.
		fresh := int32(10)
		step := func(what string, change func()) {
			t.Helper()
			page(10)
			page(10)
			change()
			fresh++
			if kept, built := page(10), page(fresh); kept != built {
				t.Errorf("filter %q: after %s, the kept page differs from the store's:\nkept  %s\nstore %s", f, what, kept, built)
			}
		}
		var r *vaultv1.Requirement
		step("a requirement", func() { r = must(e.require(w.c1Admin, "URSSAF_VIGILANCE", all, nil, "")) })
		var doc *vaultv1.Document
		step("an upload", func() {
			doc = must(e.upload(w.s1Power, upload{docType: "URSSAF_VIGILANCE", until: "2027-12-31"}, pdf("u"+f, 600)))
		})
		step("a rejection", func() {
			must(e.docs.RejectDocument(w.c1Admin.ctx, &vaultv1.RejectDocumentRequest{Name: cn(w.c1) + "/suppliers/" + w.s1 + "/documents/" + docID(doc.GetName()), Reason: "Unsigned"}))
		})
		var pr *vaultv1.Requirement
		step("an employee requirement on a project", func() {
			pr = must(e.require(w.c1Admin, "SAFETY_TRAINING", onProject, nil, cn(w.c1)+"/projects/"+p1))
		})
		emp := e.employee(w.s1, "Bob", "Ray"+f)
		step("an assignment", func() { e.assign(w.s1, emp, w.c1, p1, true) })
		step("the assignment's end", func() { e.assign(w.s1, emp, w.c1, p1, false) })
		step("the assignment again", func() { e.assign(w.s1, emp, w.c1, p1, true) })
		step("the employee deleted", func() {
			e.applied(e.dirSvc.emit(feedEvent("employee.deleted", cn(w.s1), map[string]string{"employee": cn(w.s1) + "/employees/" + emp}, nil)))
		})
		must(e.reqs.DeleteRequirement(w.c1Admin.ctx, &vaultv1.DeleteRequirementRequest{Name: pr.GetName()}))
		step("the requirement deleted", func() {
			must(e.reqs.DeleteRequirement(w.c1Admin.ctx, &vaultv1.DeleteRequirementRequest{Name: r.GetName()}))
		})
		step("another requirement", func() { r = must(e.require(w.c1Admin, "KBIS_EXTRACT", all, nil, "")) })
		step("a supplier unlinked", func() { e.unlink(w.c1, w.s2) })
		step("the supplier linked again", func() { e.link(w.c1, w.s2) })
		must(e.reqs.DeleteRequirement(w.c1Admin.ctx, &vaultv1.DeleteRequirementRequest{Name: r.GetName()}))
	}
}
