package shmipc

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"testing"
	"time"
)

// FuzzReassembler feeds one Reassembler a sequence of stream messages
// decoded from the input (see fuzzScript) and checks after every message:
// the answer is a legal 16-byte response and the one a plain model of
// docs/PROTOCOL.md "Streams" gives; Stats stay within the limits and agree
// with the model; every delivery is exactly the bytes of the chunks that
// were answered "ok" for that stream and as long as its START's total.
func FuzzReassembler(f *testing.F) {
	for _, seed := range fuzzSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		fuzzScript(t, in)
	})
}

// Fuzz input: 4 bytes of limits, then operations of an opcode byte and
// its argument bytes; a truncated operation ends the script.
const (
	fzStart    = iota // id total type
	fzChunk           // id offset len: total and type of the last START of id
	fzRawChunk        // id total offset type flags len: any header
	fzClock           // ms: the clock moves forward
	fzShort           // b: a request of b%32 bytes, START if b&32 else CHUNK
	fzRawStart        // id total bits: offset = bits&1, flags, extra data
	fzAbort           // id
	fzNext            // id len: a chunk at the stream's in-order point
	fzOps
)

// fuzzRefuse is the app type whose streams the fuzz StreamFunc refuses.
const fuzzRefuse = 201

// fuzzLimits decodes the limits: small, so that every limit is reached.
func fuzzLimits(b []byte) StreamLimits {
	return StreamLimits{
		MaxStream:   uint64(b[0]),
		MaxTotal:    2 * uint64(b[1]),
		MaxStreams:  1 + int(b[2]%4),
		MaxParked:   int(b[3] % 4),
		IdleTimeout: time.Duration(1+b[3]/4) * 4 * time.Millisecond,
	}
}

