/* test-dbus-restart.c — crash restarts with a backoff schedule (issue 3) on
 * the real elife-pmd: restartAt order and lower bounds, the restartOk reset,
 * [] / [0] / [0, N], the restart policies, NextRestart and the backoff state,
 * Stop and Restart during backoff, and a script that disappears between
 * restarts.
 *
 * Lower bounds are strict and measured by the children themselves: r-stamp.sh
 * writes a wall-clock stamp as its last act before exiting and as its first
 * act after starting, so "next start - previous end" can never be below the
 * scheduled delay, whatever the delivery time of the signals. Upper bounds
 * are generous because CI runs on two noisy cores. */
#include "pm-test-util.h"

#include <signal.h>
#include <string.h>
#include <glib/gstdio.h>

/* Signals are timed when dispatched here: slack on signal-based lower bounds
 * only (the stamp-based ones have none). */
#define SLACK_MS 20
#define GENEROUS_MS 1000

#define STAMP_SCRIPT pm_data_file ("r-stamp.sh")

/* ---- helpers ------------------------------------------------------------ */

/* The stamps r-stamp.sh wrote: wall-clock µs of each start and end. */
typedef struct
{
  GArray *starts;
  GArray *ends;
} Stamps;

static void
stamps_clear (Stamps *st)
{
  g_clear_pointer (&st->starts, g_array_unref);
  g_clear_pointer (&st->ends, g_array_unref);
}

static void
read_stamps (const char *path, Stamps *st)
{
  g_autofree gchar *text = pm_read_file (path);
  g_auto(GStrv) lines = NULL;

  stamps_clear (st);
  st->starts = g_array_new (FALSE, FALSE, sizeof (gint64));
  st->ends = g_array_new (FALSE, FALSE, sizeof (gint64));
  if (text == NULL)
    return;
  lines = g_strsplit (text, "\n", -1);
  for (char **l = lines; *l != NULL; l++)
    {
      gint64 us;

      /* A line without its newline is still being written: the last
       * element after the split is "" or partial and is skipped. */
      if (l[1] == NULL)
        break;
      if (g_str_has_prefix (*l, "start "))
        {
          us = g_ascii_strtoll (*l + 6, NULL, 10) / 1000;
          g_array_append_val (st->starts, us);
        }
      else if (g_str_has_prefix (*l, "end "))
        {
          us = g_ascii_strtoll (*l + 4, NULL, 10) / 1000;
          g_array_append_val (st->ends, us);
        }
    }
}

#define STAMP(arr, i) g_array_index ((arr), gint64, (i))

typedef struct
{
  const char *path;
  guint starts;
  guint ends;
} StampWait;

static gboolean
stamps_cond (gpointer data)
{
  StampWait *w = data;
  Stamps st = { NULL, NULL };
  gboolean ok;

  read_stamps (w->path, &st);
  ok = st.starts->len >= w->starts && st.ends->len >= w->ends;
  stamps_clear (&st);
  return ok;
}

static void
wait_stamps (const char *path, guint starts, guint ends, Stamps *st)
{
  StampWait w = { path, starts, ends };

  if (!pm_wait_for (stamps_cond, &w, PM_TEST_TIMEOUT_MS))
    g_error ("%s: never got %u starts and %u ends", path, starts, ends);
  read_stamps (path, st);
}

static guint32
list_restarts (PmFixture *f, guint32 id)
{
  guint32 restarts = G_MAXUINT32;

  g_assert_true (pm_list_lookup (f, id, NULL, NULL, NULL, &restarts));
  return restarts;
}

typedef struct
{
  PmFixture *f;
  guint32 id;
  guint32 restarts;
} RestartsWait;

static gboolean
restarts_cond (gpointer data)
{
  RestartsWait *w = data;

  return list_restarts (w->f, w->id) >= w->restarts;
}

/* Index of the n-th (1-based) signal of that kind for id, -1 when none. */
static gint
nth_index (PmFixture *f, const char *signal, guint32 id, guint n)
{
  gint idx = -1;

  for (guint k = 0; k < n; k++)
    {
      idx = pm_find_signal (f, (guint) (idx + 1), signal, id);
      if (idx < 0)
        return -1;
    }
  return idx;
}

/* The n-th (1-based) signal of that kind for id; it must have been seen. */
static PmSignal *
nth_signal (PmFixture *f, const char *signal, guint32 id, guint n)
{
  gint idx = nth_index (f, signal, id, n);

  if (idx < 0)
    g_error ("no %s #%u for id %u", signal, n, id);
  return f->signals->pdata[idx];
}

/* Started #1, Exited #1, Started #2, Exited #2, ... in that order, each
 * Exited with the pid of the Started before it. */
