'use strict';
// { trim(): boolean, supported: boolean }: see malloc_trim.c.
module.exports = require('./build/Release/malloc_trim.node');
