/* pmdrv.c — the benchmark's D-Bus client for elife-pmd.
 *
 * A small, fast client (GDBus, synchronous calls from one thread) so that
 * per-call latencies measure the daemon and the bus, not an interpreter.
 * Built by bench/run.sh into a temp dir:
 *   cc -O2 pmdrv.c $(pkg-config --cflags --libs gio-2.0) -lm
 *
 * Usage: pmdrv ADDRESS COMMAND ARGS...
 *   wait-name SECONDS            wait until org.elife.ProcessManager is owned
 *   ping N                       N × org.freedesktop.DBus.Peer.Ping to the daemon
 *   start N SCRIPT [OPTS]        N sequential Start calls
 *       -a ARG (repeat) -e K=V (repeat) -n NAME -t STOP_TIMEOUT_MS
 *       -r RESTART_AT_CSV -l LOG -c CWD
 *   call N List|GetManagedObjects   N calls of a query
 *   stopall                      one StopAll
 *   stop NAME                    one Stop(NAME)
 *   list                         restarts summed over List, and the states
 *   lateness N DELAY_MS PID SCRIPT
 *       start SCRIPT (name "late", restartAt [DELAY_MS]); time each gap
 *       between Exited and the next Started (timestamps taken in the GDBus
 *       worker thread as the messages arrive); N gaps; then Stop. PID is the
 *       daemon's, for its CPU time over the N restarts.
 *   floor N List|GetManagedObjects
 *       the GDBus floor for a query: takes one reply from the daemon, then
 *       serves that very reply from a bare GDBus object (own connection and
 *       thread, no work per call) and times N calls of it
 *   baseline-spawn N PROGRAM [ARGS]
 *       the floor for Start: N × posix_spawn (returns once exec is done)
 *   spawn-floor N PROGRAM [ARGS]
 *       the floor for Start over D-Bus: a bare GDBus method (own connection
 *       and thread, as floor) that posix_spawns PROGRAM and replies with its
 *       pid; N calls of it, each timed
 *   emit N
 *       the GDBus floor for StopAll's messages: N × the four signals one
 *       stopped process sends (Stopping, PropertiesChanged, Exited,
 *       InterfacesRemoved), emitted from this one thread as the daemon's
 *       main loop does, then flushed; wall time and this process's CPU
 *   baseline-kill N
 *       the kernel's share of StopAll: N × /bin/sleep 1000 spawned, each
 *       leading its own group; after 1 s, SIGTERM to every group and every
 *       child reaped, timed (wall and this process's CPU)
 *   baseline-lateness N DELAY_MS SCRIPT
 *       the floor for the same job: a GLib main loop that posix_spawns SCRIPT,
 *       reaps it, waits DELAY_MS with g_timeout_add and spawns again. Lateness
 *       is (spawn returned − exit seen − DELAY_MS).
 *
 * Output: KEY=VALUE lines on stdout (times in µs unless the key says ms).
 */
/* RUSAGE_THREAD */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gio.h>

#define BUS   "org.elife.ProcessManager"
#define PATH  "/org/elife/ProcessManager"
#define IFACE "org.elife.ProcessManager"

extern char **environ;

static GDBusConnection *conn;

static void
die (const char *what, GError *error)
{
  fprintf (stderr, "pmdrv: %s: %s\n", what, error ? error->message : "failed");
  exit (1);
}

