package shmipc

// Stand-ins for language built-ins and standard-library functions newer than
// the module's go 1.19 (go.mod), the Go that Debian 12 packages. joinErrors
// is in compat_go120.go and compat_go119.go.

import "time"

// minDuration returns the smaller of a and b (the built-in min is go1.21).
func minDuration(a, b time.Duration) time.Duration {
	if a < b {
		return a
	}
	return b
}

// maxDuration returns the larger of a and b (the built-in max is go1.21).
func maxDuration(a, b time.Duration) time.Duration {
	if a > b {
		return a
	}
	return b
}
