package shmipc

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Handler answers one request of type t. req holds the request bytes and
// resp is the slot's whole response buffer (len(resp) == RespCapacity());
// both live in shared memory and are valid only until the handler returns.
// The handler writes its response into resp and returns its length n and
// type rt (usually t, or an application type). Its n bytes are resp[:n],
// or resp[len(resp)-n:] when it ORs RespEndAligned into rt (a FlatBuffer
// built back to front in resp is answered in place). If it returns n < 0 or
// n > len(resp), or panics, the host receives MsgSystemError with a short
// reason instead. Handlers run concurrently, and a request never waits for
// another request's handler: up to one goroutine per host slot runs them.
// A long handler can read its caller's deadline with (*Guest).Deadline(req)
// and stop early once (*Guest).Cancelled(req) says the caller gave up.
type Handler func(req, resp []byte, t MsgType) (n int, rt MsgType)

// serveState is shared by one Serve call and its workers.
type serveState struct {
	stop    atomic.Bool   // set when the first cause ends the Serve
	stopped chan struct{} // closed at the same time
	mu      sync.Mutex
	cause   error
}

// finish records err as the reason to stop, unless one is already known,
// and tells every worker to stop.
func (st *serveState) finish(err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.cause == nil {
		st.cause = err
		st.stop.Store(true)
		close(st.stopped)
	}
}

// Serve answers the host's requests with h, one worker goroutine per host
// slot (and, with more slots than GOMAXPROCS, a few goroutines that poll
// every slot while requests flow), until something ends the session. It
// returns nil after Close and when the host closes the session in order
// (shmipc_host_destroy), ctx.Err() when ctx is cancelled, ErrHostGone
// (wrapped) when the host dies or is replaced, ErrCorrupt (wrapped) when the
// segment holds an illegal value, ErrClosed if the Guest was already
// closed, and ErrBusy if another Serve is running. A request in progress is
// always answered before Serve returns. Serve may be called again after it
// returned because of ctx.
func (g *Guest) Serve(ctx context.Context, h Handler) error {
	return g.serve(ctx, h, nil)
}

// serve is Serve; tick, if not nil, runs on Serve's goroutine once per
// liveness interval (the sweep of parked large answers).
func (g *Guest) serve(ctx context.Context, h Handler, tick func()) error {
	if h == nil {
		return fmt.Errorf("%w: nil Handler", ErrInvalid)
	}
	if !g.enter() {
		return errClosedLocally
	}
	defer g.leave()
	if !g.serving.CompareAndSwap(false, true) {
		return fmt.Errorf("%w: Serve is already running", ErrBusy)
	}
	defer g.serving.Store(false)

	st := &serveState{stopped: make(chan struct{})}
	host := g.slots[:g.geo.hostSlots]
	// Serve itself watches the host, once per LivenessInterval; workers
	// sleep longer and are woken by the stop below when it is gone. An idle
	// guest so wakes once per interval, not once per slot.
	// With more slots than Ps, pollers answer while requests flow (see
	// poll.go); they spin, so not when spinning is off.
	var wg sync.WaitGroup
	var pg *pollGroup
	if len(host) > runtime.GOMAXPROCS(0) && g.opts.SpinBudget > 0 {
		pg = newPollGroup(g, h, st, &wg, host)
		pg.start()
	}
	for i := range host {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if err := g.work(&host[i], h, &st.stop, pg); err != nil {
				st.finish(fmt.Errorf("host slot %d: %w", i, err))
			}
		}(i)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	// A timer set to when the check is due, not a ticker: a tick that came
	// a little less than an interval after the last check (made by this
	// loop or by a Call) would skip it, and the host would be seen dead up
	// to two intervals late.
	watch := time.NewTimer(g.untilCheck())
	defer watch.Stop()
wait:
	for {
		select {
		case <-done:
			break wait
		case <-st.stopped: // a worker failed
			break wait
		case <-ctx.Done():
			st.finish(ctx.Err())
			break wait
		case <-g.closeCh:
			st.finish(errClosedLocally)
			break wait
		case <-watch.C:
			if err := g.hostGone(); err != nil {
				st.finish(err)
				break wait
			}
			if tick != nil {
				tick()
			}
			watch.Reset(g.untilCheck())
		}
	}
	// Workers check the stop flag before every sleep; wake the sleepers so
	// that they do it now rather than after LivenessInterval.
	g.wakeUntil(host, func() bool { return isClosed(done) }, done)
	return st.result()
}

