// Package shmipc is the pure-Go guest of libshmipc, a shared-memory
// request/response channel between two processes on one machine.
//
// A host (the C library, libshmipc) creates a named segment holding a pool of
// slots. The guest attaches to it with Connect, answers the host's requests
// with Serve, and calls the host back with Call. The wire protocol is
// docs/PROTOCOL.md in the libshmipc repository. Linux and Windows (named
// file mappings, mutexes and events, through the standard syscall package,
// still without cgo); on other systems Connect returns ErrSystem.
//
// # Timeouts
//
// Every wait takes a time.Duration: 0 means the configured default
// (Options.ConnectTimeout, Options.CallTimeout), Infinite means no limit
// (the host's death or Close still end the wait), and other negative values
// are ErrInvalid. This differs from the C library, where a timeout of 0
// means "do not wait" and the default is SHMIPC_TIMEOUT_DEFAULT, which is
// -1: the value of Infinite here. A port from C writes
// SHMIPC_TIMEOUT_DEFAULT as 0, SHMIPC_TIMEOUT_INFINITE as Infinite, and C's
// 0 as the shortest wait it accepts (the Go guest has no "do not wait").
//
// # Errors
//
// Errors wrap the sentinels (ErrTimeout, ErrPeerGone, ...), each carrying
// the C library's code and its shmipc_strerror() text; test them with
// errors.Is.
//
// # Streams
//
// Payloads larger than a slot travel as streams, in both directions, with
// one wire format (docs/PROTOCOL.md, "Streams"): a Reassembler, served as
// the Handler, receives the host's streams; a StreamSender
// (Guest.NewStreamSender) sends streams to the host's receiver on the guest
// slots, several chunks in flight, one timeout for the whole send, a
// refusal reported as a *StreamError with its chunk and reason.
package shmipc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// The attach and detach below are portable. They depend on OS-specific
// implementations (file_linux.go and lock_linux.go, file_windows.go;
// file_other.go refuses) of
//
//	supported, segmentPrefix, globalPrefix, segFile, fileInfo
//	openSegment(path string) (segFile, error)
//	statSegment(f segFile) (fileInfo, error)
//	readHeader(f segFile, buf []byte) error
//	sizeMatches(size int64, segmentSize uint64) bool
//	mapSegment(f segFile, size int) ([]byte, error)
//	unmapSegment(b []byte) error
//	closeFile(f segFile) error
//	lockRole(f segFile, r role) error
//	unlockRole(f segFile, r role) error
//	roleLocked(f segFile, r role) (bool, error)
//	lockBusy(err error) bool
//	inheritedSegment() (segFile, string, error)
//
// and, for the wake-up of a host waiting for its guest (futex_linux.go,
// futex_windows.go, futex_other.go), of (*Guest).wordWake.

// role names a side's liveness lock (docs/PROTOCOL.md, "Liveness locks"),
// which the kernel drops when its holder dies: a byte of the file on
// Linux, a named mutex on Windows.
type role int

const (
	roleHost  role = 0
	roleGuest role = 1
)

// Infinite is the timeout that never runs out. A wait with it still ends
// when the host closes or dies, or when the Guest is closed. It is distinct
// from 0, which means "the configured default".
const Infinite time.Duration = -1

