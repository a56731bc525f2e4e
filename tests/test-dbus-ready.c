/* test-dbus-ready.c — readiness and the watchdog (issue 14) on the real
 * elife-pmd: the three protocols (a hand-written sd_notify client in
 * python, node's process.send, a shell child printing a line), Start and
 * Restart answering only once the child is ready, StatusText, forged notify
 * datagrams, StartFailed and StartTimeout leaving nothing behind, readiness
 * timeouts in the backoff schedule, restartOk from readiness, and the
 * watchdog.
 *
 * "After the readiness point, not before" is shown without timing: each
 * child waits for a go file the test creates, writes a marker just before it
 * says it is ready, and the test checks that Start has not answered while
 * the go file is missing, and that the marker exists when the answer comes. */
#include "pm-test-util.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <glib/gstdio.h>

#define PM_TEST_ERROR_START_FAILED  "org.elife.ProcessManager.Error.StartFailed"
#define PM_TEST_ERROR_START_TIMEOUT "org.elife.ProcessManager.Error.StartTimeout"
#define PM_TEST_ERROR_FAILED        "org.elife.ProcessManager.Error.Failed"

/* Signals are timed when dispatched here: slack on lower bounds from them. */
#define SLACK_MS 20

#define NOTIFY_SCRIPT  pm_data_file ("ready-notify.py")
#define MESSAGE_SCRIPT pm_data_file ("ready-message.js")
#define LINE_SCRIPT    pm_data_file ("ready-line.sh")

/* ---- helpers ------------------------------------------------------------ */

/* How long "nothing happens" is watched: long enough for a daemon that
 * answered early to be caught, scaled for slow tools. */
static guint
quiet_ms (void)
{
  const char *slow = g_getenv ("ELIFE_PM_TEST_SLOW");
  guint factor = slow ? (guint) MAX (1, g_ascii_strtoull (slow, NULL, 10)) : 1;

  return 300 * factor;
}

static PmPendingCall *
start_begin (PmFixture *f, GVariant *opts)
{
  return pm_call_begin (f, PM_TEST_PATH, PM_TEST_IFACE, "Start",
                        g_variant_new_tuple (&opts, 1), "(u)");
}

static guint32
start_end (PmPendingCall *call, GError **error)
{
  g_autoptr(GVariant) reply = pm_call_end (call, error);
  guint32 id = 0;

  if (reply != NULL)
    g_variant_get (reply, "(u)", &id);
  return id;
}

/* The id of the one process being started (Start has not answered yet). */
static guint32
starting_id (PmFixture *f, guint32 *pid_out)
{
  PmSignal *started = pm_wait_for_signal (f, "Started", 0, PM_TEST_TIMEOUT_MS);

  g_assert_nonnull (started);
  if (pid_out != NULL)
    *pid_out = started->pid;
  return started->id;
}

/* The child runs and Start has not answered: it waits for the go file. */
static void
assert_still_starting (PmFixture *f, PmPendingCall *call, guint32 id)
{
  g_autofree gchar *state = NULL;

  pm_iterate_for (quiet_ms ());
  g_assert_false (pm_call_is_done (call));
  g_assert_true (pm_list_lookup (f, id, NULL, NULL, &state, NULL));
  g_assert_cmpstr (state, ==, "starting");
  g_assert_cmpint (pm_find_signal (f, 0, "Ready", id), <, 0);
}

/* Lets the child get ready, and checks that Start answers after it did:
 * the marker (written just before the child said so) exists by then, and
 * Ready was emitted first. Returns the id. */