static int
cmp_i64 (const void *a, const void *b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;
  return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array. */
static gint64
pct (const gint64 *v, int n, double p)
{
  int k = (int) ceil (p * n) - 1;
  if (k < 0)
    k = 0;
  if (k >= n)
    k = n - 1;
  return v[k];
}

static void
stats (const char *prefix, gint64 *v, int n)
{
  gint64 sum = 0;

  if (n == 0)
    {
      printf ("%s_n=0\n", prefix);
      return;
    }
  qsort (v, n, sizeof *v, cmp_i64);
  for (int i = 0; i < n; i++)
    sum += v[i];
  printf ("%s_n=%d\n%s_min=%" G_GINT64_FORMAT "\n%s_p50=%" G_GINT64_FORMAT
          "\n%s_p99=%" G_GINT64_FORMAT "\n%s_max=%" G_GINT64_FORMAT "\n%s_mean=%.1f\n",
          prefix, n, prefix, v[0], prefix, pct (v, n, 0.5), prefix, pct (v, n, 0.99),
          prefix, v[n - 1], prefix, (double) sum / n);
}

static GVariant *
call (const char *path, const char *iface, const char *method, GVariant *args,
      const GVariantType *reply_type)
{
  g_autoptr(GError) error = NULL;
  GVariant *r = g_dbus_connection_call_sync (conn, BUS, path, iface, method, args, reply_type,
                                             G_DBUS_CALL_FLAGS_NO_AUTO_START, 120000, NULL,
                                             &error);
  if (r == NULL)
    die (method, error);
  return r;
}

/* utime+stime of a process, in ms. */
static double
proc_cpu_ms (int pid)
{
  char path[64], buf[4096];
  unsigned long ut = 0, st = 0;
  FILE *f;
  char *p;

  snprintf (path, sizeof path, "/proc/%d/stat", pid);
  f = fopen (path, "r");
  if (f == NULL)
    return -1;
  if (fgets (buf, sizeof buf, f) == NULL)
    buf[0] = '\0';
  fclose (f);
  p = strrchr (buf, ')');
  if (p == NULL)
    return -1;
  /* after ")": state(3) ppid pgrp session tty tpgid flags minflt cminflt
   * majflt cmajflt utime(14) stime(15) */
  if (sscanf (p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
    return -1;
  return (ut + st) * 1000.0 / sysconf (_SC_CLK_TCK);
}

/* ---- commands ------------------------------------------------------------ */

static int
cmd_wait_name (int argc, char **argv)
{
  double secs = argc > 0 ? atof (argv[0]) : 10;
  gint64 deadline = g_get_monotonic_time () + (gint64) (secs * G_USEC_PER_SEC);

  while (g_get_monotonic_time () < deadline)
    {
      g_autoptr(GVariant) r = g_dbus_connection_call_sync (
          conn, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
          "NameHasOwner", g_variant_new ("(s)", BUS), G_VARIANT_TYPE ("(b)"),
          G_DBUS_CALL_FLAGS_NONE, -1, NULL, NULL);
      gboolean owned = FALSE;

      if (r)
        g_variant_get (r, "(b)", &owned);
      if (owned)
        {
          printf ("owned=1\n");
          return 0;
        }
      g_usleep (5000);
    }
  fprintf (stderr, "pmdrv: %s not owned after %.1f s\n", BUS, secs);
  return 1;
}

static int
cmd_ping (int argc, char **argv)
{
  int n = argc > 0 ? atoi (argv[0]) : 100;
  gint64 *v = g_new (gint64, n);

  for (int i = 0; i < n; i++)
    {
      gint64 t0 = g_get_monotonic_time ();
      g_autoptr(GVariant) r = call (PATH, "org.freedesktop.DBus.Peer", "Ping", NULL, NULL);
      v[i] = g_get_monotonic_time () - t0;
    }
  stats ("ping_us", v, n);
  return 0;
}

static GVariant *
build_options (const char *script, int argc, char **argv)
{
  GVariantBuilder b, args, env;
  gboolean have_args = FALSE, have_env = FALSE;
  int opt;

  g_variant_builder_init (&b, G_VARIANT_TYPE ("a{sv}"));
  g_variant_builder_init (&args, G_VARIANT_TYPE ("as"));
  g_variant_builder_init (&env, G_VARIANT_TYPE ("a{ss}"));
  g_variant_builder_add (&b, "{sv}", "script", g_variant_new_string (script));
  optind = 1;
  while ((opt = getopt (argc, argv, "a:e:n:t:r:l:c:")) != -1)
    {
      switch (opt)
        {
        case 'a':
          g_variant_builder_add (&args, "s", optarg);
          have_args = TRUE;
          break;
        case 'e':
          {
            char *eq = strchr (optarg, '=');
            if (eq == NULL)
              die ("-e needs K=V", NULL);
            *eq = '\0';
            g_variant_builder_add (&env, "{ss}", optarg, eq + 1);
            have_env = TRUE;
            break;
          }
        case 'n':
          g_variant_builder_add (&b, "{sv}", "name", g_variant_new_string (optarg));
          break;
        case 't':
          g_variant_builder_add (&b, "{sv}", "stopTimeout",
                                 g_variant_new_uint32 ((guint32) atol (optarg)));
          break;
        case 'r':
          {
            GVariantBuilder ra;
            g_auto(GStrv) parts = g_strsplit (optarg, ",", -1);
            g_variant_builder_init (&ra, G_VARIANT_TYPE ("au"));
            for (char **p = parts; *p; p++)
              if (**p)
                g_variant_builder_add (&ra, "u", (guint32) atol (*p));
            g_variant_builder_add (&b, "{sv}", "restartAt", g_variant_builder_end (&ra));
            break;
          }
        case 'l':
          g_variant_builder_add (&b, "{sv}", "log", g_variant_new_string (optarg));
          break;
        case 'c':
          g_variant_builder_add (&b, "{sv}", "cwd", g_variant_new_string (optarg));
          break;
        default:
          die ("bad start option", NULL);
        }
    }
  if (have_args)
    g_variant_builder_add (&b, "{sv}", "args", g_variant_builder_end (&args));
  else
    g_variant_builder_clear (&args);
  if (have_env)
    g_variant_builder_add (&b, "{sv}", "env", g_variant_builder_end (&env));
  else
    g_variant_builder_clear (&env);
  return g_variant_ref_sink (g_variant_new ("(@a{sv})", g_variant_builder_end (&b)));
}

static int
cmd_start (int argc, char **argv)
{
  int n;
  gint64 *v, t_all;
  g_autoptr(GVariant) params = NULL;

  if (argc < 2)
    die ("start N SCRIPT [opts]", NULL);
  n = atoi (argv[0]);
  /* getopt wants argv[0] to be a program name: shift so SCRIPT plays it. */
  params = build_options (argv[1], argc - 1, argv + 1);
  v = g_new (gint64, n);
  t_all = g_get_monotonic_time ();
  for (int i = 0; i < n; i++)
    {
      gint64 t0 = g_get_monotonic_time ();
      g_autoptr(GVariant) r = call (PATH, IFACE, "Start", params, G_VARIANT_TYPE ("(u)"));
      v[i] = g_get_monotonic_time () - t0;
    }
  t_all = g_get_monotonic_time () - t_all;
  printf ("start_total_ms=%.1f\n", t_all / 1000.0);
  if (n >= 100)
    {
      /* latency against the number of children already running */
      int k = n / 10;
      gint64 *first = g_memdup2 (v, k * sizeof *v), *last = g_memdup2 (v + n - k, k * sizeof *v);
      stats ("start_first10pct_us", first, k);
      stats ("start_last10pct_us", last, k);
    }
  stats ("start_us", v, n);
  return 0;
}

static int
cmd_call (int argc, char **argv)
{
  int n;
  const char *method;
  gint64 *v;
  gsize items = 0, bytes = 0;

  if (argc < 2)
    die ("call N METHOD", NULL);
  n = atoi (argv[0]);
  method = argv[1];
  v = g_new (gint64, n);
  for (int i = 0; i < n; i++)
    {
      gint64 t0 = g_get_monotonic_time ();
      g_autoptr(GVariant) r = NULL;

      if (g_str_equal (method, "GetManagedObjects"))
        r = call (PATH, "org.freedesktop.DBus.ObjectManager", method, NULL,
                  G_VARIANT_TYPE ("(a{oa{sa{sv}}})"));
      else
        r = call (PATH, IFACE, method, NULL, NULL);
      v[i] = g_get_monotonic_time () - t0;
      if (i == 0)
        {
          g_autoptr(GVariant) c = g_variant_get_child_value (r, 0);
          items = g_variant_n_children (c);
          bytes = g_variant_get_size (r);
        }
    }
  printf ("items=%zu\nreply_bytes=%zu\n", items, bytes);
  stats ("call_us", v, n);
  return 0;
}

static int
cmd_stopall (void)
{
  guint32 count = 0;
  gint64 t0 = g_get_monotonic_time ();
  g_autoptr(GVariant) r = call (PATH, IFACE, "StopAll", NULL, G_VARIANT_TYPE ("(u)"));
  gint64 dt = g_get_monotonic_time () - t0;

  g_variant_get (r, "(u)", &count);
  printf ("stopall_ms=%.1f\ncount=%u\n", dt / 1000.0, count);
  return 0;
}

static int
cmd_stop (int argc, char **argv)
{
  guint32 count = 0;
  gint64 t0 = g_get_monotonic_time ();
  g_autoptr(GVariant) r = NULL;

  if (argc < 1)
    die ("stop NAME", NULL);
  r = call (PATH, IFACE, "Stop", g_variant_new ("(s)", argv[0]), G_VARIANT_TYPE ("(u)"));
  g_variant_get (r, "(u)", &count);
  printf ("stop_ms=%.1f\ncount=%u\n", (g_get_monotonic_time () - t0) / 1000.0, count);
  return 0;
}

static int
cmd_list (void)
{
  g_autoptr(GVariant) r = call (PATH, IFACE, "List", NULL, G_VARIANT_TYPE ("(a(ususu))"));
  g_autoptr(GVariantIter) it = NULL;
  guint32 id, pid, restarts;
  const char *name, *state;
  guint64 total = 0;
  int n = 0, running = 0;

  g_variant_get (r, "(a(ususu))", &it);
  while (g_variant_iter_next (it, "(u&su&su)", &id, &name, &pid, &state, &restarts))
    {
      n++;
      total += restarts;
      if (g_str_equal (state, "running"))
        running++;
    }
  printf ("processes=%d\nrunning=%d\nrestarts=%" G_GUINT64_FORMAT "\n", n, running, total);
  return 0;
}

/* ---- the GDBus floor of a query ------------------------------------------- */

typedef struct {
  const char      *address;
  char            *xml;       /* the served interface, org.elife.Bench.Floor */
  GDBusInterfaceMethodCallFunc method;
  gpointer         user_data; /* the method's */
  GMutex           lock;
  GCond            cond;
  char            *name;      /* the server's unique name, once up */
} Floor;

/* Serves fl->xml's interface at /floor on a connection of its own, from a
 * thread of its own (as a daemon's main loop would, apart from the client). */
static gpointer
floor_thread (gpointer data)
{
  Floor *fl = data;
  GDBusInterfaceVTable vtable = { fl->method, NULL, NULL, { 0 } };
  g_autoptr(GMainContext) ctx = g_main_context_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GDBusNodeInfo) info = g_dbus_node_info_new_for_xml (fl->xml, &error);
  GDBusConnection *c;

  g_main_context_push_thread_default (ctx);
  c = g_dbus_connection_new_for_address_sync (
      fl->address, G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                   G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION, NULL, NULL, &error);
  if (c == NULL || info == NULL)
    die ("floor connection", error);
  if (g_dbus_connection_register_object (c, "/floor", info->interfaces[0], &vtable,
                                         fl->user_data, NULL, &error) == 0)
    die ("floor object", error);
  g_mutex_lock (&fl->lock);
  fl->name = g_strdup (g_dbus_connection_get_unique_name (c));
  g_cond_signal (&fl->cond);
  g_mutex_unlock (&fl->lock);
  g_main_loop_run (g_main_loop_new (ctx, FALSE));
  return NULL;
}

/* Starts the server and waits until it is on the bus. */
static void
floor_start (Floor *fl)
{
  fl->address = g_getenv ("PMDRV_ADDRESS");
  g_mutex_init (&fl->lock);
  g_cond_init (&fl->cond);
  g_thread_unref (g_thread_new ("floor", floor_thread, fl));
  g_mutex_lock (&fl->lock);
  while (fl->name == NULL)
    g_cond_wait (&fl->cond, &fl->lock);
  g_mutex_unlock (&fl->lock);
}

/* N calls of the floor's METHOD from the client's connection, each timed. */
static gint64 *
floor_time_calls (Floor *fl, const char *method, const GVariantType *reply_type, int n)
{
  gint64 *v = g_new (gint64, n);

  for (int i = 0; i < n; i++)
    {
      g_autoptr(GError) error = NULL;
      gint64 t0 = g_get_monotonic_time ();
      g_autoptr(GVariant) r = g_dbus_connection_call_sync (conn, fl->name, "/floor",
                                                           "org.elife.Bench.Floor", method,
                                                           NULL, reply_type,
                                                           G_DBUS_CALL_FLAGS_NONE, 120000,
                                                           NULL, &error);
      if (r == NULL)
        die ("floor call", error);
      v[i] = g_get_monotonic_time () - t0;
    }
  return v;
}

static void
floor_get (GDBusConnection *c, const char *sender, const char *path, const char *iface,
           const char *method, GVariant *params, GDBusMethodInvocation *inv, gpointer data)
{
  g_dbus_method_invocation_return_value (inv, data);
}

static int
cmd_floor (int argc, char **argv)
{
  Floor fl = { 0 };
  const char *method, *type;
  GVariant *reply;
  gint64 *v;
  int n;

  if (argc < 2)
    die ("floor N METHOD", NULL);
  n = atoi (argv[0]);
  method = argv[1];
  if (g_str_equal (method, "GetManagedObjects"))
    reply = call (PATH, "org.freedesktop.DBus.ObjectManager", method, NULL,
                  G_VARIANT_TYPE ("(a{oa{sa{sv}}})"));
  else
    reply = call (PATH, IFACE, method, NULL, NULL);
  /* The reply is one value: its type without the tuple's parentheses. */
  type = g_variant_get_type_string (reply);
  fl.xml = g_strdup_printf ("<node><interface name='org.elife.Bench.Floor'><method name='Get'>"
                            "<arg type='%.*s' direction='out'/></method></interface></node>",
                            (int) strlen (type) - 2, type + 1);
  fl.method = floor_get;
  fl.user_data = reply;
  floor_start (&fl);

  v = floor_time_calls (&fl, "Get", NULL, n);
  printf ("reply_bytes=%zu\n", g_variant_get_size (reply));
  stats ("floor_us", v, n);
  return 0;
}

/* SIGKILL to each of @pids and every one reaped: the baselines' children. */
static void
kill_and_reap (const pid_t *pids, guint n)
{
  for (guint i = 0; i < n; i++)
    kill (pids[i], SIGKILL);
  for (guint i = 0; i < n; i++)
    while (waitpid (pids[i], NULL, 0) < 0 && errno == EINTR)
      ;
}

/* ---- the floor of Start over D-Bus ---------------------------------------- */

typedef struct {
  char   **argv;
  GArray  *pids;     /* pid_t, the server thread's until the calls are done */
} SpawnFloor;

static void
spawn_floor_method (GDBusConnection *c, const char *sender, const char *path,
                    const char *iface, const char *method, GVariant *params,
                    GDBusMethodInvocation *inv, gpointer data)
{
  SpawnFloor *sf = data;
  pid_t pid;

  if (posix_spawn (&pid, sf->argv[0], NULL, NULL, sf->argv, environ) != 0)
    die ("posix_spawn", NULL);
  g_array_append_val (sf->pids, pid);
  g_dbus_method_invocation_return_value (inv, g_variant_new ("(u)", (guint32) pid));
}

static int
cmd_spawn_floor (int argc, char **argv)
{
  Floor fl = { 0 };
  SpawnFloor sf;
  gint64 *v;
  int n;

  if (argc < 2)
    die ("spawn-floor N PROGRAM [ARGS]", NULL);
  n = atoi (argv[0]);
  sf.argv = argv + 1;
  sf.pids = g_array_new (FALSE, FALSE, sizeof (pid_t));
  fl.xml = g_strdup ("<node><interface name='org.elife.Bench.Floor'><method name='Spawn'>"
                     "<arg type='u' direction='out'/></method></interface></node>");
  fl.method = spawn_floor_method;
  fl.user_data = &sf;
  floor_start (&fl);

  v = floor_time_calls (&fl, "Spawn", G_VARIANT_TYPE ("(u)"), n);
  /* Every reply is in: the server thread adds no more. */
  kill_and_reap ((pid_t *) sf.pids->data, sf.pids->len);
  stats ("spawn_floor_us", v, n);
  return 0;
}

/* ---- restart lateness ---------------------------------------------------- */

typedef struct {
  GMutex  lock;
  GCond   cond;
  guint32 id;        /* ours; 0 until Start returned */
  gint64  t_exit;    /* last Exited seen, 0 when none pending */
  gint64 *gaps;
  int     n, want;
} Late;

static GDBusMessage *
late_filter (GDBusConnection *c, GDBusMessage *msg, gboolean incoming, gpointer data)
{
  Late *l = data;
  gint64 now = g_get_monotonic_time ();
  const char *member;
  GVariant *body;
  guint32 id = 0;

  if (!incoming || g_dbus_message_get_message_type (msg) != G_DBUS_MESSAGE_TYPE_SIGNAL)
    return msg;
  if (g_strcmp0 (g_dbus_message_get_interface (msg), IFACE) != 0)
    return msg;
  member = g_dbus_message_get_member (msg);
  body = g_dbus_message_get_body (msg);
  if (body == NULL || g_variant_n_children (body) < 1)
    return msg;
  g_variant_get_child (body, 0, "u", &id);
  g_mutex_lock (&l->lock);
  /* The Start reply and our first Started may race: our id is the only one
   * the daemon runs during this measurement, so any id is ours. */
  if (g_strcmp0 (member, "Exited") == 0)
    l->t_exit = now;
  else if (g_strcmp0 (member, "Started") == 0 && l->t_exit != 0)
    {
      if (l->n < l->want)
        l->gaps[l->n++] = now - l->t_exit;
      l->t_exit = 0;
      g_cond_signal (&l->cond);
    }
  g_mutex_unlock (&l->lock);
  return msg;
}

static int
cmd_lateness (int argc, char **argv)
{
  Late l = { 0 };
  int delay, pid;
  double cpu0, cpu1;
  gint64 t0, t1, deadline;
  char rbuf[32];
  char *sargv[] = { argv[3], "-n", "late", "-r", rbuf, NULL };
  g_autoptr(GVariant) params = NULL, r = NULL, m = NULL;

  if (argc < 4)
    die ("lateness N DELAY PID SCRIPT", NULL);
  l.want = atoi (argv[0]);
  delay = atoi (argv[1]);
  pid = atoi (argv[2]);
  snprintf (rbuf, sizeof rbuf, "%d", delay);
  l.gaps = g_new0 (gint64, l.want);
  g_mutex_init (&l.lock);
  g_cond_init (&l.cond);

  g_dbus_connection_add_filter (conn, late_filter, &l, NULL);
  m = g_dbus_connection_call_sync (
      conn, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "AddMatch",
      g_variant_new ("(s)", "type='signal',interface='" IFACE "',path='" PATH "'"), NULL,
      G_DBUS_CALL_FLAGS_NONE, -1, NULL, NULL);

  params = build_options (argv[3], 5, sargv);
  cpu0 = proc_cpu_ms (pid);
  t0 = g_get_monotonic_time ();
  r = call (PATH, IFACE, "Start", params, G_VARIANT_TYPE ("(u)"));
  deadline = t0 + (gint64) l.want * (delay + 50) * 1000 + 10 * G_USEC_PER_SEC;
  g_mutex_lock (&l.lock);
  while (l.n < l.want)
    if (!g_cond_wait_until (&l.cond, &l.lock, deadline))
      break;
  g_mutex_unlock (&l.lock);
  t1 = g_get_monotonic_time ();
  cpu1 = proc_cpu_ms (pid);
  {
    g_autoptr(GVariant) s = call (PATH, IFACE, "Stop", g_variant_new ("(s)", "late"), NULL);
  }
  g_mutex_lock (&l.lock);
  for (int i = 0; i < l.n; i++)
    l.gaps[i] -= (gint64) delay * 1000;
  printf ("wall_ms=%.1f\ndaemon_cpu_ms=%.1f\n", (t1 - t0) / 1000.0, cpu1 - cpu0);
  stats ("late_us", l.gaps, l.n);
  g_mutex_unlock (&l.lock);
  return l.n == l.want ? 0 : 1;
}

typedef struct {
  GMainLoop *loop;
  const char *script;
  int want, n, delay;
  gint64 t_exit;
  gint64 *late;
  GPid pid;
} Base;

static void base_spawn (Base *b);

static gboolean
base_timer (gpointer data)
{
  Base *b = data;
  base_spawn (b);
  return G_SOURCE_REMOVE;
}

static void
base_child (GPid pid, gint status, gpointer data)
{
  Base *b = data;
  b->t_exit = g_get_monotonic_time ();
  g_spawn_close_pid (pid);
  if (b->n >= b->want)
    {
      g_main_loop_quit (b->loop);
      return;
    }
  g_timeout_add (b->delay, base_timer, b);
}

static void
base_spawn (Base *b)
{
  pid_t pid;
  char *argv[] = { (char *) b->script, NULL };

  if (posix_spawn (&pid, b->script, NULL, NULL, argv, environ) != 0)
    die ("posix_spawn", NULL);
  if (b->t_exit != 0)
    b->late[b->n++] = g_get_monotonic_time () - b->t_exit - (gint64) b->delay * 1000;
  g_child_watch_add (pid, base_child, b);
}

static int
cmd_baseline_lateness (int argc, char **argv)
{
  Base b = { 0 };
  struct rusage ru;
  gint64 t0;

  if (argc < 3)
    die ("baseline-lateness N DELAY SCRIPT", NULL);
  b.want = atoi (argv[0]);
  b.delay = atoi (argv[1]);
  b.script = argv[2];
  b.late = g_new0 (gint64, b.want);
  b.loop = g_main_loop_new (NULL, FALSE);
  t0 = g_get_monotonic_time ();
  base_spawn (&b);
  g_main_loop_run (b.loop);
  getrusage (RUSAGE_SELF, &ru);
  printf ("wall_ms=%.1f\nself_cpu_ms=%.1f\n", (g_get_monotonic_time () - t0) / 1000.0,
          (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000.0 +
          (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000.0);
  stats ("late_us", b.late, b.n);
  return 0;
}

/* The floor for Start: posix_spawn (vfork+exec, returns once exec is done, as
 * Start does) of the same program, N times in a row; then kill them. */
static int
cmd_baseline_spawn (int argc, char **argv)
{
  int n;
  gint64 *v;
  pid_t *pids;

  if (argc < 2)
    die ("baseline-spawn N PROGRAM [ARGS]", NULL);
  n = atoi (argv[0]);
  v = g_new (gint64, n);
  pids = g_new (pid_t, n);
  for (int i = 0; i < n; i++)
    {
      gint64 t0 = g_get_monotonic_time ();
      if (posix_spawn (&pids[i], argv[1], NULL, NULL, argv + 1, environ) != 0)
        die ("posix_spawn", NULL);
      v[i] = g_get_monotonic_time () - t0;
    }
  kill_and_reap (pids, n);
  stats ("spawn_us", v, n);
  return 0;
}

/* ---- the GDBus floor of StopAll's messages ------------------------------ */

static double
rusage_ms (int who)
{
  struct rusage ru;

  getrusage (who, &ru);
  return ru.ru_utime.tv_sec * 1e3 + ru.ru_utime.tv_usec / 1e3 +
         ru.ru_stime.tv_sec * 1e3 + ru.ru_stime.tv_usec / 1e3;
}

/* ---- the kernel's share of StopAll --------------------------------------- */

static int
cmd_baseline_kill (int argc, char **argv)
{
  char *sleep_argv[] = { "/bin/sleep", "1000", NULL };
  posix_spawnattr_t attr;
  double cpu0;
  gint64 t0;
  pid_t *pids;
  int n;

  if (argc < 1)
    die ("baseline-kill N", NULL);
  n = atoi (argv[0]);
  pids = g_new (pid_t, n);
  posix_spawnattr_init (&attr);
  posix_spawnattr_setflags (&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup (&attr, 0);
  for (int i = 0; i < n; i++)
    if (posix_spawn (&pids[i], sleep_argv[0], NULL, &attr, sleep_argv, environ) != 0)
      die ("posix_spawn", NULL);
  g_usleep (G_USEC_PER_SEC);

  cpu0 = rusage_ms (RUSAGE_SELF);
  t0 = g_get_monotonic_time ();
  for (int i = 0; i < n; i++)
    kill (-pids[i], SIGTERM);
  for (int i = 0; i < n; i++)
    while (waitpid (pids[i], NULL, 0) < 0 && errno == EINTR)
      ;
  printf ("kill_ms=%.1f\nkill_cpu_ms=%.1f\n", (g_get_monotonic_time () - t0) / 1000.0,
          rusage_ms (RUSAGE_SELF) - cpu0);
  return 0;
}

static int
cmd_emit (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  const char *no_ifaces[] = { NULL };
  const char *ifaces[] = { IFACE ".Process", NULL };
  double cpu0, main0, main1;
  gint64 t0;
  int n;

  if (argc < 1)
    die ("emit N", NULL);
  n = atoi (argv[0]);
  cpu0 = rusage_ms (RUSAGE_SELF);
  main0 = rusage_ms (RUSAGE_THREAD);
  t0 = g_get_monotonic_time ();
  for (int i = 0; i < n; i++)
    {
      g_autofree char *path = g_strdup_printf (PATH "/process/%d", i + 1);
      GVariantBuilder changed;

      g_dbus_connection_emit_signal (conn, NULL, PATH, IFACE, "Stopping",
                                     g_variant_new ("(usu)", i + 1, "s", 100000 + i), NULL);
      g_variant_builder_init (&changed, G_VARIANT_TYPE_VARDICT);
      g_variant_builder_add (&changed, "{sv}", "State", g_variant_new_string ("stopping"));
      g_dbus_connection_emit_signal (conn, NULL, path, "org.freedesktop.DBus.Properties",
                                     "PropertiesChanged",
                                     g_variant_new ("(s@a{sv}^as)", IFACE ".Process",
                                                    g_variant_builder_end (&changed),
                                                    no_ifaces), NULL);
      g_dbus_connection_emit_signal (conn, NULL, PATH, IFACE, "Exited",
                                     g_variant_new ("(usuii)", i + 1, "s", 100000 + i, -1, 15),
                                     NULL);
      g_dbus_connection_emit_signal (conn, NULL, PATH, "org.freedesktop.DBus.ObjectManager",
                                     "InterfacesRemoved",
                                     g_variant_new ("(o^as)", path, ifaces), NULL);
    }
  main1 = rusage_ms (RUSAGE_THREAD);
  if (!g_dbus_connection_flush_sync (conn, NULL, &error))
    die ("flush", error);
  printf ("emit_ms=%.1f\nemit_cpu_ms=%.1f\nemit_main_cpu_ms=%.1f\nmessages=%d\n",
          (g_get_monotonic_time () - t0) / 1000.0, rusage_ms (RUSAGE_SELF) - cpu0,
          main1 - main0, 4 * n);
  return 0;
}

int
main (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  const char *cmd;

  if (argc < 3)
    {
      fprintf (stderr, "usage: pmdrv ADDRESS COMMAND ARGS...\n");
      return 2;
    }
  cmd = argv[2];
  setvbuf (stdout, NULL, _IOLBF, 0);
  if (g_str_equal (cmd, "baseline-lateness"))
    return cmd_baseline_lateness (argc - 3, argv + 3);
  if (g_str_equal (cmd, "baseline-spawn"))
    return cmd_baseline_spawn (argc - 3, argv + 3);

  conn = g_dbus_connection_new_for_address_sync (
      argv[1], G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                   G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
      NULL, NULL, &error);
  if (conn == NULL)
    die ("connect", error);

  if (g_str_equal (cmd, "wait-name"))
    return cmd_wait_name (argc - 3, argv + 3);
  if (g_str_equal (cmd, "ping"))
    return cmd_ping (argc - 3, argv + 3);
  if (g_str_equal (cmd, "start"))
    return cmd_start (argc - 3, argv + 3);
  if (g_str_equal (cmd, "call"))
    return cmd_call (argc - 3, argv + 3);
  if (g_str_equal (cmd, "stopall"))
    return cmd_stopall ();
  if (g_str_equal (cmd, "stop"))
    return cmd_stop (argc - 3, argv + 3);
  if (g_str_equal (cmd, "list"))
    return cmd_list ();
  if (g_str_equal (cmd, "lateness"))
    return cmd_lateness (argc - 3, argv + 3);
  if (g_str_equal (cmd, "baseline-kill"))
    return cmd_baseline_kill (argc - 3, argv + 3);
  if (g_str_equal (cmd, "emit"))
    return cmd_emit (argc - 3, argv + 3);
  if (g_str_equal (cmd, "spawn-floor"))
    {
      g_setenv ("PMDRV_ADDRESS", argv[1], TRUE);
      return cmd_spawn_floor (argc - 3, argv + 3);
    }
  if (g_str_equal (cmd, "floor"))
    {
      g_setenv ("PMDRV_ADDRESS", argv[1], TRUE);
      return cmd_floor (argc - 3, argv + 3);
    }
  fprintf (stderr, "pmdrv: unknown command %s\n", cmd);
  return 2;
}