static void
assert_exit_before_start (PmFixture *f, guint32 id, guint n_started)
{
  for (guint k = 1; k < n_started; k++)
    {
      gint started = nth_index (f, "Started", id, k);
      gint exited = nth_index (f, "Exited", id, k);
      gint next = nth_index (f, "Started", id, k + 1);

      g_assert_cmpint (started, >=, 0);
      g_assert_cmpint (exited, >, started);
      g_assert_cmpint (next, >, exited);
      g_assert_cmpuint (((PmSignal *) f->signals->pdata[exited])->pid, ==,
                        ((PmSignal *) f->signals->pdata[started])->pid);
      g_assert_cmpuint (((PmSignal *) f->signals->pdata[next])->pid, !=,
                        ((PmSignal *) f->signals->pdata[started])->pid);
    }
}

static gint64
gap_ms (PmSignal *from, PmSignal *to)
{
  return (to->time_us - from->time_us) / 1000;
}

static void
stop_name (PmFixture *f, const char *name)
{
  g_autoptr(GError) error = NULL;

  g_assert_cmpuint (pm_stop (f, name, &error), ==, 1);
  g_assert_no_error (error);
}

/* ---- the schedule --------------------------------------------------------- */

/* A script that exits at once: each gap follows restartAt in order, never
 * earlier; the last entry repeats. */
static void
test_schedule_order (PmFixture *f, gconstpointer data)
{
  static const guint sched[] = { 50, 1000, 2000 };
  enum { N = 5 };
  g_autofree gchar *log = pm_tmp_path (f, "stamps");
  Stamps st = { NULL, NULL };
  guint32 id, restarts;

  id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'crashy'>, 'args': <[%s, '1']>,"
                                " 'restartAt': <@au [50, 1000, 2000]>}", STAMP_SCRIPT, log),
                    NULL);
  for (guint k = 2; k <= N; k++)
    g_assert_nonnull (pm_wait_for_nth_signal (f, "Started", id, k, PM_TEST_TIMEOUT_MS));

  assert_exit_before_start (f, id, N);
  wait_stamps (log, N, N - 1, &st);

  for (guint k = 0; k + 1 < N; k++)
    {
      guint delay = sched[MIN (k, G_N_ELEMENTS (sched) - 1)];
      PmSignal *started = nth_signal (f, "Started", id, k + 1);
      PmSignal *exited = nth_signal (f, "Exited", id, k + 1);
      PmSignal *next = nth_signal (f, "Started", id, k + 2);
      gint64 stamp_gap_us = STAMP (st.starts, k + 1) - STAMP (st.ends, k);
      /* An upper bound that still tells the entries apart: the first two
       * gaps must be shorter than the entry after theirs (1000 ms apart at
       * least: room for a loaded machine). */
      gint64 upper = k + 1 < G_N_ELEMENTS (sched) ? sched[k + 1]
                                                  : delay + pm_test_bound_ms (GENEROUS_MS);

      g_test_message ("restart %u: scheduled %u ms, exit→start %" G_GINT64_FORMAT
                      " µs (stamps), Exited→Started %" G_GINT64_FORMAT " ms",
                      k + 1, delay, stamp_gap_us, gap_ms (exited, next));
      g_assert_cmpint (exited->exit_code, ==, 1);
      g_assert_cmpint (exited->term_signal, ==, 0);
      /* Never earlier than scheduled. */
      g_assert_cmpint (stamp_gap_us, >=, (gint64) delay * 1000);
      g_assert_cmpint (gap_ms (started, next), >=, (gint64) delay - SLACK_MS);
      g_assert_cmpint (gap_ms (exited, next), <, upper);
    }

  /* Restarts counts the automatic restarts (the next may be due already). */
  restarts = list_restarts (f, id);
  g_assert_cmpuint (restarts, >=, N - 1);
  g_assert_cmpuint (restarts, <=, pm_count_signals (f, "Started", id) - 1);
  stamps_clear (&st);
  stop_name (f, "crashy");
}

/* on-failure with a script that fails three times then exits 0: exactly
 * three automatic restarts, then "exited" and nothing more. */
static void
test_restarts_exact (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *log = pm_tmp_path (f, "stamps");
  g_autofree gchar *state = NULL;
  PmSignal *last;
  guint32 id;

  id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'thrice'>, 'args': <[%s, '1', '0', '3']>,"
                                " 'restart': <'on-failure'>, 'restartAt': <@au [20]>}",
                                STAMP_SCRIPT, log), NULL);
  last = pm_wait_for_nth_signal (f, "Exited", id, 4, PM_TEST_TIMEOUT_MS);
  g_assert_nonnull (last);
  g_assert_cmpint (last->exit_code, ==, 0);
  pm_wait_state (f, id, "exited");
  assert_exit_before_start (f, id, 4);

  pm_iterate_for (300);
  g_assert_cmpuint (pm_count_signals (f, "Started", id), ==, 4);
  g_assert_cmpuint (pm_get_uint (f, id, "Restarts"), ==, 3);
  g_assert_cmpuint (list_restarts (f, id), ==, 3);
  g_assert_cmpuint (pm_get_uint (f, id, "Pid"), ==, 0);
  g_assert_cmpint (pm_get_int (f, id, "ExitCode"), ==, 0);
  g_assert_cmpuint (pm_get_u64 (f, id, "NextRestart"), ==, 0);
  g_assert_true (pm_list_lookup (f, id, NULL, NULL, &state, NULL));
  g_assert_cmpstr (state, ==, "exited");
  stop_name (f, "thrice");
}

