/* test-dbus-basic.c — the real elife-pmd on a private bus: Start and its
 * options, List, properties, the ObjectManager, errors, exits, environment
 * and the children's output. */
#include "pm-test-util.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <glib/gstdio.h>

#define LONG_SCRIPT pm_data_file ("sleep-forever.sh")

/* ---- helpers -------------------------------------------------------------- */

static GVariant *
parse_opts (const char *text)
{
  g_autoptr(GError) error = NULL;
  GVariant *v = g_variant_parse (G_VARIANT_TYPE_VARDICT, text, NULL, NULL, &error);

  g_assert_no_error (error);
  return v;
}

static void
assert_contains (const char *haystack, const char *needle)
{
  if (strstr (haystack, needle) == NULL)
    g_error ("\"%s\" does not contain \"%s\"", haystack, needle);
}

static void
assert_version_answers (PmFixture *f)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = pm_call_full (
      f, PM_TEST_PATH, "org.freedesktop.DBus.Properties", "Get",
      g_variant_new ("(ss)", PM_TEST_IFACE, "Version"), G_VARIANT_TYPE ("(v)"),
      PM_TEST_TIMEOUT_MS, &error);

  g_assert_no_error (error);
  g_assert_nonnull (reply);
}

static guint
count_process_objects (GVariant *objects)
{
  GVariantIter iter;
  const char *path;
  guint n = 0;

  g_variant_iter_init (&iter, objects);
  while (g_variant_iter_next (&iter, "{&o@a{sa{sv}}}", &path, NULL))
    if (g_str_has_prefix (path, PM_TEST_PATH "/process/"))
      n++;
  return n;
}

/* A Start that must fail with dbus_error whose message contains `needle`,
 * leaving List and the objects as they were, the daemon still answering.
 * One process runs beforehand so that "unchanged" means something. */
static void
assert_start_fails (PmFixture *f, GVariant *opts, const char *dbus_error,
                    const char *needle, const char *needle2)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) list_before = NULL;
  g_autoptr(GVariant) list_after = NULL;
  g_autoptr(GVariant) objs_before = NULL;
  g_autoptr(GVariant) objs_after = NULL;
  guint started_before;
  guint32 id;

  g_variant_ref_sink (opts);
  if (pm_list_count (f) == 0)
    pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'bystander'>}", LONG_SCRIPT), NULL);
  list_before = pm_list (f);
  objs_before = pm_managed_objects (f);
  started_before = pm_count_signals (f, "Started", 0);

  id = pm_start (f, opts, &error);
  g_assert_cmpuint (id, ==, 0);
  pm_assert_remote_error (error, dbus_error);
  g_dbus_error_strip_remote_error (error);
  g_test_message ("error message: %s", error->message);
  if (needle != NULL)
    assert_contains (error->message, needle);
  if (needle2 != NULL)
    assert_contains (error->message, needle2);

  list_after = pm_list (f);
  objs_after = pm_managed_objects (f);
  g_assert_true (g_variant_equal (list_before, list_after));
  g_assert_cmpuint (count_process_objects (objs_after), ==,
                    count_process_objects (objs_before));
  g_assert_cmpuint (pm_count_signals (f, "Started", 0), ==, started_before);
  assert_version_answers (f);
  g_variant_unref (opts);
}

/* Reads KEY=VALUE lines (env output) into a hash table. */
static GHashTable *
read_env_file (const char *path)
{
  g_autofree gchar *text = NULL;
  g_auto(GStrv) lines = NULL;
  GHashTable *env = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);

  g_assert_true (pm_wait_for_file (path, PM_TEST_TIMEOUT_MS));
  text = pm_read_file (path);
  g_assert_nonnull (text);
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      const char *eq = strchr (lines[i], '=');

      if (eq == NULL)
        continue;
      g_hash_table_insert (env, g_strndup (lines[i], (gsize) (eq - lines[i])),
                           g_strdup (eq + 1));
    }
  return env;
}

/* ---- Start, List, signals --------------------------------------------------- */

static void
test_list_empty (PmFixture *f, gconstpointer data)
{
  g_assert_cmpuint (pm_list_count (f), ==, 0);
}

static void
test_start_ids (PmFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  guint32 pids[3];
  guint32 id;

  for (guint i = 0; i < 3; i++)
    {
      id = pm_start_ok (f, pm_opts ("{'script': <%s>}", LONG_SCRIPT), &pids[i]);
      g_assert_cmpuint (id, ==, i + 1);
    }
  g_assert_cmpuint (pm_list_count (f), ==, 3);

  /* Ids are never reused, not even after the highest one is forgotten. */
  g_assert_cmpuint (pm_stop_all (f, &error), ==, 3);
  g_assert_no_error (error);
  id = pm_start_ok (f, pm_opts ("{'script': <%s>}", LONG_SCRIPT), NULL);
  g_assert_cmpuint (id, ==, 4);
}

static void
test_start_reply_after_spawn (PmFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *state = NULL;
  PmSignal *started;
  guint32 pid = 0;
  guint32 id;

  /* When Start replies the child has been spawned: List shows its pid at
   * once (Started may come before or after the reply). */
  id = pm_start (f, pm_opts ("{'script': <%s>, 'name': <'web'>}", LONG_SCRIPT), &error);
  g_assert_no_error (error);
  g_assert_true (pm_list_lookup (f, id, NULL, &pid, &state, NULL));
  g_assert_cmpuint (pid, >, 0);
  g_assert_cmpstr (state, ==, "running");
  g_assert_true (pm_pid_alive ((pid_t) pid));
  started = pm_wait_for_signal (f, "Started", id, PM_TEST_TIMEOUT_MS);
  g_assert_nonnull (started);
  g_assert_cmpuint (started->pid, ==, pid);
}

static void
test_started_signal (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *name = NULL;
  g_autofree gchar *state = NULL;
  guint32 pid = 0, list_pid = 0, restarts = 99;
  PmSignal *s;
  guint32 id;

  id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'web'>}", LONG_SCRIPT), &pid);
  s = pm_wait_for_signal (f, "Started", id, PM_TEST_TIMEOUT_MS);
  g_assert_cmpstr (s->name, ==, "web");
  g_assert_cmpstr (s->path, ==, PM_TEST_PATH);
  g_assert_true (pm_list_lookup (f, id, &name, &list_pid, &state, &restarts));
  g_assert_cmpstr (name, ==, "web");
  g_assert_cmpuint (list_pid, ==, pid);
  g_assert_cmpstr (state, ==, "running");
  g_assert_cmpuint (restarts, ==, 0);
  g_assert_cmpuint (pm_get_uint (f, id, "Pid"), ==, pid);

  /* Unnamed: "" */
  id = pm_start_ok (f, pm_opts ("{'script': <%s>}", LONG_SCRIPT), NULL);
  s = pm_wait_for_signal (f, "Started", id, PM_TEST_TIMEOUT_MS);
  g_assert_cmpstr (s->name, ==, "");
}

static void
test_list_order (PmFixture *f, gconstpointer data)
{
  g_autoptr(GVariant) list = NULL;
  GVariantIter iter;
  guint32 id, pid, restarts, last = 0;
  const char *name, *state;

  for (guint i = 0; i < 4; i++)
    pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <%s>}", LONG_SCRIPT,
                             i % 2 ? "b" : "a"), NULL);
  list = pm_list (f);
  g_assert_cmpuint (g_variant_n_children (list), ==, 4);
  g_variant_iter_init (&iter, list);
  while (g_variant_iter_next (&iter, "(u&su&su)", &id, &name, &pid, &state, &restarts))
    {
      g_assert_cmpuint (id, >, last);
      last = id;
    }
}

