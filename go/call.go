package shmipc

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"
)

// Call sends req with type t to the host on a guest slot and waits for the
// response, which it copies into resp. It returns the response's length
// and type.
//
// timeout bounds the whole call, including the wait for a free slot: 0
// means Options.CallTimeout, Infinite means no limit (the host's death or
// Close still end the wait); other negative values are ErrInvalid.
//
// Errors: ErrTooBig (len(req) > ReqCapacity()); ErrTruncated (the response
// is longer than len(resp): nothing is copied and n is the response's
// length); ErrRemote (the host answered MsgSystemError: the reason is in
// the error text, and copied into resp if it fits, n being its length);
// ErrTimeout; ErrPeerGone; ErrCorrupt; ErrClosed; ErrInvalid (the segment
// has no guest slots). A call that times out after the host took the
// request leaves its slot quarantined until the late response arrives.
// Call is safe for concurrent use and may be made from a Handler.
func (g *Guest) Call(t MsgType, req, resp []byte, timeout time.Duration) (n int, rt MsgType, err error) {
	return g.call(nil, t, req, resp, timeout)
}

// CallContext is Call bounded by ctx as well: the call ends when ctx is
// cancelled or its deadline passes, with an error that wraps both
// ctx.Err() and ErrAborted (errors.Is(err, context.Canceled) or
// context.DeadlineExceeded holds, and errors.Is(err, ErrAborted)). The
// slot is then left as after a timeout: a request the host has not taken
// is taken back, one it took is quarantined until its late answer. The
// call is also bounded by Options.CallTimeout (ErrTimeout), whichever
// ends first, so that no call waits forever by accident.
//
// A context that is never cancelled (context.Background(), whose Done is
// nil) costs nothing: no allocation, the same wait as Call. A cancellable
// one is looked at as the spin phase ends and before every sleep, and a
// sleep then lasts at most a millisecond, so a cancellation is seen
// within about a millisecond.
func (g *Guest) CallContext(ctx context.Context, t MsgType, req, resp []byte) (n int, rt MsgType, err error) {
	return g.call(ctx, t, req, resp, 0)
}

// cancelPoll bounds one sleep of a call whose context can be cancelled.
const cancelPoll = time.Millisecond

// ctxError is the error of a call that its context ended: ctx.Err() under
// ErrAborted. Made only on that path.
type ctxError struct{ err error }

func (e *ctxError) Error() string        { return ErrAborted.Error() + ": " + e.err.Error() }
func (e *ctxError) Unwrap() error        { return e.err }
func (e *ctxError) Is(target error) bool { return target == ErrAborted }

// errCtxDone is the internal cause of a wait that saw its context end;
// callCtxErr turns it into the caller's ctxError.
var errCtxDone = errors.New("context done")

// call is Call and CallContext (ctx nil: none).
func (g *Guest) call(ctx context.Context, t MsgType, req, resp []byte, timeout time.Duration) (n int, rt MsgType, err error) {
	if !g.enter() {
		return 0, 0, errClosedLocally
	}
	defer g.leave()
	if g.geo.guestSlots == 0 {
		return 0, 0, fmt.Errorf("%w: the segment has no guest slots", ErrInvalid)
	}
	if uint64(len(req)) > uint64(g.geo.reqCapacity) {
		return 0, 0, fmt.Errorf("%w: %d bytes, capacity %d", ErrTooBig, len(req), g.geo.reqCapacity)
	}
	if timeout == 0 {
		timeout = g.opts.CallTimeout
	}
	deadline := noDeadline
	switch {
	case timeout == Infinite:
	case timeout < 0:
		return 0, 0, fmt.Errorf("%w: timeout %v", ErrInvalid, timeout)
	default:
		if now := g.now(); timeout < noDeadline-now {
			deadline = now + timeout
		}
	}
	var done <-chan struct{}
	ctxDeadline := false // the deadline is the context's
	if ctx != nil {
		if err := ctx.Err(); err != nil {
			return 0, 0, &ctxError{err}
		}
		done = ctx.Done()
		if d, ok := ctx.Deadline(); ok {
			if at := g.now() + time.Until(d); at < deadline {
				deadline, ctxDeadline = at, true
			}
		}
	}

	i, gen, err := g.claim(deadline, done)
	if err != nil {
		return 0, 0, g.callCtxErr(ctx, ctxDeadline, err)
	}
	s := &g.slots[int(g.geo.hostSlots)+i]
	copy(s.req, req)
	seq, err := g.publish(s, i, gen, t, len(req), deadline)
	if err != nil {
		return 0, 0, err
	}
	if err = g.awaitResponse(&s.hdr.ctrl, gen, deadline, done); err != nil {
		if ctx != nil {
			err = g.callCtxErr(ctx, ctxDeadline, err)
		}
		n, rt, err = g.abandon(s, i, gen, seq, resp, err)
	} else {
		n, rt, err = g.consume(s, i, seq, resp)
	}
	if err != nil {
		g.countCallEnd(err)
	}
	return n, rt, err
}

