import { BuildxDriver } from '../../src/builder/buildx.js';
import { describeDriverContract } from '../helpers/driver-contract.js';
import { requireStack } from '../helpers/server.js';

requireStack();
describeDriverContract('buildx, local docker driver', () => new BuildxDriver());
