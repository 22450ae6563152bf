// SPDX-License-Identifier: MIT

// Command streams is a Go guest that receives streams, the README's
// "Streams" in Go: it attaches to the segment given with -name (default
// "MyIPC"), and until the host closes the session it prints, for each
// stream of type MyStream, its length and the FNV-1a checksum of its
// bytes; streams of other types are refused, streams above 16 MiB are
// refused at their start, and every other request is echoed.
// examples/stream_sender.c is a host for it.
package main

import (
	"context"
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

// MyStream is the application type examples/stream_sender.c sends.
const MyStream = shmipc.MsgAppStart + 7

// consume prints what arrived, as examples/stream_receiver.c does.
func consume(id uint64, data []byte) {
	h := fnv.New64a()
	h.Write(data)
	fmt.Printf("stream %d of type %d: %d bytes, checksum %016x\n", id, MyStream, len(data), h.Sum64())
}

// handler answers every request that is not a stream's: an echo.
func handler(req, resp []byte, t shmipc.MsgType) (int, shmipc.MsgType) {
	return copy(resp, req), t
}

func main() {
	name := flag.String("name", "MyIPC", "the segment's name, as the host gave it")
	flag.Parse()

	// README:go-streams begin
	lim := shmipc.DefaultStreamLimits() // 1 GiB per stream and in all, 16 streams
	lim.MaxStream = 16 << 20            // nothing larger than 16 MiB
	lim.MaxTotal = 64 << 20             // 64 MiB for all open streams
	var ra *shmipc.Reassembler          // declared first: the callback uses it
	ra, err := shmipc.NewReassembler(lim,
		func(id uint64, appType shmipc.MsgType, data []byte) error {
			if appType != MyStream {
				return shmipc.ErrRefused // the sender gets SHMIPC_E_REFUSED
			}
			consume(id, data) // data is ours; Recycle lets the next stream
			ra.Recycle(data)  // of this size reuse it instead of a zeroed one
			return nil
		}, handler)
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
	err = g.Serve(ctx, ra.Handle)
	// README:go-streams end
	switch {
	case err == nil:
		fmt.Println("streams: the host closed the session")
	case errors.Is(err, context.Canceled):
		fmt.Println("streams: interrupted")
	default: // shmipc.ErrHostGone: the host died or was replaced
		log.Fatal("serve: ", err)
	}
}
