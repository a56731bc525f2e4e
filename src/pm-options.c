/* pm-options.c — the a{sv} of Start, validated into a PmOptions.
 *
 * Every error is G_DBUS_ERROR_INVALID_ARGS with a message that names the key
 * and what was expected, so a client sees exactly what to fix.
 */
#include "config.h"

#include <string.h>

#include <gio/gio.h>
#include <glib/gi18n.h>

#include "pm-options.h"

static const guint32 default_restart_at[] = {
  100, 500, 1000, 10000, 30000, 60000, 300000, 900000
};

typedef gboolean (*OptionParser) (PmOptions  *opts,
                                  const char *key,
                                  GVariant   *value,
                                  GError    **error);

static gboolean
invalid (GError    **error,
         const char *key,
         const char *what)
{
  g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
               _("Option “%s”: %s"), key, what);
  return FALSE;
}

static gboolean
check_path (const char *key,
            const char *path,
            GError    **error)
{
  if (*path == '\0')
    return invalid (error, key, _("must not be empty"));
  if (strlen (path) > PM_MAX_PATH)
    return invalid (error, key, _("path is too long"));
  return TRUE;
}

static gboolean
parse_string (char      **out,
              const char *key,
              GVariant   *value,
              GError    **error)
{
  g_free (*out);
  *out = g_variant_dup_string (value, NULL);
  return check_path (key, *out, error);
}

static gboolean
parse_script (PmOptions  *opts,
              const char *key,
              GVariant   *value,
              GError    **error)
{
  return parse_string (&opts->script, key, value, error);
}

static gboolean
parse_interpreter (PmOptions  *opts,
                   const char *key,
                   GVariant   *value,
                   GError    **error)
{
  return parse_string (&opts->interpreter, key, value, error);
}

static gboolean
parse_cwd (PmOptions  *opts,
           const char *key,
           GVariant   *value,
           GError    **error)
{
  if (!parse_string (&opts->cwd, key, value, error))
    return FALSE;
  if (!g_path_is_absolute (opts->cwd))
    return invalid (error, key, _("must be an absolute path"));
  return TRUE;
}

static gboolean
parse_log (PmOptions  *opts,
           const char *key,
           GVariant   *value,
           GError    **error)
{
  const char *log = g_variant_get_string (value, NULL);

  /* "" is the same as no log: a client may always pass the key. */
  g_clear_pointer (&opts->log, g_free);
  if (*log == '\0')
    return TRUE;
  return parse_string (&opts->log, key, value, error);
}

static gboolean
parse_name (PmOptions  *opts,
            const char *key,
            GVariant   *value,
            GError    **error)
{
  gsize len;
  const char *name = g_variant_get_string (value, &len);

  if (len > PM_MAX_NAME)
    return invalid (error, key, _("is longer than 256 bytes"));
  /* The name prefixes every log line: a control character in it would
   * break the one-line-per-line promise of the logs. */
  for (const char *p = name; *p; p++)
    if ((guchar) *p < 0x20 || *p == 0x7f)
      return invalid (error, key, _("must not contain control characters"));

  g_free (opts->name);
  opts->name = g_strdup (name);
  return TRUE;
}

static gboolean
parse_args (PmOptions  *opts,
            const char *key,
            GVariant   *value,
            GError    **error)
{
  GVariantIter iter;
  const char *arg;

  if (g_variant_n_children (value) > PM_MAX_ARGS)
    return invalid (error, key, _("more than 10000 arguments"));
  /* exec would fail with E2BIG: say so now, and which option. */
  g_variant_iter_init (&iter, value);
  while (g_variant_iter_next (&iter, "&s", &arg))
    if (strlen (arg) >= PM_MAX_ARG_STRLEN)
      return invalid (error, key, _("an argument is 128 KiB or longer"));
  g_strfreev (opts->args);
  opts->args = g_variant_dup_strv (value, NULL);
  return TRUE;
}

