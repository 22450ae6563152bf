package shmipc

import (
	"encoding/binary"
	"errors"
	"testing"
)

// validHeader returns a READY header for the given geometry.
func validHeader(h, g, req, resp uint32) []byte {
	le := binary.LittleEndian
	b := make([]byte, headerSize)
	stride := slotHeaderSize + round64(uint64(req)) + round64(uint64(resp))
	le.PutUint64(b[0:], protoMagic)
	le.PutUint32(b[8:], protoVersion)
	le.PutUint32(b[12:], headerSize)
	le.PutUint32(b[16:], h)
	le.PutUint32(b[20:], g)
	le.PutUint32(b[24:], req)
	le.PutUint32(b[28:], resp)
	le.PutUint32(b[32:], slotHeaderSize)
	le.PutUint32(b[36:], uint32(stride))
	le.PutUint32(b[40:], slotsOffset)
	le.PutUint64(b[48:], slotsOffset+uint64(h+g)*stride)
	le.PutUint64(b[56:], 0x1234)
	le.PutUint32(b[64:], hostReady)
	return b
}

// FuzzParseHeader feeds arbitrary headers to the attach-time validation:
// it must never panic, must only return the documented codes, and a
// header it accepts must describe a segment whose every slot fits.
func FuzzParseHeader(f *testing.F) {
	f.Add(validHeader(4, 0, 65536, 65536))
	f.Add(validHeader(1, 1, 1, 1))
	f.Add(validHeader(maxSlots, maxSlots, maxCapacity, maxCapacity))
	f.Add(make([]byte, headerSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		geo, err := parseHeader(b)
		if err != nil {
			if !retryable(err) && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrVersion) &&
				!errors.Is(err, ErrPeerGone) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		stride := uint64(geo.slotStride)
		if geo.hostSlots < 1 || geo.hostSlots > maxSlots || geo.guestSlots > maxSlots ||
			geo.reqCapacity < 1 || geo.reqCapacity > maxCapacity ||
			geo.respCapacity < 1 || geo.respCapacity > maxCapacity ||
			stride < slotHeaderSize+uint64(geo.reqCapacity)+uint64(geo.respCapacity) ||
			geo.segmentSize != slotsOffset+uint64(geo.hostSlots+geo.guestSlots)*stride {
			t.Fatalf("accepted an inconsistent geometry %+v", geo)
		}
	})
}
