/* test-dbus-group.c — the rest of a process group gets its stop time (issue
 * 18) on the real elife-pmd: a service behind a wrapper `sh` that does not
 * exec, whose members handle or ignore SIGTERM, stopped (the leader leaving on
 * the SIGTERM or on the IPC message), exiting on its own (the restart waits
 * for the whole group and for the backoff delay; its last log line is in the
 * file when Exited comes), at daemon shutdown and --replace, and kill -9 of
 * the daemon (the watchdog does not wait).
 *
 * Lower bounds are strict: a stop cannot complete before its group is gone,
 * and a member that ignores SIGTERM only goes at the SIGKILL deadline, so the
 * reply time bounds the deadline from below whatever the machine's load. A
 * member seen alive by the test proves it lived at least that long. Upper
 * bounds are generous, or rest on a stopTimeout far larger than any delay
 * the load can cause. */
#include "pm-test-util.h"

#include <signal.h>
#include <string.h>
#include <glib/gstdio.h>
#include <sys/prctl.h>
#include <sys/wait.h>

/* Signals and replies are timed when dispatched here; timers may fire a
 * little early within a main-loop iteration: slack on lower bounds only. */
#define SLACK_MS 20
/* For "the member finished on its own, long before SIGKILL": any delay the
 * load causes is far below this. */
#define STOP_LONG_MS 10000
/* For "the SIGKILL came at the end of the phase": a phase long enough to be
 * told apart from "at once", short enough for a quick test. */
#define STOP_MS 1000
/* A member seen alive this late in its expected life (fraction of it)
 * outlived any "SIGKILL at once". */
#define SEEN_ALIVE_FRACTION 0.75
#define GENEROUS_MS 10000

static gint64
ms_between (gint64 from_us, gint64 to_us)
{
  return (to_us - from_us) / 1000;
}

/* The member's pid from its ready file; tracked (asserted dead at teardown). */
static pid_t
read_member (PmFixture *f, const char *ready)
{
  pid_t pid = pm_read_pid_file (ready, PM_TEST_TIMEOUT_MS);

  if (pid <= 0)
    g_error ("the group member never wrote %s", ready);
  pm_track_pid (f, pid);
  return pid;
}

static void
assert_marker (const char *marker)
{
  g_autofree gchar *text = pm_read_file (marker);

  if (text == NULL)
    g_error ("the member's SIGTERM handler never wrote %s", marker);
  g_assert_cmpstr (text, ==, "done\n");
}

/* g-wrapper.sh node g-server.js READY MARKER: a node server behind sh, as
 * @name; returns its id and the leader's (sh's) pid in @leader. */
static guint32
start_wrapped_server (PmFixture *f, const char *name, guint stop_ms,
                      const char *ready, const char *marker, guint32 *leader)
{
  return pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <%s>,"
                                  " 'args': <['node', %s, %s, %s]>,"
                                  " 'stopTimeout': <%u>, 'restartAt': <@au []>}",
                                  pm_data_file ("g-wrapper.sh"), name,
                                  pm_data_file ("g-server.js"), ready, marker,
                                  (guint32) stop_ms), leader);
}

/* g-wrapper.sh sh g-member.sh READY ignore: a TERM-ignoring member behind sh. */
static guint32
start_wrapped_ignorer (PmFixture *f, const char *name, guint stop_ms,
                       const char *ready, guint32 *leader)
{
  return pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <%s>,"
                                  " 'args': <['sh', %s, %s, 'ignore']>,"
                                  " 'stopTimeout': <%u>, 'restartAt': <@au []>}",
                                  pm_data_file ("g-wrapper.sh"), name,
                                  pm_data_file ("g-member.sh"), ready,
                                  (guint32) stop_ms), leader);
}

/* g-leader.js MEMBER-ARGS: a node leader leaving on the IPC message. */
static guint32
start_leader (PmFixture *f, const char *name, guint stop_ms, const char *ready,
              const char *mode, const char *marker, guint32 *leader)
{
  return pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <%s>, 'args': <[%s, %s, %s]>,"
                                  " 'stopTimeout': <%u>, 'restartAt': <@au []>}",
                                  pm_data_file ("g-leader.js"), name, ready, mode,
                                  marker != NULL ? marker : "", (guint32) stop_ms),
                      leader);
}

/* g-exit.sh DIR: exits on its own (code 3) leaving a TERM-handling and a
 * TERM-ignoring member; the next run reports on them. */