/* What GetManagedObjects says of process @id: FALSE when it is not there. */
static gboolean
objects_lookup (PmFixture *f, guint32 id, guint32 *pid, gchar **state, guint32 *restarts)
{
  g_autoptr(GVariant) objects = pm_managed_objects (f);
  g_autofree gchar *path = pm_process_path (id);
  g_autoptr(GVariant) ifaces = g_variant_lookup_value (objects, path, G_VARIANT_TYPE ("a{sa{sv}}"));
  g_autoptr(GVariant) props = NULL;

  if (ifaces == NULL)
    return FALSE;
  props = g_variant_lookup_value (ifaces, PM_TEST_PROCESS_IFACE, G_VARIANT_TYPE_VARDICT);
  g_assert_nonnull (props);
  if (pid != NULL)
    g_assert_true (g_variant_lookup (props, "Pid", "u", pid));
  if (state != NULL)
    g_assert_true (g_variant_lookup (props, "State", "s", state));
  if (restarts != NULL)
    g_assert_true (g_variant_lookup (props, "Restarts", "u", restarts));
  return TRUE;
}

static guint
objects_count (PmFixture *f)
{
  g_autoptr(GVariant) objects = pm_managed_objects (f);

  return g_variant_n_children (objects);
}

/* List and GetManagedObjects keep their last reply while nothing changed:
 * every kind of change shows in the next one (a new process, an exit, a
 * restart with its count and new pid, removals: of a running process, and of
 * an exited one, whose properties do not change on the way out). */
static void
test_list_follows_changes (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *state = NULL;
  guint32 pid = 0, restarts = 99, list_pid = 0, first_pid, crash;
  guint32 keep = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'keep'>}", LONG_SCRIPT),
                              NULL);
  guint32 exits;
  PmSignal *s;

  g_assert_cmpuint (pm_list_count (f), ==, 1);
  g_assert_cmpuint (pm_list_count (f), ==, 1);
  g_assert_cmpuint (objects_count (f), ==, 1);
  g_assert_cmpuint (objects_count (f), ==, 1);

  /* A new process, then its exit. */
  exits = pm_start_ok (f, pm_opts ("{'script': <%s>, 'args': <['7']>, 'restartAt': <@au []>, "
                                   "'name': <'gone'>}", pm_data_file ("exit-with.sh")), NULL);
  g_assert_cmpuint (pm_list_count (f), ==, 2);
  g_assert_cmpuint (objects_count (f), ==, 2);
  g_assert_nonnull (pm_wait_for_signal (f, "Exited", exits, PM_TEST_TIMEOUT_MS));
  pm_wait_state (f, exits, "exited");
  g_assert_true (pm_list_lookup (f, exits, NULL, &list_pid, &state, NULL));
  g_assert_cmpstr (state, ==, "exited");
  g_assert_cmpuint (list_pid, ==, 0);
  g_clear_pointer (&state, g_free);
  list_pid = 99;
  g_assert_true (objects_lookup (f, exits, &list_pid, &state, NULL));
  g_assert_cmpstr (state, ==, "exited");
  g_assert_cmpuint (list_pid, ==, 0);
  g_clear_pointer (&state, g_free);

  /* A restart: its count and the new pid. */
  crash = pm_start_ok (f, pm_opts ("{'script': <%s>, 'restartAt': <@au [50]>}", LONG_SCRIPT),
                       &first_pid);
  g_assert_true (pm_list_lookup (f, crash, NULL, NULL, NULL, &restarts));
  g_assert_cmpuint (restarts, ==, 0);
  g_assert_true (objects_lookup (f, crash, NULL, NULL, &restarts));
  g_assert_cmpuint (restarts, ==, 0);
  g_assert_cmpint (kill ((pid_t) first_pid, SIGKILL), ==, 0);
  s = pm_wait_for_nth_signal (f, "Started", crash, 2, PM_TEST_TIMEOUT_MS);
  g_assert_nonnull (s);
  g_assert_true (pm_list_lookup (f, crash, NULL, &pid, &state, &restarts));
  g_assert_cmpuint (restarts, ==, 1);
  g_assert_cmpuint (pid, ==, s->pid);
  g_assert_cmpuint (pid, !=, first_pid);
  g_assert_cmpstr (state, ==, "running");
  g_clear_pointer (&state, g_free);
  g_assert_true (objects_lookup (f, crash, &list_pid, &state, &restarts));
  g_assert_cmpuint (restarts, ==, 1);
  g_assert_cmpuint (list_pid, ==, s->pid);
  g_assert_cmpstr (state, ==, "running");

  /* A removal. */
  g_assert_true (objects_lookup (f, keep, NULL, NULL, NULL));
  g_assert_cmpuint (pm_stop (f, "keep", NULL), ==, 1);
  g_assert_nonnull (pm_wait_for_signal (f, "Exited", keep, PM_TEST_TIMEOUT_MS));
  g_assert_false (pm_list_lookup (f, keep, NULL, NULL, NULL, NULL));
  g_assert_false (objects_lookup (f, keep, NULL, NULL, NULL));

  /* The exited one: nothing about it changes, it is just gone. */
  g_assert_true (pm_list_lookup (f, exits, NULL, NULL, NULL, NULL));
  g_assert_true (objects_lookup (f, exits, NULL, NULL, NULL));
  g_assert_cmpuint (pm_stop (f, "gone", NULL), ==, 1);
  g_assert_false (pm_list_lookup (f, exits, NULL, NULL, NULL, NULL));
  g_assert_false (objects_lookup (f, exits, NULL, NULL, NULL));
  g_assert_cmpuint (pm_list_count (f), ==, 1);
  g_assert_cmpuint (objects_count (f), ==, 1);
}

static void
test_version (PmFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = pm_call_full (
      f, PM_TEST_PATH, "org.freedesktop.DBus.Properties", "Get",
      g_variant_new ("(ss)", PM_TEST_IFACE, "Version"), G_VARIANT_TYPE ("(v)"),
      PM_TEST_TIMEOUT_MS, &error);
  g_autoptr(GVariant) v = NULL;

  g_assert_no_error (error);
  g_variant_get (reply, "(v)", &v);
  g_assert_cmpstr (g_variant_get_type_string (v), ==, "s");
  g_assert_cmpstr (g_variant_get_string (v, NULL), ==, PM_TEST_EXPECTED_VERSION);
}

static void
test_reopen_logs (PmFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = pm_call (f, "ReopenLogs", NULL, "()", &error);

  g_assert_no_error (error);
  g_assert_nonnull (reply);
}

static void
test_introspectable (PmFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = pm_call_full (
      f, PM_TEST_PATH, "org.freedesktop.DBus.Introspectable", "Introspect",
      NULL, G_VARIANT_TYPE ("(s)"), PM_TEST_TIMEOUT_MS, &error);
  const char *xml;

  g_assert_no_error (error);
  g_variant_get (reply, "(&s)", &xml);
  assert_contains (xml, "org.elife.ProcessManager");
  assert_contains (xml, "org.freedesktop.DBus.ObjectManager");
  assert_contains (xml, "StopAll");
}

/* ---- ObjectManager and properties ----------------------------------------------- */

