/* fuzz-options.c — libFuzzer harness for pm_options_parse() (src/pm-options.c).
 *
 * The input is read as the serialized form of an a{sv}, what a client's Start
 * call carries, but untrusted: it need not be in normal form, and GVariant
 * then reads the broken parts as default values; the parser must cope either
 * way. A non-normal input is parsed a second time in normal form, and both
 * parses must agree.
 *
 * The oracle: the parse either succeeds with options that keep every promise
 * of pm-options.h (and survive pm_options_copy() unchanged), or fails with
 * G_DBUS_ERROR_INVALID_ARGS and a non-empty UTF-8 message — it becomes the
 * D-Bus error's message, which must be valid UTF-8.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include <gio/gio.h>

#include "pm-options.h"

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static gsize
strv_bytes (char **strv)
{
  gsize total = 0;

  for (; *strv != NULL; strv++)
    total += strlen (*strv) + 1 + sizeof (char *);
  return total;
}

static void
check_path (const char *path,
            gboolean    absolute)
{
  if (path == NULL)
    return;
  g_assert_cmpstr (path, !=, "");
  g_assert_cmpuint (strlen (path), <=, PM_MAX_PATH);
  g_assert_true (g_utf8_validate (path, -1, NULL));
  if (absolute)
    g_assert_true (g_path_is_absolute (path));
}

static void
check_options (const PmOptions *opts)
{
  g_assert_true (opts->script != NULL || opts->cwd != NULL);
  check_path (opts->script, FALSE);

  g_assert_nonnull (opts->name);
  g_assert_cmpuint (strlen (opts->name), <=, PM_MAX_NAME);
  for (const char *p = opts->name; *p != '\0'; p++)
    g_assert_true ((guchar) *p >= 0x20 && *p != 0x7f);

  g_assert_nonnull (opts->args);
  g_assert_cmpuint (g_strv_length (opts->args), <=, PM_MAX_ARGS);

  g_assert_nonnull (opts->env);
  g_assert_cmpuint (g_strv_length (opts->env), <=, PM_MAX_ENV);
  for (char **e = opts->env; *e != NULL; e++)
    {
      /* The first '=' ends the name, since a name cannot contain one. */
      const char *eq = strchr (*e, '=');

      g_assert_nonnull (eq);
      g_assert_true (eq != *e);
    }
  g_assert_cmpuint (strv_bytes (opts->args) + strv_bytes (opts->env), <=, PM_MAX_ARGV_BYTES);

  check_path (opts->cwd, TRUE);
  check_path (opts->log, FALSE);
  check_path (opts->interpreter, FALSE);

  g_assert_nonnull (opts->restart_at);
  g_assert_cmpuint (opts->restart_at->len, <=, PM_MAX_RESTART_AT);
  g_assert_cmpuint (g_array_get_element_size (opts->restart_at), ==, sizeof (guint32));
  g_assert_cmpuint (opts->stop_timeout, <=, PM_MAX_STOP_TIMEOUT);

  g_assert_true (opts->restart == PM_RESTART_ALWAYS
                 || opts->restart == PM_RESTART_ON_FAILURE
                 || opts->restart == PM_RESTART_NEVER);
  g_assert_nonnull (pm_restart_policy_to_string (opts->restart));
  if (opts->script != NULL)
    g_assert_cmpint (pm_program_kind_for (opts->script), <=, PM_PROGRAM_PYTHON);

  /* gboolean fields hold TRUE or FALSE, nothing else. */
  g_assert_cmpuint ((guint) opts->clear_env, <=, 1);
  g_assert_cmpuint ((guint) opts->strip_ansi, <=, 1);
  g_assert_cmpuint ((guint) opts->timestamps, <=, 1);
  g_assert_cmpuint ((guint) opts->stop_with_caller, <=, 1);
  g_assert_cmpuint ((guint) opts->replace, <=, 1);
}

static void
assert_options_equal (const PmOptions *a,
                      const PmOptions *b)
{
  g_assert_cmpstr (a->script, ==, b->script);
  g_assert_cmpstr (a->name, ==, b->name);
  g_assert_true (g_strv_equal ((const char * const *) a->args, (const char * const *) b->args));
  g_assert_cmpstr (a->cwd, ==, b->cwd);
  g_assert_cmpstr (a->log, ==, b->log);
  g_assert_true (g_strv_equal ((const char * const *) a->env, (const char * const *) b->env));
  g_assert_cmpint (a->clear_env, ==, b->clear_env);
  g_assert_cmpint (a->restart, ==, b->restart);
  g_assert_cmpuint (a->restart_at->len, ==, b->restart_at->len);
  if (a->restart_at->len > 0)
    g_assert_cmpmem (a->restart_at->data, a->restart_at->len * sizeof (guint32),
                     b->restart_at->data, b->restart_at->len * sizeof (guint32));
  g_assert_cmpuint (a->restart_ok, ==, b->restart_ok);
  g_assert_cmpint (a->strip_ansi, ==, b->strip_ansi);
  g_assert_cmpint (a->timestamps, ==, b->timestamps);
  g_assert_cmpuint (a->stop_timeout, ==, b->stop_timeout);
  g_assert_cmpstr (a->interpreter, ==, b->interpreter);
  g_assert_cmpint (a->stop_with_caller, ==, b->stop_with_caller);
  g_assert_cmpint (a->replace, ==, b->replace);
}

/* Parses @asv and checks the outcome; returns the options, or NULL with
 * *@message set to the error's. */
static PmOptions *
parse_and_check (GVariant  *asv,
                 char     **message)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PmOptions) opts = pm_options_parse (asv, &error);

  if (opts == NULL)
    {
      g_assert_error (error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS);
      g_assert_nonnull (error->message);
      g_assert_cmpstr (error->message, !=, "");
      g_assert_true (g_utf8_validate (error->message, -1, NULL));
      *message = g_strdup (error->message);
      return NULL;
    }

  g_assert_no_error (error);
  check_options (opts);
  {
    g_autoptr(PmOptions) copy = pm_options_copy (opts);

    check_options (copy);
    assert_options_equal (copy, opts);
  }
  *message = NULL;
  return g_steal_pointer (&opts);
}

int
LLVMFuzzerInitialize (int    *argc,
                      char ***argv)
{
  /* Real malloc for every block, so that ASan sees each one. */
  g_setenv ("G_SLICE", "always-malloc", TRUE);
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autoptr(GBytes) bytes = g_bytes_new (data, size);
  g_autoptr(GVariant) asv = g_variant_ref_sink (g_variant_new_from_bytes (G_VARIANT_TYPE_VARDICT,
                                                                          bytes, FALSE));
  g_autoptr(PmOptions) opts = NULL;
  g_autofree char *message = NULL;

  opts = parse_and_check (asv, &message);

  if (!g_variant_is_normal_form (asv))
    {
      g_autoptr(GVariant) normal = g_variant_get_normal_form (asv);
      g_autoptr(PmOptions) opts2 = NULL;
      g_autofree char *message2 = NULL;

      g_assert_true (g_variant_is_normal_form (normal));
      opts2 = parse_and_check (normal, &message2);
      g_assert_cmpstr (message2, ==, message);
      if (opts != NULL)
        assert_options_equal (opts2, opts);
    }

  return 0;
}
