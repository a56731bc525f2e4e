/* test-options.c — unit tests of the Start option parser (src/pm-options.c),
 * table-driven.
 *
 * Every valid case is compared field by field against the defaults with only
 * its own change applied, so a key that leaks into another field fails too.
 * Every invalid case must give G_DBUS_ERROR_INVALID_ARGS with a message that
 * names what to fix, as the D-Bus contract promises clients.
 */
#include "config.h"

#include <stdarg.h>
#include <string.h>

#include <gio/gio.h>

#include "pm-options.h"

static const guint32 default_restart_at[] = {
  100, 500, 1000, 10000, 30000, 60000, 300000, 900000
};

/* Building inputs */

static GVariant *
parse_asv (const char *text)
{
  g_autoptr(GError) error = NULL;
  GVariant *asv = g_variant_parse (G_VARIANT_TYPE_VARDICT, text, NULL, NULL, &error);

  g_assert_no_error (error);
  return asv;
}

/* {'script': 'app', key: value}; takes @value if floating. */
static GVariant *
with_script (const char *key,
             GVariant   *value)
{
  g_auto(GVariantBuilder) b = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);

  g_variant_builder_add (&b, "{sv}", "script", g_variant_new_string ("app"));
  g_variant_builder_add (&b, "{sv}", key, value);
  return g_variant_ref_sink (g_variant_builder_end (&b));
}

static GVariant *
strv_of (gsize       n,
         const char *each)
{
  g_autoptr(GPtrArray) strv = g_ptr_array_new ();

  for (gsize i = 0; i < n; i++)
    g_ptr_array_add (strv, (gpointer) each);
  return g_variant_new_strv ((const char * const *) strv->pdata, strv->len);
}

static GVariant *
u32s_of (gsize n)
{
  g_autofree guint32 *steps = g_new (guint32, n);

  for (gsize i = 0; i < n; i++)
    steps[i] = (guint32) i;
  return g_variant_new_fixed_array (G_VARIANT_TYPE_UINT32, steps, n, sizeof (guint32));
}

static GVariant *
env_of (gsize n)
{
  g_auto(GVariantBuilder) b = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE ("a{ss}"));

  for (gsize i = 0; i < n; i++)
    {
      g_autofree char *k = g_strdup_printf ("K%" G_GSIZE_FORMAT, i);
      g_variant_builder_add (&b, "{ss}", k, "v");
    }
  return g_variant_builder_end (&b);
}

static GVariant *
long_name (gsize len)
{
  g_autofree char *name = g_strnfill (len, 'n');

  return with_script ("name", g_variant_new_string (name));
}

static GVariant *
build_name_max (void)
{
  return long_name (PM_MAX_NAME);
}

static GVariant *
build_name_too_long (void)
{
  return long_name (PM_MAX_NAME + 1);
}

static GVariant *
build_args_max (void)
{
  return with_script ("args", strv_of (PM_MAX_ARGS, "x"));
}

static GVariant *
build_args_too_many (void)
{
  return with_script ("args", strv_of (PM_MAX_ARGS + 1, "x"));
}

static GVariant *
build_env_max (void)
{
  return with_script ("env", env_of (PM_MAX_ENV));
}

static GVariant *
build_env_too_many (void)
{
  return with_script ("env", env_of (PM_MAX_ENV + 1));
}

static GVariant *
build_restart_at_max (void)
{
  return with_script ("restartAt", u32s_of (PM_MAX_RESTART_AT));
}

static GVariant *
build_restart_at_too_many (void)
{
  return with_script ("restartAt", u32s_of (PM_MAX_RESTART_AT + 1));
}

static GVariant *
build_stop_timeout_max (void)
{
  return with_script ("stopTimeout", g_variant_new_uint32 (PM_MAX_STOP_TIMEOUT));
}

static GVariant *
build_stop_timeout_too_big (void)
{
  return with_script ("stopTimeout", g_variant_new_uint32 (PM_MAX_STOP_TIMEOUT + 1));
}

static GVariant *
build_script_max (void)
{
  g_autofree char *script = g_strnfill (PM_MAX_PATH, 's');

  return g_variant_ref_sink (g_variant_new_parsed ("{'script': <%s>}", script));
}

static GVariant *
build_script_too_long (void)
{
  g_autofree char *script = g_strnfill (PM_MAX_PATH + 1, 's');

  return g_variant_ref_sink (g_variant_new_parsed ("{'script': <%s>}", script));
}

/* Strings of an argument vector are cut into pieces of this size, under
 * the per-string cap (PM_MAX_ARG_STRLEN), so that only the total counts. */
#define PIECE 65536

/* args and env together: @arg_len bytes of arguments and @env_len of
 * values, in PIECE-sized strings ("V0=...", "V1=..."). */
