/* pm-test-util.c — the integration-test harness: a private bus (GTestDBus,
 * never the session-bus singleton), the real elife-pmd spawned on it, a
 * recorder of its signals and stdout lines, and main-context driven waits.
 *
 * Each case runs in a subprocess of the test binary (g_test_trap_subprocess),
 * so a failing case aborts only itself; the daemon gets PR_SET_PDEATHSIG, so
 * even an aborted case leaves no daemon (and so no children) behind. */
#include "pm-test-util.h"

#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <glib/gstdio.h>

#ifndef ELIFE_PMD_PATH
#define ELIFE_PMD_PATH "elife-pmd"
#endif

/* How long one case may run before its subprocess is killed (times
 * ELIFE_PM_TEST_SLOW). */
#define PM_TEST_CASE_TIMEOUT_US (90 * G_USEC_PER_SEC * (guint64) pm_test_slow_factor ())

/* ---- small main-context helpers ------------------------------------------ */

static gboolean
timeout_flag_cb (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

static gboolean
tick_cb (gpointer data)
{
  return G_SOURCE_CONTINUE;
}

gboolean
pm_wait_for (PmCondFunc cond, gpointer data, guint timeout_ms)
{
  gboolean timed_out = FALSE;
  guint timeout_id, tick_id;

  if (cond (data))
    return TRUE;
  /* 0 is a look at what has arrived, not a wait. */
  if (timeout_ms > 0)
    timeout_ms = MAX (timeout_ms, PM_TEST_WAIT_FLOOR_MS);
  timeout_id = g_timeout_add (timeout_ms, timeout_flag_cb, &timed_out);
  /* Some conditions (a file written by a child, a pid gone) raise no event
   * here: a short tick re-checks them. */
  tick_id = g_timeout_add (5, tick_cb, NULL);
  while (!timed_out && !cond (data))
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (tick_id);
  if (!timed_out)
    g_source_remove (timeout_id);
  return cond (data);
}

void
pm_iterate_for (guint ms)
{
  gboolean done = FALSE;

  g_timeout_add (ms, timeout_flag_cb, &done);
  while (!done)
    g_main_context_iteration (NULL, TRUE);
}

/* ---- records ------------------------------------------------------------- */

static void
pm_signal_free (gpointer p)
{
  PmSignal *s = p;

  g_free (s->signal);
  g_free (s->path);
  g_free (s->name);
  g_clear_pointer (&s->params, g_variant_unref);
  g_free (s);
}

static void
pm_line_free (gpointer p)
{
  PmLine *l = p;

  g_free (l->text);
  g_free (l);
}

void
pm_track_pid (PmFixture *f, pid_t pid)
{
  if (pid <= 0)
    return;
  for (guint i = 0; i < f->pids->len; i++)
    if (g_array_index (f->pids, pid_t, i) == pid)
      return;
  g_array_append_val (f->pids, pid);
}

static void
on_manager_signal (GDBusConnection *conn, const char *sender, const char *path,
                   const char *iface, const char *signal, GVariant *params,
                   gpointer user_data)
{
  PmFixture *f = user_data;
  PmSignal *s = g_new0 (PmSignal, 1);

  s->time_us = g_get_monotonic_time ();
  s->signal = g_strdup (signal);
  s->path = g_strdup (path);
  s->params = g_variant_ref (params);

  if (g_variant_is_of_type (params, G_VARIANT_TYPE ("(usu)")))
    g_variant_get (params, "(usu)", &s->id, &s->name, &s->pid);
  else if (g_variant_is_of_type (params, G_VARIANT_TYPE ("(usuii)")))
    g_variant_get (params, "(usuii)", &s->id, &s->name, &s->pid,
                   &s->exit_code, &s->term_signal);

  if (g_strcmp0 (signal, "Started") == 0)
    pm_track_pid (f, (pid_t) s->pid);

  g_test_message ("signal %s %s id=%u name='%s' pid=%u code=%d sig=%d",
                  signal, path, s->id, s->name ? s->name : "", s->pid,
                  s->exit_code, s->term_signal);
  g_ptr_array_add (f->signals, s);
}

static void
on_props_signal (GDBusConnection *conn, const char *sender, const char *path,
                 const char *iface, const char *signal, GVariant *params,
                 gpointer user_data)
{
  PmFixture *f = user_data;
  PmSignal *s = g_new0 (PmSignal, 1);
  const char *prefix = PM_TEST_PATH "/process/";

  s->time_us = g_get_monotonic_time ();
  s->signal = g_strdup (signal);
  s->path = g_strdup (path);
  s->params = g_variant_ref (params);
  if (g_str_has_prefix (path, prefix))
    s->id = (guint32) g_ascii_strtoull (path + strlen (prefix), NULL, 10);
  g_ptr_array_add (f->signals, s);
}

/* ---- daemon stdout ------------------------------------------------------- */

static void read_next_line (PmFixture *f);

static void
on_line_read (GObject *source, GAsyncResult *res, gpointer user_data)
{
  PmFixture *f = user_data;
  g_autoptr(GError) error = NULL;
  gsize len = 0;
  g_autofree gchar *text = g_data_input_stream_read_line_finish_utf8 (
      G_DATA_INPUT_STREAM (source), res, &len, &error);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (text == NULL)
    {
      f->stdout_eof = TRUE;
      return;
    }

  PmLine *line = g_new0 (PmLine, 1);
  line->time_us = g_get_monotonic_time ();
  line->text = g_steal_pointer (&text);
  g_printerr ("[elife-pmd stdout] %s\n", line->text);
  g_ptr_array_add (f->lines, line);
  read_next_line (f);
}

static void
read_next_line (PmFixture *f)
{
  g_data_input_stream_read_line_async (f->daemon_stdout, G_PRIORITY_DEFAULT,
                                       f->cancellable, on_line_read, f);
}

typedef struct
{
  PmFixture *f;
  const char *text;
} LineWait;

static gboolean
has_line_cond (gpointer data)
{
  LineWait *w = data;

  return pm_has_line (w->f, w->text);
}

gboolean
pm_has_line (PmFixture *f, const char *text)
{
  for (guint i = 0; i < f->lines->len; i++)
    if (g_strcmp0 (((PmLine *) f->lines->pdata[i])->text, text) == 0)
      return TRUE;
  return FALSE;
}

gboolean
pm_wait_for_line (PmFixture *f, const char *text, guint timeout_ms)
{
  LineWait w = { f, text };

  return pm_wait_for (has_line_cond, &w, timeout_ms);
}

/* ---- daemon life cycle --------------------------------------------------- */

static void
on_daemon_exited (GObject *source, GAsyncResult *res, gpointer user_data)
{
  PmFixture *f = user_data;
  g_autoptr(GError) error = NULL;

  if (!g_subprocess_wait_finish (G_SUBPROCESS (source), res, &error))
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;
      g_test_message ("waiting for elife-pmd failed: %s", error->message);
    }
  f->daemon_wait_status = g_subprocess_get_status (G_SUBPROCESS (source));
  f->daemon_exited = TRUE;
}

