package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Row statuses.
const (
	statusPass = "PASS"
	statusFail = "FAIL"
	statusInfo = "info"
	statusSkip = "SKIP"
)

// row is one line of the result table.
type row struct {
	id, name        string
	direct, proxied string
	ratio, target   string
	status          string
	note            string
}

func (b *bench) add(r row) { b.rows = append(b.rows, r) }

func passIf(ok bool) string {
	if ok {
		return statusPass
	}
	return statusFail
}

// ratioRow compares a higher-is-better figure with its direct value.
func ratioRow(id, name string, direct, via, want float64, format func(float64) string, ok bool, note string) row {
	r := row{id: id, name: name, direct: format(direct), proxied: format(via), target: fmt.Sprintf(">= %.2f", want), note: note}
	if direct > 0 {
		ratio := via / direct
		r.ratio = fmt.Sprintf("%.2f", ratio)
		ok = ok && ratio >= want
	} else {
		ok = false
	}
	r.status = passIf(ok)
	return r
}

func infoRow(id, name, direct, via string) row {
	return row{id: id, name: name, direct: direct, proxied: via, status: statusInfo}
}

// rssRow shows the proxy's memory after a throughput scenario.
func (b *bench) rssRow(id string, t *target) row {
	ps, err := t.proc()
	if err != nil {
		return row{id: id, name: "  proxy RSS now / peak", status: statusInfo, note: err.Error()}
	}
	return infoRow(id, "  proxy RSS now / peak", "", fmtMB(ps.RSS)+" / "+fmtMB(ps.HWM))
}

// report prints the rows as an aligned table (or a Markdown one), then a
// count per status.
func (b *bench) report(w io.Writer, markdown bool) {
	counts := map[string]int{}
	if markdown {
		fmt.Fprintln(w, "| | scenario | direct | proxied | ratio / Δ | target | result | notes |")
		fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
		for _, r := range b.rows {
			counts[r.status]++
			cells := []string{r.id, strings.TrimSpace(r.name), dash(r.direct), dash(r.proxied), dash(r.ratio), dash(r.target), r.status, oneLine(r.note)}
			for i, c := range cells {
				cells[i] = strings.ReplaceAll(c, "|", "\\|")
			}
			fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
		}
	} else {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  \tscenario\tdirect\tproxied\tratio / Δ\ttarget\tresult\tnotes")
		for _, r := range b.rows {
			counts[r.status]++
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.id, r.name, dash(r.direct), dash(r.proxied), dash(r.ratio), dash(r.target), r.status, oneLine(r.note))
		}
		tw.Flush()
	}
	fmt.Fprintf(w, "%d passed, %d failed, %d skipped\n", counts[statusPass], counts[statusFail], counts[statusSkip])
	for _, n := range b.notes {
		fmt.Fprintln(w, "note:", n)
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

func fmtRate(v float64) string { return fmt.Sprintf("%.0f/s", v) }
func fmtMBps(v float64) string { return fmt.Sprintf("%.0f MB/s", v) }
func fmtMB(v int64) string     { return fmt.Sprintf("%.1f MB", float64(v)/(1<<20)) }
func fmtKB(v float64) string   { return fmt.Sprintf("%.1f KB", v/(1<<10)) }

func fmtDur(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}

// fmtDelta shows a signed difference in milliseconds.
func fmtDelta(d time.Duration) string {
	if d < 0 {
		return "-" + fmtDur(-d)
	}
	return "+" + fmtDur(d)
}

// fmtP shows p50 / p99 of a load run.
func fmtP(s stats) string {
	return fmtDur(s.Percentile(50)) + " / " + fmtDur(s.Percentile(99))
}
