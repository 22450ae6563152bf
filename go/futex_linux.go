//go:build linux

package shmipc

import (
	"math"
	"syscall"
	"time"
	"unsafe"
)

// The futex contract (docs/PROTOCOL.md, "Sleep and wake-up"): a waiter
// announces itself by setting its waiter bit with a CAS on the word and then
// sleeps with FUTEX_WAIT on the value it stored; the side that makes the
// awaited transition clears the bit in the same CAS and calls FUTEX_WAKE only
// if the bit was set. The words live in a MAP_SHARED file mapping used by two
// processes, so the operations are the shared flavour: FUTEX_PRIVATE_FLAG
// would key the wait on this process's address space and never see the
// other side's wake-up. The calls go through syscall.Syscall6, not
// RawSyscall, so the Go scheduler hands the P to other goroutines while a
// worker sleeps.

const (
	futexWaitOp = 0 // FUTEX_WAIT, shared
	futexWakeOp = 1 // FUTEX_WAKE, shared
)

// futexWait sleeps while *addr == val, for at most d. It returns early on a
// wake-up, a signal, or when *addr != val on entry (EAGAIN); the caller
// re-reads the word in every case, so the result carries no information.
func futexWait(addr *uint32, val uint32, d time.Duration) {
	if d <= 0 {
		return
	}
	ts := syscall.NsecToTimespec(int64(d))
	syscall.Syscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWaitOp,
		uintptr(val), uintptr(unsafe.Pointer(&ts)), 0, 0)
}

// futexWake wakes every thread, in any process, sleeping on addr.
func futexWake(addr *uint32) {
	syscall.Syscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWakeOp,
		math.MaxInt32, 0, 0, 0)
}

// osYield gives the CPU to another thread (sched_yield). Spinning waiters
// call it now and then: runtime.Gosched yields only to goroutines, and on a
// machine with fewer CPUs than busy threads a waiter that never yields the
// thread keeps the peer it waits for off the CPU until the kernel preempts
// it.
//
// It is a raw system call, as the runtime's own osyield: sched_yield never
// blocks, and syscall.Syscall would mark the P as in a system call for its
// length. A yield that gives the CPU away lasts a time slice of another
// thread, longer than sysmon's 20 us, and when every P is busy sysmon then
// takes the P and starts an extra spinning thread on it; the goroutine that
// yielded comes back to find its P gone and waits for one. On two CPUs with
// two busy host threads that is the 90 us of the T=2 p99.9 it once had
// (docs/BENCHMARKS.md, "Where the tail comes from").
func osYield() {
	syscall.RawSyscall(syscall.SYS_SCHED_YIELD, 0, 0, 0)
}

// wordWait sleeps on a word of the segment on which this side announced
// itself with bit; Linux has one futex per word, whatever the direction.
func (g *Guest) wordWait(addr *uint32, val, bit uint32, d time.Duration) {
	futexWait(addr, val, d)
}

// wordWake wakes the sleepers of a segment word that announced one of bits.
func (g *Guest) wordWake(addr *uint32, bits uint32) { futexWake(addr) }
