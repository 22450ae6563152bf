//go:build windows

package shmipc

import (
	"fmt"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// Wake-ups on Windows (docs/PROTOCOL.md, "Windows"): one named auto-reset
// event per wake-up word and direction, with the futex contract. A waiter
// announces itself by setting its bit with a CAS, re-checks, and waits on
// the event of its word and bit; the side making the awaited transition
// clears the bit in the same CAS and signals the event only if the bit was
// set. A signal that lands between the waiter's last check and its wait
// stays pending in the event, so no wake-up is lost; one that nobody
// consumed makes a later wait return at once, a harmless re-check.

// eventIndex returns the index of the event for addr waited on with bit:
// 0 attach, 1 doorbell, then two per slot (requester, responder); -1 if
// addr is not a wake-up word of the segment.
func (g *Guest) eventIndex(addr *uint32, bit uint32) int {
	if len(g.data) == 0 {
		return -1
	}
	base := uintptr(unsafe.Pointer(&g.data[0]))
	off := uintptr(unsafe.Pointer(addr)) - base
	switch {
	case off >= uintptr(len(g.data)):
		return -1
	case off == unsafe.Offsetof(segHeader{}.attach):
		return 0
	case off == unsafe.Offsetof(segHeader{}.doorbell):
		return 1
	case off < slotsOffset || (off-slotsOffset)%uintptr(g.geo.slotStride) != 0:
		return -1
	}
	i := 2 + 2*int((off-slotsOffset)/uintptr(g.geo.slotStride))
	if bit == ctrlSW {
		i++
	}
	return i
}

// event returns the handle of event i, opening (or creating: either side
// may come first) it on first use; 0 if that fails.
func (g *Guest) event(i int) syscall.Handle {
	s := g.fd
	s.evOnce.Do(func() {
		s.events = make([]atomic.Uintptr, 2+2*int(g.geo.hostSlots+g.geo.guestSlots))
	})
	if i < 0 || i >= len(s.events) {
		return 0
	}
	if e := s.events[i].Load(); e != 0 {
		return syscall.Handle(e)
	}
	var suffix string
	switch i {
	case 0:
		suffix = "attach"
	case 1:
		suffix = "doorbell"
	default:
		suffix = fmt.Sprintf("s%d%c", (i-2)/2, "rs"[(i-2)%2])
	}
	name := fmt.Sprintf("%s%s-%016x-%s", s.prefix, s.name, g.geo.sessionNonce, suffix)
	e, _, _ := procCreateEventW.Call(uintptr(unsafe.Pointer(s.sa)), 0, 0, uintptr(unsafe.Pointer(utf16Ptr(name))))
	if e == 0 {
		return 0
	}
	if !s.events[i].CompareAndSwap(0, e) {
		syscall.CloseHandle(syscall.Handle(e))
		e = s.events[i].Load()
	}
	return syscall.Handle(e)
}

// wordWait sleeps while *addr == val, at most d, on the event of addr and
// bit. The caller re-reads the word in every case.
func (g *Guest) wordWait(addr *uint32, val, bit uint32, d time.Duration) {
	if d <= 0 {
		return
	}
	e := g.event(g.eventIndex(addr, bit))
	if e == 0 {
		// No event (out of handles): poll within the bound.
		time.Sleep(minDuration(d, time.Millisecond))
		return
	}
	// The futex compare; a change after it signals the event.
	if atomic.LoadUint32(addr) != val {
		return
	}
	ms := (d + time.Millisecond - 1) / time.Millisecond
	if ms >= syscall.INFINITE {
		ms = syscall.INFINITE - 1
	}
	syscall.WaitForSingleObject(e, uint32(ms))
}

// wordWake signals the events of addr for the directions in bits.
func (g *Guest) wordWake(addr *uint32, bits uint32) {
	if i := g.eventIndex(addr, 0); i == 0 || i == 1 {
		if e := g.event(i); e != 0 {
			setEvent(e)
		}
		return
	}
	for _, bit := range [2]uint32{ctrlRW, ctrlSW} {
		if bits&bit != 0 {
			if e := g.event(g.eventIndex(addr, bit)); e != 0 {
				setEvent(e)
			}
		}
	}
}

// setEvent signals e. It calls SyscallN directly: LazyProc.Call's
// variadic arguments escape, one allocation per call on the serve path.
func setEvent(e syscall.Handle) {
	syscall.SyscallN(procSetEvent.Addr(), uintptr(e))
}

// osYield gives the CPU to another thread (SwitchToThread).
func osYield() { procSwitchToThread.Call() }
