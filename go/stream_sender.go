package shmipc

// The stream sender of the guest (docs/PROTOCOL.md, "Streams", "Sender
// rules"): one STREAM_START, then the chunks in order of offset with up to
// K in flight on K guest slots, each written straight into its slot, to the
// host's receiver (shmipc_host_stream_receiver). It mirrors the C sender
// (src/stream.c): the same steps (sendChunks/send_chunks,
// takeAnswer/take_answer, abort/abort_stream) and the same rules: the
// oldest chunk's answer is awaited before another is sent, one deadline
// bounds the whole send, and the first failure is kept.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

const (
	// maxStreamDepth bounds StreamConfig.Depth, as the C sender's.
	maxStreamDepth = 64
	// defaultStreamDepth is the depth of a zero StreamConfig.
	defaultStreamDepth = 4
	// streamAbortTimeout bounds each of the abort's two waits.
	streamAbortTimeout = 100 * time.Millisecond
	// streamAnswerMax is the largest answer a sender reads: a stream
	// answer is 16 bytes, and what a host without a receiver sends back
	// to a START (an echo of its 32 bytes) must fit to be judged.
	streamAnswerMax = 64
)

// StreamConfig configures a StreamSender. The zero value is the default.
type StreamConfig struct {
	// Depth is the number of chunks in flight, 1-64 (0: 4). A depth above
	// the number of guest slots counts as that.
	Depth int
	// ChunkSize is the number of data bytes per chunk, at most
	// ReqCapacity() - 32 (0: that maximum).
	ChunkSize int
}

// StreamSender streams byte slices of any size to the host, whose receiver
// reassembles them (the C host's shmipc_host_stream_receiver). It is safe
// for concurrent use: each Send uses its own guest slots and its own
// stream id.
type StreamSender struct {
	g     *Guest
	depth int
	chunk int
}

// StreamError is the error of a failed Send: which stream, which chunk and
// why. Err is the cause, one of the package's errors (wrapped): ErrRefused
// (the host's receiver refused a message: Reason says why), ErrTimeout,
// ErrPeerGone, ErrClosed, ErrRemote (the host has no stream receiver),
// ErrCorrupt (an answer that is no legal stream answer), ErrInvalid or
// ErrTooBig. errors.Is sees through a StreamError to Err.
type StreamError struct {
	// ID is the stream's identifier.
	ID uint64
	// Reason is the receiver's reason for a refusal, StreamOK otherwise.
	Reason StreamReason
	// Chunk is the index of the chunk that failed, or -1 when none did:
	// the start failed or was refused, or the send failed before its
	// first chunk.
	Chunk int64
	// Offset is the byte offset of that chunk (0 when Chunk is -1).
	Offset uint64
	// Chunks is the number of chunks of the stream, Accepted how many the
	// receiver accepted.
	Chunks, Accepted uint64
	// Err is the cause.
	Err error
}

// Error describes the failure.
func (e *StreamError) Error() string {
	where := "at the start"
	if e.Chunk >= 0 {
		where = fmt.Sprintf("at chunk %d (offset %d)", e.Chunk, e.Offset)
	}
	if e.Reason != StreamOK {
		return fmt.Sprintf("%v: stream %d: %v %s", e.Err, e.ID, e.Reason, where)
	}
	return fmt.Sprintf("%v (stream %d, %s)", e.Err, e.ID, where)
}

// Unwrap returns the cause.
func (e *StreamError) Unwrap() error { return e.Err }