/* A child that ran at least restartOk before crashing starts the schedule
 * over: with [100, 1500] and restartOk 200, a child that runs 300 ms waits
 * 100 ms every time, never 1500. */
static void
test_restart_ok_reset (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *log = pm_tmp_path (f, "stamps");
  Stamps st = { NULL, NULL };
  guint32 id;

  id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'healthy'>, 'args': <[%s, '1', '0.3']>,"
                                " 'restartAt': <@au [100, 1500]>, 'restartOk': <uint32 200>}",
                                STAMP_SCRIPT, log), NULL);
  for (guint k = 2; k <= 4; k++)
    g_assert_nonnull (pm_wait_for_nth_signal (f, "Started", id, k, PM_TEST_TIMEOUT_MS));
  assert_exit_before_start (f, id, 4);
  wait_stamps (log, 4, 3, &st);

  for (guint k = 0; k < 3; k++)
    {
      PmSignal *exited = nth_signal (f, "Exited", id, k + 1);
      PmSignal *next = nth_signal (f, "Started", id, k + 2);
      gint64 ran_ms = (STAMP (st.ends, k) - STAMP (st.starts, k)) / 1000;
      gint64 stamp_gap_us = STAMP (st.starts, k + 1) - STAMP (st.ends, k);

      g_test_message ("run %u lasted %" G_GINT64_FORMAT " ms; exit→start %" G_GINT64_FORMAT
                      " µs; Exited→Started %" G_GINT64_FORMAT " ms",
                      k + 1, ran_ms, stamp_gap_us, gap_ms (exited, next));
      g_assert_cmpint (ran_ms, >=, 200);
      g_assert_cmpint (stamp_gap_us, >=, 100 * 1000);
      /* restartAt[0] again, not restartAt[1]. */
      g_assert_cmpint (gap_ms (exited, next), <, 1500);
    }
  /* restartOk resets the schedule, not the counter. */
  g_assert_cmpuint (list_restarts (f, id), >=, 3);
  stamps_clear (&st);
  stop_name (f, "healthy");
}

/* The control: the same child with a restartOk it never reaches moves on to
 * restartAt[1] after its second crash. */
static void
test_restart_ok_not_reached (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *log = pm_tmp_path (f, "stamps");
  Stamps st = { NULL, NULL };
  guint32 id;

  id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'flaky'>, 'args': <[%s, '1', '0.3']>,"
                                " 'restartAt': <@au [100, 1500]>, 'restartOk': <uint32 10000>}",
                                STAMP_SCRIPT, log), NULL);
  g_assert_nonnull (pm_wait_for_nth_signal (f, "Started", id, 3, PM_TEST_TIMEOUT_MS));
  assert_exit_before_start (f, id, 3);
  wait_stamps (log, 3, 2, &st);
  g_assert_cmpint (STAMP (st.starts, 1) - STAMP (st.ends, 0), >=, 100 * 1000);
  g_assert_cmpint (STAMP (st.starts, 2) - STAMP (st.ends, 1), >=, 1500 * 1000);
  stamps_clear (&st);
  stop_name (f, "flaky");
}

/* ---- schedules that never restart ------------------------------------------ */

static void
check_never_restarted (PmFixture *f, const char *restart_at)
{
  g_autofree gchar *log = pm_tmp_path (f, "stamps");
  g_autofree gchar *state = NULL;
  g_autoptr(GError) error = NULL;
  PmSignal *exited;
  guint32 list_pid = 1;
  guint32 id;

  id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'once'>, 'args': <[%s, '3']>,"
                                " 'restartAt': <%*>}", STAMP_SCRIPT, log,
                                g_variant_new_parsed (restart_at)), NULL);
  exited = pm_wait_for_signal (f, "Exited", id, PM_TEST_TIMEOUT_MS);
  g_assert_nonnull (exited);
  g_assert_cmpint (exited->exit_code, ==, 3);
  pm_wait_state (f, id, "exited");

  pm_iterate_for (500);
  g_assert_cmpuint (pm_count_signals (f, "Started", id), ==, 1);
  g_assert_true (pm_list_lookup (f, id, NULL, &list_pid, &state, NULL));
  g_assert_cmpstr (state, ==, "exited");
  g_assert_cmpuint (list_pid, ==, 0);
  g_assert_cmpint (pm_get_int (f, id, "ExitCode"), ==, 3);
  g_assert_cmpint (pm_get_int (f, id, "ExitSignal"), ==, 0);
  g_assert_cmpuint (pm_get_uint (f, id, "Restarts"), ==, 0);
  g_assert_cmpuint (pm_get_u64 (f, id, "NextRestart"), ==, 0);

  /* Restart starts it again; a manual restart does not count. */
  g_assert_cmpuint (pm_restart (f, "once", &error), ==, 1);
  g_assert_no_error (error);
  g_assert_nonnull (pm_wait_for_nth_signal (f, "Started", id, 2, PM_TEST_TIMEOUT_MS));
  g_assert_nonnull (pm_wait_for_nth_signal (f, "Exited", id, 2, PM_TEST_TIMEOUT_MS));
  pm_wait_state (f, id, "exited");
  g_assert_cmpuint (pm_get_uint (f, id, "Restarts"), ==, 0);
  stop_name (f, "once");
  g_assert_false (pm_list_lookup (f, id, NULL, NULL, NULL, NULL));
}

