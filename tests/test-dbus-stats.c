/* test-dbus-stats.c — the figures behind `elife-pm list`: the StartedAt
 * property and the Stats method, checked against /proc of the children. */
#include "pm-test-util.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define LONG_SCRIPT pm_data_file ("sleep-forever.sh")

/* utime + stime of pid in µs, read independently of the daemon's parser. */
static gboolean
proc_cpu_usec (pid_t pid, guint64 *usec)
{
  g_autofree gchar *path = g_strdup_printf ("/proc/%d/stat", (int) pid);
  g_autofree gchar *text = NULL;
  g_auto(GStrv) fields = NULL;
  const char *rest;

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return FALSE;
  rest = strrchr (text, ')');
  g_assert_nonnull (rest);
  fields = g_strsplit (rest + 2, " ", -1);
  /* fields[0] is field 3 (state): utime is field 14, stime 15. */
  g_assert_cmpuint (g_strv_length (fields), >, 13);
  *usec = (g_ascii_strtoull (fields[11], NULL, 10) + g_ascii_strtoull (fields[12], NULL, 10))
          * G_USEC_PER_SEC / (guint64) sysconf (_SC_CLK_TCK);
  return TRUE;
}

static gboolean
proc_rss_bytes (pid_t pid, guint64 *bytes)
{
  g_autofree gchar *path = g_strdup_printf ("/proc/%d/statm", (int) pid);
  g_autofree gchar *text = NULL;
  guint64 size, resident;

  if (!g_file_get_contents (path, &text, NULL, NULL) ||
      sscanf (text, "%" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT, &size, &resident) != 2)
    return FALSE;
  *bytes = resident * (guint64) sysconf (_SC_PAGESIZE);
  return TRUE;
}

static GVariant *
stats (PmFixture *f)
{
  g_autoptr(GError) error = NULL;
  GVariant *reply = pm_call (f, "Stats", NULL, "(a(uutt))", &error);

  g_assert_no_error (error);
  return reply;
}

/* Looks up one id in a Stats reply. */
static gboolean
stats_lookup (GVariant *reply, guint32 id, guint32 *pid, guint64 *cpu, guint64 *rss)
{
  g_autoptr(GVariant) list = g_variant_get_child_value (reply, 0);
  GVariantIter iter;
  guint32 i, p;
  guint64 c, r;

  g_variant_iter_init (&iter, list);
  while (g_variant_iter_next (&iter, "(uutt)", &i, &p, &c, &r))
    if (i == id)
      {
        *pid = p;
        *cpu = c;
        *rss = r;
        return TRUE;
      }
  return FALSE;
}

static guint64
get_started_at (PmFixture *f, guint32 id)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) v = pm_get_property (f, id, "StartedAt", &error);

  g_assert_no_error (error);
  g_assert_cmpstr (g_variant_get_type_string (v), ==, "t");
  return g_variant_get_uint64 (v);
}

/* ---- StartedAt -------------------------------------------------------------- */

static void
test_started_at_spawn (PmFixture *f, gconstpointer data)
{
  guint64 before = (guint64) g_get_real_time ();
  guint32 id = pm_start_ok (f, pm_opts ("{'script': <%s>}", LONG_SCRIPT), NULL);
  guint64 after = (guint64) g_get_real_time ();
  guint64 at = get_started_at (f, id);

  g_assert_cmpuint (at, >=, before);
  g_assert_cmpuint (at, <=, after);
}

typedef struct
{
  PmFixture *f;
  guint32    id;
  guint64    newer_than;
} StartedAtWait;

/* A PropertiesChanged on the process carrying StartedAt > newer_than. */
static gboolean
started_at_changed_cond (gpointer data)
{
  StartedAtWait *w = data;
  g_autofree gchar *path = pm_process_path (w->id);

  for (guint i = 0; i < w->f->signals->len; i++)
    {
      PmSignal *s = g_ptr_array_index (w->f->signals, i);
      g_autoptr(GVariant) changed = NULL;
      guint64 at;

      if (g_strcmp0 (s->signal, "PropertiesChanged") != 0 || g_strcmp0 (s->path, path) != 0)
        continue;
      changed = g_variant_get_child_value (s->params, 1);
      if (g_variant_lookup (changed, "StartedAt", "t", &at) && at > w->newer_than)
        return TRUE;
    }
  return FALSE;
}