static void
daemon_child_setup (gpointer data)
{
  /* If this test process dies (a failed assertion aborts it), the daemon
   * goes too — and stops its children on the way out. */
  prctl (PR_SET_PDEATHSIG, SIGTERM);
}

typedef struct
{
  PmFixture *f;
  gboolean appeared;
} NameWait;

static void
on_name_appeared (GDBusConnection *conn, const char *name, const char *owner,
                  gpointer data)
{
  ((NameWait *) data)->appeared = TRUE;
}

static gboolean
name_or_exit_cond (gpointer data)
{
  NameWait *w = data;

  return w->appeared || w->f->daemon_exited;
}

static gchar *
resolve_daemon_path (void)
{
  const char *env = g_getenv ("ELIFE_PMD");

  if (env != NULL && *env != '\0')
    return g_strdup (env);
  return g_strdup (ELIFE_PMD_PATH);
}

static gchar *
make_tmpdir (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *dir = g_dir_make_tmp ("elife-pm-test-XXXXXX", &error);
  char *real;

  g_assert_no_error (error);
  /* The daemon reports resolved paths; compare against the real one. */
  real = realpath (dir, NULL);
  g_assert_nonnull (real);
  return real;
}

/* Configuration of the open bus: any user may connect, call, own. */
static const char open_bus_conf[] =
  "<busconfig>\n"
  "  <type>session</type>\n"
  "  <listen>unix:path=@DIR@/bus_socket</listen>\n"
  "  <auth>EXTERNAL</auth>\n"
  "  <policy context=\"default\">\n"
  "    <allow user=\"*\"/>\n"
  "    <allow send_destination=\"*\" eavesdrop=\"true\"/>\n"
  "    <allow eavesdrop=\"true\"/>\n"
  "    <allow own=\"*\"/>\n"
  "  </policy>\n"
  "</busconfig>\n";

/* Starts a dbus-daemon of our own in a directory every user may enter. */
static void
start_own_bus (PmFixture *f, gboolean system_bus)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GDataInputStream) out = NULL;
  g_autofree gchar *dir = g_build_filename (f->tmpdir, "bus", NULL);
  g_autofree gchar *conf_path = g_build_filename (dir, "bus.conf", NULL);
  g_autofree gchar *template = NULL;
  g_autofree gchar *policy = NULL;
  g_autofree gchar *arg = NULL;
  g_autofree gchar *line = NULL;
  g_auto(GStrv) parts = NULL;
  g_autofree gchar *conf = NULL;

  g_assert_cmpint (g_mkdir (dir, 0755), ==, 0);
  if (system_bus)
    {
      g_autofree gchar *path = g_test_build_filename (G_TEST_DIST, "..", "tools",
                                                      "system-bus.conf.in", NULL);

      g_assert_true (g_file_get_contents (path, &template, NULL, &error));
      g_assert_no_error (error);
      policy = g_test_build_filename (G_TEST_DIST, "..", "data",
                                      "org.elife.ProcessManager.conf", NULL);
      g_assert_true (g_file_test (policy, G_FILE_TEST_EXISTS));
    }
  else
    template = g_strdup (open_bus_conf);

  parts = g_strsplit (template, "@DIR@", -1);
  conf = g_strjoinv (dir, parts);
  if (policy != NULL)
    {
      g_strfreev (parts);
      parts = g_strsplit (conf, "@POLICY@", -1);
      g_free (conf);
      conf = g_strjoinv (policy, parts);
    }
  g_assert_true (g_file_set_contents (conf_path, conf, -1, &error));
  g_assert_no_error (error);

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_subprocess_launcher_set_child_setup (launcher, daemon_child_setup, NULL, NULL);
  arg = g_strdup_printf ("--config-file=%s", conf_path);
  f->bus_daemon = g_subprocess_launcher_spawn (launcher, &error, "dbus-daemon", arg,
                                               "--nofork", "--print-address=1", NULL);
  g_assert_no_error (error);
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (f->bus_daemon));
  line = g_data_input_stream_read_line_utf8 (out, NULL, NULL, &error);
  g_assert_no_error (error);
  if (line == NULL)
    g_error ("dbus-daemon with %s gave no address", conf_path);
  f->address = g_strdup (g_strstrip (line));
}

