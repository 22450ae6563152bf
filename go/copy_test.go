package shmipc

import (
	"bytes"
	"encoding/binary"
	"sync"
	"testing"
)

// copyStreaming copies exactly what copy would, whatever the alignment of
// either end and the length, and writes nothing outside the destination.
func TestCopyStreaming(t *testing.T) {
	const guard = 64
	sizes := []int{0, 1, 63, 64, streamingMin - 1, streamingMin, streamingMin + 15,
		streamingMin + 16, streamingMin + 63, 200003}
	src := pattern(200003+16, 0x3C)
	dst := make([]byte, 200003+16+2*guard)
	for _, n := range sizes {
		for dof := 0; dof < 16; dof += 5 {
			for sof := 0; sof < 4; sof += 3 {
				for i := range dst {
					dst[i] = 0xEE
				}
				d := dst[guard+dof : guard+dof+n]
				if got := copyStreaming(d, src[sof:sof+n]); got != n {
					t.Fatalf("n %d: copied %d", n, got)
				}
				if !bytes.Equal(d, src[sof:sof+n]) {
					t.Fatalf("n %d dst+%d src+%d: bytes differ", n, dof, sof)
				}
				for i, b := range dst {
					if (i < guard+dof || i >= guard+dof+n) && b != 0xEE {
						t.Fatalf("n %d dst+%d src+%d: byte %d outside written", n, dof, sof, i-guard-dof)
					}
				}
			}
		}
	}
	// Shorter of the two, like copy.
	if got := copyStreaming(dst[:streamingMin+100], src[:streamingMin+7]); got != streamingMin+7 {
		t.Errorf("longer destination: copied %d", got)
	}
}

// A stream past streamingTotal, in chunks of 64 KiB from four goroutines,
// backwards: its chunks go through copyStreaming and arrive intact.
func TestReassemblerLargeStream(t *testing.T) {
	const (
		chunk   = 64 << 10
		nChunks = 4 * 68
		total   = chunk*nChunks - 123
	)
	if total < streamingTotal {
		t.Fatalf("total %d below streamingTotal", total)
	}
	lim := testLimits()
	lim.MaxStream, lim.MaxTotal, lim.MaxParked = 32<<20, 32<<20, nChunks
	c := &collector{}
	r := newTestReassembler(t, lim, c)
	payload := pattern(total, 0x5A)
	st, s := send(t, r, MsgStreamStart, startMsg(9, total, 700))
	expect(t, "start", st, s, StreamOK, StreamOpen)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			resp := make([]byte, 16)
			for k := nChunks - 4 + w; k >= 0; k -= 4 {
				off := k * chunk
				end := off + chunk
				if end > total {
					end = total
				}
				n, _ := r.Handle(chunkMsg(9, total, uint64(off), 700, payload[off:end]), resp, MsgStreamChunk)
				if n != 16 || StreamReason(binary.LittleEndian.Uint32(resp)) != StreamOK {
					t.Errorf("chunk %d: %d bytes, status %d", k, n, binary.LittleEndian.Uint32(resp))
					return
				}
			}
		}(w)
	}
	wg.Wait()
	got := c.deliveries()
	if len(got) != 1 || got[0].id != 9 || !bytes.Equal(got[0].data, payload) {
		t.Fatalf("%d deliveries; intact: %v", len(got), len(got) == 1 && bytes.Equal(got[0].data, payload))
	}
}
