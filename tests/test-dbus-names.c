/* test-dbus-names.c — names, duplicates, Restart and the per-process object
 * methods of the real elife-pmd. */
#include "pm-test-util.h"

#include <signal.h>
#include <string.h>

#define LONG_SCRIPT pm_data_file ("sleep-forever.sh")

static gboolean
objects_have_path (PmFixture *f, const char *path)
{
  g_autoptr(GVariant) objects = pm_managed_objects (f);
  g_autoptr(GVariant) v = g_variant_lookup_value (objects, path, NULL);

  return v != NULL;
}

static guint32
start_named (PmFixture *f, const char *name, guint32 *pid)
{
  return pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <%s>, 'stopTimeout': <uint32 100>,"
                                  " 'restartAt': <@au []>}", LONG_SCRIPT, name), pid);
}

static void
test_duplicate_stop (PmFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *name = NULL;
  guint32 ids[3], pids[3], other, other_pid, list_pid = 0;

  for (guint i = 0; i < 3; i++)
    ids[i] = start_named (f, "dup", &pids[i]);
  other = start_named (f, "other", &other_pid);

  g_assert_cmpuint (pm_stop (f, "dup", &error), ==, 3);
  g_assert_no_error (error);
  for (guint i = 0; i < 3; i++)
    {
      g_autofree gchar *path = pm_process_path (ids[i]);

      g_assert_nonnull (pm_wait_for_signal (f, "Stopping", ids[i], PM_TEST_TIMEOUT_MS));
      g_assert_nonnull (pm_wait_for_signal (f, "Exited", ids[i], PM_TEST_TIMEOUT_MS));
      pm_assert_pid_dead ((pid_t) pids[i], 0);
      g_assert_false (objects_have_path (f, path));
    }
  /* The other name is untouched. */
  g_assert_cmpuint (pm_count_signals (f, "Stopping", other), ==, 0);
  g_assert_cmpuint (pm_list_count (f), ==, 1);
  g_assert_true (pm_list_lookup (f, other, &name, &list_pid, NULL, NULL));
  g_assert_cmpstr (name, ==, "other");
  g_assert_cmpuint (list_pid, ==, other_pid);
  g_assert_true (pm_pid_alive ((pid_t) other_pid));
}

static void
test_duplicate_restart (PmFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  guint32 ids[2], pids[2], other, other_pid;

  for (guint i = 0; i < 2; i++)
    ids[i] = start_named (f, "dup", &pids[i]);
  other = start_named (f, "other", &other_pid);

  g_assert_cmpuint (pm_restart (f, "dup", &error), ==, 2);
  g_assert_no_error (error);
  for (guint i = 0; i < 2; i++)
    {
      g_autofree gchar *state = NULL;
      guint32 pid = 0;

      g_assert_nonnull (pm_wait_for_nth_signal (f, "Started", ids[i], 2, PM_TEST_TIMEOUT_MS));
      g_assert_cmpuint (pm_count_signals (f, "Started", ids[i]), ==, 2);
      g_assert_true (pm_list_lookup (f, ids[i], NULL, &pid, &state, NULL));
      g_assert_cmpstr (state, ==, "running");
      g_assert_cmpuint (pid, !=, pids[i]);
      g_assert_cmpuint (pid, ==, pm_wait_for_nth_signal (f, "Started", ids[i], 2, PM_TEST_TIMEOUT_MS)->pid);
      pm_assert_pid_dead ((pid_t) pids[i], 0);
    }
  g_assert_cmpuint (pm_count_signals (f, "Stopping", other), ==, 0);
  g_assert_cmpuint (pm_count_signals (f, "Started", other), ==, 1);
  g_assert_cmpuint (pm_list_count (f), ==, 3);
}

typedef struct
{
  PmFixture *f;
  guint32 id;
  guint32 pid;
} PidChange;