static void
test_never_empty (PmFixture *f, gconstpointer data)
{
  check_never_restarted (f, "@au []");
}

static void
test_never_zero (PmFixture *f, gconstpointer data)
{
  check_never_restarted (f, "@au [0]");
}

/* [0, N]: the first restart at once, the next after N ms. */
static void
test_zero_then_delay (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *log = pm_tmp_path (f, "stamps");
  Stamps st = { NULL, NULL };
  PmSignal *exited1, *started2;
  guint32 id;

  id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'zero'>, 'args': <[%s, '1']>,"
                                " 'restartAt': <@au [0, 3000]>}", STAMP_SCRIPT, log), NULL);
  g_assert_nonnull (pm_wait_for_nth_signal (f, "Started", id, 3, PM_TEST_TIMEOUT_MS));
  assert_exit_before_start (f, id, 3);
  exited1 = nth_signal (f, "Exited", id, 1);
  started2 = nth_signal (f, "Started", id, 2);
  g_test_message ("Exited→Started with 0: %" G_GINT64_FORMAT " ms", gap_ms (exited1, started2));
  /* restartAt[0], not restartAt[1]. */
  g_assert_cmpint (gap_ms (exited1, started2), <, 3000);
  wait_stamps (log, 3, 2, &st);
  g_assert_cmpint (STAMP (st.starts, 2) - STAMP (st.ends, 1), >=, 3000 * 1000);
  stamps_clear (&st);
  stop_name (f, "zero");
}

/* ---- the restart option ------------------------------------------------------ */

static void
test_on_failure_exit_0 (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *log = pm_tmp_path (f, "stamps");
  PmSignal *exited;
  guint32 id;

  id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'ok'>, 'args': <[%s, '0']>,"
                                " 'restart': <'on-failure'>, 'restartAt': <@au [20]>}",
                                STAMP_SCRIPT, log), NULL);
  exited = pm_wait_for_signal (f, "Exited", id, PM_TEST_TIMEOUT_MS);
  g_assert_nonnull (exited);
  g_assert_cmpint (exited->exit_code, ==, 0);
  pm_wait_state (f, id, "exited");
  pm_iterate_for (400);
  g_assert_cmpuint (pm_count_signals (f, "Started", id), ==, 1);
  g_assert_cmpuint (pm_get_uint (f, id, "Restarts"), ==, 0);
  g_assert_cmpint (pm_get_int (f, id, "ExitCode"), ==, 0);
  stop_name (f, "ok");
}

static void
test_on_failure_exit_1 (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *log = pm_tmp_path (f, "stamps");
  guint32 id;

  id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'bad'>, 'args': <[%s, '1']>,"
                                " 'restart': <'on-failure'>, 'restartAt': <@au [50]>}",
                                STAMP_SCRIPT, log), NULL);
  g_assert_nonnull (pm_wait_for_nth_signal (f, "Started", id, 3, PM_TEST_TIMEOUT_MS));
  assert_exit_before_start (f, id, 3);
  g_assert_cmpint (nth_signal (f, "Exited", id, 1)->exit_code, ==, 1);
  stop_name (f, "bad");
}

/* on-failure: death by a signal restarts too. */
static void
test_on_failure_signal (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *log = pm_tmp_path (f, "stamps");
  PmSignal *exited;
  guint32 id;

  id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'killed'>, 'args': <[%s, 'KILL']>,"
                                " 'restart': <'on-failure'>, 'restartAt': <@au [50]>}",
                                STAMP_SCRIPT, log), NULL);
  g_assert_nonnull (pm_wait_for_nth_signal (f, "Started", id, 2, PM_TEST_TIMEOUT_MS));
  exited = nth_signal (f, "Exited", id, 1);
  g_assert_cmpint (exited->exit_code, ==, -1);
  g_assert_cmpint (exited->term_signal, ==, SIGKILL);
  assert_exit_before_start (f, id, 2);
  stop_name (f, "killed");
}

/* The default (always) restarts a clean exit too. */
static void
test_always_exit_0 (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *log = pm_tmp_path (f, "stamps");
  guint32 id;

  id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'again'>, 'args': <[%s, '0']>,"
                                " 'restartAt': <@au [50]>}", STAMP_SCRIPT, log), NULL);
  g_assert_nonnull (pm_wait_for_nth_signal (f, "Started", id, 3, PM_TEST_TIMEOUT_MS));
  assert_exit_before_start (f, id, 3);
  stop_name (f, "again");
}