static GVariant *
argv_bytes (gsize arg_len,
            gsize env_len)
{
  g_auto(GVariantBuilder) b = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  g_auto(GVariantBuilder) args = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_STRING_ARRAY);
  g_auto(GVariantBuilder) env = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE ("a{ss}"));
  guint i = 0;

  for (gsize left = arg_len; left > 0; left -= MIN (left, PIECE))
    {
      g_autofree char *arg = g_strnfill (MIN (left, PIECE), 'a');
      g_variant_builder_add (&args, "s", arg);
    }
  for (gsize left = env_len; left > 0; left -= MIN (left, PIECE), i++)
    {
      g_autofree char *key = g_strdup_printf ("V%u", i);
      g_autofree char *value = g_strnfill (MIN (left, PIECE), 'v');
      g_variant_builder_add (&env, "{ss}", key, value);
    }

  g_variant_builder_add (&b, "{sv}", "script", g_variant_new_string ("app"));
  g_variant_builder_add (&b, "{sv}", "args", g_variant_builder_end (&args));
  g_variant_builder_add (&b, "{sv}", "env", g_variant_builder_end (&env));
  return g_variant_ref_sink (g_variant_builder_end (&b));
}

static GVariant *
one_string (const char *key,
            gsize       len)
{
  g_autofree char *big = g_strnfill (len, 'x');

  if (g_str_equal (key, "args"))
    return g_variant_ref_sink (g_variant_new_parsed ("{'script': <'app'>, 'args': <[%s]>}", big));
  return g_variant_ref_sink (g_variant_new_parsed ("{'script': <'app'>, 'env': <{'K': %s}>}", big));
}

static GVariant *
build_arg_strlen_over (void)
{
  return one_string ("args", PM_MAX_ARG_STRLEN);
}

static GVariant *
build_env_strlen_over (void)
{
  /* "K=" + value reaches the cap. */
  return one_string ("env", PM_MAX_ARG_STRLEN - 2);
}

static GVariant *
build_argv_half (void)
{
  return argv_bytes (PM_MAX_ARGV_BYTES / 4, PM_MAX_ARGV_BYTES / 4);
}

static GVariant *
build_argv_args_too_big (void)
{
  return argv_bytes (PM_MAX_ARGV_BYTES, 0);
}

static GVariant *
build_argv_env_too_big (void)
{
  return argv_bytes (0, PM_MAX_ARGV_BYTES);
}

static GVariant *
build_argv_sum_too_big (void)
{
  /* Each alone is well under the cap; only together are they over it. */
  return argv_bytes (PM_MAX_ARGV_BYTES / 2 + 1024, PM_MAX_ARGV_BYTES / 2 + 1024);
}

/* The expected result */

static void
set_strv (GStrv *strv,
          ...)
{
  g_autoptr(GStrvBuilder) b = g_strv_builder_new ();
  va_list ap;
  const char *s;

  va_start (ap, strv);
  while ((s = va_arg (ap, const char *)) != NULL)
    g_strv_builder_add (b, s);
  va_end (ap);

  g_strfreev (*strv);
  *strv = g_strv_builder_end (b);
}

static void
set_restart_at (GArray        *restart_at,
                const guint32 *steps,
                gsize          n)
{
  g_array_set_size (restart_at, 0);
  g_array_append_vals (restart_at, steps, n);
}

/* What the parser must give for {'script': <@script>} alone — written out by
 * hand from the spec, not taken from the code under test. */
static PmOptions *
expected_defaults (const char *script)
{
  PmOptions *e = g_new0 (PmOptions, 1);

  e->script = g_strdup (script);
  e->name = g_strdup ("");
  e->args = g_new0 (char *, 1);
  e->env = g_new0 (char *, 1);
  e->clear_env = FALSE;
  e->restart = PM_RESTART_ALWAYS;
  e->restart_at = g_array_new (FALSE, FALSE, sizeof (guint32));
  set_restart_at (e->restart_at, default_restart_at, G_N_ELEMENTS (default_restart_at));
  e->restart_ok = 1800000;
  e->strip_ansi = FALSE;
  e->timestamps = FALSE;
  e->stop_timeout = 200;
  e->stop_with_caller = FALSE;
  e->replace = FALSE;
  return e;
}

static void
assert_strv_equal (const char *field,
                   char      **got,
                   char      **want)
{
  g_assert_nonnull (got);
  if (!g_strv_equal ((const char * const *) got, (const char * const *) want))
    {
      g_autofree char *g = g_strjoinv ("\", \"", got);
      g_autofree char *w = g_strjoinv ("\", \"", want);
      g_test_fail_printf ("%s: got [\"%.200s\"] (%u), want [\"%.200s\"] (%u)",
                          field, g, g_strv_length (got), w, g_strv_length (want));
    }
}

