/* pm-script.c — what a Start actually runs.
 *
 * Three cases beyond a plain file:
 * - a module folder (script names a directory, or no script and a cwd): the
 *   program is its package.json `main` (default index.js), run as a node
 *   script whatever its extension, as `node DIR` would;
 * - a path through an ASAR archive (…/app.asar/server/index.js, where
 *   app.asar is a regular file): only Electron's node can read it, so it
 *   needs an interpreter, runs as a node script and is not checked inside;
 * - a cwd inside an archive: the child runs in the directory holding the
 *   archive (a process cannot chdir into a file), the script stays absolute.
 * package.json is read with json-glib, a real parser: a `main` hidden in a
 * string or a comment-like key must not be picked up by string matching.
 */
#include "config.h"

#define G_LOG_DOMAIN "pm-script"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include <gio/gio.h>
#include <glib/gi18n.h>
#include <json-glib/json-glib.h>

#include "pm-error.h"
#include "pm-script.h"

/* A package.json larger than this is not a package.json. */
#define PM_MAX_PACKAGE_JSON (1024 * 1024)

/* ---- filesystem access: the only I/O of this file -----------------------
 * Both go through these two functions so that they can be made to act with
 * the caller's credentials in one place. */

/* stat(2) of @path; 0 or the errno. */
static int
script_path_stat (const char  *path,
                  struct stat *st)
{
  return stat (path, st) < 0 ? errno : 0;
}

/* The contents of a module folder's package.json. */
static gboolean
script_read_package_json (const char *path,
                          char      **contents,
                          gsize      *length,
                          GError    **error)
{
  g_autoptr(GError) local = NULL;
  struct stat st;
  int errsv = script_path_stat (path, &st);

  if (errsv == 0 && !S_ISREG (st.st_mode))
    errsv = S_ISDIR (st.st_mode) ? EISDIR : EINVAL;
  if (errsv == 0 && st.st_size > PM_MAX_PACKAGE_JSON)
    errsv = EFBIG;
  if (errsv != 0)
    {
      g_set_error (error, PM_ERROR, PM_ERROR_SPAWN_FAILED,
                   _("Module folder: “%s”: %s"), path, g_strerror (errsv));
      return FALSE;
    }
  if (!g_file_get_contents (path, contents, length, &local))
    {
      g_set_error (error, PM_ERROR, PM_ERROR_SPAWN_FAILED,
                   _("Module folder: “%s”: %s"), path, local->message);
      return FALSE;
    }
  return TRUE;
}

/* ---- pure helpers ------------------------------------------------------- */

#define ASAR_SUFFIX     ".asar"
#define ASAR_SUFFIX_LEN (sizeof ASAR_SUFFIX - 1)

GStrv
pm_script_archive_candidates (const char *path)
{
  g_autoptr(GStrvBuilder) out = g_strv_builder_new ();
  const char *p = path;

  /* Each '/' after the first ends a component: is it "NAME.asar"? */
  while ((p = strchr (p + 1, '/')) != NULL)
    {
      gsize len = p - path;
      const char *suffix = p - ASAR_SUFFIX_LEN;

      if (len > ASAR_SUFFIX_LEN && memcmp (suffix, ASAR_SUFFIX, ASAR_SUFFIX_LEN) == 0
          && suffix[-1] != '/')
        {
          g_autofree char *prefix = g_strndup (path, len);
          g_strv_builder_add (out, prefix);
        }
    }
  return g_strv_builder_end (out);
}

char *
pm_script_main_from_json (const char *dir,
                          const char *package_json,
                          const char *json,
                          gssize      length,
                          GError    **error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) local = NULL;
  JsonNode *root;
  JsonObject *object;
  JsonNode *main_node;
  const char *main_file = "index.js";

  if (!json_parser_load_from_data (parser, json, length, &local))
    {
      g_set_error (error, PM_ERROR, PM_ERROR_SPAWN_FAILED,
                   _("Module folder: “%s” is not valid JSON: %s"), package_json, local->message);
      return NULL;
    }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, PM_ERROR, PM_ERROR_SPAWN_FAILED,
                   _("Module folder: “%s” is not a JSON object"), package_json);
      return NULL;
    }
  object = json_node_get_object (root);
  main_node = json_object_get_member (object, "main");
  if (main_node != NULL)
    {
      if (!JSON_NODE_HOLDS_VALUE (main_node)
          || json_node_get_value_type (main_node) != G_TYPE_STRING
          || *json_node_get_string (main_node) == '\0')
        {
          g_set_error (error, PM_ERROR, PM_ERROR_SPAWN_FAILED,
                       _("Module folder: “main” in “%s” must be a non-empty string"),
                       package_json);
          return NULL;
        }
      main_file = json_node_get_string (main_node);
    }
  return g_canonicalize_filename (main_file, dir);
}

