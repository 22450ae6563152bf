package shmipc

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The stream conformance vectors shared with the C reassembler
// (docs/PROTOCOL.md, "Streams"); the grammar is in the file's header.
const streamVectorsPath = "../tests/stream_vectors.txt"

// delivery is one stream a StreamFunc received.
type delivery struct {
	id      uint64
	appType MsgType
	data    []byte
}

// fakeClock is a Reassembler clock that moves only when told.
type fakeClock struct{ t time.Duration }

func (c *fakeClock) now() time.Duration { return c.t }

// vectorCase is the state of one case being replayed.
type vectorCase struct {
	name      string
	r         *Reassembler
	lim       StreamLimits
	clock     *fakeClock
	delivered []delivery
	checked   int // deliveries matched by "delivered" lines
	starts    map[uint64][2]uint64
	ended     bool
}

func TestStreamVectors(t *testing.T) {
	f, err := os.Open(streamVectorsPath)
	if err != nil {
		t.Fatalf("open the stream vectors: %v", err)
	}
	defer f.Close()
	var c *vectorCase
	cases, steps := 0, 0
	closeCase := func(line int) {
		if c != nil && !c.ended {
			t.Errorf("case %s line %d: case not closed by \"end\"", c.name, line)
		}
	}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if i := strings.IndexByte(text, '#'); i >= 0 {
			text = text[:i]
		}
		fields := strings.Fields(text)
		if len(fields) == 0 {
			continue
		}
		if fields[0] == "case" {
			closeCase(line)
			if len(fields) != 2 {
				t.Fatalf("line %d: cannot parse %q", line, sc.Text())
			}
			c = &vectorCase{name: fields[1], starts: map[uint64][2]uint64{}}
			cases++
			continue
		}
		if c == nil || c.ended {
			t.Fatalf("line %d: %q outside a case", line, sc.Text())
		}
		if err := c.step(t, line, fields); err != nil {
			t.Fatalf("case %s line %d: cannot parse %q: %v", c.name, line, sc.Text(), err)
		}
		steps++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	closeCase(0)
	if cases < 30 || steps < 200 {
		t.Errorf("replayed %d cases, %d directives; the vector file looks truncated", cases, steps)
	}
}

