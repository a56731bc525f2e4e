/* test-dbus-orphans.c — no orphans, no duplicate fleets (issue 5) on the real
 * elife-pmd: daemon SIGTERM and SIGKILL with children and grandchildren, the
 * watchdog and the state files left by dead instances, stopWithCaller,
 * replace, a second daemon with and without --replace, and the subreaper.
 *
 * Survival is always checked by pid (a zombie counts as dead). Cases that
 * need a daemon with other arguments (--state-dir, --replace) or one they can
 * SIGKILL start it themselves on the fixture's bus, and stop or kill only
 * what they started. */
#include "pm-test-util.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <glib/gstdio.h>

#define STOP_MS 300
#define SLACK_MS 20
/* Upper bounds only tell "after the stop protocol" from "never" or "after
 * something longer"; a loaded machine must not fail them. */
#define GENEROUS_MS (2 * STOP_MS + pm_test_bound_ms (1000))

/* ---- small helpers -------------------------------------------------------- */

static gboolean
tick_cb (gpointer data)
{
  return G_SOURCE_CONTINUE;
}

/* pm_wait_for for conditions no event announces (a pid dying, a file going):
 * a 10 ms tick re-evaluates them. */
static gboolean
wait_polling (PmCondFunc cond, gpointer data, guint timeout_ms)
{
  guint tick = g_timeout_add (10, tick_cb, NULL);
  gboolean ok = pm_wait_for (cond, data, timeout_ms);

  g_source_remove (tick);
  return ok;
}

static gboolean
file_gone_cond (gpointer data)
{
  return !g_file_test (data, G_FILE_TEST_EXISTS);
}

static gboolean
file_exists_cond (gpointer data)
{
  return g_file_test (data, G_FILE_TEST_EXISTS);
}

typedef struct
{
  GArray *pids;
} PidsWait;

static gboolean
all_dead_cond (gpointer data)
{
  PidsWait *w = data;

  for (guint i = 0; i < w->pids->len; i++)
    if (pm_pid_alive (g_array_index (w->pids, pid_t, i)))
      return FALSE;
  return TRUE;
}

/* Waits until every pid is dead; fails listing the survivors. */
static void
assert_all_dead_within (GArray *pids, guint timeout_ms, const char *what)
{
  PidsWait w = { pids };
  gint64 t0 = g_get_monotonic_time ();
  g_autoptr(GString) alive = g_string_new (NULL);

  if (wait_polling (all_dead_cond, &w, timeout_ms))
    {
      g_test_message ("%s: all %u dead after %" G_GINT64_FORMAT " ms", what, pids->len,
                      (g_get_monotonic_time () - t0) / 1000);
      return;
    }
  for (guint i = 0; i < pids->len; i++)
    if (pm_pid_alive (g_array_index (pids, pid_t, i)))
      g_string_append_printf (alive, " %d", (int) g_array_index (pids, pid_t, i));
  g_error ("%s: still alive after %u ms:%s", what, timeout_ms, alive->str);
}

/* "A B\n" written by o-family.sh: the child and its grandchild. */
static void
read_family (const char *path, pid_t *child, pid_t *grandchild)
{
  g_autofree gchar *text = NULL;
  gchar *end = NULL;

  if (!pm_wait_for_file (path, PM_TEST_TIMEOUT_MS))
    g_error ("%s never appeared", path);
  text = pm_read_file (path);
  g_assert_nonnull (text);
  *child = (pid_t) g_ascii_strtoll (text, &end, 10);
  *grandchild = (pid_t) g_ascii_strtoll (end, NULL, 10);
  g_assert_cmpint (*child, >, 0);
  g_assert_cmpint (*grandchild, >, 0);
}

/* Field N (1-based) of /proc/PID/stat as a number, -1 when unreadable. */
static gint64
stat_field (pid_t pid, guint field)
{
  g_autofree gchar *path = g_strdup_printf ("/proc/%d/stat", (int) pid);
  g_autofree gchar *text = NULL;
  const char *p;

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return -1;
  p = strrchr (text, ')');
  if (p == NULL)
    return -1;
  /* p + 2 is field 3 (the state). */
  p += 2;
  for (guint i = 3; i < field; i++)
    {
      p = strchr (p, ' ');
      if (p == NULL)
        return -1;
      p++;
    }
  return g_ascii_strtoll (p, NULL, 10);
}

static guint64
start_time (pid_t pid)
{
  gint64 v = stat_field (pid, 22);

  g_assert_cmpint (v, >, 0);
  return (guint64) v;
}

/* No process left at all, not even a zombie: it was reaped. */
static gboolean
pid_gone (pid_t pid)
{
  return kill (pid, 0) != 0 && errno == ESRCH;
}

/* A call on any connection, main-context driven. */
typedef struct
{
  gboolean done;
  GVariant *result;
  GError *error;
} CallWait;

static void
on_call_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
  CallWait *w = user_data;

  w->result = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res, &w->error);
  w->done = TRUE;
}

static gboolean
call_done_cond (gpointer data)
{
  return ((CallWait *) data)->done;
}

static GVariant *
conn_call (GDBusConnection *conn, const char *dest, const char *path,
           const char *iface, const char *method, GVariant *params,
           const char *reply_type, GError **error)
{
  CallWait w = { FALSE, NULL, NULL };

  g_dbus_connection_call (conn, dest, path, iface, method, params,
                          reply_type ? G_VARIANT_TYPE (reply_type) : NULL,
                          G_DBUS_CALL_FLAGS_NO_AUTO_START, PM_TEST_TIMEOUT_MS, NULL,
                          on_call_done, &w);
  if (!pm_wait_for (call_done_cond, &w, PM_TEST_TIMEOUT_MS + 5000))
    g_error ("%s.%s: no reply at all", iface, method);
  if (w.error != NULL)
    g_propagate_error (error, w.error);
  return w.result;
}

/* The pid of the connection that owns the manager's name, 0 when none. */
static pid_t
name_owner_pid (PmFixture *f)
{
  g_autoptr(GVariant) owner = NULL;
  g_autoptr(GVariant) pid = NULL;
  const char *unique;
  guint32 p;

  owner = conn_call (f->conn, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                     "org.freedesktop.DBus", "GetNameOwner",
                     g_variant_new ("(s)", PM_TEST_BUS_NAME), "(s)", NULL);
  if (owner == NULL)
    return 0;
  g_variant_get (owner, "(&s)", &unique);
  pid = conn_call (f->conn, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                   "org.freedesktop.DBus", "GetConnectionUnixProcessID",
                   g_variant_new ("(s)", unique), "(u)", NULL);
  if (pid == NULL)
    return 0;
  g_variant_get (pid, "(u)", &p);
  return (pid_t) p;
}