static void
stop_own_bus (PmFixture *f)
{
  if (f->bus_daemon == NULL)
    return;
  g_subprocess_send_signal (f->bus_daemon, SIGTERM);
  g_subprocess_wait (f->bus_daemon, NULL, NULL);
  g_clear_object (&f->bus_daemon);
}

PmFixture *
pm_fixture_new (void)
{
  return pm_fixture_new_full (NULL);
}

PmFixture *
pm_fixture_new_full (const PmFixtureOptions *options)
{
  static const PmFixtureOptions defaults = { 0 };
  PmFixture *f = g_new0 (PmFixture, 1);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autofree gchar *pmd = resolve_daemon_path ();
  struct passwd *daemon_pw = NULL;
  NameWait nw = { f, FALSE };
  guint watch;

  if (options == NULL)
    options = &defaults;

  f->signals = g_ptr_array_new_with_free_func (pm_signal_free);
  f->lines = g_ptr_array_new_with_free_func (pm_line_free);
  f->pids = g_array_new (FALSE, FALSE, sizeof (pid_t));
  f->cancellable = g_cancellable_new ();
  f->tmpdir = make_tmpdir ();

  if (options->daemon_user != NULL)
    {
      daemon_pw = getpwnam (options->daemon_user);
      g_assert_nonnull (daemon_pw);
    }
  if (options->system_bus || options->open_bus || daemon_pw != NULL)
    {
      /* Other users' clients, children and daemon find their way in. */
      g_assert_cmpint (g_chmod (f->tmpdir, 0755), ==, 0);
      start_own_bus (f, options->system_bus);
    }
  else
    {
      f->bus = g_test_dbus_new (G_TEST_DBUS_NONE);
      g_test_dbus_up (f->bus);
      f->address = g_strdup (g_test_dbus_get_bus_address (f->bus));
    }
  g_assert_nonnull (f->address);

  f->conn = g_dbus_connection_new_for_address_sync (
      f->address,
      G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
      G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
      NULL, NULL, &error);
  g_assert_no_error (error);
  g_dbus_connection_set_exit_on_close (f->conn, FALSE);

  /* Subscribe before the daemon starts: no signal can be missed. */
  f->sub_manager = g_dbus_connection_signal_subscribe (
      f->conn, NULL, PM_TEST_IFACE, NULL, PM_TEST_PATH, NULL,
      G_DBUS_SIGNAL_FLAGS_NONE, on_manager_signal, f, NULL);
  f->sub_props = g_dbus_connection_signal_subscribe (
      f->conn, NULL, "org.freedesktop.DBus.Properties", "PropertiesChanged",
      NULL, NULL, G_DBUS_SIGNAL_FLAGS_NONE, on_props_signal, f, NULL);
  f->sub_objmgr = g_dbus_connection_signal_subscribe (
      f->conn, NULL, "org.freedesktop.DBus.ObjectManager", NULL,
      PM_TEST_PATH, NULL, G_DBUS_SIGNAL_FLAGS_NONE, on_manager_signal, f, NULL);

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  /* The daemon's working directory is the default cwd of its children. */
  g_subprocess_launcher_set_cwd (launcher, f->tmpdir);
  /* A marker the children inherit unless clearEnv. */
  g_subprocess_launcher_setenv (launcher, "ELIFE_PM_TEST_MARKER", "inherited", TRUE);
  /* Only the daemon may decide that a child gets PYTHONUNBUFFERED. */
  g_subprocess_launcher_unsetenv (launcher, "PYTHONUNBUFFERED");
  g_subprocess_launcher_set_child_setup (launcher, daemon_child_setup, NULL, NULL);
  if (options != &defaults)
    g_subprocess_launcher_setenv (launcher, "LANG", "C.UTF-8", TRUE);
  {
    /* ELIFE_PMD_WRAPPER runs the daemon under a tool (meson test
     * --setup=valgrind); its exit status still decides the test. */
    const char *wrapper = g_getenv ("ELIFE_PMD_WRAPPER");
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
    g_autofree gchar *state_dir = g_build_filename (f->tmpdir, ".state", NULL);
    g_autofree gchar *cmdline = NULL;

    if (daemon_pw != NULL)
      {
        /* setpriv clears the parent-death signal with the uid: set again. */
        g_ptr_array_add (argv, g_strdup ("setpriv"));
        g_ptr_array_add (argv, g_strdup_printf ("--reuid=%u", (guint) daemon_pw->pw_uid));
        g_ptr_array_add (argv, g_strdup_printf ("--regid=%u", (guint) daemon_pw->pw_gid));
        g_ptr_array_add (argv, g_strdup ("--init-groups"));
        g_ptr_array_add (argv, g_strdup ("--pdeathsig=TERM"));
        g_assert_cmpint (g_mkdir (state_dir, 0700), ==, 0);
        g_assert_cmpint (chown (state_dir, daemon_pw->pw_uid, daemon_pw->pw_gid), ==, 0);
      }
    if (wrapper != NULL && *wrapper != '\0')
      {
        g_auto(GStrv) words = NULL;

        g_assert_true (g_shell_parse_argv (wrapper, NULL, &words, &error));
        for (char **w = words; *w; w++)
          g_ptr_array_add (argv, g_strdup (*w));
      }
    g_ptr_array_add (argv, g_strdup (pmd));
    g_ptr_array_add (argv, g_strdup ("--address"));
    g_ptr_array_add (argv, g_strdup (f->address));
    g_ptr_array_add (argv, g_strdup ("--verbose"));
    /* Crash-cleanup state stays inside the test's own directory. */
    g_ptr_array_add (argv, g_strdup ("--state-dir"));
    g_ptr_array_add (argv, g_strdup (state_dir));
    for (const char * const *a = options->daemon_args; a != NULL && *a != NULL; a++)
      g_ptr_array_add (argv, g_strdup (*a));
    g_ptr_array_add (argv, NULL);
    f->daemon = g_subprocess_launcher_spawnv (launcher, (const char * const *) argv->pdata,
                                              &error);
    g_assert_no_error (error);
    cmdline = g_strjoinv (" ", (char **) argv->pdata);
    g_test_message ("spawned %s (pid %s)", cmdline, g_subprocess_get_identifier (f->daemon));
  }

  f->daemon_stdout = g_data_input_stream_new (
      g_subprocess_get_stdout_pipe (f->daemon));
  g_data_input_stream_set_newline_type (f->daemon_stdout,
                                        G_DATA_STREAM_NEWLINE_TYPE_LF);
  read_next_line (f);
  g_subprocess_wait_async (f->daemon, f->cancellable, on_daemon_exited, f);

  watch = g_bus_watch_name_on_connection (f->conn, PM_TEST_BUS_NAME,
                                          G_BUS_NAME_WATCHER_FLAGS_NONE,
                                          on_name_appeared, NULL, &nw, NULL);
  pm_wait_for (name_or_exit_cond, &nw, PM_TEST_TIMEOUT_MS);
  g_bus_unwatch_name (watch);
  if (!nw.appeared)
    g_error ("%s did not own %s within %d ms (%s)", pmd, PM_TEST_BUS_NAME,
             PM_TEST_TIMEOUT_MS, f->daemon_exited ? "it exited" : "timeout");
  return f;
}

