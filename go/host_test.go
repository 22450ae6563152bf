//go:build linux

package shmipc

// A minimal host written in Go, for testing the guest end to end inside
// `go test`. It follows docs/PROTOCOL.md on its own (only the typed views of
// mem.go and the futex calls are shared with the guest), and it can write
// the raw values a hostile or broken host would. The real C host is tested
// with this guest by the interop suite.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// hostConfig shapes a test segment.
type hostConfig struct {
	hostSlots, guestSlots     uint32
	reqCapacity, respCapacity uint32
	// header, if set, edits the 256 header bytes before they are published.
	header func(b []byte)
	// state is the host_state to publish (default hostReady).
	state uint32
	// noLock leaves the host's liveness byte unlocked (a dead host).
	noLock bool
}

// testHost is one host session on a fresh segment.
type testHost struct {
	t      testing.TB
	name   string
	path   string
	fd     int // the file the mapping came from
	lockFd int // a separate open file description holding byte 0
	data   []byte
	hdr    *segHeader
	slots  []slotView
	geo    geometry
	seq    atomic.Uint64

	listenStop atomic.Bool
	listenDone chan struct{}
}

var nameCounter atomic.Uint64

// uniqueName returns a segment name no other test (or test process) uses.
func uniqueName() string {
	return fmt.Sprintf("gotest-%d-%d", os.Getpid(), nameCounter.Add(1))
}

// newHost creates a segment with cfg (zero fields get small defaults) and
// removes it when the test ends.
func newHost(t testing.TB, cfg hostConfig) *testHost {
	t.Helper()
	if cfg.hostSlots == 0 {
		cfg.hostSlots = 4
	}
	if cfg.reqCapacity == 0 {
		cfg.reqCapacity = 4096
	}
	if cfg.respCapacity == 0 {
		cfg.respCapacity = 4096
	}
	if cfg.state == 0 {
		cfg.state = hostReady
	}
	h := &testHost{t: t, name: uniqueName(), fd: -1, lockFd: -1}
	h.path = segmentPrefix + h.name
	t.Cleanup(h.destroy)

	fd, err := syscall.Open(h.path, syscall.O_RDWR|syscall.O_CREAT|syscall.O_EXCL|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		t.Fatalf("create %s: %v", h.path, err)
	}
	h.fd = fd
	if !cfg.noLock {
		h.lockFd, err = syscall.Open(h.path, syscall.O_RDWR|syscall.O_CLOEXEC, 0)
		if err != nil {
			t.Fatalf("open %s for the lock: %v", h.path, err)
		}
		if err := lockRole(h.lockFd, roleHost); err != nil {
			t.Fatalf("lock host byte: %v", err)
		}
	}

	stride := slotHeaderSize + round64(uint64(cfg.reqCapacity)) + round64(uint64(cfg.respCapacity))
	size := segmentBytes(cfg.hostSlots+cfg.guestSlots, stride)
	var b [headerSize]byte
	le := binary.LittleEndian
	le.PutUint64(b[0:], protoMagic)
	le.PutUint32(b[8:], protoVersion)
	le.PutUint32(b[12:], headerSize)
	le.PutUint32(b[16:], cfg.hostSlots)
	le.PutUint32(b[20:], cfg.guestSlots)
	le.PutUint32(b[24:], cfg.reqCapacity)
	le.PutUint32(b[28:], cfg.respCapacity)
	le.PutUint32(b[32:], slotHeaderSize)
	le.PutUint32(b[36:], uint32(stride))
	le.PutUint32(b[40:], slotsOffset)
	le.PutUint64(b[48:], size)
	le.PutUint64(b[56:], uint64(time.Now().UnixNano())^uint64(os.Getpid())<<32)
	le.PutUint32(b[68:], uint32(os.Getpid()))
	if cfg.header != nil {
		cfg.header(b[:])
	}
	// The file and the mapping follow the (possibly edited) header, as a
	// host would have made them.
	geo := geometry{
		hostSlots: le.Uint32(b[16:]), guestSlots: le.Uint32(b[20:]),
		reqCapacity: le.Uint32(b[24:]), respCapacity: le.Uint32(b[28:]),
		slotStride: le.Uint32(b[36:]), segmentSize: le.Uint64(b[48:]),
		sessionNonce: le.Uint64(b[56:]),
	}
	fileSize := int64(geo.segmentSize)
	if fileSize < headerSize || fileSize > 1<<30 {
		fileSize = headerSize
	}
	if err := syscall.Ftruncate(fd, fileSize); err != nil {
		t.Fatalf("ftruncate: %v", err)
	}
	h.data, err = syscall.Mmap(fd, 0, int(fileSize), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		t.Fatalf("mmap: %v", err)
	}
	copy(h.data[:headerSize], b[:])
	if _, err := parseHeaderGeometryOnly(b[:]); err == nil && uint64(fileSize) == geo.segmentSize {
		h.geo = geo
		h.hdr, h.slots, err = viewSegment(h.data, &geo)
		if err != nil {
			t.Fatalf("viewSegment: %v", err)
		}
	} else {
		// A broken header: only the header is mapped and used.
		h.hdr, _, _ = viewSegment(h.data, &geometry{segmentSize: headerSize})
	}
	// release: publishes cache line 0; pairs with the guest's acquire load.
	atomic.StoreUint32(&h.hdr.hostState, cfg.state)
	return h
}