static void
check_policy_never (PmFixture *f, const char *code)
{
  g_autofree gchar *log = pm_tmp_path (f, "stamps");
  guint32 id;

  id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'never'>, 'args': <[%s, %s]>,"
                                " 'restart': <'never'>, 'restartAt': <@au [20]>}",
                                STAMP_SCRIPT, log, code), NULL);
  g_assert_nonnull (pm_wait_for_signal (f, "Exited", id, PM_TEST_TIMEOUT_MS));
  pm_wait_state (f, id, "exited");
  pm_iterate_for (400);
  g_assert_cmpuint (pm_count_signals (f, "Started", id), ==, 1);
  g_assert_cmpuint (pm_get_uint (f, id, "Restarts"), ==, 0);
  g_assert_cmpuint (pm_get_u64 (f, id, "NextRestart"), ==, 0);
  stop_name (f, "never");
}

static void
test_never_policy (PmFixture *f, gconstpointer data)
{
  check_policy_never (f, "1");
}

static void
test_never_policy_signal (PmFixture *f, gconstpointer data)
{
  check_policy_never (f, "KILL");
}

static void
test_policy_invalid (PmFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) error2 = NULL;
  g_autofree gchar *log = pm_tmp_path (f, "stamps");

  g_assert_cmpuint (pm_start (f, pm_opts ("{'script': <%s>, 'args': <[%s]>,"
                                          " 'restart': <'sometimes'>}", STAMP_SCRIPT, log),
                              &error), ==, 0);
  pm_assert_remote_error (error, PM_TEST_ERROR_INVALID_ARGS);
  g_assert_nonnull (strstr (error->message, "restart"));
  g_assert_cmpuint (pm_start (f, pm_opts ("{'script': <%s>, 'restart': <true>}",
                                          STAMP_SCRIPT), &error2), ==, 0);
  pm_assert_remote_error (error2, PM_TEST_ERROR_INVALID_ARGS);
  g_assert_cmpuint (pm_list_count (f), ==, 0);
  g_assert_false (g_file_test (log, G_FILE_TEST_EXISTS));
}

/* ---- backoff ------------------------------------------------------------------- */

/* While waiting: state backoff, pid 0, NextRestart the wall-clock time the
 * restart is due — and the restart does not come before it. */
static void
test_backoff_state (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *log = pm_tmp_path (f, "stamps");
  g_autofree gchar *state = NULL;
  Stamps st = { NULL, NULL };
  guint32 list_pid = 1, id;
  guint64 next;
  gint64 now;

  id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'wait'>, 'args': <[%s, '1']>,"
                                " 'restartAt': <@au [1500]>}", STAMP_SCRIPT, log), NULL);
  g_assert_nonnull (pm_wait_for_signal (f, "Exited", id, PM_TEST_TIMEOUT_MS));
  pm_wait_state (f, id, "backoff");
  next = pm_get_u64 (f, id, "NextRestart");
  now = g_get_real_time ();
  wait_stamps (log, 1, 1, &st);
  g_test_message ("NextRestart - end of run 1: %" G_GINT64_FORMAT " µs",
                  (gint64) next - STAMP (st.ends, 0));
  g_assert_cmpuint (next, >, (guint64) now);
  g_assert_cmpint ((gint64) next, >=, STAMP (st.ends, 0) + 1500 * 1000);
  g_assert_cmpint ((gint64) next, <, STAMP (st.ends, 0) + (1500 + GENEROUS_MS) * 1000);
  g_assert_cmpuint (pm_get_uint (f, id, "Pid"), ==, 0);
  g_assert_true (pm_list_lookup (f, id, NULL, &list_pid, &state, NULL));
  g_assert_cmpstr (state, ==, "backoff");
  g_assert_cmpuint (list_pid, ==, 0);
  g_assert_cmpint (pm_get_int (f, id, "ExitCode"), ==, 1);

  g_assert_nonnull (pm_wait_for_nth_signal (f, "Started", id, 2, PM_TEST_TIMEOUT_MS));
  wait_stamps (log, 2, 1, &st);
  /* Not before the announced time. */
  g_assert_cmpint (STAMP (st.starts, 1), >=, (gint64) next);
  /* Once it runs (or has exited again and waits anew) the old time is gone. */
  g_assert_cmpuint (pm_get_u64 (f, id, "NextRestart"), !=, next);
  stamps_clear (&st);
  stop_name (f, "wait");
}