// Options configures Connect. The zero value of every field means its
// default; a nil *Options means all defaults.
type Options struct {
	// ConnectTimeout is how long Connect retries while the segment does not
	// exist yet or is still being set up (default 5s; Infinite allowed).
	ConnectTimeout time.Duration
	// RetryInterval is the first pause between Connect's attempts; it
	// doubles up to 50ms (default 2ms).
	RetryInterval time.Duration
	// CallTimeout is the timeout Call uses when given 0 (default 10s;
	// Infinite allowed).
	CallTimeout time.Duration
	// SpinBudget is how many pause iterations a waiter spins before it
	// yields and then sleeps (default 4096; negative means no spinning).
	SpinBudget int
	// LivenessInterval is the longest a waiter sleeps in the kernel before
	// it checks that the host still lives (default 50ms).
	LivenessInterval time.Duration
	// AllowOtherUser accepts a segment owned by another user than the
	// process's effective user.
	AllowOtherUser bool
	// Global (Windows only) attaches to a host created with
	// SHMIPC_HOST_F_GLOBAL: the segment is Global\shmipc-<name>, and every
	// object of the session is in the global namespace, which a service
	// and a desktop program share (docs/DEPLOYING.md, "Windows"). A guest
	// running as another user than the host's also needs AllowOtherUser.
	// Connect refuses it with ErrInvalid on other systems, as the C
	// guest's SHMIPC_GUEST_F_GLOBAL.
	Global bool
}

// Defaults of Options.
const (
	defaultConnectTimeout   = 5 * time.Second
	defaultRetryInterval    = 2 * time.Millisecond
	maxRetryInterval        = 50 * time.Millisecond
	defaultCallTimeout      = 10 * time.Second
	defaultSpinBudget       = 4096
	defaultLivenessInterval = 50 * time.Millisecond
)

// resolve returns a copy of o with defaults filled in, or ErrInvalid.
func (o *Options) resolve() (Options, error) {
	var r Options
	if o != nil {
		r = *o
	}
	check := func(name string, d *time.Duration, def time.Duration, infOK bool) error {
		switch {
		case *d == 0:
			*d = def
		case *d == Infinite && infOK:
		case *d < 0:
			return fmt.Errorf("%w: Options.%s is negative", ErrInvalid, name)
		}
		return nil
	}
	for _, c := range []struct {
		name  string
		d     *time.Duration
		def   time.Duration
		infOK bool
	}{
		{"ConnectTimeout", &r.ConnectTimeout, defaultConnectTimeout, true},
		{"RetryInterval", &r.RetryInterval, defaultRetryInterval, false},
		{"CallTimeout", &r.CallTimeout, defaultCallTimeout, true},
		{"LivenessInterval", &r.LivenessInterval, defaultLivenessInterval, false},
	} {
		if err := check(c.name, c.d, c.def, c.infOK); err != nil {
			return r, err
		}
	}
	switch {
	case r.SpinBudget == 0:
		r.SpinBudget = defaultSpinBudget
	case r.SpinBudget < 0:
		r.SpinBudget = 0
	}
	return r, nil
}

// geometry is the guest's private, validated copy of the segment's shape.
// Capacities are always taken from here, never re-read from the segment.
type geometry struct {
	hostSlots, guestSlots     uint32
	reqCapacity, respCapacity uint32
	slotStride                uint32
	segmentSize, sessionNonce uint64
}

// Reasons for Connect to try again.
var (
	errNoSegment  = errors.New("no segment")
	errNotReady   = errors.New("segment not ready (host_state INIT)")
	errHostAbsent = errors.New("segment's host is not running")
)

// retryable reports whether err means "not yet", so Connect tries again.
func retryable(err error) bool {
	return err == errNoSegment || err == errNotReady || err == errHostAbsent
}

