// Package e2e holds the end-to-end tests: they start the real binaries, as
// `make run` does, and talk HTTP to the gateway as a user would (and gRPC to
// the services where the contract is gRPC: health, reflection).
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/vigil/vigil/services/e2e/stack"
)

// binDir holds the vigil-* binaries under test: $VIGIL_BIN_DIR (make test-e2e
// builds them there) or, when unset, a fresh build from this workspace.
var binDir string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	binDir = os.Getenv("VIGIL_BIN_DIR")
	if binDir == "" {
		dir, err := os.MkdirTemp("", "vigil-e2e-bin")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		for _, name := range append(append([]string{}, stack.Services...), "gateway") {
			cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "vigil-"+name), "./cmd/"+name)
			cmd.Dir = filepath.Join("..", name)
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
			if err := cmd.Run(); err != nil {
				fmt.Fprintln(os.Stderr, "build", name, err)
				return 1
			}
		}
		binDir = dir
	}
	return m.Run()
}
