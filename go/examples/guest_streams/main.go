// SPDX-License-Identifier: MIT

// Command guest_streams is a Go guest that streams to its host, the
// README's "Streams from guest to host" in Go: it attaches to the segment
// given with -name (default "MyIPC"), sends -bytes (default 10 MiB) of the
// pattern examples/stream_sender.c sends as one stream of type MyStream on
// its guest slots, and prints the payload's FNV-1a checksum, which the
// host prints too. examples/guest_stream_host.c is a host for it.
package main

import (
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"log"
	"time"

	shmipc "github.com/libshmipc/libshmipc/go"
)

// MyStream is the application type examples/guest_stream_host.c prints.
const MyStream = shmipc.MsgAppStart + 7

func main() {
	name := flag.String("name", "MyIPC", "the segment's name, as the host gave it")
	n := flag.Int("bytes", 10<<20, "the stream's length")
	flag.Parse()
	data := make([]byte, *n)
	x := uint32(1)
	for i := range data { // xorshift32, as examples/stream_sender.c
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		data[i] = byte(x)
	}
	h := fnv.New64a()
	h.Write(data)
	fmt.Printf("payload: %d bytes, checksum %016x\n", len(data), h.Sum64())
	g, err := shmipc.Connect(*name, &shmipc.Options{ConnectTimeout: 5 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	defer g.Close()

	// README:go-guest-stream begin
	snd, err := g.NewStreamSender(nil) // depth 4, chunk = slot - 32 B
	if err != nil {
		log.Fatal(err)
	}
	id, err := snd.Send(MyStream, data, 30*time.Second) // the whole stream
	var se *shmipc.StreamError
	switch {
	case errors.Is(err, shmipc.ErrRefused) && errors.As(err, &se):
		log.Fatalf("the host refused chunk %d: %v", se.Chunk, se.Reason)
	case err != nil: // ErrPeerGone, ErrTimeout, ErrRemote (no receiver)
		log.Fatal(err)
	}
	// README:go-guest-stream end
	fmt.Printf("sent stream %d: %d bytes\n", id, len(data))
}