// NewStreamSender returns a sender for streams to the host over the guest
// slots. It returns ErrInvalid for a bad configuration, a segment without
// guest slots, or slots too small for streams (the request capacity must
// exceed 32 bytes, the response capacity hold 16).
func (g *Guest) NewStreamSender(cfg *StreamConfig) (*StreamSender, error) {
	var c StreamConfig
	if cfg != nil {
		c = *cfg
	}
	room := int(g.geo.reqCapacity) - streamHeaderSize
	switch {
	case c.Depth < 0 || c.Depth > maxStreamDepth:
		return nil, fmt.Errorf("%w: Depth %d outside 1..%d (0: %d)", ErrInvalid, c.Depth, maxStreamDepth, defaultStreamDepth)
	case g.geo.guestSlots == 0:
		return nil, fmt.Errorf("%w: the segment has no guest slots", ErrInvalid)
	case room <= 0:
		return nil, fmt.Errorf("%w: req_capacity %d leaves no room after the %d-byte stream header", ErrInvalid, g.geo.reqCapacity, streamHeaderSize)
	case g.geo.respCapacity < streamRespSize:
		return nil, fmt.Errorf("%w: resp_capacity %d cannot hold the %d-byte stream answer", ErrInvalid, g.geo.respCapacity, streamRespSize)
	case c.ChunkSize < 0 || c.ChunkSize > room:
		return nil, fmt.Errorf("%w: ChunkSize %d above %d (req_capacity %d minus the %d-byte header)", ErrInvalid, c.ChunkSize, room, g.geo.reqCapacity, streamHeaderSize)
	}
	if c.Depth == 0 {
		c.Depth = defaultStreamDepth
	}
	if c.ChunkSize == 0 {
		c.ChunkSize = room
	}
	return &StreamSender{g: g, depth: minInt(c.Depth, int(g.geo.guestSlots)), chunk: c.ChunkSize}, nil
}

// inflight is one message awaiting its answer.
type inflight struct {
	slot  int // among the guest slots
	gen   uint32
	seq   uint64
	index uint64
}

// sendState is one Send in progress; it lives on Send's stack.
type sendState struct {
	s         *StreamSender
	hdr       streamHeader
	data      []byte
	deadline  time.Duration
	chunks    uint64
	accepted  uint64
	completes int
	maxParked uint32
	// the first failure
	err    error
	reason StreamReason
	index  int64
	offset uint64
}

// Send sends data as one stream of application type appType and returns
// its id once the host's receiver accepted every chunk and delivered it.
// timeout bounds the whole send: 0 means Options.CallTimeout, Infinite no
// limit; other negative values are ErrInvalid. Any failure is a
// *StreamError. After a timeout, a local failure or Close the sender tries
// to abort the stream on the host (up to 200 ms more), so that the host
// frees its buffer before its idle timeout; a host that refused the stream
// or is gone gets no abort. Send makes no allocation per chunk.
func (s *StreamSender) Send(appType MsgType, data []byte, timeout time.Duration) (uint64, error) {
	g := s.g
	if !g.enter() {
		return 0, &StreamError{Chunk: -1, Err: errClosedLocally}
	}
	defer g.leave()
	x := sendState{s: s, data: data, index: -1}
	x.hdr = streamHeader{id: g.streamIDs.Add(1), total: uint64(len(data)), appType: uint32(appType)}
	if timeout == 0 {
		timeout = g.opts.CallTimeout
	}
	x.deadline = noDeadline
	switch {
	case timeout == Infinite:
	case timeout < 0:
		x.fail(fmt.Errorf("%w: timeout %v", ErrInvalid, timeout), 0, -1, 0)
		return x.hdr.id, x.result()
	default:
		if now := g.now(); timeout < noDeadline-now {
			x.deadline = now + timeout
		}
	}
	if len(data) > 0 {
		x.chunks = (uint64(len(data)) + uint64(s.chunk) - 1) / uint64(s.chunk)
	}

	i, gen, err := g.claim(x.deadline, nil)
	if err != nil {
		x.fail(err, 0, -1, 0)
		return x.hdr.id, x.result()
	}
	m, err := x.sendMessage(i, gen, MsgStreamStart, 0, 0, 0)
	if err != nil {
		x.fail(err, 0, -1, 0)
		return x.hdr.id, x.result()
	}
	state := x.takeAnswer(MsgStreamStart, m, -1, 0)
	if x.err != nil {
		return x.hdr.id, x.result()
	}
	// At most maxParked accepted chunks may wait ahead of the receiver's
	// in-order point, and at most depth - 1 can with depth in flight.
	depth := s.depth
	if uint64(x.maxParked) < uint64(depth) {
		depth = int(x.maxParked) + 1
	}
	switch {
	case state == StreamOpen && len(data) > 0:
		x.sendChunks(depth)
	case state != StreamComplete || len(data) > 0:
		x.fail(fmt.Errorf("%w: the start of a %d-byte stream was answered with state %v", ErrCorrupt, len(data), state), 0, -1, 0)
	}
	if x.err == nil && x.completes != 1 {
		x.fail(fmt.Errorf("%w: %d answers said the stream was complete, not 1", ErrCorrupt, x.completes), 0, -1, 0)
	}
	if x.err != nil && !errors.Is(x.err, ErrRefused) && !errors.Is(x.err, ErrPeerGone) {
		x.abort()
	}
	return x.hdr.id, x.result()
}

