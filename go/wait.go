package shmipc

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync/atomic"
	"time"
)

// Adaptive waiting (docs/PROTOCOL.md, "Sleep and wake-up"): spin with the
// CPU's pause hint, yielding the thread every yieldEvery spins so that a
// peer waiting for this CPU gets it; then yield a bounded number of times;
// then announce and sleep on the futex word, at most LivenessInterval at a
// time, checking the host and the local handle between sleeps.

const (
	yieldEvery  = 128                          // spins between two thread yields
	yieldBudget = 32                           // yields after the spins, before sleeping
	noDeadline  = time.Duration(math.MaxInt64) // a wait without time limit
)

// anyState is every legal slot state, as a mask of 1<<state.
const anyState = 1<<stateFree | 1<<stateClaimed | 1<<stateReqReady |
	1<<stateProcessing | 1<<stateRespReady

// Why a wait ended early. They are values, not built per call, so the wait
// loop does not allocate.
var (
	errStopped       = errors.New("serve stopped")
	errHostClosed    = fmt.Errorf("%w: host closed the session", ErrPeerGone)
	errHostReplaced  = fmt.Errorf("%w: host session replaced (session_nonce changed)", ErrPeerGone)
	errHostDied      = fmt.Errorf("%w: host died (its liveness lock is free)", ErrPeerGone)
	errHostStateBad  = fmt.Errorf("%w: host_state is neither READY nor CLOSED", ErrCorrupt)
	errWaitTimedOut  = fmt.Errorf("%w: no response in time", ErrTimeout)
	errClosedLocally = fmt.Errorf("%w: Close was called", ErrClosed)
)

// waitSpec describes one wait on a slot's control word.
type waitSpec struct {
	word     *uint32
	target   uint32 // the state waited for
	bit      uint32 // this side's waiter bit: ctrlSW or ctrlRW
	keep     uint32 // states (1<<state) that mean "not yet"; any other is corrupt
	gen      uint32 // with checkGen: the generation the word must keep
	checkGen bool
	deadline time.Duration // g.now() limit, or noDeadline
	stop     *atomic.Bool  // optional: Serve's stop flag
	// crowded: more spinning workers than Ps. A worker then hands its P on
	// every few spins, so that the worker whose slot has work gets to run
	// soon (the Go scheduler only switches goroutines at such points).
	crowded bool
	// idle: a Serve worker; it may sleep up to idleSleep, since Serve
	// watches the host and wakes it (as do Close and ctx).
	idle bool
	// noSpin: skip the spins and yields, announce and sleep at once.
	noSpin bool
	// spun: spins of the budget the caller has already spent.
	spun int
	// aside: optional; when set, a wait that has not found its target
	// ends with errStandAside (the pollers serve this slot meanwhile).
	aside *atomic.Bool
	// settle: the word has not been seen legal yet. An illegal value is
	// then what an earlier epoch (or a peer) left for the host to repair:
	// "not yet", not ErrCorrupt. Cleared by the first legal value
	// (docs/PROTOCOL.md, "Repair").
	settle bool
}

// idleSleep bounds the sleep of a Serve worker: Serve watches the host,
// so an idle guest wakes once per LivenessInterval, not once per slot.
const idleSleep = time.Second

// crowdedGosched is the number of spins between two runtime.Gosched calls
// of a crowded worker.
const crowdedGosched = 4

// now returns the monotonic time since Connect.
func (g *Guest) now() time.Duration { return time.Since(g.epoch) }

// waitState waits until the state of *ws.word is ws.target and returns the
// word's value. It fails with ErrCorrupt on an illegal word, ErrTimeout at
// the deadline, ErrClosed when Close begins, errStopped when *ws.stop is
// set, and ErrPeerGone when the host closes, dies or is replaced.
func (g *Guest) waitState(ws *waitSpec) (uint32, error) {
	spins, yields := g.opts.SpinBudget-ws.spun, yieldBudget
	if ws.noSpin {
		spins, yields = 0, 0
	}
	for {
		// acquire: pairs with the other side's CAS into ws.target (the
		// requester's CLAIMED->REQ_READY or the responder's
		// PROCESSING->RESP_READY), which published the data we read next.
		v := atomic.LoadUint32(ws.word)
		st := ctrlState(v)
		if ctrlLegal(v) {
			ws.settle = false
			if ws.checkGen && ctrlGen(v) != ws.gen {
				return v, fmt.Errorf("%w: control word %#x changed generation (want %d)", ErrCorrupt, v, ws.gen)
			}
			if st == ws.target {
				return v, nil
			}
			if ws.keep&(1<<st) == 0 {
				return v, fmt.Errorf("%w: control word %#x in unexpected state %d", ErrCorrupt, v, st)
			}
		} else if !ws.settle {
			return v, fmt.Errorf("%w: illegal control word %#x", ErrCorrupt, v)
		}
		if ws.aside != nil && ws.aside.Load() {
			return v, errStandAside
		}
		// Deadlines and liveness are checked only once the spins and
		// yields are spent, so a timeout is honoured to within that phase
		// (a few hundred microseconds with the default budget).
		if spins > 0 {
			spins--
			if ws.crowded && spins%crowdedGosched == 0 {
				runtime.Gosched()
			}
			if spins%yieldEvery == 0 {
				// Now and then let the other workers of this process have
				// this P; doing it at every yield point costs more latency
				// than it saves (it wakes idle Ps that then compete with
				// the peer for CPUs).
				if spins%(4*yieldEvery) == 0 {
					runtime.Gosched()
				}
				osYield()
			} else {
				cpuPause()
			}
			continue
		}
		if yields > 0 {
			yields--
			runtime.Gosched() // other goroutines of this process
			osYield()         // other threads, such as the peer's
			continue
		}
		if err := g.checkWait(ws.stop, ws.deadline); err != nil {
			return v, err
		}
		if v&ws.bit == 0 {
			// Announce. Full barrier, on the same word as the other side's
			// transition CAS: if that comes first this CAS fails and we
			// re-read; if this comes first the mover sees the bit and wakes.
			if !atomic.CompareAndSwapUint32(ws.word, v, v|ws.bit) {
				continue
			}
			v |= ws.bit
		}
		// Returns at once if the word is no longer v.
		d := g.sleepFor(ws.deadline)
		if ws.idle {
			d = idleSleep
		}
		g.wordWait(ws.word, v, ws.bit, d)
	}
}