static guint32
go_and_expect_ready (PmFixture *f, PmPendingCall *call, const char *go, const char *marker)
{
  g_autoptr(GError) error = NULL;
  guint32 id;
  gint ready;

  g_assert_false (g_file_test (marker, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_set_contents (go, "", 0, NULL));
  if (!pm_wait_for ((PmCondFunc) pm_call_is_done, call, PM_TEST_TIMEOUT_MS))
    g_error ("Start never answered");
  /* First thing after the answer, before anything else can run. */
  g_assert_true (g_file_test (marker, G_FILE_TEST_EXISTS));
  id = start_end (call, &error);
  g_assert_no_error (error);
  ready = pm_find_signal (f, 0, "Ready", id);
  g_assert_cmpint (ready, >=, 0);
  g_assert_cmpint (ready, >, pm_find_signal (f, 0, "Started", id));
  g_assert_cmpuint (((PmSignal *) f->signals->pdata[ready])->pid, ==,
                    pm_get_uint (f, id, "Pid"));
  {
    g_autofree gchar *state = pm_get_string (f, id, "State");
    g_assert_cmpstr (state, ==, "running");
  }
  return id;
}

static void
stop_name (PmFixture *f, const char *name)
{
  g_autoptr(GError) error = NULL;

  g_assert_cmpuint (pm_stop (f, name, &error), ==, 1);
  g_assert_no_error (error);
}

/* Nothing registered, exported or running after a failed Start. */
static void
assert_nothing_left (PmFixture *f, pid_t pid)
{
  g_autoptr(GVariant) objects = pm_managed_objects (f);

  g_assert_cmpuint (pm_list_count (f), ==, 0);
  g_assert_cmpuint (g_variant_n_children (objects), ==, 0);
  /* Dead when the answer came, not some time later. */
  g_assert_false (pm_pid_alive (pid));
}

static void
assert_message_has (const GError *error, const char *what)
{
  if (strstr (error->message, what) == NULL)
    g_error ("error “%s” does not mention “%s”", error->message, what);
}

/* A value written by a child as "KEY=VALUE" lines. */
static gchar *
marker_value (const char *marker, const char *key)
{
  g_autofree gchar *text = pm_read_file (marker);
  g_auto(GStrv) lines = NULL;
  gsize klen = strlen (key);

  g_assert_nonnull (text);
  lines = g_strsplit (text, "\n", -1);
  for (char **l = lines; *l; l++)
    if (strncmp (*l, key, klen) == 0 && (*l)[klen] == '=')
      return g_strdup (*l + klen + 1);
  return NULL;
}

/* The child's NOTIFY_SOCKET, from /proc. */
static gchar *
child_notify_socket (pid_t pid)
{
  g_autofree gchar *path = g_strdup_printf ("/proc/%d/environ", (int) pid);
  g_autofree gchar *env = NULL;
  gsize len = 0;

  g_assert_true (g_file_get_contents (path, &env, &len, NULL));
  for (gsize i = 0; i < len; i += strlen (env + i) + 1)
    if (g_str_has_prefix (env + i, "NOTIFY_SOCKET="))
      return g_strdup (env + i + strlen ("NOTIFY_SOCKET="));
  return NULL;
}

/* Sends @message to an sd_notify address from this process, which is not
 * in any child's process group. */
static void
send_notify (const char *address, const char *message)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  gsize n = strlen (address);
  int fd = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpuint (n, <, sizeof addr.sun_path);
  memcpy (addr.sun_path, address, n);
  if (address[0] == '@')
    addr.sun_path[0] = '\0';
  g_assert_cmpint (sendto (fd, message, strlen (message), 0, (struct sockaddr *) &addr,
                           offsetof (struct sockaddr_un, sun_path) + n), ==,
                   (gssize) strlen (message));
  close (fd);
}

/* Whether any PropertiesChanged of @id set StatusText to @text. */
static gboolean
status_was_ever (PmFixture *f, guint32 id, const char *text)
{
  for (guint i = 0; i < f->signals->len; i++)
    {
      PmSignal *s = f->signals->pdata[i];
      g_autoptr(GVariant) changed = NULL;
      const char *value = NULL;

      if (g_strcmp0 (s->signal, "PropertiesChanged") != 0 || s->id != id)
        continue;
      changed = g_variant_get_child_value (s->params, 1);
      if (g_variant_lookup (changed, "StatusText", "&s", &value) && g_str_equal (value, text))
        return TRUE;
    }
  return FALSE;
}

static gint64
gap_ms (PmSignal *from, PmSignal *to)
{
  return (to->time_us - from->time_us) / 1000;
}

/* ---- the three protocols -------------------------------------------------- */