/* NextRestart is 0 while a child runs. */
static void
test_next_restart_zero_while_running (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *log = pm_tmp_path (f, "stamps");
  g_autofree gchar *state = NULL;
  guint32 id;

  /* Runs 3 s, then crashes; restarted after 100 ms. */
  id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'slow'>, 'args': <[%s, '1', '3']>,"
                                " 'restartAt': <@au [100]>}", STAMP_SCRIPT, log), NULL);
  g_assert_cmpuint (pm_get_u64 (f, id, "NextRestart"), ==, 0);
  state = pm_get_string (f, id, "State");
  g_assert_cmpstr (state, ==, "running");
  g_assert_nonnull (pm_wait_for_nth_signal (f, "Started", id, 2, PM_TEST_TIMEOUT_MS));
  g_clear_pointer (&state, g_free);
  state = pm_get_string (f, id, "State");
  g_assert_cmpstr (state, ==, "running");
  g_assert_cmpuint (pm_get_u64 (f, id, "NextRestart"), ==, 0);
  g_assert_cmpuint (pm_get_uint (f, id, "Pid"), ==, nth_signal (f, "Started", id, 2)->pid);
  g_assert_cmpuint (pm_get_uint (f, id, "Restarts"), ==, 1);
  stop_name (f, "slow");
}

/* Stop during backoff: the timer is cancelled, the process forgotten, no
 * Stopping (nothing runs), and no restart later. */
static void
test_backoff_stop (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *log = pm_tmp_path (f, "stamps");
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) gone = NULL;
  gint64 t0;
  guint32 id;

  id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'halt'>, 'args': <[%s, '1']>,"
                                " 'restartAt': <@au [1500]>}", STAMP_SCRIPT, log), NULL);
  g_assert_nonnull (pm_wait_for_signal (f, "Exited", id, PM_TEST_TIMEOUT_MS));
  pm_wait_state (f, id, "backoff");
  t0 = g_get_monotonic_time ();
  stop_name (f, "halt");
  g_assert_cmpint ((g_get_monotonic_time () - t0) / 1000, <, 500);
  g_assert_cmpuint (pm_count_signals (f, "Stopping", id), ==, 0);
  g_assert_false (pm_list_lookup (f, id, NULL, NULL, NULL, NULL));
  gone = pm_get_property (f, id, "State", &error);
  g_assert_null (gone);
  g_assert_nonnull (error);

  /* Well past the time it was due. */
  pm_iterate_for (1800);
  g_assert_cmpuint (pm_count_signals (f, "Started", id), ==, 1);
  g_assert_cmpuint (pm_list_count (f), ==, 0);
}

/* The same through the process object and StopAll. */
static void
test_backoff_stop_all (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *log1 = pm_tmp_path (f, "stamps1");
  g_autofree gchar *log2 = pm_tmp_path (f, "stamps2");
  g_autofree gchar *path1 = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  guint32 id1, id2;

  id1 = pm_start_ok (f, pm_opts ("{'script': <%s>, 'args': <[%s, '1']>,"
                                 " 'restartAt': <@au [2000]>}", STAMP_SCRIPT, log1), NULL);
  id2 = pm_start_ok (f, pm_opts ("{'script': <%s>, 'args': <[%s, '1']>,"
                                 " 'restartAt': <@au [2000]>}", STAMP_SCRIPT, log2), NULL);
  pm_wait_state (f, id1, "backoff");
  pm_wait_state (f, id2, "backoff");

  path1 = pm_process_path (id1);
  reply = pm_call_full (f, path1, PM_TEST_PROCESS_IFACE, "Stop", NULL, NULL,
                        PM_TEST_TIMEOUT_MS, &error);
  g_assert_no_error (error);
  g_assert_false (pm_list_lookup (f, id1, NULL, NULL, NULL, NULL));
  g_assert_cmpuint (pm_stop_all (f, &error), ==, 1);
  g_assert_no_error (error);
  pm_iterate_for (2300);
  g_assert_cmpuint (pm_count_signals (f, "Stopping", 0), ==, 0);
  g_assert_cmpuint (pm_count_signals (f, "Started", id1), ==, 1);
  g_assert_cmpuint (pm_count_signals (f, "Started", id2), ==, 1);
  g_assert_cmpuint (pm_list_count (f), ==, 0);
}

/* Restart during backoff starts it at once, does not count, and resets the
 * schedule: the next crash waits restartAt[0] again. */
