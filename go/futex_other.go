//go:build !linux && !windows

package shmipc

import "time"

// wordWait is never reached on an unsupported OS (Connect fails first).
func (g *Guest) wordWait(addr *uint32, val, bit uint32, d time.Duration) {}

// wordWake is never reached on an unsupported OS (Connect fails first).
func (g *Guest) wordWake(addr *uint32, bits uint32) {}

// osYield is never reached on an unsupported OS (Connect fails first).
func osYield() {}