static void
test_notify (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *go = pm_tmp_path (f, "go");
  g_autofree gchar *marker = pm_tmp_path (f, "marker");
  g_autofree gchar *address = NULL;
  g_autofree gchar *wd_pid = NULL;
  PmPendingCall *call;
  guint32 id, pid, listed_pid = 0;

  call = start_begin (f, pm_opts ("{'script': <%s>, 'name': <'svc'>, 'ready': <'notify'>,"
                                  " 'args': <[%s, %s, 'status=warming up']>}",
                                  NOTIFY_SCRIPT, go, marker));
  id = starting_id (f, &pid);
  g_assert_true (pm_list_lookup (f, id, NULL, &listed_pid, NULL, NULL));
  g_assert_cmpuint (listed_pid, ==, pid);
  /* STATUS= before READY=1 already shows. */
  pm_wait_string (f, id, "StatusText", "warming up");
  assert_still_starting (f, call, id);

  address = child_notify_socket (pid);
  g_assert_nonnull (address);
  g_assert_true (address[0] == '@');

  g_assert_cmpuint (go_and_expect_ready (f, call, go, marker), ==, id);
  pm_wait_string (f, id, "StatusText", "serving");
  /* No watchdog: no watchdog variables. */
  wd_pid = marker_value (marker, "WATCHDOG_PID");
  g_assert_cmpstr (wd_pid, ==, "");
  stop_name (f, "svc");
}

static void
test_message (PmFixture *f, gconstpointer data)
{
  const char *form = data;
  g_autofree gchar *go = pm_tmp_path (f, "go");
  g_autofree gchar *marker = pm_tmp_path (f, "marker");
  PmPendingCall *call;
  guint32 id;

  call = start_begin (f, pm_opts ("{'script': <%s>, 'name': <'node'>, 'ready': <'message'>,"
                                  " 'args': <[%s, %s, %s]>}", MESSAGE_SCRIPT, go, marker, form));
  id = starting_id (f, NULL);
  assert_still_starting (f, call, id);
  g_assert_cmpuint (go_and_expect_ready (f, call, go, marker), ==, id);
  stop_name (f, "node");
}

/* The line that says it, on stderr, in colour: matched as the child wrote
 * it (no name prefix, no time stamp), after stripANSI. */
static void
test_line (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *go = pm_tmp_path (f, "go");
  g_autofree gchar *marker = pm_tmp_path (f, "marker");
  g_autofree gchar *log = pm_tmp_path (f, "web.log");
  g_autofree gchar *text = NULL;
  PmPendingCall *call;
  guint32 id;

  call = start_begin (f, pm_opts ("{'script': <%s>, 'name': <'web'>, 'ready': <'line'>,"
                                  " 'readyPattern': <'^listening on port [0-9]+$'>,"
                                  " 'stripANSI': <true>, 'timestamps': <true>, 'log': <%s>,"
                                  " 'args': <[%s, %s]>}", LINE_SCRIPT, log, go, marker));
  id = starting_id (f, NULL);
  assert_still_starting (f, call, id);
  g_assert_cmpuint (go_and_expect_ready (f, call, go, marker), ==, id);
  stop_name (f, "web");

  /* Every line is still logged, with its prefix, the ready one included. */
  text = pm_read_file (log);
  g_assert_nonnull (text);
  g_assert_nonnull (strstr (text, "web: loading config\n"));
  g_assert_nonnull (strstr (text, "web: listening on port 8080\n"));
  g_assert_nonnull (strstr (text, "web: serving\n"));
}

/* Without stripANSI the ready line begins with an escape sequence, and
 * the anchored pattern never matches: the start times out. */
static void
test_line_not_stripped (PmFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *go = pm_tmp_path (f, "go");
  g_autofree gchar *marker = pm_tmp_path (f, "marker");
  PmSignal *started;

  g_assert_true (g_file_set_contents (go, "", 0, NULL));
  g_assert_cmpuint (pm_start (f, pm_opts ("{'script': <%s>, 'ready': <'line'>,"
                                          " 'readyPattern': <'^listening on port [0-9]+$'>,"
                                          " 'startTimeout': <uint32 3000>, 'stopTimeout': <uint32 50>,"
                                          " 'args': <[%s, %s]>}", LINE_SCRIPT, go, marker),
                              &error), ==, 0);
  pm_assert_remote_error (error, PM_TEST_ERROR_START_TIMEOUT);
  g_assert_true (g_file_test (marker, G_FILE_TEST_EXISTS));
  started = pm_wait_for_signal (f, "Started", 0, 0);
  g_assert_nonnull (started);
  assert_nothing_left (f, started->pid);
}

/* ---- forged notify datagrams -------------------------------------------- */

