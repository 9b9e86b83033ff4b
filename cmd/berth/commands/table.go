package commands

import (
	"io"
	"strings"
	"text/tabwriter"
)

// writeTable prints titles and rows aligned as Docker's tables.
func writeTable(w io.Writer, titles []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 10, 1, 3, ' ', 0)
	if len(titles) > 0 {
		if _, err := io.WriteString(tw, strings.Join(titles, "\t")+"\n"); err != nil {
			return err
		}
	}
	for _, r := range rows {
		if _, err := io.WriteString(tw, strings.Join(r, "\t")+"\n"); err != nil {
			return err
		}
	}
	return tw.Flush()
}

func joinArgs(a []string) string { return strings.Join(a, " ") }