/* Also checks the invariants the header promises. */
static void
assert_options_equal (const PmOptions *got,
                      const PmOptions *want)
{
  g_assert_nonnull (got);
  g_assert_nonnull (got->script);
  g_assert_cmpstr (got->script, !=, "");
  g_assert_cmpstr (got->script, ==, want->script);
  g_assert_nonnull (got->name);
  g_assert_cmpstr (got->name, ==, want->name);
  assert_strv_equal ("args", got->args, want->args);
  g_assert_cmpstr (got->cwd, ==, want->cwd);
  g_assert_true (got->cwd == NULL || g_path_is_absolute (got->cwd));
  g_assert_cmpstr (got->log, ==, want->log);
  g_assert_true (got->log == NULL || *got->log != '\0');
  assert_strv_equal ("env", got->env, want->env);
  g_assert_cmpint (got->clear_env, ==, want->clear_env);
  g_assert_cmpint (got->restart, ==, want->restart);
  g_assert_nonnull (got->restart_at);
  g_assert_cmpmem (got->restart_at->data, got->restart_at->len * sizeof (guint32),
                   want->restart_at->data, want->restart_at->len * sizeof (guint32));
  g_assert_cmpuint (got->restart_ok, ==, want->restart_ok);
  g_assert_cmpint (got->strip_ansi, ==, want->strip_ansi);
  g_assert_cmpint (got->timestamps, ==, want->timestamps);
  g_assert_cmpuint (got->stop_timeout, ==, want->stop_timeout);
  g_assert_cmpstr (got->interpreter, ==, want->interpreter);
  g_assert_cmpint (got->stop_with_caller, ==, want->stop_with_caller);
  g_assert_cmpint (got->replace, ==, want->replace);
}

/* Valid options: each key with its right type is accepted and stored */

typedef void (*Expect) (PmOptions *e);

typedef struct
{
  const char *name;
  const char *text;            /* a{sv} in GVariant text format, or NULL ... */
  GVariant *(*build) (void);   /* ... built by this */
  const char *script;          /* the script the input names */
  Expect      expect;          /* changes the defaults into what is expected */
} ValidCase;

static void expect_nothing (G_GNUC_UNUSED PmOptions *e) { }

static void expect_name_web (PmOptions *e) { g_free (e->name); e->name = g_strdup ("web"); }
static void expect_name_utf8 (PmOptions *e) { g_free (e->name); e->name = g_strdup ("wéb ☃"); }
static void expect_name_max (PmOptions *e) { g_free (e->name); e->name = g_strnfill (PM_MAX_NAME, 'n'); }

static void expect_args (PmOptions *e) { set_strv (&e->args, "--port", "", "a b", "=", NULL); }
static void
expect_args_max (PmOptions *e)
{
  g_strfreev (e->args);
  e->args = g_new0 (char *, PM_MAX_ARGS + 1);
  for (gsize i = 0; i < PM_MAX_ARGS; i++)
    e->args[i] = g_strdup ("x");
}

static void expect_cwd_srv (PmOptions *e) { e->cwd = g_strdup ("/srv/app"); }
static void expect_cwd_root (PmOptions *e) { e->cwd = g_strdup ("/"); }

static void expect_log_relative (PmOptions *e) { e->log = g_strdup ("logs/out.log"); }
static void expect_log_absolute (PmOptions *e) { e->log = g_strdup ("/var/log/app.log"); }

static void expect_env (PmOptions *e) { set_strv (&e->env, "A=1", "B=x=y", "C=", "PATH=/bin:/usr/bin", NULL); }
static void
expect_env_max (PmOptions *e)
{
  g_strfreev (e->env);
  e->env = g_new0 (char *, PM_MAX_ENV + 1);
  for (gsize i = 0; i < PM_MAX_ENV; i++)
    e->env[i] = g_strdup_printf ("K%" G_GSIZE_FORMAT "=v", i);
}

static void expect_clear_env (PmOptions *e) { e->clear_env = TRUE; }

static void expect_restart_always (PmOptions *e) { e->restart = PM_RESTART_ALWAYS; }
static void expect_restart_on_failure (PmOptions *e) { e->restart = PM_RESTART_ON_FAILURE; }
static void expect_restart_never (PmOptions *e) { e->restart = PM_RESTART_NEVER; }

