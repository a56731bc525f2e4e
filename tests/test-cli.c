/* test-cli.c — the real `elife-pm` binary against the real elife-pmd on a
 * private bus: every command and flag, --json parsed (by python3's json
 * module) and checked against the D-Bus properties, Stats against /proc,
 * exit codes 0/1/2, logs -n and -f across ReopenLogs and a new inode, apply
 * twice, bad files, and no daemon. */
#include "pm-test-util.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <glib/gstdio.h>

#define LONG_SCRIPT pm_data_file ("sleep-forever.sh")

/* ---- running the CLI ------------------------------------------------------- */

typedef struct
{
  int    status;   /* exit status, or 128 + signal */
  char  *out;
  char  *err;
} CliResult;

static void
cli_result_free (CliResult *r)
{
  g_free (r->out);
  g_free (r->err);
  g_free (r);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CliResult, cli_result_free)

static void
cli_child_setup (gpointer data)
{
  /* A CLI that runs on (logs -f, monitor) must not outlive a case that
   * failed: it would hold the case's output pipe open, and GTest waits for
   * that pipe's end before it reports the case. */
  prctl (PR_SET_PDEATHSIG, SIGKILL);
  if (getppid () != GPOINTER_TO_INT (data))
    _exit (127);    /* the case went before the setting took */
}

/* The CLI talks to the fixture's bus through ELIFE_PM_ADDRESS; no session
 * bus of the machine is ever reached. */
static GSubprocessLauncher *
cli_launcher (PmFixture *f, GSubprocessFlags flags)
{
  GSubprocessLauncher *l = g_subprocess_launcher_new (flags);

  g_subprocess_launcher_set_child_setup (l, cli_child_setup, GINT_TO_POINTER (getpid ()), NULL);

  g_subprocess_launcher_setenv (l, "ELIFE_PM_ADDRESS", f->address, TRUE);
  g_subprocess_launcher_unsetenv (l, "DBUS_SESSION_BUS_ADDRESS");
  g_subprocess_launcher_setenv (l, "DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/elife-pm-test", TRUE);
  g_subprocess_launcher_set_cwd (l, f->tmpdir);
  return l;
}

static int
exit_status (GSubprocess *p)
{
  if (g_subprocess_get_if_exited (p))
    return g_subprocess_get_exit_status (p);
  return 128 + g_subprocess_get_term_sig (p);
}

static CliResult *
cli_run_with (GSubprocessLauncher *l, const char *const *args)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GSubprocess) p = NULL;
  CliResult *r = g_new0 (CliResult, 1);

  g_ptr_array_add (argv, (gpointer) ELIFE_PM_CLI_PATH);
  for (; *args; args++)
    g_ptr_array_add (argv, (gpointer) *args);
  g_ptr_array_add (argv, NULL);
  p = g_subprocess_launcher_spawnv (l, (const char * const *) argv->pdata, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (p, NULL, NULL, &r->out, &r->err, &error);
  g_assert_no_error (error);
  g_subprocess_wait (p, NULL, &error);
  g_assert_no_error (error);
  r->status = exit_status (p);
  return r;
}

static CliResult *
cli_runv (PmFixture *f, const char *const *args)
{
  g_autoptr(GSubprocessLauncher) l = cli_launcher (f, G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                                      G_SUBPROCESS_FLAGS_STDERR_PIPE);
  return cli_run_with (l, args);
}

#define CLI(f, ...) cli_runv ((f), (const char *const []) { __VA_ARGS__, NULL })

static void
assert_status (CliResult *r, int expected)
{
  if (r->status != expected)
    g_error ("elife-pm exited %d, expected %d\nstdout: %s\nstderr: %s",
             r->status, expected, r->out, r->err);
}

static void
assert_contains (const char *haystack, const char *needle)
{
  if (strstr (haystack, needle) == NULL)
    g_error ("“%s” does not contain “%s”", haystack, needle);
}

/* An error is one line "elife-pm: ...\n" on stderr, nothing on stdout. */
static void
assert_one_error_line (CliResult *r, const char *needle)
{
  assert_status (r, 1);
  g_assert_true (g_str_has_prefix (r->err, "elife-pm: "));
  g_assert_true (g_str_has_suffix (r->err, "\n"));
  if (strchr (r->err, '\n') + 1 != r->err + strlen (r->err))
    g_error ("more than one line on stderr: %s", r->err);
  assert_contains (r->err, needle);
}

static void
assert_usage_error (CliResult *r, const char *needle)
{
  assert_status (r, 2);
  assert_contains (r->err, "Usage:");
  if (needle)
    assert_contains (r->err, needle);
}

static guint32
parse_id (CliResult *r)
{
  guint64 id = 0;

  assert_status (r, 0);
  g_assert_true (g_str_has_suffix (r->out, "\n"));
  {
    g_autofree char *line = g_strchomp (g_strdup (r->out));
    g_assert_true (g_ascii_string_to_unsigned (line, 10, 1, G_MAXUINT32, &id, NULL));
  }
  return (guint32) id;
}

/* A CLI that runs on (monitor, logs -f, start --stop-with-caller): its
 * stdout is read line by line on the main context. */
typedef struct
{
  GSubprocess      *proc;
  GDataInputStream *out;
  GPtrArray        *lines;
  GCancellable     *cancellable;
  gboolean          eof;
} CliProc;

static void
on_line (GObject *source, GAsyncResult *res, gpointer user_data)
{
  CliProc *cp = user_data;
  g_autoptr(GError) error = NULL;
  char *line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source), res,
                                                          NULL, &error);

  if (line == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        cp->eof = TRUE;
      return;
    }
  g_ptr_array_add (cp->lines, line);
  g_data_input_stream_read_line_async (cp->out, G_PRIORITY_DEFAULT, cp->cancellable, on_line, cp);
}

static CliProc *
cli_spawnv (PmFixture *f, const char *const *args)
{
  g_autoptr(GSubprocessLauncher) l = cli_launcher (f, G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  CliProc *cp = g_new0 (CliProc, 1);

  g_ptr_array_add (argv, (gpointer) ELIFE_PM_CLI_PATH);
  for (; *args; args++)
    g_ptr_array_add (argv, (gpointer) *args);
  g_ptr_array_add (argv, NULL);
  cp->proc = g_subprocess_launcher_spawnv (l, (const char * const *) argv->pdata, &error);
  g_assert_no_error (error);
  cp->out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (cp->proc));
  cp->lines = g_ptr_array_new_with_free_func (g_free);
  cp->cancellable = g_cancellable_new ();
  g_data_input_stream_read_line_async (cp->out, G_PRIORITY_DEFAULT, cp->cancellable, on_line, cp);
  return cp;
}

#define CLI_SPAWN(f, ...) cli_spawnv ((f), (const char *const []) { __VA_ARGS__, NULL })

typedef struct
{
  CliProc    *cp;
  const char *needle;
  guint       from;
  gint        found;
} LineWait;

static gboolean
line_cond (gpointer data)
{
  LineWait *w = data;

  for (guint i = w->from; i < w->cp->lines->len; i++)
    if (strstr (g_ptr_array_index (w->cp->lines, i), w->needle) != NULL)
      {
        w->found = (gint) i;
        return TRUE;
      }
  return w->cp->eof;
}

/* Index of the first line at or after @from containing @needle. */
static guint
cli_proc_wait_line (CliProc *cp, guint from, const char *needle)
{
  LineWait w = { cp, needle, from, -1 };

  pm_wait_for (line_cond, &w, PM_TEST_TIMEOUT_MS * 2);
  if (w.found < 0)
    {
      g_autofree char *all = NULL;

      g_ptr_array_add (cp->lines, NULL);
      all = g_strjoinv ("\n", (char **) cp->lines->pdata);
      g_error ("no line with “%s” (eof %d) in:\n%s", needle, cp->eof, all);
    }
  return (guint) w.found;
}

static gboolean
proc_exited_cond (gpointer data)
{
  return g_subprocess_get_identifier (data) == NULL;
}

/* SIGINT, wait for the exit; returns its status. Frees @cp. */
static int
cli_proc_interrupt (CliProc *cp)
{
  int status;

  g_subprocess_send_signal (cp->proc, SIGINT);
  if (!pm_wait_for (proc_exited_cond, cp->proc, PM_TEST_TIMEOUT_MS))
    {
      g_subprocess_force_exit (cp->proc);
      g_error ("elife-pm did not end on SIGINT");
    }
  g_subprocess_wait (cp->proc, NULL, NULL);
  status = exit_status (cp->proc);
  g_cancellable_cancel (cp->cancellable);
  pm_iterate_for (10);
  g_object_unref (cp->cancellable);
  g_object_unref (cp->out);
  g_object_unref (cp->proc);
  g_ptr_array_unref (cp->lines);
  g_free (cp);
  return status;
}

/* ---- files ------------------------------------------------------------------- */

typedef struct
{
  const char *path;
  const char *needle;
} FileWait;

static gboolean
file_has_cond (gpointer data)
{
  FileWait *w = data;
  g_autofree char *text = pm_read_file (w->path);

  return text != NULL && strstr (text, w->needle) != NULL;
}

static void
wait_file_has (const char *path, const char *needle)
{
  FileWait w = { path, needle };

  if (!pm_wait_for (file_has_cond, &w, PM_TEST_TIMEOUT_MS))
    g_error ("%s never contained “%s”", path, needle);
}

static void
write_file (const char *path, const char *text)
{
  g_autoptr(GError) error = NULL;

  g_file_set_contents (path, text, -1, &error);
  g_assert_no_error (error);
}

/* A child that prints "line 1" … "line N", then waits for $TRIGGER to
 * appear and prints "more 1" … "more N" (for -f), then runs on. */
static char *
counter_script (PmFixture *f)
{
  return pm_write_script (f, "counter.sh",
      "#!/bin/sh\n"
      "n=${1:-30}\n"
      "i=1; while [ $i -le $n ]; do echo \"line $i\"; i=$((i+1)); done\n"
      "if [ -n \"$2\" ]; then\n"
      "  while [ ! -e \"$2\" ]; do sleep 0.02; done\n"
      "  i=1; while [ $i -le $n ]; do echo \"more $i\"; i=$((i+1)); done\n"
      "fi\n"
      "while :; do sleep 0.05; done\n", 0755);
}

/* ---- JSON ------------------------------------------------------------------- */

/* What `--json` printed, parsed by python3's json module, as av of a{sv}. */
static GVariant *
parse_json (const char *json)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) p = g_subprocess_new (G_SUBPROCESS_FLAGS_STDIN_PIPE |
                                               G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error,
                                               "python3", pm_data_file ("json-to-gvariant.py"), NULL);
  g_autofree char *text = NULL;
  GVariant *v;

  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (p, json, NULL, &text, NULL, &error);
  g_assert_no_error (error);
  g_subprocess_wait (p, NULL, NULL);
  if (exit_status (p) != 0)
    g_error ("not valid JSON:\n%s", json);
  v = g_variant_parse (G_VARIANT_TYPE ("av"), text, NULL, NULL, &error);
  g_assert_no_error (error);
  return v;
}

static char *
json_key (const char *property)
{
  char *key = g_strdup (property);

  for (char *p = key; *p && g_ascii_isupper (*p); p++)
    {
      if (p != key && p[1] != '\0' && g_ascii_islower (p[1]))
        break;
      *p = g_ascii_tolower (*p);
    }
  return key;
}