static gboolean
daemon_exited_cond (gpointer data)
{
  return ((PmFixture *) data)->daemon_exited;
}

void
pm_fixture_stop_daemon (PmFixture *f)
{
  if (f->daemon == NULL)
    return;
  if (!f->daemon_exited)
    g_subprocess_send_signal (f->daemon, SIGTERM);
  if (!pm_wait_for (daemon_exited_cond, f, PM_TEST_TIMEOUT_MS))
    {
      g_subprocess_force_exit (f->daemon);
      g_error ("elife-pmd did not exit within %d ms of SIGTERM", PM_TEST_TIMEOUT_MS);
    }
  if (!g_spawn_check_wait_status (f->daemon_wait_status, NULL))
    g_error ("elife-pmd did not exit with status 0 (wait status 0x%x)",
             f->daemon_wait_status);
  g_clear_object (&f->daemon);
}

static gboolean
rm_rf (const char *path)
{
  GDir *dir;
  const char *entry;

  if (!g_file_test (path, G_FILE_TEST_IS_SYMLINK) &&
      g_file_test (path, G_FILE_TEST_IS_DIR))
    {
      dir = g_dir_open (path, 0, NULL);
      if (dir != NULL)
        {
          while ((entry = g_dir_read_name (dir)) != NULL)
            {
              g_autofree gchar *child = g_build_filename (path, entry, NULL);
              rm_rf (child);
            }
          g_dir_close (dir);
        }
      return g_rmdir (path) == 0;
    }
  return g_unlink (path) == 0;
}

void
pm_fixture_free (PmFixture *f)
{
  GString *alive = g_string_new (NULL);

  pm_fixture_stop_daemon (f);

  /* Every pid the test learned must be gone once the daemon has exited.
   * Anything left is killed here (it is ours), then the case fails. */
  for (guint i = 0; i < f->pids->len; i++)
    {
      pid_t pid = g_array_index (f->pids, pid_t, i);

      if (!pm_wait_pid_dead (pid, 2000))
        {
          g_string_append_printf (alive, " %d", (int) pid);
          kill (pid, SIGKILL);
        }
    }

  g_cancellable_cancel (f->cancellable);
  g_dbus_connection_signal_unsubscribe (f->conn, f->sub_manager);
  g_dbus_connection_signal_unsubscribe (f->conn, f->sub_props);
  g_dbus_connection_signal_unsubscribe (f->conn, f->sub_objmgr);
  g_dbus_connection_close_sync (f->conn, NULL, NULL);
  g_clear_object (&f->conn);
  g_clear_object (&f->daemon_stdout);
  /* Let pending callbacks see the cancellation before the fixture goes. */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  if (f->bus != NULL)
    g_test_dbus_down (f->bus);
  g_clear_object (&f->bus);
  stop_own_bus (f);
  rm_rf (f->tmpdir);

  if (alive->len > 0)
    g_error ("children still alive after the daemon exited:%s", alive->str);
  g_string_free (alive, TRUE);

  g_clear_object (&f->cancellable);
  g_ptr_array_unref (f->signals);
  g_ptr_array_unref (f->lines);
  g_array_unref (f->pids);
  g_free (f->tmpdir);
  g_free (f->address);
  g_free (f);
}