static void
test_backoff_restart (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *log = pm_tmp_path (f, "stamps");
  g_autoptr(GError) error = NULL;
  Stamps st = { NULL, NULL };
  PmSignal *started3, *exited3, *started4;
  gint64 t0;
  guint32 id;

  /* Run 1 exits → 300 ms → run 2 exits → 20 s (interrupted). */
  id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'kick'>, 'args': <[%s, '1']>,"
                                " 'restartAt': <@au [300, 20000]>}", STAMP_SCRIPT, log), NULL);
  g_assert_nonnull (pm_wait_for_nth_signal (f, "Exited", id, 2, PM_TEST_TIMEOUT_MS));
  pm_wait_state (f, id, "backoff");
  g_assert_cmpuint (pm_get_u64 (f, id, "NextRestart"), >,
                    (guint64) g_get_real_time () + 10000 * 1000);
  g_assert_cmpuint (pm_get_uint (f, id, "Restarts"), ==, 1);

  t0 = g_get_monotonic_time ();
  g_assert_cmpuint (pm_restart (f, "kick", &error), ==, 1);
  g_assert_no_error (error);
  started3 = pm_wait_for_nth_signal (f, "Started", id, 3, PM_TEST_TIMEOUT_MS);
  g_assert_nonnull (started3);
  g_test_message ("Restart → Started: %" G_GINT64_FORMAT " ms", (started3->time_us - t0) / 1000);
  /* At once, not when the backoff would have ended. */
  g_assert_cmpint ((started3->time_us - t0) / 1000, <, 10000);
  /* Nothing was running: no Stopping. */
  g_assert_cmpuint (pm_count_signals (f, "Stopping", id), ==, 0);

  /* Run 3 crashes at once: restartAt[0] (300 ms), not 20 s. */
  started4 = pm_wait_for_nth_signal (f, "Started", id, 4, PM_TEST_TIMEOUT_MS);
  g_assert_nonnull (started4);
  exited3 = nth_signal (f, "Exited", id, 3);
  g_assert_nonnull (exited3);
  assert_exit_before_start (f, id, 4);
  g_assert_cmpint (gap_ms (exited3, started4), <, 10000);
  wait_stamps (log, 4, 3, &st);
  g_assert_cmpint (STAMP (st.starts, 3) - STAMP (st.ends, 2), >=, 300 * 1000);
  /* Runs 2 and 4 were automatic; run 3 was manual. */
  g_assert_cmpuint (pm_get_uint (f, id, "Restarts"), ==, 2);
  g_assert_cmpuint (list_restarts (f, id), ==, 2);
  stamps_clear (&st);
  stop_name (f, "kick");
}

/* The whole group of an exited child is gone before its successor starts. */
static void
test_group_gone_before_restart (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *log = pm_tmp_path (f, "family");
  g_autofree gchar *check_path = g_strconcat (log, ".check", NULL);
  g_autofree gchar *check = NULL;
  g_autofree gchar *pids = NULL;
  g_auto(GStrv) lines = NULL;
  g_auto(GStrv) fields = NULL;
  guint32 id;

  id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'fam'>, 'args': <[%s]>,"
                                " 'restartAt': <@au [0, 5000]>}",
                                pm_data_file ("r-family.sh"), log), NULL);
  g_assert_nonnull (pm_wait_for_nth_signal (f, "Exited", id, 2, PM_TEST_TIMEOUT_MS));
  g_assert_true (pm_wait_for_file (check_path, PM_TEST_TIMEOUT_MS));

  pids = pm_read_file (log);
  lines = g_strsplit (pids, "\n", -1);
  for (char **l = lines; *l != NULL && **l != '\0'; l++)
    pm_track_pid (f, (pid_t) g_ascii_strtoll (*l, NULL, 10));

  check = pm_read_file (check_path);
  g_test_message ("run 2 saw: %s", check);
  fields = g_strsplit (g_strstrip (check), " ", -1);
  g_assert_cmpuint (g_strv_length (fields), ==, 3);
  if (!g_str_equal (fields[2], "gone") && !g_str_equal (fields[2], "Z") &&
      !g_str_equal (fields[2], "X"))
    g_error ("the grandchild %s of run 1 was alive (state %s) when run 2 started",
             fields[1], fields[2]);
  stop_name (f, "fam");
}

/* ---- a script that disappears -------------------------------------------------- */

static const char *vanish_text = "#!/bin/sh\nexit 1\n";

/* Deleted between restarts: the attempts fail without Started or Exited,
 * count in Restarts, the state stays backoff, the daemon keeps answering;
 * once the script is back the next attempt runs it. */
static void
test_script_deleted (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *script = pm_write_script (f, "vanish.sh", vanish_text, 0755);
  g_autofree gchar *state = NULL;
  RestartsWait rw;
  guint32 id, restarts;
  guint started_before;

  id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'vanish'>,"
                                " 'restartAt': <@au [500, 100]>}", script), NULL);
  g_assert_nonnull (pm_wait_for_signal (f, "Exited", id, PM_TEST_TIMEOUT_MS));
  g_assert_cmpint (g_unlink (script), ==, 0);
  started_before = pm_count_signals (f, "Started", id);
  g_assert_cmpuint (started_before, ==, 1);

  rw = (RestartsWait) { f, id, 4 };
  if (!pm_wait_for (restarts_cond, &rw, PM_TEST_TIMEOUT_MS))
    g_error ("Restarts stopped counting at %u", list_restarts (f, id));
  g_assert_cmpuint (pm_count_signals (f, "Started", id), ==, 1);
  g_assert_cmpuint (pm_count_signals (f, "Exited", id), ==, 1);
  g_assert_true (pm_list_lookup (f, id, NULL, NULL, &state, NULL));
  g_assert_cmpstr (state, ==, "backoff");
  g_assert_cmpuint (pm_get_uint (f, id, "Pid"), ==, 0);
  g_assert_cmpuint (pm_get_u64 (f, id, "NextRestart"), >, 0);
  restarts = pm_get_uint (f, id, "Restarts");
  g_assert_cmpuint (restarts, >=, 4);
  /* The daemon still does everything else. */
  pm_start_ok (f, pm_opts ("{'script': <%s>, 'args': <[%s, '0']>, 'restartAt': <@au []>}",
                           STAMP_SCRIPT, "/dev/null"), NULL);

  g_free (pm_write_script (f, "vanish.sh", vanish_text, 0755));
  g_assert_nonnull (pm_wait_for_nth_signal (f, "Started", id, 2, PM_TEST_TIMEOUT_MS));
  g_assert_nonnull (pm_wait_for_nth_signal (f, "Exited", id, 2, PM_TEST_TIMEOUT_MS));
  g_assert_cmpuint (pm_get_uint (f, id, "Restarts"), >, restarts);
  stop_name (f, "vanish");
}