// step replays one directive. It reports mismatches with t.Errorf and
// returns an error only for a line it cannot parse.
func (c *vectorCase) step(t *testing.T, line int, f []string) error {
	t.Helper()
	fail := func(format string, args ...interface{}) {
		t.Helper()
		t.Errorf("case %s line %d: %s", c.name, line, fmt.Sprintf(format, args...))
	}
	if f[0] != "limits" && c.r == nil {
		return fmt.Errorf("%q before limits", f[0])
	}
	switch f[0] {
	case "limits":
		n, err := nums(f[1:], 5)
		if err != nil {
			return err
		}
		if c.r != nil {
			return fmt.Errorf("second limits in one case")
		}
		c.lim = StreamLimits{MaxStream: n[0], MaxTotal: n[1], MaxStreams: int(n[2]),
			MaxParked: int(n[3]), IdleTimeout: time.Duration(n[4]) * time.Millisecond}
		c.clock = &fakeClock{}
		c.r, err = NewReassembler(c.lim, func(id uint64, appType MsgType, data []byte) error {
			c.delivered = append(c.delivered, delivery{id, appType, data})
			return nil
		}, func(req, resp []byte, t MsgType) (int, MsgType) { return -1, t })
		if err != nil {
			return err
		}
		c.r.now = c.clock.now
	case "clock":
		n, err := nums(f[1:], 1)
		if err != nil {
			return err
		}
		c.clock.t += time.Duration(n[0]) * time.Millisecond
	case "reserved":
		n, err := nums(f[1:], 1)
		if err != nil {
			return err
		}
		if got := c.r.Stats().Reserved; got != n[0] {
			fail("got reserved %d want %d", got, n[0])
		}
	case "delivered":
		if len(f) != 5 {
			return fmt.Errorf("want ID TYPE LEN SHA256")
		}
		n, err := nums(f[1:4], 3)
		if err != nil {
			return err
		}
		if _, err := hex.DecodeString(f[4]); err != nil || len(f[4]) != 64 {
			return fmt.Errorf("bad SHA-256 %q", f[4])
		}
		if c.checked >= len(c.delivered) {
			fail("got no delivery want %s %s %s %s", f[1], f[2], f[3], f[4])
			return nil
		}
		d := c.delivered[c.checked]
		c.checked++
		sum := sha256.Sum256(d.data)
		got := fmt.Sprintf("%d %d %d %x", d.id, d.appType, len(d.data), sum)
		if want := strings.Join(f[1:], " "); got != want || uint64(len(d.data)) != n[2] {
			fail("got delivered %s want %s", got, want)
		}
	case "end":
		if len(f) != 1 {
			return fmt.Errorf("end takes no argument")
		}
		for _, d := range c.delivered[c.checked:] {
			sum := sha256.Sum256(d.data)
			fail("got delivered %d %d %d %x want no further delivery", d.id, d.appType, len(d.data), sum)
		}
		c.ended = true
	case "start", "chunk", "short":
		arrow := -1
		for i, s := range f {
			if s == "->" {
				arrow = i
			}
		}
		if arrow < 0 || len(f) != arrow+3 {
			return fmt.Errorf("want ... -> STATUS STATE")
		}
		wantStatus, ok1 := parseReason(f[arrow+1])
		wantState, ok2 := parseState(f[arrow+2])
		if !ok1 || !ok2 {
			return fmt.Errorf("unknown status or state")
		}
		req, typ, err := c.message(f[0], f[1:arrow])
		if err != nil {
			return err
		}
		// The response buffer is larger than 16 bytes and dirty, so a
		// short answer or an unwritten field shows.
		resp := make([]byte, 64)
		for i := range resp {
			resp[i] = 0xEE
		}
		n, rt := c.r.Handle(req, resp, typ)
		if n != streamRespSize || rt != typ {
			fail("got response %d bytes type %d want 16 bytes type %d", n, rt, typ)
			return nil
		}
		le := binary.LittleEndian
		status, state := StreamReason(le.Uint32(resp)), StreamState(le.Uint32(resp[4:]))
		if status != wantStatus || state != wantState {
			fail("got %s %s want %s %s", status, state, wantStatus, wantState)
		}
		if mp, rsv := le.Uint32(resp[8:]), le.Uint32(resp[12:]); mp != uint32(c.lim.MaxParked) || rsv != 0 {
			fail("got max_parked %d reserved %d want %d 0", mp, rsv, c.lim.MaxParked)
		}
	default:
		return fmt.Errorf("unknown directive %q", f[0])
	}
	return nil
}

