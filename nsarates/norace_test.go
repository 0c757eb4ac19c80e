//go:build !race

package nsarates

const raceEnabled = false
