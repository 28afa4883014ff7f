//go:build !linux

package stack

import "syscall"

// procAttr puts each process in its own process group (see procattr_linux.go).
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