// message builds the request of a start, chunk or short directive (the
// fields between the keyword and "->").
func (c *vectorCase) message(kind string, f []string) ([]byte, MsgType, error) {
	if kind == "short" {
		if len(f) != 2 {
			return nil, 0, fmt.Errorf("want short LEN start|chunk")
		}
		n, err := nums(f[:1], 1)
		if err != nil {
			return nil, 0, err
		}
		if n[0] >= streamHeaderSize {
			return nil, 0, fmt.Errorf("short length %d is not below 32", n[0])
		}
		switch f[1] {
		case "start":
			return make([]byte, n[0]), MsgStreamStart, nil
		case "chunk":
			return make([]byte, n[0]), MsgStreamChunk, nil
		}
		return nil, 0, fmt.Errorf("short of %q", f[1])
	}
	positional := 3
	allowed := map[string]bool{"flags": true, "extra": true, "offset": true}
	if kind == "chunk" {
		allowed = map[string]bool{"total": true, "type": true, "flags": true, "fill": true}
	}
	if len(f) < positional {
		return nil, 0, fmt.Errorf("too few fields")
	}
	pos, err := nums(f[:positional], positional)
	if err != nil {
		return nil, 0, err
	}
	opt := map[string]uint64{}
	for _, kv := range f[positional:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !allowed[k] {
			return nil, 0, fmt.Errorf("unknown option %q", kv)
		}
		if _, dup := opt[k]; dup {
			return nil, 0, fmt.Errorf("option %q twice", k)
		}
		x, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return nil, 0, err
		}
		opt[k] = x
	}
	id := pos[0]
	h := streamHeader{id: id}
	var data []byte
	typ := MsgStreamStart
	if kind == "start" {
		if pos[2] > 0xFFFFFFFF || opt["flags"] > 0xFFFFFFFF || opt["extra"] > 1<<20 {
			return nil, 0, fmt.Errorf("field out of range")
		}
		h.total, h.appType, h.flags = pos[1], uint32(pos[2]), uint32(opt["flags"])
		h.offset = opt["offset"]
		c.starts[id] = [2]uint64{pos[1], pos[2]}
		data = make([]byte, opt["extra"])
		fillStream(data, id, 0)
	} else {
		typ = MsgStreamChunk
		last, haveStart := c.starts[id]
		total, haveTotal := opt["total"]
		appType, haveType := opt["type"]
		if !haveTotal {
			if !haveStart {
				return nil, 0, fmt.Errorf("no total= and no earlier start of stream %d", id)
			}
			total = last[0]
		}
		if !haveType {
			if !haveStart {
				return nil, 0, fmt.Errorf("no type= and no earlier start of stream %d", id)
			}
			appType = last[1]
		}
		if appType > 0xFFFFFFFF || opt["flags"] > 0xFFFFFFFF || pos[2] > 1<<24 {
			return nil, 0, fmt.Errorf("field out of range")
		}
		h.total, h.offset, h.appType, h.flags = total, pos[1], uint32(appType), uint32(opt["flags"])
		data = make([]byte, pos[2])
		if b, ok := opt["fill"]; ok {
			if b > 255 {
				return nil, 0, fmt.Errorf("fill=%d is not a byte", b)
			}
			for i := range data {
				data[i] = byte(b)
			}
		} else {
			fillStream(data, id, h.offset)
		}
	}
	return append(putStreamHeader(nil, h), data...), typ, nil
}

// fillStream writes the vectors' data bytes of stream id at absolute
// offsets off, off+1, ...: (o*131 + id*17 + 7) mod 256. The arithmetic
// wraps at 2^64, which keeps it exact mod 256.
func fillStream(b []byte, id, off uint64) {
	for i := range b {
		b[i] = byte((off+uint64(i))*131 + id*17 + 7)
	}
}

// putStreamHeader appends the 32-byte header h to b.
func putStreamHeader(b []byte, h streamHeader) []byte {
	le := binary.LittleEndian
	b = le.AppendUint64(b, h.id)
	b = le.AppendUint64(b, h.total)
	b = le.AppendUint64(b, h.offset)
	b = le.AppendUint32(b, h.appType)
	return le.AppendUint32(b, h.flags)
}

// nums parses exactly n decimal unsigned numbers.
func nums(f []string, n int) ([]uint64, error) {
	if len(f) != n {
		return nil, fmt.Errorf("want %d numbers, got %d fields", n, len(f))
	}
	out := make([]uint64, n)
	for i, s := range f {
		x, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return nil, err
		}
		out[i] = x
	}
	return out, nil
}

func parseReason(s string) (StreamReason, bool) {
	for i, name := range streamReasonNames {
		if s == name {
			return StreamReason(i), true
		}
	}
	return 0, false
}

func parseState(s string) (StreamState, bool) {
	for i, name := range streamStateNames {
		if s == name {
			return StreamState(i), true
		}
	}
	return 0, false
}
