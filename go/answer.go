package shmipc

import (
	"context"
	"encoding/binary"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// Large answers (docs/PROTOCOL.md, "Large answers"): a handler's answer
// larger than the slot's response buffer is parked by the guest and
// announced with MsgLargeAnswer; the host pulls it with MsgAnswerPull
// requests, several at once on several host slots.

// The message types of large answers.
const (
	// MsgLargeAnswer is the response that announces a parked answer.
	MsgLargeAnswer MsgType = 6
	// MsgAnswerPull asks for part of a parked answer, and answers it.
	MsgAnswerPull MsgType = 7
)

// Wire sizes and flags (tests/layout.golden, "answer", "pull", "pullresp").
const (
	// Field offsets; a field's size is its integer's.
	answerID, answerTotal, answerType, answerFlags = 0, 8, 16, 20
	pullID, pullOffset, pullLen, pullFlags         = 0, 8, 16, 20
	pullRespStatus, pullRespState, pullRespTotal   = 0, 4, 8

	answerHdrSize = 32 // the announcement
	pullHdrSize   = 32 // a pull request
	pullRespSize  = 16 // the header of a pull's answer
	pullRelease   = 1  // free the answer after this pull
	pullAbort     = 2  // free the answer now
	// answerMinCap is the smallest slot capacity large answers work with.
	answerMinCap = 32
	// expiredRing is how many ids dropped by the idle timeout are
	// remembered, to answer PullExpired rather than PullUnknown.
	expiredRing = 64
)

// PullStatus is the status of a pull's answer.
type PullStatus uint32

// The pull statuses (docs/PROTOCOL.md, "Large answers"), the values of the
// C library's.
const (
	PullOK        PullStatus = 0 // the bytes follow
	PullMalformed PullStatus = 1 // not a well-formed pull
	PullUnknown   PullStatus = 2 // no parked answer with this id
	PullBounds    PullStatus = 3 // outside the answer or the slot
	PullExpired   PullStatus = 4 // dropped by the idle timeout
	PullAborted   PullStatus = 5 // dropped as the pull asked
)

var pullStatusNames = [...]string{"ok", "malformed", "unknown", "bounds", "expired", "aborted"}

// String returns the status's name as the conformance vectors spell it.
func (s PullStatus) String() string {
	if int(s) < len(pullStatusNames) {
		return pullStatusNames[s]
	}
	return "PullStatus(" + strconv.FormatUint(uint64(s), 10) + ")"
}

// AnswerState is the state field of a pull's answer: the parked answer
// after the pull.
type AnswerState uint32

// The answer states.
const (
	AnswerNone     AnswerState = 0 // no such answer
	AnswerOpen     AnswerState = 1 // still parked
	AnswerReleased AnswerState = 2 // freed after this pull
	AnswerDropped  AnswerState = 3 // freed
)

var answerStateNames = [...]string{"none", "open", "released", "dropped"}

// String returns the state's name as the conformance vectors spell it.
func (s AnswerState) String() string {
	if int(s) < len(answerStateNames) {
		return answerStateNames[s]
	}
	return "AnswerState(" + strconv.FormatUint(uint64(s), 10) + ")"
}

// AnswerHandler answers one request as a Handler does, or with a large
// answer: when big is not nil the guest answers with big (n is ignored),
// whatever its length up to the AnswerLimits. An answer that fits the
// response buffer is copied there; a larger one is parked, without a
// copy, and copied out as the host pulls it, so big must not change until
// the guest is done with it: pulled to the end, dropped by the host,
// expired, or the session ended (AnswerLimits.Release, if set, is told).
// An answer the limits refuse is answered MsgSystemError with the reason.
// An answer written into resp may be end-aligned (RespEndAligned, as for a
// Handler); with big, RespEndAligned means nothing and is dropped.
type AnswerHandler func(req, resp []byte, t MsgType) (n int, big []byte, rt MsgType)

// AnswerLimits bounds what a guest parks, with the semantics of the stream
// receiver's limits.
type AnswerLimits struct {
	MaxAnswer   uint64        // largest answer parked, in bytes
	MaxTotal    uint64        // bytes of all parked answers
	MaxAnswers  int           // answers parked at once (1..65536)
	IdleTimeout time.Duration // a parked answer nobody pulled this long is dropped (> 0)
	// Release, if not nil, is called once with each large answer's bytes
	// when the guest no longer needs them (also for an answer copied into
	// the slot, or refused); on a worker goroutine or in ServeAnswers.
	Release func(big []byte)
}

// DefaultAnswerLimits returns the protocol's defaults: 1 GiB per answer,
// 1 GiB in all, 16 answers, a 10 s idle timeout.
func DefaultAnswerLimits() AnswerLimits {
	return AnswerLimits{MaxAnswer: 1 << 30, MaxTotal: 1 << 30, MaxAnswers: 16, IdleTimeout: 10 * time.Second}
}

// AnswerStats are an Answers table's counters.
type AnswerStats struct {
	Parked   int    // answers parked now
	Held     uint64 // bytes held now (parked, or being copied out)
	PeakHeld uint64 // the most ever held at once
	Released uint64 // answers pulled to the end
	Dropped  uint64 // answers dropped (aborted, expired, refused, out of bounds, session ended)
	Expired  uint64 // of those, by the idle timeout
}

type parkedAnswer struct {
	id      uint64
	data    []byte
	touched time.Duration // clock of the park or of the last pull
	copiers int           // pulls copying out of it now
	linked  bool          // still in the table
}

// Answers is a guest's table of parked large answers, serving the pulls
// and the AnswerHandler's other requests (its Handle is a Handler). Safe
// for the concurrent workers of one Serve.
type Answers struct {
	lim    AnswerLimits
	h      AnswerHandler
	reqCap int // the segment's request capacity (0: not known)
	now    func() time.Duration

	mu         sync.Mutex
	byID       map[uint64]*parkedAnswer
	nextID     uint64
	held       uint64
	st         AnswerStats
	expiredIDs [expiredRing]uint64
	expiredAt  int
}

var answerEpoch = time.Now()

// NewAnswers makes a table with limits lim whose requests go to h.
func NewAnswers(lim AnswerLimits, h AnswerHandler) (*Answers, error) {
	if h == nil {
		return nil, fmt.Errorf("%w: nil AnswerHandler", ErrInvalid)
	}
	if lim.MaxAnswers < 1 || lim.MaxAnswers > 65536 {
		return nil, fmt.Errorf("%w: MaxAnswers %d outside 1..65536", ErrInvalid, lim.MaxAnswers)
	}
	if lim.IdleTimeout <= 0 {
		return nil, fmt.Errorf("%w: IdleTimeout %v, want more than 0", ErrInvalid, lim.IdleTimeout)
	}
	return &Answers{
		lim:  lim,
		h:    h,
		now:  func() time.Duration { return time.Since(answerEpoch) },
		byID: make(map[uint64]*parkedAnswer),
	}, nil
}

// Stats returns the table's counters.
func (a *Answers) Stats() AnswerStats {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := a.st
	st.Parked = len(a.byID)
	st.Held = a.held
	return st
}

// ServeAnswers is Serve with a handler that may answer large answers
// (through a, made by NewAnswers). Idle answers are swept on every pull and
// every liveness interval; every parked answer is dropped when Serve
// returns (the host closed, died or was replaced, Close, ctx).
func (g *Guest) ServeAnswers(ctx context.Context, a *Answers) error {
	if a == nil {
		return fmt.Errorf("%w: nil Answers", ErrInvalid)
	}
	a.mu.Lock()
	a.reqCap = g.ReqCapacity()
	a.mu.Unlock()
	defer a.clear()
	return g.serve(ctx, a.Handle, a.sweep)
}

// release gives a large answer's bytes back to the application.
func (a *Answers) release(b []byte) {
	if a.lim.Release != nil {
		a.lim.Release(b)
	}
}

// unlinkLocked takes p out of the table; its bytes are released now
// (returned) or by the last pull still copying out of them.
func (a *Answers) unlinkLocked(p *parkedAnswer, released bool) *parkedAnswer {
	delete(a.byID, p.id)
	p.linked = false
	if released {
		a.st.Released++
	} else {
		a.st.Dropped++
	}
	if p.copiers == 0 {
		return p
	}
	return nil
}

// free forgets p's bytes (outside the lock).
func (a *Answers) free(p *parkedAnswer) {
	a.release(p.data)
	a.mu.Lock()
	a.held -= uint64(len(p.data))
	a.mu.Unlock()
}

// sweepLocked unlinks the idle answers into gone.
func (a *Answers) sweepLocked(now time.Duration, gone []*parkedAnswer) []*parkedAnswer {
	for _, p := range a.byID {
		if p.copiers == 0 && now-p.touched > a.lim.IdleTimeout {
			a.expiredIDs[a.expiredAt%expiredRing] = p.id
			a.expiredAt++
			a.st.Expired++
			if q := a.unlinkLocked(p, false); q != nil {
				gone = append(gone, q)
			}
		}
	}
	return gone
}

func (a *Answers) sweep() {
	now := a.now()
	a.mu.Lock()
	if len(a.byID) == 0 {
		a.mu.Unlock()
		return
	}
	gone := a.sweepLocked(now, nil)
	a.mu.Unlock()
	for _, p := range gone {
		a.free(p)
	}
}

// clear drops every parked answer (Serve ended).
func (a *Answers) clear() {
	a.mu.Lock()
	var gone []*parkedAnswer
	for _, p := range a.byID {
		if q := a.unlinkLocked(p, false); q != nil {
			gone = append(gone, q)
		}
	}
	a.mu.Unlock()
	for _, p := range gone {
		a.free(p)
	}
}

// Handle serves one request: a pull from the table, anything else through
// the AnswerHandler. It is a Handler. The small-answer path does not
// allocate.
func (a *Answers) Handle(req, resp []byte, t MsgType) (int, MsgType) {
	if t == MsgAnswerPull && len(resp) >= pullRespSize {
		return a.pull(req, resp), MsgAnswerPull
	}
	n, big, rt := a.h(req, resp, t)
	if big == nil {
		return n, rt
	}
	return a.park(big, resp, rt)
}

// refuse answers a refusal of the limits as SYSTEM_ERROR text.
func refuse(resp []byte, what string, got, limit uint64) (int, MsgType) {
	return sizeReason(resp, "large answer: "+what, got, limit), MsgSystemError
}

// park answers big: in the slot when it fits, else parked and announced.
func (a *Answers) park(big, resp []byte, rt MsgType) (int, MsgType) {
	// big is copied to the start of resp or pulled in order.
	rt &^= RespEndAligned
	if len(big) <= len(resp) {
		n := copy(resp, big)
		a.release(big)
		return n, rt
	}
	now := a.now()
	n := uint64(len(big))
	a.mu.Lock()
	gone := a.sweepLocked(now, nil)
	var why string
	var got, limit uint64
	switch {
	case len(resp) < answerMinCap || (a.reqCap != 0 && a.reqCap < answerMinCap):
		why, got, limit = "slot capacity", uint64(len(resp)), answerMinCap
		if a.reqCap != 0 && a.reqCap < len(resp) {
			got = uint64(a.reqCap)
		}
	case n > a.lim.MaxAnswer:
		why, got, limit = "length", n, a.lim.MaxAnswer
	case len(a.byID) >= a.lim.MaxAnswers:
		why, got, limit = "answers parked", uint64(len(a.byID)), uint64(a.lim.MaxAnswers)
	case a.held > a.lim.MaxTotal || n > a.lim.MaxTotal-a.held:
		why, got, limit = "bytes parked", n+a.held, a.lim.MaxTotal
	}
	var p *parkedAnswer
	if why == "" {
		a.nextID++
		p = &parkedAnswer{id: a.nextID, data: big, touched: now, linked: true}
		a.byID[p.id] = p
		a.held += n
		if a.held > a.st.PeakHeld {
			a.st.PeakHeld = a.held
		}
	} else {
		a.st.Dropped++
	}
	a.mu.Unlock()
	for _, q := range gone {
		a.free(q)
	}
	if p == nil {
		a.release(big)
		return refuse(resp, why, got, limit)
	}
	le := binary.LittleEndian
	le.PutUint64(resp[answerID:], p.id)
	le.PutUint64(resp[answerTotal:], n)
	le.PutUint32(resp[answerType:], uint32(rt))
	le.PutUint32(resp[answerFlags:], 0)
	le.PutUint64(resp[answerFlags+4:], 0) // reserved
	return answerHdrSize, MsgLargeAnswer
}

func (a *Answers) expiredRecently(id uint64) bool {
	for _, e := range a.expiredIDs {
		if e == id {
			return true
		}
	}
	return false
}

// putPullResp writes a pull answer's header.
func putPullResp(resp []byte, st PullStatus, state AnswerState, total uint64) {
	le := binary.LittleEndian
	le.PutUint32(resp[pullRespStatus:], uint32(st))
	le.PutUint32(resp[pullRespState:], uint32(state))
	le.PutUint64(resp[pullRespTotal:], total)
}

// pull answers one pull (docs/PROTOCOL.md, "Guest rules", in its order).
func (a *Answers) pull(req, resp []byte) int {
	if len(req) != pullHdrSize {
		putPullResp(resp, PullMalformed, AnswerNone, 0)
		return pullRespSize
	}
	le := binary.LittleEndian
	id, off := le.Uint64(req[pullID:]), le.Uint64(req[pullOffset:])
	n, flags, reserved := le.Uint32(req[pullLen:]), le.Uint32(req[pullFlags:]), le.Uint64(req[pullFlags+4:])
	if id == 0 || reserved != 0 || flags&^(pullRelease|pullAbort) != 0 || flags == pullRelease|pullAbort {
		putPullResp(resp, PullMalformed, AnswerNone, 0)
		return pullRespSize
	}
	now := a.now()
	a.mu.Lock()
	var gone []*parkedAnswer
	if len(a.byID) > 0 {
		gone = a.sweepLocked(now, nil)
	}
	p := a.byID[id]
	st, state, total := PullOK, AnswerOpen, uint64(0)
	var last *parkedAnswer
	switch {
	case p == nil:
		st, state = PullUnknown, AnswerNone
		if a.expiredRecently(id) {
			st = PullExpired
		}
	case flags&pullAbort != 0:
		total = uint64(len(p.data))
		st, state = PullAborted, AnswerDropped
		last = a.unlinkLocked(p, false)
	case uint64(n) > uint64(len(resp)-pullRespSize) || off > uint64(len(p.data)) || uint64(n) > uint64(len(p.data))-off:
		total = uint64(len(p.data))
		st, state = PullBounds, AnswerDropped
		last = a.unlinkLocked(p, false)
	default:
		total = uint64(len(p.data))
		p.touched = now
		p.copiers++
		if flags&pullRelease != 0 {
			state = AnswerReleased
			a.unlinkLocked(p, true) // copiers > 0: freed below
		}
	}
	a.mu.Unlock()
	for _, q := range gone {
		a.free(q)
	}
	if last != nil {
		a.free(last)
	}
	putPullResp(resp, st, state, total)
	if st != PullOK {
		return pullRespSize
	}
	// Outside the lock: pulls of one answer copy in parallel.
	copy(resp[pullRespSize:pullRespSize+int(n)], p.data[off:off+uint64(n)])
	a.mu.Lock()
	p.copiers--
	done := p.copiers == 0 && !p.linked
	a.mu.Unlock()
	if done {
		a.free(p)
	}
	return pullRespSize + int(n)
}