static void expect_restart_at_empty (PmOptions *e) { set_restart_at (e->restart_at, NULL, 0); }
static void
expect_restart_at_zero (PmOptions *e)
{
  static const guint32 steps[] = { 0 };
  set_restart_at (e->restart_at, steps, G_N_ELEMENTS (steps));
}
static void
expect_restart_at_zero_100 (PmOptions *e)
{
  static const guint32 steps[] = { 0, 100 };
  set_restart_at (e->restart_at, steps, G_N_ELEMENTS (steps));
}
static void
expect_restart_at_extremes (PmOptions *e)
{
  static const guint32 steps[] = { G_MAXUINT32, 20, 0, 7 };
  set_restart_at (e->restart_at, steps, G_N_ELEMENTS (steps));
}
static void
expect_restart_at_max (PmOptions *e)
{
  g_array_set_size (e->restart_at, 0);
  for (guint32 i = 0; i < PM_MAX_RESTART_AT; i++)
    g_array_append_val (e->restart_at, i);
}

static void expect_restart_ok_0 (PmOptions *e) { e->restart_ok = 0; }
static void expect_restart_ok_max (PmOptions *e) { e->restart_ok = G_MAXUINT32; }

static void expect_strip_ansi (PmOptions *e) { e->strip_ansi = TRUE; }
static void expect_timestamps (PmOptions *e) { e->timestamps = TRUE; }
static void expect_stop_with_caller (PmOptions *e) { e->stop_with_caller = TRUE; }
static void expect_replace (PmOptions *e) { e->replace = TRUE; }

static void expect_stop_timeout_0 (PmOptions *e) { e->stop_timeout = 0; }
static void expect_stop_timeout_max (PmOptions *e) { e->stop_timeout = PM_MAX_STOP_TIMEOUT; }

static void expect_interpreter (PmOptions *e) { e->interpreter = g_strdup ("/opt/app/electron"); }
static void expect_interpreter_bare (PmOptions *e) { e->interpreter = g_strdup ("node"); }

static void
expect_argv_half (PmOptions *e)
{
  g_autoptr(GStrvBuilder) args = g_strv_builder_new ();
  g_autoptr(GStrvBuilder) env = g_strv_builder_new ();
  guint i = 0;

  for (gsize left = PM_MAX_ARGV_BYTES / 4; left > 0; left -= MIN (left, PIECE))
    {
      g_autofree char *arg = g_strnfill (MIN (left, PIECE), 'a');
      g_strv_builder_add (args, arg);
    }
  for (gsize left = PM_MAX_ARGV_BYTES / 4; left > 0; left -= MIN (left, PIECE), i++)
    {
      g_autofree char *value = g_strnfill (MIN (left, PIECE), 'v');
      g_autofree char *var = g_strdup_printf ("V%u=%s", i, value);
      g_strv_builder_add (env, var);
    }
  g_strfreev (e->args);
  e->args = g_strv_builder_end (args);
  g_strfreev (e->env);
  e->env = g_strv_builder_end (env);
}

static void
expect_everything (PmOptions *e)
{
  static const guint32 steps[] = { 0, 100 };

  g_free (e->name);
  e->name = g_strdup ("web");
  set_strv (&e->args, "--port", "80", NULL);
  e->cwd = g_strdup ("/srv");
  e->log = g_strdup ("logs/web.log");
  set_strv (&e->env, "A=1", "B=x=y", NULL);
  e->clear_env = TRUE;
  e->restart = PM_RESTART_ON_FAILURE;
  set_restart_at (e->restart_at, steps, G_N_ELEMENTS (steps));
  e->restart_ok = 5000;
  e->strip_ansi = TRUE;
  e->timestamps = TRUE;
  e->stop_timeout = 1000;
  e->interpreter = g_strdup ("/usr/bin/electron");
  e->stop_with_caller = TRUE;
  e->replace = TRUE;
}

static const char everything[] =
  "{'script': <'srv/app.js'>, 'name': <'web'>, 'args': <['--port', '80']>,"
  " 'cwd': <'/srv'>, 'log': <'logs/web.log'>, 'env': <{'A': '1', 'B': 'x=y'}>,"
  " 'clearEnv': <true>, 'restart': <'on-failure'>, 'restartAt': <[uint32 0, 100]>,"
  " 'restartOk': <uint32 5000>, 'stripANSI': <true>, 'timestamps': <true>,"
  " 'stopTimeout': <uint32 1000>, 'interpreter': <'/usr/bin/electron'>,"
  " 'stopWithCaller': <true>, 'replace': <true>}";

#define S "'script': <'app'>, "

