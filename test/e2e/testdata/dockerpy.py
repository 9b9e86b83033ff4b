"""docker-py against berth's Docker API: what a Python program does daily.

Run by TestDockerClients with DOCKER_HOST set; prints one line per check
and exits non-zero at the first failure.
"""
import io
import sys
import tarfile
import time

import docker

c = docker.from_env(timeout=60)
suffix = sys.argv[1]


def check(what, cond, got=None):
    if not cond:
        print("FAIL %s: %r" % (what, got))
        sys.exit(1)
    print("ok %s" % what)


v = c.version()
check("version", v.get("Platform", {}).get("Name") == "berth", v)
check("ping", c.ping() is True)

out = c.containers.run("busybox", ["echo", "hello from docker-py"], remove=True)
check("run with output", out == b"hello from docker-py\n", out)

name = "py-" + suffix
ctr = c.containers.run("busybox", ["sh", "-c", "echo started; sleep 600"], detach=True, name=name,
                       labels={"suite": "dockerpy"}, ports={"80/tcp": ("127.0.0.1", None)})
try:
    ctr.reload()
    check("status", ctr.status == "running", ctr.status)
    check("log config", ctr.attrs["HostConfig"]["LogConfig"]["Type"] == "json-file", ctr.attrs["HostConfig"]["LogConfig"])
    listed = c.containers.list(filters={"label": "suite=dockerpy"})
    check("list with a label filter", [x.name for x in listed] == [name], listed)
    for _ in range(100):
        if b"started" in ctr.logs():
            break
        time.sleep(0.05)
    check("logs", ctr.logs() == b"started\n", ctr.logs())
    code, out = ctr.exec_run(["sh", "-c", "echo $((2+3))"])
    check("exec_run", code == 0 and out == b"5\n", (code, out))
    code, out = ctr.exec_run(["sh", "-c", "exit 3"])
    check("exec_run exit code", code == 3, code)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        data = b"put by docker-py\n"
        info = tarfile.TarInfo("py.txt")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    check("put_archive", ctr.put_archive("/tmp", buf.getvalue()))
    chunks, stat = ctr.get_archive("/tmp/py.txt")
    raw = b"".join(chunks)
    with tarfile.open(fileobj=io.BytesIO(raw)) as tf:
        got = tf.extractfile("py.txt").read()
    check("get_archive", got == b"put by docker-py\n" and stat["name"] == "py.txt", (got, stat))
    st = ctr.stats(stream=False)
    check("stats", "cpu_stats" in st and "memory_stats" in st, list(st))
    ctr.stop(timeout=1)
    ctr.reload()
    check("stopped", ctr.status == "exited", ctr.status)
finally:
    ctr.remove(force=True)

net = c.networks.create("pynet-" + suffix)
try:
    check("network inspect", c.networks.get(net.id).name == "pynet-" + suffix)
finally:
    net.remove()
vol = c.volumes.create("pyvol-" + suffix)
try:
    check("volume", c.volumes.get(vol.name).attrs["Driver"] == "local")
finally:
    vol.remove()
img = c.images.get("busybox")
check("image", "busybox:latest" in img.tags, img.tags)
# build: POST /build with the context tar (docker-py's legacy protocol).
df_text = b"FROM busybox\nRUN echo built-by-py > /py\nCMD [\"cat\", \"/py\"]\n"
ctx = io.BytesIO()
with tarfile.open(fileobj=ctx, mode="w") as tf:
    info = tarfile.TarInfo("Dockerfile")
    info.size = len(df_text)
    tf.addfile(info, io.BytesIO(df_text))
ctx.seek(0)
built, logs = c.images.build(fileobj=ctx, custom_context=True, tag="pybuilt-" + suffix + ":1", rm=True)
try:
    check("build tags", "pybuilt-" + suffix + ":1" in built.tags, built.tags)
    out = c.containers.run("pybuilt-" + suffix + ":1", remove=True)
    check("build runs", out == b"built-by-py\n", out)
finally:
    c.images.remove(built.id, force=True)
df = c.df()
check("df", "Images" in df and "Containers" in df, list(df))
print("docker-py: all checks passed")