static void
test_started_at_manual_restart (PmFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  guint32 id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'again'>}", LONG_SCRIPT), NULL);
  guint64 first = get_started_at (f, id);
  StartedAtWait w = { f, id, first };

  g_assert_cmpuint (pm_restart (f, "again", &error), ==, 1);
  g_assert_no_error (error);
  g_assert_cmpuint (get_started_at (f, id), >, first);
  if (!pm_wait_for (started_at_changed_cond, &w, PM_TEST_TIMEOUT_MS))
    g_error ("no PropertiesChanged carrying the new StartedAt");
}

static void
test_started_at_auto_restart (PmFixture *f, gconstpointer data)
{
  guint32 id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'args': <['3']>, 'restartAt': <[uint32 10]>}",
                                        pm_data_file ("exit-with.sh")), NULL);
  guint64 first = get_started_at (f, id);
  StartedAtWait w = { f, id, first };

  g_assert_nonnull (pm_wait_for_nth_signal (f, "Started", id, 2, PM_TEST_TIMEOUT_MS));
  if (!pm_wait_for (started_at_changed_cond, &w, PM_TEST_TIMEOUT_MS))
    g_error ("no PropertiesChanged carrying the restart's StartedAt");
  g_assert_cmpuint (get_started_at (f, id), >, first);
}

static void
test_started_at_kept_after_exit (PmFixture *f, gconstpointer data)
{
  guint32 id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'args': <['0']>, 'restart': <'never'>}",
                                        pm_data_file ("exit-with.sh")), NULL);
  guint64 first = get_started_at (f, id);

  g_assert_nonnull (pm_wait_for_signal (f, "Exited", id, PM_TEST_TIMEOUT_MS));
  g_assert_cmpuint (first, >, 0);
  g_assert_cmpuint (get_started_at (f, id), ==, first);
}

/* ---- Stats -------------------------------------------------------------------- */

static void
test_stats_empty (PmFixture *f, gconstpointer data)
{
  g_autoptr(GVariant) reply = stats (f);
  g_autoptr(GVariant) list = g_variant_get_child_value (reply, 0);

  g_assert_cmpuint (g_variant_n_children (list), ==, 0);
}

static void
test_stats_match_proc (PmFixture *f, gconstpointer data)
{
  guint32 pid_a, pid_b, pid, id_a, id_b;
  guint64 cpu_before, cpu_after, cpu, rss, rss_proc;
  g_autoptr(GVariant) reply = NULL;
  /* A child that spends CPU, so its figure is more than 0 once /proc says so. */
  g_autofree gchar *busy = pm_write_script (f, "busy.sh",
      "#!/bin/sh\nwhile :; do :; done\n", 0755);

  id_a = pm_start_ok (f, pm_opts ("{'script': <%s>}", busy), &pid_a);
  id_b = pm_start_ok (f, pm_opts ("{'script': <%s>}", LONG_SCRIPT), &pid_b);
  pm_track_pid (f, pid_a);
  pm_track_pid (f, pid_b);

  /* Wait (on /proc, however slow the machine) until the busy one has used
   * CPU the kernel accounts. */
  for (gint64 end = g_get_monotonic_time () + 60 * G_USEC_PER_SEC; g_get_monotonic_time () < end;)
    {
      g_assert_true (proc_cpu_usec (pid_a, &cpu_before));
      if (cpu_before > 0)
        break;
      pm_iterate_for (20);
    }
  g_assert_cmpuint (cpu_before, >, 0);

  reply = stats (f);
  g_assert_true (proc_cpu_usec (pid_a, &cpu_after));
  g_assert_true (stats_lookup (reply, id_a, &pid, &cpu, &rss));
  g_assert_cmpuint (pid, ==, pid_a);
  /* Read at the call: between the /proc reads just before and after. */
  g_assert_cmpuint (cpu, >=, cpu_before);
  g_assert_cmpuint (cpu, <=, cpu_after);
  g_assert_true (proc_rss_bytes (pid_a, &rss_proc));
  g_assert_cmpuint (rss, >, 0);
  g_assert_cmpuint (rss % (guint64) sysconf (_SC_PAGESIZE), ==, 0);
  /* A shell in a loop does not change its resident set by more than 4×. */
  g_assert_cmpuint (rss, <=, 4 * rss_proc);
  g_assert_cmpuint (rss_proc, <=, 4 * rss);

  g_assert_true (stats_lookup (reply, id_b, &pid, &cpu, &rss));
  g_assert_cmpuint (pid, ==, pid_b);
  g_assert_true (proc_rss_bytes (pid_b, &rss_proc));
  g_assert_cmpuint (rss, >, 0);
  g_assert_cmpuint (rss, <=, 4 * rss_proc);
}

