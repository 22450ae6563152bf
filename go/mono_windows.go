//go:build windows

package shmipc

import "unsafe"

var (
	procQueryPerformanceCounter   = kernel32.NewProc("QueryPerformanceCounter")
	procQueryPerformanceFrequency = kernel32.NewProc("QueryPerformanceFrequency")
)

// monotonicNow reads QueryPerformanceCounter in nanoseconds (once per
// Connect), as the C library's shmipc__now_ns does.
func monotonicNow() int64 {
	var c, f int64
	procQueryPerformanceCounter.Call(uintptr(unsafe.Pointer(&c)))
	procQueryPerformanceFrequency.Call(uintptr(unsafe.Pointer(&f)))
	if f <= 0 {
		return 0
	}
	return c/f*1e9 + c%f*1e9/f
}