/* "address-" + 16 hex digits of SHA-256 of the bus address. */
static gchar *
state_key (PmFixture *f)
{
  g_autofree gchar *sum = g_compute_checksum_for_string (G_CHECKSUM_SHA256, f->address, -1);

  return g_strdup_printf ("address-%.16s", sum);
}

static gchar *
state_file (PmFixture *f, const char *dir, pid_t daemon_pid)
{
  g_autofree gchar *key = state_key (f);

  return g_strdup_printf ("%s/%s.%d.state", dir, key, (int) daemon_pid);
}

static void
write_file (const char *path, const char *text)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *dir = g_path_get_dirname (path);

  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  g_file_set_contents (path, text, -1, &error);
  g_assert_no_error (error);
}

/* ---- daemons this file starts itself ----------------------------------------- */

typedef struct
{
  GSubprocess *proc;
  pid_t pid;
  gboolean exited;
  gint64 exit_time;
  gchar *err_path;
  GCancellable *cancellable;
} Daemon;

static void
on_own_daemon_exited (GObject *source, GAsyncResult *res, gpointer user_data)
{
  Daemon *d = user_data;

  if (!g_subprocess_wait_finish (G_SUBPROCESS (source), res, NULL))
    return;     /* cancelled: d may be gone */
  d->exited = TRUE;
  d->exit_time = g_get_monotonic_time ();
}

static void
pdeathsig_term (gpointer data)
{
  /* If this test dies, the daemon goes too (and stops its children). */
  prctl (PR_SET_PDEATHSIG, SIGTERM);
}

/* elife-pmd --address (the fixture's bus) [--verbose] [--replace]
 * [--state-dir DIR]; its stdout and stderr go to files in the temp dir. */
static Daemon *
daemon_spawn (PmFixture *f, const char *tag, const char *state_dir,
              gboolean replace, gboolean verbose)
{
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  g_autofree gchar *out_name = g_strconcat (tag, ".out", NULL);
  g_autofree gchar *err_name = g_strconcat (tag, ".err", NULL);
  g_autofree gchar *out_path = pm_tmp_path (f, out_name);
  const char *pmd = g_getenv ("ELIFE_PMD");
  Daemon *d = g_new0 (Daemon, 1);

  if (pmd == NULL || *pmd == '\0')
    g_error ("ELIFE_PMD is not set (run through meson test)");
  d->err_path = pm_tmp_path (f, err_name);
  d->cancellable = g_cancellable_new ();

  g_ptr_array_add (argv, (gpointer) pmd);
  g_ptr_array_add (argv, (gpointer) "--address");
  g_ptr_array_add (argv, f->address);
  if (verbose)
    g_ptr_array_add (argv, (gpointer) "--verbose");
  if (replace)
    g_ptr_array_add (argv, (gpointer) "--replace");
  if (state_dir != NULL)
    {
      g_ptr_array_add (argv, (gpointer) "--state-dir");
      g_ptr_array_add (argv, (gpointer) state_dir);
    }
  g_ptr_array_add (argv, NULL);

  g_subprocess_launcher_set_cwd (launcher, f->tmpdir);
  g_subprocess_launcher_set_stdout_file_path (launcher, out_path);
  g_subprocess_launcher_set_stderr_file_path (launcher, d->err_path);
  g_subprocess_launcher_set_child_setup (launcher, pdeathsig_term, NULL, NULL);
  d->proc = g_subprocess_launcher_spawnv (launcher, (const char * const *) argv->pdata, &error);
  g_assert_no_error (error);
  d->pid = (pid_t) g_ascii_strtoll (g_subprocess_get_identifier (d->proc), NULL, 10);
  g_test_message ("spawned %s daemon pid %d", tag, (int) d->pid);
  g_subprocess_wait_async (d->proc, d->cancellable, on_own_daemon_exited, d);
  return d;
}

static gboolean
daemon_exited_cond (gpointer data)
{
  return ((Daemon *) data)->exited;
}

static gboolean
daemon_exited_cond_fixture (gpointer data)
{
  return ((PmFixture *) data)->daemon_exited;
}

typedef struct
{
  PmFixture *f;
  Daemon *d;
} OwnerWait;

static gboolean
owner_cond (gpointer data)
{
  OwnerWait *w = data;

  return w->d->exited || name_owner_pid (w->f) == w->d->pid;
}

/* Waits until `d` owns the manager's name. */
static void
daemon_wait_owner (PmFixture *f, Daemon *d)
{
  OwnerWait w = { f, d };

  if (!wait_polling (owner_cond, &w, PM_TEST_TIMEOUT_MS) || d->exited)
    g_error ("daemon %d never owned %s%s", (int) d->pid, PM_TEST_BUS_NAME,
             d->exited ? " (it exited)" : "");
}

/* SIGTERM, and it must exit 0. */
static void
daemon_stop (Daemon *d)
{
  if (!d->exited)
    g_subprocess_send_signal (d->proc, SIGTERM);
  if (!pm_wait_for (daemon_exited_cond, d, PM_TEST_TIMEOUT_MS))
    {
      g_subprocess_force_exit (d->proc);
      g_error ("daemon %d did not exit within %d ms of SIGTERM", (int) d->pid,
               PM_TEST_TIMEOUT_MS);
    }
  if (!g_spawn_check_wait_status (g_subprocess_get_status (d->proc), NULL))
    g_error ("daemon %d did not exit with status 0 (wait status 0x%x)", (int) d->pid,
             g_subprocess_get_status (d->proc));
}

static void
daemon_free (Daemon *d)
{
  g_autofree gchar *err = pm_read_file (d->err_path);

  if (!d->exited)
    {
      g_subprocess_force_exit (d->proc);
      pm_wait_for (daemon_exited_cond, d, PM_TEST_TIMEOUT_MS);
    }
  if (err != NULL && *err != '\0')
    g_printerr ("[daemon %d stderr]\n%s", (int) d->pid, err);
  g_cancellable_cancel (d->cancellable);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_clear_object (&d->cancellable);
  g_clear_object (&d->proc);
  g_free (d->err_path);
  g_free (d);
}