// parseHeader validates a segment header in the order of docs/PROTOCOL.md,
// "Validation", and returns its geometry.
func parseHeader(b []byte) (geometry, error) {
	le := binary.LittleEndian
	var geo geometry
	if len(b) < headerSize {
		return geo, fmt.Errorf("%w: header of %d bytes", ErrCorrupt, len(b))
	}
	magic, state := le.Uint64(b[0:]), le.Uint32(b[64:])
	if magic == 0 && state == hostInit {
		// The host has sized the file but not written the header yet.
		return geo, errNotReady
	}
	if magic != protoMagic {
		return geo, fmt.Errorf("%w: bad magic %#x", ErrCorrupt, magic)
	}
	if v := le.Uint32(b[8:]); v != protoVersion {
		return geo, fmt.Errorf("%w: segment has protocol version %d, this guest speaks %d",
			ErrVersion, v, protoVersion)
	}
	switch state {
	case hostReady:
	case hostInit:
		return geo, errNotReady
	case hostClosed:
		return geo, fmt.Errorf("%w: host closed the session", ErrPeerGone)
	default:
		return geo, fmt.Errorf("%w: host_state %d", ErrCorrupt, state)
	}
	for _, f := range []struct {
		name string
		off  int
		want uint32
	}{
		{"header_size", 12, headerSize},
		{"slot_header_size", 32, slotHeaderSize},
		{"slots_offset", 40, slotsOffset},
		{"flags", 44, 0}, // reserved; a host that sets them speaks something else
	} {
		if v := le.Uint32(b[f.off:]); v != f.want {
			return geo, fmt.Errorf("%w: %s is %d, not %d", ErrCorrupt, f.name, v, f.want)
		}
	}
	geo = geometry{
		hostSlots:    le.Uint32(b[16:]),
		guestSlots:   le.Uint32(b[20:]),
		reqCapacity:  le.Uint32(b[24:]),
		respCapacity: le.Uint32(b[28:]),
		slotStride:   le.Uint32(b[36:]),
		segmentSize:  le.Uint64(b[48:]),
		sessionNonce: le.Uint64(b[56:]),
	}
	for _, f := range []struct {
		name     string
		v        uint32
		min, max uint32
	}{
		{"host_slots", geo.hostSlots, 1, maxSlots},
		{"guest_slots", geo.guestSlots, 0, maxSlots},
		{"req_capacity", geo.reqCapacity, 1, maxCapacity},
		{"resp_capacity", geo.respCapacity, 1, maxCapacity},
	} {
		if f.v < f.min || f.v > f.max {
			return geo, fmt.Errorf("%w: %s %d outside %d..%d", ErrCorrupt, f.name, f.v, f.min, f.max)
		}
	}
	// The ranges above bound both results far below 2^64: stride <= 2^31+64,
	// (H+G)*stride < 2^43.
	stride := slotHeaderSize + round64(uint64(geo.reqCapacity)) + round64(uint64(geo.respCapacity))
	if uint64(geo.slotStride) != stride {
		return geo, fmt.Errorf("%w: slot_stride %d, expected %d", ErrCorrupt, geo.slotStride, stride)
	}
	size := segmentBytes(geo.hostSlots+geo.guestSlots, stride)
	if geo.segmentSize != size {
		return geo, fmt.Errorf("%w: segment_size %d, expected %d", ErrCorrupt, geo.segmentSize, size)
	}
	return geo, nil
}

// Guest is an attached guest. Serve and Call may run concurrently; Call is
// safe for use by many goroutines. Close detaches.
type Guest struct {
	opts  Options
	geo   geometry
	fd    segFile
	data  []byte
	hdr   *segHeader
	slots []slotView // host slots first, then guest slots
	epoch time.Time  // monotonic origin of deadlines

	users     atomic.Int64 // Serve and Call in progress (they use the mapping)
	closing   atomic.Bool
	closeCh   chan struct{} // closed when Close begins
	closed    chan struct{} // closed when the detach is done; closeErr set
	closeOnce sync.Once
	closeErr  error
	serving   atomic.Bool

	lastCheck atomic.Int64 // g.now() when the last host lock check that saw it alive began
	hostDead  atomic.Bool

	seq        atomic.Uint64   // req_seq of guest calls
	scanStart  atomic.Uint32   // claim's scans of the guest slots start here, one further each time
	quarantine []atomic.Uint32 // per guest slot: 1 while its timed-out call is owed a response
	streamIDs  atomic.Uint64   // stream identifiers handed out (StreamSender)

	// Counters in the segment (stats.go): this guest's block, every
	// slot's lines, and the offset of the requester's clock (req_time)
	// from g.now().
	ctrSide  *sideCounters
	ctrSlots []slotCounters
	monoBase int64
}

