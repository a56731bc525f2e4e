/* test-dbus-hygiene.c — resource hygiene of the real elife-pmd (issue 7):
 * after thousands of start/stop cycles and of crash-restarts its open fds
 * and its RSS are back to a baseline measured after a warm-up, every child
 * has been reaped (no zombie), and no child is left but its watchdog.
 *
 * The numbers are read from /proc/PID/fd and /proc/PID/status of the daemon
 * and printed (g_test_message, and on stderr, which the harness keeps). */
#include "pm-test-util.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CYCLES          pm_test_scaled (5000)
#define CRASH_RESTARTS  pm_test_scaled (5000)
#define WARMUP          200
#define BATCH           50      /* calls in flight at once */
#define CRASHERS        4       /* processes crash-looping in parallel */
#define FD_SLACK        1
#define RSS_SLACK_KIB   1024
/* The harness kills a case after 90 s: stay well inside it. */
#define PHASE_DEADLINE_US (70 * G_USEC_PER_SEC)

/* ---- reporting and /proc -------------------------------------------------- */

/* report, daemon_pid, count_fds and rss_kib: tests/pm-test-util.h. */

/* The children of the daemon, from /proc/N/stat (state and ppid follow the
 * last ')' of the command name). */
typedef struct
{
  guint zombies;
  guint watchdogs;
  guint others;
  GArray *zombie_pids;   /* pid_t */
  GString *what;
} Children;

static gboolean
is_watchdog (const char *pid_dir)
{
  g_autofree gchar *path = g_build_filename (pid_dir, "cmdline", NULL);
  g_autofree gchar *cmdline = NULL;
  gsize len = 0;

  if (!g_file_get_contents (path, &cmdline, &len, NULL))
    return FALSE;
  for (gsize i = 0; i < len; i += strlen (cmdline + i) + 1)
    if (g_str_equal (cmdline + i, "--watchdog"))
      return TRUE;
  return FALSE;
}

static void
scan_children (pid_t parent, Children *c)
{
  DIR *proc = opendir ("/proc");
  struct dirent *e;

  memset (c, 0, sizeof *c);
  c->zombie_pids = g_array_new (FALSE, FALSE, sizeof (pid_t));
  c->what = g_string_new (NULL);
  g_assert_nonnull (proc);
  while ((e = readdir (proc)) != NULL)
    {
      g_autofree gchar *dir = NULL;
      g_autofree gchar *stat_path = NULL;
      g_autofree gchar *stat = NULL;
      const char *p;
      char state;
      int ppid;

      if (!g_ascii_isdigit (e->d_name[0]))
        continue;
      dir = g_build_filename ("/proc", e->d_name, NULL);
      stat_path = g_build_filename (dir, "stat", NULL);
      if (!g_file_get_contents (stat_path, &stat, NULL, NULL))
        continue;   /* gone meanwhile */
      p = strrchr (stat, ')');
      if (p == NULL || sscanf (p + 1, " %c %d", &state, &ppid) != 2 || ppid != parent)
        continue;
      if (state == 'Z')
        {
          pid_t pid = (pid_t) atoi (e->d_name);

          c->zombies++;
          g_array_append_val (c->zombie_pids, pid);
          g_string_append_printf (c->what, " %s(zombie)", e->d_name);
        }
      else if (is_watchdog (dir))
        c->watchdogs++;
      else
        {
          c->others++;
          g_string_append_printf (c->what, " %s(%c)", e->d_name, state);
        }
    }
  closedir (proc);
}

static void
children_clear (Children *c)
{
  g_array_unref (c->zombie_pids);
  g_string_free (c->what, TRUE);
}

static gboolean
is_zombie_child (pid_t pid, pid_t parent)
{
  g_autofree gchar *path = g_strdup_printf ("/proc/%d/stat", (int) pid);
  g_autofree gchar *stat = NULL;
  const char *p;
  char state;
  int ppid;

  if (!g_file_get_contents (path, &stat, NULL, NULL))
    return FALSE;
  p = strrchr (stat, ')');
  return p != NULL && sscanf (p + 1, " %c %d", &state, &ppid) == 2 &&
         state == 'Z' && ppid == parent;
}

/* A zombie may exist for the instant between a child's exit and the
 * daemon's SIGCHLD handler; one still there after `grace_ms` was left. */
