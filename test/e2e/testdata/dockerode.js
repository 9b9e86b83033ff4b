// dockerode against berth's Docker API (unversioned paths, exec start
// without an upgrade). Run by TestDockerClients with DOCKER_SOCK set;
// prints one line per check and exits non-zero at the first failure.
const Docker = require('dockerode');

const docker = new Docker({ socketPath: process.env.DOCKER_SOCK });
const suffix = process.argv[2];

function check(what, cond, got) {
  if (!cond) {
    console.log('FAIL ' + what + ': ' + JSON.stringify(got));
    process.exit(1);
  }
  console.log('ok ' + what);
}

// demux splits a stdcopy buffer into stdout and stderr.
function demux(buf) {
  const out = { stdout: '', stderr: '' };
  while (buf.length >= 8) {
    const n = buf.readUInt32BE(4);
    const payload = buf.subarray(8, 8 + n).toString();
    if (buf[0] === 1) out.stdout += payload;
    if (buf[0] === 2) out.stderr += payload;
    buf = buf.subarray(8 + n);
  }
  return out;
}

function collect(stream) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    stream.on('data', (c) => chunks.push(c));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

(async () => {
  check('ping', (await docker.ping()).toString() === 'OK');
  const v = await docker.version();
  check('version', v.Platform && v.Platform.Name === 'berth', v);
  const images = await docker.listImages();
  check('images', images.some((i) => (i.RepoTags || []).includes('busybox:latest')), images);

  const c = await docker.createContainer({ Image: 'busybox', Cmd: ['sh', '-c', 'echo out; echo err >&2'], name: 'node-' + suffix });
  try {
    await c.start();
    const w = await c.wait();
    check('wait', w.StatusCode === 0, w);
    const logs = demux(await c.logs({ stdout: true, stderr: true }));
    check('logs', logs.stdout === 'out\n' && logs.stderr === 'err\n', logs);
    const info = await c.inspect();
    check('inspect', info.State.Status === 'exited' && info.Name === '/node-' + suffix, info.State);
  } finally {
    await c.remove({ force: true });
  }

  const s = await docker.createContainer({ Image: 'busybox', Cmd: ['sleep', '600'] });
  try {
    await s.start();
    const ex = await s.exec({ Cmd: ['sh', '-c', 'echo from exec'], AttachStdout: true, AttachStderr: true });
    const out = demux(await collect(await ex.start({})));
    check('exec', out.stdout === 'from exec\n', out);
    const ei = await ex.inspect();
    check('exec inspect', ei.ExitCode === 0 && ei.Running === false, ei);
    const list = await docker.listContainers({ filters: { id: [s.id] } });
    check('list', list.length === 1 && list[0].State === 'running', list);
  } finally {
    await s.remove({ force: true });
  }
  console.log('dockerode: all checks passed');
})().catch((e) => {
  console.log('FAIL ' + (e && e.message));
  process.exit(1);
});