static guint32
start_exiter (PmFixture *f, const char *name, const char *dir, guint stop_ms,
              const char *restart_at)
{
  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  return pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <%s>, 'args': <[%s]>,"
                                  " 'stopTimeout': <%u>, 'restartAt': <%@au>}",
                                  pm_data_file ("g-exit.sh"), name, dir, (guint32) stop_ms,
                                  g_variant_new_parsed (restart_at)), NULL);
}

/* The two members g-exit.sh run 1 wrote to DIR/pids (tracked). */
static void
read_exiter_members (PmFixture *f, const char *dir, pid_t *handler, pid_t *ignorer)
{
  g_autofree gchar *handler_path = g_build_filename (dir, "handler.pid", NULL);
  g_autofree gchar *ignorer_path = g_build_filename (dir, "ignorer.pid", NULL);

  *handler = read_member (f, handler_path);
  *ignorer = read_member (f, ignorer_path);
}

/* A time (ns since the epoch, as `date +%s%N`) that a child wrote. */
static gint64
read_ns_file (const char *dir, const char *name)
{
  g_autofree gchar *path = g_build_filename (dir, name, NULL);
  g_autofree gchar *text = NULL;

  if (!pm_wait_for_file (path, PM_TEST_TIMEOUT_MS))
    g_error ("%s was never written", path);
  text = pm_read_file (path);
  g_assert_nonnull (text);
  return g_ascii_strtoll (text, NULL, 10);
}

/* What g-exit.sh run 2 saw of run 1's members as it started: each must be
 * gone (a pid reaped; a zombie would still hold the group). */
static void
assert_run2_saw_all_gone (const char *dir)
{
  g_autofree gchar *path = g_build_filename (dir, "check", NULL);
  g_autofree gchar *check = NULL;
  g_auto(GStrv) lines = NULL;
  guint n = 0;

  if (!pm_wait_for_file (path, PM_TEST_TIMEOUT_MS))
    g_error ("the restarted child never wrote %s", path);
  check = pm_read_file (path);
  g_test_message ("the restarted child saw: %s", check);
  lines = g_strsplit (g_strstrip (check), "\n", -1);
  for (char **l = lines; *l != NULL; l++)
    {
      g_auto(GStrv) fields = g_strsplit (*l, " ", -1);

      g_assert_cmpuint (g_strv_length (fields), ==, 2);
      if (!g_str_equal (fields[1], "gone"))
        g_error ("member %s of the old group was still there (state %s) when the "
                 "restart spawned", fields[0], fields[1]);
      n++;
    }
  g_assert_cmpuint (n, ==, 2);
}

/* ---- watching a member die -------------------------------------------------- */

typedef struct
{
  pid_t  pid;
  gint64 last_alive;   /* monotonic µs taken before a look that saw it alive */
} AliveWatch;

static gboolean
member_dead_cond (gpointer data)
{
  AliveWatch *w = data;
  gint64 now = g_get_monotonic_time ();

  if (!pm_pid_alive (w->pid))
    return TRUE;
  w->last_alive = now;
  return FALSE;
}

/* Looks at @pid until it is dead; returns the last time it was seen alive. */
static gint64
watch_until_dead (pid_t pid, guint timeout_ms)
{
  AliveWatch w = { pid, 0 };

  if (!pm_wait_for (member_dead_cond, &w, timeout_ms))
    g_error ("member %d still alive after %u ms", (int) pid, timeout_ms);
  g_assert_cmpint (w.last_alive, >, 0);
  return w.last_alive;
}

static gboolean
call_done_cond (gpointer data)
{
  return pm_call_is_done (data);
}

static PmPendingCall *
begin_stop (PmFixture *f, const char *name)
{
  return pm_call_begin (f, PM_TEST_PATH, PM_TEST_IFACE, "Stop",
                        g_variant_new ("(s)", name), "(u)");
}

static void
end_stop (PmPendingCall *call, guint32 count)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = pm_call_end (call, &error);
  guint32 n = 0;

  g_assert_no_error (error);
  g_variant_get (reply, "(u)", &n);
  g_assert_cmpuint (n, ==, count);
}

/* ---- stops ------------------------------------------------------------------ */

/* The common case: `sh wrapper` running `node server.js` without exec. sh
 * dies on the SIGTERM at once; node, closing down for 0.3 s, finishes: the
 * stop completes when it has, long before the SIGKILL deadline. */
