/* test-dbus-scale.c — the real elife-pmd with many processes (issue 17):
 * thousands of children started, listed, exported and stopped, thousands of
 * crash restarts, and the descriptor limit, checking behaviour only (how
 * fast is bench/'s business).
 *
 * How many: ELIFE_PM_TEST_SCALE processes (default 1000; 10000 is the
 * daemon's cap), divided by ELIFE_PM_TEST_SLOW under a slow tool, and never
 * more than the RLIMIT_NOFILE the daemon inherits allows at two descriptors
 * a child. Crash restarts: as many as processes. */
#include "pm-test-util.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

/* Descriptors the daemon keeps for itself beyond two a child. */
#define FD_HEADROOM   200
#define IN_FLIGHT     64       /* Start calls pipelined at once */
#define FD_SLACK      1

static guint
scale_count (void)
{
  const char *env = g_getenv ("ELIFE_PM_TEST_SCALE");
  guint64 n = env != NULL && *env != '\0' ? g_ascii_strtoull (env, NULL, 10) : 1000;
  struct rlimit lim;

  n = pm_test_scaled ((guint) CLAMP (n, 1, 10000));
  /* The daemon raises its soft limit to this hard one. */
  if (getrlimit (RLIMIT_NOFILE, &lim) == 0 && lim.rlim_max != RLIM_INFINITY &&
      lim.rlim_max < 2 * n + FD_HEADROOM)
    n = lim.rlim_max > FD_HEADROOM + 2 ? (lim.rlim_max - FD_HEADROOM) / 2 : 1;
  return (guint) n;
}

/* ---- many Starts in flight ------------------------------------------------- */

typedef struct
{
  guint sent, done, ok;
  GString *errors;      /* the first few */
} Starts;

static void
on_start_reply (GObject *source, GAsyncResult *res, gpointer data)
{
  Starts *s = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res,
                                                             &error);

  s->done++;
  if (reply != NULL)
    s->ok++;
  else if (s->errors->len < 2000)
    g_string_append_printf (s->errors, "\n  %s", error->message);
}

static gboolean
starts_window_cond (gpointer data)
{
  Starts *s = data;

  return s->sent - s->done < IN_FLIGHT;
}

static gboolean
starts_done_cond (gpointer data)
{
  Starts *s = data;

  return s->done == s->sent;
}

/* Sends @n Starts of @opts, IN_FLIGHT at a time; returns how many succeeded
 * (the errors, if any, in *errors). */
static guint
start_many (PmFixture *f, GVariant *opts, guint n, gchar **errors)
{
  Starts s = { 0, 0, 0, g_string_new (NULL) };
  g_autoptr(GVariant) owned = g_variant_ref_sink (opts);

  for (guint i = 0; i < n; i++)
    {
      if (!pm_wait_for (starts_window_cond, &s, PM_TEST_TIMEOUT_MS))
        g_error ("%u Starts in flight got no reply", IN_FLIGHT);
      g_dbus_connection_call (f->conn, PM_TEST_BUS_NAME, PM_TEST_PATH, PM_TEST_IFACE, "Start",
                              g_variant_new_tuple (&owned, 1), G_VARIANT_TYPE ("(u)"),
                              G_DBUS_CALL_FLAGS_NO_AUTO_START, PM_TEST_TIMEOUT_MS, NULL,
                              on_start_reply, &s);
      s.sent++;
    }
  if (!pm_wait_for (starts_done_cond, &s, PM_TEST_TIMEOUT_MS))
    g_error ("%u of %u Starts got no reply", s.sent - s.done, s.sent);
  if (errors != NULL)
    *errors = g_string_free (g_steal_pointer (&s.errors), FALSE);
  else
    g_string_free (s.errors, TRUE);
  return s.ok;
}

static GVariant *
sleeper_opts (const char *name)
{
  return pm_opts ("{'script': <'/bin/sleep'>, 'args': <['1000']>, 'name': <%s>}", name);
}

/* ---- what List says ---------------------------------------------------------- */

typedef struct
{
  guint entries;
  guint running;
  GArray *pids;   /* pid_t of the running ones */
} Listed;

static void
list_all (PmFixture *f, Listed *l)
{
  g_autoptr(GVariant) list = pm_list (f);
  GVariantIter iter;
  guint32 id, pid, restarts;
  const char *name, *state;

  memset (l, 0, sizeof *l);
  l->pids = g_array_new (FALSE, FALSE, sizeof (pid_t));
  g_variant_iter_init (&iter, list);
  while (g_variant_iter_next (&iter, "(u&su&su)", &id, &name, &pid, &state, &restarts))
    {
      l->entries++;
      if (g_str_equal (state, "running") && pid > 0)
        {
          pid_t p = (pid_t) pid;

          l->running++;
          g_array_append_val (l->pids, p);
        }
    }
}