/* A JSON value (from parse_json) equals the D-Bus value. */
static gboolean
json_equals (GVariant *json, GVariant *dbus)
{
  switch (g_variant_classify (dbus))
    {
    case G_VARIANT_CLASS_STRING:
      return g_variant_is_of_type (json, G_VARIANT_TYPE_STRING) &&
             g_str_equal (g_variant_get_string (json, NULL), g_variant_get_string (dbus, NULL));
    case G_VARIANT_CLASS_BOOLEAN:
      return g_variant_is_of_type (json, G_VARIANT_TYPE_BOOLEAN) &&
             g_variant_get_boolean (json) == g_variant_get_boolean (dbus);
    case G_VARIANT_CLASS_UINT32:
      return g_variant_is_of_type (json, G_VARIANT_TYPE_UINT64) &&
             g_variant_get_uint64 (json) == g_variant_get_uint32 (dbus);
    case G_VARIANT_CLASS_UINT64:
      return g_variant_is_of_type (json, G_VARIANT_TYPE_UINT64) &&
             g_variant_get_uint64 (json) == g_variant_get_uint64 (dbus);
    case G_VARIANT_CLASS_INT32:
      if (g_variant_is_of_type (json, G_VARIANT_TYPE_UINT64))
        return g_variant_get_int32 (dbus) >= 0 &&
               g_variant_get_uint64 (json) == (guint64) g_variant_get_int32 (dbus);
      return g_variant_is_of_type (json, G_VARIANT_TYPE_INT64) &&
             g_variant_get_int64 (json) == g_variant_get_int32 (dbus);
    case G_VARIANT_CLASS_ARRAY:
      {
        gsize n = g_variant_n_children (dbus);

        if (!g_variant_is_of_type (json, G_VARIANT_TYPE ("av")) || g_variant_n_children (json) != n)
          return FALSE;
        for (gsize i = 0; i < n; i++)
          {
            g_autoptr(GVariant) jv = g_variant_get_child_value (json, i);
            g_autoptr(GVariant) j = g_variant_get_variant (jv);
            g_autoptr(GVariant) d = g_variant_get_child_value (dbus, i);

            if (!json_equals (j, d))
              return FALSE;
          }
        return TRUE;
      }
    default:
      return FALSE;
    }
}

static GVariant *
get_all (PmFixture *f, guint32 id)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = pm_process_path (id);
  g_autoptr(GVariant) reply = pm_call_full (f, path, "org.freedesktop.DBus.Properties", "GetAll",
                                            g_variant_new ("(s)", PM_TEST_PROCESS_IFACE),
                                            G_VARIANT_TYPE ("(a{sv})"), PM_TEST_TIMEOUT_MS, &error);

  g_assert_no_error (error);
  return g_variant_get_child_value (reply, 0);
}

/* Every property of the object is in the JSON object with its value. */
static void
assert_object_matches (PmFixture *f, GVariant *obj)
{
  g_autoptr(GVariant) props = NULL;
  GVariantIter iter;
  const char *name;
  GVariant *value;
  guint64 id;

  g_assert_true (g_variant_lookup (obj, "id", "t", &id));
  props = get_all (f, (guint32) id);
  g_variant_iter_init (&iter, props);
  while (g_variant_iter_next (&iter, "{&sv}", &name, &value))
    {
      g_autoptr(GVariant) owned = value;
      g_autofree char *key = json_key (name);
      g_autoptr(GVariant) j = g_variant_lookup_value (obj, key, NULL);

      if (j == NULL)
        g_error ("JSON of process %" G_GUINT64_FORMAT " lacks “%s”", id, key);
      /* Pid and State can only move if the process restarted meanwhile: it does not here. */
      if (!json_equals (j, owned))
        {
          g_autofree char *a = g_variant_print (j, TRUE), *b = g_variant_print (owned, TRUE);
          g_error ("JSON %s = %s, D-Bus %s = %s", key, a, name, b);
        }
    }
  g_assert_true (g_variant_lookup (obj, "cpuUsec", "t", &id));
  g_assert_true (g_variant_lookup (obj, "rssBytes", "t", &id));
}

static gboolean
proc_cpu_usec (pid_t pid, guint64 *usec)
{
  g_autofree gchar *path = g_strdup_printf ("/proc/%d/stat", (int) pid);
  g_autofree gchar *text = NULL;
  g_auto(GStrv) fields = NULL;

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return FALSE;
  fields = g_strsplit (strrchr (text, ')') + 2, " ", -1);
  *usec = (g_ascii_strtoull (fields[11], NULL, 10) + g_ascii_strtoull (fields[12], NULL, 10))
          * G_USEC_PER_SEC / (guint64) sysconf (_SC_CLK_TCK);
  return TRUE;
}

static guint64
proc_rss_bytes (pid_t pid)
{
  g_autofree gchar *path = g_strdup_printf ("/proc/%d/statm", (int) pid);
  g_autofree gchar *text = NULL;
  guint64 size = 0, resident = 0;

  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  g_assert_cmpint (sscanf (text, "%" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT, &size, &resident), ==, 2);
  return resident * (guint64) sysconf (_SC_PAGESIZE);
}

/* ---- help and usage -------------------------------------------------------- */

static const char *const commands[] = {
  "start", "stop", "restart", "stop-all", "list", "status", "logs", "monitor", "apply",
  "reopen-logs", "version", "help", NULL
};

static void
test_help_tool (PmFixture *f, gconstpointer data)
{
  g_autoptr(CliResult) r = CLI (f, "--help");

  assert_status (r, 0);
  assert_contains (r->out, "Usage:");
  for (guint i = 0; commands[i]; i++)
    {
      g_autofree char *entry = g_strdup_printf ("\n  %s", commands[i]);
      assert_contains (r->out, entry);
    }
  assert_contains (r->out, "--system");
  assert_contains (r->out, "--address");
  assert_contains (r->out, "ELIFE_PM_ADDRESS");
}

static void
test_help_commands (PmFixture *f, gconstpointer data)
{
  for (guint i = 0; commands[i]; i++)
    {
      g_autoptr(CliResult) r = CLI (f, commands[i], "--help");
      g_autoptr(CliResult) h = CLI (f, "help", commands[i]);
      g_autofree char *usage = g_strdup_printf ("elife-pm [OPTION…] %s", commands[i]);

      assert_status (r, 0);
      assert_contains (r->out, usage);
      assert_contains (r->out, "--address");
      assert_status (h, 0);
      g_assert_cmpstr (h->out, ==, r->out);
    }
  {
    g_autoptr(CliResult) r = CLI (f, "start", "--help");
    const char *flags[] = { "--name", "--cwd", "--log", "--env", "--clear-env", "--restart=",
                            "--restart-at", "--restart-ok", "--strip-ansi", "--timestamps",
                            "--stop-timeout", "--interpreter", "--replace", "--stop-with-caller",
                            "--ready=", "--ready-pattern", "--start-timeout", "--watchdog-timeout",
                            "--log-max-bytes", "--log-backups", NULL };

    for (guint i = 0; flags[i]; i++)
      assert_contains (r->out, flags[i]);
  }
}

