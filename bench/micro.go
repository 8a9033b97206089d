package main

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
)

// microPackages hold the in-house components' Go benchmarks.
var microPackages = []string{
	"./components/processor/traceregistryprocessor/...",
	"./components/exporter/otlpretryexporter/...",
}

type microResult struct {
	Package string
	Command string
	Output  string // raw go test output, benchstat-friendly
	Note    string
}

var benchFunc = regexp.MustCompile(`(?m)^func Benchmark\w*\(`)

// hasBenchmarks reports whether the packages under dir have Benchmark functions.
func hasBenchmarks(dir string) bool {
	found := false
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || found {
			return filepath.SkipAll
		}
		if !d.IsDir() && strings.HasSuffix(path, "_test.go") {
			if b, err := os.ReadFile(path); err == nil && benchFunc.Match(b) {
				found = true
			}
		}
		return nil
	})
	return found
}

func runMicro(o options, logf func(string, ...any)) []microResult {
	var out []microResult
	for _, pkg := range microPackages {
		args := []string{"test", "-run", "^$", "-bench", ".", "-benchmem",
			"-count", fmt.Sprint(o.MicroCount), "-benchtime", o.BenchTime, "-timeout", "10m", pkg}
		m := microResult{Package: strings.TrimPrefix(pkg, "./"), Command: "go " + strings.Join(args, " ")}
		if !hasBenchmarks(filepath.Join(o.Root, strings.TrimSuffix(pkg, "/..."))) {
			m.Note = "No Benchmark functions in this package yet: nothing to run."
			logf("micro %s: no Benchmark functions yet", m.Package)
			out = append(out, m)
			continue
		}
		logf("micro: %s", m.Command)
		cmd := exec.Command("go", args...)
		cmd.Dir = o.Root
		var buf strings.Builder
		pr, pw := io.Pipe()
		cmd.Stdout, cmd.Stderr = pw, pw
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := bufio.NewScanner(pr)
			for sc.Scan() {
				line := sc.Text()
				buf.WriteString(line + "\n")
				logf("  %s", line)
			}
		}()
		err := cmd.Run()
		pw.Close()
		wg.Wait()
		m.Output = buf.String()
		if err != nil {
			m.Note = fmt.Sprintf("go test failed: %v", err)
			logf("micro %s: %s", m.Package, m.Note)
		}
		out = append(out, m)
	}
	return out
}
