package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// progressEvery is how many shipments pass between two progress updates.
const progressEvery = 10_000

// progressBar redraws one line on a terminal ("\r") as a file is read. A
// nil *progressBar draws nothing.
type progressBar struct {
	w     io.Writer
	size  int64  // bytes in the file
	read  *int64 // bytes read so far
	rows  int
	start time.Time
}

func (p *progressBar) tick() {
	if p == nil {
		return
	}
	p.rows++
	if p.rows%progressEvery == 0 {
		p.draw()
	}
}

func (p *progressBar) done() {
	if p == nil {
		return
	}
	p.draw()
	fmt.Fprintf(p.w, " in %v\n", time.Since(p.start).Round(time.Millisecond))
}

func (p *progressBar) draw() {
	pct := int64(100)
	if p.size > 0 {
		pct = min(*p.read*100/p.size, 100)
	}
	const width = 30
	filled := int(pct * width / 100)
	fmt.Fprintf(p.w, "\r[%s%s] %3d%% %d shipments", strings.Repeat("#", filled), strings.Repeat(".", width-filled), pct, p.rows)
}

// countingReader counts the bytes read through it, for the progress bar.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