static void
test_usage_errors (PmFixture *f, gconstpointer data)
{
  const struct { const char *args[4]; const char *needle; } cases[] = {
    { { NULL }, "No command given" },
    { { "bogus", NULL }, "Unknown command “bogus”" },
    { { "--bogus", NULL }, "--bogus" },
    { { "list", "--bogus", NULL }, "--bogus" },
    { { "list", "extra", NULL }, "list takes no arguments" },
    { { "stop", NULL }, "No NAME or ID given" },
    { { "restart", NULL }, "No NAME or ID given" },
    { { "status", NULL }, "status takes one NAME or ID" },
    { { "logs", NULL }, "logs takes one NAME or ID" },
    { { "logs", "a", "-n", "x" }, "-n" },
    { { "apply", NULL }, "apply takes one FILE" },
    { { "start", NULL }, "No SCRIPT given" },
    { { "start", "--stop-timeout", "abc", "x.sh" }, "--stop-timeout: “abc” is not a number" },
    { { "start", "--restart-at", "1,x", "x.sh" }, "--restart-at" },
    { { "start", "--env", "NOEQ", "x.sh" }, "--env: “NOEQ”" },
    { { "stop-all", "x", NULL }, "stop-all takes no arguments" },
    { { "help", "bogus", NULL }, "Unknown command “bogus”" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(CliResult) r = cli_runv (f, cases[i].args);
      assert_usage_error (r, cases[i].needle);
    }
  /* Nothing reached the daemon. */
  g_assert_cmpuint (pm_list_count (f), ==, 0);
}

/* ---- the bus ------------------------------------------------------------------ */

static void
test_bus_env_address (PmFixture *f, gconstpointer data)
{
  g_autoptr(CliResult) r = CLI (f, "version");

  assert_status (r, 0);
}

static void
test_bus_address_flag (PmFixture *f, gconstpointer data)
{
  g_autoptr(GSubprocessLauncher) l = cli_launcher (f, G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                                      G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autoptr(CliResult) before = NULL;
  g_autoptr(CliResult) after = NULL;

  g_subprocess_launcher_unsetenv (l, "ELIFE_PM_ADDRESS");
  before = cli_run_with (l, (const char *const []) { "--address", f->address, "list", NULL });
  assert_status (before, 0);
  /* After the command too. */
  after = cli_run_with (l, (const char *const []) { "list", "--address", f->address, NULL });
  assert_status (after, 0);
}

static void
test_bus_session_default (PmFixture *f, gconstpointer data)
{
  g_autoptr(GSubprocessLauncher) l = cli_launcher (f, G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                                      G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autoptr(CliResult) r = NULL;

  g_subprocess_launcher_unsetenv (l, "ELIFE_PM_ADDRESS");
  g_subprocess_launcher_setenv (l, "DBUS_SESSION_BUS_ADDRESS", f->address, TRUE);
  r = cli_run_with (l, (const char *const []) { "list", NULL });
  assert_status (r, 0);
}

static void
test_bus_session_flag (PmFixture *f, gconstpointer data)
{
  g_autoptr(GSubprocessLauncher) l = cli_launcher (f, G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                                      G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autoptr(CliResult) r = NULL;

  /* --session wins over $ELIFE_PM_ADDRESS. */
  g_subprocess_launcher_setenv (l, "ELIFE_PM_ADDRESS", "unix:path=/nonexistent/elife-pm-x", TRUE);
  g_subprocess_launcher_setenv (l, "DBUS_SESSION_BUS_ADDRESS", f->address, TRUE);
  r = cli_run_with (l, (const char *const []) { "--session", "list", NULL });
  assert_status (r, 0);
}

static void
test_bus_system_flag (PmFixture *f, gconstpointer data)
{
  g_autoptr(GSubprocessLauncher) l = cli_launcher (f, G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                                      G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autoptr(CliResult) ok = NULL;
  g_autoptr(CliResult) bad = NULL;

  g_subprocess_launcher_setenv (l, "DBUS_SYSTEM_BUS_ADDRESS", f->address, TRUE);
  ok = cli_run_with (l, (const char *const []) { "--system", "list", NULL });
  assert_status (ok, 0);
  g_subprocess_launcher_setenv (l, "DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/elife-pm-y", TRUE);
  bad = cli_run_with (l, (const char *const []) { "--system", "list", NULL });
  assert_one_error_line (bad, "the system bus");
}

static void
test_bus_no_daemon (PmFixture *f, gconstpointer data)
{
  g_autoptr(CliResult) r = NULL;
  g_autofree char *label = g_strdup_printf ("the bus at %s", f->address);

  pm_fixture_stop_daemon (f);
  for (guint i = 0; commands[i]; i++)
    {
      const char *args[] = { commands[i], NULL, NULL };
      g_autoptr(CliResult) c = NULL;

      if (g_str_equal (commands[i], "help"))
        continue;
      /* Arguments that pass the usage checks, so the bus is reached. */
      if (g_str_equal (commands[i], "stop") || g_str_equal (commands[i], "restart") ||
          g_str_equal (commands[i], "status") || g_str_equal (commands[i], "logs"))
        args[1] = "api";
      else if (g_str_equal (commands[i], "start"))
        args[1] = LONG_SCRIPT;
      else if (g_str_equal (commands[i], "apply"))
        {
          g_autofree char *ini = pm_tmp_path (f, "ok.ini");
          g_autofree char *text = g_strdup_printf ("[a]\nscript=%s\n", LONG_SCRIPT);

          write_file (ini, text);
          args[1] = "ok.ini";
        }
      c = cli_runv (f, args);
      if (g_str_equal (commands[i], "version"))
        {
          /* Its own version first, then the failure. */
          assert_status (c, 1);
          assert_contains (c->out, "elife-pm " PM_TEST_EXPECTED_VERSION);
          assert_contains (c->err, "is not running on");
          continue;
        }
      assert_one_error_line (c, "elife-pmd is not running on");
      assert_contains (c->err, label);
    }
  r = CLI (f, "list");
  assert_one_error_line (r, label);
}

static void
test_bus_unreachable (PmFixture *f, gconstpointer data)
{
  g_autoptr(CliResult) r = CLI (f, "--address", "unix:path=/nonexistent/elife-pm-z", "list");

  assert_one_error_line (r, "Cannot connect to the bus at unix:path=/nonexistent/elife-pm-z");
}

/* ---- start --------------------------------------------------------------------- */

static void
test_start_prints_id (PmFixture *f, gconstpointer data)
{
  g_autoptr(CliResult) a = CLI (f, "start", LONG_SCRIPT);
  g_autoptr(CliResult) b = CLI (f, "start", "--name", "web", LONG_SCRIPT);
  guint32 ida = parse_id (a), idb = parse_id (b);
  g_autofree char *name = NULL;
  g_autofree char *state = NULL;

  g_assert_cmpuint (idb, ==, ida + 1);
  g_assert_true (pm_list_lookup (f, idb, &name, NULL, &state, NULL));
  g_assert_cmpstr (name, ==, "web");
  g_assert_cmpstr (state, ==, "running");
  g_assert_cmpuint (pm_get_uint (f, ida, "Pid"), >, 0);
}

static void
test_start_relative (PmFixture *f, gconstpointer data)
{
  g_autofree char *sub = pm_tmp_path (f, "sub");
  g_autofree char *script = NULL;
  g_autofree char *expect_script = NULL;
  g_autoptr(GSubprocessLauncher) l = cli_launcher (f, G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                                      G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autoptr(CliResult) r = NULL;
  g_autofree char *cwd = NULL;
  g_autofree char *s = NULL;
  g_autofree char *log = NULL;
  guint32 id;

  g_assert_cmpint (g_mkdir (sub, 0755), ==, 0);
  script = pm_write_script (f, "sub/svc.sh", "#!/bin/sh\necho here\nexec sleep 1000\n", 0755);
  g_subprocess_launcher_set_cwd (l, sub);
  r = cli_run_with (l, (const char *const []) { "start", "--log", "out.log", "svc.sh", NULL });
  id = parse_id (r);
  cwd = pm_get_string (f, id, "Cwd");
  g_assert_cmpstr (cwd, ==, sub);
  s = pm_get_string (f, id, "Script");
  g_assert_cmpstr (s, ==, script);
  log = pm_get_string (f, id, "Log");
  expect_script = g_build_filename (sub, "out.log", NULL);
  g_assert_cmpstr (log, ==, expect_script);
  wait_file_has (log, "here\n");
}

static void
test_start_cwd_flag (PmFixture *f, gconstpointer data)
{
  g_autofree char *sub = pm_tmp_path (f, "work");
  g_autofree char *dump = pm_tmp_path (f, "env.out");
  g_autofree char *pwd_file = g_strconcat (dump, ".pwd", NULL);
  g_autofree char *log_expect = pm_tmp_path (f, "w.log");
  g_autoptr(CliResult) r = NULL;
  g_autofree char *cwd = NULL;
  g_autofree char *log = NULL;
  g_autofree char *pwd = NULL;
  g_autofree char *pwd_expect = NULL;
  guint32 id;

  g_assert_cmpint (g_mkdir (sub, 0755), ==, 0);
  /* --cwd relative to the shell's directory; so are --log and SCRIPT. */
  r = CLI (f, "start", "--cwd", "work", "--log", "w.log", pm_data_file ("dump-env.sh"), dump);
  id = parse_id (r);
  cwd = pm_get_string (f, id, "Cwd");
  g_assert_cmpstr (cwd, ==, sub);
  log = pm_get_string (f, id, "Log");
  g_assert_cmpstr (log, ==, log_expect);
  g_assert_true (pm_wait_for_file (pwd_file, PM_TEST_TIMEOUT_MS));
  pwd = pm_read_file (pwd_file);
  pwd_expect = g_strconcat (sub, "\n", NULL);
  g_assert_cmpstr (pwd, ==, pwd_expect);
}

static void
test_start_args (PmFixture *f, gconstpointer data)
{
  g_autofree char *out = pm_tmp_path (f, "args.out");
  g_autofree char *script = pm_write_script (f, "args.sh",
      "#!/bin/sh\nprintf '%s|' \"$@\" > \"$ARGS_OUT\"\nexec sleep 1000\n", 0755);
  g_autofree char *env = g_strdup_printf ("ARGS_OUT=%s", out);
  g_autoptr(CliResult) r = CLI (f, "start", "--env", env, script, "--port", "8080", "--", "-x");
  g_autoptr(CliResult) r2 = CLI (f, "start", "--env", env, "--", script, "--", "--name", "a b");
  g_autoptr(GVariant) args = NULL;
  g_autoptr(GError) error = NULL;
  guint32 id = parse_id (r);
  guint32 id2 = parse_id (r2);

  args = pm_get_property (f, id, "Args", &error);
  g_assert_no_error (error);
  {
    g_autofree char *text = g_variant_print (args, FALSE);
    /* Only the "--" right after SCRIPT separates; a later one is an argument. */
    g_assert_cmpstr (text, ==, "['--port', '8080', '--', '-x']");
  }
  g_clear_pointer (&args, g_variant_unref);
  args = pm_get_property (f, id2, "Args", &error);
  g_assert_no_error (error);
  {
    g_autofree char *text = g_variant_print (args, FALSE);
    g_assert_cmpstr (text, ==, "['--name', 'a b']");
  }
}

static void
test_start_env (PmFixture *f, gconstpointer data)
{
  g_autofree char *dump = pm_tmp_path (f, "env.out");
  g_autofree char *dump2 = pm_tmp_path (f, "env2.out");
  g_autoptr(CliResult) r = CLI (f, "start", "--env", "A=1", "-e", "B=x=y", pm_data_file ("dump-env.sh"), dump);
  g_autoptr(CliResult) r2 = CLI (f, "start", "--clear-env", "--env", "ONLY=1",
                                 pm_data_file ("dump-env.sh"), dump2);
  g_autofree char *text = NULL;
  g_autofree char *text2 = NULL;

  parse_id (r);
  parse_id (r2);
  g_assert_true (pm_wait_for_file (dump, PM_TEST_TIMEOUT_MS));
  text = pm_read_file (dump);
  assert_contains (text, "\nA=1\n");
  assert_contains (text, "\nB=x=y\n");
  assert_contains (text, "PATH=");
  g_assert_true (pm_wait_for_file (dump2, PM_TEST_TIMEOUT_MS));
  text2 = pm_read_file (dump2);
  assert_contains (text2, "ONLY=1\n");
  g_assert_null (strstr (text2, "\nA=1\n"));
  g_assert_null (strstr (text2, "\nHOME="));
}

static void
test_start_restart_flags (PmFixture *f, gconstpointer data)
{
  const char *exit_with = pm_data_file ("exit-with.sh");
  g_autoptr(CliResult) never = CLI (f, "start", "--restart", "never", exit_with, "3");
  g_autoptr(CliResult) onfail = CLI (f, "start", "--restart", "on-failure", exit_with, "0");
  g_autoptr(CliResult) at = CLI (f, "start", "--restart-at", "3600000,5", "--restart-ok", "100000",
                                 exit_with, "1");
  g_autoptr(CliResult) bad = CLI (f, "start", "--restart", "sometimes", exit_with);
  guint32 id_never = parse_id (never), id_onfail = parse_id (onfail), id_at = parse_id (at);
  gint64 before = g_get_real_time ();
  guint64 next;

  g_assert_nonnull (pm_wait_for_signal (f, "Exited", id_never, PM_TEST_TIMEOUT_MS));
  g_assert_nonnull (pm_wait_for_signal (f, "Exited", id_onfail, PM_TEST_TIMEOUT_MS));
  g_assert_nonnull (pm_wait_for_signal (f, "Exited", id_at, PM_TEST_TIMEOUT_MS));
  pm_iterate_for (100);
  {
    g_autofree char *s1 = pm_get_string (f, id_never, "State");
    g_autofree char *s2 = pm_get_string (f, id_onfail, "State");
    g_autofree char *s3 = pm_get_string (f, id_at, "State");

    g_assert_cmpstr (s1, ==, "exited");
    g_assert_cmpstr (s2, ==, "exited");
    g_assert_cmpstr (s3, ==, "backoff");
  }
  /* The first delay is an hour: NextRestart says so. */
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(GVariant) v = pm_get_property (f, id_at, "NextRestart", &error);

    g_assert_no_error (error);
    next = g_variant_get_uint64 (v);
    g_assert_cmpuint (next, >, (guint64) before + (guint64) 3000 * G_USEC_PER_SEC);
  }
  assert_one_error_line (bad, "restart");
}

static void
test_start_log_flags (PmFixture *f, gconstpointer data)
{
  g_autofree char *script = pm_write_script (f, "colour.sh",
      "#!/bin/sh\nprintf '\\033[31mred\\033[0m plain\\n'\nexec sleep 1000\n", 0755);
  g_autofree char *log1 = pm_tmp_path (f, "strip.log");
  g_autofree char *log2 = pm_tmp_path (f, "stamp.log");
  g_autoptr(CliResult) a = CLI (f, "start", "--strip-ansi", "--log", "strip.log", script);
  g_autoptr(CliResult) b = CLI (f, "start", "--timestamps", "--name", "st", "--log", "stamp.log", script);
  g_autofree char *t1 = NULL;
  g_autofree char *t2 = NULL;
  g_autoptr(GRegex) stamp = g_regex_new ("^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}\\S* st: ",
                                         0, 0, NULL);

  parse_id (a);
  parse_id (b);
  wait_file_has (log1, "plain\n");
  wait_file_has (log2, "plain\n");
  t1 = pm_read_file (log1);
  g_assert_cmpstr (t1, ==, "red plain\n");
  t2 = pm_read_file (log2);
  g_assert_true (g_regex_match (stamp, t2, 0, NULL));
  assert_contains (t2, "\033[31m");
}

static void
test_start_stop_timeout_and_interpreter (PmFixture *f, gconstpointer data)
{
  /* Not executable, run by the interpreter given. */
  g_autofree char *script = pm_write_script (f, "plain.sh",
      "trap '' TERM\necho \"via $0\"\nwhile :; do sleep 0.05; done\n", 0644);
  g_autofree char *log = pm_tmp_path (f, "interp.log");
  g_autoptr(CliResult) r = CLI (f, "start", "--interpreter", "/bin/sh", "--stop-timeout", "300",
                                "--name", "it", "--log", "interp.log", "plain.sh");
  g_autoptr(CliResult) stop = NULL;
  g_autoptr(CliResult) bad = CLI (f, "start", "--stop-timeout", "3600001", "plain.sh");
  guint32 id = parse_id (r);
  gint64 t0;

  wait_file_has (log, "via ");
  t0 = g_get_monotonic_time ();
  stop = CLI (f, "stop", "it");
  assert_status (stop, 0);
  /* TERM is ignored, so the stop took both phases: at least 2 × 300 ms. */
  g_assert_cmpint (g_get_monotonic_time () - t0, >=, 600 * 1000);
  g_assert_nonnull (pm_wait_for_signal (f, "Exited", id, PM_TEST_TIMEOUT_MS));
  assert_one_error_line (bad, "stopTimeout");
}

static void
test_start_replace (PmFixture *f, gconstpointer data)
{
  g_autoptr(CliResult) a = CLI (f, "start", "--name", "svc", LONG_SCRIPT);
  g_autoptr(CliResult) b = NULL;
  guint32 ida = parse_id (a), idb;

  b = CLI (f, "start", "--name", "svc", "--replace", LONG_SCRIPT);
  idb = parse_id (b);
  g_assert_cmpuint (pm_list_count (f), ==, 1);
  g_assert_false (pm_list_lookup (f, ida, NULL, NULL, NULL, NULL));
  g_assert_true (pm_list_lookup (f, idb, NULL, NULL, NULL, NULL));
}

static void
test_start_stop_with_caller (PmFixture *f, gconstpointer data)
{
  CliProc *cp = CLI_SPAWN (f, "start", "--stop-with-caller", "--name", "held", LONG_SCRIPT);
  guint i = cli_proc_wait_line (cp, 0, "");
  guint64 id = 0;

  g_assert_true (g_ascii_string_to_unsigned (g_ptr_array_index (cp->lines, i), 10, 1, G_MAXUINT32,
                                             &id, NULL));
  /* It stays while elife-pm runs... */
  pm_iterate_for (300);
  g_assert_nonnull (g_subprocess_get_identifier (cp->proc));
  g_assert_true (pm_list_lookup (f, (guint32) id, NULL, NULL, NULL, NULL));
  /* ...and goes when it ends. */
  g_assert_cmpint (cli_proc_interrupt (cp), ==, 0);
  g_assert_nonnull (pm_wait_for_signal (f, "Exited", (guint32) id, PM_TEST_TIMEOUT_MS));
}

static void
test_start_stop_with_caller_returns (PmFixture *f, gconstpointer data)
{
  /* elife-pm returns by itself when the process has exited for good... */
  CliProc *done = CLI_SPAWN (f, "start", "--stop-with-caller", "--restart", "never",
                             pm_data_file ("exit-with.sh"), "0");
  CliProc *held = NULL;
  g_autoptr(GError) error = NULL;

  if (!pm_wait_for (proc_exited_cond, done->proc, PM_TEST_TIMEOUT_MS))
    g_error ("elife-pm start --stop-with-caller did not return after the exit");
  g_assert_cmpint (cli_proc_interrupt (done), ==, 0);

  /* ...or when someone else stops it. */
  held = CLI_SPAWN (f, "start", "--stop-with-caller", "--name", "other", LONG_SCRIPT);
  cli_proc_wait_line (held, 0, "");
  pm_stop (f, "other", &error);
  g_assert_no_error (error);
  if (!pm_wait_for (proc_exited_cond, held->proc, PM_TEST_TIMEOUT_MS))
    g_error ("elife-pm start --stop-with-caller did not return after a Stop");
  g_assert_cmpint (cli_proc_interrupt (held), ==, 0);
}

/* The options of issues 14 and 15 are sent as the daemon's keys: the CLI
 * succeeds exactly when the same Start over D-Bus does, and otherwise says
 * the daemon's message naming the key. */
static void
test_start_newer_options (PmFixture *f, gconstpointer data)
{
  const struct { const char *flag; const char *value; const char *key; GVariant *(*make) (const char *); } cases[] = {
    { "--ready", "spawn", "ready", NULL },
    { "--ready-pattern", "^up", "readyPattern", NULL },
    { "--start-timeout", "5000", "startTimeout", NULL },
    { "--watchdog-timeout", "0", "watchdogTimeout", NULL },
    { "--log-max-bytes", "1000000", "logMaxBytes", NULL },
    { "--log-backups", "3", "logBackups", NULL },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(CliResult) r = NULL;
      GVariant *value;
      guint32 direct_id;
      guint count_before;

      if (g_str_equal (cases[i].key, "ready") || g_str_equal (cases[i].key, "readyPattern"))
        value = g_variant_new_string (cases[i].value);
      else if (g_str_equal (cases[i].key, "logMaxBytes"))
        value = g_variant_new_uint64 (g_ascii_strtoull (cases[i].value, NULL, 10));
      else
        value = g_variant_new_uint32 ((guint32) g_ascii_strtoull (cases[i].value, NULL, 10));
      /* With a ready line, both starts run a script that prints it (else
       * both would wait for startTimeout). */
      g_autofree char *up = g_str_equal (cases[i].key, "readyPattern")
        ? pm_write_script (f, "up.sh", "#!/bin/sh\necho up\nexec sleep 1000\n", 0755)
        : g_strdup (LONG_SCRIPT);
      {
        GVariantBuilder b;

        g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
        g_variant_builder_add (&b, "{sv}", "script", g_variant_new_string (up));
        /* In the order the CLI sends them, so a daemon names the same key. */
        if (g_str_equal (cases[i].key, "readyPattern"))
          g_variant_builder_add (&b, "{sv}", "ready", g_variant_new_string ("line"));
        g_variant_builder_add (&b, "{sv}", cases[i].key, value);
        direct_id = pm_start (f, g_variant_builder_end (&b), &error);
      }
      count_before = pm_list_count (f);
      if (g_str_equal (cases[i].key, "readyPattern"))
        r = CLI (f, "start", "--ready", "line", "--ready-pattern", "^up", "--restart", "never", up);
      else
        r = CLI (f, "start", cases[i].flag, cases[i].value, LONG_SCRIPT);
      if (direct_id != 0)
        {
          parse_id (r);
          g_assert_cmpuint (pm_list_count (f), ==, count_before + 1);
        }
      else
        {
          g_dbus_error_strip_remote_error (error);
          /* The daemon's message, which names the key it refused. */
          assert_one_error_line (r, error->message);
          g_assert_cmpuint (pm_list_count (f), ==, count_before);
        }
    }
}

/* `start --ready line --ready-pattern`: the id is printed, and elife-pm
 * returns, only once the child printed the line; the child prints it when
 * the test creates a file, so "before" is a state the test holds. */
static void
test_start_ready_line (PmFixture *f, gconstpointer data)
{
  g_autofree char *go = pm_tmp_path (f, "go");
  g_autofree char *script = pm_write_script (f, "slow-up.sh",
      "#!/bin/sh\necho booting\nwhile [ ! -e \"$1\" ]; do sleep 0.02; done\n"
      "echo 'listening on 8080'\nexec sleep 1000\n", 0755);
  CliProc *cp = CLI_SPAWN (f, "start", "--name", "rl", "--ready", "line",
                           "--ready-pattern", "^listening on \\d+$", "--log", "rl.log",
                           script, go);
  g_autofree char *log = pm_tmp_path (f, "rl.log");
  g_autofree char *state = NULL;
  guint64 id = 0;
  guint32 listed = 0;

  /* Started, its first line written, not ready: elife-pm is still waiting. */
  g_assert_nonnull (pm_wait_for_signal (f, "Started", 0, PM_TEST_TIMEOUT_MS));
  wait_file_has (log, "rl: booting\n");
  {
    g_autoptr(GVariant) list = pm_list (f);
    GVariantIter iter;
    const char *st;

    g_variant_iter_init (&iter, list);
    g_assert_true (g_variant_iter_next (&iter, "(u&su&su)", &listed, NULL, NULL, &st, NULL));
    g_assert_cmpstr (st, ==, "starting");
  }
  pm_iterate_for (300);
  g_assert_nonnull (g_subprocess_get_identifier (cp->proc));
  g_assert_cmpuint (cp->lines->len, ==, 0);

  write_file (go, "");
  if (!pm_wait_for (proc_exited_cond, cp->proc, PM_TEST_TIMEOUT_MS * 2))
    g_error ("elife-pm start --ready line did not return after the line");
  /* Its output read to the end. */
  cli_proc_wait_line (cp, 0, "");
  g_assert_cmpuint (cp->lines->len, ==, 1);
  g_assert_true (g_ascii_string_to_unsigned (g_ptr_array_index (cp->lines, 0), 10, 1,
                                             G_MAXUINT32, &id, NULL));
  g_assert_cmpuint (id, ==, listed);
  g_assert_true (g_file_test (go, G_FILE_TEST_EXISTS));
  wait_file_has (log, "rl: listening on 8080\n");
  state = pm_get_string (f, (guint32) id, "State");
  g_assert_cmpstr (state, ==, "running");
  g_assert_nonnull (pm_wait_for_signal (f, "Ready", (guint32) id, PM_TEST_TIMEOUT_MS));
  g_assert_cmpint (cli_proc_interrupt (cp), ==, 0);
}

/* --start-timeout passing: exit 1, the daemon's StartTimeout message, nothing left. */
static void
test_start_ready_timeout (PmFixture *f, gconstpointer data)
{
  g_autoptr(CliResult) r = CLI (f, "start", "--name", "never", "--ready", "line",
                                "--ready-pattern", "^ready$", "--start-timeout", "500",
                                "--stop-timeout", "200", LONG_SCRIPT);
  PmSignal *started;

  assert_one_error_line (r, "was not ready within 500 ms (startTimeout) and was stopped");
  g_assert_cmpstr (r->out, ==, "");
  started = pm_wait_for_signal (f, "Started", 0, PM_TEST_TIMEOUT_MS);
  g_assert_nonnull (started);
  pm_assert_pid_dead (started->pid, PM_TEST_TIMEOUT_MS);
  g_assert_cmpuint (pm_list_count (f), ==, 0);
}

/* ---- stop, restart, stop-all ---------------------------------------------------- */

static void
test_stop_by_name_and_id (PmFixture *f, gconstpointer data)
{
  guint32 a1 = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'a'>}", LONG_SCRIPT), NULL);
  guint32 a2 = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'a'>}", LONG_SCRIPT), NULL);
  guint32 b = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'b'>}", LONG_SCRIPT), NULL);
  g_autofree char *bid = g_strdup_printf ("%u", b);
  g_autoptr(CliResult) r = CLI (f, "stop", "a");
  g_autoptr(CliResult) r2 = NULL;

  assert_status (r, 0);
  g_assert_cmpstr (r->out, ==, "Stopped 2 processes\n");
  g_assert_false (pm_list_lookup (f, a1, NULL, NULL, NULL, NULL));
  g_assert_false (pm_list_lookup (f, a2, NULL, NULL, NULL, NULL));
  r2 = CLI (f, "stop", bid);
  assert_status (r2, 0);
  g_assert_cmpstr (r2->out, ==, "Stopped 1 process\n");
  g_assert_cmpuint (pm_list_count (f), ==, 0);
}

static void
test_stop_several (PmFixture *f, gconstpointer data)
{
  guint32 id;
  g_autofree char *sid = NULL;
  g_autoptr(CliResult) r = NULL;

  pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'x'>}", LONG_SCRIPT), NULL);
  pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'y'>}", LONG_SCRIPT), NULL);
  id = pm_start_ok (f, pm_opts ("{'script': <%s>}", LONG_SCRIPT), NULL);
  sid = g_strdup_printf ("%u", id);
  r = CLI (f, "stop", "x", sid, "nobody", "y");
  /* Every target is tried; the missing one fails the command. */
  assert_status (r, 1);
  g_assert_cmpstr (r->out, ==, "Stopped 3 processes\n");
  g_assert_cmpstr (r->err, ==, "elife-pm: No process is named “nobody”\n");
  g_assert_cmpuint (pm_list_count (f), ==, 0);
}

