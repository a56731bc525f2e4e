/* test-dbus-script.c — module folders and ASAR archives through the real
 * daemon: what runs (the Script and Cwd properties, the argv and working
 * directory the child sees), the node IPC channel, and the SpawnFailed
 * errors naming the file at fault. */
#include <string.h>

#include <glib/gstdio.h>

#include "pm-test-util.h"

static void
assert_contains (const char *haystack, const char *needle)
{
  if (strstr (haystack, needle) == NULL)
    g_error ("“%s” does not contain “%s”", haystack, needle);
}

/* mkdir -p of @rel's parent in the temp dir, then the file (mode 0644). */
static gchar *
put (PmFixture *f, const char *rel, const char *text)
{
  g_autofree gchar *path = pm_tmp_path (f, rel);
  g_autofree gchar *parent = g_path_get_dirname (path);
  g_autoptr(GError) error = NULL;

  g_assert_cmpint (g_mkdir_with_parents (parent, 0755), ==, 0);
  g_file_set_contents (path, text, -1, &error);
  g_assert_no_error (error);
  return g_steal_pointer (&path);
}

/* A node main that reports its argv[1], cwd and IPC channel, then idles. */
static gchar *
reporting_main (PmFixture *f, const char *rel, const char *out)
{
  g_autofree gchar *text = g_strdup_printf (
    "const fs = require('fs');\n"
    "fs.writeFileSync(%s + '.tmp', [process.argv[1], process.cwd(),"
    " typeof process.send].join('\\n') + '\\n');\n"
    "fs.renameSync(%s + '.tmp', %s);\n"
    "setInterval(() => {}, 1000);\n", out, out, out);

  return put (f, rel, text);
}

static gchar *
js_quote (const char *s)
{
  return g_strdup_printf ("'%s'", s);   /* temp paths hold no quote */
}

static void
assert_start_fails (PmFixture *f, GVariant *opts, const char *needle, const char *needle2)
{
  g_autoptr(GError) error = NULL;
  guint32 id = pm_start (f, opts, &error);

  g_assert_cmpuint (id, ==, 0);
  pm_assert_remote_error (error, PM_TEST_ERROR_SPAWN_FAILED);
  g_dbus_error_strip_remote_error (error);
  assert_contains (error->message, needle);
  if (needle2 != NULL)
    assert_contains (error->message, needle2);
  /* Nothing stays registered. */
  g_assert_cmpuint (pm_list_count (f), ==, 0);
}