static void
test_stop_wrapper_member_finishes (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *ready = pm_tmp_path (f, "server.pid");
  g_autofree gchar *marker = pm_tmp_path (f, "server.done");
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  PmSignal *exited;
  guint32 leader;
  pid_t member;
  gint64 t0, ms;
  guint32 id;

  id = start_wrapped_server (f, "wrapped", STOP_LONG_MS, ready, marker, &leader);
  member = read_member (f, ready);
  g_assert_cmpint (member, !=, (pid_t) leader);   /* sh did not exec node */

  t0 = g_get_monotonic_time ();
  reply = pm_call_full (f, PM_TEST_PATH, PM_TEST_IFACE, "Stop", g_variant_new ("(s)", "wrapped"),
                        G_VARIANT_TYPE ("(u)"), 2 * STOP_LONG_MS + GENEROUS_MS, &error);
  ms = ms_between (t0, g_get_monotonic_time ());
  g_assert_no_error (error);
  g_test_message ("Stop took %" G_GINT64_FORMAT " ms (stopTimeout %d)", ms, STOP_LONG_MS);

  /* The stop completes only when the whole group is gone. */
  pm_assert_pid_dead (member, 0);
  pm_assert_pid_dead ((pid_t) leader, 0);
  exited = pm_wait_for_signal (f, "Exited", id, PM_TEST_TIMEOUT_MS);
  g_assert_nonnull (exited);
  g_assert_cmpuint (exited->pid, ==, leader);
  g_assert_cmpint (exited->term_signal, ==, SIGTERM);   /* sh left on the SIGTERM */
  /* node's handler ran to its end ... */
  assert_marker (marker);
  /* ... after a full phase 1 (SIGTERM never comes before stopTimeout) ... */
  g_assert_cmpint (ms, >=, STOP_LONG_MS - SLACK_MS);
  /* ... and node was not killed: the stop ended well before the SIGKILL
   * deadline, 2 × stopTimeout after Stop (0.3 s after the SIGTERM, in fact). */
  g_assert_cmpint (ms, <, 2 * STOP_LONG_MS);
}

/* The leader leaves in phase 1, on the IPC message: the rest of the group
 * gets SIGTERM at once, and the stop completes when its member has finished —
 * well before stopTimeout, let alone 2 ×. */
static void
test_stop_leader_leaves_on_message (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *ready = pm_tmp_path (f, "member.pid");
  g_autofree gchar *marker = pm_tmp_path (f, "member.done");
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  PmSignal *exited;
  guint32 leader;
  pid_t member;
  gint64 t0, ms;
  guint32 id;

  id = start_leader (f, "ipcleader", STOP_LONG_MS, ready, "handle", marker, &leader);
  member = read_member (f, ready);

  t0 = g_get_monotonic_time ();
  reply = pm_call_full (f, PM_TEST_PATH, PM_TEST_IFACE, "Stop", g_variant_new ("(s)", "ipcleader"),
                        G_VARIANT_TYPE ("(u)"), 2 * STOP_LONG_MS + GENEROUS_MS, &error);
  ms = ms_between (t0, g_get_monotonic_time ());
  g_assert_no_error (error);
  g_test_message ("Stop took %" G_GINT64_FORMAT " ms (stopTimeout %d)", ms, STOP_LONG_MS);

  pm_assert_pid_dead (member, 0);
  exited = pm_wait_for_signal (f, "Exited", id, PM_TEST_TIMEOUT_MS);
  g_assert_nonnull (exited);
  g_assert_cmpint (exited->exit_code, ==, 0);   /* node left on the message */
  g_assert_cmpint (exited->term_signal, ==, 0);
  assert_marker (marker);
  /* The member's handler takes 0.3 s after its SIGTERM: the stop waited for it. */
  g_assert_cmpint (ms, >=, 300);
  /* Its SIGTERM came at the leader's exit, not after a phase. */
  g_assert_cmpint (ms, <, STOP_LONG_MS);
}

/* The leader leaves on the SIGTERM; a member ignoring it is SIGKILLed when
 * that phase ends, 2 × stopTimeout after Stop, not when the leader exits. */