/* ---- per-case isolation --------------------------------------------------- */

/* The fixture of the case running in this subprocess, for the abort path. */
static PmFixture *current_fixture;

/* A case that crashes or aborts (GTest's own assertions _exit instead; see
 * pm_assert_pid_dead for those) kills the pids it learned before going: a
 * child the daemon failed to kill must not outlive the case. Only
 * async-signal-safe calls here. */
static void
on_fatal_signal (int sig)
{
  if (current_fixture != NULL && current_fixture->pids != NULL)
    for (guint i = 0; i < current_fixture->pids->len; i++)
      kill (g_array_index (current_fixture->pids, pid_t, i), SIGKILL);
  signal (sig, SIG_DFL);
  raise (sig);
}

typedef struct
{
  PmTestFunc func;
  gconstpointer data;
  const PmFixtureOptions *options;
} PmTestCase;

static void
run_case (gconstpointer user_data)
{
  const PmTestCase *tc = user_data;

  if (g_test_subprocess ())
    {
      PmFixture *f;

      signal (SIGABRT, on_fatal_signal);
      signal (SIGTRAP, on_fatal_signal);
      signal (SIGSEGV, on_fatal_signal);
      f = pm_fixture_new_full (tc->options);
      current_fixture = f;
      tc->func (f, tc->data);
      pm_fixture_free (f);
      current_fixture = NULL;
      return;
    }

  g_test_trap_subprocess (NULL, PM_TEST_CASE_TIMEOUT_US,
                          G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
}

void
pm_test_add_full (const char *path, PmTestFunc func, gconstpointer data,
                  const PmFixtureOptions *options)
{
  PmTestCase *tc = g_new0 (PmTestCase, 1);

  tc->func = func;
  tc->data = data;
  tc->options = options;
  g_test_add_data_func_full (path, tc, run_case, g_free);
}

void
pm_test_add (const char *path, PmTestFunc func, gconstpointer data)
{
  pm_test_add_full (path, func, data, NULL);
}

void
pm_test_init (void)
{
  /* In the parent, a failed case must not stop the others from running;
   * in the case's own subprocess assertions stay fatal. */
  if (!g_test_subprocess ())
    g_test_set_nonfatal_assertions ();
  /* No bus of the environment may leak into a test. */
  g_unsetenv ("DBUS_SESSION_BUS_ADDRESS");
  g_unsetenv ("DBUS_SYSTEM_BUS_ADDRESS");
  g_unsetenv ("DBUS_STARTER_ADDRESS");
}

/* ---- method calls --------------------------------------------------------- */

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

  w->result = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res,
                                             &w->error);
  w->done = TRUE;
}

static gboolean
call_done_cond (gpointer data)
{
  return ((CallWait *) data)->done;
}

GVariant *
pm_call_full (PmFixture *f, const char *path, const char *iface,
              const char *method, GVariant *params,
              const GVariantType *reply_type, guint timeout_ms, GError **error)
{
  CallWait w = { FALSE, NULL, NULL };

  g_dbus_connection_call (f->conn, PM_TEST_BUS_NAME, path, iface, method,
                          params, reply_type, G_DBUS_CALL_FLAGS_NO_AUTO_START,
                          (int) timeout_ms, NULL, on_call_done, &w);
  /* The D-Bus timeout fires first; this is only a safety net. */
  if (!pm_wait_for (call_done_cond, &w, timeout_ms + 5000))
    g_error ("%s.%s: no reply at all", iface, method);
  if (w.error != NULL)
    {
      g_test_message ("%s.%s → %s", iface, method, w.error->message);
      g_propagate_error (error, w.error);
      return NULL;
    }
  return w.result;
}

GVariant *
pm_call (PmFixture *f, const char *method, GVariant *params,
         const char *reply_type, GError **error)
{
  return pm_call_full (f, PM_TEST_PATH, PM_TEST_IFACE, method, params,
                       reply_type ? G_VARIANT_TYPE (reply_type) : NULL,
                       PM_TEST_TIMEOUT_MS, error);
}

struct _PmPendingCall
{
  gboolean done;
  gint64 reply_time;
  GVariant *result;
  GError *error;
  gchar *what;
};

static void
on_pending_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
  PmPendingCall *c = user_data;

  c->result = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res,
                                             &c->error);
  c->reply_time = g_get_monotonic_time ();
  c->done = TRUE;
}

PmPendingCall *
pm_call_begin (PmFixture *f, const char *path, const char *iface,
               const char *method, GVariant *params, const char *reply_type)
{
  PmPendingCall *c = g_new0 (PmPendingCall, 1);

  c->what = g_strdup_printf ("%s.%s", iface, method);
  g_dbus_connection_call (f->conn, PM_TEST_BUS_NAME, path, iface, method,
                          params, reply_type ? G_VARIANT_TYPE (reply_type) : NULL,
                          G_DBUS_CALL_FLAGS_NO_AUTO_START, PM_TEST_TIMEOUT_MS,
                          NULL, on_pending_done, c);
  return c;
}

