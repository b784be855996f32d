// Command pagecost measures what one page of the crawl benchmark costs the
// Go side in CPU, with no Python in the process:
//
//	pagecost -input FILE -mode bridge|upstream -pages 4000 -concurrency 128
//
// FILE holds the request input the handler builds for one page (JSON, the
// "input" of a requestStream submission, docs/abi.rst); page K requests its
// requestUrl with K appended. The two modes:
//
//   - upstream: upstream's client (github.com/bogdanfinn/tls-client) makes
//     each request itself, from a pool of goroutines, with the input's
//     headers in their order, its profile (one of upstream's compiled
//     ones) and its connection limits: no library around it;
//   - bridge: each request goes through this project's library as the
//     handler drives it, a submission frame on a completion socket and its
//     answer back on the same socket.
//
// Pages go as fast as the server answers. After warm-up pages that open the
// connections, it prints one JSON line:
//
//	{"mode":"bridge","pages":4000,"concurrency":128,"cpu_us_per_page":123.4,"wall_s":5.6}
//
// where the CPU is the whole process's user and system time. The test
// server runs in another process (benchmarks/native_page_cpu.py starts it).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/scrapy-tlsclient/native/bridge"
)

// result is the line pagecost prints.
type result struct {
	Mode          string  `json:"mode"`
	Pages         int     `json:"pages"`
	Concurrency   int     `json:"concurrency"`
	CPUMicrosPage float64 `json:"cpu_us_per_page"`
	WallSeconds   float64 `json:"wall_s"`
}

// pageMaker makes pages and reports the first failure; each mode is one.
type pageMaker interface {
	// run makes pages first to first+n-1, concurrency at a time.
	run(first, n, concurrency int) error
	close()
}

func main() {
	input := flag.String("input", "", "file with one page's request input (required)")
	mode := flag.String("mode", "bridge", "bridge or upstream")
	pages := flag.Int("pages", 4000, "pages to measure")
	warmup := flag.Int("warmup", 0, "pages before measuring (default: 2 x concurrency)")
	concurrency := flag.Int("concurrency", 128, "requests in flight")
	flag.Parse()
	out, err := run(*input, *mode, *pages, *warmup, *concurrency)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pagecost:", err)
		os.Exit(1)
	}
	line, _ := json.Marshal(out)
	fmt.Println(string(line))
}

func run(inputPath, mode string, pages, warmup, concurrency int) (result, error) {
	if inputPath == "" {
		return result{}, fmt.Errorf("-input is required: a file with one page's request input")
	}
	if pages < 1 || concurrency < 1 || warmup < 0 {
		return result{}, fmt.Errorf("-pages and -concurrency must be positive, -warmup not negative")
	}
	if warmup == 0 {
		warmup = 2 * concurrency
	}
	document, err := os.ReadFile(inputPath)
	if err != nil {
		return result{}, err
	}
	// The library's own type for it: both modes read the fields it reads.
	var p bridge.RequestInput
	if err := json.Unmarshal(document, &p); err != nil {
		return result{}, fmt.Errorf("%s: %w", inputPath, err)
	}
	var maker pageMaker
	switch mode {
	case "upstream":
		maker, err = newUpstream(&p, concurrency)
	case "bridge":
		maker, err = newBridge(document, &p)
	default:
		return result{}, fmt.Errorf("-mode %q: accepted: bridge, upstream", mode)
	}
	if err != nil {
		return result{}, err
	}
	defer maker.close()
	if err := maker.run(0, warmup, concurrency); err != nil {
		return result{}, fmt.Errorf("warm-up: %w", err)
	}
	cpuBefore, start := cpuTime(), time.Now()
	if err := maker.run(warmup, pages, concurrency); err != nil {
		return result{}, err
	}
	wall, cpu := time.Since(start), cpuTime()-cpuBefore
	return result{
		Mode: mode, Pages: pages, Concurrency: concurrency,
		CPUMicrosPage: float64(cpu.Microseconds()) / float64(pages),
		WallSeconds:   wall.Seconds(),
	}, nil
}

// cpuTime is the process's user and system time so far, all threads.
func cpuTime() time.Duration {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		panic(err) // RUSAGE_SELF with a valid pointer cannot fail
	}
	return time.Duration(usage.Utime.Nano() + usage.Stime.Nano())
}
