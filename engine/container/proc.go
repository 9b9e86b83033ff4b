package container

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"time"
)

// procStartTime is when process pid started, from /proc (zero if unknown).
// It stands in for the recorded start time of a container that was started
// by an earlier berthd.
func procStartTime(pid int) time.Time {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return time.Time{}
	}
	// Fields after the command (which may contain spaces) start after ")".
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return time.Time{}
	}
	fields := strings.Fields(string(stat[i+1:]))
	const startTimeField = 19 // field 22 of stat, counted from field 3
	if len(fields) <= startTimeField {
		return time.Time{}
	}
	ticks, err := strconv.ParseInt(fields[startTimeField], 10, 64)
	if err != nil {
		return time.Time{}
	}
	boot := bootTime()
	if boot.IsZero() {
		return time.Time{}
	}
	const clockTicks = 100 // USER_HZ on Linux
	return boot.Add(time.Duration(ticks) * time.Second / clockTicks)
}

func bootTime() time.Time {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			sec, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err == nil {
				return time.Unix(sec, 0)
			}
		}
	}
	return time.Time{}
}
