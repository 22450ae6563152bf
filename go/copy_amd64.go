package shmipc

import "unsafe"

// copyStreaming64 copies n bytes with streaming (non-temporal) stores,
// which write the destination's cache lines without reading them first,
// and fences them (SFENCE): streaming stores are weakly ordered, and the
// fence makes them visible before the caller's next store, the unlock of
// the Reassembler's mutex that the delivering goroutine then locks. n > 0
// is a multiple of 64; dst is 16-byte aligned.
//
//go:noescape
func copyStreaming64(dst, src *byte, n int)

// copyStreaming is copy(dst, src) for a destination that will not be read
// soon (a chunk of a stream larger than the caches): large copies use
// streaming stores, so the receiver does not read every destination line
// before writing it. Go's memmove only does so for copies of 1 MiB and
// more.
func copyStreaming(dst, src []byte) int {
	n := len(src)
	if len(dst) < n {
		n = len(dst)
	}
	if n < streamingMin {
		return copy(dst, src[:n])
	}
	head := int(-uintptr(unsafe.Pointer(&dst[0])) & 15)
	copy(dst[:head], src[:head])
	body := (n - head) &^ 63
	copyStreaming64(&dst[head], &src[head], body)
	copy(dst[head+body:n], src[head+body:n])
	return n
}
