package main

import (
	"fmt"
	"path/filepath"
	"strings"
)

// profiled is each row whose first round carries a profile, in table order.
func (r *report) profiled() []*row {
	var out []*row
	for i := range r.Rows {
		if len(r.Rows[i].Samples) > 0 && r.Rows[i].Samples[0].Profile != nil {
			out = append(out, &r.Rows[i])
		}
	}
	return out
}

func flameFile(name string) string { return "flame-" + name + ".svg" }

// pprofFile is the raw profile beside the flame graph, for `go tool pprof`
// (-top, -list, -diff_base between two runs).
func pprofFile(name string) string { return "cpu-" + name + ".pprof" }

// writeFlameGraphs writes one SVG and the raw profile per profiled row into
// dir.
func (r *report) writeFlameGraphs(dir string) error {
	for _, row := range r.profiled() {
		s := row.Samples[0]
		title := fmt.Sprintf("%s, round 1, %s measured window", row.Name, s.Profile.Window)
		if err := s.Profile.writeFlameGraph(filepath.Join(dir, flameFile(row.Name)), title); err != nil {
			return fmt.Errorf("%s: %w", row.Name, err)
		}
		if err := s.Profile.writeRaw(filepath.Join(dir, pprofFile(row.Name))); err != nil {
			return fmt.Errorf("%s: %w", row.Name, err)
		}
	}
	return nil
}

// mdProfiles is the table of CPU by stage: for each profiled row, its
// first round's CPU seconds per million spans charged to each stage (the
// stage's share of the profile times the round's CPU per million spans),
// and the share in brackets.
func (r *report) mdProfiles(b *strings.Builder) {
	rows := r.profiled()
	fmt.Fprintf(b, "## Where the collector's CPU goes, by stage\n\n")
	if len(rows) == 0 {
		fmt.Fprintf(b, "No profiled row ran (rows with a profile: ceiling, stock, gateway-wal-always, gateway-wal-always-no-registry).\n\n")
		return
	}
	fmt.Fprintf(b, "A CPU profile of the collector (pprof extension, 100 Hz) over the measured window of each profiled row's first round. ")
	fmt.Fprintf(b, "A sample is charged to the stage of its innermost frame that belongs to one, so a stage's allocations, copies and syscalls count as its own; GC is the background and assist marking and sweeping. ")
	fmt.Fprintf(b, "Each cell is CPU seconds per million spans delivered (the stage's share of the profile times that round's CPU per million spans), share in brackets. ")
	fmt.Fprintf(b, "Rows marked *ours* are otlpcol's own code between the receiver and the codec. One round each: read the stage shares, not small differences between rows.\n\n")
	fmt.Fprintf(b, "| stage |")
	for _, row := range rows {
		fmt.Fprintf(b, " %s |", row.Name)
	}
	fmt.Fprintf(b, "\n|---|%s\n", strings.Repeat("--:|", len(rows)))
	ours := map[string]bool{}
	for _, s := range stages {
		ours[s.Name] = s.Ours
	}
	for _, name := range stageNames() {
		label := name
		if ours[name] {
			label += " *(ours)*"
		}
		fmt.Fprintf(b, "| %s |", label)
		for _, row := range rows {
			s := row.Samples[0]
			sh := s.Profile.share(name)
			fmt.Fprintf(b, " %.2f (%.0f%%) |", sh*s.CPUPerM, 100*sh)
		}
		fmt.Fprintf(b, "\n")
	}
	fmt.Fprintf(b, "| **otlpcol's own stages** |")
	for _, row := range rows {
		s := row.Samples[0]
		fmt.Fprintf(b, " **%.2f (%.0f%%)** |", s.Profile.ours()*s.CPUPerM, 100*s.Profile.ours())
	}
	fmt.Fprintf(b, "\n| total CPU s per M spans (this round) |")
	for _, row := range rows {
		fmt.Fprintf(b, " %.2f |", row.Samples[0].CPUPerM)
	}
	fmt.Fprintf(b, "\n\n")
	if ceil := r.find("ceiling"); ceil != nil && len(ceil.Samples) > 0 && ceil.Samples[0].Profile != nil {
		c := ceil.Samples[0]
		fmt.Fprintf(b, "Above the ceiling (receiving alone costs %.2f CPU s per M spans in its profiled round):", c.CPUPerM)
		for _, row := range rows {
			if row.Name == "ceiling" {
				continue
			}
			s := row.Samples[0]
			fmt.Fprintf(b, " %s adds %.2f, of which otlpcol's own stages %.2f;", row.Name, s.CPUPerM-c.CPUPerM, s.Profile.ours()*s.CPUPerM)
		}
		fmt.Fprintf(b, " the rest is the codec, sending and GC.\n\n")
	}
	r.mdOursTarget(b, rows)
	fmt.Fprintf(b, "Flame graphs (SVG; hover a frame for its name and share):")
	for _, row := range rows {
		fmt.Fprintf(b, " [%s](%s)", row.Name, flameFile(row.Name))
	}
	fmt.Fprintf(b, "; raw profiles for `go tool pprof`: `cpu-<row>.pprof` beside them.\n\n")
}

// mdOursTarget judges the gateway rows' profiles against maxOursShare. A
// profile is one round: the share has no spread to judge by, so the line
// says so rather than call a small miss noise.
func (r *report) mdOursTarget(b *strings.Builder, rows []*row) {
	var parts []string
	for _, row := range rows {
		if !row.Gateway {
			continue
		}
		sh := row.Samples[0].Profile.ours()
		word := "met"
		if sh > maxOursShare {
			word = "MISSED"
		}
		parts = append(parts, fmt.Sprintf("%s %.0f%%, %s", row.Name, 100*sh, word))
	}
	if len(parts) == 0 {
		return
	}
	fmt.Fprintf(b, "Target: otlpcol's own stages at most %.0f%% of the gateway's CPU (half of the %.0f%% issue 25's profile found), from one profiled round each: %s.\n\n",
		100*maxOursShare, 100*issueOursShare, strings.Join(parts, "; "))
}
