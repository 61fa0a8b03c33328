// Spike: serve a BuildKit session (health + filesync DiffCopy) to dockerd over POST /session, then
// POST /build?remote=client-session so dockerd's BuildKit pulls the Dockerfile and context over it.
// Node 20 built-ins only.
//
//   node session-build.mjs --dir CTX --key SHAREDKEY --tag spike:1
//   node session-build.mjs --git REPO --rev SHA --key SHAREDKEY --tag spike:1
import net from 'node:net';
import http from 'node:http';
import http2 from 'node:http2';
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { dirSource } from './dir-source.mjs';
import { gitSource } from './git-source.mjs';
import { encodePacket, decodePacket, PKT, grpcFrame, GrpcDeframer, decodeSolveStatus } from './proto.mjs';
import { filterEntries } from './filter.mjs';

const { values: opt } = parseArgs({
  options: {
    dir: { type: 'string' }, git: { type: 'string' }, rev: { type: 'string' },
    key: { type: 'string', default: 'spike-key' }, tag: { type: 'string', default: 'spike:latest' },
    socket: { type: 'string', default: '/var/run/docker.sock' }, dockerfile: { type: 'string', default: 'Dockerfile' },
    verbose: { type: 'boolean', default: false }, api: { type: 'string', default: '/v1.45' },
    'no-cache': { type: 'boolean', default: false },
  },
});

const CHUNK = Number(process.env.SPIKE_CHUNK ?? 32 * 1024);
const t0 = performance.now();
const ms = () => `${(performance.now() - t0).toFixed(0)}ms`;
const log = (...a) => console.error(`[${ms()}]`, ...a);

const source = opt.git ? await gitSource(opt.git, opt.rev) : await dirSource(opt.dir);
log(`source: ${source.entries.length} entries (${opt.git ? `git ${opt.rev}` : opt.dir})`);

const METHODS = ['/grpc.health.v1.Health/Check', '/moby.filesync.v1.FileSync/DiffCopy'];
const sessionId = randomUUID();
const stats = []; // one per DiffCopy stream

// ---- 1. open the session: HTTP/1.1 upgrade to h2c, then we are the HTTP/2 server ----
const sock = net.connect(opt.socket);
await new Promise((res, rej) => { sock.once('connect', res); sock.once('error', rej); });
const reqLines = [
  `POST ${opt.api}/session HTTP/1.1`, 'Host: docker', 'Upgrade: h2c', 'Connection: Upgrade', 'Content-Length: 0',
  `X-Docker-Expose-Session-Uuid: ${sessionId}`, `X-Docker-Expose-Session-Name: spike`,
  `X-Docker-Expose-Session-Sharedkey: ${opt.key}`,
  ...METHODS.map((m) => `X-Docker-Expose-Session-Grpc-Method: ${m}`),
];
sock.write(reqLines.join('\r\n') + '\r\n\r\n');
const head = await new Promise((res, rej) => {
  let buf = Buffer.alloc(0);
  const onData = (d) => {
    buf = Buffer.concat([buf, d]);
    const i = buf.indexOf('\r\n\r\n');
    if (i < 0) return;
    sock.off('data', onData);
    sock.pause();
    const rest = buf.subarray(i + 4);
    if (rest.length) sock.unshift(rest); // the HTTP/2 preface from dockerd may come in the same read
    res({ text: buf.subarray(0, i).toString('latin1'), rest: rest.length });
  };
  sock.on('data', onData);
  sock.once('error', rej);
  sock.once('end', () => rej(new Error(`session closed before 101: ${buf.toString()}`)));
});
if (!/^HTTP\/1\.1 101/.test(head.text)) throw new Error(`session upgrade refused: ${head.text}`);
log(`session ${sessionId} upgraded (${head.rest} bytes past the 101 unshifted)`);
if (opt.verbose) log(head.text.replace(/\r\n/g, ' | '));

const h2 = http2.performServerHandshake(sock, {});
h2.on('error', (e) => log('h2 session error', e.message));
h2.on('close', () => log('h2 session closed'));
let healthChecks = 0;

h2.on('stream', (stream, headers, flags, rawHeaders) => {
  const path = headers[':path'];
  stream.on('error', (e) => log(`stream ${path} error: ${e.message}`));
  if (path === '/grpc.health.v1.Health/Check') {
    healthChecks++;
    stream.resume(); // the request message (empty HealthCheckRequest) is ignored
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(grpcFrame(Buffer.from([0x08, 0x01]))); // HealthCheckResponse{status: SERVING}
    return;
  }
  if (path === '/moby.filesync.v1.FileSync/DiffCopy') {
    diffCopy(stream, rawHeaders).catch((e) => log('diffcopy failed', e));
    return;
  }
  log(`unimplemented method ${path}`);
  stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '12', 'grpc-message': 'unimplemented' }, { endStream: true });
});