static void
test_stop_ignorer_killed_at_phase_end (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *ready = pm_tmp_path (f, "ignorer.pid");
  PmPendingCall *call;
  PmSignal *exited;
  guint32 leader;
  pid_t member;
  gint64 t0, last_alive, reply_time;
  guint32 id;

  id = start_wrapped_ignorer (f, "stubborn", STOP_MS, ready, &leader);
  member = read_member (f, ready);

  t0 = g_get_monotonic_time ();
  call = begin_stop (f, "stubborn");
  exited = pm_wait_for_signal (f, "Exited", id, 2 * STOP_MS + GENEROUS_MS);
  g_assert_nonnull (exited);
  g_assert_cmpint (exited->term_signal, ==, SIGTERM);   /* the leader left on the SIGTERM */
  /* The member ignores SIGTERM: still alive, the stop still under way. */
  if (pm_pid_alive (member))
    {
      g_autofree gchar *state = pm_get_string (f, id, "State");

      if (pm_pid_alive (member))
        g_assert_cmpstr (state, ==, "stopping");
      g_assert_cmpuint (pm_get_uint (f, id, "Pid"), ==, 0);
    }
  last_alive = watch_until_dead (member, 2 * STOP_MS + GENEROUS_MS);
  g_assert_true (pm_wait_for (call_done_cond, call, PM_TEST_TIMEOUT_MS));
  reply_time = pm_call_reply_time (call);
  end_stop (call, 1);

  g_test_message ("leader exited after %" G_GINT64_FORMAT " ms, member last seen alive at %"
                  G_GINT64_FORMAT " ms, reply at %" G_GINT64_FORMAT " ms",
                  ms_between (t0, exited->time_us), ms_between (t0, last_alive),
                  ms_between (t0, reply_time));
  /* It outlived the leader's exit (at stopTimeout) by far ... */
  g_assert_cmpint (ms_between (t0, last_alive), >=,
                   (gint64) (SEEN_ALIVE_FRACTION * 2 * STOP_MS));
  /* ... the stop ended only once it was gone, at the end of the phase. */
  g_assert_cmpint (ms_between (t0, reply_time), >=, 2 * STOP_MS - SLACK_MS);
  g_assert_cmpint (ms_between (t0, reply_time), <, 2 * STOP_MS + GENEROUS_MS);
  pm_assert_pid_dead (member, 0);
}

/* The leader leaves on the IPC message; a member ignoring SIGTERM is
 * SIGKILLed stopTimeout after that exit. */
static void
test_stop_ignorer_after_message (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *ready = pm_tmp_path (f, "ignorer.pid");
  PmPendingCall *call;
  PmSignal *exited;
  pid_t member;
  gint64 t0, last_alive, reply_time;
  guint32 id;

  id = start_leader (f, "ipcstubborn", STOP_MS, ready, "ignore", NULL, NULL);
  member = read_member (f, ready);

  t0 = g_get_monotonic_time ();
  call = begin_stop (f, "ipcstubborn");
  last_alive = watch_until_dead (member, 2 * STOP_MS + GENEROUS_MS);
  exited = pm_wait_for_signal (f, "Exited", id, PM_TEST_TIMEOUT_MS);
  g_assert_nonnull (exited);
  g_assert_cmpint (exited->exit_code, ==, 0);   /* node left on the message */
  g_assert_true (pm_wait_for (call_done_cond, call, PM_TEST_TIMEOUT_MS));
  reply_time = pm_call_reply_time (call);
  end_stop (call, 1);

  g_test_message ("leader exited after %" G_GINT64_FORMAT " ms, member last seen alive at %"
                  G_GINT64_FORMAT " ms, reply at %" G_GINT64_FORMAT " ms",
                  ms_between (t0, exited->time_us), ms_between (t0, last_alive),
                  ms_between (t0, reply_time));
  g_assert_cmpint (ms_between (t0, last_alive), >=, (gint64) (SEEN_ALIVE_FRACTION * STOP_MS));
  /* The leader exited after t0, and the member had stopTimeout from then. */
  g_assert_cmpint (ms_between (t0, reply_time), >=, STOP_MS - SLACK_MS);
  g_assert_cmpint (ms_between (t0, reply_time), <, 2 * STOP_MS + GENEROUS_MS);
  pm_assert_pid_dead (member, 0);
}

/* Restart behind a wrapper: the new child is spawned only once the old
 * server has finished its shutdown and is gone. */