static void
test_stop_not_found (PmFixture *f, gconstpointer data)
{
  g_autoptr(CliResult) name = CLI (f, "stop", "api");
  g_autoptr(CliResult) id = CLI (f, "stop", "42");
  g_autoptr(CliResult) rs = CLI (f, "restart", "api");
  g_autoptr(CliResult) st = CLI (f, "status", "api");
  g_autoptr(CliResult) lg = CLI (f, "logs", "7");

  /* The daemon's own message. */
  assert_one_error_line (name, "No process is named “api”");
  g_assert_cmpstr (name->out, ==, "");
  assert_one_error_line (id, "No process has id 42");
  assert_one_error_line (rs, "No process is named “api”");
  assert_one_error_line (st, "No process is named “api”");
  assert_one_error_line (lg, "No process has id 7");
}

static void
test_restart (PmFixture *f, gconstpointer data)
{
  guint32 pid1, pid2;
  guint32 a = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'a'>}", LONG_SCRIPT), &pid1);
  guint32 b = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'b'>}", LONG_SCRIPT), &pid2);
  g_autofree char *bid = g_strdup_printf ("%u", b);
  g_autoptr(CliResult) r = CLI (f, "restart", "a", bid);

  assert_status (r, 0);
  g_assert_cmpstr (r->out, ==, "Restarted 2 processes\n");
  g_assert_cmpuint (pm_get_uint (f, a, "Pid"), !=, pid1);
  g_assert_cmpuint (pm_get_uint (f, b, "Pid"), !=, pid2);
  g_assert_cmpuint (pm_get_uint (f, a, "Pid"), >, 0);
  g_assert_cmpuint (pm_list_count (f), ==, 2);
}

