package shmipc

// The stream receiver (docs/PROTOCOL.md, "Streams"). A Reassembler is a
// Handler: it answers MsgStreamStart and MsgStreamChunk and passes every
// other message to the next Handler. One mutex guards the bookkeeping only;
// chunk data are copied outside it, so workers serving chunks of one stream
// copy in parallel.
//
// Each message is a short run of locked sections: a START is admit (the
// checks, the reservation), the allocation without the lock, then opened;
// a CHUNK is claim (the checks, takeRange), the copy without the lock, then
// copied (and deliverStream when the copy completed the stream). The C
// receiver (src/reassembler.c) has the same rules and names (copying,
// takeRange/take_range, deliver, retire, span, drop, sweep) with one
// difference: it calls malloc under its mutex, since malloc does not touch
// the memory, while make() here returns zeroed memory, which can mean
// writing the whole buffer; so the allocation runs without the lock and the
// stream is marked opening meanwhile.

import (
	"encoding/binary"
	"fmt"
	"math"
	"sync"
	"time"
)

// Stream header and response sizes and the one chunk flag.
const (
	streamHeaderSize = 32
	streamRespSize   = 16
	streamFlagAbort  = 1
	// parkedPrealloc bounds the parked ranges allocated at STREAM_START;
	// a stream that parks more grows its list.
	parkedPrealloc = 64
	// spareMin is the smallest buffer kept as the spare (Recycle, or a
	// dropped stream's): below it, allocating and zeroing a new one costs
	// little.
	spareMin = 4 << 20
	// A stream shorter than blockSize is reassembled in a block of
	// blockSize bytes, taken from a pool of at most blockPool blocks, and
	// its bytes are copied out to a buffer of their own at delivery. The
	// blocks are reused, never left to the garbage collector, so short
	// streams opened and abandoned make no garbage; every longer buffer is
	// at least blockSize and gives back its pages when it is discarded
	// (releasePages), so that what stays resident of a discarded buffer is
	// at most its last partial page, under 1/16 of it.
	blockSize = 64 << 10
	blockPool = 16
	// Streams of streamingTotal bytes or more are larger than the caches:
	// their chunks of streamingMin bytes or more are copied with streaming
	// stores (copyStreaming), as the C receiver does.
	streamingTotal = 16 << 20
	streamingMin   = 64 << 10
)

// StreamLimits bounds what a peer can make a Reassembler hold
// (docs/PROTOCOL.md, "Receiver limits").
//
// MaxTotal bounds the resident memory too. On Linux the memory a
// Reassembler holds for streams (open, dropped, kept for reuse, discarded
// and not yet collected) stays within 1.1 x MaxTotal + 64 KiB x
// (MaxStreams + 16) with the garbage collector's default pacing
// (GOGC=100): a stream's buffer is reused for the next stream of the same
// length or its pages go back to the kernel when it is dropped, and short
// streams are reassembled in pooled 64 KiB blocks. A delivered buffer is
// the StreamFunc's from then on and counts no more; one that is dropped
// rather than given back with Recycle waits for the garbage collector. On
// other systems a discarded buffer's memory waits for the garbage
// collector too, and the process may hold about twice MaxTotal.
type StreamLimits struct {
	MaxStream   uint64        // largest advertised total accepted, in bytes
	MaxTotal    uint64        // sum of the totals of open streams, in bytes
	MaxStreams  int           // open streams at once (>= 1)
	MaxParked   int           // parked ranges per stream (>= 0, fits 32 bits)
	IdleTimeout time.Duration // an open stream idle longer than this is dropped (> 0)
}

// DefaultStreamLimits returns the protocol's default limits: 1 GiB per
// stream, 1 GiB over all open streams, 16 open streams, 64 parked ranges
// per stream and a 10 s idle timeout.
func DefaultStreamLimits() StreamLimits {
	return StreamLimits{
		MaxStream:   1 << 30,
		MaxTotal:    1 << 30,
		MaxStreams:  16,
		MaxParked:   64,
		IdleTimeout: 10 * time.Second,
	}
}

