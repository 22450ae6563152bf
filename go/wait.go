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
// time (a Serve worker longer: Serve watches the host for it), checking the
// host and the local handle between sleeps.
//
// The phases are one policy for every wait (spinner, checkWait, sleepOn);
// what a wait waits for is its own loop over them: awaitResponse for a
// Call, awaitRequest for a Serve worker. A new kind of wait is a new loop,
// not a new option of a shared one.

const (
	yieldEvery  = 128                          // spins between two thread yields
	yieldBudget = 32                           // yields after the spins, before sleeping
	noDeadline  = time.Duration(math.MaxInt64) // a wait without time limit
)

// yieldCrowded is yieldEvery for a waiter whose last yield gave the CPU to
// another thread (it took longer than yieldRanFor). With more spinning
// threads than CPUs the peer is then probably queued behind the waiter,
// each answer comes only after the waiter yields, and the spin before each
// yield is what a round trip costs. It divides yieldEvery.
const (
	yieldCrowded = 16
	yieldRanFor  = time.Microsecond
)

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

// spinner is the phase policy of a wait on a shared word: spin with the
// CPU's pause hint, yielding the thread every yieldEvery spins and the P
// every 4*yieldEvery, then yield a bounded number of times; once both are
// spent the waiter checks (checkWait) and sleeps (sleepOn). It holds no
// completion test: each wait (awaitResponse, awaitRequest) is its own
// loop of load, test and spin. Deadlines and liveness are checked only
// once the spins and yields are spent, so a timeout is honoured to within
// that phase (a few hundred microseconds with the default budget); the
// spin phase reads no clock.
type spinner struct {
	spins  int // pause steps left
	yields int // yield steps left once the spins are spent
	// shareP: more spinning goroutines than Ps. The spinner then hands its
	// P on every crowdedGosched spins, so that the goroutine whose word has
	// changed gets to run soon (the Go scheduler only switches goroutines
	// at such points).
	shareP bool
	// crowded (optional) is kept by the waiter from wait to wait: its
	// last yield gave the CPU to another thread, so it yields every
	// yieldCrowded spins. The spinner updates it at each yield, and
	// answered clears it when a wait ends before any yield.
	crowded *bool
	yielded bool // this wait yielded the thread
}

// crowdedGosched is the number of spins between two runtime.Gosched calls
// of a spinner with shareP.
const crowdedGosched = 4

// spinner returns the spin and yield phases of a wait that has already
// spent spent spins of the budget elsewhere. The zero spinner sleeps at
// once.
func (g *Guest) spinner(spent int) spinner {
	return spinner{spins: g.opts.SpinBudget - spent, yields: yieldBudget}
}

// spin takes one step of the spin or yield phase and reports whether it
// did; false means both are spent, and the waiter should check and sleep.
func (sp *spinner) spin() bool {
	if sp.spins > 0 {
		sp.spins--
		if sp.shareP && sp.spins%crowdedGosched == 0 {
			runtime.Gosched()
		}
		every := yieldEvery
		if sp.crowded != nil && *sp.crowded {
			every = yieldCrowded
		}
		if sp.spins%every == 0 {
			// Now and then let the other goroutines of this process have
			// this P; doing it at every yield point costs more latency
			// than it saves (it wakes idle Ps that then compete with the
			// peer for CPUs).
			if sp.spins%(4*yieldEvery) == 0 {
				runtime.Gosched()
			}
			// A crowded yield counts as a whole yield period: as many
			// yields before the sleep as ever, fewer pauses.
			if every == yieldCrowded {
				sp.spins -= minInt(sp.spins, yieldEvery-yieldCrowded)
			}
			sp.yieldThread()
		} else {
			cpuPause()
		}
		return true
	}
	if sp.yields > 0 {
		sp.yields--
		runtime.Gosched() // other goroutines of this process
		osYield()         // other threads, such as the peer's
		return true
	}
	return false
}

// yieldThread yields the thread and notes in *sp.crowded (if kept)
// whether another thread ran meanwhile.
func (sp *spinner) yieldThread() {
	sp.yielded = true
	if sp.crowded == nil {
		osYield()
		return
	}
	t := time.Now()
	osYield()
	*sp.crowded = time.Since(t) > yieldRanFor
}

// answered notes that the wait ended: one that never yielded ran beside
// its peer, so the next one spins the usual yieldEvery.
func (sp *spinner) answered() {
	if sp.crowded != nil && !sp.yielded {
		*sp.crowded = false
	}
}

// sleepOn announces this side's waiter bit on word, last seen as v, and
// sleeps until woken, for at most d. It returns at once, without sleeping,
// if the word is no longer v; the waiter then looks at it again.
func (g *Guest) sleepOn(word *uint32, v, bit uint32, d time.Duration) {
	if v&bit == 0 {
		// Announce. Full barrier, on the same word as the other side's
		// transition CAS: if that comes first this CAS fails and we
		// re-read; if this comes first the mover sees the bit and wakes.
		if !atomic.CompareAndSwapUint32(word, v, v|bit) {
			return
		}
		v |= bit
	}
	// Returns at once if the word is no longer v.
	g.wordWait(word, v, bit, d)
}