// fail records the first failure.
func (x *sendState) fail(err error, reason StreamReason, index int64, offset uint64) {
	if x.err != nil {
		return
	}
	x.err, x.reason, x.index, x.offset = err, reason, index, offset
}

// result is Send's error: nil, or the first failure as a *StreamError.
func (x *sendState) result() error {
	if x.err == nil {
		return nil
	}
	return &StreamError{ID: x.hdr.id, Reason: x.reason, Chunk: x.index, Offset: x.offset,
		Chunks: x.chunks, Accepted: x.accepted, Err: x.err}
}

// sendMessage writes the header of the message at offset, with n data
// bytes from there and flags, into claimed guest slot i and publishes it.
func (x *sendState) sendMessage(i int, gen uint32, t MsgType, offset uint64, n int, flags uint32) (inflight, error) {
	g := x.s.g
	sv := &g.slots[int(g.geo.hostSlots)+i]
	b := sv.req
	le := binary.LittleEndian
	le.PutUint64(b[0:], x.hdr.id)
	le.PutUint64(b[8:], x.hdr.total)
	le.PutUint64(b[16:], offset)
	le.PutUint32(b[24:], x.hdr.appType)
	le.PutUint32(b[28:], flags)
	if n > 0 {
		copy(b[streamHeaderSize:streamHeaderSize+n], x.data[offset:offset+uint64(n)])
	}
	seq, err := g.publish(sv, i, gen, t, streamHeaderSize+n, noDeadline)
	if err != nil {
		g.releaseClaimed(&sv.hdr.ctrl)
	}
	return inflight{slot: i, gen: gen, seq: seq}, err
}

// await waits for the answer to m until deadline and copies it into buf.
func (x *sendState) await(m inflight, buf []byte, deadline time.Duration) (int, MsgType, error) {
	g := x.s.g
	sv := &g.slots[int(g.geo.hostSlots)+m.slot]
	if err := g.awaitResponse(&sv.hdr.ctrl, m.gen, deadline, nil); err != nil {
		return g.abandon(sv, m.slot, m.gen, m.seq, buf, err)
	}
	return g.consume(sv, m.slot, m.seq, buf)
}

// takeAnswer waits for the answer to m (of type t: chunk index at offset,
// or the start for index -1), judges it and frees the slot. It returns the
// state the receiver reported.
func (x *sendState) takeAnswer(t MsgType, m inflight, index int64, offset uint64) StreamState {
	var buf [streamAnswerMax]byte
	n, rt, err := x.await(m, buf[:], x.deadline)
	if err != nil && !errors.Is(err, ErrRemote) && !errors.Is(err, ErrTruncated) {
		x.fail(err, 0, index, offset)
		return StreamNone
	}
	var resp []byte // nil: a SYSTEM_ERROR, or too long to be a stream's
	if err == nil {
		resp = buf[:n]
	}
	status, state, maxParked, err := parseStreamAnswer(t, rt, n, resp)
	if err != nil {
		x.fail(err, 0, index, offset)
		return StreamNone
	}
	if t == MsgStreamStart {
		x.maxParked = maxParked
	}
	if status != StreamOK {
		x.fail(ErrRefused, status, index, offset)
		return state
	}
	if index >= 0 {
		x.accepted++
	}
	switch state {
	case StreamComplete:
		x.completes++
	case StreamDropped:
		// accepted, but another message dropped the stream; its own
		// answer carries the reason, if it was ours to see
		x.fail(ErrRefused, StreamUnknown, index, offset)
	}
	return state
}

