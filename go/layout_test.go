package shmipc

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// goldenPath is tests/layout.golden, shared with the C tests.
const goldenPath = "../tests/layout.golden"

func TestLayoutGolden(t *testing.T) {
	var h segHeader
	var s slotHeader
	var sc sideCounters
	var pc slotCounters
	f := func(off, size uintptr) [2]int64 { return [2]int64{int64(off), int64(size)} }
	c := func(v int64) [2]int64 { return [2]int64{v, 0} }

	// Every row of the golden file, as this package sees it: value and size.
	want := map[string][2]int64{
		"const/magic":              c(protoMagic),
		"const/version":            c(protoVersion),
		"const/header_size":        c(headerSize),
		"const/slot_header_size":   c(slotHeaderSize),
		"const/slots_offset":       c(slotsOffset),
		"const/max_slots":          c(maxSlots),
		"const/max_capacity":       c(maxCapacity),
		"const/max_name_len":       c(maxNameLen),
		"const/counters_align":     c(countersAlign),
		"const/counters_side_size": c(countersSideSize),
		"const/counters_host":      c(countersHost),
		"const/counters_guest":     c(countersGuest),
		"const/counters_slots":     c(countersSlots),
		"const/counters_slot_size": c(countersSlotSize),

		"header/magic":            f(unsafe.Offsetof(h.magic), unsafe.Sizeof(h.magic)),
		"header/version":          f(unsafe.Offsetof(h.version), unsafe.Sizeof(h.version)),
		"header/header_size":      f(unsafe.Offsetof(h.headerSize), unsafe.Sizeof(h.headerSize)),
		"header/host_slots":       f(unsafe.Offsetof(h.hostSlots), unsafe.Sizeof(h.hostSlots)),
		"header/guest_slots":      f(unsafe.Offsetof(h.guestSlots), unsafe.Sizeof(h.guestSlots)),
		"header/req_capacity":     f(unsafe.Offsetof(h.reqCapacity), unsafe.Sizeof(h.reqCapacity)),
		"header/resp_capacity":    f(unsafe.Offsetof(h.respCapacity), unsafe.Sizeof(h.respCapacity)),
		"header/slot_header_size": f(unsafe.Offsetof(h.slotHeaderSize), unsafe.Sizeof(h.slotHeaderSize)),
		"header/slot_stride":      f(unsafe.Offsetof(h.slotStride), unsafe.Sizeof(h.slotStride)),
		"header/slots_offset":     f(unsafe.Offsetof(h.slotsOffset), unsafe.Sizeof(h.slotsOffset)),
		"header/flags":            f(unsafe.Offsetof(h.flags), unsafe.Sizeof(h.flags)),
		"header/segment_size":     f(unsafe.Offsetof(h.segmentSize), unsafe.Sizeof(h.segmentSize)),
		"header/session_nonce":    f(unsafe.Offsetof(h.sessionNonce), unsafe.Sizeof(h.sessionNonce)),
		"header/host_state":       f(unsafe.Offsetof(h.hostState), unsafe.Sizeof(h.hostState)),
		"header/host_pid":         f(unsafe.Offsetof(h.hostPid), unsafe.Sizeof(h.hostPid)),
		"header/attach":           f(unsafe.Offsetof(h.attach), unsafe.Sizeof(h.attach)),
		"header/guest_pid":        f(unsafe.Offsetof(h.guestPid), unsafe.Sizeof(h.guestPid)),
		"header/doorbell":         f(unsafe.Offsetof(h.doorbell), unsafe.Sizeof(h.doorbell)),

		"slot/ctrl":            f(unsafe.Offsetof(s.ctrl), unsafe.Sizeof(s.ctrl)),
		"slot/req_type":        f(unsafe.Offsetof(s.reqType), unsafe.Sizeof(s.reqType)),
		"slot/req_size":        f(unsafe.Offsetof(s.reqSize), unsafe.Sizeof(s.reqSize)),
		"slot/req_flags":       f(unsafe.Offsetof(s.reqFlags), unsafe.Sizeof(s.reqFlags)),
		"slot/req_seq":         f(unsafe.Offsetof(s.reqSeq), unsafe.Sizeof(s.reqSeq)),
		"slot/resp_type":       f(unsafe.Offsetof(s.respType), unsafe.Sizeof(s.respType)),
		"slot/resp_size":       f(unsafe.Offsetof(s.respSize), unsafe.Sizeof(s.respSize)),
		"slot/resp_flags":      f(unsafe.Offsetof(s.respFlags), unsafe.Sizeof(s.respFlags)),
		"slot/resp_seq":        f(unsafe.Offsetof(s.respSeq), unsafe.Sizeof(s.respSeq)),
		"slot/req_time":        f(unsafe.Offsetof(s.reqTime), unsafe.Sizeof(s.reqTime)),
		"slot/deadline":        f(unsafe.Offsetof(s.deadline), unsafe.Sizeof(s.deadline)),
		"side/timeouts":        f(unsafe.Offsetof(sc.timeouts), unsafe.Sizeof(sc.timeouts)),
		"side/cancels":         f(unsafe.Offsetof(sc.cancels), unsafe.Sizeof(sc.cancels)),
		"side/quarantined":     f(unsafe.Offsetof(sc.quarantined), unsafe.Sizeof(sc.quarantined)),
		"side/late_dropped":    f(unsafe.Offsetof(sc.lateDropped), unsafe.Sizeof(sc.lateDropped)),
		"side/recovered":       f(unsafe.Offsetof(sc.recovered), unsafe.Sizeof(sc.recovered)),
		"side/peer_gone":       f(unsafe.Offsetof(sc.peerGone), unsafe.Sizeof(sc.peerGone)),
		"side/remote":          f(unsafe.Offsetof(sc.remote), unsafe.Sizeof(sc.remote)),
		"side/corrupt":         f(unsafe.Offsetof(sc.corrupt), unsafe.Sizeof(sc.corrupt)),
		"side/other_sleeps":    f(unsafe.Offsetof(sc.otherSleeps), unsafe.Sizeof(sc.otherSleeps)),
		"side/other_wakes":     f(unsafe.Offsetof(sc.otherWakes), unsafe.Sizeof(sc.otherWakes)),
		"side/stream_chunks":   f(unsafe.Offsetof(sc.streamChunks), unsafe.Sizeof(sc.streamChunks)),
		"side/stream_bytes":    f(unsafe.Offsetof(sc.streamBytes), unsafe.Sizeof(sc.streamBytes)),
		"side/stream_drops":    f(unsafe.Offsetof(sc.streamDrops), unsafe.Sizeof(sc.streamDrops)),
		"side/attaches":        f(unsafe.Offsetof(sc.attaches), unsafe.Sizeof(sc.attaches)),
		"side/epoch":           f(unsafe.Offsetof(sc.epoch), unsafe.Sizeof(sc.epoch)),
		"side/start_time":      f(unsafe.Offsetof(sc.startTime), unsafe.Sizeof(sc.startTime)),
		"slotctr/req_calls":    f(unsafe.Offsetof(pc.reqCalls), unsafe.Sizeof(pc.reqCalls)),
		"slotctr/req_answered": f(unsafe.Offsetof(pc.reqAnswered), unsafe.Sizeof(pc.reqAnswered)),
		"slotctr/req_sleeps":   f(unsafe.Offsetof(pc.reqSleeps), unsafe.Sizeof(pc.reqSleeps)),
		"slotctr/req_wakes":    f(unsafe.Offsetof(pc.reqWakes), unsafe.Sizeof(pc.reqWakes)),
		"slotctr/resp_served":  f(unsafe.Offsetof(pc.respServed), unsafe.Sizeof(pc.respServed)),
		"slotctr/resp_errors":  f(unsafe.Offsetof(pc.respErrors), unsafe.Sizeof(pc.respErrors)),
		"slotctr/resp_sleeps":  f(unsafe.Offsetof(pc.respSleeps), unsafe.Sizeof(pc.respSleeps)),
		"slotctr/resp_wakes":   f(unsafe.Offsetof(pc.respWakes), unsafe.Sizeof(pc.respWakes)),

		"ctrl/state_mask":        c(ctrlStateMask),
		"ctrl/requester_waiting": c(ctrlRW),
		"ctrl/responder_waiting": c(ctrlSW),
		"ctrl/reserved_mask":     c(ctrlReservedMask),
		"ctrl/gen_shift":         c(ctrlGenShift),

		"state/free":       c(stateFree),
		"state/claimed":    c(stateClaimed),
		"state/req_ready":  c(stateReqReady),
		"state/processing": c(stateProcessing),
		"state/resp_ready": c(stateRespReady),

		"host/init":   c(hostInit),
		"host/ready":  c(hostReady),
		"host/closed": c(hostClosed),

		"attach/none":          c(attachNone),
		"attach/attached":      c(attachAttached),
		"attach/detached":      c(attachDetached),
		"attach/state_mask":    c(attachStateMask),
		"attach/host_waiting":  c(attachHostWaiting),
		"attach/epoch_shift":   c(attachEpochShift),
		"attach/epoch_mask":    c(attachEpochMask),
		"attach/reserved_mask": c(attachReservedMask),

		"doorbell/listener_waiting": c(doorbellListenerWaiting),
		"doorbell/counter_mask":     c(doorbellCounterMask),

		"deadline/cancelled_bit": c(deadlineCancelledBit),
		"deadline/budget_bit":    c(deadlineBudgetBit),
		"deadline/value_mask":    c(int64(deadlineValueMask)),

		"flag/end_aligned": c(flagEndAligned),

		"lock/host_byte":  c(lockHostByte),
		"lock/guest_byte": c(lockGuestByte),

		"msg/normal":           c(int64(MsgNormal)),
		"msg/shutdown":         c(int64(MsgShutdown)),
		"msg/system_error":     c(int64(MsgSystemError)),
		"msg/guest_call":       c(int64(MsgGuestCall)),
		"msg/stream_start":     c(int64(MsgStreamStart)),
		"msg/stream_chunk":     c(int64(MsgStreamChunk)),
		"msg/large_answer":     c(int64(MsgLargeAnswer)),
		"msg/answer_pull":      c(int64(MsgAnswerPull)),
		"msg/app_start":        c(int64(MsgAppStart)),
		"msg/resp_end_aligned": c(int64(RespEndAligned)),

		"answer/id":       f(answerID, 8),
		"answer/total":    f(answerTotal, 8),
		"answer/app_type": f(answerType, 4),
		"answer/flags":    f(answerFlags, 4),
		"answer/size":     c(answerHdrSize),
		"pull/id":         f(pullID, 8),
		"pull/offset":     f(pullOffset, 8),
		"pull/len":        f(pullLen, 4),
		"pull/flags":      f(pullFlags, 4),
		"pull/size":       c(pullHdrSize),
		"pull/release":    c(pullRelease),
		"pull/abort":      c(pullAbort),
		"pullresp/status": f(pullRespStatus, 4),
		"pullresp/state":  f(pullRespState, 4),
		"pullresp/total":  f(pullRespTotal, 8),
		"pullresp/size":   c(pullRespSize),

		"error/ok": c(0),
	}
	for name, e := range map[string]*Error{
		"invalid": ErrInvalid, "name": ErrName, "nomem": ErrNoMem, "exists": ErrExists,
		"not_found": ErrNotFound, "access": ErrAccess, "version": ErrVersion,
		"corrupt": ErrCorrupt, "timeout": ErrTimeout, "peer_gone": ErrPeerGone,
		"too_big": ErrTooBig, "truncated": ErrTruncated, "remote": ErrRemote,
		"busy": ErrBusy, "closed": ErrClosed, "system": ErrSystem, "state": ErrState,
		"refused": ErrRefused, "aborted": ErrAborted,
	} {
		want["error/"+name] = c(int64(e.Code()))
	}

	rows := readGolden(t)
	for key, got := range rows {
		w, ok := want[key]
		if !ok {
			t.Errorf("%s: in %s but unknown to the Go guest", key, goldenPath)
			continue
		}
		if got != w {
			t.Errorf("%s: golden value %#x size %d, Go has value %#x size %d", key, got[0], got[1], w[0], w[1])
		}
	}
	for key := range want {
		if _, ok := rows[key]; !ok {
			t.Errorf("%s: defined in Go but missing from %s", key, goldenPath)
		}
	}

	// The mirrors cover exactly the header and the slot header, and the
	// reserved bits are the ones the diagram leaves zero.
	if unsafe.Sizeof(h) != headerSize || unsafe.Sizeof(s) != slotHeaderSize {
		t.Errorf("sizeof(segHeader) %d, sizeof(slotHeader) %d", unsafe.Sizeof(h), unsafe.Sizeof(s))
	}
	if unsafe.Sizeof(sc) != countersSideSize || unsafe.Sizeof(pc) != countersSlotSize {
		t.Errorf("sizeof(sideCounters) %d, sizeof(slotCounters) %d", unsafe.Sizeof(sc), unsafe.Sizeof(pc))
	}
	if ctrlStateMask|ctrlRW|ctrlSW|ctrlReservedMask|ctrlGenMask<<ctrlGenShift != 0xFFFFFFFF {
		t.Errorf("control word bits do not cover 32 bits exactly")
	}
	if attachStateMask|attachEpochMask|attachReservedMask|attachHostWaiting != 0xFFFFFFFF ||
		attachEpochMask>>attachEpochShift != 0xFFFF {
		t.Errorf("attach word bits do not cover 32 bits exactly")
	}
	if ErrHostGone != ErrPeerGone {
		t.Errorf("ErrHostGone is not ErrPeerGone")
	}
}