// parseHeaderGeometryOnly is parseHeader ignoring host_state, to tell the
// test host whether its own slots are usable.
func parseHeaderGeometryOnly(b []byte) (geometry, error) {
	c := make([]byte, len(b))
	copy(c, b)
	binary.LittleEndian.PutUint32(c[64:], hostReady)
	return parseHeader(c)
}

// destroy removes the segment: stop the listener, unmap, close, unlink.
func (h *testHost) destroy() {
	h.stopListening()
	if h.data != nil {
		syscall.Munmap(h.data)
		h.data = nil
	}
	if h.lockFd >= 0 {
		syscall.Close(h.lockFd)
		h.lockFd = -1
	}
	if h.fd >= 0 {
		syscall.Close(h.fd)
		h.fd = -1
	}
	os.Remove(h.path)
}

// close marks the session CLOSED, as a host's destroy does first.
func (h *testHost) close() { atomic.StoreUint32(&h.hdr.hostState, hostClosed) }

// resize changes the file's size behind the header's back.
func (h *testHost) resize(size int64) {
	if err := syscall.Ftruncate(h.fd, size); err != nil {
		h.t.Fatalf("ftruncate: %v", err)
	}
}

// dropLock releases the host's liveness lock, which is what the kernel
// does when the host process dies.
func (h *testHost) dropLock() {
	syscall.Close(h.lockFd)
	h.lockFd = -1
}

// guestAttached reports the guest state of the attach word and whether the
// guest's liveness byte is locked.
func (h *testHost) guestAttached() (state uint32, locked bool) {
	locked, err := roleLocked(h.fd, roleGuest)
	if err != nil {
		h.t.Fatalf("F_OFD_GETLK: %v", err)
	}
	return atomic.LoadUint32(&h.hdr.attach) & attachStateMask, locked
}

// Errors of the test host's requester.
var (
	errHostTimeout = errors.New("test host: no response in time")
	errHostNotFree = errors.New("test host: slot not FREE")
)

// call is the host as requester on host slot k: it sends req (end-aligned
// if endAligned) with type t and waits up to timeout for the response,
// which it copies into resp; an end-aligned response is an error. It does
// not allocate on success.
func (h *testHost) call(k int, t uint32, req []byte, endAligned bool, resp []byte, timeout time.Duration) (int, uint32, error) {
	n, rt, rflags, err := h.callFlags(k, t, req, endAligned, resp, timeout)
	if err == nil && rflags != 0 {
		return 0, 0, fmt.Errorf("test host: bad response size %d flags %#x", n, rflags)
	}
	return n, rt, err
}

