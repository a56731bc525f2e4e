/* test-script.c — pm-script: ASAR candidates and package.json `main` (pure),
 * then the resolver on module folders and archives laid out in a temp dir. */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "pm-error.h"
#include "pm-script.h"

/* ---- archive candidates ----------------------------------------------- */

static const struct
{
  const char *path;
  const char *want[4];
} candidate_cases[] = {
  { "/opt/App/resources/app.asar/server/index.js", { "/opt/App/resources/app.asar" } },
  { "/opt/a.asar/b.asar/c.js", { "/opt/a.asar", "/opt/a.asar/b.asar" } },
  { "/opt/app.asar", { NULL } },              /* the archive itself is not "through" */
  { "/opt/.asar/x.js", { NULL } },            /* a bare ".asar" is no archive name */
  { "/opt/app.asarx/x.js", { NULL } },
  { "/opt/appasar/x.js", { NULL } },
  { "/srv/app.js", { NULL } },
  { "/", { NULL } },
};

static void
test_archive_candidates (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (candidate_cases); i++)
    {
      g_auto(GStrv) got = pm_script_archive_candidates (candidate_cases[i].path);

      g_assert_true (g_strv_equal ((const char * const *) got, candidate_cases[i].want));
    }
}

/* ---- package.json main ------------------------------------------------- */

static const struct
{
  const char *json;
  const char *want;      /* NULL: SpawnFailed naming the file */
} main_cases[] = {
  { "{\"main\": \"server.js\"}", "/m/server.js" },
  { "{\"main\": \"./lib/../bin/run\"}", "/m/bin/run" },
  { "{\"main\": \"/abs/x.js\"}", "/abs/x.js" },
  { "{\"name\": \"x\"}", "/m/index.js" },
  { "{\"name\": \"main\", \"x\": {\"main\": \"no.js\"}}", "/m/index.js" },
  { "{}", "/m/index.js" },
  { "{\"main\": \"\"}", NULL },
  { "{\"main\": 3}", NULL },
  { "{\"main\": null}", NULL },
  { "{\"main\": [\"a.js\"]}", NULL },
  { "[\"main\", \"a.js\"]", NULL },
  { "\"main\"", NULL },
  { "{\"main\": \"a.js\"", NULL },
  { "", NULL },
  { "main: a.js", NULL },
};

static void
test_main_from_json (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (main_cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *got = pm_script_main_from_json ("/m", "/m/package.json",
                                                       main_cases[i].json, -1, &error);

      if (main_cases[i].want != NULL)
        {
          g_assert_no_error (error);
          g_assert_cmpstr (got, ==, main_cases[i].want);
        }
      else
        {
          g_assert_null (got);
          g_assert_error (error, PM_ERROR, PM_ERROR_SPAWN_FAILED);
          g_assert_nonnull (strstr (error->message, "/m/package.json"));
        }
    }
}

/* ---- the resolver, on real files ---------------------------------------- */

typedef struct
{
  char *dir;
} Tmp;

static void
tmp_setup (Tmp *t, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  t->dir = g_dir_make_tmp ("pm-script-XXXXXX", &error);
  g_assert_no_error (error);
}

static void
rm_rf (const char *path)
{
  g_autoptr(GFile) file = g_file_new_for_path (path);
  g_autoptr(GFileEnumerator) e =
    g_file_enumerate_children (file, G_FILE_ATTRIBUTE_STANDARD_NAME,
                               G_FILE_QUERY_INFO_NOFOLLOW_SYMLINKS, NULL, NULL);
  GFileInfo *info;

  while (e != NULL && (info = g_file_enumerator_next_file (e, NULL, NULL)) != NULL)
    {
      g_autoptr(GFileInfo) owned = info;
      g_autofree char *child = g_build_filename (path, g_file_info_get_name (info), NULL);

      rm_rf (child);
    }
  g_remove (path);
}

static void
tmp_teardown (Tmp *t, gconstpointer data)
{
  rm_rf (t->dir);
  g_free (t->dir);
}

static char *
put (Tmp *t, const char *rel, const char *text)
{
  char *path = g_build_filename (t->dir, rel, NULL);
  g_autofree char *parent = g_path_get_dirname (path);
  g_autoptr(GError) error = NULL;

  g_assert_cmpint (g_mkdir_with_parents (parent, 0755), ==, 0);
  if (text != NULL)
    {
      g_file_set_contents (path, text, -1, &error);
      g_assert_no_error (error);
    }
  else
    g_assert_cmpint (g_mkdir_with_parents (path, 0755), ==, 0);
  return path;
}

