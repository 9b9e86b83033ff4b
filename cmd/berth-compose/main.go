// Command berth-compose is `berth compose`: Compose projects on berthd. It
// is a binary of its own so that the berth CLI stays lean (compose-go and
// its YAML and schema libraries are not linked into every `berth run`);
// `berth compose ARGS` executes it. It talks to berthd through the Go client
// of berth's gRPC API and holds no engine logic.
package main

import (
	"context"
	"os"

	"github.com/berthproject/berth/cmd/berth-compose/internal/compose"
)

// version is set at build time: -ldflags "-X main.version=…".
var version = "dev"

func main() {
	os.Exit(compose.Main(context.Background(), compose.Env{
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Version: version,
	}, os.Args))
}