// ---- 2. DiffCopy: the fsutil sender side ----
async function diffCopy(stream, rawHeaders) {
  const md = {};
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const k = rawHeaders[i].toLowerCase();
    if (k.startsWith(':') || ['content-type', 'te', 'user-agent', 'grpc-accept-encoding', 'grpc-timeout'].includes(k)) continue;
    (md[k] ??= []).push(rawHeaders[i + 1]);
  }
  const dec = (k) => (md[`${k}-encoded`]?.[0] === '1' ? (md[k] ?? []).map((s) => decodeURIComponent(s.replace(/\+/g, ' '))) : md[k] ?? []);
  const dirName = dec('dir-name')[0] ?? '';
  const st = { dirName, md, stats: 0, reqs: [], dataBytes: 0, dataPackets: 0, start: performance.now(), end: 0 };
  stats.push(st);
  log(`DiffCopy dir-name=${dirName} metadata=${JSON.stringify(md)}`);
  if (dirName !== 'context' && dirName !== 'dockerfile') {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '5', 'grpc-message': `no access allowed to dir "${dirName}"` }, { endStream: true });
    return;
  }
  const entries = filterEntries(source.entries, { include: dec('include-patterns'), exclude: dec('exclude-patterns'), follow: dec('followpaths') });
  stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
  let trailers = { 'grpc-status': '0' };
  stream.on('wantTrailers', () => stream.sendTrailers(trailers));

  // writes with backpressure; all writes go through here so packets never interleave mid-frame
  const send = async (pkt) => {
    if (stream.destroyed || stream.writableEnded) throw new Error('stream gone');
    if (!stream.write(grpcFrame(encodePacket(pkt)))) await new Promise((r) => stream.once('drain', r));
  };

  // requests from the receiver (REQ / FIN / ERR), served one at a time in arrival order
  let queue = Promise.resolve();
  let finished = false;
  const deframer = new GrpcDeframer((msg) => {
    const p = decodePacket(msg);
    if (p.type === PKT.REQ) {
      const e = entries[p.id];
      st.reqs.push({ id: p.id, path: e?.stat.path, size: e?.stat.size });
      if (opt.verbose) log(`  REQ ${p.id} ${e?.stat.path}`);
      queue = queue.then(async () => {
        if (!e || !e.open) throw new Error(`invalid file id ${p.id}`);
        for await (const chunk of e.open()) {
          for (let o = 0; o < chunk.length; o += CHUNK) {
            const data = chunk.subarray(o, o + CHUNK);
            st.dataBytes += data.length;
            st.dataPackets++;
            await send({ type: PKT.DATA, id: p.id, data });
          }
        }
        await send({ type: PKT.DATA, id: p.id }); // empty DATA closes the file
      });
    } else if (p.type === PKT.FIN) {
      queue = queue.then(async () => {
        await send({ type: PKT.FIN });
        finished = true;
        st.end = performance.now();
        stream.end(); // handler returns -> grpc-status 0 trailers
      });
    } else if (p.type === PKT.ERR) {
      log(`receiver error on ${dirName}: ${p.data?.toString()}`);
      trailers = { 'grpc-status': '2', 'grpc-message': encodeURIComponent(`error from receiver: ${p.data?.toString()}`) };
      queue = queue.then(() => stream.end());
    } else log(`unexpected packet type ${p.type}`);
    queue = queue.catch((e) => { log('send failed', e.message); stream.close(http2.constants.NGHTTP2_CANCEL); });
  });
  stream.on('data', (d) => deframer.push(d));
  stream.on('end', () => { if (!finished) log(`receiver closed ${dirName} before FIN`); });

  for (const e of entries) {
    st.stats++;
    await send({ type: PKT.STAT, stat: e.stat });
  }
  await send({ type: PKT.STAT }); // no stat = end of list
}

// ---- 3. the build ----
const q = new URLSearchParams({ version: '2', session: sessionId, remote: 'client-session', dockerfile: opt.dockerfile, t: opt.tag, buildid: randomUUID() });
if (opt['no-cache']) q.set('nocache', '1');
const tBuild = performance.now();
const result = await new Promise((resolve, reject) => {
  const req = http.request({ socketPath: opt.socket, method: 'POST', path: `${opt.api}/build?${q}`, headers: { 'Content-Type': 'application/x-tar' } }, (res) => {
    res.setEncoding('utf8');
    let buf = '';
    let error = null;
    let id = null;
    res.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i).trim();
        buf = buf.slice(i + 1);
        if (!line) continue;
        let m;
        try { m = JSON.parse(line); } catch { console.log(line); continue; }
        if (m.id === 'moby.buildkit.trace') {
          const s = decodeSolveStatus(Buffer.from(m.aux, 'base64'));
          for (const v of s.vertexes) if (v.completed || v.error) console.log(`  step ${v.cached ? 'CACHED ' : ''}${v.name}${v.error ? ` ERROR ${v.error}` : ''}`);
          for (const l of s.logs) process.stdout.write(`  | ${l.data.toString()}`);
        } else if (m.id === 'moby.image.id') id = m.aux?.ID;
        else if (m.error) error = m.errorDetail?.message ?? m.error;
        else if (m.stream) process.stdout.write(m.stream);
        else if (opt.verbose) console.log(line);
      }
    });
    res.on('end', () => resolve({ status: res.statusCode, error, id, body: res.statusCode !== 200 ? buf : '' }));
  });
  req.on('error', reject);
  req.end();
});
const buildMs = performance.now() - tBuild;
log(`build: HTTP ${result.status} ${result.error ? `ERROR ${result.error}` : `image ${result.id}`} ${result.body} in ${buildMs.toFixed(0)}ms; health checks answered: ${healthChecks}`);
for (const s of stats) {
  log(`  ${s.dirName}: ${s.stats} STAT, ${s.reqs.length} REQ, ${s.dataPackets} DATA packets, ${s.dataBytes} bytes, ${((s.end || performance.now()) - s.start).toFixed(0)}ms; REQ: ${s.reqs.map((r) => `${r.id}:${r.path}(${r.size})`).join(' ')}`);
}
console.log(JSON.stringify({ ok: result.status === 200 && !result.error, buildMs: Math.round(buildMs), diffcopy: stats.map((s) => ({ dir: s.dirName, follow: s.md.followpaths, stats: s.stats, reqs: s.reqs.length, bytes: s.dataBytes })) }));
h2.close();
sock.end();
setTimeout(() => process.exit(0), 200).unref();