static gboolean
parse_env (PmOptions  *opts,
           const char *key,
           GVariant   *value,
           GError    **error)
{
  g_autoptr(GPtrArray) env = NULL;
  GVariantIter iter;
  const char *k, *v;

  if (g_variant_n_children (value) > PM_MAX_ENV)
    return invalid (error, key, _("more than 10000 variables"));

  env = g_ptr_array_new_with_free_func (g_free);
  g_variant_iter_init (&iter, value);
  while (g_variant_iter_next (&iter, "{&s&s}", &k, &v))
    {
      if (*k == '\0')
        return invalid (error, key, _("a variable name is empty"));
      if (strchr (k, '=') != NULL)
        {
          g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
                       _("Option “%s”: variable name “%s” contains “=”"), key, k);
          return FALSE;
        }
      if (strlen (k) + 1 + strlen (v) >= PM_MAX_ARG_STRLEN)
        {
          g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
                       _("Option “%s”: variable “%s” is 128 KiB or longer"), key, k);
          return FALSE;
        }
      g_ptr_array_add (env, g_strconcat (k, "=", v, NULL));
    }
  g_ptr_array_add (env, NULL);

  g_strfreev (opts->env);
  opts->env = (GStrv) g_ptr_array_free (g_steal_pointer (&env), FALSE);
  return TRUE;
}

static gboolean
parse_restart (PmOptions  *opts,
               const char *key,
               GVariant   *value,
               GError    **error)
{
  const char *s = g_variant_get_string (value, NULL);

  if (g_str_equal (s, "always"))
    opts->restart = PM_RESTART_ALWAYS;
  else if (g_str_equal (s, "on-failure"))
    opts->restart = PM_RESTART_ON_FAILURE;
  else if (g_str_equal (s, "never"))
    opts->restart = PM_RESTART_NEVER;
  else
    return invalid (error, key, _("expected “always”, “on-failure” or “never”"));
  return TRUE;
}

static gboolean
parse_restart_at (PmOptions  *opts,
                  const char *key,
                  GVariant   *value,
                  GError    **error)
{
  gsize n;
  const guint32 *steps = g_variant_get_fixed_array (value, &n, sizeof (guint32));

  if (n > PM_MAX_RESTART_AT)
    return invalid (error, key, _("more than 1000 entries"));
  g_array_set_size (opts->restart_at, 0);
  g_array_append_vals (opts->restart_at, steps, n);
  return TRUE;
}

static gboolean
parse_restart_ok (PmOptions  *opts,
                  const char *key,
                  GVariant   *value,
                  GError    **error)
{
  opts->restart_ok = g_variant_get_uint32 (value);
  return TRUE;
}

static gboolean
parse_stop_timeout (PmOptions  *opts,
                    const char *key,
                    GVariant   *value,
                    GError    **error)
{
  guint32 ms = g_variant_get_uint32 (value);

  if (ms > PM_MAX_STOP_TIMEOUT)
    return invalid (error, key, _("must be at most 3600000 ms"));
  opts->stop_timeout = ms;
  return TRUE;
}

#define BOOL_PARSER(fn, field)                         \
  static gboolean                                      \
  fn (PmOptions  *opts,                                \
      const char *key,                                 \
      GVariant   *value,                               \
      GError    **error)                               \
  {                                                    \
    opts->field = g_variant_get_boolean (value);       \
    return TRUE;                                       \
  }

BOOL_PARSER (parse_clear_env, clear_env)
BOOL_PARSER (parse_strip_ansi, strip_ansi)
BOOL_PARSER (parse_timestamps, timestamps)
BOOL_PARSER (parse_stop_with_caller, stop_with_caller)
BOOL_PARSER (parse_replace, replace)

static const struct
{
  const char   *key;
  const char   *type;
  OptionParser  parse;
} option_table[] = {
  { "script",         "s",     parse_script },
  { "name",           "s",     parse_name },
  { "args",           "as",    parse_args },
  { "cwd",            "s",     parse_cwd },
  { "log",            "s",     parse_log },
  { "env",            "a{ss}", parse_env },
  { "clearEnv",       "b",     parse_clear_env },
  { "restart",        "s",     parse_restart },
  { "restartAt",      "au",    parse_restart_at },
  { "restartOk",      "u",     parse_restart_ok },
  { "stripANSI",      "b",     parse_strip_ansi },
  { "timestamps",     "b",     parse_timestamps },
  { "stopTimeout",    "u",     parse_stop_timeout },
  { "interpreter",    "s",     parse_interpreter },
  { "stopWithCaller", "b",     parse_stop_with_caller },
  { "replace",        "b",     parse_replace },
};

static PmOptions *
pm_options_new_default (void)
{
  PmOptions *opts = g_new0 (PmOptions, 1);

  opts->name = g_strdup ("");
  opts->args = g_new0 (char *, 1);
  opts->env = g_new0 (char *, 1);
  opts->restart = PM_RESTART_ALWAYS;
  opts->restart_at = g_array_new (FALSE, FALSE, sizeof (guint32));
  g_array_append_vals (opts->restart_at, default_restart_at,
                       G_N_ELEMENTS (default_restart_at));
  opts->restart_ok = PM_DEFAULT_RESTART_OK;
  opts->stop_timeout = PM_DEFAULT_STOP_TIMEOUT;
  return opts;
}

