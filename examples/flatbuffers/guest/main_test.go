// SPDX-License-Identifier: MIT

package main

import (
	"strings"
	"testing"

	flatbuffers "github.com/google/flatbuffers/go"
	shmipc "github.com/libshmipc/libshmipc/go"

	"github.com/libshmipc/libshmipc/examples/flatbuffers/guest/quote"
)

// request builds a QuoteRequest as the C++ host does.
func request(id uint64, sym string, qty uint32, levels ...float64) []byte {
	b := flatbuffers.NewBuilder(256)
	s := b.CreateString(sym)
	quote.QuoteRequestStartLevelsVector(b, len(levels))
	for i := len(levels) - 1; i >= 0; i-- {
		b.PrependFloat64(levels[i])
	}
	lv := b.EndVector(len(levels))
	quote.QuoteRequestStart(b)
	quote.QuoteRequestAddId(b, id)
	quote.QuoteRequestAddSymbol(b, s)
	quote.QuoteRequestAddQuantity(b, qty)
	quote.QuoteRequestAddLevels(b, lv)
	b.FinishWithFileIdentifier(quote.QuoteRequestEnd(b), []byte(fileID))
	return b.FinishedBytes()
}

// The reply is answered end-aligned, where the builder left it: the last
// n bytes of resp, also when the buffer's length is no multiple of 8 (the
// bytes cut for the alignment follow the reply). The front of resp is not
// touched: nothing was moved there.
func TestPrice(t *testing.T) {
	for _, size := range []int{4096, 4093} {
		resp := make([]byte, size)
		for i := range resp {
			resp[i] = 0xEE
		}
		n, rt := price(request(7, "ACME", 100, 10.5, 11), resp, MsgQuote)
		if rt != MsgQuote|shmipc.RespEndAligned {
			t.Fatalf("%d-byte buffer: answer type %#x, want %#x (end-aligned): %q", size, rt, MsgQuote|shmipc.RespEndAligned, resp[:n])
		}
		if n <= 0 || n > 200 {
			t.Fatalf("%d-byte buffer: answer of %d bytes", size, n)
		}
		if resp[0] != 0xEE {
			t.Errorf("%d-byte buffer: the front of the buffer was written", size)
		}
		got := resp[len(resp)-n:]
		if !flatbuffers.BufferHasIdentifier(got, fileID) {
			t.Fatalf("%d-byte buffer: reply has no %s identifier", size, fileID)
		}
		r := quote.GetRootAsQuoteReply(got, 0)
		if r.Id() != 7 || string(r.Symbol()) != "ACME" || r.Quantity() != 100 ||
			r.Best() != 10.5 || r.Total() != 1050 || r.Levels() != 2 {
			t.Fatalf("%d-byte buffer: reply %d %q %d %v %v %d", size, r.Id(), r.Symbol(), r.Quantity(), r.Best(), r.Total(), r.Levels())
		}
	}
}

func TestPriceRefuses(t *testing.T) {
	good := request(1, "X", 1, 1)
	for _, c := range []struct {
		name string
		req  []byte
		t    shmipc.MsgType
		resp int
		want string
	}{
		{"type", good, shmipc.MsgNormal, 4096, "unexpected message type"},
		{"short", []byte{1, 2}, MsgQuote, 4096, "not a QuoteRequest"},
		{"identifier", append([]byte(nil), good[:4]...), MsgQuote, 4096, "not a QuoteRequest"},
		{"offsets", []byte("\xff\xff\x00\x00SHQTxxxxxxxx"), MsgQuote, 4096, "malformed QuoteRequest"},
		{"no levels", request(1, "X", 1), MsgQuote, 4096, "QuoteRequest without levels"},
		// the reply outgrows a small response buffer: refused, not sent
		// from a heap buffer of the builder's
		{"reply too big", request(1, strings.Repeat("S", 200), 1, 1), MsgQuote, 128, "quote reply does not fit"},
	} {
		resp := make([]byte, c.resp)
		n, rt := price(c.req, resp, c.t)
		if rt != shmipc.MsgSystemError || !strings.HasPrefix(string(resp[:n]), c.want) {
			t.Errorf("%s: answer %d %q, want a system error %q", c.name, rt, resp[:n], c.want)
		}
	}
}

// The serve path allocates nothing once its builder is warm.
func TestPriceAllocs(t *testing.T) {
	req := request(3, "HOOLI", 5, 0.5, 0.51)
	resp := make([]byte, 4096)
	price(req, resp, MsgQuote)
	if a := testing.AllocsPerRun(100, func() { price(req, resp, MsgQuote) }); a != 0 {
		t.Fatalf("%v allocations per call", a)
	}
}
