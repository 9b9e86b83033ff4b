package shim

// The container's exits: the reaper hands every reaped child that is not a
// runc command to the service through exitQueue; handleExit records it on
// its process; the init's exit waits for the rest of the container
// (killRest, the exec'd processes, the output) before it is published.

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	runc "github.com/containerd/go-runc"
	"golang.org/x/sys/unix"

	tw "github.com/berthproject/berth/shim/internal/taskwire"
)

// handleExit runs for every reaped child that is not a runc command.
func (s *Service) handleExit(e exitInfo) {
	s.mu.Lock()
	p := s.byPid[e.pid]
	if p == nil {
		s.mu.Unlock()
		return // a container process that was not init or an exec
	}
	delete(s.byPid, e.pid)
	p.exiting = true
	s.setState(func() { p.exitStatus, p.exitedAt = e.status, e.at })
	s.mu.Unlock()
	if p.init {
		go s.initExited(p)
	} else {
		go s.execExited(p)
	}
}

func (s *Service) execExited(p *process) {
	p.io.waitDrained(drainTimeout)
	s.mu.Lock()
	p.exiting = false
	s.setState(func() { p.state = stateStopped })
	s.mu.Unlock()
	s.publishExit(p)
}

// initExited makes sure nothing of the container is left before the init
// exit is published (and so is the last exit of the container): with a
// shared pid namespace the remaining processes are killed; the exits of
// exec'd processes and the output are waited for.
func (s *Service) initExited(p *process) {
	// Read from the spec only now: a container start leaves no garbage
	// of it in the shim's heap.
	if sharedPIDNamespace(s.bundle) {
		s.killRest()
	}
	s.mu.Lock()
	var running []*process
	for _, e := range s.execs {
		if e.state == stateRunning || e.exiting {
			running = append(running, e)
		}
	}
	s.mu.Unlock()
	deadline := time.NewTimer(execsTimeout)
	defer deadline.Stop()
	for _, e := range running {
		select {
		case <-e.done:
		case <-deadline.C:
			logf("exec processes of %s still running after %s", s.id, execsTimeout)
		}
	}
	p.io.waitDrained(drainTimeout)
	s.mu.Lock()
	oom := s.oom
	s.mu.Unlock()
	if oom != nil {
		oom.check() // a pending OOM kill is reported before the exit
	}
	s.mu.Lock()
	p.exiting = false
	deleted := p.state == stateDeleted
	if !deleted {
		s.setState(func() { p.state = stateStopped })
	}
	s.mu.Unlock()
	if deleted {
		return
	}
	s.publishExit(p)
}

// killRest kills what is left in the container's cgroup after its init
// exited and waits until those processes are gone (reaped by the shim,
// which they were reparented to), so none is left running or as a zombie.
func (s *Service) killRest() {
	s.mu.Lock()
	dir := s.cgroupDir
	s.mu.Unlock()
	pids := cgroupProcs(dir)
	if err := s.runc.Kill(context.Background(), s.id, int(unix.SIGKILL), &runc.KillOpts{All: true}); err != nil {
		logf("kill remaining processes of %s: %v", s.id, err)
	}
	deadline := time.Now().Add(execsTimeout)
	for _, pid := range pids {
		for {
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
				break
			}
			if time.Now().After(deadline) {
				logf("process %d of %s still there after %s", pid, s.id, execsTimeout)
				return
			}
			time.Sleep(10 * time.Millisecond)
			s.reaper.reap() // reparented to the shim, not watched
		}
	}
}

func (s *Service) publishExit(p *process) {
	s.pub.publish(topicExit, &tw.TaskExit{
		ContainerID: s.id, ID: p.id, Pid: uint32(p.pid),
		ExitStatus: uint32(p.exitStatus), ExitedAt: p.exitedAt,
	})
	close(p.done)
}

// exitQueue hands exits from the reaper to the service without ever
// blocking the reaper (which also completes runc commands the service may
// be waiting for while holding its lock). Exits are handled in order, by a
// goroutine that runs only while there are some.
type exitQueue struct {
	mu      sync.Mutex
	q       []exitInfo
	running bool
	handle  func(exitInfo)
}

func (q *exitQueue) push(e exitInfo) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.q = append(q.q, e)
	if !q.running {
		q.running = true
		go q.run()
	}
}

func (q *exitQueue) run() {
	for {
		q.mu.Lock()
		if len(q.q) == 0 {
			q.q = nil
			q.running = false
			q.mu.Unlock()
			return
		}
		e := q.q[0]
		q.q = q.q[1:]
		q.mu.Unlock()
		q.handle(e)
	}
}
