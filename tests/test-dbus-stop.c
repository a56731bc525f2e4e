/* test-dbus-stop.c — the stop protocol of the real elife-pmd: Stopping, the
 * IPC message, SIGTERM after stopTimeout, SIGKILL after another, the whole
 * process group, parallel stops and the daemon's own shutdown.
 *
 * Lower bounds on elapsed time are strict; upper bounds are generous
 * (2 × stopTimeout + 1 s) because CI runs on two noisy cores. */
#include "pm-test-util.h"

#include <signal.h>
#include <string.h>

#define STOP_MS 300
/* Signals are timed when dispatched here, not when sent: a little slack on
 * lower bounds for the delivery of the first one. */
#define SLACK_MS 20

static gint64
elapsed_ms (PmSignal *from, PmSignal *to)
{
  return (to->time_us - from->time_us) / 1000;
}

/* Starts `script` with a ready file as its first argument and waits until
 * the child says it is ready (its handlers are installed). */
static guint32
start_ready (PmFixture *f, const char *script, const char *name, guint stop_ms,
             guint32 *pid_out)
{
  g_autofree gchar *ready = g_strdup_printf ("%s/ready-%s-%u", f->tmpdir, name,
                                             f->pids->len);
  guint32 pid = 0;
  guint32 id;

  id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <%s>, 'args': <[%s]>,"
                                " 'stopTimeout': <%u>, 'restartAt': <@au []>}",
                                script, name, ready, (guint32) stop_ms), &pid);
  if (pm_read_pid_file (ready, PM_TEST_TIMEOUT_MS) != (pid_t) pid)
    g_error ("%s never became ready (or wrote another pid)", script);
  if (pid_out != NULL)
    *pid_out = pid;
  return id;
}

/* Stop(name), asserting it stopped `count`, and returns the Stopping and
 * Exited signals of `id`. */
static void
stop_and_get (PmFixture *f, const char *name, guint32 count, guint32 id,
              PmSignal **stopping, PmSignal **exited)
{
  g_autoptr(GError) error = NULL;

  g_assert_cmpuint (pm_stop (f, name, &error), ==, count);
  g_assert_no_error (error);
  *stopping = pm_wait_for_signal (f, "Stopping", id, PM_TEST_TIMEOUT_MS);
  g_assert_nonnull (*stopping);
  /* Stop replies once the process has exited. */
  pm_assert_pid_dead ((pid_t) (*stopping)->pid, 0);
  *exited = pm_wait_for_signal (f, "Exited", id, PM_TEST_TIMEOUT_MS);
  g_assert_nonnull (*exited);
  g_assert_cmpint (pm_find_signal (f, 0, "Stopping", id), <,
                   pm_find_signal (f, 0, "Exited", id));
}

/* (a) A node child that exits on {"stopping":true}. */
static void
test_ipc_message (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *ready = pm_tmp_path (f, "ready");
  g_autofree gchar *got = pm_tmp_path (f, "got");
  g_autofree gchar *msg = NULL;
  PmSignal *stopping, *exited;
  guint32 pid;
  guint32 id;

  id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'nodemsg'>, 'args': <[%s, %s]>,"
                                " 'stopTimeout': <uint32 1000>, 'restartAt': <@au []>}",
                                pm_data_file ("stop-on-message.js"), ready, got), &pid);
  g_assert_cmpint (pm_read_pid_file (ready, PM_TEST_TIMEOUT_MS), ==, (pid_t) pid);

  stop_and_get (f, "nodemsg", 1, id, &stopping, &exited);
  g_assert_cmpuint (stopping->pid, ==, pid);
  g_assert_cmpstr (stopping->name, ==, "nodemsg");
  msg = pm_read_file (got);
  if (msg == NULL)
    g_error ("the node child never got {\"stopping\":true} on its IPC channel");
  g_assert_cmpstr (msg, ==, "{\"stopping\":true}");
  g_assert_cmpint (exited->exit_code, ==, 0);
  g_assert_cmpint (exited->term_signal, ==, 0);
  /* Exit code 0, no signal: the message ended it, not the SIGTERM that
   * stopTimeout would have brought (node has no handler for it here). */
  pm_assert_pid_dead ((pid_t) pid, 0);
}