static void
check_report (const char *out, const char *script, const char *cwd, const char *send_type)
{
  g_autofree gchar *text = NULL;
  g_auto(GStrv) lines = NULL;

  g_assert_true (pm_wait_for_file (out, PM_TEST_TIMEOUT_MS));
  text = pm_read_file (out);
  lines = g_strsplit (text, "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), >=, 3);
  g_assert_cmpstr (lines[0], ==, script);
  g_assert_cmpstr (lines[1], ==, cwd);
  g_assert_cmpstr (lines[2], ==, send_type);
}

static void
test_folder_as_script (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *out = pm_tmp_path (f, "report");
  g_autofree gchar *q = js_quote (out);
  g_autofree gchar *pkg = put (f, "svc/package.json",
                               "{\"name\": \"svc\", \"main\": \"lib/server\"}");
  /* No extension: a module folder's main is a node program all the same. */
  g_autofree gchar *main_file = reporting_main (f, "svc/lib/server", q);
  g_autofree gchar *dir = pm_tmp_path (f, "svc");
  g_autofree gchar *script = NULL;
  guint32 id;

  id = pm_start_ok (f, pm_opts ("{'script': <'svc'>, 'cwd': <%s>}", f->tmpdir), NULL);
  script = pm_get_string (f, id, "Script");
  g_assert_cmpstr (script, ==, main_file);
  /* The IPC channel is there: process.send is a function. */
  check_report (out, main_file, f->tmpdir, "function");
}

static void
test_folder_as_cwd (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *out = pm_tmp_path (f, "report");
  g_autofree gchar *q = js_quote (out);
  g_autofree gchar *pkg = put (f, "svc/package.json", "{\"name\": \"svc\"}");
  g_autofree gchar *index = reporting_main (f, "svc/index.js", q);
  g_autofree gchar *dir = pm_tmp_path (f, "svc");
  g_autofree gchar *script = NULL;
  g_autofree gchar *cwd = NULL;
  guint32 id;

  id = pm_start_ok (f, pm_opts ("{'cwd': <%s>, 'name': <'svc'>}", dir), NULL);
  script = pm_get_string (f, id, "Script");
  cwd = pm_get_string (f, id, "Cwd");
  g_assert_cmpstr (script, ==, index);
  g_assert_cmpstr (cwd, ==, dir);
  check_report (out, index, dir, "function");
}

static void
test_folder_restart_runs_main (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *out = pm_tmp_path (f, "report");
  g_autofree gchar *q = js_quote (out);
  g_autofree gchar *pkg = put (f, "svc/package.json", "{\"main\": \"main.js\"}");
  g_autofree gchar *main_file = reporting_main (f, "svc/main.js", q);
  g_autofree gchar *dir = pm_tmp_path (f, "svc");
  g_autoptr(GError) error = NULL;

  pm_start_ok (f, pm_opts ("{'cwd': <%s>, 'name': <'svc'>}", dir), NULL);
  check_report (out, main_file, dir, "function");
  g_assert_cmpint (g_unlink (out), ==, 0);
  g_assert_cmpuint (pm_restart (f, "svc", &error), ==, 1);
  g_assert_no_error (error);
  check_report (out, main_file, dir, "function");
}

static void
test_folder_no_package_json (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *index = put (f, "svc/index.js", "1;\n");
  g_autofree gchar *pkg = pm_tmp_path (f, "svc/package.json");
  g_autofree gchar *dir = pm_tmp_path (f, "svc");

  assert_start_fails (f, pm_opts ("{'script': <%s>}", dir), pkg, NULL);
  assert_start_fails (f, pm_opts ("{'cwd': <%s>}", dir), pkg, NULL);
}

static void
test_folder_bad_json (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *pkg = put (f, "svc/package.json", "{ main: 'index.js' }");
  g_autofree gchar *index = put (f, "svc/index.js", "1;\n");
  g_autofree gchar *dir = pm_tmp_path (f, "svc");

  assert_start_fails (f, pm_opts ("{'cwd': <%s>}", dir), pkg, "JSON");
}

static void
test_folder_missing_main (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *pkg = put (f, "svc/package.json", "{\"main\": \"dist/app.js\"}");
  g_autofree gchar *main_file = pm_tmp_path (f, "svc/dist/app.js");
  g_autofree gchar *dir = pm_tmp_path (f, "svc");

  assert_start_fails (f, pm_opts ("{'cwd': <%s>}", dir), main_file, NULL);
}

static void
test_folder_default_index_missing (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *pkg = put (f, "svc/package.json", "{\"name\": \"svc\"}");
  g_autofree gchar *index = pm_tmp_path (f, "svc/index.js");
  g_autofree gchar *dir = pm_tmp_path (f, "svc");

  assert_start_fails (f, pm_opts ("{'cwd': <%s>}", dir), index, NULL);
}

/* A stand-in for Electron: records its argv, cwd and IPC variable, then
 * stays up like a service. */
static gchar *
fake_electron (PmFixture *f, const char *out)
{
  g_autofree gchar *text = g_strdup_printf (
    "#!/bin/sh\n"
    "{ for a in \"$@\"; do echo \"arg=$a\"; done; echo \"cwd=$(pwd)\";"
    " echo \"fd=$NODE_CHANNEL_FD\"; } > '%s.tmp'\n"
    "mv '%s.tmp' '%s'\n"
    "exec sleep 600\n", out, out, out);

  return pm_write_script (f, "electron", text, 0755);
}

static void
check_fake_electron (const char *out, const char *script, const char *cwd)
{
  g_autofree gchar *text = NULL;
  g_autofree gchar *want = NULL;

  g_assert_true (pm_wait_for_file (out, PM_TEST_TIMEOUT_MS));
  text = pm_read_file (out);
  want = g_strdup_printf ("arg=%s\narg=--port\narg=80\ncwd=%s\nfd=3\n", script, cwd);
  g_assert_cmpstr (text, ==, want);
}

static void
test_asar_script_with_interpreter (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *out = pm_tmp_path (f, "argv");
  g_autofree gchar *electron = fake_electron (f, out);
  g_autofree gchar *archive = put (f, "res/app.asar", "an archive, opaque to the daemon");
  g_autofree gchar *script = g_build_filename (archive, "server", "index.js", NULL);
  g_autofree gchar *prop = NULL;
  guint32 id;

  id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'interpreter': <%s>, 'cwd': <%s>,"
                                " 'args': <['--port', '80']>}", script, electron, f->tmpdir),
                    NULL);
  prop = pm_get_string (f, id, "Script");
  g_assert_cmpstr (prop, ==, script);
  /* The inner path is handed over unchecked, with the IPC channel. */
  check_fake_electron (out, script, f->tmpdir);
}