static guint
assert_no_zombie_left (PmFixture *f, guint grace_ms)
{
  pid_t parent = pm_daemon_pid (f);
  Children c;
  gint64 deadline = g_get_monotonic_time () + grace_ms * 1000;
  guint seen;

  scan_children (parent, &c);
  seen = c.zombies;
  while (c.zombie_pids->len > 0)
    {
      for (guint i = 0; i < c.zombie_pids->len; )
        if (is_zombie_child (g_array_index (c.zombie_pids, pid_t, i), parent))
          i++;
        else
          g_array_remove_index_fast (c.zombie_pids, i);
      if (c.zombie_pids->len == 0)
        break;
      if (g_get_monotonic_time () > deadline)
        g_error ("zombie children of the daemon not reaped within %u ms:%s",
                 grace_ms, c.what->str);
      pm_iterate_for (20);
    }
  children_clear (&c);
  return seen;
}

/* Once everything is stopped: no child of the daemon but its watchdog. */
static void
assert_only_watchdog (PmFixture *f)
{
  pid_t parent = pm_daemon_pid (f);
  gint64 deadline = g_get_monotonic_time () + 2 * G_USEC_PER_SEC;
  Children c;

  for (;;)
    {
      scan_children (parent, &c);
      if ((c.zombies == 0 && c.others == 0) || g_get_monotonic_time () > deadline)
        break;
      children_clear (&c);
      pm_iterate_for (20);
    }
  pm_report ("children of the daemon: %u watchdog, %u zombies, %u others%s",
          c.watchdogs, c.zombies, c.others, c.what->str);
  if (c.zombies > 0 || c.others > 0)
    g_error ("children of the daemon left after every process stopped:%s", c.what->str);
  g_assert_cmpuint (c.watchdogs, <=, 1);
  children_clear (&c);
}

/* ---- a light signal recorder ---------------------------------------------- */

/* The harness records every signal and tracks every Started pid for its
 * teardown check. With ten thousand short-lived children pids wrap
 * (pid_max may be 32768), and that check could then hit an unrelated
 * process that got a recycled pid. So these cases swap the harness's
 * subscriptions for a tally that forgets a pid once its Exited arrives, and
 * hand only the pids still unaccounted for back to the harness. */
typedef struct
{
  GHashTable *live;       /* pid → id: Started seen, Exited not yet */
  guint started;
  guint exited;
} Tally;

static void
on_tally_signal (GDBusConnection *conn, const char *sender, const char *path,
                 const char *iface, const char *signal, GVariant *params,
                 gpointer user_data)
{
  Tally *t = user_data;
  guint32 id, pid;
  const char *name;
  gint32 code, sig;

  if (g_str_equal (signal, "Started") &&
      g_variant_is_of_type (params, G_VARIANT_TYPE ("(usu)")))
    {
      g_variant_get (params, "(u&su)", &id, &name, &pid);
      t->started++;
      g_hash_table_insert (t->live, GUINT_TO_POINTER (pid), GUINT_TO_POINTER (id));
    }
  else if (g_str_equal (signal, "Exited") &&
           g_variant_is_of_type (params, G_VARIANT_TYPE ("(usuii)")))
    {
      g_variant_get (params, "(u&suii)", &id, &name, &pid, &code, &sig);
      t->exited++;
      if (!g_hash_table_remove (t->live, GUINT_TO_POINTER (pid)))
        g_error ("Exited for pid %u (id %u) without a Started", pid, id);
    }
}

static void
on_ignored_signal (GDBusConnection *conn, const char *sender, const char *path,
                   const char *iface, const char *signal, GVariant *params,
                   gpointer user_data)
{
}

