// Command deploycheck is `make deploy-check`: it checks what deploy/ ships,
// offline.
//
//   - The rendered Kubernetes manifests are validated against the schemas of
//     the Kubernetes API (kubeconform, strict, with schemas made here from the
//     k8s.io/kubernetes module's api/openapi-spec/swagger.json, since the
//     usual schema repository is on the internet).
//   - They follow the deployment rules (policy.go): pinned images, the
//     restricted security context, probes on the plaintext health port,
//     writable volumes only for data, each secret only where it is used,
//     /metrics never behind a Service, a disruption budget per workload, an
//     Ingress and NetworkPolicies.
//   - The Dockerfile passes a small linter (dockerfile.go: hadolint cannot be
//     installed here, so the rules that matter to us are written in Go), and
//     a .dockerignore keeps data, secrets and build output out of the image.
//   - The Grafana dashboard is well formed and uses the product metrics.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	manifests := flag.String("manifests", "", "rendered manifests (kustomize build output)")
	swagger := flag.String("swagger", "", "the Kubernetes API's swagger.json (k8s.io/kubernetes module)")
	schemas := flag.String("schemas", ".build/k8s-schemas", "folder for the generated JSON schemas")
	dockerfile := flag.String("dockerfile", "deploy/Dockerfile", "the Dockerfile")
	dockerignore := flag.String("dockerignore", ".dockerignore", "the .dockerignore")
	dashboard := flag.String("dashboard", "deploy/grafana/vigil.json", "the Grafana dashboard")
	flag.Parse()
	if *manifests == "" || *swagger == "" {
		flag.Usage()
		os.Exit(2)
	}
	var problems []string
	report := func(section string, errs []error) {
		for _, err := range errs {
			problems = append(problems, section+": "+err.Error())
		}
		if len(errs) == 0 {
			fmt.Println("deploy-check:", section, "ok")
		}
	}

	raw, err := os.ReadFile(*manifests)
	if err != nil {
		fail(err)
	}
	dir, err := filepath.Abs(*schemas)
	if err != nil {
		fail(err)
	}
	if err := writeSchemas(*swagger, dir); err != nil {
		fail(err)
	}
	objects, errs := validateSchemas(raw, dir)
	report(fmt.Sprintf("%d objects against the Kubernetes schemas", objects), errs)

	docs, err := parseManifests(raw)
	if err != nil {
		fail(err)
	}
	report("deployment rules", checkPolicy(docs))

	df, err := os.ReadFile(*dockerfile)
	if err != nil {
		fail(err)
	}
	ignore, err := os.ReadFile(*dockerignore)
	if err != nil {
		problems = append(problems, ".dockerignore: "+err.Error())
	}
	report("Dockerfile lint", lintDockerfile(string(df), string(ignore)))

	dash, err := os.ReadFile(*dashboard)
	if err != nil {
		fail(err)
	}
	report("Grafana dashboard", checkDashboard(dash))

	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(os.Stderr, "deploy-check:", p)
		}
		os.Exit(1)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "deploy-check:", err)
	os.Exit(1)
}