/* Hands the bus over from the fixture's daemon (stopped: it has no
 * children yet) to one of ours with a private state dir. */
static Daemon *
daemon_take_over (PmFixture *f, const char *tag, const char *state_dir)
{
  Daemon *d;

  pm_fixture_stop_daemon (f);
  d = daemon_spawn (f, tag, state_dir, FALSE, TRUE);
  daemon_wait_owner (f, d);
  return d;
}

/* ---- unrelated processes this file starts -------------------------------------- */

static void
own_group_setup (gpointer data)
{
  setpgid (0, 0);
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

/* argv[0] leads its own process group; returns its pid. Not reaped by
 * GLib: reap_pid () does, so that a pid read here stays valid. */
static pid_t
spawn_group_leader (const char * const *argv)
{
  g_autoptr(GError) error = NULL;
  GPid pid = 0;

  g_spawn_async (NULL, (gchar **) argv, NULL,
                 G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD,
                 own_group_setup, NULL, &pid, &error);
  g_assert_no_error (error);
  return (pid_t) pid;
}

static void
reap_pid (pid_t pid)
{
  while (waitpid (pid, NULL, 0) < 0 && errno == EINTR)
    ;
}

static void
kill_and_reap (pid_t pid)
{
  kill (pid, SIGKILL);
  reap_pid (pid);
}

/* ---- daemon shutdown -------------------------------------------------------- */

/* SIGTERM: every child stopped in parallel (Stopping first), whole groups
 * gone, exit 0 within 2 × stopTimeout + 1 s. */
static void
test_daemon_sigterm (PmFixture *f, gconstpointer data)
{
  enum { N = 6 };
  g_autoptr(GArray) pids = g_array_new (FALSE, FALSE, sizeof (pid_t));
  guint32 ids[N];
  gint64 t0, ms;

  for (guint i = 0; i < N; i++)
    {
      g_autofree gchar *name = g_strdup_printf ("fam%u", i);
      g_autofree gchar *pidfile = pm_tmp_path (f, name);
      guint32 pid;
      pid_t child, grandchild;

      /* The last one ignores SIGTERM: the shutdown must wait for SIGKILL. */
      ids[i] = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <%s>, 'args': <[%s, %s]>,"
                                        " 'stopTimeout': <%u>, 'restartAt': <@au []>}",
                                        pm_data_file ("o-family.sh"), name, pidfile,
                                        i == N - 1 ? "stubborn" : "", (guint32) STOP_MS),
                            &pid);
      read_family (pidfile, &child, &grandchild);
      g_assert_cmpint (child, ==, (pid_t) pid);
      pm_track_pid (f, grandchild);
      g_array_append_val (pids, child);
      g_array_append_val (pids, grandchild);
    }

  t0 = g_get_monotonic_time ();
  pm_fixture_stop_daemon (f);   /* asserts exit status 0 */
  ms = (g_get_monotonic_time () - t0) / 1000;
  g_test_message ("shutdown with %d families took %" G_GINT64_FORMAT " ms", N, ms);
  g_assert_cmpint (ms, >=, 2 * STOP_MS - SLACK_MS);
  g_assert_cmpint (ms, <, GENEROUS_MS);
  /* Dead the moment the daemon is. */
  for (guint i = 0; i < pids->len; i++)
    if (pm_pid_alive (g_array_index (pids, pid_t, i)))
      g_error ("pid %d survived the daemon's shutdown", (int) g_array_index (pids, pid_t, i));
  for (guint i = 0; i < N; i++)
    {
      /* Its last signals may still be on their way when its exit is seen. */
      g_assert_nonnull (pm_wait_for_signal (f, "Stopping", ids[i], 2000));
      g_assert_nonnull (pm_wait_for_signal (f, "Exited", ids[i], 2000));
      g_assert_cmpint (pm_find_signal (f, 0, "Stopping", ids[i]), <,
                       pm_find_signal (f, 0, "Exited", ids[i]));
    }
}

/* Starts n o-family.sh children on the current daemon; appends every child
 * and grandchild pid to pids. */
static void
start_families (PmFixture *f, guint n, GArray *pids, GArray *grandchildren)
{
  for (guint i = 0; i < n; i++)
    {
      g_autofree gchar *name = g_strdup_printf ("kfam%u", i);
      g_autofree gchar *pidfile = pm_tmp_path (f, name);
      guint32 pid;
      pid_t child, grandchild;

      pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'fam'>, 'args': <[%s]>,"
                               " 'restartAt': <@au []>}",
                               pm_data_file ("o-family.sh"), pidfile), &pid);
      read_family (pidfile, &child, &grandchild);
      g_assert_cmpint (child, ==, (pid_t) pid);
      pm_track_pid (f, grandchild);
      g_array_append_val (pids, child);
      g_array_append_val (pids, grandchild);
      if (grandchildren != NULL)
        g_array_append_val (grandchildren, grandchild);
    }
}

/* SIGKILL: the 20 children and their 20 grandchildren are all dead within
 * 1 s, without another daemon starting; the next daemon then removes the
 * dead instance's state file. */
static void
test_daemon_sigkill (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *state_dir = pm_tmp_path (f, "state");
  g_autofree gchar *file1 = NULL;
  g_autofree gchar *file2 = NULL;
  g_autofree gchar *contents = NULL;
  g_autoptr(GArray) pids = g_array_new (FALSE, FALSE, sizeof (pid_t));
  Daemon *d1, *d2;

  d1 = daemon_take_over (f, "d1", state_dir);
  start_families (f, 20, pids, NULL);

  /* Every group is recorded, leader and start time. */
  file1 = state_file (f, state_dir, d1->pid);
  contents = pm_read_file (file1);
  if (contents == NULL)
    g_error ("no state file %s", file1);
  for (guint i = 0; i < pids->len; i += 2)
    {
      pid_t child = g_array_index (pids, pid_t, i);
      g_autofree gchar *rec = g_strdup_printf ("\n+%d %" G_GUINT64_FORMAT "\n",
                                               (int) child, start_time (child));

      if (strstr (contents, rec) == NULL)
        g_error ("state file %s does not record group %d:\n%s", file1, (int) child, contents);
    }

  g_subprocess_send_signal (d1->proc, SIGKILL);
  assert_all_dead_within (pids, 1000, "after kill -9 of the daemon");
  g_assert_true (pm_wait_for (daemon_exited_cond, d1, PM_TEST_TIMEOUT_MS));
  g_assert_true (g_subprocess_get_if_signaled (d1->proc));
  g_assert_cmpint (g_subprocess_get_term_sig (d1->proc), ==, SIGKILL);

  /* The killed daemon could not remove its file; the next one does. */
  g_assert_true (g_file_test (file1, G_FILE_TEST_EXISTS));
  d2 = daemon_spawn (f, "d2", state_dir, FALSE, TRUE);
  daemon_wait_owner (f, d2);
  if (!wait_polling (file_gone_cond, file1, 5000))
    g_error ("the next daemon left the dead instance's %s", file1);
  /* Its own file is written once the dead ones are dealt with. */
  file2 = state_file (f, state_dir, d2->pid);
  g_assert_true (wait_polling (file_exists_cond, file2, 5000));
  g_assert_cmpuint (pm_list_count (f), ==, 0);
  daemon_stop (d2);
  /* A clean exit with nothing recorded leaves no file. */
  g_assert_false (g_file_test (file2, G_FILE_TEST_EXISTS));
  daemon_free (d2);
  daemon_free (d1);
}