// StreamFunc receives a complete stream: its identifier, its application
// type and its bytes, which from then on belong to the callee. It is called
// once per stream, outside the Reassembler's lock, possibly from several
// goroutines at once (for different streams). A non-nil error refuses the
// stream: the sender's message is answered StreamRefused, state
// StreamDropped.
//
// appType is the application type the sender gave the stream (a MsgType,
// usually MsgAppStart or above, as for ordinary requests).
type StreamFunc func(id uint64, appType MsgType, data []byte) error

// StreamReason is the status field of a stream response: 0 for accepted,
// otherwise why the message was refused.
type StreamReason uint32

// The stream status codes (docs/PROTOCOL.md, "Receiver rules"), the same
// values as the C header's SHMIPC_STREAM_* reasons.
const (
	// StreamOK: accepted.
	StreamOK StreamReason = 0
	// StreamMalformed: not a well-formed stream message.
	StreamMalformed StreamReason = 1
	// StreamUnknown: no open stream with this id.
	StreamUnknown StreamReason = 2
	// StreamDuplicate: the id is already open.
	StreamDuplicate StreamReason = 3
	// StreamTooBig: above the size or memory limit.
	StreamTooBig StreamReason = 4
	// StreamTooMany: too many open streams.
	StreamTooMany StreamReason = 5
	// StreamBounds: chunk outside the advertised total.
	StreamBounds StreamReason = 6
	// StreamOverlap: chunk repeats bytes already received.
	StreamOverlap StreamReason = 7
	// StreamEmpty: chunk without data.
	StreamEmpty StreamReason = 8
	// StreamParked: too many out-of-order chunks.
	StreamParked StreamReason = 9
	// StreamMismatch: total or type differ from the start.
	StreamMismatch StreamReason = 10
	// StreamAborted: the sender aborted the stream.
	StreamAborted StreamReason = 11
	// StreamNoMem: the receiver ran out of memory.
	StreamNoMem StreamReason = 12
	// StreamRefused: the StreamFunc refused it.
	StreamRefused StreamReason = 13
)

var streamReasonNames = [...]string{
	"ok", "malformed", "unknown", "duplicate", "too_big", "too_many", "bounds",
	"overlap", "empty", "parked", "mismatch", "aborted", "nomem", "refused",
}

// String returns the reason's name as the conformance vectors spell it
// ("ok", "too_big", ...).
func (s StreamReason) String() string {
	if int(s) < len(streamReasonNames) {
		return streamReasonNames[s]
	}
	return fmt.Sprintf("StreamReason(%d)", uint32(s))
}

// StreamState is the state field of a stream response: the stream after
// the message.
type StreamState uint32

// The stream states (docs/PROTOCOL.md, "Streams").
const (
	// StreamNone: no such stream (never opened, or already forgotten).
	StreamNone StreamState = 0
	// StreamOpen: open, waiting for more chunks.
	StreamOpen StreamState = 1
	// StreamComplete: every byte arrived and the stream was delivered.
	StreamComplete StreamState = 2
	// StreamDropped: the stream is dropped (refused or aborted); later
	// messages for it are refused.
	StreamDropped StreamState = 3
)

var streamStateNames = [...]string{"none", "open", "complete", "dropped"}

// String returns the state's name as the conformance vectors spell it.
func (s StreamState) String() string {
	if int(s) < len(streamStateNames) {
		return streamStateNames[s]
	}
	return fmt.Sprintf("StreamState(%d)", uint32(s))
}

// StreamStats is a snapshot of a Reassembler's counters.
type StreamStats struct {
	// Open is the number of open streams.
	Open int
	// Reserved is the bytes of stream buffers held: the totals of the open
	// streams, plus those of dropped streams whose last chunk copy is still
	// running. It never exceeds MaxTotal.
	Reserved uint64
	// PeakReserved is the largest Reserved + Cached seen.
	PeakReserved uint64
	// Cached is the length of a buffer kept for a next stream of the same
	// length: a recycled one (see Recycle) or a dropped stream's.
	// Reserved + Cached never exceeds MaxTotal.
	Cached uint64
	// Delivered counts streams handed to the StreamFunc and accepted.
	Delivered uint64
	// Dropped counts streams dropped: aborted, refused by a check, idle,
	// or refused by the StreamFunc.
	Dropped uint64
}