static void
test_notify_forged (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *go = pm_tmp_path (f, "go");
  g_autofree gchar *marker = pm_tmp_path (f, "marker");
  g_autofree gchar *address = NULL;
  PmPendingCall *call;
  guint32 id, pid;

  call = start_begin (f, pm_opts ("{'script': <%s>, 'name': <'svc'>, 'ready': <'notify'>,"
                                  " 'args': <[%s, %s, 'status=warming up']>}",
                                  NOTIFY_SCRIPT, go, marker));
  id = starting_id (f, &pid);
  pm_wait_string (f, id, "StatusText", "warming up");
  address = child_notify_socket (pid);
  g_assert_nonnull (address);

  /* From this process: not in the child's group. */
  send_notify (address, "READY=1\nSTATUS=forged");
  send_notify (address, "STATUS=forged");
  assert_still_starting (f, call, id);

  /* The child's own datagrams come after the forged ones on the same
   * socket: once they are seen, the forged ones were read, and dropped. */
  g_assert_cmpuint (go_and_expect_ready (f, call, go, marker), ==, id);
  pm_wait_string (f, id, "StatusText", "serving");
  g_assert_false (status_was_ever (f, id, "forged"));
  stop_name (f, "svc");
}

/* ---- failed starts ---------------------------------------------------------- */

static void
test_start_failed_exit (PmFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  PmSignal *exited;

  g_assert_cmpuint (pm_start (f, pm_opts ("{'script': <%s>, 'ready': <'notify'>, 'args': <['3']>}",
                                          pm_data_file ("exit-with.sh")), &error), ==, 0);
  pm_assert_remote_error (error, PM_TEST_ERROR_START_FAILED);
  assert_message_has (error, "code 3");
  exited = pm_wait_for_signal (f, "Exited", 0, PM_TEST_TIMEOUT_MS);
  g_assert_nonnull (exited);
  g_assert_cmpint (exited->exit_code, ==, 3);
  assert_nothing_left (f, exited->pid);
  /* A first start that fails is not retried. */
  pm_iterate_for (quiet_ms ());
  g_assert_cmpuint (pm_count_signals (f, "Started", 0), ==, 1);
}

static void
test_start_failed_signal (PmFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  PmSignal *exited;

  g_assert_cmpuint (pm_start (f, pm_opts ("{'script': <%s>, 'ready': <'line'>,"
                                          " 'readyPattern': <'never'>}",
                                          pm_data_file ("kill-self.sh")), &error), ==, 0);
  pm_assert_remote_error (error, PM_TEST_ERROR_START_FAILED);
  assert_message_has (error, "signal 9");
  exited = pm_wait_for_signal (f, "Exited", 0, PM_TEST_TIMEOUT_MS);
  g_assert_nonnull (exited);
  g_assert_cmpint (exited->term_signal, ==, SIGKILL);
  assert_nothing_left (f, exited->pid);
}

static void
test_start_timeout (PmFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  PmSignal *exited;
  gint stopping;

  g_assert_cmpuint (pm_start (f, pm_opts ("{'script': <%s>, 'ready': <'notify'>,"
                                          " 'startTimeout': <uint32 400>, 'stopTimeout': <uint32 100>,"
                                          " 'args': <['-', 'unused', 'never=1']>}", NOTIFY_SCRIPT),
                              &error), ==, 0);
  pm_assert_remote_error (error, PM_TEST_ERROR_START_TIMEOUT);
  assert_message_has (error, "400 ms");
  /* The stop protocol ran: Stopping, then the exit (SIGTERM ended it). */
  stopping = pm_find_signal (f, 0, "Stopping", 0);
  g_assert_cmpint (stopping, >=, 0);
  exited = pm_wait_for_signal (f, "Exited", 0, PM_TEST_TIMEOUT_MS);
  g_assert_nonnull (exited);
  g_assert_cmpint (pm_find_signal (f, 0, "Exited", 0), >, stopping);
  g_assert_cmpint (exited->term_signal, ==, SIGTERM);
  assert_nothing_left (f, exited->pid);
  g_assert_cmpint (pm_find_signal (f, 0, "Ready", 0), <, 0);
}

/* A process stopped while it starts: Stop answers, Start fails, nothing is
 * left. */
