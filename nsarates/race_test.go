//go:build race

package nsarates

const raceEnabled = true
