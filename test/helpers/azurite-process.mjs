// Runs Azurite's blob service (Microsoft's Azure Storage emulator) in a process of its own, for
// test/helpers/azurite.ts. Arguments are Azurite's own (--blobHost, --blobPort, --location, ...);
// accounts come from AZURITE_ACCOUNTS. Why a wrapper rather than azurite-blob itself: the
// parent holds our stdin open, and when it goes away (even killed) so do we, so a crashed test
// run leaves no emulator behind. Azurite prints "successfully listens on http://host:port".
import { createRequire } from 'node:module';

process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
process.on('SIGTERM', () => process.exit(0));
createRequire(import.meta.url)('azurite/dist/src/blob/main.js');
