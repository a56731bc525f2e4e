/* test-cli-format.c — the pure half of elife-pm: human units, targets,
 * option values, apply's key file → Start options, log line filtering and
 * JSON, table-driven where there is a table. */
#include "config.h"

#include <string.h>

#include <gio/gio.h>

#include "pm-cli-format.h"

static void
assert_printed (GVariant *v, const char *expect)
{
  g_autofree char *text = g_variant_print (v, FALSE);

  g_assert_cmpstr (text, ==, expect);
}

typedef struct
{
  guint64     value;
  const char *expect;
} UnitCase;

static void
test_duration (void)
{
#define S(n) ((guint64) (n) * G_USEC_PER_SEC)
  const UnitCase cases[] = {
    { 0, "0s" }, { 999999, "0s" }, { S (45), "45s" },
    { S (59), "59s" }, { S (60), "1m00s" },
    { S (192), "3m12s" }, { S (3599), "59m59s" },
    { S (3600), "1h00m" }, { S (7500), "2h05m" },
    { S (86400), "1d00h" }, { S (3 * 86400 + 4 * 3600 + 59), "3d04h" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *s = pm_cli_format_duration (cases[i].value);
      g_assert_cmpstr (s, ==, cases[i].expect);
    }
#undef S
}

static void
test_cpu (void)
{
  const struct { guint64 cpu, elapsed; const char *expect; } cases[] = {
    { 0, 0, "0.0%" }, { 5, 0, "0.0%" }, { 0, 1000000, "0.0%" },
    { 12000, 1000000, "1.2%" }, { 1000000, 1000000, "100.0%" },
    { 2000000, 1000000, "200.0%" }, { 449, 1000000, "0.0%" }, { 500, 1000000, "0.1%" },
    { 1, 3, "33.3%" }, { 2, 3, "66.7%" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *s = pm_cli_format_cpu (cases[i].cpu, cases[i].elapsed);
      g_assert_cmpstr (s, ==, cases[i].expect);
    }
}

static void
test_bytes (void)
{
  const UnitCase cases[] = {
    { 0, "0B" }, { 512, "512B" }, { 1023, "1023B" }, { 1024, "1.0K" }, { 4096, "4.0K" },
    { 1536, "1.5K" }, { 14994637, "14.3M" }, { 1024 * 1024, "1.0M" },
    { 1024 * 1024 - 1, "1.0M" }, { 1181116006, "1.1G" },
    { G_GUINT64_CONSTANT (1) << 60, "1.0E" }, { G_MAXUINT64, "16.0E" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *s = pm_cli_format_bytes (cases[i].value);
      g_assert_cmpstr (s, ==, cases[i].expect);
    }
}

static void
test_target (void)
{
  guint32 id = 77;

  g_assert_true (pm_cli_parse_target ("12", &id));
  g_assert_cmpuint (id, ==, 12);
  g_assert_true (pm_cli_parse_target ("007", &id));
  g_assert_cmpuint (id, ==, 7);
  g_assert_true (pm_cli_parse_target ("4294967295", &id));
  g_assert_cmpuint (id, ==, G_MAXUINT32);
  g_assert_true (pm_cli_parse_target ("4294967296", &id));
  g_assert_cmpuint (id, ==, 0);
  g_assert_true (pm_cli_parse_target ("99999999999999999999999", &id));
  g_assert_cmpuint (id, ==, 0);
  id = 77;
  g_assert_false (pm_cli_parse_target ("api", &id));
  g_assert_false (pm_cli_parse_target ("12a", &id));
  g_assert_false (pm_cli_parse_target ("-1", &id));
  g_assert_false (pm_cli_parse_target (" 1", &id));
  g_assert_false (pm_cli_parse_target ("", &id));
  g_assert_cmpuint (id, ==, 77);
}

static void
test_values (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) au = NULL;
  g_autoptr(GVariant) env = NULL;
  const char *ms[] = { "100", " 500", "", "1000 ", NULL };
  const char *bad_ms[] = { "100", "x", NULL };
  const char *vars[] = { "A=1", "B=", "C=x=y", NULL };
  const char *bad_vars[] = { "A=1", "=2", NULL };
  const char *no_eq[] = { "A", NULL };
  guint64 v;

  g_assert_true (pm_cli_parse_uint ("4294967295", G_MAXUINT32, "--x", &v, &error));
  g_assert_cmpuint (v, ==, G_MAXUINT32);
  g_assert_false (pm_cli_parse_uint ("4294967296", G_MAXUINT32, "--stop-timeout", &v, &error));
  g_assert_nonnull (strstr (error->message, "--stop-timeout"));
  g_clear_error (&error);
  g_assert_false (pm_cli_parse_uint ("-1", G_MAXUINT32, "--x", &v, &error));
  g_clear_error (&error);
  g_assert_false (pm_cli_parse_uint ("", G_MAXUINT32, "--x", &v, &error));
  g_clear_error (&error);

  au = pm_cli_parse_ms_list (ms, "restartAt", &error);
  g_assert_no_error (error);
  assert_printed (au, "[100, 500, 1000]");
  g_assert_null (pm_cli_parse_ms_list (bad_ms, "restartAt", &error));
  g_assert_nonnull (strstr (error->message, "restartAt"));
  g_assert_nonnull (strstr (error->message, "“x”"));
  g_clear_error (&error);

  env = pm_cli_parse_env (vars, "env", &error);
  g_assert_no_error (error);
  assert_printed (env, "{'A': '1', 'B': '', 'C': 'x=y'}");
  g_assert_null (pm_cli_parse_env (bad_vars, "--env", &error));
  g_assert_nonnull (strstr (error->message, "=2"));
  g_clear_error (&error);
  g_assert_null (pm_cli_parse_env (no_eq, "--env", &error));
  g_clear_error (&error);
}

/* ---- apply ---------------------------------------------------------------- */

static GPtrArray *
apply_text (const char *text, GError **error)
{
  g_autoptr(GKeyFile) kf = g_key_file_new ();

  g_assert_true (g_key_file_load_from_data (kf, text, -1, G_KEY_FILE_NONE, NULL));
  return pm_cli_keyfile_to_options (kf, "/srv/app", error);
}

static void
test_apply_full (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) all = apply_text (
      "# two services\n"
      "[api]\n"
      "script=server.js\n"
      "args=--port;8080\n"
      "env=A=1;B=x=y\n"
      "restartAt=100;500\n"
      "clearEnv=true\n"
      "stripANSI=false\n"
      "stopTimeout=300\n"
      "log=logs/api.log\n"
      "interpreter=electron\n"
      "logMaxBytes=10000000000\n"
      "logBackups=3\n"
      "ready=line\n"
      "readyPattern=^listening\n"
      "startTimeout=5000\n"
      "watchdogTimeout=0\n"
      "restart=on-failure\n"
      "restartOk=1000\n"
      "timestamps=true\n"
      "\n"
      "[worker]\n"
      "script=/opt/w.py\n"
      "cwd=sub\n",
      &error);
  GVariant *api, *worker;
  const char *s;
  gboolean b;
  guint32 u;
  guint64 t;

  g_assert_no_error (error);
  g_assert_cmpuint (all->len, ==, 2);
  api = g_ptr_array_index (all, 0);
  worker = g_ptr_array_index (all, 1);
  g_assert_true (g_variant_lookup (api, "name", "&s", &s));
  g_assert_cmpstr (s, ==, "api");
  g_assert_true (g_variant_lookup (api, "replace", "b", &b));
  g_assert_true (b);
  g_assert_true (g_variant_lookup (api, "script", "&s", &s));
  g_assert_cmpstr (s, ==, "/srv/app/server.js");
  g_assert_true (g_variant_lookup (api, "cwd", "&s", &s));
  g_assert_cmpstr (s, ==, "/srv/app");
  g_assert_true (g_variant_lookup (api, "log", "&s", &s));
  g_assert_cmpstr (s, ==, "/srv/app/logs/api.log");
  /* Without '/', the interpreter is looked up on PATH. */
  g_assert_true (g_variant_lookup (api, "interpreter", "&s", &s));
  g_assert_cmpstr (s, ==, "electron");
  {
    g_autoptr(GVariant) v = g_variant_lookup_value (api, "args", G_VARIANT_TYPE ("as"));
    assert_printed (v, "['--port', '8080']");
  }
  {
    g_autoptr(GVariant) v = g_variant_lookup_value (api, "env", G_VARIANT_TYPE ("a{ss}"));
    assert_printed (v, "{'A': '1', 'B': 'x=y'}");
  }
  {
    g_autoptr(GVariant) v = g_variant_lookup_value (api, "restartAt", G_VARIANT_TYPE ("au"));
    assert_printed (v, "[100, 500]");
  }
  g_assert_true (g_variant_lookup (api, "clearEnv", "b", &b));
  g_assert_true (b);
  g_assert_true (g_variant_lookup (api, "stripANSI", "b", &b));
  g_assert_false (b);
  g_assert_true (g_variant_lookup (api, "stopTimeout", "u", &u));
  g_assert_cmpuint (u, ==, 300);
  g_assert_true (g_variant_lookup (api, "logMaxBytes", "t", &t));
  g_assert_cmpuint (t, ==, G_GUINT64_CONSTANT (10000000000));
  g_assert_true (g_variant_lookup (api, "logBackups", "u", &u));
  g_assert_cmpuint (u, ==, 3);
  g_assert_true (g_variant_lookup (api, "readyPattern", "&s", &s));
  g_assert_cmpstr (s, ==, "^listening");

  g_assert_true (g_variant_lookup (worker, "script", "&s", &s));
  g_assert_cmpstr (s, ==, "/opt/w.py");
  g_assert_true (g_variant_lookup (worker, "cwd", "&s", &s));
  g_assert_cmpstr (s, ==, "/srv/app/sub");
  g_assert_false (g_variant_lookup (worker, "args", "^as", NULL));
}

typedef struct
{
  const char *name;
  const char *text;
  const char *needle;   /* in the error message */
} BadCase;

static const BadCase bad_cases[] = {
  { "unknown-key", "[a]\nscript=x\nscrpt=y\n", "[a] scrpt: unknown key" },
  { "no-script", "[a]\nargs=1\n", "[a] script: missing" },
  { "empty-script", "[a]\nscript=\n", "[a] script: must not be empty" },
  { "bad-bool", "[a]\nscript=x\nclearEnv=yes\n", "[a] clearEnv: “yes” is not true or false" },
  { "bad-number", "[a]\nscript=x\nstopTimeout=3s\n", "[a] stopTimeout: “3s”" },
  { "negative", "[a]\nscript=x\nrestartOk=-1\n", "[a] restartOk: “-1”" },
  { "too-big-u", "[a]\nscript=x\nlogBackups=4294967296\n", "[a] logBackups" },
  { "bad-list", "[a]\nscript=x\nrestartAt=100;x\n", "[a] restartAt: “x” is not a number" },
  { "bad-env", "[a]\nscript=x\nenv=A=1;B\n", "[a] env: “B” is not of the form KEY=VALUE" },
  { "name-key", "[a]\nscript=x\nname=b\n", "[a] name: not allowed" },
  { "replace-key", "[a]\nscript=x\nreplace=false\n", "[a] replace: not allowed" },
  { "stop-with-caller", "[a]\nscript=x\nstopWithCaller=true\n", "[a] stopWithCaller: not allowed" },
  { "second-group-bad", "[a]\nscript=x\n[b]\nscript=y\nfoo=1\n", "[b] foo: unknown key" },
  { "no-groups", "# nothing\n", "no [NAME] group" },
};

static void
test_apply_bad (gconstpointer data)
{
  const BadCase *c = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) all = apply_text (c->text, &error);

  g_assert_null (all);
  g_assert_nonnull (error);
  if (strstr (error->message, c->needle) == NULL)
    g_error ("“%s” lacks “%s”", error->message, c->needle);
  /* One line. */
  g_assert_null (strchr (error->message, '\n'));
}