/* (b) A child that exits on SIGTERM: not before stopTimeout, not killed. */
static void
test_sigterm (PmFixture *f, gconstpointer data)
{
  PmSignal *stopping, *exited;
  guint32 pid;
  guint32 id = start_ready (f, pm_data_file ("term-exit.sh"), "termer", STOP_MS, &pid);

  stop_and_get (f, "termer", 1, id, &stopping, &exited);
  g_test_message ("Stopping → Exited: %" G_GINT64_FORMAT " ms", elapsed_ms (stopping, exited));
  g_assert_cmpint (exited->exit_code, ==, 0);   /* its trap ran: SIGTERM, not SIGKILL */
  g_assert_cmpint (exited->term_signal, ==, 0);
  g_assert_cmpint (elapsed_ms (stopping, exited), >=, STOP_MS - SLACK_MS);
  pm_assert_pid_dead ((pid_t) pid, 0);
}

/* A node child with no handler for the message: SIGTERM after stopTimeout. */
static void
test_node_sigterm (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *script = pm_write_script (
      f, "plain.js",
      "require('fs').writeFileSync(process.argv[2], process.pid + '\\n');\n"
      "setInterval(() => {}, 1000);\n", 0644);
  PmSignal *stopping, *exited;
  guint32 pid;
  guint32 id = start_ready (f, script, "plainnode", STOP_MS, &pid);

  stop_and_get (f, "plainnode", 1, id, &stopping, &exited);
  g_assert_cmpint (exited->exit_code, ==, -1);
  g_assert_cmpint (exited->term_signal, ==, SIGTERM);
  g_assert_cmpint (elapsed_ms (stopping, exited), >=, STOP_MS - SLACK_MS);
}

/* (c) A child that ignores SIGTERM: SIGKILL after 2 × stopTimeout. */
static void
test_sigkill (PmFixture *f, gconstpointer data)
{
  PmSignal *stopping, *exited;
  guint32 pid;
  guint32 id = start_ready (f, pm_data_file ("ignore-term.sh"), "stubborn", STOP_MS, &pid);

  stop_and_get (f, "stubborn", 1, id, &stopping, &exited);
  g_test_message ("Stopping → Exited: %" G_GINT64_FORMAT " ms", elapsed_ms (stopping, exited));
  g_assert_cmpint (exited->exit_code, ==, -1);
  g_assert_cmpint (exited->term_signal, ==, SIGKILL);
  g_assert_cmpint (elapsed_ms (stopping, exited), >=, 2 * STOP_MS - SLACK_MS);
  pm_assert_pid_dead ((pid_t) pid, 0);
}

/* The default stopTimeout is 200 ms. */
static void
test_default_stop_timeout (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *ready = pm_tmp_path (f, "ready");
  PmSignal *stopping, *exited;
  guint32 pid;
  guint32 id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'dflt'>, 'args': <[%s]>}",
                                        pm_data_file ("ignore-term.sh"), ready), &pid);

  g_assert_cmpint (pm_read_pid_file (ready, PM_TEST_TIMEOUT_MS), ==, (pid_t) pid);
  stop_and_get (f, "dflt", 1, id, &stopping, &exited);
  g_assert_cmpint (exited->term_signal, ==, SIGKILL);
  g_assert_cmpint (elapsed_ms (stopping, exited), >=, 400 - SLACK_MS);
  /* Not a longer default: that would wait twice as long before SIGKILL. */
  g_assert_cmpint (elapsed_ms (stopping, exited), <, 400 + pm_test_bound_ms (1000));
}

/* (d) A grandchild in the group that ignores SIGTERM dies with the stop. */
static void
test_grandchild_on_stop (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *pidfile = pm_tmp_path (f, "grandchild.pid");
  PmSignal *stopping, *exited;
  pid_t gpid;
  guint32 id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'family'>, 'args': <[%s]>,"
                                        " 'stopTimeout': <%u>, 'restartAt': <@au []>}",
                                        pm_data_file ("grandchild.sh"), pidfile,
                                        (guint32) STOP_MS), NULL);

  gpid = pm_read_pid_file (pidfile, PM_TEST_TIMEOUT_MS);
  g_assert_cmpint (gpid, >, 0);
  pm_track_pid (f, gpid);
  g_assert_true (pm_pid_alive (gpid));

  stop_and_get (f, "family", 1, id, &stopping, &exited);
  /* A stop is complete only when the group is gone. */
  pm_assert_pid_dead (gpid, 0);
}

