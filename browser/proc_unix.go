//go:build unix

package browser

import (
	"os"
	"os/exec"
	"syscall"
)

// ownGroup starts the browser in a process group of its own, so that the
// helpers it starts can be stopped with it.
func ownGroup(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} }

// terminate asks the browser's process group to exit.
func terminate(p *os.Process) { _ = syscall.Kill(-p.Pid, syscall.SIGTERM) }

// killGroup kills what is left of the browser's process group.
func killGroup(p *os.Process) { _ = syscall.Kill(-p.Pid, syscall.SIGKILL) }
