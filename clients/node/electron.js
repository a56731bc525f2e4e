// electron.js — the rules for starting services from Electron, as pure
// functions of the prepared options and of the running process:
// - a node program (.js .mjs .cjs, or a module folder) with no interpreter
//   runs under Electron's embedded node: interpreter = process.execPath and
//   ELECTRON_RUN_AS_NODE=1 (unless env sets it);
// - a program that is not node cannot read an ASAR archive, so a script or
//   cwd inside one is rewritten to the same path under NAME.asar.unpacked
//   (electron-builder's asarUnpack convention);
// - a node program keeps its script inside the archive (Electron reads it);
//   its cwd moves to the unpacked directory when that exists, else the
//   daemon runs it in the directory holding the archive.
'use strict';

const path = require('node:path');

const NODE_EXTENSIONS = ['.js', '.mjs', '.cjs'];

function isElectron(versions) {
  return Boolean(versions && versions.electron);
}

// Whether @p runs through an archive: a component (not the last) named *.asar.
function insideArchive(p) {
  const parts = p.split(path.sep);
  return parts.slice(0, -1).some((c) => c.length > 5 && c.endsWith('.asar'));
}

// @p with every *.asar component that is followed by more path renamed
// *.asar.unpacked; @p itself when it has none.
function unpackedPath(p) {
  const parts = p.split(path.sep);
  return parts
    .map((c, i) => (i < parts.length - 1 && c.length > 5 && c.endsWith('.asar') ? `${c}.unpacked` : c))
    .join(path.sep);
}

// Whether the prepared options run a node program. @isDirectory(path) and
// @isFile(path) look at the file system.
function isNodeProgram(opts, isDirectory, isFile) {
  if (opts.script === undefined) return true;           // cwd is a module folder
  const script = path.resolve(opts.cwd, opts.script);
  if (NODE_EXTENSIONS.includes(path.extname(script))) return true;
  // Inside an archive nothing can be seen from here: an extensionless path
  // is a module folder unless it is an unpacked file (an executable).
  if (insideArchive(script)) {
    return path.extname(script) === '' && !isFile(unpackedPath(script));
  }
  return isDirectory(script);
}

// The options to send, given the prepared ones (absolute cwd) and
// { versions, execPath, isDirectory, isFile } of the running process.
function apply(opts, { versions, execPath, isDirectory, isFile = () => false }) {
  if (!isElectron(versions)) return opts;
  const out = { ...opts };
  if (isNodeProgram(opts, isDirectory, isFile)) {
    if (out.interpreter === undefined) {
      out.interpreter = execPath;
      if (!out.env || out.env.ELECTRON_RUN_AS_NODE === undefined) {
        out.env = { ...(out.env || {}), ELECTRON_RUN_AS_NODE: '1' };
      }
    }
    if (insideArchive(path.join(out.cwd, '_'))) {
      // The script (or the module folder that cwd is) stays in the archive.
      out.script = opts.script !== undefined ? path.resolve(opts.cwd, opts.script) : opts.cwd;
      const unpacked = unpackedPath(path.join(out.cwd, '_')).slice(0, -2);
      if (isDirectory(unpacked)) out.cwd = unpacked;
    }
    return out;
  }
  if (out.script !== undefined) {
    const script = path.resolve(opts.cwd, opts.script);
    if (insideArchive(script)) out.script = unpackedPath(script);
  }
  out.cwd = unpackedPath(path.join(out.cwd, '_')).slice(0, -2);
  return out;
}

module.exports = { apply, isElectron, isNodeProgram, insideArchive, unpackedPath };
