//go:build linux

package shmipc

import (
	"syscall"
	"unsafe"
)

// monotonicNow reads CLOCK_MONOTONIC in nanoseconds (once per Connect),
// the clock of the C library's shmipc__now_ns.
func monotonicNow() int64 {
	var ts syscall.Timespec
	const clockMonotonic = 1
	if _, _, e := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockMonotonic, uintptr(unsafe.Pointer(&ts)), 0); e != 0 {
		return 0
	}
	return ts.Nano()
}