static void
test_restart_waits_for_member (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *ready = pm_tmp_path (f, "server.pid");
  g_autofree gchar *marker = pm_tmp_path (f, "server.done");
  g_autoptr(GError) error = NULL;
  g_autofree gchar *text = NULL;
  guint32 leader;
  pid_t member;
  guint32 id;

  id = start_wrapped_server (f, "again", 500, ready, marker, &leader);
  member = read_member (f, ready);
  g_assert_cmpint (g_unlink (ready), ==, 0);

  g_assert_cmpuint (pm_restart (f, "again", &error), ==, 1);
  g_assert_no_error (error);
  g_assert_nonnull (pm_wait_for_nth_signal (f, "Started", id, 2, PM_TEST_TIMEOUT_MS));
  /* By the time it is told, the old server had finished and was gone. */
  text = pm_read_file (marker);
  g_assert_cmpstr (text, ==, "done\n");
  g_assert_false (pm_pid_alive (member));
  g_assert_false (pm_pid_alive ((pid_t) leader));
  read_member (f, ready);   /* the new server runs */
  g_assert_cmpuint (pm_stop (f, "again", NULL), ==, 1);
}

/* ---- exits of its own ----------------------------------------------------------- */

/* A main process exits on its own: its TERM-handling member finishes, the
 * TERM-ignoring one is SIGKILLed stopTimeout later, and the restart (its
 * 100 ms backoff long passed) spawns only once both are gone. State and
 * signals as for any crash: Exited at once, "backoff" until the spawn. */
static void
test_exit_restart_after_group (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *dir = pm_tmp_path (f, "exiter");
  g_autofree gchar *marker = g_build_filename (dir, "marker", NULL);
  g_autofree gchar *state = NULL;
  PmSignal *exited, *started;
  pid_t handler, ignorer;
  gint64 exit_ns, start_ns, marker_seen, last_alive;
  guint32 id;

  id = start_exiter (f, "exiter", dir, STOP_MS, "@au [100]");
  exited = pm_wait_for_signal (f, "Exited", id, PM_TEST_TIMEOUT_MS);
  g_assert_nonnull (exited);
  g_assert_cmpint (exited->exit_code, ==, 3);
  read_exiter_members (f, dir, &handler, &ignorer);

  /* The handler got SIGTERM at the leader's exit and ran. */
  if (!pm_wait_for_file (marker, PM_TEST_TIMEOUT_MS))
    g_error ("the TERM-handling member never wrote its marker");
  marker_seen = g_get_monotonic_time ();
  assert_marker (marker);
  pm_assert_pid_dead (handler, PM_TEST_TIMEOUT_MS);
  /* The ignorer holds the restart back: still backoff, nothing spawned. */
  state = pm_get_string (f, id, "State");
  g_assert_cmpstr (state, ==, "backoff");
  last_alive = watch_until_dead (ignorer, STOP_MS + GENEROUS_MS);
  g_assert_cmpint (last_alive, >=, marker_seen);

  started = pm_wait_for_nth_signal (f, "Started", id, 2, PM_TEST_TIMEOUT_MS);
  g_assert_nonnull (started);
  g_assert_cmpint (pm_find_signal (f, 0, "Exited", id), <,
                   pm_find_signal (f, 1 + (guint) pm_find_signal (f, 0, "Started", id),
                                   "Started", id));
  g_assert_cmpuint (pm_get_uint (f, id, "Restarts"), ==, 1);

  /* Stamped by the children themselves: the restart came stopTimeout after
   * the exit (the ignorer's SIGKILL), not after the 100 ms backoff ... */
  exit_ns = read_ns_file (dir, "exit-time");
  start_ns = read_ns_file (dir, "start-time");
  g_test_message ("restart %" G_GINT64_FORMAT " ms after the exit",
                  (start_ns - exit_ns) / 1000000);
  g_assert_cmpint ((start_ns - exit_ns) / 1000000, >=, STOP_MS - SLACK_MS);
  /* ... and both old members were gone when it spawned. */
  assert_run2_saw_all_gone (dir);

  g_assert_cmpuint (pm_stop (f, "exiter", NULL), ==, 1);
}

/* The other way round: a group gone quickly and a long backoff. The restart
 * waits for the delay, whichever is later. */
static void
test_exit_restart_after_backoff (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *dir = pm_tmp_path (f, "exiter");
  pid_t handler, ignorer;
  gint64 exit_ns, start_ns;
  guint32 id;

  id = start_exiter (f, "patient", dir, 200, "@au [1500]");
  g_assert_nonnull (pm_wait_for_signal (f, "Exited", id, PM_TEST_TIMEOUT_MS));
  read_exiter_members (f, dir, &handler, &ignorer);
  pm_assert_pid_dead (ignorer, 200 + GENEROUS_MS);
  g_assert_nonnull (pm_wait_for_nth_signal (f, "Started", id, 2, 1500 + GENEROUS_MS));

  exit_ns = read_ns_file (dir, "exit-time");
  start_ns = read_ns_file (dir, "start-time");
  g_assert_cmpint ((start_ns - exit_ns) / 1000000, >=, 1500);
  assert_run2_saw_all_gone (dir);
  g_assert_cmpuint (pm_stop (f, "patient", NULL), ==, 1);
}