/* A PropertiesChanged on the process object announced Pid = pc->pid. */
static gboolean
pid_change_cond (gpointer data)
{
  PidChange *pc = data;

  for (gint i = pm_find_signal (pc->f, 0, "PropertiesChanged", pc->id); i >= 0;
       i = pm_find_signal (pc->f, (guint) i + 1, "PropertiesChanged", pc->id))
    {
      g_autoptr(GVariant) changed = g_variant_get_child_value (
          ((PmSignal *) pc->f->signals->pdata[i])->params, 1);
      guint32 v = 0;

      if (g_variant_lookup (changed, "Pid", "u", &v) && v == pc->pid)
        return TRUE;
    }
  return FALSE;
}

static void
test_restart_keeps_id (PmFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *path = NULL;
  g_autofree gchar *state = NULL;
  guint32 pid, new_pid = 0;
  guint32 id = start_named (f, "keep", &pid);
  PmSignal *started2;
  gint i_exited, i_started2;

  path = pm_process_path (id);
  g_assert_cmpuint (pm_restart (f, "keep", &error), ==, 1);
  g_assert_no_error (error);

  /* Replies after the new child was spawned: its Started is already here. */
  started2 = pm_wait_for_nth_signal (f, "Started", id, 2, PM_TEST_TIMEOUT_MS);
  g_assert_nonnull (started2);
  g_assert_cmpuint (started2->pid, !=, pid);
  g_assert_cmpstr (started2->name, ==, "keep");
  i_exited = pm_find_signal (f, 0, "Exited", id);
  i_started2 = pm_find_signal (f, 1 + (guint) pm_find_signal (f, 0, "Started", id), "Started", id);
  g_assert_cmpint (i_exited, >=, 0);
  g_assert_cmpint (i_exited, <, i_started2);
  g_assert_cmpuint (((PmSignal *) f->signals->pdata[i_exited])->pid, ==, pid);

  g_assert_true (objects_have_path (f, path));
  g_assert_cmpuint (pm_get_uint (f, id, "Id"), ==, id);
  g_assert_cmpuint (pm_get_uint (f, id, "Pid"), ==, started2->pid);
  g_assert_true (pm_list_lookup (f, id, NULL, &new_pid, &state, NULL));
  g_assert_cmpuint (new_pid, ==, started2->pid);
  g_assert_cmpstr (state, ==, "running");
  g_assert_true (pm_pid_alive ((pid_t) new_pid));
  pm_assert_pid_dead ((pid_t) pid, 0);
  /* PropertiesChanged carried the new pid. */
  {
    PidChange pc = { f, id, started2->pid };

    if (!pm_wait_for (pid_change_cond, &pc, 2000))
      g_error ("no PropertiesChanged with the new Pid %u", started2->pid);
  }
  /* A manual restart is not counted. */
  g_assert_cmpuint (pm_get_uint (f, id, "Restarts"), ==, 0);
  g_assert_cmpuint (pm_list_count (f), ==, 1);
}

static void
test_restart_exited (PmFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *marker = pm_tmp_path (f, "ran-once");
  g_autofree gchar *script = pm_write_script (
      f, "once.sh",
      "#!/bin/sh\n"
      "# Exits 5 the first time; runs until stopped the next.\n"
      "if [ -e \"$1\" ]; then while :; do sleep 0.05; done; fi\n"
      ": > \"$1\"\nexit 5\n", 0755);
  g_autofree gchar *state = NULL;
  guint32 id, pid;
  PmSignal *started2;

  id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'once'>, 'args': <[%s]>,"
                                " 'restartAt': <@au []>}", script, marker), &pid);
  g_assert_nonnull (pm_wait_for_signal (f, "Exited", id, PM_TEST_TIMEOUT_MS));
  state = pm_get_string (f, id, "State");
  g_assert_cmpstr (state, ==, "exited");
  g_clear_pointer (&state, g_free);

  g_assert_cmpuint (pm_restart (f, "once", &error), ==, 1);
  g_assert_no_error (error);
  /* Nothing ran, so nothing was asked to stop. */
  g_assert_cmpuint (pm_count_signals (f, "Stopping", id), ==, 0);
  started2 = pm_wait_for_nth_signal (f, "Started", id, 2, PM_TEST_TIMEOUT_MS);
  g_assert_nonnull (started2);
  state = pm_get_string (f, id, "State");
  g_assert_cmpstr (state, ==, "running");
  g_assert_cmpuint (pm_get_uint (f, id, "Pid"), ==, started2->pid);
}

