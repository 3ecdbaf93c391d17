// One implementation for the tests and the benchmark (which builds from bench/ alone).
export { freePort } from '../../bench/free-port.js';
