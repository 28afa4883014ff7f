package main

import (
	"encoding/json"
	"fmt"
	"strings"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	line int
	cmd  string // upper case
	args string
}

func parseDockerfile(src string) []instruction {
	var out []instruction
	var cur strings.Builder
	start := 0
	for i, line := range strings.Split(src, "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		} else if strings.HasPrefix(trimmed, "#") {
			continue // a comment inside a continued instruction
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{line: start, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)})
		cur.Reset()
	}
	return out
}

// mustIgnore are what `COPY . .` must never send to the build: the
// repository's history, local data (bbolt files, keys, e-mails), build output.
var mustIgnore = []string{".git", "data", ".bin", ".build", ".third_party"}

// lintDockerfile checks the rules of hadolint (which cannot be installed
// here) that apply to our image, numbered like hadolint's where they match:
//
//	DL3006/DL3007 every base image has a pinned tag (not latest) or digest;
//	DL3002        the last stage runs as a non-root USER;
//	DL3003        no `cd` in RUN (use WORKDIR);
//	DL3000        WORKDIR is absolute;
//	DL3020        COPY, not ADD;
//	DL3025        ENTRYPOINT and CMD in exec (JSON) form;
//	DL3008/DL3015 apt-get install pins nothing here but must skip recommends;
//	DL3004        no sudo;
//	DL4000        no MAINTAINER;
//	and `COPY . .` needs a .dockerignore that excludes mustIgnore.
func lintDockerfile(src, dockerignore string) []error {
	var errs []error
	fail := func(in instruction, rule, format string, args ...any) {
		errs = append(errs, fmt.Errorf("line %d: %s %s", in.line, rule, fmt.Sprintf(format, args...)))
	}
	ins := parseDockerfile(src)
	stages := map[string]bool{}
	lastUser, lastFrom := "", -1
	for i, in := range ins {
		switch in.cmd {
		case "FROM":
			fields := strings.Fields(in.args)
			var image string
			for _, f := range fields {
				if !strings.HasPrefix(f, "--") {
					image = f
					break
				}
			}
			if image != "scratch" && !stages[strings.ToLower(image)] && !pinned(image) {
				fail(in, "DL3006/DL3007", "base image %q: pin a tag (not latest) or a digest", image)
			}
			if len(fields) >= 3 && strings.EqualFold(fields[len(fields)-2], "AS") {
				stages[strings.ToLower(fields[len(fields)-1])] = true
			}
			lastUser, lastFrom = "", i
		case "USER":
			lastUser = in.args
		case "RUN":
			if strings.HasPrefix(in.args, "cd ") || strings.Contains(in.args, "&& cd ") || strings.Contains(in.args, "; cd ") {
				fail(in, "DL3003", "use WORKDIR to change directory")
			}
			if strings.Contains(in.args, "sudo ") {
				fail(in, "DL3004", "do not use sudo")
			}
			if strings.Contains(in.args, "apt-get install") && !strings.Contains(in.args, "--no-install-recommends") {
				fail(in, "DL3015", "apt-get install --no-install-recommends")
			}
		case "WORKDIR":
			if !strings.HasPrefix(in.args, "/") && !strings.HasPrefix(in.args, "$") {
				fail(in, "DL3000", "WORKDIR %q is not absolute", in.args)
			}
		case "ADD":
			fail(in, "DL3020", "use COPY instead of ADD")
		case "ENTRYPOINT", "CMD":
			var form []string
			if json.Unmarshal([]byte(in.args), &form) != nil {
				fail(in, "DL3025", "%s in exec form: %s [\"...\"]", in.cmd, in.cmd)
			}
		case "MAINTAINER":
			fail(in, "DL4000", "MAINTAINER is deprecated; use a LABEL")
		case "COPY":
			if strings.HasPrefix(in.args, ". ") || strings.Contains(in.args, " . ") {
				for _, p := range mustIgnore {
					if !ignores(dockerignore, p) {
						fail(in, "ignore", ".dockerignore must exclude %s (COPY . sends the whole folder)", p)
					}
				}
			}
		}
	}
	if lastFrom < 0 {
		return append(errs, fmt.Errorf("no FROM"))
	}
	if u := strings.ToLower(strings.Split(lastUser, ":")[0]); u == "" || u == "root" || u == "0" {
		errs = append(errs, fmt.Errorf("DL3002: the last stage must set a non-root USER"))
	}
	return errs
}

// ignores reports whether a .dockerignore has a line excluding path.
func ignores(dockerignore, path string) bool {
	for _, line := range strings.Split(dockerignore, "\n") {
		line = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(line), "/"), "/")
		if line == path || line == path+"/**" || line == "**/"+path {
			return true
		}
	}
	return false
}