/* The watchdog of `daemon_pid`: its child whose argv[1] is --watchdog. */
static pid_t
find_watchdog (pid_t daemon_pid)
{
  g_autoptr(GDir) proc = g_dir_open ("/proc", 0, NULL);
  const char *name;

  g_assert_nonnull (proc);
  while ((name = g_dir_read_name (proc)) != NULL)
    {
      g_autofree gchar *cmdline_path = NULL;
      g_autofree gchar *cmdline = NULL;
      gsize len = 0;
      pid_t pid;

      if (!g_ascii_isdigit (*name))
        continue;
      pid = (pid_t) g_ascii_strtoll (name, NULL, 10);
      if (stat_field (pid, 4) != daemon_pid)
        continue;
      cmdline_path = g_strdup_printf ("/proc/%d/cmdline", (int) pid);
      if (!g_file_get_contents (cmdline_path, &cmdline, &len, NULL))
        continue;
      if (strlen (cmdline) + 1 < len && g_str_equal (cmdline + strlen (cmdline) + 1, "--watchdog"))
        return pid;
    }
  return 0;
}

/* Watchdog and daemon both killed (the state file is all that is left):
 * the next daemon kills the leftover grandchildren as it takes the name. */
static void
test_daemon_and_watchdog_sigkill (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *state_dir = pm_tmp_path (f, "state");
  g_autofree gchar *file1 = NULL;
  g_autoptr(GArray) pids = g_array_new (FALSE, FALSE, sizeof (pid_t));
  g_autoptr(GArray) grandchildren = g_array_new (FALSE, FALSE, sizeof (pid_t));
  g_autoptr(GArray) children = g_array_new (FALSE, FALSE, sizeof (pid_t));
  Daemon *d1, *d2;
  pid_t watchdog;
  guint survivors = 0;

  d1 = daemon_take_over (f, "d1", state_dir);
  start_families (f, 5, pids, grandchildren);
  for (guint i = 0; i < pids->len; i += 2)
    g_array_append_val (children, g_array_index (pids, pid_t, i));
  file1 = state_file (f, state_dir, d1->pid);

  watchdog = find_watchdog (d1->pid);
  if (watchdog == 0)
    g_error ("daemon %d has no watchdog child", (int) d1->pid);
  g_test_message ("watchdog pid %d", (int) watchdog);
  g_assert_cmpint (kill (watchdog, SIGKILL), ==, 0);
  g_assert_true (pm_wait_pid_dead (watchdog, 2000));
  g_subprocess_send_signal (d1->proc, SIGKILL);
  g_assert_true (pm_wait_for (daemon_exited_cond, d1, PM_TEST_TIMEOUT_MS));

  /* PDEATHSIG still takes the direct children. */
  assert_all_dead_within (children, 1000, "children after kill -9 of daemon and watchdog");
  for (guint i = 0; i < grandchildren->len; i++)
    if (pm_pid_alive (g_array_index (grandchildren, pid_t, i)))
      survivors++;
  g_test_message ("%u of %u grandchildren survived until the next start", survivors,
                  grandchildren->len);
  g_assert_true (g_file_test (file1, G_FILE_TEST_EXISTS));

  d2 = daemon_spawn (f, "d2", state_dir, FALSE, TRUE);
  daemon_wait_owner (f, d2);
  g_assert_cmpuint (pm_list_count (f), ==, 0);
  assert_all_dead_within (grandchildren, 1000, "grandchildren after the next daemon started");
  g_assert_true (wait_polling (file_gone_cond, file1, 5000));
  daemon_stop (d2);
  daemon_free (d2);
  daemon_free (d1);
}

/* ---- state files ------------------------------------------------------------- */

/* A dead instance's file recording a pid now used by an unrelated process
 * (its start time differs) is deleted and the process left alone; so is a
 * group the file records as gone. */
static void
test_state_unrelated_pid (PmFixture *f, gconstpointer data)
{
  const char *argv[] = { "sleep", "60", NULL };
  g_autofree gchar *state_dir = pm_tmp_path (f, "state");
  g_autofree gchar *fake = state_file (f, state_dir, 999999);
  g_autofree gchar *text = NULL;
  pid_t p1 = spawn_group_leader (argv), p2 = spawn_group_leader (argv);
  Daemon *d;

  text = g_strdup_printf ("daemon 999999 1\n+%d %" G_GUINT64_FORMAT "\n"
                          "+%d %" G_GUINT64_FORMAT "\n-%d\n",
                          (int) p1, start_time (p1) + 1,
                          (int) p2, start_time (p2), (int) p2);
  write_file (fake, text);

  d = daemon_take_over (f, "d", state_dir);
  if (!wait_polling (file_gone_cond, fake, 5000))
    g_error ("the daemon did not remove the dead instance's %s", fake);
  g_assert_cmpuint (pm_list_count (f), ==, 0);
  if (!pm_pid_alive (p1))
    g_error ("the daemon killed %d, whose start time differs from the record", (int) p1);
  if (!pm_pid_alive (p2))
    g_error ("the daemon killed %d, which the record says is gone", (int) p2);
  daemon_stop (d);
  g_assert_true (pm_pid_alive (p1));
  kill_and_reap (p1);
  kill_and_reap (p2);
  daemon_free (d);
}

/* A dead instance's group whose leader still has the recorded start time is
 * killed when the next daemon takes the name. */