/* (d') … and when the main child exits by itself, the rest of its group gets
 * SIGTERM and, ignoring it, SIGKILL stopTimeout (200 ms) later
 * (test-dbus-group has the timings). */
static void
test_grandchild_on_exit (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *pidfile = pm_tmp_path (f, "grandchild.pid");
  PmSignal *exited;
  pid_t gpid;
  guint32 id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'args': <[%s, 'exit']>,"
                                        " 'restartAt': <@au []>}",
                                        pm_data_file ("grandchild.sh"), pidfile), NULL);

  exited = pm_wait_for_signal (f, "Exited", id, PM_TEST_TIMEOUT_MS);
  g_assert_nonnull (exited);
  g_assert_cmpint (exited->exit_code, ==, 0);
  gpid = pm_read_pid_file (pidfile, PM_TEST_TIMEOUT_MS);
  g_assert_cmpint (gpid, >, 0);
  pm_track_pid (f, gpid);
  pm_assert_pid_dead (gpid, 2000);
}

/* The stops of @ids ran in parallel: every one of them was asked to stop
 * (Stopping) before the first of them exited. One after the other, the
 * second Stopping would come after the first Exited; no clock is read. */
static void
assert_stops_overlap (PmFixture *f, const guint32 *ids, guint n)
{
  gint first_exited = G_MAXINT;

  for (guint i = 0; i < n; i++)
    first_exited = MIN (first_exited, pm_find_signal (f, 0, "Exited", ids[i]));
  g_assert_cmpint (first_exited, >=, 0);
  for (guint i = 0; i < n; i++)
    {
      gint stopping = pm_find_signal (f, 0, "Stopping", ids[i]);

      g_assert_cmpint (stopping, >=, 0);
      g_assert_cmpint (stopping, <, first_exited);
    }
}

/* Many children stopped in parallel: all asked at once, all gone after
 * 2 × stopTimeout, not N ×. */
static void
test_parallel_stop_all (PmFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  enum { N = 6 };
  guint32 ids[N];
  gint64 t0, ms;

  for (guint i = 0; i < N; i++)
    ids[i] = start_ready (f, pm_data_file ("ignore-term.sh"), "par", STOP_MS, NULL);

  t0 = g_get_monotonic_time ();
  g_assert_cmpuint (pm_stop_all (f, &error), ==, N);
  g_assert_no_error (error);
  ms = (g_get_monotonic_time () - t0) / 1000;
  g_test_message ("StopAll of %d: %" G_GINT64_FORMAT " ms", N, ms);
  g_assert_cmpint (ms, >=, 2 * STOP_MS - SLACK_MS);

  for (guint i = 0; i < N; i++)
    {
      PmSignal *stopping = pm_wait_for_signal (f, "Stopping", ids[i], PM_TEST_TIMEOUT_MS);
      PmSignal *exited = pm_wait_for_signal (f, "Exited", ids[i], PM_TEST_TIMEOUT_MS);

      g_assert_nonnull (stopping);
      g_assert_nonnull (exited);
      g_assert_cmpint (exited->term_signal, ==, SIGKILL);
    }
  assert_stops_overlap (f, ids, N);
  g_assert_cmpuint (pm_list_count (f), ==, 0);
}

/* Stop by name of several processes with that name runs in parallel too. */
static void
test_parallel_stop_name (PmFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  enum { N = 4 };
  guint32 ids[N];
  gint64 t0, ms;

  for (guint i = 0; i < N; i++)
    ids[i] = start_ready (f, pm_data_file ("ignore-term.sh"), "same", STOP_MS, NULL);
  t0 = g_get_monotonic_time ();
  g_assert_cmpuint (pm_stop (f, "same", &error), ==, N);
  g_assert_no_error (error);
  ms = (g_get_monotonic_time () - t0) / 1000;
  g_assert_cmpint (ms, >=, 2 * STOP_MS - SLACK_MS);
  for (guint i = 0; i < N; i++)
    g_assert_nonnull (pm_wait_for_signal (f, "Exited", ids[i], PM_TEST_TIMEOUT_MS));
  assert_stops_overlap (f, ids, N);
}