// callCtxErr is the error of a call whose wait failed with err: the
// context's, when the context ended it (its cancellation, or the deadline
// that was the context's), else err.
func (g *Guest) callCtxErr(ctx context.Context, ctxDeadline bool, err error) error {
	if ctx == nil {
		return err
	}
	if err == errCtxDone {
		if e := ctx.Err(); e != nil {
			return &ctxError{e}
		}
		return &ctxError{context.Canceled}
	}
	if ctxDeadline && errors.Is(err, ErrTimeout) {
		return &ctxError{context.DeadlineExceeded}
	}
	return err
}

// publish sends the request of size bytes, written into guest slot i
// (claimed with generation gen), with type t and the call's deadline (in
// g.now() time; noDeadline: none), and rings the doorbell. It returns the
// request's req_seq.
func (g *Guest) publish(s *slotView, i int, gen uint32, t MsgType, size int, deadline time.Duration) (uint64, error) {
	hd, ctrl := s.hdr, &s.hdr.ctrl
	seq := g.seq.Add(1)
	// Plain stores, published by the CAS below (see serveOne).
	hd.reqType = uint32(t)
	hd.reqSize = uint32(size)
	hd.reqFlags = 0
	hd.reqSeq = seq
	hd.reqTime = 0 // until the wait leaves its spin phase
	// A new word for a new call: the cancel mark of the call before goes.
	hd.deadline = g.deadlineWord(deadline)
	c := &g.ctrSlots[int(g.geo.hostSlots)+i]
	bump(&c.reqCalls)
	for {
		v := atomic.LoadUint32(ctrl)
		if ctrlState(v) != stateClaimed || ctrlGen(v) != gen || !ctrlLegal(v) {
			return 0, fmt.Errorf("%w: claimed guest slot %d changed to %#x", ErrCorrupt, i, v)
		}
		// release (full barrier): publishes the request; pairs with the
		// host's CAS REQ_READY->PROCESSING. Clears SW and wakes if a
		// responder announced it sleeps on this word.
		if atomic.CompareAndSwapUint32(ctrl, v, v&^(ctrlStateMask|ctrlSW)|stateReqReady) {
			if v&ctrlSW != 0 {
				atomic.AddUint64(&c.reqWakes, 1)
				g.wordWake(ctrl, ctrlSW)
			}
			break
		}
	}
	g.ringDoorbell()
	return seq, nil
}

// ringDoorbell tells the host's listener that a guest call is ready.
func (g *Guest) ringDoorbell() {
	db := &g.hdr.doorbell
	for {
		// Only the CAS's guess, which the CAS checks; it orders nothing
		// (relaxed would do, as in the host's shmipc__ring_doorbell).
		d := atomic.LoadUint32(db)
		// Full barrier after our REQ_READY: pairs with the listener's
		// acquire load of the doorbell before it scans the slots
		// (serve_once in src/host.c) and with its announce CAS on the
		// doorbell. Clears LISTENER_WAITING and wakes if the listener
		// announced it sleeps.
		if atomic.CompareAndSwapUint32(db, d, (d+1)&doorbellCounterMask) {
			if d&doorbellListenerWaiting != 0 {
				g.countOtherWake()
				g.wordWake(db, doorbellListenerWaiting)
			}
			return
		}
	}
}