gboolean
pm_call_is_done (PmPendingCall *c)
{
  return c->done;
}

gint64
pm_call_reply_time (PmPendingCall *c)
{
  return c->reply_time;
}

static gboolean
pending_done_cond (gpointer data)
{
  return ((PmPendingCall *) data)->done;
}

GVariant *
pm_call_end (PmPendingCall *c, GError **error)
{
  GVariant *result;

  if (!pm_wait_for (pending_done_cond, c, PM_TEST_TIMEOUT_MS + 5000))
    g_error ("%s: no reply at all", c->what);
  result = c->result;
  if (c->error != NULL)
    {
      g_test_message ("%s → %s", c->what, c->error->message);
      g_propagate_error (error, c->error);
    }
  g_free (c->what);
  g_free (c);
  return result;
}

GVariant *
pm_opts (const char *format, ...)
{
  va_list ap;
  GVariant *v;

  va_start (ap, format);
  v = g_variant_new_parsed_va (format, &ap);
  va_end (ap);
  g_assert_true (g_variant_is_of_type (v, G_VARIANT_TYPE ("a{sv}")));
  return v;
}

guint32
pm_start (PmFixture *f, GVariant *opts, GError **error)
{
  g_autoptr(GVariant) reply = NULL;
  guint32 id = 0;

  reply = pm_call (f, "Start", g_variant_new_tuple (&opts, 1), "(u)", error);
  if (reply == NULL)
    return 0;
  g_variant_get (reply, "(u)", &id);
  return id;
}

guint32
pm_start_ok (PmFixture *f, GVariant *opts, guint32 *pid_out)
{
  g_autoptr(GError) error = NULL;
  guint32 id = pm_start (f, opts, &error);
  PmSignal *s;

  g_assert_no_error (error);
  g_assert_cmpuint (id, >, 0);
  s = pm_wait_for_signal (f, "Started", id, PM_TEST_TIMEOUT_MS);
  g_assert_nonnull (s);
  g_assert_cmpuint (s->pid, >, 0);
  if (pid_out != NULL)
    *pid_out = s->pid;
  return id;
}

static guint32
call_name_method (PmFixture *f, const char *method, const char *name,
                  GError **error)
{
  g_autoptr(GVariant) reply = NULL;
  guint32 count = 0;

  reply = pm_call (f, method, name ? g_variant_new ("(s)", name) : NULL, "(u)",
                   error);
  if (reply == NULL)
    return 0;
  g_variant_get (reply, "(u)", &count);
  return count;
}

guint32
pm_stop (PmFixture *f, const char *name, GError **error)
{
  return call_name_method (f, "Stop", name, error);
}

guint32
pm_restart (PmFixture *f, const char *name, GError **error)
{
  return call_name_method (f, "Restart", name, error);
}

guint32
pm_stop_all (PmFixture *f, GError **error)
{
  return call_name_method (f, "StopAll", NULL, error);
}

GVariant *
pm_list (PmFixture *f)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = pm_call (f, "List", NULL, "(a(ususu))", &error);

  g_assert_no_error (error);
  return g_variant_get_child_value (reply, 0);
}

guint
pm_list_count (PmFixture *f)
{
  g_autoptr(GVariant) list = pm_list (f);

  return (guint) g_variant_n_children (list);
}

gboolean
pm_list_lookup (PmFixture *f, guint32 id, gchar **name, guint32 *pid,
                gchar **state, guint32 *restarts)
{
  g_autoptr(GVariant) list = pm_list (f);
  GVariantIter iter;
  guint32 eid, epid, erestarts;
  const char *ename, *estate;

  g_variant_iter_init (&iter, list);
  while (g_variant_iter_next (&iter, "(u&su&su)", &eid, &ename, &epid, &estate,
                              &erestarts))
    {
      if (eid != id)
        continue;
      if (name != NULL)
        *name = g_strdup (ename);
      if (pid != NULL)
        *pid = epid;
      if (state != NULL)
        *state = g_strdup (estate);
      if (restarts != NULL)
        *restarts = erestarts;
      return TRUE;
    }
  return FALSE;
}

GVariant *
pm_managed_objects (PmFixture *f)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = pm_call_full (
      f, PM_TEST_PATH, "org.freedesktop.DBus.ObjectManager",
      "GetManagedObjects", NULL, G_VARIANT_TYPE ("(a{oa{sa{sv}}})"),
      PM_TEST_TIMEOUT_MS, &error);

  g_assert_no_error (error);
  return g_variant_get_child_value (reply, 0);
}

gchar *
pm_process_path (guint32 id)
{
  return g_strdup_printf (PM_TEST_PATH "/process/%u", id);
}

GVariant *
pm_get_property (PmFixture *f, guint32 id, const char *prop, GError **error)
{
  g_autofree gchar *path = pm_process_path (id);
  g_autoptr(GVariant) reply = NULL;
  GVariant *value = NULL;

  reply = pm_call_full (f, path, "org.freedesktop.DBus.Properties", "Get",
                        g_variant_new ("(ss)", PM_TEST_PROCESS_IFACE, prop),
                        G_VARIANT_TYPE ("(v)"), PM_TEST_TIMEOUT_MS, error);
  if (reply == NULL)
    return NULL;
  g_variant_get (reply, "(v)", &value);
  return value;
}

