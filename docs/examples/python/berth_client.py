#!/usr/bin/python3
"""berth's gRPC API from Python: a client built only from proto/ (no berth
code), using Debian's python3-grpcio.

Generate the stubs first (docs/api.md, "Clients in other languages"):

    protoc -I proto -I /usr/include --python_out=OUT --grpc_python_out=OUT \
        --plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin proto/berth/v1/*.proto

then run with OUT on the path:

    PYTHONPATH=OUT /usr/bin/python3 berth_client.py --socket /run/berth/berth.sock

It lists containers, pulls an image (--pull) and runs containers, and uses
every streaming call: Events (followed in a thread), Pull progress, Wait,
Attach (stdin in, stdout out), Logs (follow), ExecStart (stdin, stdout,
stderr, exit code); then it cancels a Logs follow and an Attach, and lets
a deadline end a Logs follow. Each step prints
"ok <step>: ..."; a failure raises and exits non-zero.
"""

import argparse
import queue
import threading

import grpc
from berth.v1 import common_pb2
from berth.v1 import containers_pb2 as c
from berth.v1 import containers_pb2_grpc
from berth.v1 import images_pb2
from berth.v1 import images_pb2_grpc
from berth.v1 import system_pb2
from berth.v1 import system_pb2_grpc

TIMEOUT = 60  # seconds: the deadline of every call


def check(cond, what):
    if not cond:
        raise SystemExit("FAIL " + what)


def requests(q):
    """A request iterator for a bidi call, fed through a queue (None ends it)."""
    while True:
        msg = q.get()
        if msg is None:
            return
        yield msg