// span is a taken range [start, end) of a stream.
type span struct{ start, end uint64 }

// stream is one open (or, while workers still copy into it, dropped)
// stream. All fields are guarded by Reassembler.mu; buf's bytes are
// written outside it, each byte by the one message that took it.
type stream struct {
	id      uint64
	total   uint64
	appType uint32
	opening bool          // STREAM_START is still allocating buf
	dropped bool          // no longer in the table; copiers answer DROPPED
	buf     []byte        // total bytes
	next    uint64        // bytes [0, next) are taken
	parked  []span        // sorted, disjoint, non-touching, all above next
	copied  uint64        // bytes copied into buf
	copying int           // messages copying into buf now
	last    time.Duration // START or the last accepted chunk
}

// Reassembler receives streams (docs/PROTOCOL.md, "Streams") and hands
// each complete one to a StreamFunc. Its Handle method is a Handler for
// Guest.Serve: it answers MsgStreamStart and MsgStreamChunk and passes
// every other message to the next Handler. It is safe for concurrent use.
type Reassembler struct {
	lim  StreamLimits
	fn   StreamFunc
	next Handler

	// now is the receiver's clock; tests replace it before use.
	now func() time.Duration
	// copyHook, if set, runs after a chunk's range is taken and before
	// its bytes are copied (tests use it to drop a stream mid-copy).
	copyHook func(id uint64)

	mu           sync.Mutex
	streams      map[uint64]*stream
	open         int
	reserved     uint64
	peakReserved uint64
	delivered    uint64
	dropped      uint64
	// spare is a recycled buffer for a next stream of its length, kept at
	// most IdleTimeout after spareAt; reserved + len(spare) <= MaxTotal.
	spare   []byte
	spareAt time.Duration
	// blocks are the free blocks for streams shorter than blockSize, at
	// most blockPool; records are free stream records. Both are reused so
	// that a stream opened and abandoned allocates nothing.
	blocks  [][]byte
	records []*stream
	// idleFloor is at most the last-activity time of every open stream, so
	// the sweep can skip its scan while now - idleFloor <= IdleTimeout.
	idleFloor time.Duration
}

// NewReassembler returns a Reassembler with limits lim that hands complete
// streams to deliver and every message that is not a stream message to
// next. It returns ErrInvalid (wrapped) if deliver or next is nil or a
// limit is out of range: MaxStreams < 1, MaxParked < 0 or above 2^32-1,
// IdleTimeout <= 0.
func NewReassembler(lim StreamLimits, deliver StreamFunc, next Handler) (*Reassembler, error) {
	switch {
	case deliver == nil:
		return nil, fmt.Errorf("%w: nil StreamFunc", ErrInvalid)
	case next == nil:
		return nil, fmt.Errorf("%w: nil Handler", ErrInvalid)
	case lim.MaxStreams < 1:
		return nil, fmt.Errorf("%w: MaxStreams %d, want at least 1", ErrInvalid, lim.MaxStreams)
	case lim.MaxParked < 0 || uint64(lim.MaxParked) > math.MaxUint32:
		return nil, fmt.Errorf("%w: MaxParked %d, want 0 to %d", ErrInvalid, lim.MaxParked, uint32(math.MaxUint32))
	case lim.IdleTimeout <= 0:
		return nil, fmt.Errorf("%w: IdleTimeout %v, want more than 0", ErrInvalid, lim.IdleTimeout)
	}
	hint := lim.MaxStreams
	if hint > 1024 {
		hint = 1024
	}
	epoch := time.Now()
	return &Reassembler{
		lim:     lim,
		fn:      deliver,
		next:    next,
		now:     func() time.Duration { return time.Since(epoch) },
		streams: make(map[uint64]*stream, hint),
	}, nil
}