static void
test_stop_while_starting (PmFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  PmPendingCall *call;
  guint32 id, pid;

  call = start_begin (f, pm_opts ("{'script': <%s>, 'name': <'slow'>, 'ready': <'notify'>,"
                                  " 'stopTimeout': <uint32 50>, 'args': <['-', 'unused', 'never=1']>}",
                                  NOTIFY_SCRIPT));
  id = starting_id (f, &pid);
  assert_still_starting (f, call, id);
  stop_name (f, "slow");
  g_assert_cmpuint (start_end (call, &error), ==, 0);
  pm_assert_remote_error (error, PM_TEST_ERROR_START_FAILED);
  assert_message_has (error, "stopped");
  assert_nothing_left (f, pid);
}

/* The daemon shutting down while a Start waits: the Start fails (it is not
 * left unanswered) and the daemon exits cleanly with the child stopped. */
static void
test_shutdown_while_starting (PmFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  PmPendingCall *call;
  guint32 id, pid;

  call = start_begin (f, pm_opts ("{'script': <%s>, 'ready': <'notify'>, 'stopTimeout': <uint32 50>,"
                                  " 'args': <['-', 'unused', 'never=1']>}", NOTIFY_SCRIPT));
  id = starting_id (f, &pid);
  assert_still_starting (f, call, id);
  pm_fixture_stop_daemon (f);
  g_assert_cmpuint (start_end (call, &error), ==, 0);
  pm_assert_remote_error (error, PM_TEST_ERROR_START_FAILED);
  pm_assert_pid_dead (pid, PM_TEST_TIMEOUT_MS);
}

/* The options reach the daemon's checks: refused by name, nothing started. */
static void
test_invalid_options (PmFixture *f, gconstpointer data)
{
  static const struct
  {
    const char *opts;
    const char *names;
  } cases[] = {
    { "{'script': <%s>, 'ready': <'message'>}", "ready" },
    { "{'script': <%s>, 'ready': <'line'>}", "readyPattern" },
    { "{'script': <%s>, 'ready': <'line'>, 'readyPattern': <'(unclosed'>}", "(unclosed" },
    { "{'script': <%s>, 'ready': <'sometime'>}", "ready" },
    { "{'script': <%s>, 'startTimeout': <uint32 3600001>}", "startTimeout" },
    { "{'script': <%s>, 'watchdogTimeout': <uint32 1000>}", "watchdogTimeout" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;

      g_test_message ("%s", cases[i].opts);
      g_assert_cmpuint (pm_start (f, pm_opts (cases[i].opts, LINE_SCRIPT), &error), ==, 0);
      pm_assert_remote_error (error, PM_TEST_ERROR_INVALID_ARGS);
      assert_message_has (error, cases[i].names);
    }
  g_assert_cmpuint (pm_count_signals (f, "Started", 0), ==, 0);
  g_assert_cmpuint (pm_list_count (f), ==, 0);
}

/* ---- Restart ------------------------------------------------------------------ */

static void
test_restart_waits (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *go = pm_tmp_path (f, "go");
  g_autofree gchar *marker = pm_tmp_path (f, "marker");
  g_autofree gchar *path = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;
  PmPendingCall *call;
  PmSignal *started;
  guint32 id;
  gint ready;

  call = start_begin (f, pm_opts ("{'script': <%s>, 'name': <'web'>, 'ready': <'line'>,"
                                  " 'readyPattern': <'listening'>, 'stopTimeout': <uint32 50>,"
                                  " 'args': <[%s, %s]>}", LINE_SCRIPT, go, marker));
  id = go_and_expect_ready (f, call, go, marker);

  /* The next child waits for a new go file. */
  g_assert_cmpint (g_unlink (go), ==, 0);
  g_assert_cmpint (g_unlink (marker), ==, 0);
  path = pm_process_path (id);
  call = pm_call_begin (f, path, PM_TEST_PROCESS_IFACE, "Restart", NULL, NULL);
  started = pm_wait_for_nth_signal (f, "Started", id, 2, PM_TEST_TIMEOUT_MS);
  g_assert_nonnull (started);
  pm_wait_state (f, id, "starting");
  pm_iterate_for (quiet_ms ());
  g_assert_false (pm_call_is_done (call));

  g_assert_true (g_file_set_contents (go, "", 0, NULL));
  if (!pm_wait_for ((PmCondFunc) pm_call_is_done, call, PM_TEST_TIMEOUT_MS))
    g_error ("Restart never answered");
  g_assert_true (g_file_test (marker, G_FILE_TEST_EXISTS));
  reply = pm_call_end (call, &error);
  g_assert_no_error (error);
  ready = pm_find_signal (f, (guint) pm_find_signal (f, 0, "Ready", id) + 1, "Ready", id);
  g_assert_cmpint (ready, >=, 0);
  g_assert_cmpuint (((PmSignal *) f->signals->pdata[ready])->pid, ==, started->pid);
  stop_name (f, "web");
}

/* A Restart whose new child does not get ready answers StartTimeout; the
 * process then follows its restart policy (it stays, and is restarted). */
static void
test_restart_times_out (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *once = pm_tmp_path (f, "once");
  g_autofree gchar *once_arg = g_strconcat ("once=", once, NULL);
  g_autoptr(GError) error = NULL;
  guint32 id;

  id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'svc'>, 'ready': <'notify'>,"
                                " 'startTimeout': <uint32 2000>, 'stopTimeout': <uint32 50>,"
                                " 'restartAt': <@au [100]>,"
                                " 'args': <['-', 'unused', %s]>}", NOTIFY_SCRIPT,
                                once_arg), NULL);
  g_assert_cmpuint (pm_restart (f, "svc", &error), ==, 0);
  pm_assert_remote_error (error, PM_TEST_ERROR_START_TIMEOUT);
  /* Still registered, and restarted by its policy. */
  g_assert_cmpuint (pm_list_count (f), ==, 1);
  g_assert_nonnull (pm_wait_for_nth_signal (f, "Started", id, 3, PM_TEST_TIMEOUT_MS));
  stop_name (f, "svc");
}

