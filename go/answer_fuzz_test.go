package shmipc

import (
	"encoding/binary"
	"testing"
	"time"
)

// FuzzAnswerPull feeds one Answers table a sequence of parks, pulls (any
// header, any request length) and clock steps decoded from the input, and
// checks after each: the answer is one docs/PROTOCOL.md "Large answers"
// allows (type, size, status and state pairs), pulled bytes are the
// answer's own at the asked offset, the held bytes stay within MaxTotal
// and agree with what is parked, and every answer's bytes are released
// exactly once by the end.
func FuzzAnswerPull(f *testing.F) {
	f.Add([]byte{0, 10, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 100, 0, 0, 0, 0, 0})
	f.Add([]byte{0, 200, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 100, 0, 0, 1, 0, 2, 30, 1, 1, 0})
	f.Add([]byte{0, 255, 0, 255, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20})
	f.Fuzz(func(t *testing.T, in []byte) {
		const respCap = 256
		var clock time.Duration
		lengths := map[uint64]uint64{} // parked id -> length, as answered
		released := map[*byte]int{}
		releases := 0
		lim := AnswerLimits{MaxAnswer: 4000, MaxTotal: 6000, MaxAnswers: 3, IdleTimeout: 50 * time.Millisecond,
			Release: func(b []byte) {
				releases++
				if len(b) > 0 {
					released[&b[0]]++
				}
			}}
		made := 0
		a, err := NewAnswers(lim, func(req, resp []byte, ty MsgType) (int, []byte, MsgType) {
			made++
			n := binary.LittleEndian.Uint64(req)
			b := make([]byte, n)
			for i := range b {
				b[i] = vectorByte(n, uint64(i))
			}
			return 0, b, ty
		})
		if err != nil {
			t.Fatal(err)
		}
		a.reqCap = 64
		a.now = func() time.Duration { return clock }
		resp := make([]byte, respCap)
		le := binary.LittleEndian
		for len(in) >= 2 {
			op, arg := in[0]%3, in[1]
			in = in[2:]
			switch op {
			case 0: // park an answer of arg*23 bytes
				n := uint64(arg) * 23
				rt := MsgType(0)
				var m int
				m, rt = a.Handle(le.AppendUint64(nil, n), resp, MsgAppStart)
				switch {
				case rt == MsgLargeAnswer:
					if m != answerHdrSize || le.Uint64(resp[8:]) != n || n <= respCap {
						t.Fatalf("bad announcement of %d bytes", n)
					}
					lengths[le.Uint64(resp)] = n
				case rt == MsgSystemError:
				case rt == MsgAppStart && uint64(m) == n && n <= respCap:
				default:
					t.Fatalf("answer of %d bytes: %d bytes of type %d", n, m, rt)
				}
			case 1: // a pull: arg is the request length (mod 40); then 32 bytes
				if len(in) < 32 {
					return
				}
				req := make([]byte, 40)
				copy(req, in[:32])
				in = in[32:]
				// Small ids and offsets now and then, so that pulls hit.
				if req[7] < 128 {
					le.PutUint64(req[0:], uint64(req[0]%5))
					le.PutUint64(req[8:], uint64(le.Uint16(req[8:])%5000))
					le.PutUint32(req[16:], uint32(req[16])*2)
					le.PutUint32(req[20:], uint32(req[20]%4))
					le.PutUint64(req[24:], 0)
				}
				size := int(arg) % 40
				if arg >= 128 {
					size = pullHdrSize
				}
				m, rt := a.Handle(req[:size], resp, MsgAnswerPull)
				if rt != MsgAnswerPull || m < pullRespSize || m > respCap {
					t.Fatalf("pull answer of %d bytes, type %d", m, rt)
				}
				st, state, total := PullStatus(le.Uint32(resp)), AnswerState(le.Uint32(resp[4:])), le.Uint64(resp[8:])
				id, off, n, flags := le.Uint64(req), le.Uint64(req[8:]), le.Uint32(req[16:]), le.Uint32(req[20:])
				switch {
				case st == PullOK:
					if uint64(m) != pullRespSize+uint64(n) || total != lengths[id] || (flags&pullRelease != 0) != (state == AnswerReleased) ||
						(state != AnswerOpen && state != AnswerReleased) || flags&pullAbort != 0 || size != pullHdrSize {
						t.Fatalf("ok pull: %d bytes, state %v, total %d", m, state, total)
					}
					for i := uint64(0); i < uint64(n); i++ {
						if resp[pullRespSize+i] != vectorByte(total, off+i) {
							t.Fatalf("pulled byte %d of answer %d differs", off+i, id)
						}
					}
				case st == PullMalformed || st == PullUnknown || st == PullExpired:
					if m != pullRespSize || state != AnswerNone || total != 0 {
						t.Fatalf("%v: %d bytes, %v, %d", st, m, state, total)
					}
				case st == PullBounds || st == PullAborted:
					if m != pullRespSize || state != AnswerDropped || total != lengths[id] {
						t.Fatalf("%v: %d bytes, %v, %d", st, m, state, total)
					}
				default:
					t.Fatalf("status %d", st)
				}
			case 2: // the clock moves arg ms
				clock += time.Duration(arg) * time.Millisecond
			}
			s := a.Stats()
			if s.Held > lim.MaxTotal || s.Parked > lim.MaxAnswers {
				t.Fatalf("stats %+v beyond the limits", s)
			}
			var held uint64
			a.mu.Lock()
			for _, p := range a.byID {
				held += uint64(len(p.data))
			}
			a.mu.Unlock()
			if held != s.Held {
				t.Fatalf("held %d, parked bytes %d", s.Held, held)
			}
		}
		a.clear()
		if s := a.Stats(); s.Held != 0 || s.Parked != 0 {
			t.Fatalf("after clear: %+v", s)
		}
		if releases != made {
			t.Fatalf("%d answers made, %d released", made, releases)
		}
		for _, k := range released {
			if k != 1 {
				t.Fatal("an answer released twice")
			}
		}
	})
}