// awaitResponse is a requester's wait: until guest slot word ctrl, which
// this call published in generation gen, reads RESP_READY. It fails with
// ErrCorrupt on an illegal word, another generation or a state the host
// cannot have moved it to, ErrTimeout at the deadline, ErrClosed when
// Close begins, and ErrPeerGone when the host closes, dies or is replaced.
func (g *Guest) awaitResponse(ctrl *uint32, gen uint32, deadline time.Duration, done <-chan struct{}) error {
	sp := g.spinner(0)
	stamped := false
	for {
		// acquire: pairs with the host's publishing CAS
		// PROCESSING->RESP_READY (shmipc__respond in src/slot.c), which
		// published the response that consume reads next.
		v := atomic.LoadUint32(ctrl)
		if !ctrlLegal(v) {
			return fmt.Errorf("%w: illegal control word %#x", ErrCorrupt, v)
		}
		if ctrlGen(v) != gen {
			return fmt.Errorf("%w: control word %#x changed generation (want %d)", ErrCorrupt, v, gen)
		}
		switch st := ctrlState(v); st {
		case stateRespReady:
			return nil
		case stateReqReady, stateProcessing: // only the host moves it, and only this far
		default:
			return fmt.Errorf("%w: control word %#x in unexpected state %d", ErrCorrupt, v, st)
		}
		if sp.spin() {
			continue
		}
		if err := g.checkWait(nil, deadline); err != nil {
			return err
		}
		sleep := g.sleepFor(deadline)
		if done != nil {
			// A cancellable context: no wake-up comes from it, so the
			// sleep is short (a select with default allocates nothing).
			select {
			case <-done:
				return errCtxDone
			default:
			}
			sleep = minDuration(sleep, cancelPoll)
		}
		stamped = g.countSleep(ctrl, true, stamped)
		g.sleepOn(ctrl, v, ctrlRW, sleep)
	}
}

// awaitRequest is a Serve worker's wait: until host slot word ctrl reads
// REQ_READY, returning that value, with the spin and yield phases of sp.
// It fails with ErrCorrupt on an illegal word, unless *settle (see work),
// errStopped when *stop is set, ErrClosed when Close begins, ErrPeerGone
// when the host closes, dies or is replaced, and errStandAside as soon as
// *pollers (optional) is set: the pollers serve the slot meanwhile. It has
// no deadline and sleeps up to idleSleep at a time, since Serve watches
// the host and wakes it (as do Close and ctx).
func (g *Guest) awaitRequest(ctrl *uint32, sp spinner, stop, pollers *atomic.Bool, settle *bool) (uint32, error) {
	for {
		// acquire: pairs with the host's publishing CAS into REQ_READY
		// (shmipc_slot_publish in src/slot.c), which published the request
		// that serveOne reads next.
		v := atomic.LoadUint32(ctrl)
		if ctrlLegal(v) {
			*settle = false
			if ctrlState(v) == stateReqReady {
				sp.answered()
				return v, nil
			}
			// Any other legal state is "not yet": the host's to move.
		} else if !*settle {
			return v, fmt.Errorf("%w: illegal control word %#x", ErrCorrupt, v)
		}
		if pollers != nil && pollers.Load() {
			return v, errStandAside
		}
		if sp.spin() {
			continue
		}
		if err := g.checkWait(stop, noDeadline); err != nil {
			return v, err
		}
		g.countSleep(ctrl, false, true)
		g.sleepOn(ctrl, v, ctrlSW, idleSleep)
	}
}

// idleSleep bounds the sleep of a Serve worker: Serve watches the host,
// so an idle guest wakes once per LivenessInterval, not once per slot.
const idleSleep = time.Second

// now returns the monotonic time since Connect.
func (g *Guest) now() time.Duration { return time.Since(g.epoch) }

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

// wakeUntil wakes the sleepers on the control words of slots, round after
// round, until allGone reports that the waiters it is for have left. Each
// checks its flag (closing, Serve's stop) before it sleeps, but one may
// have checked just before the flag was set and then sleep through a
// single round. The pause between two rounds doubles from 50 µs up to
// 10 ms; a close of done (optional) ends a pause early.
func (g *Guest) wakeUntil(slots []slotView, allGone func() bool, done <-chan struct{}) {
	for pause := 50 * time.Microsecond; !allGone(); pause = minDuration(2*pause, 10*time.Millisecond) {
		g.wakeSlots(slots)
		t := time.NewTimer(pause)
		select {
		case <-done:
		case <-t.C:
		}
		t.Stop()
	}
}

// isClosed reports whether ch is closed (or has a value ready).
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