/* Restart of a process whose Start has not answered is refused. */
static void
test_restart_while_starting (PmFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) start_error = NULL;
  PmPendingCall *call;
  guint32 id;

  call = start_begin (f, pm_opts ("{'script': <%s>, 'name': <'slow'>, 'ready': <'notify'>,"
                                  " 'stopTimeout': <uint32 50>, 'args': <['-', 'unused', 'never=1']>}",
                                  NOTIFY_SCRIPT));
  id = starting_id (f, NULL);
  g_assert_cmpuint (pm_restart (f, "slow", &error), ==, 0);
  pm_assert_remote_error (error, PM_TEST_ERROR_FAILED);
  assert_still_starting (f, call, id);
  stop_name (f, "slow");
  start_end (call, &start_error);
  pm_assert_remote_error (start_error, PM_TEST_ERROR_START_FAILED);
}

/* ---- automatic restarts ---------------------------------------------------- */

/* Ready once, then crashes; its successors never get ready: each readiness
 * timeout is a crash and the schedule goes on (it is not reset). */
static void
test_backoff_timeouts (PmFixture *f, gconstpointer data)
{
  static const guint sched[] = { 200, 700, 1500 };
  g_autofree gchar *once = pm_tmp_path (f, "once");
  g_autofree gchar *once_arg = g_strconcat ("once=", once, NULL);
  guint32 id;

  /* startTimeout leaves the first child (python's start-up on a loaded
   * machine) ample time; the others never get ready anyway. */
  id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'flaky'>, 'ready': <'notify'>,"
                                " 'startTimeout': <uint32 2000>, 'stopTimeout': <uint32 50>,"
                                " 'restartAt': <@au [200, 700, 1500]>,"
                                " 'args': <['-', 'unused', %s, 'exit=1']>}", NOTIFY_SCRIPT,
                                once_arg), NULL);
  g_assert_nonnull (pm_wait_for_nth_signal (f, "Started", id, 4, 3 * PM_TEST_TIMEOUT_MS));

  for (guint k = 1; k <= 3; k++)
    {
      PmSignal *exited = pm_wait_for_nth_signal (f, "Exited", id, k, 0);
      PmSignal *next = pm_wait_for_nth_signal (f, "Started", id, k + 1, 0);

      g_test_message ("restart %u: scheduled %u ms, Exited→Started %" G_GINT64_FORMAT " ms",
                      k, sched[k - 1], gap_ms (exited, next));
      g_assert_cmpint (gap_ms (exited, next), >=, (gint64) sched[k - 1] - SLACK_MS);
      if (k == 1)
        g_assert_cmpint (exited->exit_code, ==, 1);
      else
        g_assert_cmpint (exited->term_signal, ==, SIGTERM);   /* stopped at the timeout */
    }
  /* Only the first child got ready. */
  g_assert_cmpuint (pm_count_signals (f, "Ready", id), ==, 1);
  g_assert_cmpuint (pm_get_uint (f, id, "Restarts"), >=, 3);
  stop_name (f, "flaky");
}