static GVariant *
lookup_object_props (GVariant *objects, const char *path)
{
  g_autoptr(GVariant) ifaces = g_variant_lookup_value (objects, path,
                                                       G_VARIANT_TYPE ("a{sa{sv}}"));

  if (ifaces == NULL)
    return NULL;
  return g_variant_lookup_value (ifaces, PM_TEST_PROCESS_IFACE,
                                 G_VARIANT_TYPE_VARDICT);
}

static void
assert_prop_str (GVariant *props, const char *key, const char *expected)
{
  const char *v = NULL;

  if (!g_variant_lookup (props, key, "&s", &v))
    g_error ("property %s missing or not a string", key);
  g_assert_cmpstr (v, ==, expected);
}

static void
assert_prop_u (GVariant *props, const char *key, guint32 expected)
{
  guint32 v = 0;

  if (!g_variant_lookup (props, key, "u", &v))
    g_error ("property %s missing or not u", key);
  g_assert_cmpuint (v, ==, expected);
}

static void
assert_prop_i (GVariant *props, const char *key, gint32 expected)
{
  gint32 v = 0;

  if (!g_variant_lookup (props, key, "i", &v))
    g_error ("property %s missing or not i", key);
  g_assert_cmpint (v, ==, expected);
}

static void
test_object_manager (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *sub = pm_tmp_path (f, "sub");
  g_autofree gchar *script = NULL;
  g_autofree gchar *log_path = NULL;
  g_autofree gchar *path_a = NULL;
  g_autofree gchar *path_b = NULL;
  g_autoptr(GVariant) objects = NULL;
  g_autoptr(GVariant) props_a = NULL;
  g_autoptr(GVariant) props_b = NULL;
  g_autoptr(GVariant) args = NULL;
  guint32 id_a, id_b, pid_a, pid_b;
  const char **strv;

  g_assert_cmpint (g_mkdir (sub, 0755), ==, 0);
  script = g_build_filename (sub, "rel.sh", NULL);
  g_assert_true (g_file_set_contents (script, "#!/bin/sh\nwhile :; do sleep 0.05; done\n", -1, NULL));
  g_assert_cmpint (g_chmod (script, 0755), ==, 0);
  log_path = g_build_filename (sub, "out.log", NULL);

  /* A: relative script and log resolved against the given cwd. */
  id_a = pm_start_ok (f, pm_opts ("{'script': <'rel.sh'>, 'cwd': <%s>, 'log': <'out.log'>,"
                                  " 'name': <'om'>, 'args': <['x', 'y z']>}", sub), &pid_a);
  /* B: defaults — the daemon's cwd, no log, no name, no args. */
  id_b = pm_start_ok (f, pm_opts ("{'script': <%s>}", LONG_SCRIPT), &pid_b);

  objects = pm_managed_objects (f);
  g_assert_cmpuint (count_process_objects (objects), ==, 2);
  path_a = pm_process_path (id_a);
  path_b = pm_process_path (id_b);
  props_a = lookup_object_props (objects, path_a);
  props_b = lookup_object_props (objects, path_b);
  g_assert_nonnull (props_a);
  g_assert_nonnull (props_b);

  assert_prop_u (props_a, "Id", id_a);
  assert_prop_str (props_a, "Name", "om");
  assert_prop_u (props_a, "Pid", pid_a);
  assert_prop_str (props_a, "State", "running");
  assert_prop_u (props_a, "Restarts", 0);
  assert_prop_str (props_a, "Script", script);
  assert_prop_str (props_a, "Cwd", sub);
  assert_prop_str (props_a, "Log", log_path);
  assert_prop_i (props_a, "ExitCode", 0);
  assert_prop_i (props_a, "ExitSignal", 0);
  args = g_variant_lookup_value (props_a, "Args", G_VARIANT_TYPE_STRING_ARRAY);
  g_assert_nonnull (args);
  strv = g_variant_get_strv (args, NULL);
  g_assert_cmpuint (g_strv_length ((gchar **) strv), ==, 2);
  g_assert_cmpstr (strv[0], ==, "x");
  g_assert_cmpstr (strv[1], ==, "y z");
  g_free (strv);

  assert_prop_u (props_b, "Id", id_b);
  assert_prop_str (props_b, "Name", "");
  assert_prop_u (props_b, "Pid", pid_b);
  assert_prop_str (props_b, "Script", LONG_SCRIPT);
  assert_prop_str (props_b, "Cwd", f->tmpdir);
  assert_prop_str (props_b, "Log", "");
}

static void
test_properties_get (PmFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) args = NULL;
  g_autoptr(GVariant) all = NULL;
  g_autofree gchar *s = NULL;
  g_autofree gchar *path = NULL;
  guint32 pid;
  guint32 id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'props'>, 'args': <['1']>}",
                                        LONG_SCRIPT), &pid);

  g_assert_cmpuint (pm_get_uint (f, id, "Id"), ==, id);
  g_assert_cmpuint (pm_get_uint (f, id, "Pid"), ==, pid);
  g_assert_cmpuint (pm_get_uint (f, id, "Restarts"), ==, 0);
  g_assert_cmpint (pm_get_int (f, id, "ExitCode"), ==, 0);
  g_assert_cmpint (pm_get_int (f, id, "ExitSignal"), ==, 0);
  s = pm_get_string (f, id, "Name");
  g_assert_cmpstr (s, ==, "props");
  g_clear_pointer (&s, g_free);
  s = pm_get_string (f, id, "State");
  g_assert_cmpstr (s, ==, "running");
  g_clear_pointer (&s, g_free);
  s = pm_get_string (f, id, "Script");
  g_assert_cmpstr (s, ==, LONG_SCRIPT);
  g_clear_pointer (&s, g_free);
  s = pm_get_string (f, id, "Cwd");
  g_assert_cmpstr (s, ==, f->tmpdir);
  g_clear_pointer (&s, g_free);
  s = pm_get_string (f, id, "Log");
  g_assert_cmpstr (s, ==, "");
  args = pm_get_property (f, id, "Args", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (g_variant_get_type_string (args), ==, "as");

  path = pm_process_path (id);
  all = pm_call_full (f, path, "org.freedesktop.DBus.Properties", "GetAll",
                      g_variant_new ("(s)", PM_TEST_PROCESS_IFACE),
                      G_VARIANT_TYPE ("(a{sv})"), PM_TEST_TIMEOUT_MS, &error);
  g_assert_no_error (error);
  {
    g_autoptr(GVariant) dict = g_variant_get_child_value (all, 0);
    const char *keys[] = { "Id", "Name", "Pid", "State", "Restarts", "Script",
                           "Args", "Cwd", "Log", "ExitCode", "ExitSignal", NULL };

    for (guint i = 0; keys[i] != NULL; i++)
      {
        g_autoptr(GVariant) v = g_variant_lookup_value (dict, keys[i], NULL);
        if (v == NULL)
          g_error ("GetAll lacks %s", keys[i]);
      }
  }
}

static void
test_properties_read_only (PmFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *path = NULL;
  g_autofree gchar *name = NULL;
  g_autoptr(GVariant) reply = NULL;
  guint32 id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'ro'>}", LONG_SCRIPT), NULL);

  path = pm_process_path (id);
  reply = pm_call_full (f, path, "org.freedesktop.DBus.Properties", "Set",
                        g_variant_new ("(ssv)", PM_TEST_PROCESS_IFACE, "Name",
                                       g_variant_new_string ("changed")),
                        NULL, PM_TEST_TIMEOUT_MS, &error);
  g_assert_null (reply);
  g_assert_nonnull (error);
  name = pm_get_string (f, id, "Name");
  g_assert_cmpstr (name, ==, "ro");
}