// fuzzScript replays one input; see FuzzReassembler.
func fuzzScript(t *testing.T, in []byte) {
	if len(in) < 4 {
		return
	}
	lim := fuzzLimits(in)
	var got []delivery
	r, err := NewReassembler(lim, func(id uint64, appType MsgType, data []byte) error {
		got = append(got, delivery{id, appType, data})
		if appType == fuzzRefuse {
			return ErrRefused
		}
		return nil
	}, func(req, resp []byte, t MsgType) (int, MsgType) { return -1, t })
	if err != nil {
		t.Fatal(err)
	}
	clk := &fakeClock{}
	r.now = clk.now
	m := newRefModel(lim)
	// shadow holds, per stream the receiver answered "ok open", the bytes
	// of the chunks it answered "ok" and which bytes those were.
	type shadowStream struct {
		total   uint64
		appType uint32
		data    []byte
		have    []bool
	}
	shadow := map[uint64]*shadowStream{}
	lastStart := map[uint64]streamHeader{}

	p := in[4:]
	arg := func(n int) []byte {
		if len(p) < n {
			p = nil
			return nil
		}
		a := p[:n]
		p = p[n:]
		return a
	}
	bigOr := func(b byte) uint64 { // near 2^64 for the top values
		if b >= 250 {
			return ^uint64(0) - uint64(255-b)
		}
		return uint64(b)
	}
	resp := make([]byte, 64)
	for step := 0; len(p) > 0; step++ {
		op := p[0] % fzOps
		p = p[1:]
		var typ MsgType
		var req []byte
		var h streamHeader
		var data []byte
		fill := func(n int) {
			data = make([]byte, n)
			for i := range data {
				data[i] = byte(step*29 + i*13 + 1)
			}
		}
		switch op {
		case fzStart:
			a := arg(3)
			if a == nil {
				break
			}
			h = streamHeader{id: uint64(a[0] % 5), total: uint64(a[1]), appType: 200 + uint32(a[2]%2)}
			typ = MsgStreamStart
		case fzChunk, fzNext:
			var a []byte
			if op == fzChunk {
				a = arg(3)
			} else {
				a = arg(2)
			}
			if a == nil {
				break
			}
			id := uint64(a[0] % 5)
			ls, ok := lastStart[id]
			if !ok {
				ls = streamHeader{total: 100, appType: 200}
			}
			h = streamHeader{id: id, total: ls.total, appType: ls.appType}
			if op == fzChunk {
				h.offset = uint64(a[1])
				fill(int(a[2]))
			} else {
				h.offset = m.next(id)
				fill(1 + int(a[1]%64))
			}
			typ = MsgStreamChunk
		case fzRawChunk:
			a := arg(6)
			if a == nil {
				break
			}
			h = streamHeader{id: uint64(a[0] % 5), total: bigOr(a[1]), offset: bigOr(a[2]),
				appType: 200 + uint32(a[3]%3), flags: uint32(a[4]%4) | uint32(a[4]>>7)<<31}
			fill(int(a[5]))
			typ = MsgStreamChunk
		case fzClock:
			a := arg(1)
			if a == nil {
				break
			}
			clk.t += time.Duration(a[0]) * time.Millisecond
			continue
		case fzShort:
			a := arg(1)
			if a == nil {
				break
			}
			req = make([]byte, a[0]%32)
			typ = MsgStreamChunk
			if a[0]&32 != 0 {
				typ = MsgStreamStart
			}
		case fzRawStart:
			a := arg(4)
			if a == nil {
				break
			}
			h = streamHeader{id: uint64(a[0] % 5), total: bigOr(a[1]), appType: 200 + uint32(a[2]%2),
				offset: uint64(a[3] & 1), flags: uint32(a[3]>>1&1) | uint32(a[3]>>2&1)<<31}
			fill(int(a[3] >> 5))
			typ = MsgStreamStart
		case fzAbort:
			a := arg(1)
			if a == nil {
				break
			}
			ls := lastStart[uint64(a[0]%5)]
			h = streamHeader{id: uint64(a[0] % 5), total: ls.total, appType: ls.appType, flags: streamFlagAbort}
			typ = MsgStreamChunk
		}
		if typ == 0 {
			break // a truncated operation
		}
		if req == nil {
			req = append(putStreamHeader(nil, h), data...)
		}
		if typ == MsgStreamStart && len(req) >= streamHeaderSize {
			lastStart[h.id] = h
		}

		wantStatus, wantState, wantDeliver := m.handle(typ, req, clk.t)
		for i := range resp {
			resp[i] = 0xEE
		}
		got = got[:0]
		n, rt := r.Handle(req, resp, typ)
		if n != streamRespSize || rt != typ {
			t.Fatalf("step %d: response %d bytes type %d, want 16 bytes type %d", step, n, rt, typ)
		}
		le := binary.LittleEndian
		status, state := StreamReason(le.Uint32(resp)), StreamState(le.Uint32(resp[4:]))
		if state > StreamDropped || status > StreamRefused || status == StreamOK && state == StreamNone {
			t.Fatalf("step %d: illegal response %d %d", step, status, state)
		}
		if le.Uint32(resp[8:]) != uint32(lim.MaxParked) || le.Uint32(resp[12:]) != 0 || resp[16] != 0xEE {
			t.Fatalf("step %d: response %x", step, resp[:17])
		}
		if status != wantStatus || state != wantState {
			t.Fatalf("step %d (%x): got %s %s want %s %s", step, req[:minInt(len(req), 32)], status, state, wantStatus, wantState)
		}

		// Follow the receiver's answers in the shadow.
		if typ == MsgStreamStart && status == StreamOK && state == StreamOpen {
			shadow[h.id] = &shadowStream{total: h.total, appType: h.appType,
				data: make([]byte, h.total), have: make([]bool, h.total)}
		}
		// A chunk answered REFUSED was taken too: it completed the stream.
		if typ == MsgStreamChunk && (status == StreamOK || status == StreamRefused) {
			s := shadow[h.id]
			if s == nil {
				t.Fatalf("step %d: chunk of stream %d accepted, but no START was", step, h.id)
			}
			for i := range data {
				if s.have[h.offset+uint64(i)] {
					t.Fatalf("step %d: byte %d of stream %d accepted twice", step, h.offset+uint64(i), h.id)
				}
				s.have[h.offset+uint64(i)] = true
			}
			copy(s.data[h.offset:], data)
		}
		delivers := status == StreamOK && state == StreamComplete || status == StreamRefused
		if delivers != (len(got) == 1) || len(got) > 1 || delivers != wantDeliver {
			t.Fatalf("step %d: %s %s with %d deliveries (model: %v)", step, status, state, len(got), wantDeliver)
		}
		if delivers {
			d := got[0]
			want := []byte{}
			wantType := h.appType
			if typ == MsgStreamChunk {
				s := shadow[h.id]
				for i, ok := range s.have {
					if !ok {
						t.Fatalf("step %d: stream %d delivered without byte %d", step, h.id, i)
					}
				}
				want, wantType = s.data, s.appType
			}
			if d.id != h.id || d.appType != MsgType(wantType) || !bytes.Equal(d.data, want) {
				t.Fatalf("step %d: delivered %d/%d %x, want %d/%d %x", step, d.id, d.appType, d.data, h.id, wantType, want)
			}
		}
		// The answers agree with the model, so a stream it no longer has
		// open (delivered, dropped, swept) is gone.
		for id := range shadow {
			if !m.isOpen(id) {
				delete(shadow, id)
			}
		}

		st := r.Stats()
		if st.Reserved > lim.MaxTotal || st.Open > lim.MaxStreams || st.PeakReserved > lim.MaxTotal ||
			st.Reserved > st.PeakReserved {
			t.Fatalf("step %d: stats %+v beyond limits %+v", step, st, lim)
		}
		if want := m.stats(); st != want {
			t.Fatalf("step %d: stats %+v, model %+v", step, st, want)
		}
	}
}