/* Stop while the rest of a group that exited on its own has its time: the
 * stop completes when the group is gone, within that time (no new phases). */
static void
test_exit_then_stop (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *dir = pm_tmp_path (f, "exiter");
  g_autoptr(GError) error = NULL;
  pid_t handler, ignorer;
  gint64 exit_ns, reply_ns;
  guint32 id;

  id = start_exiter (f, "late", dir, STOP_MS, "@au []");
  g_assert_nonnull (pm_wait_for_signal (f, "Exited", id, PM_TEST_TIMEOUT_MS));
  read_exiter_members (f, dir, &handler, &ignorer);
  g_assert_true (pm_pid_alive (ignorer));

  g_assert_cmpuint (pm_stop (f, "late", &error), ==, 1);
  g_assert_no_error (error);
  reply_ns = g_get_real_time () * 1000;
  pm_assert_pid_dead (ignorer, 0);
  pm_assert_pid_dead (handler, 0);
  /* No Stopping: nothing was running to ask. */
  g_assert_cmpuint (pm_count_signals (f, "Stopping", id), ==, 0);
  exit_ns = read_ns_file (dir, "exit-time");
  g_assert_cmpint ((reply_ns - exit_ns) / 1000000, >=, STOP_MS - SLACK_MS);
  g_assert_cmpint ((reply_ns - exit_ns) / 1000000, <, STOP_MS + GENEROUS_MS);
  g_assert_cmpuint (pm_list_count (f), ==, 0);
}

/* The main process's last line is in its log when Exited comes, although a
 * member left in its group still holds the pipe (and the group its time). */
static void
test_exit_log_before_exited (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *ready = pm_tmp_path (f, "ignorer.pid");
  g_autofree gchar *log = pm_tmp_path (f, "last.log");
  g_autofree gchar *script = pm_write_script (
      f, "last-words.sh",
      "#!/bin/sh\n"
      "sh \"$2\" \"$1\" ignore &\n"
      "until [ -f \"$1\" ]; do sleep 0.02; done\n"
      "echo 'last words'\n"
      "exit 0\n", 0755);
  g_autofree gchar *text = NULL;
  pid_t member;
  guint32 id;

  id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'args': <[%s, %s]>, 'log': <%s>,"
                                " 'stopTimeout': <%u>, 'restartAt': <@au []>}",
                                script, ready, pm_data_file ("g-member.sh"), log,
                                (guint32) STOP_MS), NULL);
  g_assert_nonnull (pm_wait_for_signal (f, "Exited", id, PM_TEST_TIMEOUT_MS));
  text = pm_read_file (log);
  member = read_member (f, ready);
  g_assert_cmpstr (text, ==, "last words\n");
  /* It was still there: the line did not come with the group's end. */
  g_assert_true (pm_pid_alive (member));
  pm_assert_pid_dead (member, STOP_MS + GENEROUS_MS);
}

/* voluntary_ctxt_switches of the daemon's main thread (/proc/PID/status):
 * how often its main loop woke up. */
static guint64
main_thread_wakeups (pid_t pid)
{
  g_autofree gchar *path = g_strdup_printf ("/proc/%d/status", (int) pid);
  g_autofree gchar *text = NULL;
  const char *p;

  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  p = strstr (text, "\nvoluntary_ctxt_switches:");
  g_assert_nonnull (p);
  return g_ascii_strtoull (strchr (p, ':') + 1, NULL, 10);
}

/* Timers only while a group is given its time: once it is gone, the daemon
 * sleeps (its main loop does not wake up at all). */
