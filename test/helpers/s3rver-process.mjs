// Runs s3rver (a real S3 API server) in a process of its own, for test/helpers/s3rver.ts.
// Why a child process: s3rver's ListObjectsV2 continuation tokens are DES-encrypted, and
// OpenSSL 3 (Node >= 17) offers DES only with --openssl-legacy-provider, which cannot be
// switched on inside a running test worker. Without it every truncated listing is a 500.
// Usage: node --openssl-legacy-provider s3rver-process.mjs <directory> <bucket>
import S3rver from 's3rver';

const [directory, bucket] = process.argv.slice(2);
if (!directory || !bucket) {
  process.stderr.write('usage: s3rver-process.mjs <directory> <bucket>\n');
  process.exit(2);
}
const server = new S3rver({ port: 0, address: '127.0.0.1', directory, silent: true, configureBuckets: [{ name: bucket }] });
const { port } = await server.run();
process.stdout.write(`${JSON.stringify({ port })}\n`);
// The parent holds our stdin open; when it goes away (even killed), so do we.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
process.on('SIGTERM', () => process.exit(0));