static void
test_stop_all (PmFixture *f, gconstpointer data)
{
  g_autoptr(CliResult) empty = CLI (f, "stop-all");
  g_autoptr(CliResult) r = NULL;

  assert_status (empty, 0);
  g_assert_cmpstr (empty->out, ==, "Stopped 0 processes\n");
  for (guint i = 0; i < 3; i++)
    pm_start_ok (f, pm_opts ("{'script': <%s>}", LONG_SCRIPT), NULL);
  r = CLI (f, "stop-all");
  assert_status (r, 0);
  g_assert_cmpstr (r->out, ==, "Stopped 3 processes\n");
  g_assert_cmpuint (pm_list_count (f), ==, 0);
}

/* ---- list and status ---------------------------------------------------------------- */

static void
test_list_table (PmFixture *f, gconstpointer data)
{
  guint32 pid;
  guint32 a = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'api'>}", LONG_SCRIPT), &pid);
  guint32 e = pm_start_ok (f, pm_opts ("{'script': <%s>, 'args': <['2']>, 'restart': <'never'>}",
                                       pm_data_file ("exit-with.sh")), NULL);
  g_autoptr(CliResult) r = NULL;
  g_auto(GStrv) lines = NULL;
  g_autoptr(GRegex) row_a = NULL;
  g_autoptr(GRegex) row_e = NULL;
  g_autofree char *re_a = NULL;
  g_autofree char *re_e = NULL;

  g_assert_nonnull (pm_wait_for_signal (f, "Exited", e, PM_TEST_TIMEOUT_MS));
  pm_iterate_for (50);
  r = CLI (f, "list");
  assert_status (r, 0);
  lines = g_strsplit (r->out, "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, 4);   /* header, 2 rows, "" */
  g_assert_true (g_regex_match_simple ("^ID +NAME +PID +STATE +RESTARTS +UPTIME +CPU +MEM$",
                                       lines[0], 0, 0));
  re_a = g_strdup_printf ("^ *%u +api +%u +running +0 +\\d+s +\\d+\\.\\d%% +\\d+(\\.\\d[KMG]|B)$", a, pid);
  row_a = g_regex_new (re_a, 0, 0, NULL);
  if (!g_regex_match (row_a, lines[1], 0, NULL))
    g_error ("row “%s” does not match %s", lines[1], re_a);
  re_e = g_strdup_printf ("^ *%u +- +- +exited +0 +- +- +-$", e);
  row_e = g_regex_new (re_e, 0, 0, NULL);
  if (!g_regex_match (row_e, lines[2], 0, NULL))
    g_error ("row “%s” does not match %s", lines[2], re_e);
  /* Columns line up: every row as long as the header's columns reach. */
  g_assert_cmpuint (strlen (lines[1]), ==, strlen (lines[2]));
}

static void
test_list_json (PmFixture *f, gconstpointer data)
{
  guint32 pid;
  guint32 a = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'api'>, 'args': <['x', 'y z']>}",
                                       LONG_SCRIPT), &pid);
  guint32 e = pm_start_ok (f, pm_opts ("{'script': <%s>, 'args': <['5']>, 'restart': <'never'>}",
                                       pm_data_file ("exit-with.sh")), NULL);
  g_autoptr(CliResult) r = NULL;
  g_autoptr(GVariant) arr = NULL;
  guint64 v, cpu_after;

  g_assert_nonnull (pm_wait_for_signal (f, "Exited", e, PM_TEST_TIMEOUT_MS));
  pm_iterate_for (50);
  r = CLI (f, "list", "--json");
  assert_status (r, 0);
  g_assert_true (proc_cpu_usec (pid, &cpu_after));
  arr = parse_json (r->out);
  g_assert_cmpuint (g_variant_n_children (arr), ==, 2);
  for (gsize i = 0; i < 2; i++)
    {
      g_autoptr(GVariant) boxed = g_variant_get_child_value (arr, i);
      g_autoptr(GVariant) obj = g_variant_get_variant (boxed);
      guint64 id;

      assert_object_matches (f, obj);
      g_assert_true (g_variant_lookup (obj, "id", "t", &id));
      g_assert_cmpuint (id, ==, i == 0 ? a : e);
      if (id == a)
        {
          /* Stats, as /proc has them. */
          g_assert_true (g_variant_lookup (obj, "cpuUsec", "t", &v));
          g_assert_cmpuint (v, <=, cpu_after);
          g_assert_true (g_variant_lookup (obj, "rssBytes", "t", &v));
          g_assert_cmpuint (v, >, 0);
          g_assert_cmpuint (v, <=, 4 * proc_rss_bytes (pid));
          g_assert_cmpuint (proc_rss_bytes (pid), <=, 4 * v);
        }
      else
        {
          g_assert_true (g_variant_lookup (obj, "cpuUsec", "t", &v));
          g_assert_cmpuint (v, ==, 0);
          g_assert_true (g_variant_lookup (obj, "exitCode", "t", &v));
          g_assert_cmpuint (v, ==, 5);
        }
    }
}

static void
test_list_json_empty (PmFixture *f, gconstpointer data)
{
  g_autoptr(CliResult) r = CLI (f, "list", "--json");
  g_autoptr(GVariant) arr = NULL;

  assert_status (r, 0);
  arr = parse_json (r->out);
  g_assert_cmpuint (g_variant_n_children (arr), ==, 0);
}

static void
test_list_cpu_share (PmFixture *f, gconstpointer data)
{
  /* A busy child: its CPU column is a share of one core, so 0–100%+ with
   * a decimal, and more than 0 once /proc says it used CPU. */
  g_autofree char *busy = pm_write_script (f, "busy.sh", "#!/bin/sh\nwhile :; do :; done\n", 0755);
  guint32 pid;
  guint64 cpu = 0;
  g_autoptr(CliResult) r = NULL;
  g_auto(GStrv) lines = NULL;
  g_auto(GStrv) cols = NULL;

  pm_start_ok (f, pm_opts ("{'script': <%s>}", busy), &pid);
  /* However slow the machine: wait on /proc, up to a minute. */
  for (gint64 end = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;
       cpu < 200000 && g_get_monotonic_time () < end;)
    {
      g_assert_true (proc_cpu_usec (pid, &cpu));
      pm_iterate_for (20);
    }
  g_assert_cmpuint (cpu, >=, 200000);
  r = CLI (f, "list");
  assert_status (r, 0);
  lines = g_strsplit (r->out, "\n", -1);
  cols = g_regex_split_simple (" +", g_strstrip (lines[1]), 0, 0);
  g_assert_cmpuint (g_strv_length (cols), ==, 8);
  g_assert_true (g_str_has_suffix (cols[6], "%"));
  g_assert_cmpfloat (g_ascii_strtod (cols[6], NULL), >, 0.0);
}

static void
test_status_human (PmFixture *f, gconstpointer data)
{
  guint32 pid;
  guint32 id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'api'>, 'args': <['1', '2']>}",
                                        LONG_SCRIPT), &pid);
  g_autofree char *sid = g_strdup_printf ("%u", id);
  g_autoptr(CliResult) r = CLI (f, "status", "api");
  g_autoptr(CliResult) r2 = CLI (f, "status", sid);
  g_autofree char *pid_line = g_strdup_printf ("Pid:           %u\n", pid);
  g_autofree char *script_line = g_strdup_printf ("Script:        %s\n", LONG_SCRIPT);
  g_autofree char *head = g_strdup_printf ("%u api\n", id);

  assert_status (r, 0);
  g_assert_true (g_str_has_prefix (r->out, head));
  assert_contains (r->out, "State:         running\n");
  assert_contains (r->out, pid_line);
  assert_contains (r->out, script_line);
  assert_contains (r->out, "Args:          1 2\n");
  assert_contains (r->out, "Started:       ");
  assert_contains (r->out, " ago)\n");
  assert_contains (r->out, "CPU:           ");
  assert_contains (r->out, "Memory:        ");
  assert_contains (r->out, "Log:           the daemon’s output\n");
  assert_contains (r->out, "Last exit:     none\n");
  assert_contains (r->out, "Next restart:  none\n");
  assert_contains (r->out, "Lost lines:    0\n");
  assert_status (r2, 0);
  g_assert_cmpstr (r2->out, !=, "");
}

static void
test_status_exit_and_next_restart (PmFixture *f, gconstpointer data)
{
  guint32 id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'crash'>, 'args': <['3']>,"
                                        " 'restartAt': <[uint32 3600000]>}",
                                        pm_data_file ("exit-with.sh")), NULL);
  g_autoptr(CliResult) r = NULL;

  g_assert_nonnull (pm_wait_for_signal (f, "Exited", id, PM_TEST_TIMEOUT_MS));
  pm_iterate_for (50);
  r = CLI (f, "status", "crash");
  assert_status (r, 0);
  assert_contains (r->out, "State:         backoff\n");
  assert_contains (r->out, "Last exit:     exit code 3\n");
  assert_contains (r->out, "Next restart:  ");
  assert_contains (r->out, "(in ");
  g_assert_null (strstr (r->out, "CPU:"));
}

static void
test_status_several_and_json (PmFixture *f, gconstpointer data)
{
  guint32 a = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'twin'>}", LONG_SCRIPT), NULL);
  guint32 b = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'twin'>}", LONG_SCRIPT), NULL);
  g_autoptr(CliResult) r = CLI (f, "status", "twin");
  g_autoptr(CliResult) j = CLI (f, "status", "twin", "--json");
  g_autofree char *ha = g_strdup_printf ("%u twin\n", a);
  g_autofree char *hb = g_strdup_printf ("\n\n%u twin\n", b);
  g_autoptr(GVariant) arr = NULL;

  assert_status (r, 0);
  assert_contains (r->out, ha);
  assert_contains (r->out, hb);
  assert_status (j, 0);
  arr = parse_json (j->out);
  g_assert_cmpuint (g_variant_n_children (arr), ==, 2);
  for (gsize i = 0; i < 2; i++)
    {
      g_autoptr(GVariant) boxed = g_variant_get_child_value (arr, i);
      g_autoptr(GVariant) obj = g_variant_get_variant (boxed);

      assert_object_matches (f, obj);
    }
}

/* ---- logs --------------------------------------------------------------------------- */

