package shmipc

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The large-answer conformance vectors, shared with the C guest
// (tests/test_answer_vectors.c): the same pulls get the same answers.
const answerVectorsPath = "../tests/answer_vectors.txt"

func vectorByte(length, o uint64) byte { return byte((o*131 + length*17 + 7) % 256) }

// answerOpt returns the value of key=N in fields, or def.
func answerOpt(fields []string, key string, def uint64) uint64 {
	for _, f := range fields {
		if strings.HasPrefix(f, key+"=") {
			n, err := strconv.ParseUint(f[len(key)+1:], 10, 64)
			if err == nil {
				return n
			}
		}
	}
	return def
}

func TestAnswerVectors(t *testing.T) {
	f, err := os.Open(answerVectorsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		a        *Answers
		clock    time.Duration
		released uint64
		resp     []byte
		cases    int
	)
	handler := func(req, resp []byte, ty MsgType) (int, []byte, MsgType) {
		n := binary.LittleEndian.Uint64(req)
		b := make([]byte, n)
		for o := range b {
			b[o] = vectorByte(n, uint64(o))
		}
		return 0, b, ty
	}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if strings.HasPrefix(text, "#") || strings.TrimSpace(text) == "" {
			continue
		}
		fields := strings.Fields(text)
		want := ""
		if i := strings.Index(text, "->"); i >= 0 {
			want = strings.TrimSpace(text[i+2:])
		}
		num := func(i int) uint64 {
			n, err := strconv.ParseUint(fields[i], 10, 64)
			if err != nil {
				t.Fatalf("line %d: %v", line, err)
			}
			return n
		}
		bad := func(format string, args ...any) {
			t.Errorf("answer_vectors.txt:%d: %s", line, fmt.Sprintf(format, args...))
		}
		switch fields[0] {
		case "case":
			cases++
			a, clock, released = nil, 0, 0
		case "limits":
			lim := AnswerLimits{
				MaxAnswer: num(1), MaxTotal: num(2), MaxAnswers: int(num(3)),
				IdleTimeout: time.Duration(num(4)) * time.Millisecond,
				Release:     func([]byte) { released++ },
			}
			a, err = NewAnswers(lim, handler)
			if err != nil {
				t.Fatalf("line %d: %v", line, err)
			}
			a.reqCap = 64
			a.now = func() time.Duration { return clock }
			resp = make([]byte, num(5))
		case "clock":
			clock += time.Duration(num(1)) * time.Millisecond
		case "answer":
			length := num(1)
			ty := MsgType(answerOpt(fields, "type", 130))
			req := binary.LittleEndian.AppendUint64(nil, length)
			n, rt := a.Handle(req, resp, ty)
			var got string
			switch rt {
			case MsgSystemError:
				got = "refused"
			case MsgLargeAnswer:
				le := binary.LittleEndian
				if n != answerHdrSize || le.Uint64(resp[8:]) != length || MsgType(le.Uint32(resp[16:])) != ty {
					bad("bad announcement")
				}
				got = "id " + strconv.FormatUint(le.Uint64(resp), 10)
			default:
				if rt != ty || uint64(n) != length {
					bad("inline answer of type %d length %d", rt, n)
				}
				for o := 0; o < n; o++ {
					if resp[o] != vectorByte(length, uint64(o)) {
						bad("inline answer bytes differ")
						break
					}
				}
				got = "inline"
			}
			if got != want {
				bad("answer: got %q, want %q", got, want)
			}
		case "pull":
			id, off, n := num(1), num(2), num(3)
			req := make([]byte, 64)
			le := binary.LittleEndian
			le.PutUint64(req[0:], id)
			le.PutUint64(req[8:], off)
			le.PutUint32(req[16:], uint32(n))
			le.PutUint32(req[20:], uint32(answerOpt(fields, "flags", 0)))
			le.PutUint64(req[24:], answerOpt(fields, "reserved", 0))
			req = req[:answerOpt(fields, "size", 32)]
			for i := range resp {
				resp[i] = 0xEE
			}
			m, rt := a.Handle(req, resp, MsgAnswerPull)
			if rt != MsgAnswerPull || m < pullRespSize {
				bad("no pull answer")
				continue
			}
			st := PullStatus(le.Uint32(resp))
			state := AnswerState(le.Uint32(resp[4:]))
			total := le.Uint64(resp[8:])
			if got := fmt.Sprintf("%v %v %d", st, state, total); got != want {
				bad("pull: got %q, want %q", got, want)
			}
			if st == PullOK {
				if uint64(m) != pullRespSize+n {
					bad("pull answer of %d bytes", m)
				}
				for o := uint64(0); o < n && pullRespSize+int(o) < m; o++ {
					if resp[pullRespSize+o] != vectorByte(total, off+o) {
						bad("pulled bytes differ")
						break
					}
				}
			} else if m != pullRespSize {
				bad("a refused pull carries data")
			}
		case "stats":
			st := a.Stats()
			if got := fmt.Sprintf("%d %d", st.Parked, st.Held); got != strings.Join(fields[1:], " ") {
				bad("stats: got %q, want %q", got, strings.Join(fields[1:], " "))
			}
		case "released":
			if got := strconv.FormatUint(released, 10); got != fields[1] {
				bad("released: got %s, want %s", got, fields[1])
			}
		default:
			bad("unknown directive %q", fields[0])
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if cases < 5 {
		t.Fatalf("only %d cases read", cases)
	}
}
