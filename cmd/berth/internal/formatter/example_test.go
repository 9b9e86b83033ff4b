package formatter_test

import (
	"os"

	"github.com/berthproject/berth/cmd/berth/internal/formatter"
)

type network struct{ ID, Name, Driver string }

// A command lists rows with a default table that --format can replace.
func Example() {
	f, err := formatter.Parse("" /* the user's --format */, `table {{.ID}}\t{{.Name}}\t{{.Driver}}`)
	if err != nil {
		panic(err)
	}
	headers := map[string]string{"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER"}
	rows := []any{network{"3f57d9401f8d", "bridge", "bridge"}, network{"a1b2c3d4e5f6", "backend-net", "macvlan"}}
	_ = f.Write(os.Stdout, headers, rows)
	// Output:
	// NETWORK ID     NAME          DRIVER
	// 3f57d9401f8d   bridge        bridge
	// a1b2c3d4e5f6   backend-net   macvlan
}
