import { EngineDriver } from '../../src/builder/dockerd.js';
import { describeDriverContract } from '../helpers/driver-contract.js';
import { requireStack } from '../helpers/server.js';

requireStack();
describeDriverContract('dockerd Engine API', () => new EngineDriver(), { clientProcess: false });
describeDriverContract('dockerd Engine API, the context through a BuildKit session of its own', () => new EngineDriver({ contextTransfer: 'session' }), {
  clientProcess: false,
  reportsChanges: true,
});