static void
test_logs_last_n (PmFixture *f, gconstpointer data)
{
  g_autofree char *script = counter_script (f);
  g_autofree char *log = pm_tmp_path (f, "c.log");
  g_autoptr(CliResult) start = CLI (f, "start", "--name", "c", "--log", "c.log", script, "30");
  g_autoptr(CliResult) def = NULL;
  g_autoptr(CliResult) five = NULL;
  g_autoptr(CliResult) zero = NULL;
  g_autoptr(CliResult) all = NULL;
  g_autoptr(GString) expect = g_string_new (NULL);

  parse_id (start);
  wait_file_has (log, "c: line 30\n");
  def = CLI (f, "logs", "c");
  for (guint i = 11; i <= 30; i++)
    g_string_append_printf (expect, "c: line %u\n", i);
  assert_status (def, 0);
  g_assert_cmpstr (def->out, ==, expect->str);
  five = CLI (f, "logs", "c", "-n", "5");
  assert_status (five, 0);
  g_assert_cmpstr (five->out, ==, "c: line 26\nc: line 27\nc: line 28\nc: line 29\nc: line 30\n");
  zero = CLI (f, "logs", "-n", "0", "c");
  assert_status (zero, 0);
  g_assert_cmpstr (zero->out, ==, "");
  all = CLI (f, "logs", "c", "--lines", "1000");
  assert_status (all, 0);
  g_assert_true (g_str_has_prefix (all->out, "c: line 1\nc: line 2\n"));
}

static void
test_logs_big_file (PmFixture *f, gconstpointer data)
{
  /* Far more than one read chunk (256 KiB): the tail is read backwards,
   * and a process with few lines in a big shared file still gets them. */
  g_autofree char *log = pm_tmp_path (f, "big.log");
  g_autofree char *script = pm_write_script (f, "big.sh",
      "#!/bin/sh\ni=1; while [ $i -le 20000 ]; do echo \"row $i ...............................\"; "
      "i=$((i+1)); done\nexec sleep 1000\n", 0755);
  g_autofree char *counter = counter_script (f);
  g_autoptr(CliResult) few = CLI (f, "start", "--name", "few", "--log", "big.log", counter, "3");
  g_autoptr(CliResult) start = NULL;
  g_autoptr(CliResult) r = NULL;
  g_autoptr(CliResult) rf = NULL;
  g_auto(GStrv) lines = NULL;

  parse_id (few);
  wait_file_has (log, "few: line 3\n");
  start = CLI (f, "start", "--name", "big", "--log", "big.log", script);
  parse_id (start);
  wait_file_has (log, "row 20000 ");
  r = CLI (f, "logs", "big", "-n", "12000");
  assert_status (r, 0);
  lines = g_strsplit (r->out, "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, 12001);
  for (guint i = 0; i < 12000; i++)
    {
      g_autofree char *want = g_strdup_printf ("big: row %u ", 8001 + i);
      if (!g_str_has_prefix (lines[i], want))
        g_error ("line %u is “%s”, expected “%s…”", i, lines[i], want);
    }
  rf = CLI (f, "logs", "few");
  assert_status (rf, 0);
  g_assert_cmpstr (rf->out, ==, "few: line 1\nfew: line 2\nfew: line 3\n");
}

static void
test_logs_shared_file (PmFixture *f, gconstpointer data)
{
  g_autofree char *log = pm_tmp_path (f, "shared.log");
  g_autofree char *script = counter_script (f);
  g_autoptr(CliResult) a = CLI (f, "start", "--name", "api", "--log", "shared.log", script, "10");
  g_autoptr(CliResult) b = CLI (f, "start", "--name", "ap", "--timestamps", "--log", "shared.log",
                                script, "10");
  g_autoptr(CliResult) c = CLI (f, "start", "--name", "api2", "--log", "shared.log", script, "10");
  g_autoptr(CliResult) la = NULL;
  g_autoptr(CliResult) lb = NULL;
  g_auto(GStrv) lines = NULL;

  parse_id (a);
  parse_id (b);
  parse_id (c);
  wait_file_has (log, "api: line 10\n");
  wait_file_has (log, "ap: line 10\n");
  wait_file_has (log, "api2: line 10\n");
  la = CLI (f, "logs", "api", "-n", "100");
  assert_status (la, 0);
  lines = g_strsplit (la->out, "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, 11);
  for (guint i = 0; i < 10; i++)
    {
      g_autofree char *want = g_strdup_printf ("api: line %u", i + 1);
      g_assert_cmpstr (lines[i], ==, want);
    }
  /* A stamped process's lines are found behind their time stamps. */
  lb = CLI (f, "logs", "ap", "-n", "3");
  assert_status (lb, 0);
  g_assert_true (g_regex_match_simple ("^(\\S+ ap: line (8|9|10)\n){3}$", lb->out, 0, 0));
}

static void
test_logs_no_file (PmFixture *f, gconstpointer data)
{
  g_autoptr(CliResult) s = CLI (f, "start", "--name", "quiet", LONG_SCRIPT);
  g_autoptr(CliResult) r = NULL;

  parse_id (s);
  r = CLI (f, "logs", "quiet");
  assert_one_error_line (r, "quiet has no log file: its lines go to the daemon’s standard output");
}

static void
test_logs_follow (PmFixture *f, gconstpointer data)
{
  g_autofree char *log = pm_tmp_path (f, "f.log");
  g_autofree char *trigger = pm_tmp_path (f, "go");
  g_autofree char *script = counter_script (f);
  g_autoptr(CliResult) s = CLI (f, "start", "--name", "fw", "--log", "f.log", script, "5", trigger);
  CliProc *cp;
  guint at;

  parse_id (s);
  wait_file_has (log, "fw: line 5\n");
  cp = CLI_SPAWN (f, "logs", "fw", "-n", "2", "-f");
  at = cli_proc_wait_line (cp, 0, "fw: line 4");
  g_assert_cmpuint (at, ==, 0);
  write_file (trigger, "");
  at = cli_proc_wait_line (cp, at, "fw: more 5");
  g_assert_cmpuint (at, ==, 6);
  g_assert_cmpstr (g_ptr_array_index (cp->lines, 2), ==, "fw: more 1");
  g_assert_cmpint (cli_proc_interrupt (cp), ==, 0);
}

static void
test_logs_follow_reopen (PmFixture *f, gconstpointer data)
{
  g_autofree char *log = pm_tmp_path (f, "r.log");
  g_autofree char *old = pm_tmp_path (f, "r.log.1");
  g_autofree char *trigger = pm_tmp_path (f, "go");
  g_autofree char *script = counter_script (f);
  g_autoptr(CliResult) s = CLI (f, "start", "--name", "rot", "--log", "r.log", script, "5", trigger);
  g_autoptr(CliResult) reopen = NULL;
  g_autofree char *fresh = NULL;
  CliProc *cp;
  guint at;

  parse_id (s);
  wait_file_has (log, "rot: line 5\n");
  cp = CLI_SPAWN (f, "logs", "rot", "-f", "-n", "1");
  at = cli_proc_wait_line (cp, 0, "rot: line 5");
  /* logrotate's create mode: rename, then ReopenLogs through the CLI. */
  g_assert_cmpint (g_rename (log, old), ==, 0);
  reopen = CLI (f, "reopen-logs");
  assert_status (reopen, 0);
  g_assert_cmpstr (reopen->out, ==, "");
  write_file (trigger, "");
  wait_file_has (log, "rot: more 5\n");
  at = cli_proc_wait_line (cp, at, "rot: more 5");
  for (guint i = 1; i <= 5; i++)
    {
      g_autofree char *want = g_strdup_printf ("rot: more %u", i);
      g_assert_cmpstr (g_ptr_array_index (cp->lines, i), ==, want);
    }
  /* The new lines are in the new file, none in the old. */
  fresh = pm_read_file (old);
  g_assert_null (strstr (fresh, "more"));
  g_assert_cmpint (cli_proc_interrupt (cp), ==, 0);
}

static void
test_logs_follow_new_inode (PmFixture *f, gconstpointer data)
{
  g_autofree char *log = pm_tmp_path (f, "n.log");
  g_autofree char *tmp = pm_tmp_path (f, "n.log.new");
  g_autofree char *counter = counter_script (f);
  g_autoptr(CliResult) s = CLI (f, "start", "--name", "ino", "--log", "n.log", counter, "3");
  CliProc *cp;
  guint at;

  parse_id (s);
  wait_file_has (log, "ino: line 3\n");
  cp = CLI_SPAWN (f, "logs", "ino", "-f");
  at = cli_proc_wait_line (cp, 0, "ino: line 3");
  /* Another file takes the path (what any rotation does). */
  write_file (tmp, "ino: replaced 1\nother: not mine\nino: replaced 2\n");
  g_assert_cmpint (g_rename (tmp, log), ==, 0);
  at = cli_proc_wait_line (cp, at + 1, "ino: replaced 2");
  g_assert_cmpstr (g_ptr_array_index (cp->lines, at - 1), ==, "ino: replaced 1");
  /* Then it grows. */
  {
    FILE *fp = fopen (log, "a");
    g_assert_nonnull (fp);
    fputs ("ino: appended\n", fp);
    fclose (fp);
  }
  cli_proc_wait_line (cp, at + 1, "ino: appended");
  g_assert_cmpint (cli_proc_interrupt (cp), ==, 0);
}

/* A child that prints bursts of numbered lines, "seq 00001 ....": the first
 * burst at once, burst k once the file DIR/go.k exists, then runs on. */
static char *
burst_script (PmFixture *f)
{
  return pm_write_script (f, "burst.sh",
      "#!/bin/sh\n"
      "dir=$1; bursts=$2; per=$3; n=0; b=0\n"
      "while [ $b -le $bursts ]; do\n"
      "  if [ $b -gt 0 ]; then while [ ! -e \"$dir/go.$b\" ]; do sleep 0.02; done; fi\n"
      "  i=0; while [ $i -lt $per ]; do n=$((n+1));\n"
      "    printf 'seq %05d ........................................\\n' $n; i=$((i+1)); done\n"
      "  b=$((b+1))\n"
      "done\n"
      "exec sleep 1000\n", 0755);
}

static char *
seq_line (const char *name, guint n)
{
  return g_strdup_printf ("%s: seq %05u ........................................", name, n);
}

typedef struct
{
  guint       bursts;
  guint       per_burst;     /* lines of 55 bytes */
  const char *backups;
  guint       min_rotations;
} FollowRotation;

/* 12 bursts of 1375 bytes, about a third of logMaxBytes: the next burst
 * comes once -f printed the last, so at most one rotation happens between
 * two looks at the path. */
static const FollowRotation follow_small_bursts = { 12, 25, "2", 3 };
/* 3 bursts of 11 KB, more than twice logMaxBytes: several rotations between
 * two looks (and within one batch); -f finds the files in between among
 * the backups. */
static const FollowRotation follow_big_bursts = { 3, 200, "5", 6 };

typedef struct
{
  PmFixture *f;
  guint32    id;
  guint      min;
} RotationWait;

static gboolean
rotations_cond (gpointer data)
{
  RotationWait *w = data;

  return pm_get_u64 (w->f, w->id, "LogRotations") >= w->min;
}

/* `logs -f` follows the daemon's own rotation (logMaxBytes, logBackups):
 * every line written after it started, once and in order, across several
 * rotations; `logs -n` after them shows the latest lines. */
static void
test_logs_follow_rotation (PmFixture *f, gconstpointer data)
{
  const FollowRotation *fr = data;
  g_autofree char *log = pm_tmp_path (f, "rt.log");
  g_autofree char *log1 = pm_tmp_path (f, "rt.log.1");
  g_autofree char *script = burst_script (f);
  g_autofree char *bursts = g_strdup_printf ("%u", fr->bursts);
  g_autofree char *per = g_strdup_printf ("%u", fr->per_burst);
  g_autoptr(CliResult) s = CLI (f, "start", "--name", "rt", "--log", "rt.log",
                                "--log-max-bytes", "4096", "--log-backups", fr->backups,
                                script, f->tmpdir, bursts, per);
  g_autofree char *first_last = seq_line ("rt", fr->per_burst);
  g_autofree char *no_more = g_strdup_printf ("%s.%u", log,
                                              (guint) g_ascii_strtoull (fr->backups, NULL, 10) + 1);
  guint total = fr->bursts * fr->per_burst;
  guint last_n = (fr->bursts + 1) * fr->per_burst;
  g_autoptr(CliResult) tail = NULL;
  g_autoptr(GString) want_tail = g_string_new (NULL);
  guint32 id = parse_id (s);
  guint64 rotations;
  CliProc *cp;
  guint at = 0;

  wait_file_has (log, first_last);
  /* Of the first burst only its last line (-n 1), then what comes after:
   * the next burst waits until -f has printed that line, so it cannot come
   * before -f has found the file's end (a slow daemon, under valgrind,
   * answers the CLI's first calls after a burst's time). */
  cp = CLI_SPAWN (f, "logs", "rt", "-n", "1", "-f");
  at = cli_proc_wait_line (cp, 0, first_last);
  g_assert_cmpuint (at, ==, 0);
  for (guint b = 1; b <= fr->bursts; b++)
    {
      g_autofree char *go = g_strdup_printf ("%s/go.%u", f->tmpdir, b);
      g_autofree char *last = seq_line ("rt", (b + 1) * fr->per_burst);

      write_file (go, "");
      at = cli_proc_wait_line (cp, at, last);
    }
  /* The count follows the writes, from the main loop: wait for it. */
  {
    RotationWait w = { f, id, fr->min_rotations };

    if (!pm_wait_for (rotations_cond, &w, PM_TEST_TIMEOUT_MS))
      g_error ("LogRotations stayed at %" G_GUINT64_FORMAT ", below %u",
               pm_get_u64 (f, id, "LogRotations"), fr->min_rotations);
  }
  rotations = pm_get_u64 (f, id, "LogRotations");
  pm_report ("%" G_GUINT64_FORMAT " rotations while following", rotations);
  g_assert_true (g_file_test (log1, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (no_more, G_FILE_TEST_EXISTS));
  /* Every line once, in order. */
  for (guint i = 0; i < cp->lines->len && i <= total; i++)
    {
      g_autofree char *want = seq_line ("rt", fr->per_burst + i);

      if (!g_str_equal (g_ptr_array_index (cp->lines, i), want))
        g_error ("line %u of logs -f is “%s”, expected “%s”", i,
                 (char *) g_ptr_array_index (cp->lines, i), want);
    }
  g_assert_cmpuint (cp->lines->len, ==, total + 1);
  /* Nothing more comes (no line printed twice late). */
  pm_iterate_for (300);
  g_assert_cmpuint (cp->lines->len, ==, total + 1);
  g_assert_cmpint (cli_proc_interrupt (cp), ==, 0);

  /* -n: the latest lines, from the file at the path. */
  tail = CLI (f, "logs", "rt", "-n", "5");
  assert_status (tail, 0);
  for (guint n = last_n - 4; n <= last_n; n++)
    {
      g_autofree char *line = seq_line ("rt", n);

      g_string_append_printf (want_tail, "%s\n", line);
    }
  g_assert_cmpstr (tail->out, ==, want_tail->str);
}

/* ---- monitor ------------------------------------------------------------------------ */

static void
test_monitor (PmFixture *f, gconstpointer data)
{
  CliProc *cp = CLI_SPAWN (f, "monitor");
  guint32 pid;
  guint32 id;
  g_autofree char *started = NULL;
  g_autofree char *exited = NULL;
  g_autofree char *stopping = NULL;
  g_autoptr(GError) error = NULL;
  guint at;

  cli_proc_wait_line (cp, 0, "EVENT");
  id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'mon'>, 'stopTimeout': <uint32 50>}",
                                LONG_SCRIPT), &pid);
  started = g_strdup_printf ("%u  mon               %7u  started", id, pid);
  at = cli_proc_wait_line (cp, 1, started);
  g_assert_true (g_regex_match_simple ("^\\d\\d:\\d\\d:\\d\\d\\.\\d{3}  ",
                                       g_ptr_array_index (cp->lines, at), 0, 0));
  cli_proc_wait_line (cp, 1, "added: running");
  pm_stop (f, "mon", &error);
  g_assert_no_error (error);
  stopping = g_strdup_printf ("%u  mon               %7u  stopping", id, pid);
  cli_proc_wait_line (cp, at, stopping);
  cli_proc_wait_line (cp, at, "state: stopping");
  exited = g_strdup_printf ("%u  mon               %7u  exited: killed by signal 15", id, pid);
  cli_proc_wait_line (cp, at, exited);
  cli_proc_wait_line (cp, at, "removed");
  g_assert_cmpint (cli_proc_interrupt (cp), ==, 0);
}