/* Merges every PropertiesChanged seen for `id` into one dict. */
static GHashTable *
merged_changes (PmFixture *f, guint32 id)
{
  GHashTable *h = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                         (GDestroyNotify) g_variant_unref);

  for (gint i = pm_find_signal (f, 0, "PropertiesChanged", id); i >= 0;
       i = pm_find_signal (f, (guint) i + 1, "PropertiesChanged", id))
    {
      PmSignal *s = f->signals->pdata[i];
      const char *iface;
      g_autoptr(GVariant) changed = NULL;
      GVariantIter iter;
      const char *key;
      GVariant *value;

      g_variant_get (s->params, "(&s@a{sv}@as)", &iface, &changed, NULL);
      if (g_strcmp0 (iface, PM_TEST_PROCESS_IFACE) != 0)
        continue;
      g_variant_iter_init (&iter, changed);
      while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
        g_hash_table_insert (h, g_strdup (key), value);
    }
  return h;
}

typedef struct
{
  PmFixture *f;
  guint32 id;
  const char *state;
} StateWait;

static gboolean
changed_state_cond (gpointer data)
{
  StateWait *w = data;
  g_autoptr(GHashTable) h = merged_changes (w->f, w->id);
  GVariant *v = g_hash_table_lookup (h, "State");

  return v != NULL && g_strcmp0 (g_variant_get_string (v, NULL), w->state) == 0;
}

static void
test_properties_changed (PmFixture *f, gconstpointer data)
{
  g_autoptr(GHashTable) h = NULL;
  StateWait w;
  GVariant *v;
  guint32 id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'args': <['4']>,"
                                        " 'restartAt': <@au []>}",
                                        pm_data_file ("exit-with.sh")), NULL);

  g_assert_nonnull (pm_wait_for_signal (f, "Exited", id, PM_TEST_TIMEOUT_MS));
  w = (StateWait) { f, id, "exited" };
  if (!pm_wait_for (changed_state_cond, &w, 3000))
    g_error ("no PropertiesChanged with State \"exited\" on the process object");
  h = merged_changes (f, id);
  v = g_hash_table_lookup (h, "Pid");
  g_assert_nonnull (v);
  g_assert_cmpuint (g_variant_get_uint32 (v), ==, 0);
  v = g_hash_table_lookup (h, "ExitCode");
  g_assert_nonnull (v);
  g_assert_cmpint (g_variant_get_int32 (v), ==, 4);
}

/* ---- exits -------------------------------------------------------------------- */

static void
test_exited_normal (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *state = NULL;
  guint32 pid, list_pid = 99;
  PmSignal *s;
  guint32 id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'ex'>, 'args': <['3']>,"
                                        " 'restartAt': <@au []>}",
                                        pm_data_file ("exit-with.sh")), &pid);

  s = pm_wait_for_signal (f, "Exited", id, PM_TEST_TIMEOUT_MS);
  g_assert_nonnull (s);
  g_assert_cmpstr (s->name, ==, "ex");
  g_assert_cmpuint (s->pid, ==, pid);
  g_assert_cmpint (s->exit_code, ==, 3);
  g_assert_cmpint (s->term_signal, ==, 0);

  /* Stays listed as exited, and is not restarted. */
  pm_iterate_for (300);
  g_assert_cmpuint (pm_count_signals (f, "Started", id), ==, 1);
  g_assert_true (pm_list_lookup (f, id, NULL, &list_pid, &state, NULL));
  g_assert_cmpstr (state, ==, "exited");
  g_assert_cmpuint (list_pid, ==, 0);
  g_clear_pointer (&state, g_free);
  state = pm_get_string (f, id, "State");
  g_assert_cmpstr (state, ==, "exited");
  g_assert_cmpuint (pm_get_uint (f, id, "Pid"), ==, 0);
  g_assert_cmpint (pm_get_int (f, id, "ExitCode"), ==, 3);
  g_assert_cmpint (pm_get_int (f, id, "ExitSignal"), ==, 0);
}

static void
test_exited_signal (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *state = NULL;
  guint32 pid;
  PmSignal *s;
  guint32 id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'restartAt': <@au []>}",
                                        LONG_SCRIPT), &pid);

  g_assert_cmpint (kill ((pid_t) pid, SIGTERM), ==, 0);
  s = pm_wait_for_signal (f, "Exited", id, PM_TEST_TIMEOUT_MS);
  g_assert_nonnull (s);
  g_assert_cmpuint (s->pid, ==, pid);
  g_assert_cmpint (s->exit_code, ==, -1);
  g_assert_cmpint (s->term_signal, ==, SIGTERM);
  g_assert_cmpint (pm_get_int (f, id, "ExitCode"), ==, -1);
  g_assert_cmpint (pm_get_int (f, id, "ExitSignal"), ==, SIGTERM);
  state = pm_get_string (f, id, "State");
  g_assert_cmpstr (state, ==, "exited");
}

static void
test_exited_zero (PmFixture *f, gconstpointer data)
{
  PmSignal *s;
  guint32 id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'restartAt': <@au []>}",
                                        pm_data_file ("exit-with.sh")), NULL);

  s = pm_wait_for_signal (f, "Exited", id, PM_TEST_TIMEOUT_MS);
  g_assert_nonnull (s);
  g_assert_cmpint (s->exit_code, ==, 0);
  g_assert_cmpint (s->term_signal, ==, 0);
}

static void
test_stop_exited (PmFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) objects = NULL;
  g_autoptr(GVariant) v = NULL;
  guint32 id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'gone'>,"
                                        " 'restartAt': <@au []>}",
                                        pm_data_file ("exit-with.sh")), NULL);

  g_assert_nonnull (pm_wait_for_signal (f, "Exited", id, PM_TEST_TIMEOUT_MS));
  g_assert_cmpuint (pm_stop (f, "gone", &error), ==, 1);
  g_assert_no_error (error);
  /* Nothing ran, so nothing was asked to stop. */
  g_assert_cmpuint (pm_count_signals (f, "Stopping", id), ==, 0);
  g_assert_cmpuint (pm_list_count (f), ==, 0);
  objects = pm_managed_objects (f);
  g_assert_cmpuint (count_process_objects (objects), ==, 0);
  v = pm_get_property (f, id, "State", &error);
  g_assert_null (v);
  g_assert_nonnull (error);
  /* Forgotten: a second Stop finds nothing. */
  g_clear_error (&error);
  pm_stop (f, "gone", &error);
  pm_assert_remote_error (error, PM_TEST_ERROR_NOT_FOUND);
}

/* ---- stop-all, not found ---------------------------------------------------------- */

static void
test_stop_all (PmFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) objects = NULL;
  guint32 pids[3];
  guint32 ids[3];

  for (guint i = 0; i < 3; i++)
    ids[i] = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <%s>, 'stopTimeout': <uint32 100>}",
                                      LONG_SCRIPT, i == 2 ? "b" : "a"), &pids[i]);
  g_assert_cmpuint (pm_stop_all (f, &error), ==, 3);
  g_assert_no_error (error);
  for (guint i = 0; i < 3; i++)
    {
      g_assert_nonnull (pm_wait_for_signal (f, "Stopping", ids[i], PM_TEST_TIMEOUT_MS));
      g_assert_nonnull (pm_wait_for_signal (f, "Exited", ids[i], PM_TEST_TIMEOUT_MS));
      pm_assert_pid_dead ((pid_t) pids[i], 0);
    }
  g_assert_cmpuint (pm_list_count (f), ==, 0);
  objects = pm_managed_objects (f);
  g_assert_cmpuint (count_process_objects (objects), ==, 0);
}