static const ValidCase valid_cases[] = {
  { "defaults", "{'script': <'app'>}", NULL, "app", expect_nothing },
  { "script/relative", "{'script': <'bin/run.sh'>}", NULL, "bin/run.sh", expect_nothing },
  { "script/absolute", "{'script': <'/usr/bin/true'>}", NULL, "/usr/bin/true", expect_nothing },
  { "script/max-length", NULL, build_script_max, NULL, expect_nothing },
  { "name/plain", "{" S "'name': <'web'>}", NULL, "app", expect_name_web },
  { "name/empty", "{" S "'name': <''>}", NULL, "app", expect_nothing },
  { "name/utf8", "{" S "'name': <'wéb ☃'>}", NULL, "app", expect_name_utf8 },
  { "name/max-length", NULL, build_name_max, "app", expect_name_max },
  { "args/some", "{" S "'args': <['--port', '', 'a b', '=']>}", NULL, "app", expect_args },
  { "args/empty", "{" S "'args': <@as []>}", NULL, "app", expect_nothing },
  { "args/max-count", NULL, build_args_max, "app", expect_args_max },
  { "cwd/absolute", "{" S "'cwd': <'/srv/app'>}", NULL, "app", expect_cwd_srv },
  { "cwd/root", "{" S "'cwd': <'/'>}", NULL, "app", expect_cwd_root },
  { "log/relative", "{" S "'log': <'logs/out.log'>}", NULL, "app", expect_log_relative },
  { "log/absolute", "{" S "'log': <'/var/log/app.log'>}", NULL, "app", expect_log_absolute },
  { "log/empty-is-none", "{" S "'log': <''>}", NULL, "app", expect_nothing },
  { "env/some", "{" S "'env': <{'A': '1', 'B': 'x=y', 'C': '', 'PATH': '/bin:/usr/bin'}>}",
    NULL, "app", expect_env },
  { "env/empty", "{" S "'env': <@a{ss} {}>}", NULL, "app", expect_nothing },
  { "env/max-count", NULL, build_env_max, "app", expect_env_max },
  { "clearEnv/true", "{" S "'clearEnv': <true>}", NULL, "app", expect_clear_env },
  { "clearEnv/false", "{" S "'clearEnv': <false>}", NULL, "app", expect_nothing },
  { "restart/always", "{" S "'restart': <'always'>}", NULL, "app", expect_restart_always },
  { "restart/on-failure", "{" S "'restart': <'on-failure'>}", NULL, "app", expect_restart_on_failure },
  { "restart/never", "{" S "'restart': <'never'>}", NULL, "app", expect_restart_never },
  { "restartAt/empty", "{" S "'restartAt': <@au []>}", NULL, "app", expect_restart_at_empty },
  { "restartAt/zero", "{" S "'restartAt': <[uint32 0]>}", NULL, "app", expect_restart_at_zero },
  { "restartAt/zero-100", "{" S "'restartAt': <[uint32 0, 100]>}", NULL, "app",
    expect_restart_at_zero_100 },
  { "restartAt/unsorted-extremes", "{" S "'restartAt': <[uint32 4294967295, 20, 0, 7]>}", NULL,
    "app", expect_restart_at_extremes },
  { "restartAt/max-count", NULL, build_restart_at_max, "app", expect_restart_at_max },
  { "restartOk/zero", "{" S "'restartOk': <uint32 0>}", NULL, "app", expect_restart_ok_0 },
  { "restartOk/max", "{" S "'restartOk': <uint32 4294967295>}", NULL, "app", expect_restart_ok_max },
  { "stripANSI/true", "{" S "'stripANSI': <true>}", NULL, "app", expect_strip_ansi },
  { "timestamps/true", "{" S "'timestamps': <true>}", NULL, "app", expect_timestamps },
  { "stopTimeout/zero", "{" S "'stopTimeout': <uint32 0>}", NULL, "app", expect_stop_timeout_0 },
  { "stopTimeout/default", "{" S "'stopTimeout': <uint32 200>}", NULL, "app", expect_nothing },
  { "stopTimeout/max", NULL, build_stop_timeout_max, "app", expect_stop_timeout_max },
  { "interpreter/absolute", "{" S "'interpreter': <'/opt/app/electron'>}", NULL, "app",
    expect_interpreter },
  { "interpreter/bare", "{" S "'interpreter': <'node'>}", NULL, "app", expect_interpreter_bare },
  { "stopWithCaller/true", "{" S "'stopWithCaller': <true>}", NULL, "app", expect_stop_with_caller },
  { "replace/true", "{" S "'replace': <true>}", NULL, "app", expect_replace },
  { "argv-bytes/half", NULL, build_argv_half, "app", expect_argv_half },
  { "all-keys", everything, NULL, "srv/app.js", expect_everything },
};

static GVariant *
case_input (const char *text,
            GVariant *(*build) (void))
{
  return text != NULL ? parse_asv (text) : build ();
}

static void
test_valid (gconstpointer data)
{
  const ValidCase *c = data;
  g_autoptr(GVariant) asv = case_input (c->text, c->build);
  g_autoptr(GError) error = NULL;
  g_autoptr(PmOptions) opts = NULL;
  g_autoptr(PmOptions) want = NULL;
  g_autofree char *long_script = NULL;
  const char *script = c->script;

  if (script == NULL)
    script = long_script = g_strnfill (PM_MAX_PATH, 's');

  opts = pm_options_parse (asv, &error);
  g_assert_no_error (error);

  want = expected_defaults (script);
  c->expect (want);
  assert_options_equal (opts, want);
}