static void
tally_begin (PmFixture *f, Tally *t)
{
  t->live = g_hash_table_new (NULL, NULL);
  t->started = t->exited = 0;

  g_dbus_connection_signal_unsubscribe (f->conn, f->sub_manager);
  g_dbus_connection_signal_unsubscribe (f->conn, f->sub_props);
  g_dbus_connection_signal_unsubscribe (f->conn, f->sub_objmgr);
  f->sub_manager = g_dbus_connection_signal_subscribe (
      f->conn, NULL, PM_TEST_IFACE, NULL, PM_TEST_PATH, NULL,
      G_DBUS_SIGNAL_FLAGS_NONE, on_tally_signal, t, NULL);
  /* The teardown unsubscribes these ids: keep valid ones that match
   * nothing, so the bus does not route property changes here. */
  f->sub_props = g_dbus_connection_signal_subscribe (
      f->conn, NULL, "org.elife.Test.Nothing", "Nothing", PM_TEST_PATH, NULL,
      G_DBUS_SIGNAL_FLAGS_NONE, on_ignored_signal, NULL, NULL);
  f->sub_objmgr = g_dbus_connection_signal_subscribe (
      f->conn, NULL, "org.elife.Test.Nothing", "Nothing", PM_TEST_PATH, NULL,
      G_DBUS_SIGNAL_FLAGS_NONE, on_ignored_signal, NULL, NULL);
}

/* The pids without an Exited go back to the harness, which asserts them
 * dead once the daemon has exited. */
static void
tally_end (PmFixture *f, Tally *t)
{
  GHashTableIter iter;
  gpointer pid;

  g_hash_table_iter_init (&iter, t->live);
  while (g_hash_table_iter_next (&iter, &pid, NULL))
    pm_track_pid (f, (pid_t) GPOINTER_TO_UINT (pid));
  g_clear_pointer (&t->live, g_hash_table_unref);
}

static gboolean
tally_settled_cond (gpointer data)
{
  return g_hash_table_size (((Tally *) data)->live) == 0;
}

/* ---- pipelined calls ------------------------------------------------------- */

typedef struct
{
  guint pending;
  guint errors;
  GString *first_error;
} Pipe;

typedef struct
{
  Pipe *pipe;
  guint32 *out;
} PipeCall;

static void
on_pipe_reply (GObject *source, GAsyncResult *res, gpointer user_data)
{
  PipeCall *call = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source),
                                                             res, &error);

  if (reply == NULL)
    {
      if (call->pipe->errors++ == 0)
        g_string_assign (call->pipe->first_error, error->message);
    }
  else if (call->out != NULL)
    g_variant_get (reply, "(u)", call->out);
  call->pipe->pending--;
  g_free (call);
}

static void
pipe_call (PmFixture *f, Pipe *pipe, const char *path, const char *iface,
           const char *method, GVariant *params, const char *reply_type,
           guint32 *out)
{
  PipeCall *call = g_new0 (PipeCall, 1);

  call->pipe = pipe;
  call->out = out;
  pipe->pending++;
  g_dbus_connection_call (f->conn, PM_TEST_BUS_NAME, path, iface, method, params,
                          G_VARIANT_TYPE (reply_type), G_DBUS_CALL_FLAGS_NO_AUTO_START,
                          PM_TEST_TIMEOUT_MS, NULL, on_pipe_reply, call);
}

static gboolean
pipe_done_cond (gpointer data)
{
  return ((Pipe *) data)->pending == 0;
}

static void
pipe_wait (Pipe *pipe, const char *what)
{
  if (!pm_wait_for (pipe_done_cond, pipe, PM_TEST_TIMEOUT_MS + 5000))
    g_error ("%s: %u calls never answered", what, pipe->pending);
  if (pipe->errors > 0)
    g_error ("%s: %u calls failed; the first: %s", what, pipe->errors,
             pipe->first_error->str);
}

/* ---- measurements --------------------------------------------------------- */

typedef struct
{
  guint fds;
  gsize rss;
} Usage;

/* Measured with nothing running: every process stopped, every Exited in,
 * no child but the watchdog. */
static Usage
settle_and_measure (PmFixture *f, Tally *t, const char *when)
{
  Usage u;

  if (!pm_wait_for (tally_settled_cond, t, PM_TEST_TIMEOUT_MS))
    g_error ("%s: %u children never reported Exited", when,
             g_hash_table_size (t->live));
  g_assert_cmpuint (pm_list_count (f), ==, 0);
  assert_only_watchdog (f);
  /* Let the daemon finish whatever follows the last reply (state file
   * records, freed sources). */
  pm_iterate_for (200);
  u.fds = pm_count_fds (pm_daemon_pid (f));
  u.rss = pm_rss_kib (pm_daemon_pid (f));
  pm_report ("%s: %u fds, VmRSS %" G_GSIZE_FORMAT " KiB (Started %u, Exited %u)",
          when, u.fds, u.rss, t->started, t->exited);
  return u;
}

