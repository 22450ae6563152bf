//go:build amd64 || arm64

package shmipc

// cpuPause executes the CPU's spin-wait hint (PAUSE on amd64, YIELD on
// arm64) once.
func cpuPause()