static void
test_asar_script_without_interpreter (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *archive = put (f, "res/app.asar", "x");
  g_autofree gchar *script = g_build_filename (archive, "server.js", NULL);

  assert_start_fails (f, pm_opts ("{'script': <%s>}", script), "ASAR", "interpreter");
}

static void
test_asar_cwd_inside (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *out = pm_tmp_path (f, "argv");
  g_autofree gchar *electron = fake_electron (f, out);
  g_autofree gchar *archive = put (f, "res/app.asar", "x");
  g_autofree gchar *inner = g_build_filename (archive, "server", NULL);
  g_autofree gchar *script = g_build_filename (inner, "main.js", NULL);
  g_autofree gchar *res = pm_tmp_path (f, "res");
  g_autofree gchar *cwd = NULL;
  g_autofree gchar *prop = NULL;
  guint32 id;

  id = pm_start_ok (f, pm_opts ("{'script': <'main.js'>, 'cwd': <%s>, 'interpreter': <%s>,"
                                " 'args': <['--port', '80']>}", inner, electron), NULL);
  cwd = pm_get_string (f, id, "Cwd");
  prop = pm_get_string (f, id, "Script");
  g_assert_cmpstr (cwd, ==, res);
  g_assert_cmpstr (prop, ==, script);
  check_fake_electron (out, script, res);
}

static void
test_asar_folder_inside (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *out = pm_tmp_path (f, "argv");
  g_autofree gchar *electron = fake_electron (f, out);
  g_autofree gchar *archive = put (f, "res/app.asar", "x");
  g_autofree gchar *folder = g_build_filename (archive, "svc", NULL);
  g_autofree gchar *res = pm_tmp_path (f, "res");
  g_autofree gchar *prop = NULL;
  guint32 id;

  /* No script, cwd a module folder inside the archive: Electron's node
   * resolves its package.json; the daemon hands the folder over. */
  id = pm_start_ok (f, pm_opts ("{'cwd': <%s>, 'interpreter': <%s>, 'args': <['--port', '80']>}",
                                folder, electron), NULL);
  prop = pm_get_string (f, id, "Script");
  g_assert_cmpstr (prop, ==, folder);
  check_fake_electron (out, folder, res);
}

static void
test_asar_archive_missing (PmFixture *f, gconstpointer data)
{
  /* No such archive: an ordinary missing script. */
  g_autofree gchar *script = pm_tmp_path (f, "res/app.asar/server.js");

  assert_start_fails (f, pm_opts ("{'script': <%s>, 'interpreter': <'/bin/sh'>}", script),
                      script, NULL);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  pm_test_init ();

  pm_test_add ("/script/folder/as-script", test_folder_as_script, NULL);
  pm_test_add ("/script/folder/as-cwd", test_folder_as_cwd, NULL);
  pm_test_add ("/script/folder/restart-runs-main", test_folder_restart_runs_main, NULL);
  pm_test_add ("/script/folder/no-package-json", test_folder_no_package_json, NULL);
  pm_test_add ("/script/folder/bad-json", test_folder_bad_json, NULL);
  pm_test_add ("/script/folder/missing-main", test_folder_missing_main, NULL);
  pm_test_add ("/script/folder/default-index-missing", test_folder_default_index_missing, NULL);
  pm_test_add ("/script/asar/script-with-interpreter", test_asar_script_with_interpreter, NULL);
  pm_test_add ("/script/asar/script-without-interpreter", test_asar_script_without_interpreter, NULL);
  pm_test_add ("/script/asar/cwd-inside", test_asar_cwd_inside, NULL);
  pm_test_add ("/script/asar/folder-inside", test_asar_folder_inside, NULL);
  pm_test_add ("/script/asar/archive-missing", test_asar_archive_missing, NULL);

  return g_test_run ();
}