static void
test_stop_all_empty (PmFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  g_assert_cmpuint (pm_stop_all (f, &error), ==, 0);
  g_assert_no_error (error);
}

static void
test_not_found (PmFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'exists'>}", LONG_SCRIPT), NULL);
  g_assert_cmpuint (pm_stop (f, "nope", &error), ==, 0);
  pm_assert_remote_error (error, PM_TEST_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_cmpuint (pm_restart (f, "nope", &error), ==, 0);
  pm_assert_remote_error (error, PM_TEST_ERROR_NOT_FOUND);
  g_clear_error (&error);
  /* The unnamed processes have the name "": not a handle for Stop. */
  g_assert_cmpuint (pm_list_count (f), ==, 1);
  assert_version_answers (f);
}

/* ---- InvalidArgs ------------------------------------------------------------------ */

static void
test_invalid_unknown_key (PmFixture *f, gconstpointer data)
{
  assert_start_fails (f, pm_opts ("{'script': <%s>, 'bogusKey': <'x'>}", LONG_SCRIPT),
                      PM_TEST_ERROR_INVALID_ARGS, "bogusKey", NULL);
}

static void
test_invalid_missing_script (PmFixture *f, gconstpointer data)
{
  assert_start_fails (f, pm_opts ("{'name': <'noscript'>}"),
                      PM_TEST_ERROR_INVALID_ARGS, "script", NULL);
}

static void
test_invalid_empty_options (PmFixture *f, gconstpointer data)
{
  assert_start_fails (f, pm_opts ("@a{sv} {}"), PM_TEST_ERROR_INVALID_ARGS, "script", NULL);
}

static void
test_invalid_empty_script (PmFixture *f, gconstpointer data)
{
  assert_start_fails (f, pm_opts ("{'script': <''>}"),
                      PM_TEST_ERROR_INVALID_ARGS, "script", NULL);
}

static void
test_invalid_relative_cwd (PmFixture *f, gconstpointer data)
{
  assert_start_fails (f, pm_opts ("{'script': <%s>, 'cwd': <'relative/dir'>}", LONG_SCRIPT),
                      PM_TEST_ERROR_INVALID_ARGS, "cwd", NULL);
}

typedef struct
{
  const char *key;
  const char *bad;      /* GVariant text of a value of the wrong type */
} WrongType;

static const WrongType wrong_types[] = {
  { "script", "<uint32 1>" },
  { "name", "<uint32 1>" },
  { "args", "<'not-a-list'>" },
  { "args", "<[1, 2]>" },
  { "cwd", "<true>" },
  { "log", "<uint32 5>" },
  { "env", "<['A=b']>" },
  { "env", "<{'A': <'b'>}>" },
  { "clearEnv", "<'yes'>" },
  { "restartAt", "<[100, 200]>" },   /* ai, not au */
  { "restartOk", "<int32 5>" },
  { "stripANSI", "<uint32 1>" },
  { "stopTimeout", "<int32 300>" },
  { "interpreter", "<['node']>" },
};

static void
test_invalid_wrong_type (PmFixture *f, gconstpointer data)
{
  const WrongType *wt = data;
  g_autofree gchar *text = NULL;

  if (g_strcmp0 (wt->key, "script") == 0)
    text = g_strdup_printf ("{'script': %s}", wt->bad);
  else
    text = g_strdup_printf ("{'script': <'%s'>, '%s': %s}", LONG_SCRIPT, wt->key, wt->bad);
  assert_start_fails (f, parse_opts (text), PM_TEST_ERROR_INVALID_ARGS, wt->key, NULL);
}

/* ---- SpawnFailed ------------------------------------------------------------------- */

static void
test_spawn_missing_cwd (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *cwd = pm_tmp_path (f, "no-such-dir");

  assert_start_fails (f, pm_opts ("{'script': <%s>, 'cwd': <%s>}", LONG_SCRIPT, cwd),
                      PM_TEST_ERROR_SPAWN_FAILED, cwd, g_strerror (ENOENT));
}

static void
test_spawn_missing_script (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *script = pm_tmp_path (f, "no-such-script.sh");

  assert_start_fails (f, pm_opts ("{'script': <%s>}", script),
                      PM_TEST_ERROR_SPAWN_FAILED, script, g_strerror (ENOENT));
}

static void
test_spawn_missing_script_relative (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *script = pm_tmp_path (f, "nope.sh");

  /* Resolved against cwd; the message names the resolved path. */
  assert_start_fails (f, pm_opts ("{'script': <'nope.sh'>, 'cwd': <%s>}", f->tmpdir),
                      PM_TEST_ERROR_SPAWN_FAILED, script, NULL);
}

static void
test_spawn_not_executable (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *script = pm_write_script (f, "noexec.sh",
                                              "#!/bin/sh\nexit 0\n", 0644);

  assert_start_fails (f, pm_opts ("{'script': <%s>}", script),
                      PM_TEST_ERROR_SPAWN_FAILED, script, NULL);
}

static void
test_spawn_interpreter_not_found (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *script = pm_write_script (f, "app.js", "setInterval(() => {}, 1000);\n", 0644);

  assert_start_fails (f, pm_opts ("{'script': <%s>, 'interpreter': <'/nonexistent/electron'>}", script),
                      PM_TEST_ERROR_SPAWN_FAILED, "/nonexistent/electron", NULL);
}

static void
test_spawn_node_not_on_path (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *script = pm_write_script (f, "app.js", "setInterval(() => {}, 1000);\n", 0644);
  g_autofree gchar *empty = pm_tmp_path (f, "empty-bin");

  g_assert_cmpint (g_mkdir (empty, 0755), ==, 0);
  /* node is looked up on the child's PATH, which has no node. */
  assert_start_fails (f, pm_opts ("{'script': <%s>, 'clearEnv': <true>,"
                                  " 'env': <{'PATH': %s}>}", script, empty),
                      PM_TEST_ERROR_SPAWN_FAILED, "node", NULL);
}

static void
test_daemon_survives_errors (PmFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  guint32 id;

  /* A burst of bad calls, then a good one gets the next id. */
  for (guint i = 0; i < 20; i++)
    {
      g_clear_error (&error);
      pm_start (f, pm_opts ("{'script': <''>}"), &error);
      g_assert_nonnull (error);
      g_clear_error (&error);
      pm_start (f, pm_opts ("{'script': <'/nonexistent/x.sh'>}"), &error);
      g_assert_nonnull (error);
      g_clear_error (&error);
      pm_call (f, "Start", g_variant_new ("(s)", "wrong signature"), "(u)", &error);
      g_assert_nonnull (error);
    }
  id = pm_start_ok (f, pm_opts ("{'script': <%s>}", LONG_SCRIPT), NULL);
  g_assert_cmpuint (id, >=, 1);
  g_assert_cmpuint (pm_list_count (f), ==, 1);
}

/* ---- options that reach the child ----------------------------------------------------- */

static void
test_args (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *out = pm_tmp_path (f, "args.txt");
  g_autofree gchar *text = NULL;

  pm_start_ok (f, pm_opts ("{'script': <%s>, 'args': <[%s, 'one', 'two words', '--x=y', '']>}",
                           pm_data_file ("args.sh"), out), NULL);
  g_assert_true (pm_wait_for_file (out, PM_TEST_TIMEOUT_MS));
  text = pm_read_file (out);
  g_assert_cmpstr (text, ==, "one\ntwo words\n--x=y\n\n");
}