// readGolden returns the golden file's rows as "kind/name" -> {value, size}.
func readGolden(t *testing.T) map[string][2]int64 {
	t.Helper()
	fh, err := os.Open(goldenPath)
	if err != nil {
		t.Fatalf("the layout golden file is shared with the C tests and must be readable: %v", err)
	}
	defer fh.Close()
	rows := map[string][2]int64{}
	sc := bufio.NewScanner(fh)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		cols := strings.Fields(text)
		if len(cols) != 4 {
			t.Fatalf("%s:%d: want 4 columns, got %q", goldenPath, line, text)
		}
		value, err1 := parseGoldenInt(cols[2])
		size, err2 := strconv.ParseInt(cols[3], 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("%s:%d: bad number in %q", goldenPath, line, text)
		}
		key := cols[0] + "/" + cols[1]
		if _, dup := rows[key]; dup {
			t.Fatalf("%s:%d: duplicate row %s", goldenPath, line, key)
		}
		rows[key] = [2]int64{value, size}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 {
		t.Fatalf("%s has no rows", goldenPath)
	}
	return rows
}

// parseGoldenInt parses a decimal or 0x-hex value, possibly negative.
func parseGoldenInt(s string) (int64, error) {
	if u, err := strconv.ParseUint(s, 0, 64); err == nil {
		return int64(u), nil
	}
	return strconv.ParseInt(s, 0, 64)
}
