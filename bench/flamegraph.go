package main

import (
	"fmt"
	"html"
	"os"
	"sort"
	"strings"
)

// A flame graph of a CPU profile as a self-contained SVG: every stack from
// the root up, each frame as wide as the CPU time under it, coloured by
// the stage its samples are charged to in the stage table. Hovering a frame
// shows its name, time and share. Written for results.md, viewable in any
// browser, no tool needed.

type flameNode struct {
	name     string
	value    float64 // CPU seconds in this frame and above it
	stages   map[string]float64
	children map[string]*flameNode
}

func newFlameNode(name string) *flameNode {
	return &flameNode{name: name, stages: map[string]float64{}, children: map[string]*flameNode{}}
}

func (cp *cpuProfile) flameTree() (*flameNode, error) {
	idx, err := cpuIndex(cp.prof)
	if err != nil {
		return nil, err
	}
	root := newFlameNode("all")
	for _, s := range cp.prof.Sample {
		sec := float64(s.Value[idx]) / 1e9
		fr := frames(s)
		st := stageOf(fr)
		n := root
		n.value += sec
		n.stages[st] += sec
		for i := len(fr) - 1; i >= 0; i-- { // root first
			c, ok := n.children[fr[i]]
			if !ok {
				c = newFlameNode(fr[i])
				n.children[fr[i]] = c
			}
			c.value += sec
			c.stages[st] += sec
			n = c
		}
	}
	return root, nil
}

// dominant is the stage most of a frame's time is charged to.
func (n *flameNode) dominant() string {
	best, bestV := otherStage, -1.0
	for _, name := range stageNames() {
		if v := n.stages[name]; v > bestV {
			best, bestV = name, v
		}
	}
	return best
}

var stageColours = map[string]string{
	"GC":                  "#b0b0b0",
	"compress":            "#e8a33d",
	"marshal":             "#d9534f",
	"write-ahead log":     "#c0392b",
	"trace_registry":      "#e74c3c",
	"otlp_retry (other)":  "#f1948a",
	upstreamExporterStage: "#5dade2",
	"receive and decode":  "#48c9b0",
	"send":                "#f7dc6f",
	otherStage:            "#d5d8dc",
}

const (
	flameWidth  = 1200.0
	flameRow    = 16.0
	flameMinPix = 0.5 // frames narrower than this are not drawn
)

// writeFlameGraph writes cp as an SVG flame graph to path.
func (cp *cpuProfile) writeFlameGraph(path, title string) error {
	root, err := cp.flameTree()
	if err != nil {
		return err
	}
	if root.value == 0 {
		return fmt.Errorf("empty profile")
	}
	depth := maxDepth(root, flameWidth/root.value)
	height := float64(depth+3)*flameRow + 20
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="monospace" font-size="11">`+"\n", flameWidth, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="#ffffff"/>`+"\n")
	fmt.Fprintf(&b, `<text x="4" y="14" font-size="13">%s (%.1f CPU s; width = CPU time, colour = stage of the stage table)</text>`+"\n",
		html.EscapeString(title), root.value)
	// Legend.
	x := 4.0
	for _, name := range stageNames() {
		fmt.Fprintf(&b, `<rect x="%.0f" y="22" width="10" height="10" fill="%s"/><text x="%.0f" y="31">%s</text>`+"\n",
			x, stageColours[name], x+13, html.EscapeString(name))
		x += 13 + 7*float64(len(name)) + 12
	}
	base := height - flameRow // the root's row, at the bottom
	drawFlame(&b, root, 0, base, flameWidth/root.value, root.value)
	b.WriteString("</svg>\n")
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func maxDepth(n *flameNode, scale float64) int {
	d := 0
	for _, c := range n.children {
		if c.value*scale >= flameMinPix {
			d = max(d, maxDepth(c, scale)+1)
		}
	}
	return d
}

func drawFlame(b *strings.Builder, n *flameNode, x, y, scale, total float64) {
	w := n.value * scale
	if w < flameMinPix {
		return
	}
	label := n.name
	if i := strings.LastIndex(label, "/"); i >= 0 {
		label = label[i+1:]
	}
	fmt.Fprintf(b, `<g><title>%s: %.2f s (%.1f%%)</title><rect x="%.2f" y="%.0f" width="%.2f" height="%.0f" fill="%s" stroke="#ffffff" stroke-width="0.5"/>`,
		html.EscapeString(n.name), n.value, 100*n.value/total, x, y, w, flameRow-1, stageColours[n.dominant()])
	if chars := int((w - 4) / 6.6); chars >= 3 {
		if len(label) > chars {
			label = label[:chars-2] + ".."
		}
		fmt.Fprintf(b, `<text x="%.2f" y="%.0f">%s</text>`, x+2, y+flameRow-4, html.EscapeString(label))
	}
	b.WriteString("</g>\n")
	kids := make([]*flameNode, 0, len(n.children))
	for _, c := range n.children {
		kids = append(kids, c)
	}
	sort.Slice(kids, func(i, j int) bool { return kids[i].name < kids[j].name })
	cx := x
	for _, c := range kids {
		drawFlame(b, c, cx, y-flameRow, scale, total)
		cx += c.value * scale
	}
}