/* An executable text file without "#!" runs under /bin/sh, as in a shell;
 * Script still names the file itself. */
static void
test_no_shebang (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *script = pm_write_script (f, "plain", "echo plain script $1\n", 0755);
  g_autofree gchar *shown = NULL;
  guint32 id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'plain'>, 'args': <['ran']>,"
                                        " 'restartAt': <@au []>}", script), NULL);

  g_assert_true (pm_wait_for_line (f, "plain: plain script ran", PM_TEST_TIMEOUT_MS));
  shown = pm_get_string (f, id, "Script");
  g_assert_cmpstr (shown, ==, script);
}

static void
test_cwd_default (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *out = pm_tmp_path (f, "env.txt");
  g_autofree gchar *pwd_file = g_strconcat (out, ".pwd", NULL);
  g_autofree gchar *pwd = NULL;
  g_autofree gchar *cwd = NULL;
  guint32 id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'args': <[%s]>}",
                                        pm_data_file ("dump-env.sh"), out), NULL);

  g_assert_true (pm_wait_for_file (pwd_file, PM_TEST_TIMEOUT_MS));
  pwd = pm_read_file (pwd_file);
  g_strchomp (pwd);
  g_assert_cmpstr (pwd, ==, f->tmpdir);
  cwd = pm_get_string (f, id, "Cwd");
  g_assert_cmpstr (cwd, ==, f->tmpdir);
}

static void
test_cwd_given (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *sub = pm_tmp_path (f, "work");
  g_autofree gchar *out = pm_tmp_path (f, "env.txt");
  g_autofree gchar *pwd_file = g_strconcat (out, ".pwd", NULL);
  g_autofree gchar *pwd = NULL;

  g_assert_cmpint (g_mkdir (sub, 0755), ==, 0);
  pm_start_ok (f, pm_opts ("{'script': <%s>, 'args': <[%s]>, 'cwd': <%s>}",
                           pm_data_file ("dump-env.sh"), out, sub), NULL);
  g_assert_true (pm_wait_for_file (pwd_file, PM_TEST_TIMEOUT_MS));
  pwd = pm_read_file (pwd_file);
  g_strchomp (pwd);
  g_assert_cmpstr (pwd, ==, sub);
}

static void
test_env_merge (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *out = pm_tmp_path (f, "env.txt");
  g_autoptr(GHashTable) env = NULL;
  g_autofree gchar *id_str = NULL;
  guint32 id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'envy'>, 'args': <[%s]>,"
                                        " 'env': <{'FOO': 'bar', 'SPACED': 'a b'}>}",
                                        pm_data_file ("dump-env.sh"), out), NULL);

  env = read_env_file (out);
  id_str = g_strdup_printf ("%u", id);
  g_assert_cmpstr (g_hash_table_lookup (env, "FOO"), ==, "bar");
  g_assert_cmpstr (g_hash_table_lookup (env, "SPACED"), ==, "a b");
  g_assert_cmpstr (g_hash_table_lookup (env, "ELIFE_PM_TEST_MARKER"), ==, "inherited");
  g_assert_nonnull (g_hash_table_lookup (env, "PATH"));
  g_assert_cmpstr (g_hash_table_lookup (env, "ELIFE_PM_ID"), ==, id_str);
  g_assert_cmpstr (g_hash_table_lookup (env, "ELIFE_PM_NAME"), ==, "envy");
  /* Not a python child. */
  g_assert_null (g_hash_table_lookup (env, "PYTHONUNBUFFERED"));
}

static void
test_env_override (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *out = pm_tmp_path (f, "env.txt");
  g_autoptr(GHashTable) env = NULL;

  pm_start_ok (f, pm_opts ("{'script': <%s>, 'args': <[%s]>,"
                           " 'env': <{'ELIFE_PM_TEST_MARKER': 'overridden'}>}",
                           pm_data_file ("dump-env.sh"), out), NULL);
  env = read_env_file (out);
  g_assert_cmpstr (g_hash_table_lookup (env, "ELIFE_PM_TEST_MARKER"), ==, "overridden");
}

static void
test_env_unnamed (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *out = pm_tmp_path (f, "env.txt");
  g_autoptr(GHashTable) env = NULL;
  g_autofree gchar *id_str = NULL;
  guint32 id;

  pm_start_ok (f, pm_opts ("{'script': <%s>}", LONG_SCRIPT), NULL);
  id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'args': <[%s]>}",
                                pm_data_file ("dump-env.sh"), out), NULL);
  env = read_env_file (out);
  id_str = g_strdup_printf ("%u", id);
  g_assert_cmpstr (g_hash_table_lookup (env, "ELIFE_PM_ID"), ==, id_str);
  g_assert_cmpstr (g_hash_table_lookup (env, "ELIFE_PM_NAME"), ==, "");
}

static void
test_env_clear (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *out = pm_tmp_path (f, "env.txt");
  g_autoptr(GHashTable) env = NULL;
  g_autofree gchar *id_str = NULL;
  GHashTableIter iter;
  const char *key;
  guint32 id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'clean'>, 'args': <[%s]>,"
                                        " 'clearEnv': <true>, 'env': <{'FOO': 'bar'}>}",
                                        pm_data_file ("dump-env.sh"), out), NULL);

  env = read_env_file (out);
  id_str = g_strdup_printf ("%u", id);
  g_assert_cmpstr (g_hash_table_lookup (env, "FOO"), ==, "bar");
  g_assert_cmpstr (g_hash_table_lookup (env, "ELIFE_PM_ID"), ==, id_str);
  g_assert_cmpstr (g_hash_table_lookup (env, "ELIFE_PM_NAME"), ==, "clean");
  /* Nothing of the daemon's environment; sh itself adds PWD. */
  g_hash_table_iter_init (&iter, env);
  while (g_hash_table_iter_next (&iter, (gpointer *) &key, NULL))
    if (!g_strv_contains ((const char *[]) { "FOO", "ELIFE_PM_ID", "ELIFE_PM_NAME",
                                             "PWD", NULL }, key))
      g_error ("clearEnv child has %s in its environment", key);
}

static void
test_python_env (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *out = pm_tmp_path (f, "env.json");
  g_autofree gchar *script = NULL;
  g_autofree gchar *text = NULL;
  g_autofree gchar *copy = NULL;

  /* Not executable: .py must be run by python3. */
  g_assert_true (g_file_get_contents (pm_data_file ("dump-env.py"), &text, NULL, NULL));
  script = pm_write_script (f, "dump-env.py", text, 0644);
  pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'py'>, 'args': <[%s]>}", script, out), NULL);
  g_assert_true (pm_wait_for_file (out, PM_TEST_TIMEOUT_MS));
  copy = pm_read_file (out);
  assert_contains (copy, "\"PYTHONUNBUFFERED\": \"1\"");
  assert_contains (copy, "\"ELIFE_PM_NAME\": \"py\"");
  /* Unbuffered: the line arrives while the child still runs. */
  if (!pm_wait_for_line (f, "py: python says hi", 5000))
    g_error ("the python child's print() did not reach the daemon's stdout");
}

