package shmipc

import (
	"sync/atomic"
	"time"
)

// The caller's deadline and cancel mark (docs/PROTOCOL.md, "Deadline and
// cancel"): every request carries its caller's deadline in the slot's
// deadline word, and a caller that gives up on a request the responder
// has taken sets the word's cancel bit. The word is information from the
// peer: it is read only when a Handler asks, and nothing in the library
// decides by it.

// Deadline returns the deadline of the host's call whose request a
// Handler is serving in req (the request slice the Handler was given),
// and true; or false when the call has none (an infinite timeout) or req
// is not a request of a host slot of g (a copy, a reassembled stream). The
// deadline is the host's, told on its monotonic clock (Linux
// CLOCK_MONOTONIC, Windows QueryPerformanceCounter) and returned as a
// time.Time on this process's clock, to within the clock reads; while the
// host is still in the spin phase of its wait it is known to within that
// phase (microseconds). It does not allocate. Call it only while the
// Handler runs.
func (g *Guest) Deadline(req []byte) (time.Time, bool) {
	i := g.requestSlot(req)
	if i < 0 {
		return time.Time{}, false
	}
	// atomic: the host may store its cancel mark beside this load
	v := atomic.LoadUint64(&g.slots[i].hdr.deadline) &^ deadlineCancelled
	if v == 0 {
		return time.Time{}, false
	}
	now := time.Now()
	mono := g.monoNow()
	at := int64(v & deadlineValueMask)
	if v&deadlineBudget != 0 {
		// A budget the host has not fixed on its clock yet: it fixes it
		// at its first clock read after the publish.
		return now.Add(time.Duration(at)), true
	}
	return now.Add(time.Duration(at - mono)), true
}

// Cancelled reports whether the host has given up on the call whose
// request a Handler is serving in req (its wait timed out or was aborted,
// or it released the slot unanswered), so that a long Handler can stop
// early; false as well when req is not a request of a host slot of g. One
// load, no allocation: cheap enough for a Handler's inner loop. What the
// Handler answers then is discarded by the host. Call it only while the
// Handler runs.
func (g *Guest) Cancelled(req []byte) bool {
	i := g.requestSlot(req)
	return i >= 0 && atomic.LoadUint64(&g.slots[i].hdr.deadline)&deadlineCancelled != 0
}

// deadlineWord is the deadline word of a call with deadline d (g.now()
// time; noDeadline: none) on the host's clock, saturated to the field.
func (g *Guest) deadlineWord(d time.Duration) uint64 {
	if d >= noDeadline {
		return 0
	}
	at := g.monoBase + int64(d)
	switch {
	case at <= 0:
		return 1 // 0 says "none"
	case uint64(at) > deadlineValueMask:
		return deadlineValueMask
	}
	return uint64(at)
}
