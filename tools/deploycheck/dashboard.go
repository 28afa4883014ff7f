package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// dashboardMetrics are the metrics the dashboard must chart: the product
// metrics every service registers (the brief's list) and the gateway's
// request metrics.
var dashboardMetrics = []string{
	"vigil_notify_outbox_depth", "vigil_notify_outbox_oldest_age_seconds", "vigil_notify_deliveries_total",
	"vigil_notify_dead_letters", "vigil_identity_password_hash_queue", "vigil_identity_password_hash_refused_total",
	"vigil_identity_logins_total", "vigil_directory_imports_running", "vigil_directory_import_rows_total",
	"vigil_vault_upload_bytes_total", "vigil_vault_uploads_total", "vigil_vault_downloads_total",
	"vigil_gateway_http_requests_total", "vigil_gateway_http_request_duration_seconds_bucket",
	"vigil_gateway_http_requests_in_flight", "vigil_gateway_http_connections",
}

type dashboardPanel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []dashboardPanel `json:"panels"`
}

var metricName = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)

// checkDashboard: the Grafana dashboard is well formed (uid, unique panel
// ids, a Prometheus datasource variable every panel uses, balanced
// queries) and charts every metric of dashboardMetrics.
func checkDashboard(raw []byte) []error {
	var d struct {
		UID           string           `json:"uid"`
		Title         string           `json:"title"`
		SchemaVersion int              `json:"schemaVersion"`
		Panels        []dashboardPanel `json:"panels"`
		Templating    struct {
			List []struct {
				Name, Type, Query string
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		return []error{err}
	}
	var errs []error
	if d.UID == "" || d.Title == "" || d.SchemaVersion == 0 {
		errs = append(errs, fmt.Errorf("uid, title and schemaVersion are required"))
	}
	hasDS := false
	for _, v := range d.Templating.List {
		if v.Type == "datasource" && v.Query == "prometheus" && v.Name == "datasource" {
			hasDS = true
		}
	}
	if !hasDS {
		errs = append(errs, fmt.Errorf("no Prometheus datasource variable named datasource"))
	}
	ids := map[int]bool{}
	used := map[string]bool{}
	var visit func([]dashboardPanel)
	visit = func(ps []dashboardPanel) {
		for _, p := range ps {
			if ids[p.ID] || p.ID == 0 {
				errs = append(errs, fmt.Errorf("panel %q: id %d missing or used twice", p.Title, p.ID))
			}
			ids[p.ID] = true
			if p.Type != "row" {
				if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
					errs = append(errs, fmt.Errorf("panel %q: datasource must be ${datasource}", p.Title))
				}
				if len(p.Targets) == 0 {
					errs = append(errs, fmt.Errorf("panel %q: no query", p.Title))
				}
			}
			for _, t := range p.Targets {
				if t.Expr == "" || strings.Count(t.Expr, "(") != strings.Count(t.Expr, ")") ||
					strings.Count(t.Expr, "{") != strings.Count(t.Expr, "}") || strings.Count(t.Expr, "[") != strings.Count(t.Expr, "]") {
					errs = append(errs, fmt.Errorf("panel %q: query %s is empty or unbalanced", p.Title, t.RefID))
				}
				for _, name := range metricName.FindAllString(t.Expr, -1) {
					used[name] = true
				}
			}
			visit(p.Panels)
		}
	}
	visit(d.Panels)
	for _, m := range dashboardMetrics {
		if !used[m] {
			errs = append(errs, fmt.Errorf("no panel charts %s", m))
		}
	}
	return errs
}
