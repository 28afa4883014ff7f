package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestREADME: issue 12 point 10 — the README is self-contained (every link
// is a file of the repository) and lists every make target.
func TestREADME(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	for _, m := range regexp.MustCompile(`\]\(([^)]+)\)`).FindAllStringSubmatch(text, -1) {
		target := m[1]
		if strings.Contains(target, "://") || strings.HasPrefix(target, "..") || strings.HasPrefix(target, "/") {
			t.Errorf("link to %s leaves the repository", target)
			continue
		}
		if _, err := os.Stat(filepath.Join("../..", strings.SplitN(target, "#", 2)[0])); err != nil {
			t.Errorf("link to %s: %v", target, err)
		}
	}
	if strings.Contains(text, "../shared") {
		t.Error("the README mentions ../shared, which is not in the repository")
	}
	makefile, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	phony := regexp.MustCompile(`(?m)^\.PHONY:(.*)$`).FindStringSubmatch(string(makefile))
	if phony == nil {
		t.Fatal("no .PHONY line in the Makefile")
	}
	for _, target := range strings.Fields(phony[1]) {
		if !strings.Contains(text, "make "+target+"`") && !strings.Contains(text, "make "+target+" ") {
			t.Errorf("the README does not list make %s", target)
		}
	}
}