// Stats returns a snapshot of the Reassembler's counters.
func (r *Reassembler) Stats() StreamStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return StreamStats{Open: r.open, Reserved: r.reserved, PeakReserved: r.peakReserved,
		Delivered: r.delivered, Dropped: r.dropped, Cached: uint64(len(r.spare))}
}

// Recycle gives back a buffer that a StreamFunc received and no longer
// uses, not even through another slice. The Reassembler may keep it
// (one buffer of 4 MiB or more, counted against MaxTotal, for at most
// IdleTimeout) and hand it, every byte overwritten, to a later stream of
// the same length instead of allocating and zeroing a new one; a buffer
// of 4 MiB or more that it does not keep gives back its pages at once
// (Linux) and reads as zeros. Calling it is optional; a buffer not
// recycled is left to the garbage collector.
func (r *Reassembler) Recycle(buf []byte) {
	if uint64(len(buf)) < spareMin {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.retireLocked(buf[:len(buf):len(buf)])
}

// Handle is the Reassembler's Handler. It answers MsgStreamStart and
// MsgStreamChunk with the 16-byte stream response and the request's type,
// and passes every other message to the next Handler. A response buffer
// shorter than 16 bytes cannot hold the answer: the message is then not
// processed and Handle returns n < 0, which Serve turns into
// MsgSystemError.
func (r *Reassembler) Handle(req, resp []byte, t MsgType) (n int, rt MsgType) {
	if t != MsgStreamStart && t != MsgStreamChunk {
		return r.next(req, resp, t)
	}
	if len(resp) < streamRespSize {
		return -1, t
	}
	var status StreamReason
	var state StreamState
	if t == MsgStreamStart {
		status, state = r.start(req)
	} else {
		status, state = r.chunk(req)
	}
	le := binary.LittleEndian
	le.PutUint32(resp[0:], uint32(status))
	le.PutUint32(resp[4:], uint32(state))
	le.PutUint32(resp[8:], uint32(r.lim.MaxParked))
	le.PutUint32(resp[12:], 0)
	return streamRespSize, t
}

// streamHeader is a stream message's header, read once from the request:
// the host may rewrite shared memory at any time, so nothing is read twice.
type streamHeader struct {
	id, total, offset uint64
	appType, flags    uint32
}

// parseStreamHeader reads the header of req, which has at least 32 bytes.
func parseStreamHeader(req []byte) streamHeader {
	le := binary.LittleEndian
	return streamHeader{
		id:      le.Uint64(req[0:]),
		total:   le.Uint64(req[8:]),
		offset:  le.Uint64(req[16:]),
		appType: le.Uint32(req[24:]),
		flags:   le.Uint32(req[28:]),
	}
}

// lockAndSweep begins every stream message: it parses the header (zero
// when req is too short for one; the message's checks then refuse it),
// takes r.mu and sweeps the idle streams first, as the spec orders. It
// returns with r.mu held.
func (r *Reassembler) lockAndSweep(req []byte) (streamHeader, time.Duration) {
	var h streamHeader
	if len(req) >= streamHeaderSize {
		h = parseStreamHeader(req)
	}
	r.mu.Lock()
	now := r.now()
	r.sweepLocked(now)
	return h, now
}

// start answers a STREAM_START: lock, check and reserve, unlock, allocate
// the buffer (unless a pooled one fits), lock, open.
func (r *Reassembler) start(req []byte) (StreamReason, StreamState) {
	h, s, buf, reason, state := r.admit(req)
	switch {
	case reason != StreamOK:
		return reason, state
	case s == nil: // an empty stream is complete at once
		return r.deliver(h.id, h.appType, []byte{})
	}
	if buf == nil {
		buf = allocStream(maxU64(h.total, blockSize))
	}
	return r.opened(s, buf)
}

// admit runs the checks of the STREAM_START table, in its order, and
// reserves the stream's bytes. It returns the stream, entered in the table
// as opening (it counts as open for DUPLICATE, TOO_MANY and the budget, and
// chunks for it are UNKNOWN: a sender waits for the START answer before it
// sends chunks), with a pooled buffer if one fits; no stream and StreamOK
// for an empty stream; or why the START is refused.
func (r *Reassembler) admit(req []byte) (h streamHeader, s *stream, buf []byte, reason StreamReason, state StreamState) {
	h, now := r.lockAndSweep(req)
	defer r.mu.Unlock()
	switch {
	case len(req) != streamHeaderSize || h.id == 0 || h.offset != 0 || h.flags != 0:
		return h, nil, nil, StreamMalformed, StreamNone
	case r.streams[h.id] != nil:
		return h, nil, nil, StreamDuplicate, StreamOpen
	case h.total > r.lim.MaxStream:
		return h, nil, nil, StreamTooBig, StreamNone
	case r.open >= r.lim.MaxStreams:
		return h, nil, nil, StreamTooMany, StreamNone
	case h.total > r.lim.MaxTotal-r.reserved: // reserved <= MaxTotal: no wrap
		return h, nil, nil, StreamTooBig, StreamNone
	case h.total > uint64(maxInt):
		return h, nil, nil, StreamNoMem, StreamNone
	case h.total == 0:
		return h, nil, nil, StreamOK, StreamComplete
	}
	s = r.recordLocked()
	*s = stream{id: h.id, total: h.total, appType: h.appType, opening: true, last: now, parked: s.parked[:0]}
	r.streams[h.id] = s
	r.open++
	switch {
	case h.total < blockSize:
		if n := len(r.blocks); n > 0 {
			buf, r.blocks = r.blocks[n-1], r.blocks[:n-1]
		}
	case uint64(len(r.spare)) == h.total:
		buf, r.spare = r.spare, nil // its length was counted already
	}
	if uint64(len(r.spare)) > r.lim.MaxTotal-r.reserved-h.total {
		releasePages(r.spare) // the new buffer and the spare would not both fit
		r.spare = nil
	}
	r.reserveLocked(h.total)
	return h, s, buf, StreamOK, StreamOpen
}

// opened ends the STREAM_START of s with its buffer, or with nil if none
// could be allocated.
func (r *Reassembler) opened(s *stream, buf []byte) (StreamReason, StreamState) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if buf == nil {
		delete(r.streams, s.id)
		r.open--
		r.reserved -= s.total
		r.records = append(r.records, s)
		return StreamNoMem, StreamNone
	}
	s.buf, s.opening = buf[:s.total], false
	// The idle clock starts when the stream can take chunks. now is read
	// under the lock, so it is not below idleFloor.
	s.last = r.now()
	return StreamOK, StreamOpen
}

