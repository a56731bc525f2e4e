// index.js — require('@elife/pm'): a ready client (connecting on its first
// call) with the original module's names, plus connect() for another one
// and the helpers for code running under the daemon.
'use strict';

const { Client } = require('./client');
const { PmError } = require('./errors');
const child = require('./child');
const { OPTIONS } = require('./options');

const pm = new Client();

pm.Client = Client;
pm.PmError = PmError;
pm.OPTIONS = OPTIONS;
pm.onstopping = child.onstopping;
pm.ready = child.ready;
pm.watchdog = child.watchdog;

module.exports = pm;