// Connect attaches to the segment of the host named name, retrying for
// Options.ConnectTimeout while the segment is missing or still being set up.
//
// It returns ErrName (bad name), ErrNotFound (no segment of that name when
// the timeout ran out), ErrTimeout (a segment that did not get ready in
// time),
// ErrAccess (not a regular file, owned by another user, or permission
// denied), ErrVersion, ErrCorrupt (the header or the file's size is not
// valid), ErrPeerGone (the host closed the session, or its host is not
// running when the timeout ends), ErrBusy (another guest is attached),
// ErrNoMem, ErrInvalid (bad Options) or ErrSystem, each wrapped with
// context.
func Connect(name string, opts *Options) (*Guest, error) {
	if !validName(name) {
		return nil, fmt.Errorf("%w: %q (want 1-%d of [A-Za-z0-9._-], no leading '.')",
			ErrName, name, maxNameLen)
	}
	o, err := opts.resolve()
	if err != nil {
		return nil, err
	}
	if !supported || !nativeLittleEndian {
		return nil, fmt.Errorf("%w: unsupported OS or CPU (%s/%s)", ErrSystem, runtime.GOOS, runtime.GOARCH)
	}
	path := segmentPrefix + name
	if o.Global {
		if globalPrefix == "" {
			return nil, fmt.Errorf("%w: Options.Global is Windows-only (the Global\\ namespace)", ErrInvalid)
		}
		path = globalPrefix + name
	}
	start := time.Now()
	pause := o.RetryInterval
	for {
		g, err := attach(path, &o)
		if !retryable(err) {
			return g, err
		}
		left := o.ConnectTimeout - time.Since(start)
		if o.ConnectTimeout != Infinite && left <= 0 {
			switch err {
			case errHostAbsent:
				return nil, fmt.Errorf("%w: %s: %v", ErrPeerGone, path, err)
			case errNoSegment:
				return nil, fmt.Errorf("%w: %v %s after %v", ErrNotFound, err, path, o.ConnectTimeout)
			}
			return nil, fmt.Errorf("%w: %v %s after %v", ErrTimeout, err, path, o.ConnectTimeout)
		}
		if o.ConnectTimeout != Infinite && pause > left {
			pause = left
		}
		time.Sleep(pause)
		pause = minDuration(2*pause, maxDuration(o.RetryInterval, maxRetryInterval))
	}
}

// ConnectInherited attaches to the segment that the host handed down when
// it launched this program (shmipc_host_launch() in the C library;
// docs/PROTOCOL.md, "Launched guests"): on Linux a sealed memfd whose
// descriptor the environment variable SHMIPC_FD names, on Windows an
// unnamed mapping and its mutexes, whose inherited handles it names. The segment has no
// name; once attached, the descriptor is not passed on to programs this
// one starts. Options.ConnectTimeout and RetryInterval play no part: the
// segment is ready before the program starts, and no other host can
// replace it.
//
// A program not started by a launching host gets ErrNotFound ("SHMIPC_FD
// is not set"), as does one whose SHMIPC_FD names no open memfd. It
// returns ErrAccess for a memfd not sealed against shrinking and growing,
// ErrPeerGone when the host is not running any more, ErrSystem on a
// system without inherited segments, and otherwise what Connect returns
// for a segment it found.
func ConnectInherited(opts *Options) (*Guest, error) {
	o, err := opts.resolve()
	if err != nil {
		return nil, err
	}
	if !supported || !nativeLittleEndian {
		return nil, fmt.Errorf("%w: unsupported OS or CPU (%s/%s)", ErrSystem, runtime.GOOS, runtime.GOARCH)
	}
	if o.Global {
		return nil, fmt.Errorf("%w: Options.Global with ConnectInherited (an inherited segment has no name)", ErrInvalid)
	}
	f, what, err := inheritedSegment()
	if err != nil {
		return nil, err
	}
	g, err := attachFile(f, what, &o)
	switch err {
	case errHostAbsent:
		return nil, fmt.Errorf("%w: %s: %v", ErrPeerGone, what, err)
	case errNotReady:
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, what, err)
	}
	return g, err
}