// sendChunks sends the chunks with up to depth in flight, oldest answer
// first.
func (x *sendState) sendChunks(depth int) {
	g := x.s.g
	var ring [maxStreamDepth]inflight
	chunk := uint64(x.s.chunk)
	total := uint64(len(x.data))
	var next uint64
	head, count := 0, 0
	for count > 0 || (next < x.chunks && x.err == nil) {
		if next < x.chunks && x.err == nil && count < depth {
			// With answers pending, take a free slot only if one is there
			// now; otherwise the oldest answer frees ours.
			var i int
			var gen uint32
			var err error
			ok := true
			if count == 0 {
				i, gen, err = g.claim(x.deadline, nil)
			} else {
				i, gen, ok, err = g.tryClaim()
			}
			off := next * chunk
			if err != nil {
				x.fail(err, 0, int64(next), off)
				continue
			}
			if ok {
				n := chunk
				if total-off < n {
					n = total - off
				}
				m, err := x.sendMessage(i, gen, MsgStreamChunk, off, int(n), 0)
				if err != nil {
					x.fail(err, 0, int64(next), off)
					continue
				}
				m.index = next
				ring[(head+count)%maxStreamDepth] = m
				next++
				count++
				continue
			}
		}
		m := ring[head]
		x.takeAnswer(MsgStreamChunk, m, int64(m.index), m.index*chunk)
		head = (head + 1) % maxStreamDepth
		count--
	}
}

// abort tells the host, best effort, to free a stream we gave up on.
func (x *sendState) abort() {
	g := x.s.g
	i, gen, err := g.claim(g.now()+streamAbortTimeout, nil)
	if err != nil {
		return
	}
	m, err := x.sendMessage(i, gen, MsgStreamChunk, 0, 0, streamFlagAbort)
	if err != nil {
		return
	}
	var buf [streamAnswerMax]byte
	_, _, _ = x.await(m, buf[:], g.now()+streamAbortTimeout)
}

// parseStreamAnswer judges the answer of type respType and size bytes,
// read into resp (nil when it was a SYSTEM_ERROR or too long to read), to
// a stream message of type reqType, as the C sender does
// (shmipc__stream_answer in src/stream_wire.c). An answer to STREAM_START
// that is no stream answer is ErrRemote (the host has no stream receiver);
// any other illegal answer is ErrCorrupt.
func parseStreamAnswer(reqType, respType MsgType, size int, resp []byte) (StreamReason, StreamState, uint32, error) {
	if resp == nil || respType != reqType || size != streamRespSize || len(resp) != streamRespSize {
		if reqType == MsgStreamStart {
			return 0, 0, 0, fmt.Errorf("%w: the host has no stream receiver (it answered STREAM_START with type %d, %d bytes)", ErrRemote, respType, size)
		}
		return 0, 0, 0, fmt.Errorf("%w: stream answer of type %d, %d bytes (want type %d, %d bytes)", ErrCorrupt, respType, size, reqType, streamRespSize)
	}
	le := binary.LittleEndian
	status := StreamReason(le.Uint32(resp[0:]))
	state := StreamState(le.Uint32(resp[4:]))
	maxParked := le.Uint32(resp[8:])
	// legal pairs: accepted with OPEN, COMPLETE or DROPPED; refused with
	// any state (docs/PROTOCOL.md, "Stream response")
	if state > StreamDropped || (status == StreamOK && state == StreamNone) {
		return 0, 0, 0, fmt.Errorf("%w: stream answer with status %d and state %d", ErrCorrupt, uint32(status), uint32(state))
	}
	return status, state, maxParked, nil
}