/* restartOk counts from readiness: a child that takes longer than restartOk
 * to get ready and crashes at once has not "run fine", and the schedule
 * moves on to its second entry. */
static void
test_restart_ok_from_ready (PmFixture *f, gconstpointer data)
{
  guint32 id;
  PmSignal *exited, *next;

  id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'slowstart'>, 'ready': <'notify'>,"
                                " 'restartAt': <@au [100, 1500]>, 'restartOk': <uint32 500>,"
                                " 'args': <['-', 'unused', 'delay=0.8', 'exit=1']>}",
                                NOTIFY_SCRIPT), NULL);
  g_assert_nonnull (pm_wait_for_nth_signal (f, "Started", id, 3, PM_TEST_TIMEOUT_MS));
  exited = pm_wait_for_nth_signal (f, "Exited", id, 2, 0);
  next = pm_wait_for_nth_signal (f, "Started", id, 3, 0);
  g_test_message ("second restart after %" G_GINT64_FORMAT " ms", gap_ms (exited, next));
  g_assert_cmpint (gap_ms (exited, next), >=, 1500 - SLACK_MS);
  stop_name (f, "slowstart");
}

/* ---- the watchdog ----------------------------------------------------------- */

static void
test_watchdog_kills_hung (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *marker = pm_tmp_path (f, "marker");
  PmSignal *exited;
  guint32 id, pid;
  gint stopping;

  id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'hang'>, 'ready': <'notify'>,"
                                " 'watchdogTimeout': <uint32 1000>, 'stopTimeout': <uint32 200>,"
                                " 'restartAt': <@au [100]>,"
                                " 'args': <['-', %s, 'ping=100', 'pings=3']>}", NOTIFY_SCRIPT,
                                marker), &pid);
  exited = pm_wait_for_signal (f, "Exited", id, PM_TEST_TIMEOUT_MS);
  g_assert_nonnull (exited);
  g_assert_cmpuint (exited->pid, ==, pid);
  g_assert_cmpint (exited->term_signal, ==, SIGABRT);
  stopping = pm_find_signal (f, 0, "Stopping", id);
  g_assert_cmpint (stopping, >=, 0);
  g_assert_cmpint (stopping, <, pm_find_signal (f, 0, "Exited", id));
  /* A crash: the restart policy brings it back, and it gets ready again. */
  g_assert_nonnull (pm_wait_for_nth_signal (f, "Started", id, 2, PM_TEST_TIMEOUT_MS));
  g_assert_nonnull (pm_wait_for_nth_signal (f, "Ready", id, 2, PM_TEST_TIMEOUT_MS));
  g_assert_cmpint (pm_get_int (f, id, "ExitSignal"), ==, SIGABRT);
  stop_name (f, "hang");
}

static void
test_watchdog_pinging_notify (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *marker = pm_tmp_path (f, "marker");
  g_autofree gchar *wd_pid = NULL;
  g_autofree gchar *wd_usec = NULL;
  g_autofree gchar *pid_str = NULL;
  guint32 id, pid;

  id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'alive'>, 'ready': <'notify'>,"
                                " 'watchdogTimeout': <uint32 1500>,"
                                " 'args': <['-', %s, 'ping=100']>}", NOTIFY_SCRIPT, marker), &pid);
  /* The child was told how often, and that the watchdog is its own. */
  pid_str = g_strdup_printf ("%u", pid);
  wd_pid = marker_value (marker, "WATCHDOG_PID");
  wd_usec = marker_value (marker, "WATCHDOG_USEC");
  g_assert_cmpstr (wd_pid, ==, pid_str);
  g_assert_cmpstr (wd_usec, ==, "1500000");

  /* Well past the timeout: never touched. */
  pm_iterate_for (4000);
  g_assert_cmpint (pm_find_signal (f, 0, "Stopping", id), <, 0);
  g_assert_cmpint (pm_find_signal (f, 0, "Exited", id), <, 0);
  g_assert_cmpuint (pm_get_uint (f, id, "Pid"), ==, pid);
  {
    g_autofree gchar *state = pm_get_string (f, id, "State");
    g_assert_cmpstr (state, ==, "running");
  }
  stop_name (f, "alive");
}