// attach makes one attempt to open, validate, map and attach path.
func attach(path string, o *Options) (g *Guest, err error) {
	fd, err := openSegment(path)
	if err != nil {
		return nil, err
	}
	return attachFile(fd, path, o)
}

// attachFile validates, maps and attaches the open segment fd, which path
// names in errors, or closes it.
func attachFile(fd segFile, path string, o *Options) (g *Guest, err error) {
	var data []byte
	locked := false
	defer func() {
		if err == nil {
			return
		}
		if locked {
			unlockRole(fd, roleGuest)
		}
		if data != nil {
			unmapSegment(data)
		}
		closeFile(fd)
	}()

	fi, err := statSegment(fd)
	if err != nil {
		return nil, err
	}
	if !fi.regular {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrAccess, path)
	}
	if !fi.mine && !o.AllowOtherUser {
		return nil, fmt.Errorf("%w: %s is owned by %s, not by this user", ErrAccess, path, fi.owner)
	}
	if fi.size < headerSize {
		return nil, errNotReady // created but not sized yet
	}
	var hb [headerSize]byte
	if err := readHeader(fd, hb[:]); err != nil {
		return nil, err
	}
	geo, err := parseHeader(hb[:])
	if err != nil {
		return nil, err
	}
	if !sizeMatches(fi.size, geo.segmentSize) {
		return nil, fmt.Errorf("%w: file is %d bytes, segment_size is %d", ErrCorrupt, fi.size, geo.segmentSize)
	}
	if geo.segmentSize > uint64(maxInt) {
		return nil, fmt.Errorf("%w: segment of %d bytes does not fit the address space", ErrNoMem, geo.segmentSize)
	}
	if alive, err := roleLocked(fd, roleHost); err != nil {
		return nil, fmt.Errorf("%w: checking the host lock: %v", ErrSystem, err)
	} else if !alive {
		return nil, errHostAbsent
	}

	data, err = mapSegment(fd, int(geo.segmentSize))
	if err != nil {
		return nil, err
	}
	hdr, slots, err := viewSegment(data, &geo)
	if err != nil {
		return nil, err
	}
	// acquire: pairs with the host's release store of host_state = READY,
	// after which cache line 0 never changes. It must still be exactly what
	// was validated through pread.
	if st := atomic.LoadUint32(&hdr.hostState); st != hostReady {
		return nil, fmt.Errorf("%w: host_state changed to %d during attach", ErrPeerGone, st)
	}
	if !bytes.Equal(data[:headerLine0Size], hb[:headerLine0Size]) {
		return nil, fmt.Errorf("%w: header changed during attach", ErrCorrupt)
	}

	if err := lockRole(fd, roleGuest); err != nil {
		if lockBusy(err) {
			return nil, fmt.Errorf("%w: another guest is attached to %s", ErrBusy, path)
		}
		return nil, fmt.Errorf("%w: lock guest byte: %v", ErrSystem, err)
	}
	locked = true
	atomic.StoreUint32(&hdr.guestPid, uint32(os.Getpid()))
	g = &Guest{
		opts:       *o,
		geo:        geo,
		fd:         fd,
		data:       data,
		hdr:        hdr,
		slots:      slots,
		epoch:      time.Now(),
		closeCh:    make(chan struct{}),
		closed:     make(chan struct{}),
		quarantine: make([]atomic.Uint32, geo.guestSlots),
	}
	_, g.ctrSide, g.ctrSlots = viewCounters(data, &geo)
	// NONE or DETACHED, or ATTACHED by a guest that died: we hold byte 1, so
	// no live guest is attached. A new epoch tells the host that slots the
	// previous guest held can no longer be answered.
	if err := g.setAttach(attachAttached); err != nil {
		return nil, err
	}
	g.startCounters()
	g.inheritHostSlots()
	g.repairGuestSlots()
	return g, nil
}

