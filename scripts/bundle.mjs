#!/usr/bin/env node
// The bundling step of `npm run build` (rolldown.config.mjs), through rolldown's API: its CLI
// lists every chunk on each build, which `npm start` would print whenever it rebuilds.
import { build } from 'rolldown';
import config from '../rolldown.config.mjs';

await build({ ...config, logLevel: 'warn' });
