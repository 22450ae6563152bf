// SPDX-License-Identifier: MIT

// Command answers is a Go guest that answers with large answers, the
// README's "Large answers" in Go: it attaches to the segment given with
// -name (default "MyIPC"), and until the host closes the session answers
// each request of type MyAnswer (a little-endian u64 length n, at most
// 1 GiB) with n bytes of a fixed pattern, printing their FNV-1a checksum;
// every other request is echoed. examples/answer_host.c is a host for it.
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"log"
	"os"
	"os/signal"
	"time"

	shmipc "github.com/libshmipc/libshmipc/go"
)

// MyAnswer is the request type examples/answer_host.c sends.
const MyAnswer = shmipc.MsgAppStart + 9

// compute returns the answer to req: n bytes of xorshift32, as
// examples/answer_guest.c makes them, or nil.
func compute(req []byte) []byte {
	if len(req) != 8 || binary.LittleEndian.Uint64(req) > 1<<30 {
		return nil
	}
	b := make([]byte, binary.LittleEndian.Uint64(req))
	x := uint32(1)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	h := fnv.New64a()
	h.Write(b)
	fmt.Printf("answering %d bytes, checksum %016x\n", len(b), h.Sum64())
	return b
}

func main() {
	name := flag.String("name", "MyIPC", "the segment's name, as the host gave it")
	flag.Parse()

	// README:go-answers begin
	lim := shmipc.DefaultAnswerLimits() // 1 GiB per answer and in all, 16
	lim.MaxTotal = 512 << 20            // 512 MiB parked at once
	answers, err := shmipc.NewAnswers(lim,
		func(req, resp []byte, t shmipc.MsgType) (int, []byte, shmipc.MsgType) {
			if t != MyAnswer {
				return copy(resp, req), nil, t // an ordinary answer
			}
			big := compute(req) // any size: kept, not copied, until pulled
			if big == nil {
				return copy(resp, "bad request"), nil, shmipc.MsgSystemError
			}
			return 0, big, t
		})
	if err != nil {
		log.Fatal(err)
	}
	// ... Connect as in the quick start, then:
	// README:hide begin
	g, err := shmipc.Connect(*name, &shmipc.Options{ConnectTimeout: 5 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	defer g.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	// README:hide end
	err = g.ServeAnswers(ctx, answers)
	// README:go-answers end
	switch {
	case err == nil:
		fmt.Println("answers: the host closed the session")
	case errors.Is(err, context.Canceled):
		fmt.Println("answers: interrupted")
	default: // shmipc.ErrHostGone: the host died or was replaced
		log.Fatal("serve: ", err)
	}
}