static void
test_monitor_daemon_leaves (PmFixture *f, gconstpointer data)
{
  CliProc *cp = CLI_SPAWN (f, "monitor");

  cli_proc_wait_line (cp, 0, "EVENT");
  pm_fixture_stop_daemon (f);
  if (!pm_wait_for (proc_exited_cond, cp->proc, PM_TEST_TIMEOUT_MS))
    g_error ("monitor did not end when the daemon left");
  g_assert_cmpint (cli_proc_interrupt (cp), ==, 1);
}

/* ---- apply -------------------------------------------------------------------------- */

static char *
write_apps (PmFixture *f)
{
  g_autofree char *dir = pm_tmp_path (f, "conf");
  g_autofree char *ini = g_build_filename (dir, "apps.ini", NULL);
  g_autofree char *svc = NULL;

  g_mkdir (dir, 0755);
  svc = pm_write_script (f, "conf/svc.sh",
      "#!/bin/sh\necho \"$ELIFE_PM_NAME $* $GREETING\"\nexec sleep 1000\n", 0755);
  write_file (ini,
      "# the app's services\n"
      "[api]\n"
      "script=svc.sh\n"
      "args=--port;8080\n"
      "env=GREETING=hi;OTHER=x=y\n"
      "log=apps.log\n"
      "restartAt=100;500\n"
      "stopTimeout=100\n"
      "\n"
      "[worker]\n"
      "script=svc.sh\n"
      "log=apps.log\n"
      "stripANSI=true\n");
  return g_steal_pointer (&ini);
}

static void
test_apply (PmFixture *f, gconstpointer data)
{
  g_autofree char *ini = write_apps (f);
  g_autofree char *dir = g_path_get_dirname (ini);
  g_autofree char *script = g_build_filename (dir, "svc.sh", NULL);
  g_autofree char *log = g_build_filename (dir, "apps.log", NULL);
  g_autoptr(CliResult) r = CLI (f, "apply", "conf/apps.ini");
  g_autoptr(GVariant) list = NULL;
  GVariantIter iter;
  guint32 id, pid, restarts;
  const char *name, *state;

  assert_status (r, 0);
  g_assert_true (g_regex_match_simple ("^api: \\d+\nworker: \\d+\n$", r->out, 0, 0));
  list = pm_list (f);
  g_assert_cmpuint (pm_list_count (f), ==, 2);
  {
    g_variant_iter_init (&iter, list);
    while (g_variant_iter_next (&iter, "(u&su&su)", &id, &name, &pid, &state, &restarts))
      {
        g_autofree char *s = pm_get_string (f, id, "Script");
        g_autofree char *c = pm_get_string (f, id, "Cwd");
        g_autofree char *l = pm_get_string (f, id, "Log");

        g_assert_cmpstr (s, ==, script);
        g_assert_cmpstr (c, ==, dir);
        g_assert_cmpstr (l, ==, log);
      }
  }
  wait_file_has (log, "api: api --port 8080 hi\n");
  wait_file_has (log, "worker: worker  \n");
}

static void
test_apply_twice (PmFixture *f, gconstpointer data)
{
  g_autofree char *ini = write_apps (f);
  g_autoptr(CliResult) r1 = CLI (f, "apply", ini);
  g_autoptr(CliResult) r2 = NULL;
  g_autoptr(GVariant) before = NULL;
  g_autoptr(GVariant) after = NULL;
  guint32 api1 = 0, worker1 = 0, api2 = 0, worker2 = 0;

  assert_status (r1, 0);
  g_assert_cmpint (sscanf (r1->out, "api: %u\nworker: %u\n", &api1, &worker1), ==, 2);
  r2 = CLI (f, "apply", ini);
  assert_status (r2, 0);
  g_assert_cmpint (sscanf (r2->out, "api: %u\nworker: %u\n", &api2, &worker2), ==, 2);
  /* The same set, replaced: the old ids are gone, no duplicate names. */
  g_assert_cmpuint (pm_list_count (f), ==, 2);
  g_assert_false (pm_list_lookup (f, api1, NULL, NULL, NULL, NULL));
  g_assert_false (pm_list_lookup (f, worker1, NULL, NULL, NULL, NULL));
  {
    g_autofree char *n1 = NULL, *n2 = NULL;

    g_assert_true (pm_list_lookup (f, api2, &n1, NULL, NULL, NULL));
    g_assert_true (pm_list_lookup (f, worker2, &n2, NULL, NULL, NULL));
    g_assert_cmpstr (n1, ==, "api");
    g_assert_cmpstr (n2, ==, "worker");
  }
  g_assert_nonnull (pm_wait_for_signal (f, "Exited", api1, PM_TEST_TIMEOUT_MS));
  g_assert_nonnull (pm_wait_for_signal (f, "Exited", worker1, PM_TEST_TIMEOUT_MS));
}

static void
test_apply_leaves_others (PmFixture *f, gconstpointer data)
{
  g_autofree char *ini = write_apps (f);
  guint32 other = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'other'>}", LONG_SCRIPT), NULL);
  g_autoptr(CliResult) r = CLI (f, "apply", ini);

  assert_status (r, 0);
  g_assert_cmpuint (pm_list_count (f), ==, 3);
  g_assert_true (pm_list_lookup (f, other, NULL, NULL, NULL, NULL));
}