static gsize
strv_bytes (char **strv)
{
  gsize total = 0;

  for (; *strv; strv++)
    total += strlen (*strv) + 1 + sizeof (char *);
  return total;
}

PmOptions *
pm_options_parse (GVariant *asv,
                  GError  **error)
{
  g_autoptr(PmOptions) opts = NULL;
  guint64 seen = 0;
  GVariantIter iter;
  const char *key;
  GVariant *value;

  G_STATIC_ASSERT (G_N_ELEMENTS (option_table) <= 64);
  g_return_val_if_fail (g_variant_is_of_type (asv, G_VARIANT_TYPE_VARDICT), NULL);

  opts = pm_options_new_default ();

  g_variant_iter_init (&iter, asv);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
    {
      g_autoptr(GVariant) owned = value;
      gsize i;

      for (i = 0; i < G_N_ELEMENTS (option_table); i++)
        if (g_str_equal (option_table[i].key, key))
          break;

      if (i == G_N_ELEMENTS (option_table))
        {
          g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
                       _("Unknown option “%s”"), key);
          return NULL;
        }

      if (seen & (G_GUINT64_CONSTANT (1) << i))
        {
          invalid (error, key, _("given more than once"));
          return NULL;
        }
      seen |= G_GUINT64_CONSTANT (1) << i;

      if (!g_variant_is_of_type (owned, G_VARIANT_TYPE (option_table[i].type)))
        {
          g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
                       _("Option “%s”: expected type “%s”, got “%s”"),
                       key, option_table[i].type,
                       g_variant_get_type_string (owned));
          return NULL;
        }

      if (!option_table[i].parse (opts, key, owned, error))
        return NULL;
    }

  /* Without a script, cwd names a node module folder (pm-script.c). */
  if (opts->script == NULL && opts->cwd == NULL)
    {
      g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
                   _("Option “script” is required unless “cwd” names a module folder"));
      return NULL;
    }

  if (strv_bytes (opts->args) + strv_bytes (opts->env) > PM_MAX_ARGV_BYTES)
    {
      g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
                   _("Options “args” and “env” together exceed %d bytes"),
                   PM_MAX_ARGV_BYTES);
      return NULL;
    }

  return g_steal_pointer (&opts);
}

PmOptions *
pm_options_copy (const PmOptions *self)
{
  PmOptions *copy = g_memdup2 (self, sizeof *self);

  copy->script = g_strdup (self->script);
  copy->name = g_strdup (self->name);
  copy->args = g_strdupv (self->args);
  copy->cwd = g_strdup (self->cwd);
  copy->log = g_strdup (self->log);
  copy->env = g_strdupv (self->env);
  copy->restart_at = g_array_copy (self->restart_at);
  copy->interpreter = g_strdup (self->interpreter);
  return copy;
}

void
pm_options_free (PmOptions *self)
{
  if (self == NULL)
    return;
  g_free (self->script);
  g_free (self->name);
  g_strfreev (self->args);
  g_free (self->cwd);
  g_free (self->log);
  g_strfreev (self->env);
  g_array_unref (self->restart_at);
  g_free (self->interpreter);
  g_free (self);
}

PmProgramKind
pm_program_kind_for (const char *script)
{
  const char *dot = strrchr (script, '.');

  /* Only the base name counts: "dir.js/run" is not a node script. */
  if (dot == NULL || strchr (dot, '/') != NULL)
    return PM_PROGRAM_EXEC;
  if (g_str_equal (dot, ".js") || g_str_equal (dot, ".mjs") || g_str_equal (dot, ".cjs"))
    return PM_PROGRAM_NODE;
  if (g_str_equal (dot, ".py"))
    return PM_PROGRAM_PYTHON;
  return PM_PROGRAM_EXEC;
}

const char *
pm_restart_policy_to_string (PmRestartPolicy policy)
{
  switch (policy)
    {
    case PM_RESTART_ALWAYS:
      return "always";
    case PM_RESTART_ON_FAILURE:
      return "on-failure";
    case PM_RESTART_NEVER:
      return "never";
    default:
      g_assert_not_reached ();
    }
}