static void
test_idle_after_group_gone (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *dir = pm_tmp_path (f, "exiter");
  pid_t handler, ignorer, daemon;
  guint64 before, woke;
  guint32 id;

  daemon = pm_daemon_pid (f);
  id = start_exiter (f, "once", dir, 300, "@au []");
  g_assert_nonnull (pm_wait_for_signal (f, "Exited", id, PM_TEST_TIMEOUT_MS));
  read_exiter_members (f, dir, &handler, &ignorer);
  pm_assert_pid_dead (ignorer, 300 + GENEROUS_MS);
  /* Let what follows an exit settle (log buffers are freed 50-100 ms after
   * the last line), however slowly: until a short while without a wake-up. */
  for (gint64 t0 = g_get_monotonic_time ();
       g_get_monotonic_time () - t0 < GENEROUS_MS * (gint64) 1000;)
    {
      before = main_thread_wakeups (daemon);
      pm_iterate_for (300);
      if (main_thread_wakeups (daemon) == before)
        break;
    }

  before = main_thread_wakeups (daemon);
  pm_iterate_for (1500);
  woke = main_thread_wakeups (daemon) - before;
  g_test_message ("the daemon woke %" G_GUINT64_FORMAT " times in 1.5 s", woke);
  g_assert_cmpuint (woke, ==, 0);
}

/* ---- the daemon going away -------------------------------------------------- */

static gboolean
daemon_exited_cond (gpointer data)
{
  return ((PmFixture *) data)->daemon_exited;
}

/* SIGTERM to the daemon: every group gets the same rule — the server behind
 * its wrapper finishes, the ignorer goes at its phase's end, a group still
 * draining after an exit of its own is waited for — and nothing is left when
 * the daemon exits 0. */
static void
test_daemon_shutdown (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *server_ready = pm_tmp_path (f, "server.pid");
  g_autofree gchar *server_marker = pm_tmp_path (f, "server.done");
  g_autofree gchar *ignorer_ready = pm_tmp_path (f, "ignorer.pid");
  g_autofree gchar *dir = pm_tmp_path (f, "exiter");
  g_autofree gchar *exiter_marker = g_build_filename (dir, "marker", NULL);
  guint32 server_leader, ignorer_leader;
  pid_t server, ignorer, exiter_handler, exiter_ignorer;
  guint32 exiter;
  gint64 t0, ms;

  start_wrapped_server (f, "server", 2000, server_ready, server_marker, &server_leader);
  start_wrapped_ignorer (f, "ignorer", STOP_MS, ignorer_ready, &ignorer_leader);
  exiter = start_exiter (f, "exiter", dir, 3000, "@au []");
  server = read_member (f, server_ready);
  ignorer = read_member (f, ignorer_ready);
  g_assert_nonnull (pm_wait_for_signal (f, "Exited", exiter, PM_TEST_TIMEOUT_MS));
  read_exiter_members (f, dir, &exiter_handler, &exiter_ignorer);

  t0 = g_get_monotonic_time ();
  pm_fixture_stop_daemon (f);   /* asserts exit status 0 */
  ms = ms_between (t0, g_get_monotonic_time ());
  g_test_message ("shutdown took %" G_GINT64_FORMAT " ms", ms);

  /* Nothing of any group is left once the daemon has exited. */
  pm_assert_pid_dead (server, 0);
  pm_assert_pid_dead ((pid_t) server_leader, 0);
  pm_assert_pid_dead (ignorer, 0);
  pm_assert_pid_dead ((pid_t) ignorer_leader, 0);
  pm_assert_pid_dead (exiter_handler, 0);
  pm_assert_pid_dead (exiter_ignorer, 0);
  assert_marker (server_marker);
  assert_marker (exiter_marker);
  /* It waited for the server's phase 1 and its 0.3 s, and for the ignorer's
   * SIGKILL at the end of its SIGTERM phase. */
  g_assert_cmpint (ms, >=, 2000 + 300 - SLACK_MS);
  g_assert_cmpint (ms, >=, 2 * STOP_MS - SLACK_MS);
}

/* kill -9 of the daemon while the rest of a group is being given its time
 * (its main process has exited on its own): the watchdog kills it at once,
 * not when its time is up. */
static void
test_daemon_killed_during_grace (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *dir = pm_tmp_path (f, "exiter");
  pid_t handler, ignorer;
  guint32 id;

  id = start_exiter (f, "draining", dir, 60000, "@au []");
  g_assert_nonnull (pm_wait_for_signal (f, "Exited", id, PM_TEST_TIMEOUT_MS));
  read_exiter_members (f, dir, &handler, &ignorer);
  g_assert_true (pm_pid_alive (ignorer));

  g_subprocess_send_signal (f->daemon, SIGKILL);
  if (!pm_wait_for (daemon_exited_cond, f, PM_TEST_TIMEOUT_MS))
    g_error ("elife-pmd did not die of SIGKILL");
  g_assert_true (WIFSIGNALED (f->daemon_wait_status));
  /* Nothing to stop any more: the teardown is not to expect an exit 0. */
  g_clear_object (&f->daemon);
  /* Far sooner than its 60 s. */
  pm_assert_pid_dead (ignorer, 5000);
  pm_assert_pid_dead (handler, 5000);
}