static void
test_watchdog_pinging_message (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *go = pm_tmp_path (f, "go");
  g_autofree gchar *marker = pm_tmp_path (f, "marker");
  guint32 id, pid;

  g_assert_true (g_file_set_contents (go, "", 0, NULL));
  id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'alive'>, 'ready': <'message'>,"
                                " 'watchdogTimeout': <uint32 1500>,"
                                " 'args': <[%s, %s, 'object', '100']>}", MESSAGE_SCRIPT, go, marker),
                    &pid);
  pm_iterate_for (4000);
  g_assert_cmpint (pm_find_signal (f, 0, "Stopping", id), <, 0);
  g_assert_cmpint (pm_find_signal (f, 0, "Exited", id), <, 0);
  g_assert_cmpuint (pm_get_uint (f, id, "Pid"), ==, pid);
  stop_name (f, "alive");
}

/* A node child that is ready but never pings is hung too. */
static void
test_watchdog_kills_silent_message (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *go = pm_tmp_path (f, "go");
  g_autofree gchar *marker = pm_tmp_path (f, "marker");
  PmSignal *exited;
  guint32 id;

  g_assert_true (g_file_set_contents (go, "", 0, NULL));
  id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'silent'>, 'ready': <'message'>,"
                                " 'watchdogTimeout': <uint32 500>, 'restart': <'never'>,"
                                " 'args': <[%s, %s, 'string']>}", MESSAGE_SCRIPT, go, marker),
                    NULL);
  exited = pm_wait_for_signal (f, "Exited", id, PM_TEST_TIMEOUT_MS);
  g_assert_nonnull (exited);
  g_assert_cmpint (exited->term_signal, ==, SIGABRT);
  pm_wait_state (f, id, "exited");
  stop_name (f, "silent");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  pm_test_init ();

  pm_test_add ("/ready/notify/start-answers-when-ready", test_notify, NULL);
  pm_test_add ("/ready/notify/forged-datagrams-ignored", test_notify_forged, NULL);
  pm_test_add ("/ready/message/string", test_message, "string");
  pm_test_add ("/ready/message/object", test_message, "object");
  pm_test_add ("/ready/line/stderr-stripped-no-prefix", test_line, NULL);
  pm_test_add ("/ready/line/not-stripped-times-out", test_line_not_stripped, NULL);
  pm_test_add ("/ready/start-failed/exit-code", test_start_failed_exit, NULL);
  pm_test_add ("/ready/start-failed/signal", test_start_failed_signal, NULL);
  pm_test_add ("/ready/start-failed/stopped-while-starting", test_stop_while_starting, NULL);
  pm_test_add ("/ready/start-timeout", test_start_timeout, NULL);
  pm_test_add ("/ready/start-failed/daemon-shutdown", test_shutdown_while_starting, NULL);
  pm_test_add ("/ready/options/invalid", test_invalid_options, NULL);
  pm_test_add ("/ready/restart/waits-for-ready", test_restart_waits, NULL);
  pm_test_add ("/ready/restart/times-out", test_restart_times_out, NULL);
  pm_test_add ("/ready/restart/while-starting-refused", test_restart_while_starting, NULL);
  pm_test_add ("/ready/backoff/timeouts-follow-schedule", test_backoff_timeouts, NULL);
  pm_test_add ("/ready/backoff/restart-ok-from-readiness", test_restart_ok_from_ready, NULL);
  pm_test_add ("/ready/watchdog/kills-hung-notify", test_watchdog_kills_hung, NULL);
  pm_test_add ("/ready/watchdog/kills-silent-message", test_watchdog_kills_silent_message, NULL);
  pm_test_add ("/ready/watchdog/pinging-notify-untouched", test_watchdog_pinging_notify, NULL);
  pm_test_add ("/ready/watchdog/pinging-message-untouched", test_watchdog_pinging_message, NULL);

  return g_test_run ();
}
