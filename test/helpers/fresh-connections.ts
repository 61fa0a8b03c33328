/**
 * Every fetch of a test opens its own connection (`Connection: close`), unless the test says otherwise.
 *
 * Why: the tests block their own event loop (spawnSync of the CLI, a server restart) for longer than the server
 * keeps an idle socket open. The server closes it on time, but the test process only hears of that once its loop
 * runs again, and a fetch made in that same turn takes the dead socket from the pool and fails with
 * "other side closed" (UND_ERR_SOCKET). A new connection to localhost costs well under a millisecond.
 * The server under test is unchanged: real clients keep their connections alive, and its keep-alive is its own.
 *
 * A vitest setup file (vitest.config.ts): it runs before each test file, so the answer-shape check
 * (answer-shapes.ts) wraps this fetch in turn.
 */
const marked = Symbol.for('codehub-build.fresh-connections');
const current = globalThis.fetch as typeof fetch & { [marked]?: true };
if (!current[marked]) {
  const fetchFresh = (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
    if (!headers.has('connection')) headers.set('connection', 'close');
    return current(input, { ...init, headers });
  };
  globalThis.fetch = Object.assign(fetchFresh, { [marked]: true as const }) as typeof fetch;
}