// refModel is the receiver of docs/PROTOCOL.md written as plainly as
// possible: a bitmap of taken bytes per stream, no ranges, one message at
// a time. The fuzz test holds the Reassembler to it.
type refModel struct {
	lim            StreamLimits
	streams        map[uint64]*refStream
	reserved, peak uint64
	nDeliv, nDrop  uint64
}

type refStream struct {
	total   uint64
	appType uint32
	taken   []bool
	last    time.Duration
}

func newRefModel(lim StreamLimits) *refModel {
	return &refModel{lim: lim, streams: map[uint64]*refStream{}}
}

func (m *refModel) isOpen(id uint64) bool { return m.streams[id] != nil }

func (m *refModel) stats() StreamStats {
	return StreamStats{Open: len(m.streams), Reserved: m.reserved, PeakReserved: m.peak,
		Delivered: m.nDeliv, Dropped: m.nDrop}
}

// next returns the in-order point of stream id (0 if it is not open).
func (m *refModel) next(id uint64) uint64 {
	s := m.streams[id]
	if s == nil {
		return 0
	}
	i := uint64(0)
	for i < s.total && s.taken[i] {
		i++
	}
	return i
}

func (m *refModel) drop(id uint64) {
	m.reserved -= m.streams[id].total
	delete(m.streams, id)
	m.nDrop++
}

// finish delivers a complete stream; the fuzz StreamFunc refuses type
// fuzzRefuse.
func (m *refModel) finish(appType uint32) (StreamReason, StreamState, bool) {
	if appType == fuzzRefuse {
		m.nDrop++
		return StreamRefused, StreamDropped, true
	}
	m.nDeliv++
	return StreamOK, StreamComplete, true
}

// handle answers one message and says whether it delivers.
func (m *refModel) handle(typ MsgType, req []byte, now time.Duration) (StreamReason, StreamState, bool) {
	for id, s := range m.streams {
		if now-s.last > m.lim.IdleTimeout {
			m.drop(id)
		}
	}
	if len(req) < 32 {
		return StreamMalformed, StreamNone, false
	}
	h := parseStreamHeader(req)
	n := uint64(len(req) - 32)
	s := m.streams[h.id]
	if typ == MsgStreamStart {
		switch {
		case h.id == 0 || h.offset != 0 || h.flags != 0 || n != 0:
			return StreamMalformed, StreamNone, false
		case s != nil:
			return StreamDuplicate, StreamOpen, false
		case h.total > m.lim.MaxStream:
			return StreamTooBig, StreamNone, false
		case len(m.streams) >= m.lim.MaxStreams:
			return StreamTooMany, StreamNone, false
		case m.reserved+h.total > m.lim.MaxTotal: // both small here
			return StreamTooBig, StreamNone, false
		case h.total == 0:
			return m.finish(h.appType)
		}
		m.streams[h.id] = &refStream{total: h.total, appType: h.appType, taken: make([]bool, h.total), last: now}
		m.reserved += h.total
		if m.reserved > m.peak {
			m.peak = m.reserved
		}
		return StreamOK, StreamOpen, false
	}
	if h.id == 0 || h.flags&^1 != 0 {
		return StreamMalformed, StreamNone, false
	}
	if s == nil {
		return StreamUnknown, StreamNone, false
	}
	end, carry := bits.Add64(h.offset, n, 0)
	reason := StreamOK
	switch {
	case h.flags&1 != 0:
		reason = StreamAborted
	case h.total != s.total || h.appType != s.appType:
		reason = StreamMismatch
	case n == 0:
		reason = StreamEmpty
	case carry != 0 || end > s.total:
		reason = StreamBounds
	}
	if reason == StreamOK {
		for i := h.offset; i < end; i++ {
			if s.taken[i] {
				reason = StreamOverlap
				break
			}
		}
	}
	if reason == StreamOK {
		after := append([]bool(nil), s.taken...)
		for i := h.offset; i < end; i++ {
			after[i] = true
		}
		// Parked ranges: runs of taken bytes above the in-order point.
		next := 0
		for next < len(after) && after[next] {
			next++
		}
		runs := 0
		for i := next; i < len(after); i++ {
			if after[i] && (i == next || !after[i-1]) {
				runs++
			}
		}
		if runs > m.lim.MaxParked {
			reason = StreamParked
		} else {
			s.taken = after
		}
	}
	if reason != StreamOK {
		m.drop(h.id)
		return reason, StreamDropped, false
	}
	s.last = now
	for _, ok := range s.taken {
		if !ok {
			return StreamOK, StreamOpen, false
		}
	}
	m.reserved -= s.total
	delete(m.streams, h.id)
	return m.finish(s.appType)
}