class Events(threading.Thread):
    """Follows container events until cancelled."""

    def __init__(self, system):
        super().__init__(daemon=True)
        req = system_pb2.EventsRequest(filters=[common_pb2.Filter(key="type", values=["container"])])
        self.call = system.Events(req)
        # The server sends the headers once the subscription is registered:
        # nothing published after this returns is missed.
        self.call.initial_metadata()
        self.seen = []
        self.cond = threading.Condition()

    def run(self):
        try:
            for resp in self.call:
                with self.cond:
                    self.seen.append((resp.event.actor.id, resp.event.action))
                    self.cond.notify_all()
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.CANCELLED:
                raise

    def actions(self, cid):
        return [a for (i, a) in self.seen if i == cid]

    def wait_for(self, cid, action):
        with self.cond:
            self.cond.wait_for(lambda: action in self.actions(cid), timeout=TIMEOUT)
            return self.actions(cid)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--socket", default="/run/berth/berth.sock")
    ap.add_argument("--image", default="busybox")
    ap.add_argument("--pull", help="an image to pull, e.g. 127.0.0.1:5000/app:1")
    args = ap.parse_args()

    # berthd sends messages up to 64 MiB (docs/api.md, "Limits").
    channel = grpc.insecure_channel("unix://" + args.socket,
                                    options=[("grpc.max_receive_message_length", 64 << 20)])
    containers = containers_pb2_grpc.ContainersServiceStub(channel)
    images = images_pb2_grpc.ImagesServiceStub(channel)
    system = system_pb2_grpc.SystemServiceStub(channel)

    v = system.Version(system_pb2.VersionRequest(), timeout=TIMEOUT)
    print("ok version: berthd %s, API %s" % (v.version, v.api_version))

    events = Events(system)
    events.start()
    print("ok events: subscribed")

    if args.pull:
        updates, last, image = 0, "", None
        for resp in images.Pull(images_pb2.PullImageRequest(ref=args.pull), timeout=TIMEOUT):
            for p in resp.progress:
                updates += 1
                last = p.message or last
            if resp.HasField("image"):
                image = resp.image
        check(image is not None and image.id.startswith("sha256:"), "pull: no image at the end")
        print("ok pull: %s after %d progress updates, the last %r" % (image.id[:19], updates, last))

    listed = containers.List(c.ListContainersRequest(all=True), timeout=TIMEOUT)
    print("ok list: %d containers" % len(listed.containers))

    created = []

    def create(cmd, **kw):
        cfg = c.ContainerConfig(image=args.image, cmd=cmd, labels={"example": "python"},
                                network_mode="none", **kw)
        cid = containers.Create(c.CreateContainerRequest(config=cfg), timeout=TIMEOUT).id
        created.append(cid)
        return cid

    try:
        # run: wait and attach registered before start, stdin in, output
        # out, the exit code.
        cid = create(["sh", "-c", "echo hello from python; read line; echo got $line; exit 3"],
                     open_stdin=True)
        wait = containers.Wait(c.WaitContainerRequest(
            id=cid, condition=c.WAIT_CONDITION_NEXT_EXIT), timeout=TIMEOUT)
        check(next(wait).HasField("accepted"), "wait: no accepted")
        q = queue.Queue()
        q.put(c.AttachContainerRequest(start=c.AttachStart(id=cid, stdin=True, stdout=True, stderr=True)))
        attach = containers.Attach(requests(q), timeout=TIMEOUT)
        check(next(attach).HasField("attached"), "attach: no attached")
        containers.Start(c.StartContainerRequest(id=cid), timeout=TIMEOUT)
        q.put(c.AttachContainerRequest(stdin=b"python\n"))
        q.put(c.AttachContainerRequest(close_stdin=c.CloseStdin()))
        out = b"".join(m.stdout for m in attach)
        q.put(None)
        check(out == b"hello from python\ngot python\n", "attach output %r" % out)
        exit_code = next(wait).exit.exit_code
        check(exit_code == 3, "wait: exit code %d" % exit_code)
        print("ok run: attach output %r, exit code %d" % (out.decode(), exit_code))

        # logs -f of a running container: every line, then the end of the
        # stream when the container exits.
        lid = create(["sh", "-c", "for i in 1 2 3; do echo line $i; sleep 0.1; done"])
        containers.Start(c.StartContainerRequest(id=lid), timeout=TIMEOUT)
        lines = []
        for resp in containers.Logs(c.ContainerLogsRequest(id=lid, follow=True, stdout=True, stderr=True),
                                    timeout=TIMEOUT):
            lines += [e.line.decode() for e in resp.entries]
        check(lines == ["line 1\n", "line 2\n", "line 3\n"], "logs: %r" % lines)
        print("ok logs: %d lines followed to the container's exit" % len(lines))

        # exec with stdin, stdout, stderr and its exit code.
        sid = create(["sleep", "300"])
        containers.Start(c.StartContainerRequest(id=sid), timeout=TIMEOUT)
        eid = containers.ExecCreate(c.ExecCreateRequest(id=sid, config=c.ExecConfig(
            cmd=["sh", "-c", "read x; echo exec got $x; echo oops >&2; exit 5"],
            attach_stdin=True, attach_stdout=True, attach_stderr=True)), timeout=TIMEOUT).exec_id
        q = queue.Queue()
        q.put(c.ExecStartRequest(start=c.ExecStartOptions(exec_id=eid, stdin=True, stdout=True, stderr=True)))
        execio = containers.ExecStart(requests(q), timeout=TIMEOUT)
        check(next(execio).HasField("started"), "exec: no started")
        q.put(c.ExecStartRequest(stdin=b"hi\n"))
        q.put(c.ExecStartRequest(close_stdin=c.CloseStdin()))
        stdout, stderr, code = b"", b"", None
        for m in execio:
            kind = m.WhichOneof("msg")
            if kind == "stdout":
                stdout += m.stdout
            elif kind == "stderr":
                stderr += m.stderr
            elif kind == "exit":
                code = m.exit.exit_code
        q.put(None)
        check((stdout, stderr, code) == (b"exec got hi\n", b"oops\n", 5), "exec: %r %r %r" % (stdout, stderr, code))
        print("ok exec: stdout %r, stderr %r, exit code %d" % (stdout.decode(), stderr.decode(), code))

        # cancel a logs -f: the call ends CANCELLED at once.
        follow = containers.Logs(c.ContainerLogsRequest(id=sid, follow=True, stdout=True), timeout=TIMEOUT)
        follow.cancel()
        try:
            for _ in follow:
                pass
            check(False, "logs -f went on after cancel")
        except grpc.RpcError as e:
            check(e.code() == grpc.StatusCode.CANCELLED, "cancelled logs: %s" % e.code())
        print("ok cancel: logs -f cancelled")

        # cancel an attach: the client detaches, the container runs on.
        q = queue.Queue()
        q.put(c.AttachContainerRequest(start=c.AttachStart(id=sid, stdout=True, stderr=True)))
        attach = containers.Attach(requests(q), timeout=TIMEOUT)
        check(next(attach).HasField("attached"), "attach: no attached")
        attach.cancel()
        q.put(None)
        check(attach.code() == grpc.StatusCode.CANCELLED, "cancelled attach: %s" % attach.code())
        state = containers.Inspect(c.InspectContainerRequest(id=sid), timeout=TIMEOUT).container.state
        check(state.running, "the container stopped with its attach")
        print("ok cancel: attach cancelled, the container runs on")

        # a deadline ends a call as a cancel does.
        try:
            for _ in containers.Logs(c.ContainerLogsRequest(id=sid, follow=True, stdout=True), timeout=0.5):
                pass
            check(False, "logs -f went on past its deadline")
        except grpc.RpcError as e:
            check(e.code() == grpc.StatusCode.DEADLINE_EXCEEDED, "logs -f past its deadline: %s" % e.code())
        print("ok deadline: logs -f ended with DEADLINE_EXCEEDED")
    finally:
        for cid in created:
            containers.Remove(c.RemoveContainerRequest(id=cid, force=True), timeout=TIMEOUT)

    # The events of the run: its container was created, started, died and
    # destroyed, in that order (the subscription saw it all).
    got = [a for a in events.wait_for(created[0], "destroy") if a in ("create", "start", "die", "destroy")]
    check(got == ["create", "start", "die", "destroy"], "events of the run: %r" % got)
    print("ok events: %s" % " ".join(got))
    events.call.cancel()
    events.join(TIMEOUT)
    channel.close()


if __name__ == "__main__":
    main()
