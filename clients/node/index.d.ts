// Types of @elife/pm: the client of elife-pmd, the D-Bus process manager.
/// <reference types="node" />
import { EventEmitter } from 'node:events';

declare class PmErrorClass extends Error {
  constructor(code: pm.ErrorCode, message: string, dbusName?: string | null);
  name: 'PmError';
  /** The last part of the D-Bus error name, or NoDaemon. */
  code: pm.ErrorCode;
  /** The D-Bus error name; null for errors found by the client. */
  dbusName: string | null;
}

declare class ClientClass extends EventEmitter {
  constructor(options?: pm.ConnectOptions);
  /** Another client, with its own (lazy) connection. */
  connect(options?: pm.ConnectOptions): ClientClass;
  start(options: pm.StartOptions, callback?: pm.StartCallback): Promise<pm.Started>;
  /** A string is a name (every process with it), a number a process id. */
  stop(nameOrId: string | number, callback?: pm.CountCallback): Promise<number>;
  restart(nameOrId: string | number, callback?: pm.CountCallback): Promise<number>;
  stopAll(callback?: pm.CountCallback): Promise<number>;
  list(): Promise<pm.ProcessInfo[]>;
  /** Ends the connection so that node can exit; the next call connects again. */
  close(): Promise<void>;
  /** Aliases of the original module. */
  stopall(callback?: pm.CountCallback): Promise<number>;
  stopByName(name: string | number, callback?: pm.CountCallback): Promise<number>;
  restartByName(name: string | number, callback?: pm.CountCallback): Promise<number>;

  on(event: 'started', listener: (e: pm.Started) => void): this;
  on(event: 'stopping', listener: (e: pm.Stopping) => void): this;
  on(event: 'exited', listener: (e: pm.Exited) => void): this;
  on(event: 'error', listener: (err: pm.PmError) => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
  once(event: 'started', listener: (e: pm.Started) => void): this;
  once(event: 'stopping', listener: (e: pm.Stopping) => void): this;
  once(event: 'exited', listener: (e: pm.Exited) => void): this;
  once(event: string | symbol, listener: (...args: any[]) => void): this;
}

declare namespace pm {
  /** Options of start(): every Start key of the daemon, as plain JS values. */
  interface StartOptions {
    /** The program: .js .mjs .cjs run by node (Electron's node in Electron), .py by python3,
     *  anything else executed. Relative to cwd. A directory is a node module folder
     *  (its package.json `main`, default index.js). Required unless cwd names a module folder. */
    script?: string;
    /** Several processes may share a name; stop/restart by name act on all. Default "". */
    name?: string;
    /** Arguments after the script (numbers are written out). Default []. */
    args?: Array<string | number>;
    /** Working directory; relative to process.cwd(), which is also the default.
     *  Without script: the module folder to run. */
    cwd?: string;
    /** Log file, relative to cwd; without one, lines go to the daemon's output. */
    log?: string;
    /** Merged over the daemon's environment (numbers are written out, undefined skipped). */
    env?: Record<string, string | number | undefined>;
    /** env replaces the environment instead of being merged. Default false. */
    clearEnv?: boolean;
    /** Default "always". */
    restart?: 'always' | 'on-failure' | 'never';
    /** ms before the 1st, 2nd, ... automatic restart; the last repeats. [] or [0]: never.
     *  Default [100, 500, 1000, 10000, 30000, 60000, 300000, 900000]. */
    restartAt?: number[];
    /** A child that ran this many ms before exiting starts the schedule over. Default 1800000. */
    restartOk?: number;
    /** Remove terminal escape sequences from logged lines. Default false. */
    stripANSI?: boolean;
    /** Start each logged line with a local ISO-8601 time. Default false. */
    timestamps?: boolean;
    /** ms each stop phase waits (message, SIGTERM, SIGKILL). Default 200, at most 3600000. */
    stopTimeout?: number;
    /** The program that runs the script. In Electron, node programs default to process.execPath. */
    interpreter?: string;
    /** Stop the process when this client's connection leaves the bus. Default **true** here. */
    stopWithCaller?: boolean;
    /** First stop and forget every process with the same (non-empty) name. Default false. */
    replace?: boolean;
    /** Readiness: when start() resolves — 'spawn' (default: once it runs), 'notify' (sd_notify
     *  READY=1), 'message' (a node child's pm.ready()) or 'line' (an output line matches readyPattern). */
    ready?: 'spawn' | 'notify' | 'message' | 'line';
    /** Readiness: the output line pattern that means ready. */
    readyPattern?: string;
    /** Readiness: ms to wait for ready before the start fails with code StartTimeout (default 30000).
     *  start() waits that long: the client sets no shorter timeout on the call. */
    startTimeout?: number;
    /** ms between watchdog() pings before the daemon restarts the service. */
    watchdogTimeout?: number;
    /** Rotate the log once it reaches this many bytes. */
    logMaxBytes?: number | bigint;
    /** How many rotated logs to keep. */
    logBackups?: number;
  }