static void
test_state_dead_instance_group (PmFixture *f, gconstpointer data)
{
  const char *argv[] = { "sleep", "60", NULL };
  g_autofree gchar *state_dir = pm_tmp_path (f, "state");
  g_autofree gchar *fake = state_file (f, state_dir, 999999);
  g_autofree gchar *text = NULL;
  g_autoptr(GArray) pids = g_array_new (FALSE, FALSE, sizeof (pid_t));
  pid_t p = spawn_group_leader (argv);
  Daemon *d;

  g_array_append_val (pids, p);
  text = g_strdup_printf ("daemon 999999 1\n+%d %" G_GUINT64_FORMAT "\n",
                          (int) p, start_time (p));
  write_file (fake, text);

  d = daemon_take_over (f, "d", state_dir);
  if (!wait_polling (file_gone_cond, fake, 5000))
    g_error ("the daemon did not remove the dead instance's %s", fake);
  assert_all_dead_within (pids, 1000, "the dead instance's group");
  g_assert_cmpuint (pm_list_count (f), ==, 0);
  daemon_stop (d);
  kill_and_reap (p);
  daemon_free (d);
}

/* Leader gone, a member left: members started at or after the recorded time
 * are killed; a member started before it belongs to someone else. */
static void
test_state_leader_gone (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *state_dir = pm_tmp_path (f, "state");
  g_autofree gchar *fake = state_file (f, state_dir, 999998);
  g_autofree gchar *mfile1 = pm_tmp_path (f, "member1");
  g_autofree gchar *mfile2 = pm_tmp_path (f, "member2");
  g_autofree gchar *cmd1 = g_strdup_printf ("sleep 60 & echo $! > %s.tmp && mv %s.tmp %s",
                                            mfile1, mfile1, mfile1);
  g_autofree gchar *cmd2 = g_strdup_printf ("sleep 60 & echo $! > %s.tmp && mv %s.tmp %s",
                                            mfile2, mfile2, mfile2);
  const char *argv1[] = { "/bin/sh", "-c", cmd1, NULL };
  const char *argv2[] = { "/bin/sh", "-c", cmd2, NULL };
  g_autofree gchar *text = NULL;
  g_autoptr(GArray) killed = g_array_new (FALSE, FALSE, sizeof (pid_t));
  pid_t g1 = spawn_group_leader (argv1), g2 = spawn_group_leader (argv2);
  pid_t m1, m2;
  Daemon *d;

  /* The leaders exit at once; their members (sleep) stay. */
  reap_pid (g1);
  reap_pid (g2);
  m1 = pm_read_pid_file (mfile1, PM_TEST_TIMEOUT_MS);
  m2 = pm_read_pid_file (mfile2, PM_TEST_TIMEOUT_MS);
  g_assert_cmpint (m1, >, 0);
  g_assert_cmpint (m2, >, 0);
  g_assert_cmpint (stat_field (m1, 5), ==, g1);
  g_assert_cmpint (stat_field (m2, 5), ==, g2);
  g_assert_false (pm_pid_alive (g1));
  g_assert_false (pm_pid_alive (g2));
  g_array_append_val (killed, m1);

  text = g_strdup_printf ("daemon 999998 1\n+%d %" G_GUINT64_FORMAT "\n+%d %" G_GUINT64_FORMAT "\n",
                          (int) g1, start_time (m1), (int) g2, start_time (m2) + 1);
  write_file (fake, text);

  d = daemon_take_over (f, "d", state_dir);
  if (!wait_polling (file_gone_cond, fake, 5000))
    g_error ("the daemon did not remove the dead instance's %s", fake);
  assert_all_dead_within (killed, 1000, "member started at the recorded time");
  if (!pm_pid_alive (m2))
    g_error ("the daemon killed %d, which started before the recorded group", (int) m2);
  kill (m2, SIGKILL);
  daemon_stop (d);
  daemon_free (d);
}