static void
test_node_extensions (PmFixture *f, gconstpointer data)
{
  const char *exts[] = { "js", "cjs", "mjs" };

  for (guint i = 0; i < G_N_ELEMENTS (exts); i++)
    {
      g_autofree gchar *name = g_strdup_printf ("w.%s", exts[i]);
      g_autofree gchar *out = g_strdup_printf ("%s/out-%s", f->tmpdir, exts[i]);
      g_autofree gchar *script = NULL;
      g_autofree gchar *text = NULL;
      /* Written aside and renamed: the file appears whole (a test reading
       * it as soon as it exists could find it empty otherwise). */
      const char *body = g_str_equal (exts[i], "mjs")
        ? "import { writeFileSync, renameSync } from 'fs';\n"
          "writeFileSync(process.argv[2] + '.tmp', 'ran');\n"
          "renameSync(process.argv[2] + '.tmp', process.argv[2]);\n"
          "setInterval(() => {}, 1000);\n"
        : "const fs = require('fs');\n"
          "fs.writeFileSync(process.argv[2] + '.tmp', 'ran');\n"
          "fs.renameSync(process.argv[2] + '.tmp', process.argv[2]);\n"
          "setInterval(() => {}, 1000);\n";

      script = pm_write_script (f, name, body, 0644);
      pm_start_ok (f, pm_opts ("{'script': <%s>, 'args': <[%s]>}", script, out), NULL);
      if (!pm_wait_for_file (out, PM_TEST_TIMEOUT_MS))
        g_error ("%s was not run by node", name);
      text = pm_read_file (out);
      g_assert_cmpstr (text, ==, "ran");
    }
}

static void
test_interpreter_option (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *script = pm_write_script (f, "plain.txt",
                                              "echo $$ > \"$1\"\nwhile :; do sleep 0.05; done\n",
                                              0644);
  g_autofree gchar *out = pm_tmp_path (f, "pid");
  g_autofree gchar *js = pm_write_script (f, "e.js",
                                          "require('fs').writeFileSync(process.argv[2], 'ran');\n"
                                          "setInterval(() => {}, 1000);\n", 0644);
  g_autofree gchar *js_out = pm_tmp_path (f, "js-out");
  guint32 pid;

  pm_start_ok (f, pm_opts ("{'script': <%s>, 'interpreter': <'/bin/sh'>, 'args': <[%s]>}",
                           script, out), &pid);
  g_assert_cmpint (pm_read_pid_file (out, PM_TEST_TIMEOUT_MS), ==, (pid_t) pid);

  /* An explicit interpreter for a node script (as an Electron binary would be). */
  pm_start_ok (f, pm_opts ("{'script': <%s>, 'interpreter': <'/usr/bin/node'>, 'args': <[%s]>}",
                           js, js_out), NULL);
  g_assert_true (pm_wait_for_file (js_out, PM_TEST_TIMEOUT_MS));
}

static void
test_accepts_all_options (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *out = pm_tmp_path (f, "args.txt");
  guint32 id;

  id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'all'>, 'args': <[%s]>,"
                                " 'cwd': <%s>, 'log': <'all.log'>, 'env': <{'A': 'b'}>,"
                                " 'clearEnv': <false>, 'restartAt': <[uint32 100, 200]>,"
                                " 'restartOk': <uint32 60000>, 'stripANSI': <true>,"
                                " 'stopTimeout': <uint32 100>, 'interpreter': <'/bin/sh'>}",
                                pm_data_file ("args.sh"), out, f->tmpdir), NULL);
  g_assert_cmpuint (id, ==, 1);
  g_assert_true (pm_wait_for_file (out, PM_TEST_TIMEOUT_MS));
}

/* ---- output ------------------------------------------------------------------------ */

static void
test_stdout_named (PmFixture *f, gconstpointer data)
{
  pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'web'>}", pm_data_file ("echo-lines.sh")), NULL);
  if (!pm_wait_for_line (f, "web: hello stdout", 5000))
    g_error ("no \"web: hello stdout\" line on the daemon's stdout");
  if (!pm_wait_for_line (f, "web: hello stderr", 5000))
    g_error ("no \"web: hello stderr\" line on the daemon's stdout");
}

static void
test_stdout_unnamed (PmFixture *f, gconstpointer data)
{
  pm_start_ok (f, pm_opts ("{'script': <%s>}", pm_data_file ("echo-lines.sh")), NULL);
  if (!pm_wait_for_line (f, "hello stdout", 5000))
    g_error ("no \"hello stdout\" line on the daemon's stdout");
}

static void
test_ipc_chatty_child (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *done = pm_tmp_path (f, "done");
  g_autofree gchar *script = NULL;
  g_autofree gchar *text = NULL;

  g_assert_true (g_file_get_contents (pm_data_file ("chatty.js"), &text, NULL, NULL));
  script = pm_write_script (f, "chatty.js", text, 0644);
  pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'chatty'>, 'args': <[%s]>}",
                           script, done), NULL);
  /* The daemon reads and discards: all the messages get through. */
  if (!pm_wait_for_file (done, 20000))
    g_error ("the chatty node child never finished sending");
  assert_version_answers (f);
}


/* ---- the daemon's own options ---------------------------------------------------------- */

typedef struct
{
  gboolean done;
  gchar *out;
  gchar *err;
  GError *error;
} RunWait;

static void
on_communicated (GObject *source, GAsyncResult *res, gpointer data)
{
  RunWait *w = data;

  g_subprocess_communicate_utf8_finish (G_SUBPROCESS (source), res, &w->out,
                                        &w->err, &w->error);
  w->done = TRUE;
}

static gboolean
run_done_cond (gpointer data)
{
  return ((RunWait *) data)->done;
}

/* Runs elife-pmd with argv (NULL-terminated, after the program), waits for it
 * to exit (asserting it does within the timeout) and returns its wait status. */
static int
run_pmd (const char * const *args, gchar **out, gchar **err)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(GError) error = NULL;
  const char *pmd = g_getenv ("ELIFE_PMD");
  RunWait w = { FALSE, NULL, NULL, NULL };

  g_ptr_array_add (argv, (gpointer) (pmd ? pmd : "elife-pmd"));
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, NULL);
  proc = g_subprocess_newv ((const char * const *) argv->pdata,
                            G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                            G_SUBPROCESS_FLAGS_STDERR_PIPE, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8_async (proc, NULL, NULL, on_communicated, &w);
  if (!pm_wait_for (run_done_cond, &w, PM_TEST_TIMEOUT_MS))
    {
      g_subprocess_force_exit (proc);
      g_error ("elife-pmd %s did not exit", args[0]);
    }
  g_assert_no_error (w.error);
  g_subprocess_wait (proc, NULL, NULL);
  g_test_message ("elife-pmd %s: stdout \"%s\" stderr \"%s\"", args[0], w.out, w.err);
  if (out != NULL)
    *out = g_steal_pointer (&w.out);
  if (err != NULL)
    *err = g_steal_pointer (&w.err);
  g_free (w.out);
  g_free (w.err);
  return g_subprocess_get_status (proc);
}

static void
test_daemon_version_option (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *out = NULL;
  int status = run_pmd ((const char *[]) { "--version", NULL }, &out, NULL);

  g_assert_true (g_spawn_check_wait_status (status, NULL));
  assert_contains (out, PM_TEST_EXPECTED_VERSION);
}

static void
test_daemon_help_option (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *out = NULL;
  int status = run_pmd ((const char *[]) { "--help", NULL }, &out, NULL);

  g_assert_true (g_spawn_check_wait_status (status, NULL));
  assert_contains (out, "--address");
  assert_contains (out, "--replace");
}