// recordLocked returns a free stream record, with its parked list's room.
func (r *Reassembler) recordLocked() *stream {
	if n := len(r.records); n > 0 {
		s := r.records[n-1]
		r.records = r.records[:n-1]
		return s
	}
	return &stream{parked: make([]span, 0, minInt(r.lim.MaxParked, parkedPrealloc))}
}

// allocStream returns a zeroed buffer of n bytes, or nil if the runtime
// refuses that length. (Running out of memory for a length the runtime
// accepts ends the process; max_total is what prevents it.)
func allocStream(n uint64) (buf []byte) {
	defer func() {
		if recover() != nil {
			buf = nil
		}
	}()
	return make([]byte, int(n))
}

// chunk answers a STREAM_CHUNK: lock, check and take its range, unlock,
// copy its bytes, lock, count them and, if they completed the stream,
// deliver it.
func (r *Reassembler) chunk(req []byte) (StreamReason, StreamState) {
	s, dst, reason, state := r.claim(req)
	if s == nil {
		return reason, state
	}
	if r.copyHook != nil {
		r.copyHook(s.id)
	}
	// The range is this message's alone: no other message can take these
	// bytes, and the buffer lives while s.copying > 0.
	src := req[streamHeaderSize:]
	if s.total >= streamingTotal {
		copyStreaming(dst, src)
	} else {
		copy(dst, src)
	}
	if state, complete := r.copied(s, uint64(len(src))); !complete {
		return StreamOK, state
	}
	return r.deliverStream(s)
}

