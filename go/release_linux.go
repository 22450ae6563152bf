package shmipc

import (
	"os"
	"syscall"
	"unsafe"
)

var pageSize = uintptr(os.Getpagesize())

// releasePages gives the physical pages that lie wholly inside b back to
// the kernel at once (MADV_DONTNEED: the range reads as zeros afterwards
// and costs memory again only when written). The Reassembler calls it on
// a buffer it discards, which nothing references any more: the garbage
// collector frees the address range later, but the memory a hostile
// writer made the process touch does not wait for it. The pages are the
// buffer's own (a page wholly inside one allocation belongs to no other
// object), so the runtime never sees the difference.
func releasePages(b []byte) {
	if len(b) == 0 {
		return
	}
	p := uintptr(unsafe.Pointer(&b[0]))
	lo := (p + pageSize - 1) &^ (pageSize - 1)
	hi := (p + uintptr(len(b))) &^ (pageSize - 1)
	if hi <= lo {
		return
	}
	// An error (none is expected for a mapped, page-aligned range) only
	// leaves the pages to the garbage collector.
	_ = syscall.Madvise(b[lo-p:hi-p], syscall.MADV_DONTNEED)
}
