// Which way src/'s imports may point, checked by `npm run lint` (dependency-cruiser; `.ci/run` runs it).
//
// The layers, bottom first, follow the README's layout: a module may import its own layer and the layers below
// it, never one above. Type-only imports count too (`import type` ties two rooms together as much as a value
// does); only the client's bundle rule lets types through (they are erased). Where the order differs from the
// README's list, the reason is given beside the layer.
//
// See the graph: npx depcruise src --include-only '^src' --output-type dot | dot -Tsvg > deps.svg
// One layer's imports: npx depcruise src --include-only '^src' --focus '^src/store/' --output-type text

/** The client bundle's modules beside src/client: the same list as scripts/build-client.mjs's ALLOWED. */
const CLIENT_SHARED = [
  '^src/names\\.ts$', '^src/units\\.ts$', '^src/limits\\.ts$', '^src/context/dockerignore\\.ts$', '^src/context/tree\\.ts$',
  '^src/util/map-limit\\.ts$', '^src/util/controls\\.ts$',
];

/** The uploads' leaf modules: the manifest's check, the blob store, secrets held in memory (see 'upload-parts'). */
const UPLOAD_PARTS = '^src/uploads/(manifest|blobs|held-secrets)\\.ts$';

const LAYERS = [
  {
    name: 'base',
    // The dependency-free helpers, and the client's shared files (context/tree.ts and dockerignore.ts import
    // nothing; uploads' manifest check uses tree.ts). logs/mask.ts is a pure function of util/controls: the store
    // masks a build's secret-looking args with it before it writes them, so it sits below the store, not with logs.
    path: ['^src/util/', '^src/(names|units|limits|errors|log|settings|paths|metrics)\\.ts$', ...CLIENT_SHARED, '^src/logs/mask\\.ts$'],
  },
  { name: 'config', path: ['^src/config/'] },
  // Image references and tags (parse, render, labels): the builders, the registry, builds and the API all use them.
  { name: 'images', path: ['^src/images/'] },
  // The uploads' leaf modules import only base; the store (the uploads' tables), the contexts (an upload as a
  // context) and the runner use them, while the uploads' service and request sit above builds.
  { name: 'upload-parts', path: [UPLOAD_PARTS] },
  { name: 'store', path: ['^src/store/'] },
  { name: 'auth', path: ['^src/auth/'] },
  // The API's shapes (zod schemas of every /api request and answer, and its operations): constants from the
  // layers below, nothing else; the routes, the services that take a request, and the client's types use them.
  { name: 'api', path: ['^src/api/'] },
  // git sits above store and auth (the README lists it before them): notes.ts writes a Build as a git note and
  // the hook program signs its report with auth/hook-signature.ts; nothing in store or auth reads git.
  { name: 'git', path: ['^src/git/'] },
  { name: 'context', path: ['^src/context/'] },
  { name: 'builder', path: ['^src/builder/'] },
  // logs sits below the registry: registry/gc.ts carries out log retention beside image retention.
  { name: 'logs', path: ['^src/logs/'] },
  { name: 'registry', path: ['^src/registry/'] },
  { name: 'secrets', path: ['^src/secrets/'] },
  // Image scanning (issue 26: inventory, vulnerability data, matching, policy): it reads images through the
  // registry layer and keeps what it found in the store; the builds scan what they push, so it sits below them.
  { name: 'scan', path: ['^src/scan/'] },
  // Build insight (issue 28: why a step missed the cache, the layers and size against the previous build, drawn):
  // made from a build's steps, context and pushed image when it ends, so below the builds that record it.
  { name: 'insight', path: ['^src/insight/'] },
  { name: 'builds', path: ['^src/builds/'] },
  { name: 'uploads', path: ['^src/uploads/'] },
  { name: 'forges', path: ['^src/forges/'] },
  { name: 'http', path: ['^src/http/'] },
  // The client stands apart: it may import only its allow-list at run time (rule 'client-bundle' below) and
  // the server's types; the server's command line (cli/, cli.ts) runs the client commands, nothing lower does.
  { name: 'client', path: ['^src/client/'] },
  { name: 'cli', path: ['^src/cli/'] },
  // data-dir.ts is main.ts's start on a full data dir, apart only to keep main.ts short.
  { name: 'top', path: ['^src/(main|app|cli|data-dir)\\.ts$'] },
];

// A module belongs to the first layer that names it (so src/logs/mask.ts is base, not logs).
const claimed = [];
for (const layer of LAYERS) {
  layer.pathNot = [...claimed];
  claimed.push(...layer.path);
}

const layerRules = LAYERS.slice(0, -1).map((layer, i) => ({
  name: `layer-${layer.name}`,
  severity: 'error',
  comment: `${layer.name} imports a layer above it (${LAYERS.slice(i + 1).map((l) => l.name).join(', ')}): see LAYERS in .dependency-cruiser.cjs`,
  from: { path: layer.path, pathNot: layer.pathNot },
  to: { path: LAYERS.slice(i + 1).flatMap((l) => l.path), pathNot: [...layer.path, ...layer.pathNot] },
}));

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A cycle of imports: the rooms in it can be neither read nor changed one at a time',
      from: { path: '^src/' },
      to: { circular: true },
    },
    ...layerRules,
    {
      name: 'client-bundle',
      severity: 'error',
      comment: 'The client bundle (scripts/build-client.mjs) holds src/client and its allow-list only: import other server code as types only',
      from: { path: '^src/client/' },
      to: { path: '^src/', pathNot: ['^src/client/', ...CLIENT_SHARED], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'client-shared-free',
      severity: 'error',
      comment: 'The client bundle\'s shared modules import nothing of the server (the bundle would pull it in)',
      from: { path: CLIENT_SHARED },
      to: { path: '^src/', pathNot: CLIENT_SHARED },
    },
    {
      name: 'unplaced',
      severity: 'error',
      comment: 'Every module of src/ belongs to a layer: add a new folder to LAYERS in .dependency-cruiser.cjs',
      from: { path: '^src/', pathNot: claimed },
      to: {},
    },
  ],
  options: {
    // `import type` counts: a type import back up ties the layers together as a value would.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    doNotFollow: { path: 'node_modules' },
    includeOnly: '^src/',
  },
};
