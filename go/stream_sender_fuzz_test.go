//go:build linux

package shmipc

import (
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// FuzzParseStreamAnswer: the sender's judgement of any answer to a stream
// message. It never panics; it accepts exactly the legal 16-byte answers
// of the request's type (docs/PROTOCOL.md, "Stream response") and reads
// their fields; anything else is ErrRemote for a START and ErrCorrupt for
// a chunk.
func FuzzParseStreamAnswer(f *testing.F) {
	legal := make([]byte, 16)
	binary.LittleEndian.PutUint32(legal[4:], uint32(StreamOpen))
	f.Add(false, uint32(MsgStreamStart), uint16(16), legal)
	f.Add(true, uint32(MsgStreamChunk), uint16(16), legal)
	f.Add(false, uint32(MsgStreamStart), uint16(32), make([]byte, 32))
	f.Add(true, uint32(MsgSystemError), uint16(5), []byte("error"))
	f.Fuzz(func(t *testing.T, chunk bool, respType uint32, size uint16, b []byte) {
		req := MsgStreamStart
		if chunk {
			req = MsgStreamChunk
		}
		if size&1 != 0 {
			b = nil // the SYSTEM_ERROR / too-long path
		}
		status, state, parked, err := parseStreamAnswer(req, MsgType(respType), int(size), b)
		if err != nil {
			want := ErrCorrupt
			if req == MsgStreamStart && (b == nil || MsgType(respType) != req || int(size) != 16 || len(b) != 16) {
				want = ErrRemote
			}
			if !errors.Is(err, want) {
				t.Fatalf("got %v, want %v", err, want)
			}
			return
		}
		le := binary.LittleEndian
		if b == nil || MsgType(respType) != req || size != 16 || len(b) != 16 {
			t.Fatalf("accepted an answer of type %d, size %d, %d bytes", respType, size, len(b))
		}
		if status != StreamReason(le.Uint32(b)) || state != StreamState(le.Uint32(b[4:])) || parked != le.Uint32(b[8:]) {
			t.Fatal("fields misread")
		}
		if state > StreamDropped || (status == StreamOK && state == StreamNone) {
			t.Fatalf("accepted the illegal pair %v %v", status, state)
		}
	})
}

// fuzzSenderHost answers each stream message with the next record of the
// script, then, once the script runs out, as an accepting receiver would.
type fuzzSenderHost struct {
	mu     sync.Mutex
	script []byte
	msgs   atomic.Int32
}

// A record is 18 bytes: a type selector (0: the request's type, 1:
// SYSTEM_ERROR, 2: the other stream type, else an app type), the answer's
// size (mod 33) and 16 answer bytes.
const fuzzRecord = 18

func (fh *fuzzSenderHost) answer(req, resp []byte, t uint32) (int, uint32) {
	fh.msgs.Add(1)
	fh.mu.Lock()
	var rec []byte
	if len(fh.script) >= fuzzRecord {
		rec, fh.script = fh.script[:fuzzRecord], fh.script[fuzzRecord:]
	}
	fh.mu.Unlock()
	le := binary.LittleEndian
	if rec == nil {
		state := StreamOpen
		if len(req) >= streamHeaderSize {
			h := parseStreamHeader(req)
			if h.offset+uint64(len(req)-streamHeaderSize) == h.total {
				state = StreamComplete
			}
		}
		le.PutUint32(resp[0:], 0)
		le.PutUint32(resp[4:], uint32(state))
		le.PutUint32(resp[8:], 64)
		le.PutUint32(resp[12:], 0)
		return streamRespSize, t
	}
	rt := t
	switch rec[0] {
	case 0:
	case 1:
		rt = uint32(MsgSystemError)
	case 2:
		rt = t ^ 1 // START <-> CHUNK (4 <-> 5)
	default:
		rt = uint32(MsgAppStart) + uint32(rec[0])
	}
	n := copy(resp, rec[2:])
	size := int(rec[1]) % 33
	if size > n {
		for i := n; i < size; i++ {
			resp[i] = 0
		}
	}
	return size, rt
}

// FuzzStreamSender: a whole Send against a host whose answers come from the
// input. Whatever the answers, Send returns (within its timeout), its
// error is nil or a *StreamError with one of the documented causes, a
// refusal carries its reason, and every guest slot is free afterwards.
func FuzzStreamSender(f *testing.F) {
	h := newHost(f, hostConfig{hostSlots: 1, guestSlots: 4, reqCapacity: 256, respCapacity: 256})
	g, err := Connect(h.name, &Options{LivenessInterval: 20 * time.Millisecond})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { g.Close() })
	fh := &fuzzSenderHost{}
	h.listen(fh.answer)
	snd, err := g.NewStreamSender(&StreamConfig{Depth: 3})
	if err != nil {
		f.Fatal(err)
	}
	ok := make([]byte, fuzzRecord)
	binary.LittleEndian.PutUint32(ok[2+4:], uint32(StreamOpen))
	ok[1] = 16
	f.Add(uint16(1000), ok)
	f.Add(uint16(0), []byte{1, 5, 'e', 'r', 'r', 'o', 'r'})
	f.Add(uint16(500), append(append([]byte{}, ok...), 2, 16, 0, 0, 0, 0, 1, 0, 0, 0))
	data := make([]byte, 1<<16)
	f.Fuzz(func(t *testing.T, n uint16, script []byte) {
		fh.mu.Lock()
		fh.script = append(fh.script[:0], script...)
		fh.mu.Unlock()
		id, err := snd.Send(MsgAppStart, data[:n], 2*time.Second)
		var se *StreamError
		switch {
		case err == nil:
		case !errors.As(err, &se) || se.ID != id:
			t.Fatalf("error %v is no *StreamError of stream %d", err, id)
		case errors.Is(err, ErrRefused) && se.Reason == StreamOK:
			t.Fatalf("a refusal without its reason: %v", err)
		case !errors.Is(err, ErrRefused) && !errors.Is(err, ErrRemote) && !errors.Is(err, ErrCorrupt):
			t.Fatalf("unexpected cause: %v", err)
		}
		for i := int(h.geo.hostSlots); i < len(h.slots); i++ {
			if v := atomic.LoadUint32(&h.slots[i].hdr.ctrl); ctrlState(v) != stateFree {
				t.Fatalf("guest slot %d left in state %d after the send (%v)", i-int(h.geo.hostSlots), ctrlState(v), err)
			}
		}
	})
}