// orphanReason answers the requests inheritHostSlots finds.
const orphanReason = "shmipc: the guest that took this request is gone"

// inheritHostSlots answers, with MsgSystemError, every host slot left in
// PROCESSING by the guest before this one (docs/PROTOCOL.md, "Repair"):
// that guest is gone (we hold the guest lock, and a guest that detached
// had answered all it took), so the responder side is ours, and nothing of
// ours serves yet. A host thread still waiting there ends, and the slot is
// claimable again.
func (g *Guest) inheritHostSlots() {
	for _, s := range g.slots[:g.geo.hostSlots] {
		ctrl := &s.hdr.ctrl
		v := atomic.LoadUint32(ctrl)
		if !ctrlLegal(v) || ctrlState(v) != stateProcessing {
			continue
		}
		hd := s.hdr
		n := copy(s.resp, orphanReason)
		hd.respType = uint32(MsgSystemError)
		hd.respSize = uint32(n)
		hd.respFlags = 0
		hd.respSeq = atomic.LoadUint64(&hd.reqSeq)
		g.countServed(s.hdr, MsgSystemError)
		for {
			// release (full barrier): publishes the answer, as in serveOne.
			if atomic.CompareAndSwapUint32(ctrl, v, v&^(ctrlStateMask|ctrlRW)|stateRespReady) {
				if v&ctrlRW != 0 {
					g.wordWake(ctrl, ctrlRW)
				}
				break
			}
			old := atomic.LoadUint32(ctrl)
			if old&^(ctrlRW|ctrlSW) != v&^(ctrlRW|ctrlSW) {
				break // the host repaired it meanwhile
			}
			v = old
		}
	}
}

// repairGuestSlots brings the guest slots back to a known state at attach
// (docs/PROTOCOL.md, "Repair"). This guest is now their only requester, so
// whatever an earlier guest (or a peer) left in a state the requester owns
// (CLAIMED, RESP_READY, an illegal word) goes to FREE with a new
// generation. REQ_READY is cancelled the same way unless the host takes it
// first; a request the host holds (PROCESSING) is quarantined until its
// answer comes, as a call that timed out.
func (g *Guest) repairGuestSlots() {
	for i, s := range g.slots[g.geo.hostSlots:] {
		ctrl := &s.hdr.ctrl
		for {
			v := atomic.LoadUint32(ctrl)
			st := ctrlState(v)
			if ctrlLegal(v) && st == stateFree {
				break
			}
			if ctrlLegal(v) && st == stateProcessing {
				g.quarantine[i].Store(1)
				break
			}
			nv := (ctrlGen(v)+1)&ctrlGenMask<<ctrlGenShift | v&ctrlSW | stateFree
			// Full barrier; pairs with the next claimer's CAS (and makes a
			// take by the host prepared against the old word fail).
			if atomic.CompareAndSwapUint32(ctrl, v, nv) {
				break
			}
		}
	}
}

const maxInt = int(^uint(0) >> 1)

// ReqCapacity returns the request capacity of every slot, in bytes.
func (g *Guest) ReqCapacity() int { return int(g.geo.reqCapacity) }

// RespCapacity returns the response capacity of every slot, in bytes.
func (g *Guest) RespCapacity() int { return int(g.geo.respCapacity) }

// enter registers a user of the mapping; it fails once Close has begun.
func (g *Guest) enter() bool {
	g.users.Add(1)
	// Sequentially consistent with Close's store of closing and its load of
	// users: either Close sees this user, or this user sees closing.
	if g.closing.Load() {
		g.leave()
		return false
	}
	return true
}

// leave ends what enter began.
func (g *Guest) leave() { g.users.Add(-1) }