static void
assert_back_to_baseline (PmFixture *f, Usage base, Usage now)
{
  pm_report ("fds %u -> %u (%+d, allowed +%d); VmRSS %" G_GSIZE_FORMAT " -> %" G_GSIZE_FORMAT
          " KiB (%+" G_GSSIZE_FORMAT " KiB, allowed +%d)",
          base.fds, now.fds, (int) now.fds - (int) base.fds, FD_SLACK,
          base.rss, now.rss, (gssize) now.rss - (gssize) base.rss, RSS_SLACK_KIB);
  g_assert_false (f->daemon_exited);
  if (now.fds > base.fds + FD_SLACK)
    g_error ("the daemon holds %u fds, %u at the baseline", now.fds, base.fds);
  if (now.rss > base.rss + RSS_SLACK_KIB && pm_test_rss_meaningful ())
    g_error ("the daemon's RSS is %" G_GSIZE_FORMAT " KiB, %" G_GSIZE_FORMAT
             " KiB at the baseline", now.rss, base.rss);
}

/* ---- start/stop cycles ------------------------------------------------------ */

/* One batch: BATCH sleepers started in parallel, then stopped — by name,
 * by Process.Stop of each, or by StopAll, in turn. */
static void
cycle_batch (PmFixture *f, guint batch)
{
  g_autofree gchar *name = g_strdup_printf ("cycle-%u", batch);
  Pipe pipe = { 0, 0, g_string_new (NULL) };
  guint32 ids[BATCH] = { 0 };
  guint32 count = 0;

  for (guint i = 0; i < BATCH; i++)
    pipe_call (f, &pipe, PM_TEST_PATH, PM_TEST_IFACE, "Start",
               g_variant_new ("(@a{sv})",
                              pm_opts ("{'script': <'/bin/sleep'>, 'args': <['1000']>,"
                                       " 'name': <%s>, 'stopTimeout': <uint32 0>,"
                                       " 'restartAt': <@au []>}", name)),
               "(u)", &ids[i]);
  pipe_wait (&pipe, "Start");

  switch (batch % 3)
    {
    case 0:
      pipe_call (f, &pipe, PM_TEST_PATH, PM_TEST_IFACE, "Stop",
                 g_variant_new ("(s)", name), "(u)", &count);
      pipe_wait (&pipe, "Stop");
      g_assert_cmpuint (count, ==, BATCH);
      break;
    case 1:
      for (guint i = 0; i < BATCH; i++)
        {
          g_autofree gchar *path = pm_process_path (ids[i]);

          pipe_call (f, &pipe, path, PM_TEST_PROCESS_IFACE, "Stop", NULL, "()", NULL);
        }
      pipe_wait (&pipe, "Process.Stop");
      break;
    default:
      pipe_call (f, &pipe, PM_TEST_PATH, PM_TEST_IFACE, "StopAll", NULL, "(u)", &count);
      pipe_wait (&pipe, "StopAll");
      g_assert_cmpuint (count, ==, BATCH);
      break;
    }
  g_string_free (pipe.first_error, TRUE);
}

static void
run_cycles (PmFixture *f, guint cycles, guint *zombies_seen)
{
  gint64 t0 = g_get_monotonic_time ();

  for (guint b = 0; b < cycles / BATCH; b++)
    {
      cycle_batch (f, b);
      if (f->daemon_exited)
        g_error ("the daemon exited after %u cycles", b * BATCH);
      /* Every stopped child must already be reaped: Stop replies after
       * the exit. A zombie here is one the daemon did not wait for. */
      if (b % 10 == 9)
        *zombies_seen += assert_no_zombie_left (f, 1000);
      if (g_get_monotonic_time () - t0 > PHASE_DEADLINE_US)
        g_error ("only %u of %u cycles within %d s", (b + 1) * BATCH, cycles,
                 (int) (PHASE_DEADLINE_US / G_USEC_PER_SEC));
    }
}