/* While the stop runs the process is "stopping"; it is not stopped twice. */
static void
test_state_stopping (PmFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autofree gchar *state = NULL;
  g_autofree gchar *list_state = NULL;
  PmPendingCall *call;
  guint32 pid;
  guint32 id = start_ready (f, pm_data_file ("ignore-term.sh"), "slow", STOP_MS, &pid);

  call = pm_call_begin (f, PM_TEST_PATH, PM_TEST_IFACE, "Stop",
                        g_variant_new ("(s)", "slow"), "(u)");
  g_assert_nonnull (pm_wait_for_signal (f, "Stopping", id, PM_TEST_TIMEOUT_MS));
  state = pm_get_string (f, id, "State");
  g_assert_cmpstr (state, ==, "stopping");
  g_assert_true (pm_list_lookup (f, id, NULL, NULL, &list_state, NULL));
  g_assert_cmpstr (list_state, ==, "stopping");
  g_assert_false (pm_call_is_done (call));

  reply = pm_call_end (call, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (pm_count_signals (f, "Stopping", id), ==, 1);
  g_assert_cmpuint (pm_count_signals (f, "Exited", id), ==, 1);
}

/* The contract: a process being stopped no longer answers to its name. */
static void
test_stop_while_stopping (PmFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  PmPendingCall *call;
  guint32 id = start_ready (f, pm_data_file ("ignore-term.sh"), "twice", STOP_MS, NULL);

  call = pm_call_begin (f, PM_TEST_PATH, PM_TEST_IFACE, "Stop",
                        g_variant_new ("(s)", "twice"), "(u)");
  g_assert_nonnull (pm_wait_for_signal (f, "Stopping", id, PM_TEST_TIMEOUT_MS));
  pm_stop (f, "twice", &error);
  pm_assert_remote_error (error, PM_TEST_ERROR_NOT_FOUND);
  g_clear_error (&error);
  reply = pm_call_end (call, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (pm_count_signals (f, "Stopping", id), ==, 1);
}

/* Restart: Stopping, then Exited of the old child, then Started of the new. */
static void
test_restart_order (PmFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  guint32 pid;
  guint32 id = start_ready (f, pm_data_file ("term-exit.sh"), "again", STOP_MS, &pid);
  gint i_stopping, i_exited, i_started;
  PmSignal *started;

  g_assert_cmpuint (pm_restart (f, "again", &error), ==, 1);
  g_assert_no_error (error);
  g_assert_nonnull (pm_wait_for_nth_signal (f, "Started", id, 2, PM_TEST_TIMEOUT_MS));
  i_stopping = pm_find_signal (f, 0, "Stopping", id);
  i_exited = pm_find_signal (f, 0, "Exited", id);
  i_started = pm_find_signal (f, 1 + (guint) pm_find_signal (f, 0, "Started", id), "Started", id);
  g_assert_cmpint (i_stopping, >=, 0);
  g_assert_cmpint (i_exited, >, i_stopping);
  g_assert_cmpint (i_started, >, i_exited);
  started = f->signals->pdata[i_started];
  g_assert_cmpuint (((PmSignal *) f->signals->pdata[i_stopping])->pid, ==, pid);
  g_assert_cmpuint (((PmSignal *) f->signals->pdata[i_exited])->pid, ==, pid);
  g_assert_cmpuint (started->pid, !=, pid);
  /* The stop protocol ran in full: it exited on SIGTERM after stopTimeout. */
  g_assert_cmpint (elapsed_ms (f->signals->pdata[i_stopping], f->signals->pdata[i_exited]),
                   >=, STOP_MS - SLACK_MS);
}

/* SIGTERM to the daemon stops every child (Stopping first) and it exits 0. */
static void
test_daemon_shutdown (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *pidfile = pm_tmp_path (f, "grandchild.pid");
  guint32 id1, id2, id3, pid1, pid2;
  pid_t gpid;
  gint64 t0, ms;

  id1 = start_ready (f, pm_data_file ("term-exit.sh"), "a", STOP_MS, &pid1);
  id2 = start_ready (f, pm_data_file ("ignore-term.sh"), "b", STOP_MS, &pid2);
  id3 = pm_start_ok (f, pm_opts ("{'script': <%s>, 'args': <[%s]>, 'stopTimeout': <%u>}",
                                 pm_data_file ("grandchild.sh"), pidfile,
                                 (guint32) STOP_MS), NULL);
  gpid = pm_read_pid_file (pidfile, PM_TEST_TIMEOUT_MS);
  g_assert_cmpint (gpid, >, 0);
  pm_track_pid (f, gpid);

  t0 = g_get_monotonic_time ();
  pm_fixture_stop_daemon (f);   /* asserts exit status 0 */
  ms = (g_get_monotonic_time () - t0) / 1000;
  g_test_message ("shutdown took %" G_GINT64_FORMAT " ms", ms);
  g_assert_cmpint (ms, >=, 2 * STOP_MS - SLACK_MS);   /* it waited for b */
  g_assert_cmpint (ms, <, 2 * STOP_MS + pm_test_bound_ms (1000));
  g_assert_nonnull (pm_wait_for_signal (f, "Stopping", id1, PM_TEST_TIMEOUT_MS));
  g_assert_nonnull (pm_wait_for_signal (f, "Stopping", id2, PM_TEST_TIMEOUT_MS));
  g_assert_nonnull (pm_wait_for_signal (f, "Stopping", id3, PM_TEST_TIMEOUT_MS));
  pm_assert_pid_dead ((pid_t) pid1, 0);
  pm_assert_pid_dead ((pid_t) pid2, 0);
  pm_assert_pid_dead (gpid, 2000);
}

static gboolean
daemon_exited_cond (gpointer data)
{
  return ((PmFixture *) data)->daemon_exited;
}

/* SIGINT too. */
static void
test_daemon_sigint (PmFixture *f, gconstpointer data)
{
  guint32 pid;
  guint32 id = start_ready (f, pm_data_file ("sleep-forever.sh"), "i", 100, &pid);

  g_subprocess_send_signal (f->daemon, SIGINT);
  if (!pm_wait_for (daemon_exited_cond, f, PM_TEST_TIMEOUT_MS))
    g_error ("elife-pmd did not exit on SIGINT");
  pm_fixture_stop_daemon (f);   /* asserts exit status 0; sends nothing more */
  g_assert_nonnull (pm_wait_for_signal (f, "Stopping", id, PM_TEST_TIMEOUT_MS));
  pm_assert_pid_dead ((pid_t) pid, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  pm_test_init ();

  pm_test_add ("/stop/phase1/ipc-message", test_ipc_message, NULL);
  pm_test_add ("/stop/phase2/sigterm", test_sigterm, NULL);
  pm_test_add ("/stop/phase2/node-without-handler", test_node_sigterm, NULL);
  pm_test_add ("/stop/phase3/sigkill", test_sigkill, NULL);
  pm_test_add ("/stop/default-stop-timeout", test_default_stop_timeout, NULL);
  pm_test_add ("/stop/group/grandchild-on-stop", test_grandchild_on_stop, NULL);
  pm_test_add ("/stop/group/grandchild-on-exit", test_grandchild_on_exit, NULL);
  pm_test_add ("/stop/parallel/stop-all", test_parallel_stop_all, NULL);
  pm_test_add ("/stop/parallel/stop-name", test_parallel_stop_name, NULL);
  pm_test_add ("/stop/state-stopping", test_state_stopping, NULL);
  pm_test_add ("/stop/stop-while-stopping", test_stop_while_stopping, NULL);
  pm_test_add ("/stop/restart-order", test_restart_order, NULL);
  pm_test_add ("/stop/daemon/sigterm", test_daemon_shutdown, NULL);
  pm_test_add ("/stop/daemon/sigint", test_daemon_sigint, NULL);

  return g_test_run ();
}