// claim takes a free guest slot (FREE -> CLAIMED, generation + 1) and
// returns its index among the guest slots and its new generation. On the
// way it reclaims quarantined slots whose late response has arrived. With
// no slot free it polls, with backoff, until the deadline.
func (g *Guest) claim(deadline time.Duration, done <-chan struct{}) (int, uint32, error) {
	pause := 20 * time.Microsecond
	for round := 0; ; round++ {
		if i, gen, ok, err := g.tryClaim(); ok || err != nil {
			return i, gen, err
		}
		if g.closing.Load() {
			return 0, 0, errClosedLocally
		}
		if err := g.hostGone(); err != nil {
			return 0, 0, err
		}
		now := g.now()
		if now >= deadline {
			return 0, 0, fmt.Errorf("%w: no free guest slot", ErrTimeout)
		}
		if done != nil {
			select {
			case <-done:
				return 0, 0, errCtxDone
			default:
			}
		}
		if round < yieldBudget {
			runtime.Gosched()
			continue
		}
		time.Sleep(minDuration(pause, deadline-now))
		pause = minDuration(2*pause, time.Millisecond)
	}
}

// tryClaim scans the guest slots once for a free one and claims it; ok is
// false when none was free.
func (g *Guest) tryClaim() (i int, gen uint32, ok bool, err error) {
	gs := g.slots[g.geo.hostSlots:]
	n := len(gs)
	start := int(g.scanStart.Add(1) % uint32(n))
	for k := 0; k < n; k++ {
		i := (start + k) % n
		ctrl := &gs[i].hdr.ctrl
		// acquire: pairs with the CAS that last moved the word: a CAS
		// to FREE, or, for a quarantined slot, the host's publish of
		// the late answer. The claim CAS below checks the value again.
		v := atomic.LoadUint32(ctrl)
		if !ctrlLegal(v) {
			return 0, 0, false, fmt.Errorf("%w: guest slot %d: illegal control word %#x", ErrCorrupt, i, v)
		}
		if ctrlState(v) == stateRespReady && g.quarantine[i].CompareAndSwap(1, 0) {
			atomic.AddUint64(&g.ctrSide.lateDropped, 1)
			// A late response to a call that timed out: discard it.
			// Winning the mark makes us the only one to touch the slot.
			v = g.release(ctrl)
		}
		if ctrlState(v) != stateFree {
			continue
		}
		gen := (ctrlGen(v) + 1) & ctrlGenMask
		// Waiter bits stay as they are (PROTOCOL: unmarked transitions).
		// Full barrier: the claim; pairs with the previous user's CAS
		// to FREE (release, releaseClaimed or repairGuestSlots), so
		// that its reads of the slot happen before our writes. It fails
		// if another Call claimed the slot first.
		if atomic.CompareAndSwapUint32(ctrl, v, gen<<ctrlGenShift|v&(ctrlRW|ctrlSW)|stateClaimed) {
			return i, gen, true, nil
		}
	}
	return 0, 0, false, nil
}

// release moves a slot that this side holds in RESP_READY to FREE and
// returns the new word. Only waiter bits can change under us meanwhile.
func (g *Guest) release(ctrl *uint32) uint32 {
	for {
		v := atomic.LoadUint32(ctrl)
		if ctrlState(v) != stateRespReady {
			return v // not ours to move (a misbehaving host); leave it
		}
		nv := v&^ctrlStateMask | stateFree
		// Full barrier: our reads of the response happen before the slot is
		// reused; pairs with the next claimer's load.
		if atomic.CompareAndSwapUint32(ctrl, v, nv) {
			return nv
		}
	}
}

// releaseClaimed gives back a slot this side holds in CLAIMED (CLAIMED ->
// FREE). Only waiter bits can change under us meanwhile.
func (g *Guest) releaseClaimed(ctrl *uint32) {
	for {
		v := atomic.LoadUint32(ctrl)
		if ctrlState(v) != stateClaimed {
			return // not ours to move (a misbehaving host); leave it
		}
		// Full barrier; pairs with the next claimer's CAS.
		if atomic.CompareAndSwapUint32(ctrl, v, v&^ctrlStateMask|stateFree) {
			return
		}
	}
}