static void
test_apply_bad_files (PmFixture *f, gconstpointer data)
{
  g_autofree char *ini = pm_tmp_path (f, "bad.ini");
  g_autofree char *svc = pm_write_script (f, "ok.sh", "#!/bin/sh\nexec sleep 1000\n", 0755);
  const struct { const char *text; const char *needle; } cases[] = {
    { "[good]\nscript=ok.sh\n[bad]\nscript=ok.sh\nstopTimeout=soon\n",
      "bad.ini: [bad] stopTimeout: “soon” is not a number" },
    { "[good]\nscript=ok.sh\n[bad]\nscript=ok.sh\nscrpt=x\n", "bad.ini: [bad] scrpt: unknown key" },
    { "[good]\nscript=ok.sh\n[bad]\nargs=1\n", "bad.ini: [bad] script: missing" },
    { "[good]\nscript=ok.sh\n[bad]\nscript=missing.sh\n", "[bad] script: " },
    { "[good]\nscript=ok.sh\n[bad]\nscript=ok.sh\ncwd=nowhere\n", "[bad] cwd: " },
    { "[good]\nscript=ok.sh\n[bad]\nscript=ok.sh\nclearEnv=maybe\n", "[bad] clearEnv: “maybe” is not true or false" },
    { "[good]\nscript=ok.sh\n[bad]\nscript=ok.sh\nrestartAt=1;2;x\n", "[bad] restartAt: “x”" },
    { "[good]\nscript=ok.sh\n[bad]\nscript=ok.sh\nenv=NOEQ\n", "[bad] env: “NOEQ”" },
    { "[good]\nscript=ok.sh\n[bad]\nscript=ok.sh\nname=x\n", "[bad] name: not allowed" },
    { "[good\nscript=ok.sh\n", "bad.ini: " },
    { "script=ok.sh\n", "bad.ini: " },
    { "", "no [NAME] group" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(CliResult) r = NULL;

      write_file (ini, cases[i].text);
      r = CLI (f, "apply", "bad.ini");
      assert_one_error_line (r, cases[i].needle);
      g_assert_cmpstr (r->out, ==, "");
      /* Nothing started, not even the good group before the bad one. */
      g_assert_cmpuint (pm_list_count (f), ==, 0);
      g_assert_cmpuint (pm_count_signals (f, "Started", 0), ==, 0);
    }
  {
    g_autoptr(CliResult) r = CLI (f, "apply", "no-such.ini");
    assert_one_error_line (r, "no-such.ini: ");
  }
}

static void
test_apply_daemon_refuses (PmFixture *f, gconstpointer data)
{
  /* The daemon refuses the second group (its log cannot be opened): the
   * first, started by this run, is stopped again. */
  g_autofree char *ini = pm_tmp_path (f, "refused.ini");
  g_autofree char *svc = pm_write_script (f, "ok.sh", "#!/bin/sh\nexec sleep 1000\n", 0755);
  g_autoptr(CliResult) r = NULL;

  g_autofree char *adir = pm_tmp_path (f, "adir");

  /* A directory cannot be a log file. */
  g_assert_cmpint (g_mkdir (adir, 0755), ==, 0);
  write_file (ini, "[first]\nscript=ok.sh\n[second]\nscript=ok.sh\nlog=adir\n");
  r = CLI (f, "apply", ini);
  assert_one_error_line (r, "[second] ");
  assert_contains (r->err, adir);
  g_assert_cmpuint (pm_list_count (f), ==, 0);
}

/* ---- reopen-logs, version ----------------------------------------------------------- */

static void
test_reopen_logs (PmFixture *f, gconstpointer data)
{
  g_autofree char *log = pm_tmp_path (f, "o.log");
  g_autofree char *old = pm_tmp_path (f, "o.log.1");
  g_autofree char *trigger = pm_tmp_path (f, "go");
  g_autofree char *counter = counter_script (f);
  g_autoptr(CliResult) s = CLI (f, "start", "--name", "o", "--log", "o.log", counter, "2", trigger);
  g_autoptr(CliResult) r = NULL;
  g_autofree char *text = NULL;

  parse_id (s);
  wait_file_has (log, "o: line 2\n");
  g_assert_cmpint (g_rename (log, old), ==, 0);
  r = CLI (f, "reopen-logs");
  assert_status (r, 0);
  g_assert_true (g_file_test (log, G_FILE_TEST_EXISTS));
  write_file (trigger, "");
  wait_file_has (log, "o: more 2\n");
  text = pm_read_file (old);
  g_assert_cmpstr (text, ==, "o: line 1\no: line 2\n");
}

static void
test_version (PmFixture *f, gconstpointer data)
{
  g_autoptr(CliResult) r = CLI (f, "version");

  assert_status (r, 0);
  g_assert_cmpstr (r->out, ==, "elife-pm " PM_TEST_EXPECTED_VERSION "\nelife-pmd "
                   PM_TEST_EXPECTED_VERSION "\n");
}

/* ---- bash completion ---------------------------------------------------------------- */

/* What the completion offers for @line (the last word being completed),
 * with this build's elife-pm first on PATH and the fixture's bus. */
static char *
complete (PmFixture *f, const char *line)
{
  g_autofree char *script = g_test_build_filename (G_TEST_DIST, "..", "data",
                                                   "elife-pm.bash-completion", NULL);
  g_autofree char *bindir = g_path_get_dirname (ELIFE_PM_CLI_PATH);
  g_autofree char *path = g_strdup_printf ("%s:%s", bindir, g_getenv ("PATH"));
  g_autofree char *cmd = g_strdup_printf (
      "source '%s'; COMP_LINE='%s'; read -ra COMP_WORDS <<< \"$COMP_LINE\"; "
      "[[ \"$COMP_LINE\" == *' ' ]] && COMP_WORDS+=(''); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); "
      "_elife_pm; printf '%%s\\n' \"${COMPREPLY[@]}\" | sort", script, line);
  g_autoptr(GSubprocessLauncher) l = cli_launcher (f, G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                                      G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autoptr(GSubprocess) p = NULL;
  g_autoptr(GError) error = NULL;
  char *out = NULL;

  g_subprocess_launcher_setenv (l, "PATH", path, TRUE);
  p = g_subprocess_launcher_spawn (l, &error, "bash", "--norc", "-c", cmd, NULL);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (p, NULL, NULL, &out, NULL, &error);
  g_assert_no_error (error);
  g_subprocess_wait (p, NULL, NULL);
  return out;
}

static void
test_completion_commands (PmFixture *f, gconstpointer data)
{
  g_autofree char *all = complete (f, "elife-pm ");
  g_autofree char *st = complete (f, "elife-pm st");
  g_autofree char *bus = complete (f, "elife-pm --sy");

  for (guint i = 0; commands[i]; i++)
    {
      g_autofree char *line = g_strdup_printf ("%s\n", commands[i]);
      assert_contains (all, line);
    }
  g_assert_cmpstr (st, ==, "start\nstatus\nstop\nstop-all\n");
  g_assert_cmpstr (bus, ==, "--system\n");
}

static void
test_completion_options (PmFixture *f, gconstpointer data)
{
  g_autofree char *start = complete (f, "elife-pm start --restart-");
  g_autofree char *policy = complete (f, "elife-pm start --restart ");
  g_autofree char *logs = complete (f, "elife-pm logs --f");
  g_autofree char *list = complete (f, "elife-pm list --");

  g_assert_cmpstr (start, ==, "--restart-at\n--restart-ok\n");
  g_assert_cmpstr (policy, ==, "always\nnever\non-failure\n");
  g_assert_cmpstr (logs, ==, "--follow\n");
  assert_contains (list, "--json\n");
  assert_contains (list, "--address\n");
}

static void
test_completion_names (PmFixture *f, gconstpointer data)
{
  guint32 a = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'alpha'>}", LONG_SCRIPT), NULL);
  g_autofree char *names = NULL;
  g_autofree char *want = NULL;

  pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'beta'>}", LONG_SCRIPT), NULL);
  names = complete (f, "elife-pm stop ");
  want = g_strdup_printf ("%u\n%u\nalpha\nbeta\n", a, a + 1);
  g_assert_cmpstr (names, ==, want);
  g_clear_pointer (&names, g_free);
  names = complete (f, "elife-pm logs al");
  g_assert_cmpstr (names, ==, "alpha\n");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  pm_test_init ();

  pm_test_add ("/cli/help/tool", test_help_tool, NULL);
  pm_test_add ("/cli/help/every-command", test_help_commands, NULL);
  pm_test_add ("/cli/usage/exit-2", test_usage_errors, NULL);
  pm_test_add ("/cli/bus/env-address", test_bus_env_address, NULL);
  pm_test_add ("/cli/bus/address-flag", test_bus_address_flag, NULL);
  pm_test_add ("/cli/bus/session-default", test_bus_session_default, NULL);
  pm_test_add ("/cli/bus/session-flag-over-env", test_bus_session_flag, NULL);
  pm_test_add ("/cli/bus/system-flag", test_bus_system_flag, NULL);
  pm_test_add ("/cli/bus/no-daemon", test_bus_no_daemon, NULL);
  pm_test_add ("/cli/bus/unreachable", test_bus_unreachable, NULL);
  pm_test_add ("/cli/start/prints-id", test_start_prints_id, NULL);
  pm_test_add ("/cli/start/relative-paths-from-here", test_start_relative, NULL);
  pm_test_add ("/cli/start/cwd-flag", test_start_cwd_flag, NULL);
  pm_test_add ("/cli/start/args", test_start_args, NULL);
  pm_test_add ("/cli/start/env-and-clear-env", test_start_env, NULL);
  pm_test_add ("/cli/start/restart-flags", test_start_restart_flags, NULL);
  pm_test_add ("/cli/start/strip-ansi-and-timestamps", test_start_log_flags, NULL);
  pm_test_add ("/cli/start/stop-timeout-and-interpreter", test_start_stop_timeout_and_interpreter, NULL);
  pm_test_add ("/cli/start/replace", test_start_replace, NULL);
  pm_test_add ("/cli/start/stop-with-caller", test_start_stop_with_caller, NULL);
  pm_test_add ("/cli/start/stop-with-caller-returns", test_start_stop_with_caller_returns, NULL);
  pm_test_add ("/cli/start/readiness-and-rotation-options", test_start_newer_options, NULL);
  pm_test_add ("/cli/start/ready-line-waits", test_start_ready_line, NULL);
  pm_test_add ("/cli/start/start-timeout", test_start_ready_timeout, NULL);
  pm_test_add ("/cli/stop/by-name-and-id", test_stop_by_name_and_id, NULL);
  pm_test_add ("/cli/stop/several-targets", test_stop_several, NULL);
  pm_test_add ("/cli/stop/not-found", test_stop_not_found, NULL);
  pm_test_add ("/cli/restart/by-name-and-id", test_restart, NULL);
  pm_test_add ("/cli/stop-all/count", test_stop_all, NULL);
  pm_test_add ("/cli/list/table", test_list_table, NULL);
  pm_test_add ("/cli/list/json", test_list_json, NULL);
  pm_test_add ("/cli/list/json-empty", test_list_json_empty, NULL);
  pm_test_add ("/cli/list/cpu-share", test_list_cpu_share, NULL);
  pm_test_add ("/cli/status/human", test_status_human, NULL);
  pm_test_add ("/cli/status/exit-and-next-restart", test_status_exit_and_next_restart, NULL);
  pm_test_add ("/cli/status/several-and-json", test_status_several_and_json, NULL);
  pm_test_add ("/cli/logs/last-n", test_logs_last_n, NULL);
  pm_test_add ("/cli/logs/big-file", test_logs_big_file, NULL);
  pm_test_add ("/cli/logs/shared-file-own-lines", test_logs_shared_file, NULL);
  pm_test_add ("/cli/logs/no-log-file", test_logs_no_file, NULL);
  pm_test_add ("/cli/logs/follow", test_logs_follow, NULL);
  pm_test_add ("/cli/logs/follow-across-reopen-logs", test_logs_follow_reopen, NULL);
  pm_test_add ("/cli/logs/follow-across-new-inode", test_logs_follow_new_inode, NULL);
  pm_test_add ("/cli/logs/follow-across-rotation", test_logs_follow_rotation, &follow_small_bursts);
  pm_test_add ("/cli/logs/follow-across-rotations-in-one-burst", test_logs_follow_rotation,
               &follow_big_bursts);
  pm_test_add ("/cli/monitor/events", test_monitor, NULL);
  pm_test_add ("/cli/monitor/daemon-leaves", test_monitor_daemon_leaves, NULL);
  pm_test_add ("/cli/apply/starts-every-group", test_apply, NULL);
  pm_test_add ("/cli/apply/twice-replaces", test_apply_twice, NULL);
  pm_test_add ("/cli/apply/leaves-others", test_apply_leaves_others, NULL);
  pm_test_add ("/cli/apply/bad-files-start-nothing", test_apply_bad_files, NULL);
  pm_test_add ("/cli/apply/daemon-refusal-rolls-back", test_apply_daemon_refuses, NULL);
  pm_test_add ("/cli/reopen-logs", test_reopen_logs, NULL);
  pm_test_add ("/cli/version", test_version, NULL);
  pm_test_add ("/cli/completion/commands", test_completion_commands, NULL);
  pm_test_add ("/cli/completion/options", test_completion_options, NULL);
  pm_test_add ("/cli/completion/process-names", test_completion_names, NULL);

  return g_test_run ();
}