/* ---- logs ---------------------------------------------------------------------- */

static void
test_line_is_of (void)
{
  const struct { const char *line; const char *name; gboolean expect; } cases[] = {
    { "api: hello", "api", TRUE },
    { "api: ", "api", TRUE },
    { "api:hello", "api", FALSE },
    { "apix: hello", "api", FALSE },
    { "ap: hello", "api", FALSE },
    { "web: api: hello", "api", FALSE },
    { "2026-11-27T18:04:05.123+01:00 api: hello", "api", TRUE },
    { "2026-11-27T18:04:05.123Z api: hello", "api", TRUE },
    { "2026-11-27T18:04:05.123+01:00 web: api: x", "api", FALSE },
    { "12 api: x", "api", FALSE },
    { "anything at all", "", TRUE },
    { "", "", TRUE },
    { "", "api", FALSE },
    { "my app: up", "my app", TRUE },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    if (pm_cli_log_line_is_of (cases[i].line, strlen (cases[i].line), cases[i].name) != cases[i].expect)
      g_error ("“%s” of “%s”: expected %d", cases[i].line, cases[i].name, cases[i].expect);
}

static char *
joined (GPtrArray *lines)
{
  g_ptr_array_add (lines, NULL);
  return g_strjoinv ("|", (char **) lines->pdata);
}

static void
test_last_lines (void)
{
  const char *text = "api: 1\nweb: a\napi: 2\napi: 3\nweb: b\napi: 4\napi: half";
  struct { gboolean at_start; const char *name; guint n; const char *expect; } cases[] = {
    { TRUE, "api", 2, "api: 3|api: 4" },
    { TRUE, "api", 20, "api: 1|api: 2|api: 3|api: 4" },
    { TRUE, "web", 20, "web: a|web: b" },
    { TRUE, "api", 0, "" },
    { TRUE, "", 3, "api: 3|web: b|api: 4" },
    /* Not at the file's start: the first line may be cut, so it is left out. */
    { FALSE, "api", 20, "api: 2|api: 3|api: 4" },
    { TRUE, "db", 5, "" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GPtrArray) lines = pm_cli_last_lines (text, strlen (text), cases[i].at_start,
                                                      cases[i].name, cases[i].n);
      g_autofree char *got = joined (lines);
      g_assert_cmpstr (got, ==, cases[i].expect);
    }
  {
    g_autoptr(GPtrArray) lines = pm_cli_last_lines ("", 0, TRUE, "api", 5);
    g_assert_cmpuint (lines->len, ==, 0);
  }
  {
    g_autoptr(GPtrArray) lines = pm_cli_last_lines ("\n\n", 2, TRUE, "", 5);
    g_autofree char *got = joined (lines);
    g_assert_cmpstr (got, ==, "|");
  }
}

/* ---- JSON ------------------------------------------------------------------------- */

static void
test_json (void)
{
  const struct { const char *variant; const char *expect; } cases[] = {
    { "uint32 7", "7" },
    { "int32 -1", "-1" },
    { "uint64 18446744073709551615", "18446744073709551615" },
    { "true", "true" },
    { "'a\"b\\\\c\\n\\t\\u0001'", "\"a\\\"b\\\\c\\n\\t\\u0001\"" },
    { "'grüß'", "\"grüß\"" },
    { "@as []", "[]" },
    { "['x', 'y']", "[\"x\",\"y\"]" },
    { "{'k': <uint32 1>, 'l': <['a']>}", "{\"k\":1,\"l\":[\"a\"]}" },
    { "(uint32 1, 'a')", "[1,\"a\"]" },
    { "<<'deep'>>", "\"deep\"" },
    { "{uint32 1: 'a'}", "[[1,\"a\"]]" },
    { "1.5", "1.5" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GVariant) v = g_variant_parse (NULL, cases[i].variant, NULL, NULL, &error);
      g_autoptr(GString) out = g_string_new (NULL);

      g_assert_no_error (error);
      pm_cli_json_append_variant (out, v);
      g_assert_cmpstr (out->str, ==, cases[i].expect);
    }
}

static void
test_json_key (void)
{
  const char *cases[][2] = {
    { "Pid", "pid" }, { "ExitCode", "exitCode" }, { "StartedAt", "startedAt" },
    { "NextRestart", "nextRestart" }, { "URLPath", "urlPath" }, { "ID", "id" }, { "x", "x" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *k = pm_cli_json_key (cases[i][0]);
      g_assert_cmpstr (k, ==, cases[i][1]);
    }
}

static void
test_option_table (void)
{
  gsize n;
  const PmCliOption *opts = pm_cli_options (&n);

  g_assert_cmpuint (n, >=, 19);
  for (gsize i = 0; i < n; i++)
    {
      g_assert_true (g_variant_type_string_is_valid (opts[i].type));
      g_assert_true (pm_cli_option_find (opts[i].key) == &opts[i]);
    }
  g_assert_null (pm_cli_option_find ("name"));
  g_assert_null (pm_cli_option_find ("nope"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/cli-format/duration", test_duration);
  g_test_add_func ("/cli-format/cpu", test_cpu);
  g_test_add_func ("/cli-format/bytes", test_bytes);
  g_test_add_func ("/cli-format/target", test_target);
  g_test_add_func ("/cli-format/values", test_values);
  g_test_add_func ("/cli-format/option-table", test_option_table);
  g_test_add_func ("/cli-format/apply/full", test_apply_full);
  for (gsize i = 0; i < G_N_ELEMENTS (bad_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/cli-format/apply/bad/%s", bad_cases[i].name);
      g_test_add_data_func (path, &bad_cases[i], test_apply_bad);
    }
  g_test_add_func ("/cli-format/logs/line-is-of", test_line_is_of);
  g_test_add_func ("/cli-format/logs/last-lines", test_last_lines);
  g_test_add_func ("/cli-format/json/values", test_json);
  g_test_add_func ("/cli-format/json/keys", test_json_key);
  return g_test_run ();
}
