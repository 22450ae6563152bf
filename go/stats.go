package shmipc

import (
	"errors"
	"sync/atomic"
	"time"
)

// Stats holds a guest's counters (docs/PROTOCOL.md, "Counters"), counted
// since Connect. They are diagnostics kept in the segment, where the host
// and shmipc-stat can read them; the host (or any process of the same
// user) can write over them, so a figure may be wrong, never harmful.
// A call is one guest call (Call); served counts the host's requests.
type Stats struct {
	Calls        uint64        // guest calls published
	Answered     uint64        // answers taken, MsgSystemError ones included
	Timeouts     uint64        // calls that ended with ErrTimeout
	Cancels      uint64        // calls whose request was taken back before the host took it
	Quarantined  uint64        // calls that ended without an answer while the host held the slot
	LateDropped  uint64        // late answers discarded when their slot was claimed again
	Recovered    uint64        // quarantined slots freed because their responder was gone
	PeerGone     uint64        // calls that ended with ErrPeerGone
	Remote       uint64        // calls answered with MsgSystemError (ErrRemote)
	Corrupt      uint64        // calls that ended with ErrCorrupt
	Served       uint64        // the host's requests answered
	ServedErrors uint64        // of those, answered with MsgSystemError
	Sleeps       uint64        // sleeps in the kernel on a slot word
	Wakes        uint64        // wake-up system calls made for the host
	StreamChunks uint64        // stream chunks sent and accepted
	StreamBytes  uint64        // stream payload bytes in those chunks
	StreamDrops  uint64        // streams sent that were not delivered
	Attaches     uint64        // 1: this guest's attach
	Epoch        uint32        // the attach epoch this guest attached with
	Uptime       time.Duration // time since Connect
}

// Stats returns the guest's counters. It reads the segment only, and may
// be called at any time until Close, concurrently with Serve and Call.
func (g *Guest) Stats() Stats {
	c := g.ctrSide
	st := Stats{
		Timeouts:     atomic.LoadUint64(&c.timeouts),
		Cancels:      atomic.LoadUint64(&c.cancels),
		Quarantined:  atomic.LoadUint64(&c.quarantined),
		LateDropped:  atomic.LoadUint64(&c.lateDropped),
		Recovered:    atomic.LoadUint64(&c.recovered),
		PeerGone:     atomic.LoadUint64(&c.peerGone),
		Remote:       atomic.LoadUint64(&c.remote),
		Corrupt:      atomic.LoadUint64(&c.corrupt),
		Sleeps:       atomic.LoadUint64(&c.otherSleeps),
		Wakes:        atomic.LoadUint64(&c.otherWakes),
		StreamChunks: atomic.LoadUint64(&c.streamChunks),
		StreamBytes:  atomic.LoadUint64(&c.streamBytes),
		StreamDrops:  atomic.LoadUint64(&c.streamDrops),
		Attaches:     atomic.LoadUint64(&c.attaches),
		Epoch:        uint32(atomic.LoadUint64(&c.epoch)),
	}
	for i := range g.ctrSlots {
		s := &g.ctrSlots[i]
		if i < int(g.geo.hostSlots) {
			// Host slots: the guest answers.
			st.Served += atomic.LoadUint64(&s.respServed)
			st.ServedErrors += atomic.LoadUint64(&s.respErrors)
			st.Sleeps += atomic.LoadUint64(&s.respSleeps)
			st.Wakes += atomic.LoadUint64(&s.respWakes)
		} else {
			st.Calls += atomic.LoadUint64(&s.reqCalls)
			st.Answered += atomic.LoadUint64(&s.reqAnswered)
			st.Sleeps += atomic.LoadUint64(&s.reqSleeps)
			st.Wakes += atomic.LoadUint64(&s.reqWakes)
		}
	}
	if start := int64(atomic.LoadUint64(&c.startTime)); start != 0 {
		if up := g.monoNow() - start; up > 0 {
			st.Uptime = time.Duration(up)
		}
	}
	return st
}

// monoNow returns the clock of req_time and start_time: the OS's
// monotonic clock in nanoseconds (Linux CLOCK_MONOTONIC, Windows
// QueryPerformanceCounter), as the C library reads it.
func (g *Guest) monoNow() int64 { return g.monoBase + int64(g.now()) }

