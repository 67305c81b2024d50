'use strict';
// The compiled addon; libs/net/src/native.ts gives it types and errors a user can act on.
module.exports = require('./build/Release/kqnet.node');
