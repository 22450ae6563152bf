//go:build !linux && !windows

package shmipc

// monotonicNow is unused where Connect is not supported.
func monotonicNow() int64 { return 0 }