/* Invalid options */

typedef struct
{
  const char *name;
  const char *text;
  GVariant *(*build) (void);
  const char *in_message;   /* the key, or what names the problem */
} InvalidCase;

static const InvalidCase invalid_cases[] = {
  { "empty-dict", "@a{sv} {}", NULL, "script" },
  { "script/missing", "{'name': <'web'>, 'args': <['x']>}", NULL, "script" },
  { "script/empty", "{'script': <''>}", NULL, "script" },
  { "script/too-long", NULL, build_script_too_long, "script" },
  { "unknown/key", "{" S "'scirpt': <'app'>}", NULL, "scirpt" },
  { "unknown/wrong-case", "{" S "'stopwithcaller': <true>}", NULL, "stopwithcaller" },
  { "unknown/empty-key", "{" S "'': <true>}", NULL, "Unknown" },
  { "unknown/without-script", "{'colour': <'red'>}", NULL, "colour" },
  { "cwd/relative", "{" S "'cwd': <'srv/app'>}", NULL, "cwd" },
  { "cwd/dot", "{" S "'cwd': <'.'>}", NULL, "cwd" },
  { "cwd/empty", "{" S "'cwd': <''>}", NULL, "cwd" },
  { "env/key-with-equals", "{" S "'env': <{'A=B': 'c'}>}", NULL, "env" },
  { "env/key-is-equals", "{" S "'env': <{'OK': '1', '=': 'c'}>}", NULL, "env" },
  { "env/empty-key", "{" S "'env': <{'': 'c'}>}", NULL, "env" },
  { "env/too-many", NULL, build_env_too_many, "env" },
  { "restart/unknown", "{" S "'restart': <'sometimes'>}", NULL, "restart" },
  { "restart/empty", "{" S "'restart': <''>}", NULL, "restart" },
  { "restart/wrong-case", "{" S "'restart': <'Always'>}", NULL, "restart" },
  { "restart/underscore", "{" S "'restart': <'on_failure'>}", NULL, "restart" },
  { "restartAt/too-many", NULL, build_restart_at_too_many, "restartAt" },
  { "stopTimeout/too-big", NULL, build_stop_timeout_too_big, "stopTimeout" },
  { "stopTimeout/u32-max", "{" S "'stopTimeout': <uint32 4294967295>}", NULL, "stopTimeout" },
  { "args/too-many", NULL, build_args_too_many, "args" },
  { "name/too-long", NULL, build_name_too_long, "name" },
  { "name/newline", "{" S "'name': <'web\\nFAKE: line'>}", NULL, "name" },
  { "name/carriage-return", "{" S "'name': <'web\\r'>}", NULL, "name" },
  { "name/tab", "{" S "'name': <'a\\tb'>}", NULL, "name" },
  { "name/escape", "{" S "'name': <'\\u001b[31mred'>}", NULL, "name" },
  { "name/delete", "{" S "'name': <'a\\u007fb'>}", NULL, "name" },
  { "interpreter/empty", "{" S "'interpreter': <''>}", NULL, "interpreter" },
  { "argv-bytes/args", NULL, build_argv_args_too_big, "args" },
  { "argv-bytes/env", NULL, build_argv_env_too_big, "env" },
  { "argv-bytes/sum", NULL, build_argv_sum_too_big, "args" },
  { "argv-bytes/one-arg-over-strlen", NULL, build_arg_strlen_over, "args" },
  { "argv-bytes/one-env-over-strlen", NULL, build_env_strlen_over, "env" },
  { "twice/script", "{'script': <'a'>, 'script': <'b'>}", NULL, "script" },
  { "twice/name", "{" S "'name': <'a'>, 'name': <'a'>}", NULL, "name" },
  { "twice/log-empty", "{" S "'log': <''>, 'log': <'x.log'>}", NULL, "log" },
  { "twice/replace", "{" S "'replace': <true>, 'replace': <false>}", NULL, "replace" },
  { "twice/restartAt", "{" S "'restartAt': <@au []>, 'restartAt': <[uint32 1]>}", NULL,
    "restartAt" },
  { "twice/wrong-type", "{" S "'stopTimeout': <uint32 1>, 'stopTimeout': <'x'>}", NULL,
    "stopTimeout" },
};

static void
assert_invalid_args (GVariant   *asv,
                     const char *in_message)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PmOptions) opts = pm_options_parse (asv, &error);

  /* Not fatal: a failing case is reported and the others still run. */
  if (opts != NULL)
    {
      g_autofree char *text = g_variant_print (asv, TRUE);
      g_test_fail_printf ("accepted, should be InvalidArgs: %.300s", text);
      return;
    }
  g_assert_error (error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS);
  if (strstr (error->message, in_message) == NULL)
    g_test_fail_printf ("message “%s” does not mention “%s”", error->message, in_message);
}

