//go:build !linux

package main

import (
	"errors"
	"syscall"
)

func childNamespace() *syscall.SysProcAttr { return nil }

func readOnlyMount(string) error { return errors.New("read-only mounts are tested on Linux") }

func mountTmpfs(string, string) error { return errors.New("a small tmpfs is tested on Linux") }

func unmount(string) {}