static void
test_start_stop_cycles (PmFixture *f, gconstpointer data)
{
  Tally tally;
  Usage base, after;
  guint zombies_seen = 0;
  gint64 t0;

  tally_begin (f, &tally);

  /* Warm-up: GLib allocates its caches (types, quarks, the object manager's
   * tables, malloc arenas) once; the baseline is taken after that. */
  run_cycles (f, WARMUP, &zombies_seen);
  base = settle_and_measure (f, &tally, "baseline after warm-up");

  t0 = g_get_monotonic_time ();
  run_cycles (f, CYCLES, &zombies_seen);
  pm_report ("%d start/stop cycles (%d in flight) in %.1f s; zombies seen at samples: %u",
          CYCLES, BATCH, (g_get_monotonic_time () - t0) / 1e6, zombies_seen);
  after = settle_and_measure (f, &tally, "after the cycles");

  g_assert_cmpuint (tally.started, ==, WARMUP + CYCLES);
  g_assert_cmpuint (tally.exited, ==, tally.started);
  assert_back_to_baseline (f, base, after);
  tally_end (f, &tally);
}

/* ---- crash-restarts ---------------------------------------------------------- */

static guint32
total_restarts (PmFixture *f, const char *name, guint *listed)
{
  g_autoptr(GVariant) list = pm_list (f);
  GVariantIter iter;
  guint32 id, pid, restarts, total = 0;
  const char *ename, *state;

  *listed = 0;
  g_variant_iter_init (&iter, list);
  while (g_variant_iter_next (&iter, "(u&su&su)", &id, &ename, &pid, &state, &restarts))
    if (g_str_equal (ename, name))
      {
        total += restarts;
        (*listed)++;
      }
  return total;
}

/* CRASHERS processes that exit at once, restarted 1 ms later for ever,
 * until they have been restarted `restarts` times in all; then stopped. */
static void
run_crashers (PmFixture *f, guint restarts, guint *zombies_seen)
{
  g_autoptr(GError) error = NULL;
  gint64 t0 = g_get_monotonic_time ();
  guint32 total = 0;
  guint listed = 0;
  guint polls = 0;

  for (guint i = 0; i < CRASHERS; i++)
    {
      pm_start (f, pm_opts ("{'script': <'/bin/false'>, 'name': <'crasher'>,"
                            " 'restartAt': <@au [1]>, 'stopTimeout': <uint32 0>}"),
                &error);
      g_assert_no_error (error);
    }

  while ((total = total_restarts (f, "crasher", &listed)) < restarts)
    {
      g_assert_cmpuint (listed, ==, CRASHERS);
      if (f->daemon_exited)
        g_error ("the daemon exited after %u crash-restarts", total);
      if (g_get_monotonic_time () - t0 > PHASE_DEADLINE_US)
        g_error ("only %u of %u crash-restarts within %d s", total, restarts,
                 (int) (PHASE_DEADLINE_US / G_USEC_PER_SEC));
      /* A zombie may be caught between exit and reap, never for long. */
      if (++polls % 10 == 0)
        *zombies_seen += assert_no_zombie_left (f, 1000);
      pm_iterate_for (100);
    }
  pm_report ("%u crash-restarts of %d processes in %.1f s", total, CRASHERS,
          (g_get_monotonic_time () - t0) / 1e6);

  g_assert_cmpuint (pm_stop (f, "crasher", &error), ==, CRASHERS);
  g_assert_no_error (error);
}

static void
test_crash_restarts (PmFixture *f, gconstpointer data)
{
  Tally tally;
  Usage base, after;
  guint zombies_seen = 0;

  tally_begin (f, &tally);

  run_crashers (f, WARMUP, &zombies_seen);
  base = settle_and_measure (f, &tally, "baseline after warm-up");

  run_crashers (f, CRASH_RESTARTS, &zombies_seen);
  pm_report ("transient zombies seen at samples (all reaped within 1 s): %u", zombies_seen);
  after = settle_and_measure (f, &tally, "after the crash-restarts");

  g_assert_cmpuint (tally.exited, ==, tally.started);
  g_assert_cmpuint (tally.started, >=, WARMUP + CRASH_RESTARTS + 2 * CRASHERS);
  assert_back_to_baseline (f, base, after);
  tally_end (f, &tally);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  pm_test_init ();

  pm_test_add ("/hygiene/start-stop-cycles", test_start_stop_cycles, NULL);
  pm_test_add ("/hygiene/crash-restarts", test_crash_restarts, NULL);

  return g_test_run ();
}