static void
test_invalid (gconstpointer data)
{
  const InvalidCase *c = data;
  g_autoptr(GVariant) asv = case_input (c->text, c->build);

  assert_invalid_args (asv, c->in_message);
}

/* Without a script, a cwd is a module folder (pm-script.c resolves it). */
static void
test_script_absent_with_cwd (void)
{
  g_autoptr(GVariant) asv = parse_asv ("{'cwd': <'/srv/svc'>, 'name': <'svc'>}");
  g_autoptr(GError) error = NULL;
  g_autoptr(PmOptions) opts = pm_options_parse (asv, &error);
  g_autoptr(PmOptions) copy = NULL;

  g_assert_no_error (error);
  g_assert_null (opts->script);
  g_assert_cmpstr (opts->cwd, ==, "/srv/svc");
  copy = pm_options_copy (opts);
  g_assert_null (copy->script);
  g_assert_cmpstr (copy->cwd, ==, "/srv/svc");
}

/* Wrong variant types: for each key, every other type is refused by name */

static const struct
{
  const char *key;
  const char *type;
} key_types[] = {
  { "script", "s" },
  { "name", "s" },
  { "args", "as" },
  { "cwd", "s" },
  { "log", "s" },
  { "env", "a{ss}" },
  { "clearEnv", "b" },
  { "restart", "s" },
  { "restartAt", "au" },
  { "restartOk", "u" },
  { "stripANSI", "b" },
  { "timestamps", "b" },
  { "stopTimeout", "u" },
  { "interpreter", "s" },
  { "stopWithCaller", "b" },
  { "replace", "b" },
};

/* Near misses first: the type a careless client (or dbus-next guessing from
 * a JavaScript value) would send instead. */
static const char * const wrong_values[] = {
  "'x'",
  "objectpath '/x'",
  "signature 's'",
  "true",
  "byte 1",
  "int16 1",
  "uint16 1",
  "int32 1",
  "uint32 1",
  "int64 1",
  "uint64 1",
  "1.5",
  "<'x'>",
  "@ms 'x'",
  "['x']",
  "@ao ['/x']",
  "[uint32 1]",
  "[int32 1]",
  "[uint64 1]",
  "{'a': 'b'}",
  "{'a': <'b'>}",
  "[('a', 'b')]",
  "('x',)",
};

static void
test_wrong_type (gconstpointer data)
{
  const char *key = key_types[GPOINTER_TO_UINT (data)].key;
  const char *type = key_types[GPOINTER_TO_UINT (data)].type;

  for (gsize i = 0; i < G_N_ELEMENTS (wrong_values); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GVariant) value = g_variant_parse (NULL, wrong_values[i], NULL, NULL, &error);
      g_autoptr(GVariant) asv = NULL;

      g_assert_no_error (error);
      if (g_str_equal (g_variant_get_type_string (value), type))
        continue;

      g_test_message ("%s: %s", key, wrong_values[i]);
      if (g_str_equal (key, "script"))
        asv = g_variant_ref_sink (g_variant_new_parsed ("{'script': <%v>}", value));
      else
        asv = with_script (key, value);
      assert_invalid_args (asv, key);
    }
}

/* Also with the wrong type as the only key: no "script is required" instead. */
static void
test_wrong_type_without_script (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (key_types); i++)
    {
      const char *key = key_types[i].key;
      g_autoptr(GVariant) value = g_variant_ref_sink (g_variant_new_int64 (1));
      g_autoptr(GVariant) asv = g_variant_ref_sink (g_variant_new_parsed ("{%s: <%v>}", key, value));

      assert_invalid_args (asv, key);
    }
}

/* Copying */

static void
test_copy (gconstpointer data)
{
  const char *text = data;
  g_autoptr(GVariant) asv = parse_asv (text);
  g_autoptr(GError) error = NULL;
  PmOptions *orig = pm_options_parse (asv, &error);
  g_autoptr(PmOptions) again = NULL;
  g_autoptr(PmOptions) copy = NULL;

  g_assert_no_error (error);
  copy = pm_options_copy (orig);
  g_assert_true (copy != orig);
  assert_options_equal (copy, orig);

  /* Deep: nothing shared, so each can be freed on its own. */
  g_assert_true (copy->script != orig->script);
  g_assert_true (copy->name != orig->name);
  g_assert_true (copy->args != orig->args);
  g_assert_true (copy->env != orig->env);
  g_assert_true (copy->restart_at != orig->restart_at);
  for (gsize i = 0; orig->args[i] != NULL; i++)
    g_assert_true (copy->args[i] != orig->args[i]);
  for (gsize i = 0; orig->env[i] != NULL; i++)
    g_assert_true (copy->env[i] != orig->env[i]);
  g_assert_true (copy->cwd == NULL || copy->cwd != orig->cwd);
  g_assert_true (copy->log == NULL || copy->log != orig->log);
  g_assert_true (copy->interpreter == NULL || copy->interpreter != orig->interpreter);

  /* Changing or freeing the original leaves the copy as it was. */
  g_array_append_val (orig->restart_at, orig->restart_ok);
  orig->name[0] = '\0';
  pm_options_free (orig);

  again = pm_options_parse (asv, &error);
  g_assert_no_error (error);
  assert_options_equal (copy, again);
}