static GVariant *
get_property_typed (PmFixture *f, guint32 id, const char *prop,
                    const GVariantType *type)
{
  g_autoptr(GError) error = NULL;
  GVariant *v = pm_get_property (f, id, prop, &error);

  g_assert_no_error (error);
  if (!g_variant_is_of_type (v, type))
    g_error ("property %s has type %s, expected %s", prop,
             g_variant_get_type_string (v), (const char *) type);
  return v;
}

gchar *
pm_get_string (PmFixture *f, guint32 id, const char *prop)
{
  g_autoptr(GVariant) v = get_property_typed (f, id, prop, G_VARIANT_TYPE_STRING);

  return g_variant_dup_string (v, NULL);
}

guint32
pm_get_uint (PmFixture *f, guint32 id, const char *prop)
{
  g_autoptr(GVariant) v = get_property_typed (f, id, prop, G_VARIANT_TYPE_UINT32);

  return g_variant_get_uint32 (v);
}

gint32
pm_get_int (PmFixture *f, guint32 id, const char *prop)
{
  g_autoptr(GVariant) v = get_property_typed (f, id, prop, G_VARIANT_TYPE_INT32);

  return g_variant_get_int32 (v);
}

guint64
pm_get_u64 (PmFixture *f, guint32 id, const char *prop)
{
  g_autoptr(GVariant) v = get_property_typed (f, id, prop, G_VARIANT_TYPE_UINT64);

  return g_variant_get_uint64 (v);
}

typedef struct
{
  PmFixture  *f;
  guint32     id;
  const char *prop;
  guint64     above;
} U64Wait;

static gboolean
u64_above_cond (gpointer data)
{
  U64Wait *w = data;

  return pm_get_u64 (w->f, w->id, w->prop) > w->above;
}

guint64
pm_wait_u64_above (PmFixture *f, guint32 id, const char *prop, guint64 above,
                   guint timeout_ms)
{
  U64Wait w = { f, id, prop, above };

  if (!pm_wait_for (u64_above_cond, &w, timeout_ms))
    g_error ("%s of %u stayed at %" G_GUINT64_FORMAT " for %u ms", prop, id,
             pm_get_u64 (f, id, prop), MAX (timeout_ms, PM_TEST_WAIT_FLOOR_MS));
  return pm_get_u64 (f, id, prop);
}

/* ---- signals -------------------------------------------------------------- */

gint
pm_find_signal (PmFixture *f, guint from, const char *signal, guint32 id)
{
  for (guint i = from; i < f->signals->len; i++)
    {
      PmSignal *s = f->signals->pdata[i];

      if (g_strcmp0 (s->signal, signal) == 0 && (id == 0 || s->id == id))
        return (gint) i;
    }
  return -1;
}

guint
pm_count_signals (PmFixture *f, const char *signal, guint32 id)
{
  guint n = 0;

  for (gint i = pm_find_signal (f, 0, signal, id); i >= 0;
       i = pm_find_signal (f, (guint) i + 1, signal, id))
    n++;
  return n;
}

typedef struct
{
  PmFixture *f;
  const char *signal;
  guint32 id;
  guint n;
} SignalWait;

static gboolean
signal_cond (gpointer data)
{
  SignalWait *w = data;

  return pm_count_signals (w->f, w->signal, w->id) >= w->n;
}

PmSignal *
pm_wait_for_nth_signal (PmFixture *f, const char *signal, guint32 id, guint n,
                        guint timeout_ms)
{
  SignalWait w = { f, signal, id, n };
  gint idx = -1;

  if (!pm_wait_for (signal_cond, &w, timeout_ms))
    {
      g_test_message ("no %u× %s for id %u within %u ms", n, signal, id, timeout_ms);
      return NULL;
    }
  for (guint k = 0; k < n; k++)
    idx = pm_find_signal (f, (guint) (idx + 1), signal, id);
  return f->signals->pdata[idx];
}

PmSignal *
pm_wait_for_signal (PmFixture *f, const char *signal, guint32 id,
                    guint timeout_ms)
{
  return pm_wait_for_nth_signal (f, signal, id, 1, timeout_ms);
}

/* ---- processes ------------------------------------------------------------ */