// callFlags is call that also takes an end-aligned response (copied from
// the end of the response buffer) and returns the response's flags.
func (h *testHost) callFlags(k int, t uint32, req []byte, endAligned bool, resp []byte, timeout time.Duration) (int, uint32, uint32, error) {
	s := &h.slots[k]
	ctrl := &s.hdr.ctrl
	// The claim CAS may fail because the guest worker just announced its
	// sleep (SW) on the FREE word: retry while the slot is still FREE.
	for {
		v := atomic.LoadUint32(ctrl)
		if ctrlState(v) != stateFree {
			return 0, 0, 0, errHostNotFree
		}
		gen := (ctrlGen(v) + 1) & ctrlGenMask
		if atomic.CompareAndSwapUint32(ctrl, v, gen<<ctrlGenShift|v&(ctrlRW|ctrlSW)|stateClaimed) {
			break
		}
	}
	var flags uint32
	if endAligned {
		copy(s.req[len(s.req)-len(req):], req)
		flags = flagEndAligned
	} else {
		copy(s.req, req)
	}
	seq := h.seq.Add(1)
	atomic.StoreUint32(&s.hdr.reqType, t)
	atomic.StoreUint32(&s.hdr.reqSize, uint32(len(req)))
	atomic.StoreUint32(&s.hdr.reqFlags, flags)
	atomic.StoreUint64(&s.hdr.reqSeq, seq)
	h.publish(ctrl, stateReqReady, ctrlSW)

	deadline := time.Now().Add(timeout)
	for spin := 0; ; spin++ {
		v := atomic.LoadUint32(ctrl)
		if ctrlState(v) == stateRespReady {
			break
		}
		if spin < 200 {
			runtime.Gosched()
			continue
		}
		left := time.Until(deadline)
		if left <= 0 {
			if ctrlState(v) == stateReqReady && atomic.CompareAndSwapUint32(ctrl, v, v&^ctrlStateMask) {
				return 0, 0, 0, errHostTimeout // cancelled
			}
			return 0, 0, 0, errHostTimeout // the guest holds it: stays quarantined
		}
		if v&ctrlRW == 0 {
			if !atomic.CompareAndSwapUint32(ctrl, v, v|ctrlRW) {
				continue
			}
			v |= ctrlRW
		}
		// No periodic wake-up: if the guest forgot to wake us, the call
		// times out and the test fails.
		futexWait(ctrl, v, left)
	}
	if got := atomic.LoadUint64(&s.hdr.respSeq); got != seq {
		return 0, 0, 0, fmt.Errorf("test host: resp_seq %d, want %d", got, seq)
	}
	n := atomic.LoadUint32(&s.hdr.respSize)
	rflags := atomic.LoadUint32(&s.hdr.respFlags)
	rt := atomic.LoadUint32(&s.hdr.respType)
	if n > uint32(len(s.resp)) || rflags&^flagEndAligned != 0 || int(n) > len(resp) {
		return 0, 0, 0, fmt.Errorf("test host: bad response size %d flags %#x", n, rflags)
	}
	if rflags != 0 {
		copy(resp, s.resp[len(s.resp)-int(n):])
	} else {
		copy(resp, s.resp[:n])
	}
	h.publish(ctrl, stateFree, 0)
	return int(n), rt, rflags, nil
}

// publish moves ctrl to state, clearing waiter bit clear and waking if it
// was set; waiter bits other than clear and the generation stay.
func (h *testHost) publish(ctrl *uint32, state, clear uint32) {
	for {
		v := atomic.LoadUint32(ctrl)
		if atomic.CompareAndSwapUint32(ctrl, v, v&^(ctrlStateMask|clear)|state) {
			if v&clear != 0 {
				futexWake(ctrl)
			}
			return
		}
	}
}

// rawRequest writes a request with arbitrary fields into host slot k and
// publishes it, for feeding the guest hostile values.
func (h *testHost) rawRequest(k int, t, size, flags uint32) {
	s := &h.slots[k]
	for {
		v := atomic.LoadUint32(&s.hdr.ctrl)
		if ctrlState(v) != stateFree {
			h.t.Fatalf("rawRequest: slot %d is %#x, not FREE", k, v)
		}
		gen := (ctrlGen(v) + 1) & ctrlGenMask
		if atomic.CompareAndSwapUint32(&s.hdr.ctrl, v, gen<<ctrlGenShift|v&(ctrlRW|ctrlSW)|stateClaimed) {
			break
		}
	}
	atomic.StoreUint32(&s.hdr.reqType, t)
	atomic.StoreUint32(&s.hdr.reqSize, size)
	atomic.StoreUint32(&s.hdr.reqFlags, flags)
	atomic.StoreUint64(&s.hdr.reqSeq, h.seq.Add(1))
	h.publish(&s.hdr.ctrl, stateReqReady, ctrlSW)
}