/* A manual Restart whose spawn fails replies SpawnFailed and leaves the
 * process exited: no more automatic attempts. */
static void
test_script_deleted_manual_restart (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *script = pm_write_script (f, "vanish.sh", vanish_text, 0755);
  g_autofree gchar *state = NULL;
  g_autoptr(GError) error = NULL;
  guint32 id, restarts;

  id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'vanish'>,"
                                " 'restartAt': <@au [2000]>}", script), NULL);
  g_assert_nonnull (pm_wait_for_signal (f, "Exited", id, PM_TEST_TIMEOUT_MS));
  pm_wait_state (f, id, "backoff");
  g_assert_cmpint (g_unlink (script), ==, 0);

  pm_restart (f, "vanish", &error);
  pm_assert_remote_error (error, PM_TEST_ERROR_SPAWN_FAILED);
  g_clear_error (&error);
  state = pm_get_string (f, id, "State");
  g_assert_cmpstr (state, ==, "exited");
  g_assert_cmpuint (pm_get_u64 (f, id, "NextRestart"), ==, 0);
  restarts = pm_get_uint (f, id, "Restarts");
  g_assert_cmpuint (restarts, ==, 0);

  /* Past the time the automatic restart was due: nothing was attempted. */
  pm_iterate_for (2500);
  g_clear_pointer (&state, g_free);
  state = pm_get_string (f, id, "State");
  g_assert_cmpstr (state, ==, "exited");
  g_assert_cmpuint (pm_get_uint (f, id, "Restarts"), ==, restarts);
  g_assert_cmpuint (pm_count_signals (f, "Started", id), ==, 1);

  g_free (pm_write_script (f, "vanish.sh", vanish_text, 0755));
  g_assert_cmpuint (pm_restart (f, "vanish", &error), ==, 1);
  g_assert_no_error (error);
  g_assert_nonnull (pm_wait_for_nth_signal (f, "Started", id, 2, PM_TEST_TIMEOUT_MS));
  stop_name (f, "vanish");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  pm_test_init ();

  pm_test_add ("/restart/schedule/order-and-lower-bounds", test_schedule_order, NULL);
  pm_test_add ("/restart/schedule/restarts-exact", test_restarts_exact, NULL);
  pm_test_add ("/restart/schedule/restart-ok-reset", test_restart_ok_reset, NULL);
  pm_test_add ("/restart/schedule/restart-ok-not-reached", test_restart_ok_not_reached, NULL);
  pm_test_add ("/restart/schedule/empty-never", test_never_empty, NULL);
  pm_test_add ("/restart/schedule/zero-never", test_never_zero, NULL);
  pm_test_add ("/restart/schedule/zero-then-delay", test_zero_then_delay, NULL);
  pm_test_add ("/restart/policy/on-failure-exit-0", test_on_failure_exit_0, NULL);
  pm_test_add ("/restart/policy/on-failure-exit-1", test_on_failure_exit_1, NULL);
  pm_test_add ("/restart/policy/on-failure-signal", test_on_failure_signal, NULL);
  pm_test_add ("/restart/policy/always-exit-0", test_always_exit_0, NULL);
  pm_test_add ("/restart/policy/never", test_never_policy, NULL);
  pm_test_add ("/restart/policy/never-signal", test_never_policy_signal, NULL);
  pm_test_add ("/restart/policy/invalid", test_policy_invalid, NULL);
  pm_test_add ("/restart/backoff/state-and-next-restart", test_backoff_state, NULL);
  pm_test_add ("/restart/backoff/next-restart-zero-while-running",
               test_next_restart_zero_while_running, NULL);
  pm_test_add ("/restart/backoff/stop", test_backoff_stop, NULL);
  pm_test_add ("/restart/backoff/stop-object-and-stop-all", test_backoff_stop_all, NULL);
  pm_test_add ("/restart/backoff/restart", test_backoff_restart, NULL);
  pm_test_add ("/restart/group-gone-before-restart", test_group_gone_before_restart, NULL);
  pm_test_add ("/restart/script-deleted/automatic", test_script_deleted, NULL);
  pm_test_add ("/restart/script-deleted/manual-restart", test_script_deleted_manual_restart, NULL);

  return g_test_run ();
}