static void
pdeathsig_term (gpointer data)
{
  /* If this test dies, the second daemon goes too. */
  prctl (PR_SET_PDEATHSIG, SIGTERM);
}

/* --replace: the replaced daemon stops its children by the same rule before
 * it exits. */
static void
test_daemon_replace (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *server_ready = pm_tmp_path (f, "server.pid");
  g_autofree gchar *server_marker = pm_tmp_path (f, "server.done");
  g_autofree gchar *ignorer_ready = pm_tmp_path (f, "ignorer.pid");
  g_autofree gchar *state2 = pm_tmp_path (f, "state2");
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) d2 = NULL;
  g_autoptr(GError) error = NULL;
  const char *pmd = g_getenv ("ELIFE_PMD");
  pid_t server, ignorer;
  gint64 t0, ms;

  start_wrapped_server (f, "server", STOP_MS, server_ready, server_marker, NULL);
  start_wrapped_ignorer (f, "ignorer", 500, ignorer_ready, NULL);
  server = read_member (f, server_ready);
  ignorer = read_member (f, ignorer_ready);

  g_assert_nonnull (pmd);
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
                                        G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  g_subprocess_launcher_set_cwd (launcher, f->tmpdir);
  g_subprocess_launcher_set_child_setup (launcher, pdeathsig_term, NULL, NULL);
  t0 = g_get_monotonic_time ();
  d2 = g_subprocess_launcher_spawn (launcher, &error, pmd, "--address", f->address,
                                    "--replace", "--state-dir", state2, NULL);
  g_assert_no_error (error);

  if (!pm_wait_for (daemon_exited_cond, f, 2 * STOP_MS + GENEROUS_MS))
    g_error ("the replaced daemon did not exit");
  ms = ms_between (t0, g_get_monotonic_time ());
  g_test_message ("the replaced daemon exited after %" G_GINT64_FORMAT " ms", ms);
  pm_assert_pid_dead (server, 0);
  pm_assert_pid_dead (ignorer, 0);
  assert_marker (server_marker);
  g_assert_cmpint (ms, >=, STOP_MS + 300 - SLACK_MS);
  if (!g_spawn_check_wait_status (f->daemon_wait_status, NULL))
    g_error ("the replaced daemon did not exit 0 (wait status 0x%x)", f->daemon_wait_status);

  g_subprocess_send_signal (d2, SIGTERM);
  g_assert_true (g_subprocess_wait (d2, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_if_exited (d2));
  g_assert_cmpint (g_subprocess_get_exit_status (d2), ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  pm_test_init ();

  pm_test_add ("/group/stop/wrapper-member-finishes", test_stop_wrapper_member_finishes, NULL);
  pm_test_add ("/group/stop/leader-leaves-on-message", test_stop_leader_leaves_on_message, NULL);
  pm_test_add ("/group/stop/ignorer-killed-at-phase-end", test_stop_ignorer_killed_at_phase_end,
               NULL);
  pm_test_add ("/group/stop/ignorer-after-message", test_stop_ignorer_after_message, NULL);
  pm_test_add ("/group/stop/restart-waits-for-member", test_restart_waits_for_member, NULL);
  pm_test_add ("/group/exit/restart-after-group", test_exit_restart_after_group, NULL);
  pm_test_add ("/group/exit/restart-after-backoff", test_exit_restart_after_backoff, NULL);
  pm_test_add ("/group/exit/stop-while-group-drains", test_exit_then_stop, NULL);
  pm_test_add ("/group/exit/log-before-exited", test_exit_log_before_exited, NULL);
  pm_test_add ("/group/exit/idle-after-group-gone", test_idle_after_group_gone, NULL);
  pm_test_add ("/group/daemon/shutdown", test_daemon_shutdown, NULL);
  pm_test_add ("/group/daemon/killed-during-grace", test_daemon_killed_during_grace, NULL);
  pm_test_add ("/group/daemon/replace", test_daemon_replace, NULL);

  return g_test_run ();
}