/* ---- the resolver ------------------------------------------------------- */

/* The first candidate prefix of @path that is a regular file, or NULL. */
static char *
find_archive (const char *path)
{
  g_auto(GStrv) candidates = pm_script_archive_candidates (path);

  for (char **c = candidates; *c != NULL; c++)
    {
      struct stat st;

      if (script_path_stat (*c, &st) == 0 && S_ISREG (st.st_mode))
        return g_strdup (*c);
    }
  return NULL;
}

/* Node's order for a `main`: the file, then with ".js", then its index.js. */
static char *
find_main_file (const char *main_path)
{
  g_autofree char *with_js = g_strconcat (main_path, ".js", NULL);
  g_autofree char *index = g_build_filename (main_path, "index.js", NULL);
  const char *tries[] = { main_path, with_js, index };

  for (gsize i = 0; i < G_N_ELEMENTS (tries); i++)
    {
      struct stat st;

      if (script_path_stat (tries[i], &st) == 0 && S_ISREG (st.st_mode))
        return g_strdup (tries[i]);
    }
  return NULL;
}

static char *
resolve_module_folder (const char *dir,
                       GError    **error)
{
  g_autofree char *package_json = g_build_filename (dir, "package.json", NULL);
  g_autofree char *contents = NULL;
  g_autofree char *main_path = NULL;
  char *found;
  gsize length = 0;

  if (!script_read_package_json (package_json, &contents, &length, error))
    return NULL;
  main_path = pm_script_main_from_json (dir, package_json, contents, length, error);
  if (main_path == NULL)
    return NULL;
  found = find_main_file (main_path);
  if (found == NULL)
    g_set_error (error, PM_ERROR, PM_ERROR_SPAWN_FAILED,
                 _("Module folder: main file “%s” (from “%s”): %s"),
                 main_path, package_json, g_strerror (ENOENT));
  return found;
}

PmScript *
pm_script_resolve (const PmOptions *opts,
                   GError         **error)
{
  g_autoptr(PmScript) self = g_new0 (PmScript, 1);
  g_autofree char *cwd_archive = NULL;
  struct stat st;

  self->cwd = opts->cwd != NULL ? g_canonicalize_filename (opts->cwd, "/")
                                : g_get_current_dir ();
  /* No script: the cwd is the module folder. */
  self->path = g_canonicalize_filename (opts->script != NULL ? opts->script : ".", self->cwd);

  cwd_archive = find_archive (self->cwd);
  if (cwd_archive == NULL && g_str_has_suffix (self->cwd, ASAR_SUFFIX)
      && script_path_stat (self->cwd, &st) == 0 && S_ISREG (st.st_mode))
    cwd_archive = g_strdup (self->cwd);
  if (cwd_archive != NULL)
    {
      g_free (self->cwd);
      self->cwd = g_path_get_dirname (cwd_archive);
    }

  self->archive = find_archive (self->path);
  if (self->archive != NULL)
    {
      if (opts->interpreter == NULL)
        {
          g_set_error (error, PM_ERROR, PM_ERROR_SPAWN_FAILED,
                       _("Script “%s” is inside the ASAR archive “%s”: it needs Electron as "
                         "interpreter (option “interpreter”)"),
                       self->path, self->archive);
          return NULL;
        }
      self->kind = PM_PROGRAM_NODE;
      return g_steal_pointer (&self);
    }

  if (script_path_stat (self->path, &st) == 0 && S_ISDIR (st.st_mode))
    {
      char *main_file = resolve_module_folder (self->path, error);

      if (main_file == NULL)
        return NULL;
      g_free (self->path);
      self->path = main_file;
      self->kind = PM_PROGRAM_NODE;
      return g_steal_pointer (&self);
    }

  self->kind = pm_program_kind_for (self->path);
  return g_steal_pointer (&self);
}

void
pm_script_free (PmScript *self)
{
  if (self == NULL)
    return;
  g_free (self->path);
  g_free (self->cwd);
  g_free (self->archive);
  g_free (self);
}