// consume reads, validates and copies the response of guest slot i, which
// is in RESP_READY, and frees the slot.
func (g *Guest) consume(s *slotView, i int, seq uint64, resp []byte) (int, MsgType, error) {
	hd := s.hdr
	// These loads follow the acquire load that saw RESP_READY.
	rseq := atomic.LoadUint64(&hd.respSeq)
	size := atomic.LoadUint32(&hd.respSize)
	flags := atomic.LoadUint32(&hd.respFlags)
	rt := MsgType(atomic.LoadUint32(&hd.respType))
	defer g.release(&hd.ctrl)
	if rseq == seq && uint64(size) <= uint64(len(s.resp)) && flags&^flagEndAligned == 0 {
		bump(&g.ctrSlots[int(g.geo.hostSlots)+i].reqAnswered)
	}
	switch {
	case rseq != seq:
		return 0, 0, fmt.Errorf("%w: guest slot %d: resp_seq %d answers req_seq %d", ErrCorrupt, i, rseq, seq)
	case uint64(size) > uint64(len(s.resp)):
		return 0, 0, fmt.Errorf("%w: guest slot %d: resp_size %d above capacity %d", ErrCorrupt, i, size, len(s.resp))
	case flags&^flagEndAligned != 0:
		return 0, 0, fmt.Errorf("%w: guest slot %d: resp_flags %#x", ErrCorrupt, i, flags)
	}
	payload := s.resp[:size]
	if flags&flagEndAligned != 0 {
		payload = s.resp[len(s.resp)-int(size):]
	}
	n := int(size)
	switch {
	case rt == MsgSystemError:
		if n <= len(resp) {
			copy(resp, payload)
		}
		return n, rt, fmt.Errorf("%w: host: %s", ErrRemote, reasonText(payload))
	case n > len(resp):
		return n, rt, fmt.Errorf("%w: response of %d bytes, buffer of %d", ErrTruncated, n, len(resp))
	}
	copy(resp, payload)
	return n, rt, nil
}

// reasonText returns a bounded, printable copy of a SYSTEM_ERROR reason.
func reasonText(b []byte) string {
	if len(b) > maxReason {
		return fmt.Sprintf("%q...", b[:maxReason])
	}
	return fmt.Sprintf("%q", b)
}

// abandon ends a call whose wait for the response failed with cause. A
// request the host has not taken is cancelled and the slot released; one it holds is quarantined
// until its late response arrives; a response that did arrive meanwhile is
// delivered when the cause was the timeout, and discarded otherwise.
func (g *Guest) abandon(s *slotView, i int, gen uint32, seq uint64, resp []byte, cause error) (int, MsgType, error) {
	if errors.Is(cause, ErrCorrupt) {
		return 0, 0, cause // the word is not trustworthy; leave the slot
	}
	ctrl := &s.hdr.ctrl
	for {
		// acquire: pairs with the host's CASes on the word (its take
		// REQ_READY->PROCESSING and its publish PROCESSING->RESP_READY),
		// so that a RESP_READY seen here makes the response readable.
		v := atomic.LoadUint32(ctrl)
		if !ctrlLegal(v) || ctrlGen(v) != gen {
			return 0, 0, fmt.Errorf("%w: guest slot %d: control word %#x", ErrCorrupt, i, v)
		}
		switch ctrlState(v) {
		case stateReqReady:
			// Cancel (REQ_READY -> CLAIMED), then release the slot we still
			// hold (CLAIMED -> FREE). The cancel fails if the host takes the
			// request meanwhile (or announces); then look again. Full
			// barrier: the host's take CAS of the old value now fails.
			if atomic.CompareAndSwapUint32(ctrl, v, v&^ctrlStateMask|stateClaimed) {
				atomic.AddUint64(&g.ctrSide.cancels, 1)
				g.releaseClaimed(ctrl)
				if errors.Is(cause, ErrTimeout) {
					return 0, 0, errNotTaken
				}
				return 0, 0, cause
			}
		case stateProcessing:
			// The host took it: mark the call given up, so that its
			// handler can stop early. Only we write the word (the host
			// only reads it); the next publish writes it anew.
			atomic.StoreUint64(&s.hdr.deadline, atomic.LoadUint64(&s.hdr.deadline)|deadlineCancelled)
			atomic.AddUint64(&g.ctrSide.quarantined, 1)
			g.quarantine[i].Store(1)
			return 0, 0, cause
		case stateRespReady:
			if errors.Is(cause, ErrTimeout) {
				return g.consume(s, i, seq, resp)
			}
			g.release(ctrl)
			return 0, 0, cause
		default:
			return 0, 0, fmt.Errorf("%w: guest slot %d: control word %#x", ErrCorrupt, i, v)
		}
	}
}