static PmScript *
resolve (const char *script, const char *cwd, const char *interpreter, GError **error)
{
  PmOptions opts = { 0 };

  opts.script = (char *) script;
  opts.cwd = (char *) cwd;
  opts.interpreter = (char *) interpreter;
  return pm_script_resolve (&opts, error);
}

static void
test_plain_file (Tmp *t, gconstpointer data)
{
  g_autofree char *py = put (t, "w/job.py", "print(1)\n");
  g_autofree char *dir = g_path_get_dirname (py);
  g_autoptr(GError) error = NULL;
  g_autoptr(PmScript) s = resolve ("job.py", dir, NULL, &error);

  g_assert_no_error (error);
  g_assert_cmpstr (s->path, ==, py);
  g_assert_cmpstr (s->cwd, ==, dir);
  g_assert_null (s->archive);
  g_assert_cmpint (s->kind, ==, PM_PROGRAM_PYTHON);
}

static void
test_missing_is_left_to_the_spawner (Tmp *t, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PmScript) s = resolve ("nothing.js", t->dir, NULL, &error);

  g_assert_no_error (error);
  g_assert_cmpint (s->kind, ==, PM_PROGRAM_NODE);
  g_assert_true (g_str_has_suffix (s->path, "/nothing.js"));
}

static void
test_folder_main (Tmp *t, gconstpointer data)
{
  g_autofree char *pkg = put (t, "svc/package.json", "{\"name\": \"svc\", \"main\": \"lib/start\"}");
  g_autofree char *main_file = put (t, "svc/lib/start", "console.log(1)\n");
  g_autofree char *dir = g_build_filename (t->dir, "svc", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(PmScript) s = resolve ("svc", t->dir, NULL, &error);

  g_assert_no_error (error);
  g_assert_cmpstr (s->path, ==, main_file);
  g_assert_cmpstr (s->cwd, ==, t->dir);
  /* No .js extension, still a node program. */
  g_assert_cmpint (s->kind, ==, PM_PROGRAM_NODE);
}

static void
test_folder_is_cwd (Tmp *t, gconstpointer data)
{
  g_autofree char *pkg = put (t, "svc/package.json", "{\"name\": \"svc\"}");
  g_autofree char *index = put (t, "svc/index.js", "console.log(1)\n");
  g_autofree char *dir = g_build_filename (t->dir, "svc", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(PmScript) s = resolve (NULL, dir, NULL, &error);

  g_assert_no_error (error);
  g_assert_cmpstr (s->path, ==, index);
  g_assert_cmpstr (s->cwd, ==, dir);
  g_assert_cmpint (s->kind, ==, PM_PROGRAM_NODE);
}

static void
test_folder_main_node_order (Tmp *t, gconstpointer data)
{
  g_autofree char *pkg = put (t, "a/package.json", "{\"main\": \"server\"}");
  g_autofree char *with_js = put (t, "a/server.js", "1\n");
  g_autofree char *pkg2 = put (t, "b/package.json", "{\"main\": \"lib\"}");
  g_autofree char *index = put (t, "b/lib/index.js", "1\n");
  g_autoptr(GError) error = NULL;
  g_autoptr(PmScript) a = resolve ("a", t->dir, NULL, &error);
  g_autoptr(PmScript) b = NULL;

  g_assert_no_error (error);
  g_assert_cmpstr (a->path, ==, with_js);
  b = resolve ("b", t->dir, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (b->path, ==, index);
}

static void
assert_spawn_failed_naming (PmScript *s, GError *error, const char *what)
{
  g_assert_null (s);
  g_assert_error (error, PM_ERROR, PM_ERROR_SPAWN_FAILED);
  if (strstr (error->message, what) == NULL)
    g_error ("“%s” does not name “%s”", error->message, what);
}

static void
test_folder_without_package_json (Tmp *t, gconstpointer data)
{
  g_autofree char *index = put (t, "svc/index.js", "1\n");
  g_autofree char *pkg = g_build_filename (t->dir, "svc", "package.json", NULL);
  g_autoptr(GError) error = NULL;
  PmScript *s = resolve ("svc", t->dir, NULL, &error);

  assert_spawn_failed_naming (s, error, pkg);
}

static void
test_folder_bad_json (Tmp *t, gconstpointer data)
{
  g_autofree char *pkg = put (t, "svc/package.json", "{\"main\": \"index.js\",}x");
  g_autofree char *index = put (t, "svc/index.js", "1\n");
  g_autoptr(GError) error = NULL;
  PmScript *s = resolve ("svc", t->dir, NULL, &error);

  assert_spawn_failed_naming (s, error, pkg);
}

static void
test_folder_missing_main (Tmp *t, gconstpointer data)
{
  g_autofree char *pkg = put (t, "svc/package.json", "{\"main\": \"gone.js\"}");
  g_autofree char *gone = g_build_filename (t->dir, "svc", "gone.js", NULL);
  g_autoptr(GError) error = NULL;
  PmScript *s = resolve ("svc", t->dir, NULL, &error);

  assert_spawn_failed_naming (s, error, gone);
}

static void
test_folder_package_json_is_dir (Tmp *t, gconstpointer data)
{
  g_autofree char *pkg = put (t, "svc/package.json", NULL);
  g_autoptr(GError) error = NULL;
  PmScript *s = resolve ("svc", t->dir, NULL, &error);

  assert_spawn_failed_naming (s, error, pkg);
}

static void
test_asar_with_interpreter (Tmp *t, gconstpointer data)
{
  g_autofree char *archive = put (t, "res/app.asar", "not really an archive");
  g_autofree char *script = g_build_filename (archive, "server", "index.js", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(PmScript) s = resolve (script, t->dir, "/opt/electron", &error);

  g_assert_no_error (error);
  g_assert_cmpstr (s->path, ==, script);
  g_assert_cmpstr (s->archive, ==, archive);
  g_assert_cmpint (s->kind, ==, PM_PROGRAM_NODE);
}

static void
test_asar_without_interpreter (Tmp *t, gconstpointer data)
{
  g_autofree char *archive = put (t, "res/app.asar", "x");
  g_autofree char *script = g_build_filename (archive, "server.js", NULL);
  g_autoptr(GError) error = NULL;
  PmScript *s = resolve (script, t->dir, NULL, &error);

  assert_spawn_failed_naming (s, error, "ASAR");
  g_assert_nonnull (strstr (error->message, "interpreter"));
}

static void
test_asar_directory_is_plain (Tmp *t, gconstpointer data)
{
  /* An unpacked "app.asar" directory is an ordinary path. */
  g_autofree char *script = put (t, "res/app.asar/server.py", "1\n");
  g_autoptr(GError) error = NULL;
  g_autoptr(PmScript) s = resolve (script, t->dir, NULL, &error);

  g_assert_no_error (error);
  g_assert_null (s->archive);
  g_assert_cmpint (s->kind, ==, PM_PROGRAM_PYTHON);
}

static void
test_cwd_inside_asar (Tmp *t, gconstpointer data)
{
  g_autofree char *archive = put (t, "res/app.asar", "x");
  g_autofree char *cwd = g_build_filename (archive, "server", NULL);
  g_autofree char *res = g_build_filename (t->dir, "res", NULL);
  g_autofree char *want = g_build_filename (cwd, "main.js", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(PmScript) s = resolve ("main.js", cwd, "/opt/electron", &error);
  g_autoptr(PmScript) at_root = NULL;

  g_assert_no_error (error);
  g_assert_cmpstr (s->cwd, ==, res);
  g_assert_cmpstr (s->path, ==, want);
  g_assert_cmpstr (s->archive, ==, archive);

  /* The archive itself as cwd, the same. */
  at_root = resolve ("main.js", archive, "/opt/electron", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (at_root->cwd, ==, res);
  g_assert_cmpstr (at_root->archive, ==, archive);
}

#define ADD(path, fn) g_test_add (path, Tmp, NULL, tmp_setup, fn, tmp_teardown)

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/script/archive-candidates", test_archive_candidates);
  g_test_add_func ("/script/main-from-json", test_main_from_json);
  ADD ("/script/resolve/plain-file", test_plain_file);
  ADD ("/script/resolve/missing-left-to-spawner", test_missing_is_left_to_the_spawner);
  ADD ("/script/folder/main", test_folder_main);
  ADD ("/script/folder/cwd-without-script", test_folder_is_cwd);
  ADD ("/script/folder/main-node-order", test_folder_main_node_order);
  ADD ("/script/folder/no-package-json", test_folder_without_package_json);
  ADD ("/script/folder/bad-json", test_folder_bad_json);
  ADD ("/script/folder/missing-main", test_folder_missing_main);
  ADD ("/script/folder/package-json-is-dir", test_folder_package_json_is_dir);
  ADD ("/script/asar/with-interpreter", test_asar_with_interpreter);
  ADD ("/script/asar/without-interpreter", test_asar_without_interpreter);
  ADD ("/script/asar/directory-is-plain", test_asar_directory_is_plain);
  ADD ("/script/asar/cwd-inside", test_cwd_inside_asar);
  return g_test_run ();
}
