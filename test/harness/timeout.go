package harness

import (
	"os"
	"strconv"
	"time"
)

// EnvTimeoutScale stretches every bounded wait of the harness and the
// tests by an integer factor (default 1).
const EnvTimeoutScale = "BERTH_TEST_TIMEOUT_SCALE"

// Timeout is d times $BERTH_TEST_TIMEOUT_SCALE. A bounded wait (how long a
// hung daemon or command is waited for before the test fails) is no
// assertion on speed; on a machine slow on the whole, like the software-
// emulated VM of `make test-cgroupv2`, the same waits need more time. The
// factor only moves the point where a wait gives up: a test that fails
// without it fails with it.
func Timeout(d time.Duration) time.Duration {
	n, err := strconv.Atoi(os.Getenv(EnvTimeoutScale))
	if err != nil || n < 1 {
		return d
	}
	return d * time.Duration(n)
}