// sleepFor returns how long one futex sleep may last: until the next host
// check is due, or the deadline.
func (g *Guest) sleepFor(deadline time.Duration) time.Duration {
	d := g.untilCheck()
	if deadline != noDeadline {
		if left := deadline - g.now(); left < d {
			d = left
		}
	}
	return d
}

// checkWait is run before every sleep: it ends the wait when Serve stops,
// Close begins, the host is gone, or the deadline has passed.
func (g *Guest) checkWait(stop *atomic.Bool, deadline time.Duration) error {
	if stop != nil && stop.Load() {
		return errStopped
	}
	if g.closing.Load() {
		return errClosedLocally
	}
	if err := g.hostGone(); err != nil {
		return err
	}
	if deadline != noDeadline && g.now() >= deadline {
		return errWaitTimedOut
	}
	return nil
}

// minCheckSleep is the shortest sleep untilCheck gives, so that a waiter
// whose check was just made by another never spins on the clock.
const minCheckSleep = 100 * time.Microsecond

// untilCheck returns how long until the host lock check is due: one
// LivenessInterval after the last one, whoever made it. Periodic waiters
// sleep that long (not a whole interval from their own last look), so the
// check runs every interval as long as anyone sleeps, even when the waiter
// that made the last one has left or another woke early, and a dead host
// is seen within one interval (plus the wake-up) of its death.
func (g *Guest) untilCheck() time.Duration {
	d := time.Duration(g.lastCheck.Load()) + g.opts.LivenessInterval - g.now()
	switch {
	case d < minCheckSleep:
		return minCheckSleep
	case d > g.opts.LivenessInterval:
		return g.opts.LivenessInterval
	}
	return d
}

// hostGone reports whether the host closed the session, was replaced, or
// died. The lock check is a system call, so it runs once per
// LivenessInterval for the whole Guest, by whichever waiter finds it due
// (see untilCheck). Only a check that has answered counts: a waiter that
// comes while another's check is still in the kernel makes its own rather
// than skip it and sleep on, which would see a host dead in that check an
// interval late.
func (g *Guest) hostGone() error {
	// acquire: pairs with the host's release store of host_state.
	switch atomic.LoadUint32(&g.hdr.hostState) {
	case hostReady:
	case hostClosed:
		return errHostClosed
	default:
		return errHostStateBad
	}
	if atomic.LoadUint64(&g.hdr.sessionNonce) != g.geo.sessionNonce {
		return errHostReplaced
	}
	if g.hostDead.Load() {
		return errHostDied
	}
	now := int64(g.now())
	if now-g.lastCheck.Load() < int64(g.opts.LivenessInterval) {
		return nil
	}
	alive, err := roleLocked(g.fd, roleHost)
	if err != nil {
		return fmt.Errorf("%w: checking the host lock: %v", ErrSystem, err)
	}
	if !alive {
		g.hostDead.Store(true)
		return errHostDied
	}
	// The host lived at now (or later): the latest such time wins.
	for last := g.lastCheck.Load(); now > last; last = g.lastCheck.Load() {
		if g.lastCheck.CompareAndSwap(last, now) {
			break
		}
	}
	return nil
}

// wakeSlots wakes every thread sleeping on the control word of slots, so
// that local sleepers re-check their flags. Sleepers of the other side
// just re-read their word and sleep again.
func (g *Guest) wakeSlots(slots []slotView) {
	for i := range slots {
		g.wordWake(&slots[i].hdr.ctrl, ctrlRW|ctrlSW)
	}
}
