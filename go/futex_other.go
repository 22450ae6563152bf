//go:build !linux

package shmipc

import "time"

// futexWait is never reached on an unsupported OS (Connect fails first).
func futexWait(addr *uint32, val uint32, d time.Duration) {}

// futexWake is never reached on an unsupported OS (Connect fails first).
func futexWake(addr *uint32) {}

// osYield is never reached on an unsupported OS (Connect fails first).
func osYield() {}