// fuzzSeeds are scenarios like the conformance vectors, in the fuzz
// input format.
func fuzzSeeds() [][]byte {
	lim := []byte{200, 150, 2, 2} // max_stream 200, max_total 300, 3 streams, 2 parked, idle 4 ms
	seed := func(ops ...byte) []byte { return append(append([]byte{}, lim...), ops...) }
	return [][]byte{
		// in order, then the id is unknown
		seed(fzStart, 1, 100, 0, fzChunk, 1, 0, 40, fzChunk, 1, 40, 40, fzChunk, 1, 80, 20, fzChunk, 1, 0, 10),
		// out of order, merging parked ranges
		seed(fzStart, 2, 60, 0, fzChunk, 2, 20, 10, fzChunk, 2, 40, 20, fzChunk, 2, 30, 10, fzChunk, 2, 0, 20),
		// too many parked, overlap, bounds, empty
		seed(fzStart, 1, 100, 0, fzChunk, 1, 80, 20, fzChunk, 1, 20, 10, fzChunk, 1, 50, 10,
			fzStart, 2, 100, 1, fzChunk, 2, 0, 50, fzChunk, 2, 25, 50,
			fzStart, 3, 100, 0, fzChunk, 3, 90, 20, fzStart, 3, 10, 0, fzChunk, 3, 0, 0),
		// refusal, empty stream, abort, lying headers, short messages
		seed(fzStart, 1, 20, 1, fzNext, 1, 9, fzNext, 1, 9, fzNext, 1, 1, fzStart, 2, 0, 0,
			fzStart, 3, 30, 0, fzNext, 3, 5, fzAbort, 3, fzRawChunk, 3, 30, 0, 0, 0, 10,
			fzStart, 4, 30, 0, fzRawChunk, 4, 31, 0, 0, 0, 10, fzShort, 5, fzShort, 40,
			fzRawStart, 1, 10, 0, 0, fzRawStart, 1, 10, 0, 3, fzRawStart, 1, 255, 0, 0),
		// idle sweep and the budget
		seed(fzStart, 1, 200, 0, fzStart, 2, 150, 0, fzClock, 3, fzNext, 1, 50, fzClock, 5,
			fzStart, 2, 150, 0, fzNext, 1, 10, fzNext, 2, 63, fzNext, 2, 63, fzNext, 2, 23),
		// wrapping offsets and totals near 2^64
		seed(fzStart, 1, 100, 0, fzRawChunk, 1, 100, 255, 0, 0, 32, fzStart, 2, 100, 0,
			fzRawChunk, 2, 254, 250, 0, 0, 32, fzRawStart, 3, 255, 0, 0),
		// one stream at a time; the sweep frees the place
		append([]byte{50, 50, 0, 0}, fzStart, 1, 10, 0, fzStart, 2, 10, 0, fzClock, 5, fzStart, 2, 10, 0,
			fzNext, 2, 4, fzNext, 2, 4),
	}
}
