//go:build !linux

package main

import (
	"errors"
	"syscall"
)

func childNamespace() *syscall.SysProcAttr { return nil }

func readOnlyMount(string) error { return errors.New("read-only mounts are tested on Linux") }