static void
test_free_null (void)
{
  pm_options_free (NULL);
}

/* Restart policy names round-trip */

static void
test_restart_policy_names (void)
{
  static const PmRestartPolicy policies[] = {
    PM_RESTART_ALWAYS, PM_RESTART_ON_FAILURE, PM_RESTART_NEVER
  };

  for (gsize i = 0; i < G_N_ELEMENTS (policies); i++)
    {
      const char *name = pm_restart_policy_to_string (policies[i]);
      g_autoptr(GVariant) asv = with_script ("restart", g_variant_new_string (name));
      g_autoptr(GError) error = NULL;
      g_autoptr(PmOptions) opts = pm_options_parse (asv, &error);

      g_assert_no_error (error);
      g_assert_cmpint (opts->restart, ==, policies[i]);
    }
  g_assert_cmpstr (pm_restart_policy_to_string (PM_RESTART_ON_FAILURE), ==, "on-failure");
}

/* Program kind by extension */

static const struct
{
  const char   *script;
  PmProgramKind kind;
} kind_cases[] = {
  { "app.js", PM_PROGRAM_NODE },
  { "app.mjs", PM_PROGRAM_NODE },
  { "app.cjs", PM_PROGRAM_NODE },
  { "/srv/app/server.js", PM_PROGRAM_NODE },
  { "dir.d/app.js", PM_PROGRAM_NODE },
  { "app.min.js", PM_PROGRAM_NODE },
  { "app.py", PM_PROGRAM_PYTHON },
  { "/opt/tool/run.py", PM_PROGRAM_PYTHON },
  { "lib.tar.py", PM_PROGRAM_PYTHON },
  { "noext", PM_PROGRAM_EXEC },
  { "/usr/bin/true", PM_PROGRAM_EXEC },
  { "run.sh", PM_PROGRAM_EXEC },
  { "dir.js/run", PM_PROGRAM_EXEC },
  { "dir.py/run", PM_PROGRAM_EXEC },
  { "./run", PM_PROGRAM_EXEC },
  { "app.json", PM_PROGRAM_EXEC },
  { "app.jsx", PM_PROGRAM_EXEC },
  { "app.js.bak", PM_PROGRAM_EXEC },
  { "app.pyc", PM_PROGRAM_EXEC },
  { "app.JS", PM_PROGRAM_EXEC },
  { "app.", PM_PROGRAM_EXEC },
  { "app.js/", PM_PROGRAM_EXEC },
};

static void
test_program_kind (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (kind_cases); i++)
    {
      g_test_message ("%s", kind_cases[i].script);
      g_assert_cmpint (pm_program_kind_for (kind_cases[i].script), ==, kind_cases[i].kind);
    }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (valid_cases); i++)
    {
      g_autofree char *path = g_strconcat ("/options/valid/", valid_cases[i].name, NULL);
      g_test_add_data_func (path, &valid_cases[i], test_valid);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (invalid_cases); i++)
    {
      g_autofree char *path = g_strconcat ("/options/invalid/", invalid_cases[i].name, NULL);
      g_test_add_data_func (path, &invalid_cases[i], test_invalid);
    }
  for (guint i = 0; i < G_N_ELEMENTS (key_types); i++)
    {
      g_autofree char *path = g_strconcat ("/options/wrong-type/", key_types[i].key, NULL);
      g_test_add_data_func (path, GUINT_TO_POINTER (i), test_wrong_type);
    }
  g_test_add_func ("/options/wrong-type/without-script", test_wrong_type_without_script);
  g_test_add_data_func ("/options/copy/defaults", "{'script': <'app'>}", test_copy);
  g_test_add_data_func ("/options/copy/all-keys", everything, test_copy);
  g_test_add_func ("/options/free-null", test_free_null);
  g_test_add_func ("/options/script/absent-with-cwd", test_script_absent_with_cwd);
  g_test_add_func ("/options/restart-policy-names", test_restart_policy_names);
  g_test_add_func ("/program-kind", test_program_kind);

  return g_test_run ();
}