static int
cmp_pid (gconstpointer a, gconstpointer b)
{
  pid_t x = *(const pid_t *) a, y = *(const pid_t *) b;

  return (x > y) - (x < y);
}

/* Every pid distinct, alive and leading its own group. */
static void
assert_pids_live_groups (GArray *pids)
{
  g_autoptr(GArray) sorted = g_array_copy (pids);

  g_array_sort (sorted, cmp_pid);
  for (guint i = 0; i < sorted->len; i++)
    {
      pid_t pid = g_array_index (sorted, pid_t, i);

      if (i > 0 && pid == g_array_index (sorted, pid_t, i - 1))
        g_error ("pid %d listed twice", (int) pid);
      if (!pm_pid_alive (pid))
        g_error ("listed pid %d is not alive", (int) pid);
      if (getpgid (pid) != pid)
        g_error ("pid %d does not lead its own process group", (int) pid);
    }
}

/* The daemon's children other than its watchdog, from /proc. */
static guint
count_children (pid_t parent)
{
  g_autoptr(GDir) proc = g_dir_open ("/proc", 0, NULL);
  const char *name;
  guint n = 0;

  g_assert_nonnull (proc);
  while ((name = g_dir_read_name (proc)) != NULL)
    {
      g_autofree gchar *path = NULL;
      g_autofree gchar *stat = NULL;
      g_autofree gchar *cmdline_path = NULL;
      g_autofree gchar *cmdline = NULL;
      gsize len = 0;
      const char *p;
      char state;
      int ppid;

      if (!g_ascii_isdigit (*name))
        continue;
      path = g_strdup_printf ("/proc/%s/stat", name);
      if (!g_file_get_contents (path, &stat, NULL, NULL))
        continue;
      p = strrchr (stat, ')');
      if (p == NULL || sscanf (p + 1, " %c %d", &state, &ppid) != 2 || ppid != parent)
        continue;
      cmdline_path = g_strdup_printf ("/proc/%s/cmdline", name);
      if (g_file_get_contents (cmdline_path, &cmdline, &len, NULL) &&
          len > strlen (cmdline) + 1 && g_str_equal (cmdline + strlen (cmdline) + 1, "--watchdog"))
        continue;
      n++;
    }
  return n;
}

typedef struct
{
  GArray *pids;
} DeadWait;

static gboolean
all_dead_cond (gpointer data)
{
  DeadWait *w = data;

  for (guint i = 0; i < w->pids->len; i++)
    if (pm_pid_alive (g_array_index (w->pids, pid_t, i)))
      return FALSE;
  return TRUE;
}

typedef struct
{
  pid_t pid;
  guint fds;
} FdWait;

static gboolean
fds_back_cond (gpointer data)
{
  FdWait *w = data;

  return pm_count_fds (w->pid) <= w->fds;
}

static void
assert_fds_back (PmFixture *f, guint base, const char *when)
{
  FdWait w = { pm_daemon_pid (f), base + FD_SLACK };

  /* Pipes are closed once each child's group is gone: give it time. */
  if (!pm_wait_for (fds_back_cond, &w, PM_TEST_TIMEOUT_MS))
    g_error ("%s: the daemon holds %u descriptors, %u before", when,
             pm_count_fds (w.pid), base);
}

/* ---- the cases ------------------------------------------------------------------- */

/* (1) N children: all started, all listed running with distinct live pids
 * leading their groups, all exported, all stopped by one StopAll, none left,
 * no descriptor kept. */
