//go:build !amd64

package shmipc

// copyStreaming is copy(dst, src); only amd64 has the streaming-store copy.
func copyStreaming(dst, src []byte) int { return copy(dst, src) }