static void
test_daemon_name_taken (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *err = NULL;
  g_autofree gchar *stripped = NULL;
  int status;

  pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'first'>}", LONG_SCRIPT), NULL);
  status = run_pmd ((const char *[]) { "--address", f->address, NULL }, NULL, &err);
  g_assert_false (g_spawn_check_wait_status (status, NULL));
  stripped = g_strstrip (g_strdup (err));
  g_assert_cmpstr (stripped, !=, "");
  /* One line, saying which name. */
  assert_contains (stripped, PM_TEST_BUS_NAME);
  g_assert_null (strchr (stripped, '\n'));
  /* The running instance is untouched. */
  g_assert_false (f->daemon_exited);
  g_assert_cmpuint (pm_list_count (f), ==, 1);
}

static void
test_daemon_no_bus (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *addr = g_strdup_printf ("unix:path=%s/no-such-socket", f->tmpdir);
  g_autofree gchar *err = NULL;
  int status = run_pmd ((const char *[]) { "--address", addr, NULL }, NULL, &err);

  g_assert_false (g_spawn_check_wait_status (status, NULL));
  g_assert_cmpstr (g_strstrip (err), !=, "");
}

static gboolean
daemon_exited_cond (gpointer data)
{
  return ((PmFixture *) data)->daemon_exited;
}

static void
test_daemon_replace (PmFixture *f, gconstpointer data)
{
  g_autoptr(GSubprocess) second = NULL;
  g_autoptr(GError) error = NULL;
  const char *pmd = g_getenv ("ELIFE_PMD");
  guint32 pid;
  guint32 id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'stopTimeout': <uint32 100>}",
                                        LONG_SCRIPT), &pid);

  second = g_subprocess_new (G_SUBPROCESS_FLAGS_NONE, &error,
                             pmd ? pmd : "elife-pmd", "--address", f->address,
                             "--replace", NULL);
  g_assert_no_error (error);
  /* The first instance loses its name: it stops its children and exits 0
   * (asserted by pm_fixture_stop_daemon, which sends nothing once it exited). */
  if (!pm_wait_for (daemon_exited_cond, f, PM_TEST_TIMEOUT_MS))
    g_error ("the replaced elife-pmd did not exit");
  pm_fixture_stop_daemon (f);
  g_assert_nonnull (pm_wait_for_signal (f, "Stopping", id, PM_TEST_TIMEOUT_MS));
  pm_assert_pid_dead ((pid_t) pid, 0);

  /* The new one answers, with nothing of the old one's. */
  g_assert_cmpuint (pm_list_count (f), ==, 0);
  g_subprocess_send_signal (second, SIGTERM);
  g_assert_true (g_subprocess_wait_check (second, NULL, &error));
  g_assert_no_error (error);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  pm_test_init ();

  pm_test_add ("/basic/list/empty", test_list_empty, NULL);
  pm_test_add ("/basic/list/by-increasing-id", test_list_order, NULL);
  pm_test_add ("/basic/list/follows-changes", test_list_follows_changes, NULL);
  pm_test_add ("/basic/start/ids-increase-from-1", test_start_ids, NULL);
  pm_test_add ("/basic/start/replies-after-spawn", test_start_reply_after_spawn, NULL);
  pm_test_add ("/basic/start/started-signal", test_started_signal, NULL);
  pm_test_add ("/basic/start/accepts-all-options", test_accepts_all_options, NULL);
  pm_test_add ("/basic/version", test_version, NULL);
  pm_test_add ("/basic/introspectable", test_introspectable, NULL);
  pm_test_add ("/basic/reopen-logs", test_reopen_logs, NULL);
  pm_test_add ("/basic/object-manager/resolved-properties", test_object_manager, NULL);
  pm_test_add ("/basic/properties/get", test_properties_get, NULL);
  pm_test_add ("/basic/properties/read-only", test_properties_read_only, NULL);
  pm_test_add ("/basic/properties/changed-on-exit", test_properties_changed, NULL);
  pm_test_add ("/basic/exited/exit-code", test_exited_normal, NULL);
  pm_test_add ("/basic/exited/exit-zero", test_exited_zero, NULL);
  pm_test_add ("/basic/exited/signal", test_exited_signal, NULL);
  pm_test_add ("/basic/exited/stop-forgets-without-stopping", test_stop_exited, NULL);
  pm_test_add ("/basic/stop-all/count", test_stop_all, NULL);
  pm_test_add ("/basic/stop-all/empty", test_stop_all_empty, NULL);
  pm_test_add ("/basic/not-found", test_not_found, NULL);
  pm_test_add ("/basic/invalid-args/unknown-key", test_invalid_unknown_key, NULL);
  pm_test_add ("/basic/invalid-args/missing-script", test_invalid_missing_script, NULL);
  pm_test_add ("/basic/invalid-args/empty-options", test_invalid_empty_options, NULL);
  pm_test_add ("/basic/invalid-args/empty-script", test_invalid_empty_script, NULL);
  pm_test_add ("/basic/invalid-args/relative-cwd", test_invalid_relative_cwd, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (wrong_types); i++)
    {
      g_autofree gchar *path = g_strdup_printf ("/basic/invalid-args/wrong-type/%s-%u",
                                                wrong_types[i].key, i);
      pm_test_add (path, test_invalid_wrong_type, &wrong_types[i]);
    }
  pm_test_add ("/basic/spawn-failed/missing-cwd", test_spawn_missing_cwd, NULL);
  pm_test_add ("/basic/spawn-failed/missing-script", test_spawn_missing_script, NULL);
  pm_test_add ("/basic/spawn-failed/missing-script-relative", test_spawn_missing_script_relative, NULL);
  pm_test_add ("/basic/spawn-failed/not-executable", test_spawn_not_executable, NULL);
  pm_test_add ("/basic/spawn-failed/interpreter-not-found", test_spawn_interpreter_not_found, NULL);
  pm_test_add ("/basic/spawn-failed/node-not-on-child-path", test_spawn_node_not_on_path, NULL);
  pm_test_add ("/basic/errors/daemon-survives", test_daemon_survives_errors, NULL);
  pm_test_add ("/basic/child/args", test_args, NULL);
  pm_test_add ("/basic/child/no-shebang", test_no_shebang, NULL);
  pm_test_add ("/basic/child/cwd-default", test_cwd_default, NULL);
  pm_test_add ("/basic/child/cwd-given", test_cwd_given, NULL);
  pm_test_add ("/basic/child/env-merge", test_env_merge, NULL);
  pm_test_add ("/basic/child/env-override", test_env_override, NULL);
  pm_test_add ("/basic/child/env-unnamed", test_env_unnamed, NULL);
  pm_test_add ("/basic/child/env-clear", test_env_clear, NULL);
  pm_test_add ("/basic/child/python-unbuffered", test_python_env, NULL);
  pm_test_add ("/basic/child/node-extensions", test_node_extensions, NULL);
  pm_test_add ("/basic/child/interpreter-option", test_interpreter_option, NULL);
  pm_test_add ("/basic/child/ipc-chatty", test_ipc_chatty_child, NULL);
  pm_test_add ("/basic/output/named-lines", test_stdout_named, NULL);
  pm_test_add ("/basic/output/unnamed-lines", test_stdout_unnamed, NULL);
  pm_test_add ("/basic/daemon/version-option", test_daemon_version_option, NULL);
  pm_test_add ("/basic/daemon/help-option", test_daemon_help_option, NULL);
  pm_test_add ("/basic/daemon/name-taken", test_daemon_name_taken, NULL);
  pm_test_add ("/basic/daemon/no-bus", test_daemon_no_bus, NULL);
  pm_test_add ("/basic/daemon/replace", test_daemon_replace, NULL);

  return g_test_run ();
}