// result turns the recorded cause into Serve's return value.
func (st *serveState) result() error {
	st.mu.Lock()
	defer st.mu.Unlock()
	// Close, and the host's orderly close of the session, end Serve
	// without an error; a host that died or was replaced is ErrHostGone.
	if st.cause == nil || errors.Is(st.cause, ErrClosed) || errors.Is(st.cause, errHostClosed) {
		return nil
	}
	return st.cause
}

// work is one worker: it answers the requests of one host slot until it
// fails or is told to stop. With pollers (pg != nil) it stands aside while
// they run, and starts them after each request it answered itself.
func (g *Guest) work(s *slotView, h Handler, stop *atomic.Bool, pg *pollGroup) error {
	ctrl := &s.hdr.ctrl
	// Whether this worker's last yield gave the CPU away (spinner.crowded).
	crowded := false
	// The phases of every wait but one right after the pollers stopped.
	var spin spinner
	var pollers *atomic.Bool
	if pg != nil {
		spin = g.spinner(0)
		spin.shareP = true // more workers than Ps
		pollers = &pg.active
	} else {
		// The early take (takeNext) spends the first half of the budget.
		spin = g.spinner(g.opts.SpinBudget / 2)
	}
	spin.crowded = &crowded
	last := atomic.LoadUint32(ctrl)
	// A word illegal before it was ever seen legal is the host's to repair
	// (docs/PROTOCOL.md, "Repair"): wait for it rather than end Serve.
	// Cleared by the first legal value awaitRequest sees.
	settle := !ctrlLegal(last)
	sleepNow := false
	for {
		// A busy worker never sleeps, so it checks here too.
		if stop.Load() {
			return errStopped
		}
		if g.closing.Load() {
			return errClosedLocally
		}
		if pg != nil && pg.active.Load() {
			if !pg.standAside() {
				return errStopped
			}
			// The pollers stopped because they spun a whole budget without
			// a request: go to sleep at once rather than spin again.
			sleepNow = true
			continue
		}
		// The sole spinner of its slot first tries to take the next request
		// outright (see takeNext); pollers scan many slots and do not.
		taken, ok := uint32(0), false
		if pg == nil {
			taken, ok = takeNext(ctrl, last, g.opts.SpinBudget/2, &crowded)
		}
		if !ok {
			sp := spin
			if sleepNow {
				sp, sleepNow = spinner{}, false
			}
			v, err := g.awaitRequest(ctrl, sp, stop, pollers, &settle)
			if err == errStandAside {
				continue
			}
			if err != nil {
				return err
			}
			// Take the request; waiter bits and generation stay. acquire
			// (full barrier): pairs with the requester's publishing CAS,
			// which published the request we read next. The CAS fails if
			// the requester cancelled or announced RW meanwhile; then we
			// look again.
			taken = v&^ctrlStateMask | stateProcessing
			if !atomic.CompareAndSwapUint32(ctrl, v, taken) {
				continue
			}
		}
		last = taken
		if err := g.serveOne(s, h, taken); err != nil {
			return err
		}
		if pg != nil {
			pg.start()
		}
	}
}

// takeNext tries, up to spins times, to take the next request of the slot
// whose word was last seen as last, before seeing it: a CAS from REQ_READY
// of the next generation with no waiter bit, the value the next request
// almost always has. A load that sees REQ_READY fetches the line shared and
// the take CAS then upgrades it, a round trip to the requester's core; this
// CAS fetches it once and takes the request in the same step. A CAS that
// finds another value writes nothing (it is the protocol's take, tried
// early). It gives up on any request that is not as expected, and on an
// illegal word, which the usual wait then handles. It yields as a spinner
// with *crowded does (see spinner.crowded), and updates it.
func takeNext(ctrl *uint32, last uint32, spins int, crowded *bool) (uint32, bool) {
	next := (ctrlGen(last) + 1) & ctrlGenMask << ctrlGenShift
	want, taken := next|stateReqReady, next|stateProcessing
	sp := spinner{crowded: crowded}
	every := yieldEvery
	if *crowded {
		every = yieldCrowded
	}
	for i := 1; i <= spins; i++ {
		// acquire (full barrier): the take, as in work()
		if atomic.CompareAndSwapUint32(ctrl, want, taken) {
			sp.answered()
			return taken, true
		}
		if v := atomic.LoadUint32(ctrl); ctrlState(v) == stateReqReady || !ctrlLegal(v) {
			return 0, false
		}
		if i%every == 0 {
			if every == yieldCrowded { // as in spinner.spin
				i += yieldEvery - yieldCrowded
			}
			sp.yieldThread()
			if every = yieldEvery; *crowded {
				every = yieldCrowded
			}
		} else {
			cpuPause()
		}
	}
	return 0, false
}