  interface Started { id: number; name: string; pid: number; }
  interface Stopping { id: number; name: string; pid: number; }
  interface Exited {
    id: number; name: string; pid: number;
    /** The exit status, null when a signal ended it. */
    exitCode: number | null;
    /** The signal's name ('SIGKILL'), null when it exited by itself. */
    signal: string | null;
  }
  interface ProcessInfo {
    id: number; name: string;
    /** 0 when not running. */
    pid: number;
    state: 'starting' | 'running' | 'stopping' | 'backoff' | 'exited' | string;
    /** Automatic restarts since start. */
    restarts: number;
  }

  /** Error given to start()'s callback when the process exits abnormally. */
  interface ExitError extends Error {
    id: number; name: string; pid: number;
    exitCode: number | null;
    signal: string | null;
  }

  /**
   * The original module's callback: (null, pid) when the process runs and after every
   * restart with the new pid; (err) when it cannot start (a PmError) or exits abnormally
   * (an ExitError); () when it exits 0 with no restart due. Asked-for exits call nothing.
   */
  type StartCallback = (err?: PmError | ExitError | null, pid?: number) => void;
  type CountCallback = (err: PmError | null, count?: number) => void;

  type ErrorCode = 'NotFound' | 'InvalidArgs' | 'SpawnFailed' | 'LogFailed' | 'LimitExceeded' |
    'AccessDenied' | 'StartFailed' | 'StartTimeout' | 'NoDaemon' | 'Failed' | string;

  interface ConnectOptions {
    /** A D-Bus address. Default: ELIFE_PM_ADDRESS, else the session bus. */
    address?: string;
    /** Which standard bus, when no address is given. */
    bus?: 'session' | 'system';
    /** elife-pmd to start (with --address) when nobody owns the name and the bus cannot
     *  activate it. Default: ELIFE_PMD. */
    daemon?: string;
    /** ms to wait for a started daemon to take its name. Default 10000. */
    daemonTimeout?: number;
  }

  type PmError = PmErrorClass;
  type Client = ClientClass;

  interface OptionSpec { type: string; check?: (value: unknown) => true | string; }
}

interface DefaultClient extends ClientClass {
  Client: typeof ClientClass;
  PmError: typeof PmErrorClass;
  /** Option name → D-Bus type, the table start() converts with. */
  OPTIONS: Readonly<Record<keyof pm.StartOptions, pm.OptionSpec>>;
  /** In a child: calls fn once, when the daemon's stop message arrives, or at beforeExit/exit.
   *  Opens no D-Bus connection and does not keep the child alive. */
  onstopping(fn: () => void): void;
  /** In a child: tells the daemon it is ready (process.send('ready')); false without a channel. */
  ready(): boolean;
  /** In a child: a watchdog ping (process.send('watchdog')); false without a channel. */
  watchdog(): boolean;
}

declare const pm: DefaultClient;
export = pm;
