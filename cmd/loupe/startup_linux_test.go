package main

import "syscall"

// childNamespace gives a child a mount namespace of its own (Go makes its
// mounts private), so that what it mounts goes with it.
func childNamespace() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
}

// readOnlyMount makes dir read-only in this process's mount namespace.
func readOnlyMount(dir string) error {
	if err := syscall.Mount(dir, dir, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
		return err
	}
	return syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_BIND|syscall.MS_RDONLY, "")
}

// mountTmpfs mounts a tmpfs with options (its size) on dir.
func mountTmpfs(dir, options string) error { return syscall.Mount("tmpfs", dir, "tmpfs", 0, options) }

func unmount(dir string) { syscall.Unmount(dir, 0) }
