package shmipc

import "testing"

// The phase policy of every wait: a spinner spends the spins of its
// budget that are left, then yieldBudget yields, and then tells the waiter
// to check and sleep, and goes on telling it so; the zero spinner (a
// worker right after the pollers went idle) sleeps at once.
func TestSpinnerPhases(t *testing.T) {
	g := &Guest{opts: Options{SpinBudget: 1000}}
	off := &Guest{opts: Options{SpinBudget: 0}} // spinning off: yields only
	shared := g.spinner(0)
	shared.shareP = true
	for _, c := range []struct {
		name string
		sp   spinner
		want int
	}{
		{"whole budget", g.spinner(0), 1000 + yieldBudget},
		{"half spent elsewhere", g.spinner(500), 500 + yieldBudget},
		{"sharing the P", shared, 1000 + yieldBudget},
		{"spinning off", off.spinner(0), yieldBudget},
		{"zero", spinner{}, 0},
	} {
		steps := 0
		for c.sp.spin() {
			if steps++; steps > 2*(1000+yieldBudget) {
				break
			}
		}
		if steps != c.want {
			t.Errorf("%s: %d steps before the sleep, want %d", c.name, steps, c.want)
		}
		if c.sp.spin() {
			t.Errorf("%s: spun again after the phases were spent", c.name)
		}
	}
}