// serveOne answers the request of slot s, which this worker holds in
// PROCESSING (control word taken), and publishes the response.
func (g *Guest) serveOne(s *slotView, h Handler, taken uint32) error {
	hd := s.hdr
	t := MsgType(atomic.LoadUint32(&hd.reqType))
	size := atomic.LoadUint32(&hd.reqSize)
	flags := atomic.LoadUint32(&hd.reqFlags)
	seq := atomic.LoadUint64(&hd.reqSeq)

	var n int
	var rt MsgType
	switch {
	case uint64(size) > uint64(len(s.req)):
		n, rt = sizeReason(s.resp, "corrupt request: req_size", uint64(size), uint64(len(s.req))), MsgSystemError
	case flags&^flagEndAligned != 0:
		n, rt = sizeReason(s.resp, "corrupt request: req_flags", uint64(flags), flagEndAligned), MsgSystemError
	case t&RespEndAligned != 0:
		// No message type: it would come back as the handler's usual
		// answer type and be taken for RespEndAligned.
		n, rt = sizeReason(s.resp, "corrupt request: req_type", uint64(t), uint64(RespEndAligned-1)), MsgSystemError
	default:
		req := s.req[:size]
		if flags&flagEndAligned != 0 {
			req = s.req[len(s.req)-int(size):]
		}
		n, rt = invoke(h, req, s.resp, t)
	}

	// Plain stores: the CAS below publishes them. atomic.Store would be a
	// locked exchange on amd64, each one taking the control word's cache
	// line away from the requester that is polling it.
	// RespEndAligned becomes the wire flag, without a branch.
	rt, hd.respFlags = rt&^RespEndAligned, uint32(rt>>31) // flagEndAligned
	hd.respType = uint32(rt)
	hd.respSize = uint32(n)
	hd.respSeq = seq
	g.countServed(hd, rt)
	ctrl := &hd.ctrl
	// The word as we took it is the first guess: a load before the CAS
	// would fetch the line shared and then upgrade it, two transfers while
	// the requester polls it. A failed CAS is followed by a look.
	for v := taken; ; v = atomic.LoadUint32(ctrl) {
		if !ctrlLegal(v) || ctrlState(v) != stateProcessing || ctrlGen(v) != ctrlGen(taken) {
			return fmt.Errorf("%w: control word changed from %#x to %#x while the guest owned the slot",
				ErrCorrupt, taken, v)
		}
		// release (full barrier): publishes the response; pairs with the
		// requester's acquire load that observes RESP_READY. Clears RW and
		// wakes if the requester announced it sleeps.
		if atomic.CompareAndSwapUint32(ctrl, v, v&^(ctrlStateMask|ctrlRW)|stateRespReady) {
			if v&ctrlRW != 0 {
				atomic.AddUint64(&g.ctrSlots[g.slotIndex(ctrl)].respWakes, 1)
				g.wordWake(ctrl, ctrlRW)
			}
			return nil
		}
	}
}

// invoke calls h and turns a panic or an impossible length into a
// MsgSystemError answer written into resp. A panic is told by h not having
// returned rather than by recover() != nil: under go1.19 semantics
// (Go 1.19 itself, or GODEBUG panicnil=1, the default for a main module
// older than go1.21) recover returns nil for panic(nil).
func invoke(h Handler, req, resp []byte, t MsgType) (n int, rt MsgType) {
	returned := false
	defer func() {
		if returned {
			return
		}
		msg := "handler panic: " + fmt.Sprint(recover())
		if len(msg) > maxReason {
			msg = msg[:maxReason]
		}
		n, rt = copy(resp, msg), MsgSystemError
	}()
	n, rt = h(req, resp, t)
	returned = true
	if n < 0 || n > len(resp) {
		if n < 0 {
			n, rt = copy(resp, "handler returned a negative length"), MsgSystemError
		} else {
			n, rt = sizeReason(resp, "handler response length", uint64(n), uint64(len(resp))), MsgSystemError
		}
	}
	return n, rt
}

// maxReason bounds the SYSTEM_ERROR reasons this side writes.
const maxReason = 256

// sizeReason writes "what got, limit limit" into resp without allocating
// and returns its length.
func sizeReason(resp []byte, what string, got, limit uint64) int {
	var b [128]byte
	m := append(b[:0], what...)
	m = append(m, ' ')
	m = strconv.AppendUint(m, got, 10)
	m = append(m, ", limit "...)
	m = strconv.AppendUint(m, limit, 10)
	return copy(resp, m)
}
