//go:build !amd64 && !arm64

package shmipc

// cpuPause is a no-op on CPUs without a spin-wait hint in this package.
func cpuPause() {}