// Close stops Serve (which then returns nil), makes Calls in progress return
// ErrClosed, waits until they have returned and running handlers have
// finished, then detaches from the segment and unmaps it. It is idempotent
// and safe for concurrent use.
//
// Called from a Handler (or from what a Handler calls, such as a
// StreamFunc), Close cannot wait: the Handler it would wait for is its own
// caller. It then begins the same shutdown and returns nil at once; the
// detach follows when that Handler has returned and Serve has ended, and
// a Close from outside any Handler still waits for it and returns its
// error. A goroutine that a Handler starts and waits for is not a Handler:
// its Close waits, and so the Handler never returns.
func (g *Guest) Close() error {
	inHandler := calledFromHandler()
	g.closeOnce.Do(func() {
		g.closing.Store(true)
		close(g.closeCh)
		go g.finishClose()
	})
	if inHandler {
		return nil
	}
	<-g.closed
	return g.closeErr
}

// finishClose waits until nothing uses the mapping any more, then
// detaches.
func (g *Guest) finishClose() {
	// Sleepers check closing before they sleep; wake them until all have
	// left.
	g.wakeUntil(g.slots, func() bool { return g.users.Load() == 0 }, nil)
	g.closeErr = g.detach()
	close(g.closed)
}

// invokeName is the name of the function through which every Handler
// runs (serve.go, invoke).
var invokeName = runtime.FuncForPC(reflect.ValueOf(invoke).Pointer()).Name()

// calledFromHandler reports whether the calling goroutine is running a
// Handler: whether invoke is among its callers. It walks the stack, which
// is slow but only Close asks.
func calledFromHandler() bool {
	pcs := make([]uintptr, 64)
	for {
		n := runtime.Callers(2, pcs)
		if n < len(pcs) || len(pcs) >= 1<<20 {
			pcs = pcs[:n]
			break
		}
		pcs = make([]uintptr, 2*len(pcs))
	}
	frames := runtime.CallersFrames(pcs)
	for {
		f, more := frames.Next()
		if f.Function == invokeName {
			return true
		}
		if !more {
			return false
		}
	}
}

// setAttach moves the attach word to state: ATTACHED with the epoch
// incremented, or DETACHED keeping it. It clears HOST_WAITING and wakes the
// host if that was set.
func (g *Guest) setAttach(state uint32) error {
	hdr := g.hdr
	for {
		v := atomic.LoadUint32(&hdr.attach)
		if v&attachReservedMask != 0 || v&attachStateMask > attachDetached {
			return fmt.Errorf("%w: attach word %#x", ErrCorrupt, v)
		}
		epoch := v & attachEpochMask
		if state == attachAttached {
			epoch = (v + 1<<attachEpochShift) & attachEpochMask
		}
		// Full barrier: publishes guest_pid (attach) or that no slot is in
		// PROCESSING any more (detach); pairs with the host's announce CAS
		// on this word and its acquire load in its guest liveness check.
		if atomic.CompareAndSwapUint32(&hdr.attach, v, epoch|state) {
			if v&attachHostWaiting != 0 {
				g.countOtherWake()
				g.wordWake(&hdr.attach, attachHostWaiting)
			}
			return nil
		}
	}
}

// detach marks the guest DETACHED, drops the liveness lock and releases the
// mapping and the file. Nothing uses the mapping any more: every handler has
// returned and its response is published.
func (g *Guest) detach() error {
	var errs []error
	if err := g.setAttach(attachDetached); err != nil {
		errs = append(errs, err)
	}
	// Host threads asleep on a call see DETACHED now rather than at their
	// next liveness check.
	g.wakeSlots(g.slots)
	if err := unlockRole(g.fd, roleGuest); err != nil {
		errs = append(errs, fmt.Errorf("%w: unlock: %v", ErrSystem, err))
	}
	if err := unmapSegment(g.data); err != nil {
		errs = append(errs, fmt.Errorf("%w: munmap: %v", ErrSystem, err))
	}
	if err := closeFile(g.fd); err != nil {
		errs = append(errs, fmt.Errorf("%w: close: %v", ErrSystem, err))
	}
	g.hdr, g.slots, g.data = nil, nil, nil
	return joinErrors(errs...)
}