// claim runs the checks of the STREAM_CHUNK table, in its order, and takes
// the chunk's range of its stream. It returns the stream and the bytes of
// its buffer to copy the chunk into, its copy counted; or no stream and why
// the chunk is refused.
func (r *Reassembler) claim(req []byte) (s *stream, dst []byte, reason StreamReason, state StreamState) {
	h, now := r.lockAndSweep(req)
	defer r.mu.Unlock()
	if len(req) < streamHeaderSize || h.id == 0 || h.flags&^streamFlagAbort != 0 {
		return nil, nil, StreamMalformed, StreamNone
	}
	s = r.streams[h.id]
	if s == nil || s.opening {
		return nil, nil, StreamUnknown, StreamNone
	}
	n := uint64(len(req) - streamHeaderSize)
	switch {
	case h.flags&streamFlagAbort != 0:
		reason = StreamAborted
	case h.total != s.total || h.appType != s.appType:
		reason = StreamMismatch
	case n == 0:
		reason = StreamEmpty
	case h.offset > s.total || n > s.total-h.offset:
		reason = StreamBounds
	default:
		reason = r.takeRange(s, h.offset, h.offset+n) // no wrap: n <= total - offset
	}
	if reason != StreamOK {
		r.dropLocked(s)
		return nil, nil, reason, StreamDropped
	}
	s.last = now
	s.copying++
	return s, s.buf[h.offset : h.offset+n], StreamOK, StreamOpen
}

// takeRange takes the range [start, end) (start < end <= total) of s, or
// says why not: StreamOverlap or StreamParked. Under r.mu.
func (r *Reassembler) takeRange(s *stream, start, end uint64) StreamReason {
	if start < s.next {
		return StreamOverlap // bytes below next are taken
	}
	// at is the first parked range that ends at or after start; one that
	// ends exactly at start touches on the left, and then the range after
	// it, p[after], is the first that can overlap [start, end) (if it
	// starts below end) or touch it on the right (if it starts at end).
	p := s.parked
	at := searchParked(p, start)
	left := at < len(p) && p[at].end == start
	after := at
	if left {
		after++
	}
	if after < len(p) && p[after].start < end {
		return StreamOverlap
	}
	right := after < len(p) && p[after].start == end
	if start == s.next {
		// Parked ranges start above next, so none touches on the left,
		// and p[0] is absorbed if it starts at end.
		s.next = end
		if right {
			s.next = p[0].end
			s.parked = removeSpan(p, 0)
		}
		return StreamOK
	}
	switch {
	case left && right:
		p[at].end = p[after].end
		s.parked = removeSpan(p, after)
	case left:
		p[at].end = end
	case right:
		p[after].start = start
	default:
		if len(p) >= r.lim.MaxParked {
			return StreamParked
		}
		p = append(p, span{})
		copy(p[after+1:], p[after:])
		p[after] = span{start, end}
		s.parked = p
	}
	return StreamOK
}

// copied counts n bytes copied into s by a chunk and returns the chunk's
// answer state. complete is true when this copy completed the stream: s
// is then out of the table and no other message refers to it, and the
// caller delivers it (deliverStream).
func (r *Reassembler) copied(s *stream, n uint64) (state StreamState, complete bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s.copying--
	s.copied += n
	switch {
	case s.dropped:
		// Dropped while this message copied: its bytes were taken, the
		// stream is gone. The last copier frees it.
		if s.copying == 0 {
			r.freeStreamLocked(s)
		}
		return StreamDropped, false
	case s.copied < s.total:
		return StreamOpen, false
	}
	// Every taken byte is copied, so no other message copies into s.
	delete(r.streams, s.id)
	r.open--
	r.reserved -= s.total
	return StreamComplete, true
}

// deliverStream delivers the complete stream s, which copied took out of
// the table, and frees its record. A short stream's block goes back to the
// pool and the callee gets its own copy of the bytes.
func (r *Reassembler) deliverStream(s *stream) (StreamReason, StreamState) {
	id, appType, data := s.id, s.appType, s.buf
	if s.total < blockSize {
		data = append(make([]byte, 0, s.total), s.buf...)
	}
	r.mu.Lock()
	if s.total < blockSize {
		r.retireLocked(s.buf)
	}
	s.buf = nil
	r.records = append(r.records, s)
	r.mu.Unlock()
	return r.deliver(id, appType, data)
}

