import { BuildxDriver } from '../../src/builder/buildx.js';
import { EngineDriver } from '../../src/builder/dockerd.js';
import { describeDriverContract } from '../helpers/driver-contract.js';
import { requireStack } from '../helpers/server.js';

requireStack();
describeDriverContract('dockerd Engine API', () => new EngineDriver({ fallback: new BuildxDriver() }), { clientProcess: false });
describeDriverContract(
  'dockerd Engine API, the context through a BuildKit session of its own',
  () => new EngineDriver({ fallback: new BuildxDriver(), contextTransfer: 'session' }),
  { clientProcess: false, reportsChanges: true },
);