gboolean
pm_pid_alive (pid_t pid)
{
  g_autofree gchar *stat_path = NULL;
  g_autofree gchar *contents = NULL;
  const char *paren;

  if (pid <= 0)
    return FALSE;
  if (kill (pid, 0) != 0 && errno == ESRCH)
    return FALSE;
  /* A zombie is dead: only its exit status is left. */
  stat_path = g_strdup_printf ("/proc/%d/stat", (int) pid);
  if (!g_file_get_contents (stat_path, &contents, NULL, NULL))
    return FALSE;
  paren = strrchr (contents, ')');
  if (paren != NULL && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X'))
    return FALSE;
  return TRUE;
}

static gboolean
pid_dead_cond (gpointer data)
{
  return !pm_pid_alive ((pid_t) GPOINTER_TO_INT (data));
}

gboolean
pm_wait_pid_dead (pid_t pid, guint timeout_ms)
{
  return pm_wait_for (pid_dead_cond, GINT_TO_POINTER ((int) pid), timeout_ms);
}

void
pm_assert_pid_dead_impl (pid_t pid, guint timeout_ms, const char *where)
{
  if (pm_wait_pid_dead (pid, timeout_ms))
    return;
  kill (pid, SIGKILL);
  g_error ("%s: pid %d still alive%s", where, (int) pid,
           timeout_ms ? " after the timeout" : "");
}

/* ---- files ------------------------------------------------------------------ */

gchar *
pm_tmp_path (PmFixture *f, const char *name)
{
  return g_build_filename (f->tmpdir, name, NULL);
}

static gboolean
file_exists_cond (gpointer data)
{
  return g_file_test (data, G_FILE_TEST_EXISTS);
}

gboolean
pm_wait_for_file (const char *path, guint timeout_ms)
{
  return pm_wait_for (file_exists_cond, (gpointer) path, timeout_ms);
}

gchar *
pm_read_file (const char *path)
{
  gchar *contents = NULL;

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return NULL;
  return contents;
}

typedef struct
{
  const char *path;
  pid_t pid;
} PidFileWait;

static gboolean
pid_file_cond (gpointer data)
{
  PidFileWait *w = data;
  g_autofree gchar *text = pm_read_file (w->path);

  /* Children write "PID\n": a file without the newline is still being written. */
  if (text == NULL || strchr (text, '\n') == NULL)
    return FALSE;
  w->pid = (pid_t) g_ascii_strtoll (text, NULL, 10);
  return w->pid > 0;
}

pid_t
pm_read_pid_file (const char *path, guint timeout_ms)
{
  PidFileWait w = { path, 0 };

  if (!pm_wait_for (pid_file_cond, &w, timeout_ms))
    return 0;
  return w.pid;
}

gchar *
pm_write_script (PmFixture *f, const char *name, const char *text, int mode)
{
  g_autoptr(GError) error = NULL;
  gchar *path = pm_tmp_path (f, name);

  g_file_set_contents (path, text, -1, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_chmod (path, mode), ==, 0);
  return path;
}

const gchar *
pm_data_file (const char *name)
{
  return g_test_get_filename (G_TEST_DIST, "data", name, NULL);
}

gboolean
pm_test_rss_meaningful (void)
{
  const char *wrapper = g_getenv ("ELIFE_PMD_WRAPPER");

  return (wrapper == NULL || *wrapper == '\0') &&
         g_getenv ("ELIFE_PM_TEST_SANITIZED") == NULL;
}

guint
pm_test_slow_factor (void)
{
  const char *slow = g_getenv ("ELIFE_PM_TEST_SLOW");
  guint64 factor = slow ? g_ascii_strtoull (slow, NULL, 10) : 1;

  return (guint) CLAMP (factor, 1, 1000);
}

gint64
pm_test_bound_ms (gint64 ms)
{
  gint64 factor = pm_test_slow_factor ();

  if (g_getenv ("ELIFE_PM_TEST_SANITIZED") != NULL)
    factor *= 4;
  return ms * factor;
}

guint
pm_test_scaled (guint n)
{
  guint factor = pm_test_slow_factor ();

  return factor > 1 ? MAX (n / factor, 1) : n;
}

guint
pm_test_timeout_ms (void)
{
  return 30000 * pm_test_slow_factor ();
}

void
pm_report (const char *format, ...)
{
  g_autofree gchar *text = NULL;
  va_list ap;

  va_start (ap, format);
  text = g_strdup_vprintf (format, ap);
  va_end (ap);
  g_test_message ("%s", text);
  g_printerr ("# %s\n", text);
}

pid_t
pm_daemon_pid (PmFixture *f)
{
  return (pid_t) atoi (g_subprocess_get_identifier (f->daemon));
}

guint
pm_count_fds (pid_t pid)
{
  g_autofree gchar *path = g_strdup_printf ("/proc/%d/fd", (int) pid);
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  guint n = 0;

  g_assert_nonnull (dir);
  while (g_dir_read_name (dir) != NULL)
    n++;
  return n;
}

gsize
pm_rss_kib (pid_t pid)
{
  g_autofree gchar *path = g_strdup_printf ("/proc/%d/status", (int) pid);
  g_autofree gchar *text = NULL;
  const char *line;

  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  line = strstr (text, "\nVmRSS:");
  g_assert_nonnull (line);
  return (gsize) g_ascii_strtoull (line + strlen ("\nVmRSS:"), NULL, 10);
}

typedef struct
{
  PmFixture  *f;
  guint32     id;
  const char *prop;
  const char *value;
} StringWait;

static gboolean
string_cond (gpointer data)
{
  StringWait *w = data;
  g_autofree gchar *now = pm_get_string (w->f, w->id, w->prop);

  return g_strcmp0 (now, w->value) == 0;
}

void
pm_wait_string (PmFixture *f, guint32 id, const char *prop, const char *value)
{
  StringWait w = { f, id, prop, value };

  if (!pm_wait_for (string_cond, &w, PM_TEST_TIMEOUT_MS))
    {
      g_autofree gchar *now = pm_get_string (f, id, prop);

      g_error ("process %u: %s never became “%s” (it is “%s”)", id, prop, value, now);
    }
}

void
pm_wait_state (PmFixture *f, guint32 id, const char *state)
{
  pm_wait_string (f, id, "State", state);
}