// startCounters begins this guest's counters at attach: the guest's block
// and its halves of the slot lines (answers on host slots, calls on guest
// slots) go back to zero, whatever the guest before left there. The
// guest lock is ours, so no other guest writes them.
func (g *Guest) startCounters() {
	g.monoBase = monotonicNow() - int64(g.now())
	c := g.ctrSide
	for _, p := range []*uint64{&c.timeouts, &c.cancels, &c.quarantined, &c.lateDropped,
		&c.recovered, &c.peerGone, &c.remote, &c.corrupt, &c.otherSleeps, &c.otherWakes,
		&c.streamChunks, &c.streamBytes, &c.streamDrops} {
		atomic.StoreUint64(p, 0)
	}
	for i := range g.ctrSlots {
		s := &g.ctrSlots[i]
		ps := []*uint64{&s.reqCalls, &s.reqAnswered, &s.reqSleeps, &s.reqWakes}
		if i < int(g.geo.hostSlots) {
			ps = []*uint64{&s.respServed, &s.respErrors, &s.respSleeps, &s.respWakes}
		}
		for _, p := range ps {
			atomic.StoreUint64(p, 0)
		}
	}
	atomic.StoreUint64(&c.epoch, uint64(atomic.LoadUint32(&g.hdr.attach)&attachEpochMask>>attachEpochShift))
	atomic.StoreUint64(&c.attaches, 1)
	atomic.StoreUint64(&c.startTime, uint64(g.monoNow()))
}

// bump adds one to a counter that only the holder of its slot moves (the
// worker that took the request, the caller that claimed the guest slot):
// a plain load and store, no locked instruction, as the C side's
// shmipc__ctr_bump. The slot's next holder takes it over through the
// control word's CAS, which orders the store before the next load.
// Readers (Stats, the host, shmipc-stat) load it atomically; the segment
// is not Go memory, so the race detector does not watch it. An aligned
// 64-bit store is not torn on 64-bit CPUs; on a 32-bit one a reader may
// see a carry into the high half late (a figure off for a moment, which a
// diagnostic may be). A locked add here cost a full barrier per call on
// the serve path, before the publish CAS that is one already.
func bump(p *uint64) { *p++ }

// countServed counts an answer of type rt in the host slot of header hd,
// before its publish (the worker owns the slot's line until then).
func (g *Guest) countServed(hd *slotHeader, rt MsgType) {
	s := &g.ctrSlots[g.slotIndex(&hd.ctrl)]
	bump(&s.respServed)
	if rt == MsgSystemError {
		bump(&s.respErrors)
	}
}

// countSleep counts a sleep on slot word ctrl by its requester (req) or
// its responder; a requester's first sleep of a call also stamps req_time
// unless stamped. It returns true (stamped).
func (g *Guest) countSleep(ctrl *uint32, req, stamped bool) bool {
	s := &g.ctrSlots[g.slotIndex(ctrl)]
	if !req {
		atomic.AddUint64(&s.respSleeps, 1)
		return true
	}
	if !stamped {
		// Plain store beside the request fields; diagnostic only.
		g.slots[g.slotIndex(ctrl)].hdr.reqTime = uint64(g.monoNow())
	}
	atomic.AddUint64(&s.reqSleeps, 1)
	return true
}

// countOtherWake counts a wake-up of the host on the attach word or the
// doorbell.
func (g *Guest) countOtherWake() { atomic.AddUint64(&g.ctrSide.otherWakes, 1) }

// countCallEnd counts a guest call that ended with err (not nil).
func (g *Guest) countCallEnd(err error) {
	c := g.ctrSide
	switch {
	case errors.Is(err, ErrTimeout):
		atomic.AddUint64(&c.timeouts, 1)
	case errors.Is(err, ErrPeerGone):
		atomic.AddUint64(&c.peerGone, 1)
	case errors.Is(err, ErrRemote):
		atomic.AddUint64(&c.remote, 1)
	case errors.Is(err, ErrCorrupt):
		atomic.AddUint64(&c.corrupt, 1)
	}
}