static void
test_process_stop_method (PmFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autofree gchar *path = NULL;
  guint32 pid;
  guint32 id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'stopTimeout': <uint32 100>}",
                                        LONG_SCRIPT), &pid);
  guint32 other = pm_start_ok (f, pm_opts ("{'script': <%s>}", LONG_SCRIPT), NULL);

  path = pm_process_path (id);
  reply = pm_call_full (f, path, PM_TEST_PROCESS_IFACE, "Stop", NULL,
                        G_VARIANT_TYPE ("()"), PM_TEST_TIMEOUT_MS, &error);
  g_assert_no_error (error);
  g_assert_nonnull (pm_wait_for_signal (f, "Stopping", id, PM_TEST_TIMEOUT_MS));
  g_assert_nonnull (pm_wait_for_signal (f, "Exited", id, PM_TEST_TIMEOUT_MS));
  pm_assert_pid_dead ((pid_t) pid, 0);
  g_assert_false (objects_have_path (f, path));
  g_assert_false (pm_list_lookup (f, id, NULL, NULL, NULL, NULL));
  g_assert_true (pm_list_lookup (f, other, NULL, NULL, NULL, NULL));
  g_assert_cmpuint (pm_count_signals (f, "Stopping", other), ==, 0);
}

static void
test_process_restart_method (PmFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autofree gchar *path = NULL;
  guint32 pid;
  guint32 id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'stopTimeout': <uint32 100>}",
                                        LONG_SCRIPT), &pid);
  PmSignal *started2;

  path = pm_process_path (id);
  reply = pm_call_full (f, path, PM_TEST_PROCESS_IFACE, "Restart", NULL,
                        G_VARIANT_TYPE ("()"), PM_TEST_TIMEOUT_MS, &error);
  g_assert_no_error (error);
  started2 = pm_wait_for_nth_signal (f, "Started", id, 2, PM_TEST_TIMEOUT_MS);
  g_assert_nonnull (started2);
  g_assert_cmpuint (started2->pid, !=, pid);
  g_assert_cmpint (pm_find_signal (f, 0, "Exited", id), <,
                   pm_find_signal (f, 1 + (guint) pm_find_signal (f, 0, "Started", id),
                                   "Started", id));
  g_assert_true (objects_have_path (f, path));
  g_assert_cmpuint (pm_get_uint (f, id, "Pid"), ==, started2->pid);
  pm_assert_pid_dead ((pid_t) pid, 0);
}

static void
test_process_stop_exited (PmFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autofree gchar *path = NULL;
  guint32 id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'restartAt': <@au []>}",
                                        pm_data_file ("exit-with.sh")), NULL);

  g_assert_nonnull (pm_wait_for_signal (f, "Exited", id, PM_TEST_TIMEOUT_MS));
  path = pm_process_path (id);
  reply = pm_call_full (f, path, PM_TEST_PROCESS_IFACE, "Stop", NULL,
                        G_VARIANT_TYPE ("()"), PM_TEST_TIMEOUT_MS, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (pm_count_signals (f, "Stopping", id), ==, 0);
  g_assert_false (objects_have_path (f, path));
  g_assert_cmpuint (pm_list_count (f), ==, 0);
}

