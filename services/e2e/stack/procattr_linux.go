package stack

import "syscall"

// procAttr puts each process in its own process group, so that a Ctrl-C at
// the terminal reaches only the launcher, which then stops the processes in
// order (gateway first); and ends a process if the launcher itself dies.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