static void
test_many_processes (PmFixture *f, gconstpointer data)
{
  const guint n = scale_count ();
  pid_t daemon = pm_daemon_pid (f);
  g_autofree gchar *errors = NULL;
  g_autoptr(GVariant) objects = NULL;
  g_autoptr(GError) error = NULL;
  guint base_fds, started, stopped;
  Listed l;
  DeadWait dead;

  pm_iterate_for (100);
  base_fds = pm_count_fds (daemon);
  pm_report ("%u processes; daemon: %u fds", n, base_fds);

  started = start_many (f, sleeper_opts ("many"), n, &errors);
  if (started != n)
    g_error ("%u of %u Starts failed:%s", n - started, n, errors);
  pm_report ("%u started; daemon: %u fds, VmRSS %" G_GSIZE_FORMAT " KiB", started,
             pm_count_fds (daemon), pm_rss_kib (daemon));

  list_all (f, &l);
  g_assert_cmpuint (l.entries, ==, n);
  g_assert_cmpuint (l.running, ==, n);
  assert_pids_live_groups (l.pids);
  for (guint i = 0; i < l.pids->len; i++)
    pm_track_pid (f, g_array_index (l.pids, pid_t, i));
  g_assert_cmpuint (count_children (daemon), ==, n);
  /* Two pipes a child, nothing more. */
  g_assert_cmpuint (pm_count_fds (daemon), <=, base_fds + 2 * n + FD_SLACK);

  objects = pm_managed_objects (f);
  g_assert_cmpuint (g_variant_n_children (objects), ==, n);

  stopped = pm_stop_all (f, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (stopped, ==, n);
  /* StopAll answers once every group is gone. */
  dead.pids = l.pids;
  g_assert_true (all_dead_cond (&dead));
  g_assert_cmpuint (pm_list_count (f), ==, 0);
  g_assert_cmpuint (count_children (daemon), ==, 0);
  assert_fds_back (f, base_fds, "after StopAll");
  g_array_unref (l.pids);
}

typedef struct
{
  PmFixture *f;
  guint32 id;
  guint want;
  gint64 last_check;
  gboolean reached;
} RestartWait;

static gboolean
restarts_cond (gpointer data)
{
  RestartWait *w = data;
  gint64 now = g_get_monotonic_time ();
  guint32 restarts = 0;

  /* Every signal wakes the wait: ask the daemon only every 50 ms. */
  if (w->reached || now - w->last_check < 50000)
    return w->reached;
  w->last_check = now;
  pm_list_lookup (w->f, w->id, NULL, NULL, NULL, &restarts);
  w->reached = restarts >= w->want;
  return w->reached;
}

/* (2) A child crashing in a loop N times: the daemon's descriptors and,
 * where it means something, its memory are back where they were. */
static void
test_crash_restarts (PmFixture *f, gconstpointer data)
{
  const guint n = scale_count ();
  /* Four crashing in parallel, restartAt 1 ms: the loop is the daemon's. */
  const guint crashers = 4;
  pid_t daemon = pm_daemon_pid (f);
  g_autoptr(GError) error = NULL;
  guint32 ids[4];
  guint base_fds;
  gsize base_rss;

  pm_iterate_for (100);
  base_fds = pm_count_fds (daemon);
  base_rss = pm_rss_kib (daemon);
  for (guint i = 0; i < crashers; i++)
    ids[i] = pm_start_ok (f, pm_opts ("{'script': <'/bin/false'>, 'name': <'crash'>,"
                                      " 'restartAt': <[uint32 1]>}"), NULL);
  for (guint i = 0; i < crashers; i++)
    {
      RestartWait w = { f, ids[i], MAX (n / crashers, 1), 0, FALSE };

      /* A restart takes a millisecond and a spawn: minutes is generous. */
      if (!pm_wait_for (restarts_cond, &w, 10 * PM_TEST_TIMEOUT_MS))
        g_error ("process %u did not reach %u restarts", ids[i], w.want);
    }
  g_assert_cmpuint (pm_stop (f, "crash", &error), ==, crashers);
  g_assert_no_error (error);
  g_assert_cmpuint (count_children (daemon), ==, 0);
  assert_fds_back (f, base_fds, "after the crash restarts");
  pm_iterate_for (1000);   /* the heap is trimmed after a burst */
  pm_report ("%u crash restarts: daemon VmRSS %" G_GSIZE_FORMAT " KiB, %" G_GSIZE_FORMAT
             " KiB before; %u fds", n, pm_rss_kib (daemon), base_rss, pm_count_fds (daemon));
  if (pm_test_rss_meaningful ())
    g_assert_cmpuint (pm_rss_kib (daemon), <=, base_rss + 1024);
}

static gboolean
no_children_cond (gpointer data)
{
  return count_children (GPOINTER_TO_INT (data)) == 0;
}

/* (3) Out of descriptors: a Start is refused with LimitExceeded, nothing is
 * half started, and once a process is gone Start works again. */
static void
test_descriptor_limit (PmFixture *f, gconstpointer data)
{
  pid_t daemon = pm_daemon_pid (f);
  g_autoptr(GError) error = NULL;
  g_autofree gchar *errors = NULL;
  struct rlimit lim;
  guint base_fds, started, tries;
  Listed l;

  /* A few Starts first: far from the limit the daemon lets the next
   * Starts skip the check; lowering the limit must end that. */
  g_assert_cmpuint (start_many (f, sleeper_opts ("warm"), 3, &errors), ==, 3);
  g_clear_pointer (&errors, g_free);
  g_assert_cmpuint (pm_stop (f, "warm", &error), ==, 3);
  g_assert_no_error (error);
  g_assert_true (pm_wait_for (no_children_cond, GINT_TO_POINTER (daemon), PM_TEST_TIMEOUT_MS));

  pm_iterate_for (100);
  base_fds = pm_count_fds (daemon);
  /* Room for a few dozen children beyond what the daemon holds. */
  lim.rlim_cur = lim.rlim_max = base_fds + 100;
  g_assert_cmpint (prlimit (daemon, RLIMIT_NOFILE, &lim, NULL), ==, 0);

  tries = 100;
  started = start_many (f, sleeper_opts ("limit"), tries, &errors);
  pm_report ("limit %u fds (%u open): %u of %u Starts succeeded", (guint) lim.rlim_cur,
             base_fds, started, tries);
  g_assert_cmpuint (started, >, 0);
  g_assert_cmpuint (started, <, tries);
  if (strstr (errors, "LimitExceeded") == NULL)
    g_error ("Starts failed, but not with LimitExceeded:%s", errors);
  if (strstr (errors, "SpawnFailed") != NULL || strstr (errors, "LogFailed") != NULL)
    g_error ("a Start out of descriptors failed another way:%s", errors);

  /* Exactly the accepted ones exist: no half-started process. */
  list_all (f, &l);
  g_assert_cmpuint (l.entries, ==, started);
  g_assert_cmpuint (l.running, ==, started);
  assert_pids_live_groups (l.pids);
  for (guint i = 0; i < l.pids->len; i++)
    pm_track_pid (f, g_array_index (l.pids, pid_t, i));
  g_assert_cmpuint (count_children (daemon), ==, started);
  /* The daemon keeps 32 descriptors for its own work (FD_RESERVE in
   * src/pm-spawn.c): refused Starts leave them free. With the Starts that
   * skip the check still granted after the limit came down, they would
   * have gone on until a spawn ran out. */
  g_assert_cmpuint (pm_count_fds (daemon) + 32, <=, lim.rlim_cur);

  /* One more is refused; after a Stop it is not. */
  g_assert_cmpuint (pm_start (f, sleeper_opts ("more"), &error), ==, 0);
  pm_assert_remote_error (error, "org.elife.ProcessManager.Error.LimitExceeded");
  g_clear_error (&error);
  g_assert_cmpuint (pm_stop (f, "limit", &error), ==, started);
  g_assert_no_error (error);
  pm_start_ok (f, sleeper_opts ("more"), NULL);
  g_assert_cmpuint (pm_stop_all (f, &error), ==, 1);
  g_assert_no_error (error);
  g_assert_cmpuint (count_children (daemon), ==, 0);
  g_array_unref (l.pids);
}

/* The soft RLIMIT_NOFILE of @pid, from /proc/PID/limits. */
static guint64
soft_nofile (pid_t pid, guint64 *hard)
{
  g_autofree gchar *path = g_strdup_printf ("/proc/%d/limits", (int) pid);
  g_autofree gchar *text = NULL;
  const char *line;
  guint64 soft = 0;

  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  line = strstr (text, "Max open files");
  g_assert_nonnull (line);
  line += strlen ("Max open files");
  soft = g_ascii_strtoull (line, (char **) &line, 10);
  *hard = g_ascii_strtoull (line, NULL, 10);
  return soft;
}

/* (4) The daemon runs with its soft descriptor limit raised to the hard
 * one; its children get the soft limit it was started with. */
static void
test_nofile_limit (PmFixture *f, gconstpointer data)
{
  struct rlimit mine;
  guint64 hard = 0, child_hard = 0;
  guint32 pid = 0;

  g_assert_cmpint (getrlimit (RLIMIT_NOFILE, &mine), ==, 0);
  g_assert_cmpuint (soft_nofile (pm_daemon_pid (f), &hard), ==, hard);
  g_assert_cmpuint (hard, ==, mine.rlim_max);

  pm_start_ok (f, sleeper_opts ("limits"), &pid);
  pm_track_pid (f, (pid_t) pid);
  g_assert_cmpuint (soft_nofile ((pid_t) pid, &child_hard), ==, mine.rlim_cur);
  g_assert_cmpuint (child_hard, ==, mine.rlim_max);
}

int
main (int argc, char **argv)
{
  struct rlimit lim;

  g_test_init (&argc, &argv, NULL);
  pm_test_init ();

  /* So that (4) sees a child get a lower soft limit than the daemon's, the
   * daemons of these cases start below the hard limit when there is room. */
  if (getrlimit (RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur == lim.rlim_max &&
      lim.rlim_max > 2048)
    {
      lim.rlim_cur = 1024;
      setrlimit (RLIMIT_NOFILE, &lim);
    }

  pm_test_add ("/scale/many-processes", test_many_processes, NULL);
  pm_test_add ("/scale/crash-restarts", test_crash_restarts, NULL);
  /* Under a tool (valgrind) the daemon's descriptor limits are the tool's:
   * it keeps descriptors of its own at the top and fakes the limits. */
  if (g_getenv ("ELIFE_PMD_WRAPPER") == NULL || *g_getenv ("ELIFE_PMD_WRAPPER") == '\0')
    {
      pm_test_add ("/scale/descriptor-limit", test_descriptor_limit, NULL);
      pm_test_add ("/scale/nofile-limit", test_nofile_limit, NULL);
    }

  return g_test_run ();
}