// awaitState waits, bounded by d, until host slot k's state is state, and
// returns the word. what says what the test waits for.
func (h *testHost) awaitState(k int, state uint32, d time.Duration, what string) uint32 {
	h.t.Helper()
	deadline := time.Now().Add(d)
	for {
		v := atomic.LoadUint32(&h.slots[k].hdr.ctrl)
		if ctrlState(v) == state {
			return v
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("waited %v for %s: slot %d control word is %#x", d, what, k, v)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// guestHandler answers guest calls in the test host's listener.
type guestHandler func(req, resp []byte, t uint32) (int, uint32)

// listen serves guest calls with fn, one at a time, from a listener
// goroutine until the test ends or stopListening. The listener sleeps on the doorbell without
// a periodic wake-up, so a guest that forgets to ring makes calls time out.
func (h *testHost) listen(fn guestHandler) {
	h.listenDone = make(chan struct{})
	db := &h.hdr.doorbell
	go func() {
		defer close(h.listenDone)
		gs := h.slots[h.geo.hostSlots:]
		for !h.listenStop.Load() {
			d := atomic.LoadUint32(db) // read before the scan
			served := false
			for i := range gs {
				if h.take(&gs[i].hdr.ctrl) {
					served = true
					h.serveGuestCall(&gs[i], fn)
				}
			}
			if served {
				continue
			}
			if d&doorbellListenerWaiting == 0 {
				if !atomic.CompareAndSwapUint32(db, d, d|doorbellListenerWaiting) {
					continue
				}
				d |= doorbellListenerWaiting
			}
			futexWait(db, d, 10*time.Second)
		}
	}()
}

// take moves a guest slot from REQ_READY to PROCESSING. A failed CAS is
// retried while the slot is still REQ_READY: the guest may have just set its
// waiter bit (RW), and giving up then would lose the call, because the
// doorbell does not ring again for it.
func (h *testHost) take(ctrl *uint32) bool {
	for {
		v := atomic.LoadUint32(ctrl)
		if ctrlState(v) != stateReqReady {
			return false
		}
		if atomic.CompareAndSwapUint32(ctrl, v, v&^ctrlStateMask|stateProcessing) {
			return true
		}
	}
}

// serveGuestCall answers one guest call held in PROCESSING.
func (h *testHost) serveGuestCall(s *slotView, fn guestHandler) {
	size := atomic.LoadUint32(&s.hdr.reqSize)
	if size > uint32(len(s.req)) || atomic.LoadUint32(&s.hdr.reqFlags) != 0 {
		h.t.Errorf("test host: bad guest call size %d", size)
		size = 0
	}
	n, rt := fn(s.req[:size], s.resp, atomic.LoadUint32(&s.hdr.reqType))
	atomic.StoreUint32(&s.hdr.respType, rt)
	atomic.StoreUint32(&s.hdr.respSize, uint32(n))
	atomic.StoreUint32(&s.hdr.respFlags, 0)
	atomic.StoreUint64(&s.hdr.respSeq, atomic.LoadUint64(&s.hdr.reqSeq))
	h.publish(&s.hdr.ctrl, stateRespReady, ctrlRW)
}

// stopListening stops the listener and waits for it (bounded).
func (h *testHost) stopListening() {
	if h.listenDone == nil {
		return
	}
	h.listenStop.Store(true)
	deadline := time.Now().Add(10 * time.Second)
	for {
		futexWake(&h.hdr.doorbell)
		select {
		case <-h.listenDone:
			h.listenDone = nil
			return
		case <-time.After(time.Millisecond):
		}
		if time.Now().After(deadline) {
			h.t.Errorf("test host listener did not stop within 10s")
			return
		}
	}
}