static void
test_process_restart_exited (PmFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autofree gchar *path = NULL;
  guint32 id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'args': <['2']>, 'restartAt': <@au []>}",
                                        pm_data_file ("exit-with.sh")), NULL);

  g_assert_nonnull (pm_wait_for_signal (f, "Exited", id, PM_TEST_TIMEOUT_MS));
  path = pm_process_path (id);
  reply = pm_call_full (f, path, PM_TEST_PROCESS_IFACE, "Restart", NULL,
                        G_VARIANT_TYPE ("()"), PM_TEST_TIMEOUT_MS, &error);
  g_assert_no_error (error);
  g_assert_nonnull (pm_wait_for_nth_signal (f, "Started", id, 2, PM_TEST_TIMEOUT_MS));
  /* It exits 2 again, by itself. */
  g_assert_nonnull (pm_wait_for_nth_signal (f, "Exited", id, 2, PM_TEST_TIMEOUT_MS));
  g_assert_cmpuint (pm_count_signals (f, "Stopping", id), ==, 0);
}

static void
test_object_added_removed (PmFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *path = NULL;
  gboolean added = FALSE, removed = FALSE;
  guint32 id = start_named (f, "obj", NULL);

  path = pm_process_path (id);
  g_assert_cmpuint (pm_stop (f, "obj", &error), ==, 1);
  g_assert_no_error (error);
  /* Let the ObjectManager signals arrive (they may follow the reply). */
  pm_iterate_for (200);
  for (guint i = 0; i < f->signals->len; i++)
    {
      PmSignal *s = f->signals->pdata[i];
      const char *opath = NULL;

      if (!g_variant_is_of_type (s->params, G_VARIANT_TYPE ("(oa{sa{sv}})")) &&
          !g_variant_is_of_type (s->params, G_VARIANT_TYPE ("(oas)")))
        continue;
      g_variant_get_child (s->params, 0, "&o", &opath);
      if (g_strcmp0 (opath, path) != 0)
        continue;
      if (g_str_equal (s->signal, "InterfacesAdded"))
        added = TRUE;
      if (g_str_equal (s->signal, "InterfacesRemoved"))
        removed = TRUE;
    }
  g_assert_true (added);
  g_assert_true (removed);
}

static void
test_ids_not_reused (PmFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  guint32 a = start_named (f, "x", NULL);
  guint32 b;

  g_assert_cmpuint (pm_stop (f, "x", &error), ==, 1);
  g_assert_no_error (error);
  b = start_named (f, "x", NULL);
  g_assert_cmpuint (b, >, a);
}

static void
test_name_is_exact (PmFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  start_named (f, "web", NULL);
  start_named (f, "webber", NULL);
  g_assert_cmpuint (pm_stop (f, "web", &error), ==, 1);
  g_assert_no_error (error);
  g_assert_cmpuint (pm_list_count (f), ==, 1);
  pm_stop (f, "WEBBER", &error);
  pm_assert_remote_error (error, PM_TEST_ERROR_NOT_FOUND);
}

static void
test_restart_not_found (PmFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  g_assert_cmpuint (pm_restart (f, "ghost", &error), ==, 0);
  pm_assert_remote_error (error, PM_TEST_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_cmpuint (pm_stop (f, "ghost", &error), ==, 0);
  pm_assert_remote_error (error, PM_TEST_ERROR_NOT_FOUND);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  pm_test_init ();

  pm_test_add ("/names/duplicate/stop", test_duplicate_stop, NULL);
  pm_test_add ("/names/duplicate/restart", test_duplicate_restart, NULL);
  pm_test_add ("/names/exact-match", test_name_is_exact, NULL);
  pm_test_add ("/names/not-found", test_restart_not_found, NULL);
  pm_test_add ("/names/ids-not-reused", test_ids_not_reused, NULL);
  pm_test_add ("/names/restart/keeps-id-new-pid", test_restart_keeps_id, NULL);
  pm_test_add ("/names/restart/exited-starts-again", test_restart_exited, NULL);
  pm_test_add ("/names/object/stop", test_process_stop_method, NULL);
  pm_test_add ("/names/object/restart", test_process_restart_method, NULL);
  pm_test_add ("/names/object/stop-exited", test_process_stop_exited, NULL);
  pm_test_add ("/names/object/restart-exited", test_process_restart_exited, NULL);
  pm_test_add ("/names/object/added-removed", test_object_added_removed, NULL);

  return g_test_run ();
}