/* The file of a live instance and the file of another bus are left alone. */
static void
test_state_live_and_other_bus (PmFixture *f, gconstpointer data)
{
  const char *argv[] = { "sleep", "60", NULL };
  g_autofree gchar *state_dir = pm_tmp_path (f, "state");
  g_autofree gchar *live = state_file (f, state_dir, getpid ());
  g_autofree gchar *other = g_build_filename (state_dir, "session.999999.state", NULL);
  g_autofree gchar *dead = state_file (f, state_dir, 999997);
  g_autofree gchar *text1 = NULL;
  g_autofree gchar *text2 = NULL;
  pid_t p1 = spawn_group_leader (argv), p2 = spawn_group_leader (argv);
  Daemon *d;

  /* "Alive": this test process, with its real start time. */
  text1 = g_strdup_printf ("daemon %d %" G_GUINT64_FORMAT "\n+%d %" G_GUINT64_FORMAT "\n",
                           (int) getpid (), start_time (getpid ()), (int) p1, start_time (p1));
  text2 = g_strdup_printf ("daemon 999999 1\n+%d %" G_GUINT64_FORMAT "\n",
                           (int) p2, start_time (p2));
  write_file (live, text1);
  write_file (other, text2);
  /* Its removal tells the claim has run. */
  write_file (dead, "daemon 999997 1\n");

  d = daemon_take_over (f, "d", state_dir);
  if (!wait_polling (file_gone_cond, dead, 5000))
    g_error ("the daemon did not remove the dead instance's %s", dead);
  if (!pm_pid_alive (p1))
    g_error ("the daemon killed %d, recorded by a live instance", (int) p1);
  if (!pm_pid_alive (p2))
    g_error ("the daemon killed %d, recorded for another bus", (int) p2);
  g_assert_true (g_file_test (live, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (other, G_FILE_TEST_EXISTS));
  daemon_stop (d);
  kill_and_reap (p1);
  kill_and_reap (p2);
  daemon_free (d);
}

/* ---- stopWithCaller ------------------------------------------------------------ */

static GDBusConnection *
open_second_connection (PmFixture *f)
{
  g_autoptr(GError) error = NULL;
  GDBusConnection *conn = g_dbus_connection_new_for_address_sync (
      f->address,
      G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
      G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
      NULL, NULL, &error);

  g_assert_no_error (error);
  g_dbus_connection_set_exit_on_close (conn, FALSE);
  return conn;
}

/* Start on `conn`, wait for Started (seen on the fixture's connection). */
static guint32
start_on (PmFixture *f, GDBusConnection *conn, GVariant *opts, guint32 *pid)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  PmSignal *s;
  guint32 id;

  reply = conn_call (conn, PM_TEST_BUS_NAME, PM_TEST_PATH, PM_TEST_IFACE, "Start",
                     g_variant_new_tuple (&opts, 1), "(u)", &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(u)", &id);
  s = pm_wait_for_signal (f, "Started", id, PM_TEST_TIMEOUT_MS);
  g_assert_nonnull (s);
  *pid = s->pid;
  return id;
}

static GVariant *
run_opts (PmFixture *f, const char *name, gboolean with_caller)
{
  g_autofree gchar *pidfile = pm_tmp_path (f, name);

  return pm_opts ("{'script': <%s>, 'name': <%s>, 'args': <[%s]>, 'stopTimeout': <uint32 200>,"
                  " 'restartAt': <@au []>, 'stopWithCaller': <%b>}",
                  pm_data_file ("o-run.sh"), name, pidfile, with_caller);
}

typedef struct
{
  PmFixture *f;
  guint32 id;
} ListWait;

static gboolean
not_listed_cond (gpointer data)
{
  ListWait *w = data;

  return !pm_list_lookup (w->f, w->id, NULL, NULL, NULL, NULL);
}

static void
assert_still_running (PmFixture *f, guint32 id, guint32 pid)
{
  g_autofree gchar *state = NULL;
  guint32 list_pid = 0;

  g_assert_cmpuint (pm_count_signals (f, "Stopping", id), ==, 0);
  g_assert_true (pm_list_lookup (f, id, NULL, &list_pid, &state, NULL));
  g_assert_cmpstr (state, ==, "running");
  g_assert_cmpuint (list_pid, ==, pid);
  g_assert_true (pm_pid_alive ((pid_t) pid));
}

/* The connection that started it closes: Stopping, exit, forgotten. Its
 * other process without the flag, and a flagged one of a connection that
 * stays, keep running. */
static void
test_stop_with_caller_closes (PmFixture *f, gconstpointer data)
{
  g_autoptr(GDBusConnection) conn2 = open_second_connection (f);
  g_autoptr(GError) error = NULL;
  guint32 id1, id2, id3, pid1, pid2, pid3;
  PmSignal *stopping, *exited;
  ListWait lw;

  id1 = start_on (f, conn2, run_opts (f, "swc", TRUE), &pid1);
  id2 = start_on (f, conn2, run_opts (f, "plain", FALSE), &pid2);
  id3 = start_on (f, f->conn, run_opts (f, "mine", TRUE), &pid3);

  g_dbus_connection_close_sync (conn2, NULL, &error);
  g_assert_no_error (error);

  stopping = pm_wait_for_signal (f, "Stopping", id1, PM_TEST_TIMEOUT_MS);
  g_assert_nonnull (stopping);
  g_assert_cmpuint (stopping->pid, ==, pid1);
  exited = pm_wait_for_signal (f, "Exited", id1, PM_TEST_TIMEOUT_MS);
  g_assert_nonnull (exited);
  g_assert_cmpint (pm_find_signal (f, 0, "Stopping", id1), <,
                   pm_find_signal (f, 0, "Exited", id1));
  lw = (ListWait) { f, id1 };
  if (!wait_polling (not_listed_cond, &lw, PM_TEST_TIMEOUT_MS))
    g_error ("process %u is still listed after its caller left", id1);
  g_assert_false (pm_pid_alive ((pid_t) pid1));

  pm_iterate_for (300);
  assert_still_running (f, id2, pid2);
  assert_still_running (f, id3, pid3);
}

/* A caller that stays connected keeps its process; when it leaves later,
 * the process goes. */
static void
test_stop_with_caller_stays (PmFixture *f, gconstpointer data)
{
  g_autoptr(GDBusConnection) conn2 = open_second_connection (f);
  g_autoptr(GError) error = NULL;
  guint32 id, pid;

  id = start_on (f, conn2, run_opts (f, "stay", TRUE), &pid);
  pm_iterate_for (1000);
  assert_still_running (f, id, pid);

  g_dbus_connection_close_sync (conn2, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (pm_wait_for_signal (f, "Stopping", id, PM_TEST_TIMEOUT_MS));
  g_assert_nonnull (pm_wait_for_signal (f, "Exited", id, PM_TEST_TIMEOUT_MS));
  g_assert_true (pm_wait_pid_dead ((pid_t) pid, 2000));
}

/* ---- replace ------------------------------------------------------------------- */

/* Start with replace stops and forgets every process of that name first and
 * replies after they have exited; other names are untouched. */
static void
test_replace (PmFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *pf1 = pm_tmp_path (f, "x1");
  g_autofree gchar *pf2 = pm_tmp_path (f, "x2");
  g_autofree gchar *pf3 = pm_tmp_path (f, "y");
  g_autofree gchar *pf4 = pm_tmp_path (f, "x3");
  g_autofree gchar *pf5 = pm_tmp_path (f, "x4");
  guint32 x1, x2, y, x3, x4, px1, px2, py, px3;
  gint64 t0, ms;
  gint started;

#define X_OPTS(pf, replace) \
  pm_opts ("{'script': <%s>, 'name': <'x'>, 'args': <[%s]>, 'stopTimeout': <%u>," \
           " 'restartAt': <@au []>, 'replace': <%b>}", pm_data_file ("o-run.sh"), (pf), \
           (guint32) STOP_MS, (gboolean) (replace))

  x1 = pm_start_ok (f, X_OPTS (pf1, FALSE), &px1);
  x2 = pm_start_ok (f, X_OPTS (pf2, FALSE), &px2);
  y = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'y'>, 'args': <[%s]>,"
                               " 'restartAt': <@au []>}", pm_data_file ("o-run.sh"), pf3), &py);
  /* Both children have their SIGTERM default action in place. */
  g_assert_cmpint (pm_read_pid_file (pf1, PM_TEST_TIMEOUT_MS), ==, (pid_t) px1);
  g_assert_cmpint (pm_read_pid_file (pf2, PM_TEST_TIMEOUT_MS), ==, (pid_t) px2);

  t0 = g_get_monotonic_time ();
  x3 = pm_start (f, X_OPTS (pf4, TRUE), &error);
  ms = (g_get_monotonic_time () - t0) / 1000;
  g_assert_no_error (error);
  g_test_message ("Start with replace took %" G_GINT64_FORMAT " ms", ms);
  /* The old ones were stopped by the protocol (SIGTERM after stopTimeout)
   * and had exited before the reply. */
  g_assert_cmpint (ms, >=, STOP_MS - SLACK_MS);
  g_assert_cmpint (pm_find_signal (f, 0, "Stopping", x1), >=, 0);
  g_assert_cmpint (pm_find_signal (f, 0, "Stopping", x2), >=, 0);
  g_assert_cmpint (pm_find_signal (f, 0, "Exited", x1), >=, 0);
  g_assert_cmpint (pm_find_signal (f, 0, "Exited", x2), >=, 0);
  g_assert_false (pm_pid_alive ((pid_t) px1));
  g_assert_false (pm_pid_alive ((pid_t) px2));
  g_assert_nonnull (pm_wait_for_signal (f, "Started", x3, PM_TEST_TIMEOUT_MS));
  started = pm_find_signal (f, 0, "Started", x3);
  g_assert_cmpint (pm_find_signal (f, 0, "Exited", x1), <, started);
  g_assert_cmpint (pm_find_signal (f, 0, "Exited", x2), <, started);
  px3 = ((PmSignal *) f->signals->pdata[started])->pid;

  g_assert_cmpuint (pm_list_count (f), ==, 2);
  g_assert_false (pm_list_lookup (f, x1, NULL, NULL, NULL, NULL));
  g_assert_false (pm_list_lookup (f, x2, NULL, NULL, NULL, NULL));
  g_assert_true (pm_list_lookup (f, x3, NULL, NULL, NULL, NULL));
  assert_still_running (f, y, py);

  /* Twice: the one that replaced goes the same way. */
  g_assert_cmpint (pm_read_pid_file (pf4, PM_TEST_TIMEOUT_MS), ==, (pid_t) px3);
  x4 = pm_start (f, X_OPTS (pf5, TRUE), &error);
  g_assert_no_error (error);
  g_assert_cmpint (pm_find_signal (f, 0, "Exited", x3), >=, 0);
  g_assert_false (pm_pid_alive ((pid_t) px3));
  g_assert_cmpuint (pm_list_count (f), ==, 2);
  g_assert_false (pm_list_lookup (f, x3, NULL, NULL, NULL, NULL));
  g_assert_true (pm_list_lookup (f, x4, NULL, NULL, NULL, NULL));
  assert_still_running (f, y, py);
#undef X_OPTS
}