static void
test_stats_by_increasing_id (PmFixture *f, gconstpointer data)
{
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) list = NULL;
  GVariantIter iter;
  guint32 id, pid, last = 0;
  guint64 cpu, rss;
  guint n = 0;

  for (guint i = 0; i < 4; i++)
    pm_start_ok (f, pm_opts ("{'script': <%s>}", LONG_SCRIPT), NULL);
  reply = stats (f);
  list = g_variant_get_child_value (reply, 0);
  g_variant_iter_init (&iter, list);
  while (g_variant_iter_next (&iter, "(uutt)", &id, &pid, &cpu, &rss))
    {
      g_assert_cmpuint (id, >, last);
      g_assert_cmpuint (pid, >, 0);
      last = id;
      n++;
    }
  g_assert_cmpuint (n, ==, 4);
}

static void
test_stats_only_running (PmFixture *f, gconstpointer data)
{
  g_autoptr(GVariant) reply = NULL;
  guint32 pid;
  guint64 cpu, rss;
  guint32 running = pm_start_ok (f, pm_opts ("{'script': <%s>}", LONG_SCRIPT), NULL);
  guint32 exited = pm_start_ok (f, pm_opts ("{'script': <%s>, 'args': <['0']>, 'restart': <'never'>}",
                                            pm_data_file ("exit-with.sh")), NULL);
  guint32 backoff = pm_start_ok (f, pm_opts ("{'script': <%s>, 'args': <['1']>,"
                                             " 'restartAt': <[uint32 3600000]>}",
                                             pm_data_file ("exit-with.sh")), NULL);

  g_assert_nonnull (pm_wait_for_signal (f, "Exited", exited, PM_TEST_TIMEOUT_MS));
  g_assert_nonnull (pm_wait_for_signal (f, "Exited", backoff, PM_TEST_TIMEOUT_MS));
  reply = stats (f);
  g_assert_true (stats_lookup (reply, running, &pid, &cpu, &rss));
  g_assert_false (stats_lookup (reply, exited, &pid, &cpu, &rss));
  g_assert_false (stats_lookup (reply, backoff, &pid, &cpu, &rss));
}

static void
test_stats_new_pid_after_restart (PmFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  guint32 old_pid, pid;
  guint64 cpu, rss;
  guint32 id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'r'>}", LONG_SCRIPT), &old_pid);

  g_assert_cmpuint (pm_restart (f, "r", &error), ==, 1);
  g_assert_no_error (error);
  reply = stats (f);
  g_assert_true (stats_lookup (reply, id, &pid, &cpu, &rss));
  g_assert_cmpuint (pid, !=, old_pid);
  g_assert_cmpuint (pid, ==, pm_get_uint (f, id, "Pid"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  pm_test_init ();

  pm_test_add ("/stats/started-at/spawn-time", test_started_at_spawn, NULL);
  pm_test_add ("/stats/started-at/manual-restart", test_started_at_manual_restart, NULL);
  pm_test_add ("/stats/started-at/auto-restart", test_started_at_auto_restart, NULL);
  pm_test_add ("/stats/started-at/kept-after-exit", test_started_at_kept_after_exit, NULL);
  pm_test_add ("/stats/stats/empty", test_stats_empty, NULL);
  pm_test_add ("/stats/stats/match-proc", test_stats_match_proc, NULL);
  pm_test_add ("/stats/stats/by-increasing-id", test_stats_by_increasing_id, NULL);
  pm_test_add ("/stats/stats/only-running", test_stats_only_running, NULL);
  pm_test_add ("/stats/stats/new-pid-after-restart", test_stats_new_pid_after_restart, NULL);

  return g_test_run ();
}