// deliver hands a complete stream to the StreamFunc, outside the lock, and
// answers for it. If the StreamFunc panics the stream counts as dropped
// and the panic goes on to Serve, which answers MsgSystemError.
func (r *Reassembler) deliver(id uint64, appType uint32, data []byte) (StreamReason, StreamState) {
	returned := false
	defer func() {
		if !returned {
			r.mu.Lock()
			r.dropped++
			r.mu.Unlock()
		}
	}()
	err := r.fn(id, MsgType(appType), data)
	returned = true
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.dropped++
		return StreamRefused, StreamDropped
	}
	r.delivered++
	return StreamOK, StreamComplete
}

// reserveLocked adds n bytes to the reservation.
func (r *Reassembler) reserveLocked(n uint64) {
	r.reserved += n
	if r.reserved+uint64(len(r.spare)) > r.peakReserved {
		r.peakReserved = r.reserved + uint64(len(r.spare))
	}
}

// dropLocked drops the open stream s. Its reservation lasts until no
// message copies into its buffer any more.
func (r *Reassembler) dropLocked(s *stream) {
	delete(r.streams, s.id)
	r.open--
	r.dropped++
	s.dropped = true
	if s.copying == 0 {
		r.freeStreamLocked(s)
	}
}

// freeStreamLocked ends a dropped stream that no message copies into any more:
// its reservation goes, its buffer is retired and its record is free.
func (r *Reassembler) freeStreamLocked(s *stream) {
	r.reserved -= s.total
	r.retireLocked(s.buf)
	s.buf = nil
	r.records = append(r.records, s)
}

// retireLocked takes back a stream buffer nothing refers to any more, no
// longer counted in reserved: a block goes back to the pool, a buffer of
// spareMin bytes or more that fits the budget becomes the spare, and any
// other buffer (or the spare it replaces) gives back its pages.
func (r *Reassembler) retireLocked(buf []byte) {
	n := uint64(len(buf))
	switch {
	case n < blockSize:
		buf = buf[:blockSize]
		if len(r.blocks) < blockPool {
			r.blocks = append(r.blocks, buf)
			return
		}
	case n >= spareMin && n <= r.lim.MaxTotal-r.reserved:
		releasePages(r.spare)
		r.spare, r.spareAt = buf, r.now()
		if r.reserved+n > r.peakReserved {
			r.peakReserved = r.reserved + n
		}
		return
	}
	releasePages(buf)
}

// sweepLocked drops every open stream whose START or last accepted chunk
// is more than IdleTimeout before now. Streams still opening are left
// alone: their START has not been answered yet.
func (r *Reassembler) sweepLocked(now time.Duration) {
	if r.spare != nil && now-r.spareAt > r.lim.IdleTimeout {
		releasePages(r.spare)
		r.spare = nil
	}
	if now-r.idleFloor <= r.lim.IdleTimeout {
		return
	}
	floor := now
	for _, s := range r.streams {
		switch {
		case s.opening:
			if s.last < floor {
				floor = s.last
			}
		case now-s.last > r.lim.IdleTimeout:
			r.dropLocked(s) // deleting during range is allowed
		case s.last < floor:
			floor = s.last
		}
	}
	r.idleFloor = floor
}

// searchParked returns the index of the first range of p that ends at or
// after off (len(p) if none).
func searchParked(p []span, off uint64) int {
	lo, hi := 0, len(p)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if p[m].end < off {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// removeSpan removes p[i], keeping the order.
func removeSpan(p []span, i int) []span {
	copy(p[i:], p[i+1:])
	return p[:len(p)-1]
}

// maxU64 returns the larger of a and b.
func maxU64(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}

// minInt returns the smaller of a and b (the built-in min is go1.21).
func minInt(a, b int) int {
	if a < b {
		return a
	}
	return b
}