/* replace with nothing to replace is a plain Start. */
static void
test_replace_nothing (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *pf = pm_tmp_path (f, "lone");
  guint32 id, pid;

  id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'lone'>, 'args': <[%s]>,"
                                " 'restartAt': <@au []>, 'replace': <true>}",
                                pm_data_file ("o-run.sh"), pf), &pid);
  assert_still_running (f, id, pid);
  g_assert_cmpuint (pm_count_signals (f, "Stopping", 0), ==, 0);
}

/* ---- a second daemon ------------------------------------------------------------ */

/* Without --replace it exits non-zero, quickly, saying why on one line, and
 * touches nothing: the first keeps its name, its children and its state
 * file. */
static void
test_second_daemon (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *pf = pm_tmp_path (f, "first");
  g_autofree gchar *first_state = NULL;
  g_autofree gchar *err = NULL;
  /* The fixture's daemon keeps its state in the test's directory. */
  g_autofree gchar *runtime_state = pm_tmp_path (f, ".state");
  g_auto(GStrv) lines = NULL;
  pid_t first = (pid_t) g_ascii_strtoll (g_subprocess_get_identifier (f->daemon), NULL, 10);
  guint32 id, pid;
  Daemon *d2;

  id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'first'>, 'args': <[%s]>,"
                                " 'restartAt': <@au []>}", pm_data_file ("o-run.sh"), pf), &pid);
  first_state = state_file (f, runtime_state, first);
  g_assert_true (g_file_test (first_state, G_FILE_TEST_EXISTS));

  d2 = daemon_spawn (f, "second", runtime_state, FALSE, FALSE);
  if (!pm_wait_for (daemon_exited_cond, d2, 5000))
    g_error ("the second daemon did not exit within 5 s");
  g_assert_true (g_subprocess_get_if_exited (d2->proc));
  g_assert_cmpint (g_subprocess_get_exit_status (d2->proc), !=, 0);
  err = pm_read_file (d2->err_path);
  g_assert_nonnull (err);
  lines = g_strsplit (g_strstrip (err), "\n", -1);
  g_test_message ("second daemon said: %s", err);
  g_assert_cmpuint (g_strv_length (lines), ==, 1);
  g_assert_nonnull (strstr (lines[0], PM_TEST_BUS_NAME));

  g_assert_false (f->daemon_exited);
  g_assert_cmpint (name_owner_pid (f), ==, first);
  assert_still_running (f, id, pid);
  g_assert_true (g_file_test (first_state, G_FILE_TEST_EXISTS));
  daemon_free (d2);
}

/* With --replace the old daemon, on losing the name, stops its children
 * (Stopping for each) and exits 0; the new one starts with an empty list. */
static void
test_second_daemon_replace (PmFixture *f, gconstpointer data)
{
  enum { N = 3 };
  g_autofree gchar *state2 = pm_tmp_path (f, "state2");
  g_autoptr(GArray) pids = g_array_new (FALSE, FALSE, sizeof (pid_t));
  guint32 ids[N];
  gint64 t_owner, ms;
  Daemon *d2;

  for (guint i = 0; i < N; i++)
    {
      g_autofree gchar *name = g_strdup_printf ("old%u", i);
      g_autofree gchar *pidfile = pm_tmp_path (f, name);
      guint32 pid;
      pid_t child, grandchild;

      ids[i] = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <%s>, 'args': <[%s, %s]>,"
                                        " 'stopTimeout': <%u>, 'restartAt': <@au []>}",
                                        pm_data_file ("o-family.sh"), name, pidfile,
                                        i == 0 ? "stubborn" : "", (guint32) STOP_MS),
                            &pid);
      read_family (pidfile, &child, &grandchild);
      pm_track_pid (f, grandchild);
      g_array_append_val (pids, child);
      g_array_append_val (pids, grandchild);
    }

  d2 = daemon_spawn (f, "new", state2, TRUE, TRUE);
  daemon_wait_owner (f, d2);
  t_owner = g_get_monotonic_time ();
  /* The new daemon answers, with nothing of the old one's. */
  g_assert_cmpuint (pm_list_count (f), ==, 0);

  if (!pm_wait_for (daemon_exited_cond_fixture, f, PM_TEST_TIMEOUT_MS))
    g_error ("the replaced daemon did not exit");
  ms = (g_get_monotonic_time () - t_owner) / 1000;
  g_test_message ("the replaced daemon exited %" G_GINT64_FORMAT " ms after the name moved", ms);
  g_assert_cmpint (ms, <, GENEROUS_MS);
  for (guint i = 0; i < pids->len; i++)
    if (pm_pid_alive (g_array_index (pids, pid_t, i)))
      g_error ("pid %d survived the replaced daemon", (int) g_array_index (pids, pid_t, i));
  /* Its last signals may still be on their way when its exit is seen. */
  for (guint i = 0; i < N; i++)
    {
      g_assert_nonnull (pm_wait_for_signal (f, "Stopping", ids[i], 2000));
      g_assert_nonnull (pm_wait_for_signal (f, "Exited", ids[i], 2000));
    }

  g_assert_cmpint (name_owner_pid (f), ==, d2->pid);
  g_assert_cmpuint (pm_list_count (f), ==, 0);
  daemon_stop (d2);
  daemon_free (d2);
  /* Last, so that everything above is checked whatever this says (the
   * fixture's teardown asserts it too). */
  if (!g_spawn_check_wait_status (f->daemon_wait_status, NULL))
    g_error ("the replaced daemon did not exit 0 (wait status 0x%x)", f->daemon_wait_status);
}

