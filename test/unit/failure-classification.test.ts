/**
 * classifyFailure against the texts BuildKit clients really print. Where each comes from is named beside it:
 * a user's failure retried wastes attempts and hides the cause; an infrastructure failure taken as the user's
 * is never retried on another builder.
 */
import { describe, expect, it } from 'vitest';
import { classifyFailure } from '../../src/builder/driver.js';

/** A buildkitd that goes away, or is not there, during a build. */
const INFRASTRUCTURE: [string, string][] = [
  // buildkitd stopped gracefully (SIGTERM, as Kubernetes stops a pod): grpc-go's http2_client.go Close(),
  // "closing transport due to: %v, received prior goaway: %v" with server.go's Drain("graceful_stop").
  // Quoted from docker/buildx#2789.
  [
    'graceful stop, buildx',
    'ERROR: failed to receive status: rpc error: code = Unavailable desc = closing transport due to: connection error: desc = "error reading from server: EOF", received prior goaway: code: NO_ERROR, debug data: "graceful_stop"',
  ],
  [
    'graceful stop, buildctl',
    'error: failed to receive status: rpc error: code = Unavailable desc = closing transport due to: connection error: desc = "error reading from server: EOF", received prior goaway: code: NO_ERROR, debug data: "graceful_stop"',
  ],
  // The connection dropped (SIGKILL, a crash): docker/buildx#2064, moby/buildkit#3576 (newer BuildKit clients print
  // the status as `Code: message`, util/grpcerrors), docker/buildx#1079.
  ['connection dropped, rpc error form', 'failed to receive status: rpc error: code = Unavailable desc = error reading from server: EOF'],
  ["connection dropped, BuildKit's status form", 'ERROR: failed to solve: Unavailable: error reading from server: EOF'],
  [
    'connection dropped, closed pipe',
    'Error: failed to receive status: rpc error: code = Unavailable desc = closing transport due to: connection error: desc = "error reading from server: io: read/write on closed pipe"',
  ],
  ['transport closing', 'error: failed to receive status: rpc error: code = Unavailable desc = transport is closing'],
  // Nothing listening (yet, or any more): grpc-go's "transport: Error while dialing: %v"; moby/buildkit#1222 for a socket.
  [
    'connection refused',
    'error: failed to get status: rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: dial tcp 127.0.0.1:1234: connect: connection refused"',
  ],
  [
    'no socket',
    'error: failed to get status: rpc error: code = Unavailable desc = all SubConns are in TransientFailure, latest connection error: connection error: desc = "transport: error while dialing: dial unix /run/buildkit/buildkitd.sock: connect: no such file or directory"',
  ],
  // A buildkitd that closed the connection before HTTP/2 began (pulumi/pulumi-docker-build#102).
  ['no preface', 'failed to list workers: Unavailable: connection error: desc = "error reading server preface: EOF"'],
  // grpc-go's ErrClientConnClosing, status Canceled, not a cancel of ours (okteto/okteto#2803).
  ['client connection closing', 'ERROR: failed to solve: Canceled: grpc: the client connection is closing'],
];

/** The user's own failures, as buildx 0.13.1 on dockerd 26.1.5 prints them here (run by hand, see the report). */
const USER: [string, string][] = [
  ['a failing RUN', 'ERROR: failed to solve: process "/bin/sh -c exit 3" did not complete successfully: exit code: 3'],
  [
    'a failing RUN that prints gRPC words',
    'ERROR: failed to solve: process "/bin/sh -c echo \\"code = Unavailable\\" && exit 3" did not complete successfully: exit code: 3',
  ],
  ['a Dockerfile parse error', 'ERROR: failed to solve: dockerfile parse error on line 2: unknown instruction: FORM (did you mean FROM?)'],
  [
    'a missing file in COPY',
    'ERROR: failed to solve: failed to compute cache key: failed to calculate checksum of ref 7ad72c87-ff70-487a-98a5-bc7686846d60::c13wk6zp4o0bitadrwxh7p8mn: "/missing.txt": not found',
  ],
];

describe('classifyFailure', () => {
  it.each(INFRASTRUCTURE)('takes a builder gone or going as infrastructure: %s', (_, text) => {
    expect(classifyFailure(text)).toBe('infrastructure');
  });

  it.each(USER)("keeps the user's failures the user's: %s", (_, text) => {
    expect(classifyFailure(text)).toBe('user');
  });
});