/* ---- reaping -------------------------------------------------------------------- */

typedef struct
{
  pid_t pid;
  pid_t parent;
} ParentWait;

static gboolean
parent_cond (gpointer data)
{
  ParentWait *w = data;

  /* Adopted by the daemon, and setsid has run. */
  return (stat_field (w->pid, 4) == w->parent && stat_field (w->pid, 5) == w->pid) ||
         !pm_pid_alive (w->pid);
}

static gboolean
pid_gone_cond (gpointer data)
{
  return pid_gone ((pid_t) GPOINTER_TO_INT (data));
}

static gboolean
no_zombie_children_cond (gpointer data)
{
  pid_t parent = (pid_t) GPOINTER_TO_INT (data);
  g_autoptr(GDir) proc = g_dir_open ("/proc", 0, NULL);
  const char *name;

  while (proc != NULL && (name = g_dir_read_name (proc)) != NULL)
    {
      g_autofree gchar *path = NULL;
      g_autofree gchar *text = NULL;
      const char *p;
      pid_t pid;

      if (!g_ascii_isdigit (*name))
        continue;
      pid = (pid_t) g_ascii_strtoll (name, NULL, 10);
      if (stat_field (pid, 4) != parent)
        continue;
      path = g_strdup_printf ("/proc/%d/stat", (int) pid);
      if (!g_file_get_contents (path, &text, NULL, NULL))
        continue;
      p = strrchr (text, ')');
      if (p != NULL && p[1] == ' ' && p[2] == 'Z')
        return FALSE;
    }
  return TRUE;
}

/* A descendant that leaves the group and loses its parent is adopted by
 * the daemon (subreaper) and reaped when it exits — no zombie — without
 * stealing the exit status of the child the daemon waits for. */
static void
test_subreaper (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *pf = pm_tmp_path (f, "escaped");
  pid_t daemon_pid = (pid_t) g_ascii_strtoll (g_subprocess_get_identifier (f->daemon), NULL, 10);
  ParentWait pw;
  PmSignal *exited;
  pid_t escaped;
  guint32 id;

  id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'args': <[%s, '7']>, 'restartAt': <@au []>}",
                                pm_data_file ("o-escape.sh"), pf), NULL);
  escaped = pm_read_pid_file (pf, PM_TEST_TIMEOUT_MS);
  g_assert_cmpint (escaped, >, 0);
  pm_track_pid (f, escaped);
  pw = (ParentWait) { escaped, daemon_pid };
  g_assert_true (wait_polling (parent_cond, &pw, 2000));
  if (pm_pid_alive (escaped))
    {
      g_assert_cmpint (stat_field (escaped, 4), ==, daemon_pid);
      /* It left the group: not the daemon's child's group any more. */
      g_assert_cmpint (stat_field (escaped, 5), ==, escaped);
    }
  if (!wait_polling (pid_gone_cond, GINT_TO_POINTER ((int) escaped), 5000))
    g_error ("the adopted %d was never reaped (still a zombie)", (int) escaped);

  exited = pm_wait_for_signal (f, "Exited", id, PM_TEST_TIMEOUT_MS);
  g_assert_nonnull (exited);
  g_assert_cmpint (exited->exit_code, ==, 7);
  g_assert_cmpint (exited->term_signal, ==, 0);
  g_assert_cmpint (pm_get_int (f, id, "ExitCode"), ==, 7);

  if (!wait_polling (no_zombie_children_cond, GINT_TO_POINTER ((int) daemon_pid), 2000))
    g_error ("the daemon %d has zombie children", (int) daemon_pid);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  pm_test_init ();

  pm_test_add ("/orphans/daemon/sigterm", test_daemon_sigterm, NULL);
  pm_test_add ("/orphans/daemon/sigkill", test_daemon_sigkill, NULL);
  pm_test_add ("/orphans/daemon/sigkill-with-watchdog", test_daemon_and_watchdog_sigkill, NULL);
  pm_test_add ("/orphans/state-file/unrelated-pid-left-alone", test_state_unrelated_pid, NULL);
  pm_test_add ("/orphans/state-file/dead-instance-group-killed", test_state_dead_instance_group,
               NULL);
  pm_test_add ("/orphans/state-file/leader-gone", test_state_leader_gone, NULL);
  pm_test_add ("/orphans/state-file/live-instance-and-other-bus", test_state_live_and_other_bus,
               NULL);
  pm_test_add ("/orphans/stop-with-caller/closes", test_stop_with_caller_closes, NULL);
  pm_test_add ("/orphans/stop-with-caller/stays", test_stop_with_caller_stays, NULL);
  pm_test_add ("/orphans/replace/twice", test_replace, NULL);
  pm_test_add ("/orphans/replace/nothing", test_replace_nothing, NULL);
  pm_test_add ("/orphans/second-daemon/without-replace", test_second_daemon, NULL);
  pm_test_add ("/orphans/second-daemon/with-replace", test_second_daemon_replace, NULL);
  pm_test_add ("/orphans/reaping/subreaper", test_subreaper, NULL);

  return g_test_run ();
}
