/* test-dbus-hostile.c — the real elife-pmd against hostile clients (issue 7):
 * a storm of Start calls with random and extreme options, callers that
 * disconnect before their reply, a client flooding List, and the documented
 * limits. Every answer must be a success or one of the documented D-Bus
 * errors with a message; the daemon stays up, and its fd count and RSS come
 * back afterwards.
 *
 * The storm is reproducible: it draws from its own GRand, seeded with
 * PM_HOSTILE_SEED when set, else a fixed seed; the seed is printed. */
#include "pm-test-util.h"

#include <dirent.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define PM_TEST_ERROR_LOG_FAILED     "org.elife.ProcessManager.Error.LogFailed"
#define PM_TEST_ERROR_LIMIT_EXCEEDED "org.elife.ProcessManager.Error.LimitExceeded"

#define DEFAULT_SEED   20240607u
#define STORM_CALLS    pm_test_scaled (10000)
#define WARMUP_CALLS   300
#define WINDOW         64                  /* Start calls in flight at once */
#define BIG_LEN        (1024 * 1024)       /* "1 MB strings" */
#define OVER_EXEC_LEN  (200 * 1024)        /* past the kernel's 128 KiB per string */
#define FD_SLACK       2
#define RSS_SLACK_KIB  (8 * 1024)
/* The harness kills a case after 90 s. */
#define STORM_DEADLINE_MS 70000

/* Documented caps (README, Limits). */
#define MAX_ARGS        10000
#define MAX_ENV         10000
#define MAX_PATH        4096
#define MAX_NAME        256
#define MAX_RESTART_AT  1000
#define MAX_STOP_TIMEOUT 3600000

/* ---- reporting and /proc -------------------------------------------------- */

/* report, daemon_pid, count_fds and rss_kib: tests/pm-test-util.h. */

static void
assert_daemon_up (PmFixture *f, const char *when)
{
  if (f->daemon_exited || kill (pm_daemon_pid (f), 0) < 0)
    g_error ("the daemon is gone %s (wait status 0x%x)", when, f->daemon_wait_status);
  /* … and answering. */
  (void) pm_list_count (f);
}

typedef struct
{
  guint fds;
  gsize rss;
} Usage;

static Usage
measure (PmFixture *f)
{
  Usage u = { pm_count_fds (pm_daemon_pid (f)), pm_rss_kib (pm_daemon_pid (f)) };

  return u;
}

/* Waits up to `ms` for the daemon's usage to come back within the slack of
 * `base` (a freed buffer may take a moment: a flushed reply, a reaped
 * child), then reports and asserts. */
static void
assert_back_to_baseline (PmFixture *f, Usage base, guint fd_slack, gsize rss_slack,
                         guint ms, const char *what)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) ms * 1000;
  Usage now;

  for (;;)
    {
      now = measure (f);
      if ((now.fds <= base.fds + fd_slack && now.rss <= base.rss + rss_slack) ||
          g_get_monotonic_time () > deadline)
        break;
      pm_iterate_for (100);
    }
  pm_report ("%s: fds %u -> %u (%+d, allowed +%u); VmRSS %" G_GSIZE_FORMAT " -> %"
          G_GSIZE_FORMAT " KiB (%+" G_GSSIZE_FORMAT " KiB, allowed +%" G_GSIZE_FORMAT ")",
          what, base.fds, now.fds, (int) now.fds - (int) base.fds, fd_slack,
          base.rss, now.rss, (gssize) now.rss - (gssize) base.rss, rss_slack);
  if (now.fds > base.fds + fd_slack)
    g_error ("%s: the daemon holds %u fds, %u at the baseline", what, now.fds, base.fds);
  if (now.rss > base.rss + rss_slack && pm_test_rss_meaningful ())
    g_error ("%s: the daemon's RSS is %" G_GSIZE_FORMAT " KiB, %" G_GSIZE_FORMAT
             " KiB at the baseline", what, now.rss, base.rss);
}

/* ---- answers ---------------------------------------------------------------- */

enum
{
  OUT_OK      = 1 << 0,
  OUT_INVALID = 1 << 1,
  OUT_SPAWN   = 1 << 2,
  OUT_LOG     = 1 << 3,
  OUT_LIMIT   = 1 << 4,
  OUT_ANY     = (1 << 5) - 1,
  N_OUTCOMES  = 5,
};

static const char *const outcome_names[N_OUTCOMES] = {
  "success",
  PM_TEST_ERROR_INVALID_ARGS,
  PM_TEST_ERROR_SPAWN_FAILED,
  PM_TEST_ERROR_LOG_FAILED,
  PM_TEST_ERROR_LIMIT_EXCEEDED,
};

static guint
outcome_index (guint outcome)
{
  return (guint) g_bit_nth_lsf (outcome, -1);
}

/* The only errors a Start may answer with; 0 for anything else (a timeout,
 * NoReply, a generic Failed, a local error). */
static guint
outcome_for_error (const char *remote)
{
  for (guint i = 1; i < N_OUTCOMES; i++)
    if (g_strcmp0 (remote, outcome_names[i]) == 0)
      return 1u << i;
  return 0;
}

static gchar *
expect_to_string (guint expect)
{
  GString *s = g_string_new (NULL);

  for (guint i = 0; i < N_OUTCOMES; i++)
    if (expect & (1u << i))
      g_string_append_printf (s, "%s%s", s->len ? "|" : "", outcome_names[i]);
  return g_string_free (s, FALSE);
}

/* ---- the storm ---------------------------------------------------------------- */

static const struct
{
  const char *key;
  const char *type;
} option_keys[] = {
  { "script", "s" }, { "name", "s" }, { "args", "as" }, { "cwd", "s" },
  { "log", "s" }, { "env", "a{ss}" }, { "clearEnv", "b" }, { "restart", "s" },
  { "restartAt", "au" }, { "restartOk", "u" }, { "stripANSI", "b" },
  { "timestamps", "b" }, { "stopTimeout", "u" }, { "interpreter", "s" },
  { "stopWithCaller", "b" }, { "replace", "b" },
};

typedef struct _Storm Storm;
typedef GVariant *(*MakeFunc) (Storm *s, const char **what, guint *expect);

typedef struct
{
  const char *name;
  guint weight;    /* per 1000 */
  MakeFunc make;
  guint sent;
  guint outcomes[N_OUTCOMES];
} Category;

struct _Storm
{
  PmFixture *f;
  GRand *rand;
  Category *categories;
  guint n_categories;

  /* Built once, shared by the calls (immutable, so ref'd not copied). */
  GVariant *big;            /* "/aaa…": 1 MiB */
  GVariant *over_exec;      /* 200 KiB: fine for us, too long for execve */
  GVariant *path_max;       /* MAX_PATH bytes */
  GVariant *path_over;      /* MAX_PATH + 1 bytes */
  GVariant *many_args;      /* 100,000 */
  GVariant *args_over;      /* MAX_ARGS + 1 */
  GVariant *many_env;       /* 20,000 */
  GVariant *env_over;       /* MAX_ENV + 1 */
  GVariant *huge_restart_at; /* 100,000 */
  GVariant *restart_at_over; /* MAX_RESTART_AT + 1 */
  gchar *noexec;            /* a regular file without x bits */
  gchar *under_file;        /* a path below that regular file */

  guint total;
  guint sent;
  guint answered;
  guint in_flight;
  guint outcomes[N_OUTCOMES];
  guint failures;
  GString *failure_text;
  gint64 max_latency_us;
};

typedef struct
{
  Storm *s;
  Category *category;
  const char *what;
  guint expect;
  gint64 t0;
} Flight;

static guint
rnd (Storm *s, guint n)
{
  return (guint) g_rand_int_range (s->rand, 0, (gint32) n);
}

static gboolean
coin (Storm *s)
{
  return g_rand_boolean (s->rand);
}

static gchar *
random_ascii (Storm *s, guint max_len)
{
  guint len = rnd (s, max_len + 1);
  gchar *text = g_malloc (len + 1);

  for (guint i = 0; i < len; i++)
    text[i] = (gchar) (0x20 + rnd (s, 0x5f));   /* printable ASCII */
  text[len] = '\0';
  return text;
}

static GVariant *
random_arg (Storm *s)
{
  static const char *const odd[] = { "", " ", "--", "-", "é✓ünïcödé", "$HOME", "*", "\t\n", "'\"" };

  if (coin (s))
    return g_variant_new_string (odd[rnd (s, G_N_ELEMENTS (odd))]);
  return g_variant_new_take_string (random_ascii (s, 40));
}

static gchar *
random_env_key (Storm *s)
{
  guint len = 1 + rnd (s, 12);
  gchar *key = g_malloc (len + 1);

  for (guint i = 0; i < len; i++)
    key[i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ_"[rnd (s, 27)];
  key[len] = '\0';
  return key;
}

static gchar *
tmp_log (Storm *s)
{
  g_autofree gchar *name = g_strdup_printf ("h-storm-%u.log", rnd (s, 4));

  return pm_tmp_path (s->f, name);
}

/* Values of every kind, to put where another kind is expected. */
static GVariant *
sample_value (guint k)
{
  static const char *const strv[] = { "a", "b" };
  static const guint32 au[] = { 1, 2 };

  switch (k)
    {
    case 0: return g_variant_new_int32 (-1);
    case 1: return g_variant_new_uint32 (G_MAXUINT32);
    case 2: return g_variant_new_boolean (TRUE);
    case 3: return g_variant_new_string ("/bin/true");
    case 4: return g_variant_new_strv (strv, 2);
    case 5: return g_variant_new_fixed_array (G_VARIANT_TYPE_UINT32, au, 2, sizeof (guint32));
    case 6: return g_variant_new_parsed ("{'A': '1'}");
    case 7: return g_variant_new_byte (255);
    case 8: return g_variant_new_int64 (G_MININT64);
    case 9: return g_variant_new_double (-1e308);
    case 10: return g_variant_new_object_path ("/");
    case 11: return g_variant_new_signature ("a{sv}");
    case 12: return g_variant_new_parsed ("(-1, 'x')");
    case 13: return g_variant_new_parsed ("{'script': <'/bin/true'>}");
    case 14: return g_variant_new_bytestring ("/bin/true");
    case 15: return g_variant_new_uint64 (G_MAXUINT64);
    case 16: return g_variant_new_int16 (G_MININT16);
    case 17: return g_variant_new_parsed ("[['/bin/true']]");
    case 18: return g_variant_new_variant (g_variant_new_string ("/bin/true"));
    case 19: return g_variant_new_parsed ("@as []");
    case 20: return g_variant_new_parsed ("@a{sv} {}");
    default: return g_variant_new_parsed ("@ai [1, -1]");
    }
}
#define N_SAMPLES 22

static GVariant *
wrong_value_for (Storm *s, const char *type)
{
  for (;;)
    {
      GVariant *v = sample_value (rnd (s, N_SAMPLES));   /* floating */

      if (!g_variant_is_of_type (v, G_VARIANT_TYPE (type)))
        return v;
      g_variant_unref (g_variant_ref_sink (v));
    }
}

/* A value of the right type that passes validation. */
static GVariant *
good_value (Storm *s, const char *key)
{
  if (g_str_equal (key, "script"))
    return g_variant_new_string ("/bin/true");
  if (g_str_equal (key, "name"))
    return g_variant_new_string ("h-dup");
  if (g_str_equal (key, "args"))
    return g_variant_new_parsed ("['a']");
  if (g_str_equal (key, "cwd"))
    return g_variant_new_string ("/");
  if (g_str_equal (key, "log"))
    return g_variant_new_take_string (tmp_log (s));
  if (g_str_equal (key, "env"))
    return g_variant_new_parsed ("{'A': '1'}");
  if (g_str_equal (key, "restart"))
    return g_variant_new_string ("never");
  if (g_str_equal (key, "restartAt"))
    return g_variant_new_parsed ("@au []");
  if (g_str_equal (key, "restartOk") || g_str_equal (key, "stopTimeout"))
    return g_variant_new_uint32 (100);
  if (g_str_equal (key, "interpreter"))
    return g_variant_new_string ("/bin/sh");
  return g_variant_new_boolean (FALSE);
}

static const char *
random_key (Storm *s)
{
  return option_keys[rnd (s, G_N_ELEMENTS (option_keys))].key;
}

/* script /bin/true (exits at once) and restartAt [] (never restarted),
 * unless the case is about that key. */
static void
add_base (GVariantBuilder *b, const char *except)
{
  if (g_strcmp0 (except, "script") != 0)
    g_variant_builder_add (b, "{sv}", "script", g_variant_new_string ("/bin/true"));
  if (g_strcmp0 (except, "restartAt") != 0)
    g_variant_builder_add (b, "{sv}", "restartAt", g_variant_new_parsed ("@au []"));
}

static GVariant *
finish (GVariantBuilder *b)
{
  return g_variant_new ("(a{sv})", b);
}

/* The base and one more option, as an a{sv} … */
static GVariant *
dict1 (const char *key, GVariant *value)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  add_base (&b, key);
  g_variant_builder_add (&b, "{sv}", key, value);
  return g_variant_builder_end (&b);
}

/* … and as the parameters of Start. */
static GVariant *
opts1 (const char *key, GVariant *value)
{
  GVariant *dict = dict1 (key, value);

  return g_variant_new_tuple (&dict, 1);
}

/* -- categories -- */

static GVariant *
make_valid (Storm *s, const char **what, guint *expect)
{
  static const char *const restart[] = { "always", "on-failure", "never" };
  GVariantBuilder b, args, env;
  guint n;

  *what = "valid /bin/true";
  *expect = OUT_OK;
  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  add_base (&b, NULL);
  if (coin (s))
    g_variant_builder_add (&b, "{sv}", "name",
                           g_variant_new_take_string (random_ascii (s, MAX_NAME)));
  g_variant_builder_init (&args, G_VARIANT_TYPE_STRING_ARRAY);
  for (n = rnd (s, 6); n > 0; n--)
    g_variant_builder_add_value (&args, random_arg (s));
  g_variant_builder_add (&b, "{sv}", "args", g_variant_builder_end (&args));
  g_variant_builder_init (&env, G_VARIANT_TYPE ("a{ss}"));
  for (n = rnd (s, 4); n > 0; n--)
    {
      g_autofree gchar *key = random_env_key (s);
      g_autofree gchar *value = random_ascii (s, 30);

      g_variant_builder_add (&env, "{ss}", key, value);
    }
  g_variant_builder_add (&b, "{sv}", "env", g_variant_builder_end (&env));
  g_variant_builder_add (&b, "{sv}", "clearEnv", g_variant_new_boolean (coin (s)));
  g_variant_builder_add (&b, "{sv}", "timestamps", g_variant_new_boolean (coin (s)));
  g_variant_builder_add (&b, "{sv}", "stripANSI", g_variant_new_boolean (coin (s)));
  g_variant_builder_add (&b, "{sv}", "stopWithCaller", g_variant_new_boolean (coin (s)));
  g_variant_builder_add (&b, "{sv}", "replace", g_variant_new_boolean (rnd (s, 4) == 0));
  g_variant_builder_add (&b, "{sv}", "stopTimeout",
                         g_variant_new_uint32 (rnd (s, MAX_STOP_TIMEOUT + 1)));
  g_variant_builder_add (&b, "{sv}", "restartOk", g_variant_new_uint32 (g_rand_int (s->rand)));
  g_variant_builder_add (&b, "{sv}", "restart",
                         g_variant_new_string (restart[rnd (s, G_N_ELEMENTS (restart))]));
  switch (rnd (s, 3))
    {
    case 0: g_variant_builder_add (&b, "{sv}", "cwd", g_variant_new_string ("/")); break;
    case 1: g_variant_builder_add (&b, "{sv}", "cwd", g_variant_new_string (s->f->tmpdir)); break;
    default: break;
    }
  switch (rnd (s, 3))
    {
    case 0: g_variant_builder_add (&b, "{sv}", "log", g_variant_new_take_string (tmp_log (s))); break;
    case 1: g_variant_builder_add (&b, "{sv}", "log", g_variant_new_string ("")); break;
    default: break;
    }
  return finish (&b);
}

static GVariant *
make_wrong_type (Storm *s, const char **what, guint *expect)
{
  guint i = rnd (s, G_N_ELEMENTS (option_keys));

  *what = option_keys[i].key;
  *expect = OUT_INVALID;
  return opts1 (option_keys[i].key, wrong_value_for (s, option_keys[i].type));
}

static GVariant *
make_unknown_key (Storm *s, const char **what, guint *expect)
{
  static const char *const near[] = { "", "Script", "script ", " script", "SCRIPT", "scrïpt",
                                      "stop_timeout", "restartat", "args\n", "env=", "✓" };
  g_autofree gchar *key = NULL;

  *expect = OUT_INVALID;
  if (coin (s))
    {
      *what = "near miss";
      key = g_strdup (near[rnd (s, G_N_ELEMENTS (near))]);
    }
  else
    {
      *what = "random";
      key = random_ascii (s, 40);
      for (guint i = 0; i < G_N_ELEMENTS (option_keys); i++)
        if (g_str_equal (key, option_keys[i].key))
          {
            g_free (key);
            key = g_strdup ("x");
          }
    }
  return opts1 (key, sample_value (rnd (s, N_SAMPLES)));
}

static GVariant *
make_big_string (Storm *s, const char **what, guint *expect)
{
  g_auto(GVariantBuilder) b = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  GVariantBuilder inner;

  *expect = OUT_INVALID;
  switch (rnd (s, 12))
    {
    case 0: *what = "script"; return opts1 ("script", s->big);
    case 1: *what = "name"; return opts1 ("name", s->big);
    case 2: *what = "cwd"; return opts1 ("cwd", s->big);
    case 3: *what = "log"; return opts1 ("log", s->big);
    case 4: *what = "interpreter"; return opts1 ("interpreter", s->big);
    case 5: *what = "restart"; return opts1 ("restart", s->big);
    case 6:
      *what = "args item";
      g_variant_builder_init (&inner, G_VARIANT_TYPE_STRING_ARRAY);
      g_variant_builder_add (&inner, "s", "-");
      g_variant_builder_add_value (&inner, s->big);
      return opts1 ("args", g_variant_builder_end (&inner));
    case 7:
      *what = "env value";
      g_variant_builder_init (&inner, G_VARIANT_TYPE ("a{ss}"));
      g_variant_builder_add (&inner, "{s@s}", "BIG", s->big);
      return opts1 ("env", g_variant_builder_end (&inner));
    case 8:
      *what = "env key";
      g_variant_builder_init (&inner, G_VARIANT_TYPE ("a{ss}"));
      g_variant_builder_add (&inner, "{@ss}", s->big, "v");
      return opts1 ("env", g_variant_builder_end (&inner));
    case 9:
      *what = "option key";
      add_base (&b, NULL);
      g_variant_builder_add (&b, "{@sv}", s->big, g_variant_new_boolean (TRUE));
      return finish (&b);
    case 10:
      /* Within our 1 MiB, over the kernel's 128 KiB per string: exec
       * fails, and that must come back as SpawnFailed. */
      *what = "args item over MAX_ARG_STRLEN";
      *expect = OUT_SPAWN | OUT_INVALID;
      g_variant_builder_init (&inner, G_VARIANT_TYPE_STRING_ARRAY);
      g_variant_builder_add_value (&inner, s->over_exec);
      return opts1 ("args", g_variant_builder_end (&inner));
    default:
      *what = "env value over MAX_ARG_STRLEN";
      *expect = OUT_SPAWN | OUT_INVALID;
      g_variant_builder_init (&inner, G_VARIANT_TYPE ("a{ss}"));
      g_variant_builder_add (&inner, "{s@s}", "LONG", s->over_exec);
      return opts1 ("env", g_variant_builder_end (&inner));
    }
}

static GVariant *
make_many (Storm *s, const char **what, guint *expect)
{
  *expect = OUT_INVALID;
  switch (rnd (s, 6))
    {
    case 0: *what = "100000 args"; return opts1 ("args", s->many_args);
    case 1: *what = "10001 args"; return opts1 ("args", s->args_over);
    case 2: *what = "20000 env"; return opts1 ("env", s->many_env);
    case 3: *what = "10001 env"; return opts1 ("env", s->env_over);
    case 4: *what = "100000 restartAt"; return opts1 ("restartAt", s->huge_restart_at);
    default: *what = "1001 restartAt"; return opts1 ("restartAt", s->restart_at_over);
    }
}

static GVariant *
make_env_bad_key (Storm *s, const char **what, guint *expect)
{
  static const char *const bad[] = { "", "=", "A=B", "=A", "A=", "==", "PATH=/x" };
  GVariantBuilder env;
  guint n = rnd (s, 5);
  guint at = rnd (s, n + 1);
  guint which = rnd (s, G_N_ELEMENTS (bad));

  *what = which == 0 ? "empty key" : "key with '='";
  *expect = OUT_INVALID;
  g_variant_builder_init (&env, G_VARIANT_TYPE ("a{ss}"));
  for (guint i = 0; i <= n; i++)
    {
      g_autofree gchar *key = random_env_key (s);

      if (i == at)
        g_variant_builder_add (&env, "{ss}", bad[which], "value");
      else
        g_variant_builder_add (&env, "{ss}", key, "v");
    }
  return opts1 ("env", g_variant_builder_end (&env));
}

static GVariant *
make_timeouts (Storm *s, const char **what, guint *expect)
{
  switch (rnd (s, 8))
    {
    case 0:
      *what = "stopTimeout u32 max";
      *expect = OUT_INVALID;
      return opts1 ("stopTimeout", g_variant_new_uint32 (G_MAXUINT32));
    case 1:
      *what = "stopTimeout over the cap";
      *expect = OUT_INVALID;
      return opts1 ("stopTimeout",
                    g_variant_new_uint32 (MAX_STOP_TIMEOUT + 1 +
                                          rnd (s, G_MAXINT32 - MAX_STOP_TIMEOUT)));
    case 2:
      *what = "stopTimeout at the cap";
      *expect = OUT_OK;
      return opts1 ("stopTimeout", g_variant_new_uint32 (MAX_STOP_TIMEOUT));
    case 3:
      *what = "stopTimeout 0";
      *expect = OUT_OK;
      return opts1 ("stopTimeout", g_variant_new_uint32 (0));
    case 4:
      *what = "restartOk 0 or max";
      *expect = OUT_OK;
      return opts1 ("restartOk", g_variant_new_uint32 (coin (s) ? 0 : G_MAXUINT32));
    case 5:
      /* Exits, then waits 49 days for its restart. */
      *what = "restartAt [u32 max]";
      *expect = OUT_OK;
      return opts1 ("restartAt", g_variant_new_parsed ("[uint32 4294967295]"));
    case 6:
      *what = "restartAt [0] (never)";
      *expect = OUT_OK;
      return opts1 ("restartAt", g_variant_new_parsed ("[uint32 0]"));
    default:
      *what = "restartAt [max, 0]";
      *expect = OUT_OK;
      return opts1 ("restartAt", g_variant_new_parsed ("[uint32 4294967295, 0]"));
    }
}

static GVariant *
make_empty (Storm *s, const char **what, guint *expect)
{
  GVariantBuilder b;

  switch (rnd (s, 11))
    {
    case 0: *what = "script ''"; *expect = OUT_INVALID;
      return opts1 ("script", g_variant_new_string (""));
    case 1: *what = "cwd ''"; *expect = OUT_INVALID;
      return opts1 ("cwd", g_variant_new_string (""));
    case 2: *what = "interpreter ''"; *expect = OUT_INVALID;
      return opts1 ("interpreter", g_variant_new_string (""));
    case 3: *what = "restart ''"; *expect = OUT_INVALID;
      return opts1 ("restart", g_variant_new_string (""));
    case 4: *what = "log ''"; *expect = OUT_OK;
      return opts1 ("log", g_variant_new_string (""));
    case 5: *what = "name ''"; *expect = OUT_OK;
      return opts1 ("name", g_variant_new_string (""));
    case 6: *what = "args ['', '']"; *expect = OUT_OK;
      return opts1 ("args", g_variant_new_parsed ("['', '']"));
    case 7: *what = "env {'E': ''}"; *expect = OUT_OK;
      return opts1 ("env", g_variant_new_parsed ("{'E': ''}"));
    case 8: *what = "env {}, args []"; *expect = OUT_OK;
      g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
      add_base (&b, NULL);
      g_variant_builder_add (&b, "{sv}", "env", g_variant_new_parsed ("@a{ss} {}"));
      g_variant_builder_add (&b, "{sv}", "args", g_variant_new_parsed ("@as []"));
      return finish (&b);
    case 9: *what = "{'': <''>}"; *expect = OUT_INVALID;
      return g_variant_new_parsed ("({'': <''>},)");
    default: *what = "{}"; *expect = OUT_INVALID;
      return g_variant_new_parsed ("(@a{sv} {},)");
    }
}

static GVariant *
make_bad_path (Storm *s, const char **what, guint *expect)
{
  GVariantBuilder b;
  g_autofree gchar *missing = g_strdup_printf ("/nonexistent-%u/h", g_rand_int (s->rand));

  *expect = OUT_SPAWN;
  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "restartAt", g_variant_new_parsed ("@au []"));
  switch (rnd (s, 20))
    {
    case 0: *what = "script missing";
      g_variant_builder_add (&b, "{sv}", "script", g_variant_new_string (missing));
      break;
    case 1: *what = "script missing, relative";
      g_variant_builder_add (&b, "{sv}", "script", g_variant_new_string ("no-such-script"));
      break;
    case 2: *what = "script a directory";
      g_variant_builder_add (&b, "{sv}", "script",
                             g_variant_new_string (coin (s) ? "/" : s->f->tmpdir));
      break;
    case 3: *what = "script not executable";
      g_variant_builder_add (&b, "{sv}", "script", g_variant_new_string (s->noexec));
      break;
    case 4: *what = "script under a regular file";
      g_variant_builder_add (&b, "{sv}", "script", g_variant_new_string (s->under_file));
      break;
    case 5: *what = "script missing .js";
      g_variant_builder_add (&b, "{sv}", "script", g_variant_new_string ("/nonexistent/h.js"));
      break;
    case 6: *what = "script missing .py";
      g_variant_builder_add (&b, "{sv}", "script", g_variant_new_string ("/nonexistent/h.py"));
      break;
    case 7: *what = "script odd path";
      g_variant_builder_add (&b, "{sv}", "script",
                             g_variant_new_string ("/..//./nonexistent/../../x/./"));
      break;
    case 8: *what = "script of MAX_PATH bytes";
      *expect = OUT_SPAWN | OUT_INVALID;
      g_variant_builder_add (&b, "{sv}", "script", s->path_max);
      break;
    case 9: *what = "script of MAX_PATH + 1 bytes";
      *expect = OUT_INVALID;
      g_variant_builder_add (&b, "{sv}", "script", s->path_over);
      break;
    case 10: *what = "cwd missing";
      add_base (&b, "restartAt");
      g_variant_builder_add (&b, "{sv}", "cwd", g_variant_new_string (missing));
      break;
    case 11: *what = "cwd a regular file";
      add_base (&b, "restartAt");
      g_variant_builder_add (&b, "{sv}", "cwd", g_variant_new_string (s->noexec));
      break;
    case 12: *what = "cwd relative";
      *expect = OUT_INVALID;
      add_base (&b, "restartAt");
      g_variant_builder_add (&b, "{sv}", "cwd", g_variant_new_string ("tmp"));
      break;
    case 13: *what = "log under a regular file";
      *expect = OUT_LOG;
      add_base (&b, "restartAt");
      g_variant_builder_add (&b, "{sv}", "log", g_variant_new_take_string (
                                 g_strconcat (s->under_file, "/h.log", NULL)));
      break;
    case 14: *what = "log a directory";
      *expect = OUT_LOG;
      add_base (&b, "restartAt");
      g_variant_builder_add (&b, "{sv}", "log", g_variant_new_string (s->f->tmpdir));
      break;
    case 15: *what = "interpreter missing";
      g_variant_builder_add (&b, "{sv}", "script", g_variant_new_string (s->noexec));
      g_variant_builder_add (&b, "{sv}", "interpreter", g_variant_new_string (missing));
      break;
    case 16: *what = "interpreter a directory";
      g_variant_builder_add (&b, "{sv}", "script", g_variant_new_string (s->noexec));
      g_variant_builder_add (&b, "{sv}", "interpreter", g_variant_new_string ("/usr"));
      break;
    case 17: *what = "interpreter not in PATH";
      g_variant_builder_add (&b, "{sv}", "script", g_variant_new_string (s->noexec));
      g_variant_builder_add (&b, "{sv}", "interpreter", g_variant_new_string ("no-such-interpreter"));
      break;
    case 18: *what = "interpreter not executable";
      g_variant_builder_add (&b, "{sv}", "script", g_variant_new_string ("/bin/true"));
      g_variant_builder_add (&b, "{sv}", "interpreter", g_variant_new_string (s->noexec));
      break;
    default: *what = "script not executable, with a log";
      /* The log opens before the spawn fails: it must be closed again. */
      g_variant_builder_add (&b, "{sv}", "script", g_variant_new_string (s->noexec));
      g_variant_builder_add (&b, "{sv}", "log", g_variant_new_take_string (tmp_log (s)));
      break;
    }
  return finish (&b);
}

static GVariant *
make_nested (Storm *s, const char **what, guint *expect)
{
  const char *key = random_key (s);
  GVariant *v = good_value (s, key);

  *what = "variant in variant";
  *expect = OUT_INVALID;
  for (guint depth = 1 + rnd (s, 8); depth > 0; depth--)
    v = g_variant_new_variant (v);
  return opts1 (key, v);
}

static GVariant *
make_duplicate (Storm *s, const char **what, guint *expect)
{
  GVariantBuilder b;
  const char *key = random_key (s);

  *what = "key twice";
  *expect = OUT_INVALID;
  /* GVariantBuilder keeps both entries: the a{sv} on the wire has the key
   * twice, which no dictionary-based binding would ever send. */
  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  add_base (&b, key);
  g_variant_builder_add (&b, "{sv}", key, good_value (s, key));
  if (coin (s))
    g_variant_builder_add (&b, "{sv}", "name", g_variant_new_string ("between"));
  g_variant_builder_add (&b, "{sv}", key, good_value (s, key));
  if (g_str_equal (key, "name"))
    *what = "key twice (name)";
  return finish (&b);
}

static GVariant *
make_signature (Storm *s, const char **what, guint *expect)
{
  *what = "wrong signature";
  *expect = OUT_INVALID;
  switch (rnd (s, 7))
    {
    case 0: return NULL;
    case 1: return g_variant_new ("(s)", "/bin/true");
    case 2: return g_variant_new_parsed ("({'script': '/bin/true'},)");
    case 3: return g_variant_new_parsed ("({'script': <'/bin/true'>}, {'script': <'/bin/true'>})");
    case 4: return g_variant_new ("(i)", -1);
    case 5: return g_variant_new ("(v)", g_variant_new_parsed ("{'script': <'/bin/true'>}"));
    default: return g_variant_new_parsed ("(['/bin/true'],)");
    }
}

/* Right-typed values, mostly harmless or extreme; nothing that runs long. */
static GVariant *
soup_value (Storm *s, const char *key)
{
  if (rnd (s, 4) == 0)
    return wrong_value_for (s, "()");   /* any kind at all */
  if (g_str_equal (key, "script") || g_str_equal (key, "interpreter"))
    {
      const char *pool[] = { "/bin/true", "/bin/true", "/bin/sh", "", "/nonexistent", "rel",
                             s->f->tmpdir, s->noexec, s->under_file };
      return g_variant_new_string (pool[rnd (s, G_N_ELEMENTS (pool))]);
    }
  if (g_str_equal (key, "name"))
    {
      const char *pool[] = { "", "soup", "soup\n", "sóúp ✓", "\x7f" };
      return g_variant_new_string (pool[rnd (s, G_N_ELEMENTS (pool))]);
    }
  if (g_str_equal (key, "cwd"))
    {
      const char *pool[] = { "/", s->f->tmpdir, "", "rel", "/nonexistent", s->noexec };
      return g_variant_new_string (pool[rnd (s, G_N_ELEMENTS (pool))]);
    }
  if (g_str_equal (key, "log"))
    {
      switch (rnd (s, 4))
        {
        case 0: return g_variant_new_string ("");
        case 1: return g_variant_new_string (s->f->tmpdir);
        case 2: return g_variant_new_take_string (g_strconcat (s->under_file, "/x", NULL));
        default: return g_variant_new_take_string (tmp_log (s));
        }
    }
  if (g_str_equal (key, "restart"))
    {
      const char *pool[] = { "always", "on-failure", "never", "", "ALWAYS", "sometimes" };
      return g_variant_new_string (pool[rnd (s, G_N_ELEMENTS (pool))]);
    }
  if (g_str_equal (key, "args"))
    return g_variant_new_parsed (coin (s) ? "@as []" : "['', '--', 'x']");
  if (g_str_equal (key, "env"))
    {
      const char *pool[] = { "@a{ss} {}", "{'A': '1'}", "{'': 'x'}", "{'A=B': 'x'}",
                             "{'PATH': ''}", "{'A': '1', 'A': '2'}" };
      return g_variant_new_parsed (pool[rnd (s, G_N_ELEMENTS (pool))]);
    }
  if (g_str_equal (key, "restartAt"))
    {
      /* Never a short loop: the storm must not keep respawning. */
      const char *pool[] = { "@au []", "[uint32 0]", "[uint32 4294967295]", "[uint32 1000, 60000]" };
      if (rnd (s, 8) == 0)
        return s->restart_at_over;   /* not floating: the builder refs it */
      return g_variant_new_parsed (pool[rnd (s, G_N_ELEMENTS (pool))]);
    }
  if (g_str_equal (key, "restartOk") || g_str_equal (key, "stopTimeout"))
    {
      const guint32 pool[] = { 0, 1, MAX_STOP_TIMEOUT, MAX_STOP_TIMEOUT + 1, G_MAXUINT32 };
      return g_variant_new_uint32 (pool[rnd (s, G_N_ELEMENTS (pool))]);
    }
  return g_variant_new_boolean (coin (s));
}

static GVariant *
make_soup (Storm *s, const char **what, guint *expect)
{
  GVariantBuilder b;

  *what = "random mix";
  *expect = OUT_ANY;
  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  for (guint n = rnd (s, 9); n > 0; n--)
    {
      g_autofree gchar *unknown = NULL;
      const char *key;

      if (rnd (s, 10) == 0)
        key = unknown = random_ascii (s, 12);
      else
        key = random_key (s);
      g_variant_builder_add (&b, "{sv}", key, soup_value (s, key));
    }
  return finish (&b);
}

static Category storm_categories[] = {
  { "valid",          40, make_valid,        0, { 0 } },
  { "wrong type",    150, make_wrong_type,   0, { 0 } },
  { "unknown key",    70, make_unknown_key,  0, { 0 } },
  { "1 MB string",    20, make_big_string,   0, { 0 } },
  { "huge arrays",    18, make_many,         0, { 0 } },
  { "env bad key",    60, make_env_bad_key,  0, { 0 } },
  { "timeouts",       60, make_timeouts,     0, { 0 } },
  { "empty strings",  70, make_empty,        0, { 0 } },
  { "bad paths",     150, make_bad_path,     0, { 0 } },
  { "nested variant", 60, make_nested,       0, { 0 } },
  { "duplicate key",  60, make_duplicate,    0, { 0 } },
  { "signature",      40, make_signature,    0, { 0 } },
  { "random mix",    202, make_soup,         0, { 0 } },
};

static GVariant *
big_string (gsize len, char fill)
{
  gchar *text = g_malloc (len + 1);

  memset (text, fill, len);
  text[0] = '/';
  text[len] = '\0';
  return g_variant_ref_sink (g_variant_new_take_string (text));
}

static GVariant *
many_strings (guint n)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE_STRING_ARRAY);
  for (guint i = 0; i < n; i++)
    {
      char item[16];

      g_snprintf (item, sizeof item, "a%u", i);
      g_variant_builder_add (&b, "s", item);
    }
  return g_variant_ref_sink (g_variant_builder_end (&b));
}

static GVariant *
many_env (guint n)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE ("a{ss}"));
  for (guint i = 0; i < n; i++)
    {
      char key[16];

      g_snprintf (key, sizeof key, "K%u", i);
      g_variant_builder_add (&b, "{ss}", key, "v");
    }
  return g_variant_ref_sink (g_variant_builder_end (&b));
}

static GVariant *
many_u32 (GRand *rand, guint n)
{
  g_autofree guint32 *values = g_new (guint32, n);

  for (guint i = 0; i < n; i++)
    values[i] = g_rand_int (rand);
  return g_variant_ref_sink (g_variant_new_fixed_array (G_VARIANT_TYPE_UINT32, values, n,
                                                        sizeof (guint32)));
}

static guint32
storm_seed (void)
{
  const char *env = g_getenv ("PM_HOSTILE_SEED");

  if (env != NULL && *env != '\0')
    return (guint32) g_ascii_strtoull (env, NULL, 0);
  return DEFAULT_SEED;
}

static void
storm_init (Storm *s, PmFixture *f)
{
  guint32 seed = storm_seed ();
  guint weights = 0;

  memset (s, 0, sizeof *s);
  s->f = f;
  s->rand = g_rand_new_with_seed (seed);
  pm_report ("storm seed %u (set PM_HOSTILE_SEED to replay another)", seed);
  s->categories = storm_categories;
  s->n_categories = G_N_ELEMENTS (storm_categories);
  for (guint i = 0; i < s->n_categories; i++)
    weights += s->categories[i].weight;
  g_assert_cmpuint (weights, ==, 1000);

  s->big = big_string (BIG_LEN, 'a');
  s->over_exec = big_string (OVER_EXEC_LEN, 'e');
  s->path_max = big_string (MAX_PATH, 'p');
  s->path_over = big_string (MAX_PATH + 1, 'p');
  s->many_args = many_strings (100000);
  s->args_over = many_strings (MAX_ARGS + 1);
  s->many_env = many_env (20000);
  s->env_over = many_env (MAX_ENV + 1);
  s->huge_restart_at = many_u32 (s->rand, 100000);
  s->restart_at_over = many_u32 (s->rand, MAX_RESTART_AT + 1);
  s->noexec = pm_write_script (f, "h-noexec", "#!/bin/sh\nexit 3\n", 0644);
  s->under_file = g_strconcat (s->noexec, "/below", NULL);
  s->failure_text = g_string_new (NULL);
}

static void
storm_clear (Storm *s)
{
  g_rand_free (s->rand);
  g_variant_unref (s->big);
  g_variant_unref (s->over_exec);
  g_variant_unref (s->path_max);
  g_variant_unref (s->path_over);
  g_variant_unref (s->many_args);
  g_variant_unref (s->args_over);
  g_variant_unref (s->many_env);
  g_variant_unref (s->env_over);
  g_variant_unref (s->huge_restart_at);
  g_variant_unref (s->restart_at_over);
  g_free (s->noexec);
  g_free (s->under_file);
  g_string_free (s->failure_text, TRUE);
}

static void G_GNUC_PRINTF (3, 4)
storm_fail (Storm *s, Flight *fl, const char *format, ...)
{
  g_autofree gchar *text = NULL;
  va_list ap;

  va_start (ap, format);
  text = g_strdup_vprintf (format, ap);
  va_end (ap);
  if (strlen (text) > 300)
    strcpy (text + 297, "...");
  if (s->failures++ < 30)
    g_string_append_printf (s->failure_text, "\n  [%s: %s] %s", fl->category->name,
                            fl->what, text);
}

static void storm_fill (Storm *s);

static void
on_storm_reply (GObject *source, GAsyncResult *res, gpointer user_data)
{
  Flight *fl = user_data;
  Storm *s = fl->s;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source),
                                                             res, &error);
  g_autofree gchar *remote = NULL;
  guint outcome = 0;

  s->max_latency_us = MAX (s->max_latency_us, g_get_monotonic_time () - fl->t0);
  if (reply != NULL)
    {
      guint32 id = 0;

      if (!g_variant_is_of_type (reply, G_VARIANT_TYPE ("(u)")))
        storm_fail (s, fl, "reply of type %s", g_variant_get_type_string (reply));
      else if (g_variant_get (reply, "(u)", &id), id == 0)
        storm_fail (s, fl, "success with id 0");
      else
        outcome = OUT_OK;
    }
  else
    {
      remote = g_dbus_error_get_remote_error (error);
      g_dbus_error_strip_remote_error (error);
      outcome = outcome_for_error (remote);
      if (outcome == 0)
        storm_fail (s, fl, "answered %s: %s",
                    remote ? remote : g_quark_to_string (error->domain), error->message);
      else if (error->message[0] == '\0')
        storm_fail (s, fl, "%s with an empty message", remote);
    }

  if (outcome != 0)
    {
      s->outcomes[outcome_index (outcome)]++;
      fl->category->outcomes[outcome_index (outcome)]++;
      if (!(outcome & fl->expect))
        {
          g_autofree gchar *expected = expect_to_string (fl->expect);

          storm_fail (s, fl, "expected %s, got %s: %s", expected,
                      outcome_names[outcome_index (outcome)],
                      error ? error->message : "");
        }
    }

  s->answered++;
  s->in_flight--;
  g_free (fl);
  storm_fill (s);
}

static Category *
pick_category (Storm *s)
{
  guint r = rnd (s, 1000);

  for (guint i = 0; i < s->n_categories; i++)
    {
      if (r < s->categories[i].weight)
        return &s->categories[i];
      r -= s->categories[i].weight;
    }
  g_assert_not_reached ();
}

static void
storm_send_one (Storm *s)
{
  Flight *fl = g_new0 (Flight, 1);
  GVariant *params;

  fl->s = s;
  fl->category = pick_category (s);
  params = fl->category->make (s, &fl->what, &fl->expect);
  fl->category->sent++;
  fl->t0 = g_get_monotonic_time ();
  s->sent++;
  s->in_flight++;
  g_dbus_connection_call (s->f->conn, PM_TEST_BUS_NAME, PM_TEST_PATH, PM_TEST_IFACE,
                          "Start", params, NULL, G_DBUS_CALL_FLAGS_NO_AUTO_START,
                          PM_TEST_TIMEOUT_MS, NULL, on_storm_reply, fl);
}

static void
storm_fill (Storm *s)
{
  while (s->in_flight < WINDOW && s->sent < s->total)
    storm_send_one (s);
}

static gboolean
storm_done_cond (gpointer data)
{
  Storm *s = data;

  return s->answered == s->total || s->f->daemon_exited;
}

static void
storm_run (Storm *s, guint calls)
{
  gint64 t0 = g_get_monotonic_time ();
  double secs;

  s->total += calls;
  storm_fill (s);
  if (!pm_wait_for (storm_done_cond, s, STORM_DEADLINE_MS))
    g_error ("the storm did not finish within %d ms: %u of %u answered, %u in flight",
             STORM_DEADLINE_MS, s->answered, s->total, s->in_flight);
  secs = (g_get_monotonic_time () - t0) / 1e6;
  pm_report ("%u Start calls (%d in flight) in %.1f s (%.0f/s), slowest answer %.0f ms",
          calls, WINDOW, secs, calls / secs, s->max_latency_us / 1e3);
}

static void
storm_pm_report (Storm *s)
{
  pm_report ("answers: %u success, %u InvalidArgs, %u SpawnFailed, %u LogFailed, "
          "%u LimitExceeded, %u wrong",
          s->outcomes[0], s->outcomes[1], s->outcomes[2], s->outcomes[3], s->outcomes[4],
          s->failures);
  for (guint i = 0; i < s->n_categories; i++)
    {
      Category *c = &s->categories[i];

      pm_report ("  %-15s sent %5u: ok %4u, invalid %4u, spawn %4u, log %4u, limit %4u",
              c->name, c->sent, c->outcomes[0], c->outcomes[1], c->outcomes[2],
              c->outcomes[3], c->outcomes[4]);
    }
}

static void
stop_all_and_pm_report (PmFixture *f, const char *when)
{
  g_autoptr(GError) error = NULL;
  gint64 t0 = g_get_monotonic_time ();
  guint listed = pm_list_count (f);
  guint32 count = pm_stop_all (f, &error);

  g_assert_no_error (error);
  pm_report ("%s: %u listed, StopAll forgot %u in %.0f ms", when, listed, count,
          (g_get_monotonic_time () - t0) / 1e3);
  g_assert_cmpuint (pm_list_count (f), ==, 0);
}

/* (1) 10,000 Start calls with random and extreme options. */
static void
test_storm (PmFixture *f, gconstpointer data)
{
  Storm s;
  Usage base, peak;

  storm_init (&s, f);

  /* Warm-up, so that the baseline includes what GLib and the daemon
   * allocate once (types, quarks, error domains, malloc arenas). */
  storm_run (&s, WARMUP_CALLS);
  stop_all_and_pm_report (f, "after the warm-up");
  pm_iterate_for (200);
  base = measure (f);
  pm_report ("baseline: %u fds, VmRSS %" G_GSIZE_FORMAT " KiB", base.fds, base.rss);

  storm_run (&s, STORM_CALLS);
  peak = measure (f);
  pm_report ("right after the storm: %u fds, VmRSS %" G_GSIZE_FORMAT " KiB", peak.fds, peak.rss);
  storm_pm_report (&s);
  assert_daemon_up (f, "after the storm");
  if (s.failures > 0)
    g_error ("%u of %u answers were wrong; the first:%s", s.failures, s.answered,
             s.failure_text->str);

  stop_all_and_pm_report (f, "after the storm");
  assert_back_to_baseline (f, base, FD_SLACK, RSS_SLACK_KIB, 5000, "after the storm");
  assert_daemon_up (f, "at the end");
  storm_clear (&s);
}

/* ---- callers that vanish ---------------------------------------------------- */

static GDBusConnection *
open_second_connection (PmFixture *f)
{
  g_autoptr(GError) error = NULL;
  GDBusConnection *conn = g_dbus_connection_new_for_address_sync (
      f->address,
      G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
      G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
      NULL, NULL, &error);

  g_assert_no_error (error);
  g_dbus_connection_set_exit_on_close (conn, FALSE);
  return conn;
}

/* Sends one call (a reply is expected) from a connection of its own, which
 * is closed at once: with `flush`, after the call has left for the bus. */
static void
call_and_vanish (PmFixture *f, const char *path, const char *iface, const char *method,
                 GVariant *params, gboolean flush)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GDBusConnection) conn = open_second_connection (f);
  g_autoptr(GDBusMessage) msg = g_dbus_message_new_method_call (PM_TEST_BUS_NAME, path,
                                                                iface, method);

  g_dbus_message_set_body (msg, params);
  g_assert_true (g_dbus_connection_send_message (conn, msg, G_DBUS_SEND_MESSAGE_FLAGS_NONE,
                                                 NULL, &error));
  g_assert_no_error (error);
  if (flush)
    {
      g_dbus_connection_flush_sync (conn, NULL, &error);
      g_assert_no_error (error);
    }
  g_dbus_connection_close_sync (conn, NULL, &error);
  g_assert_no_error (error);
}

static GVariant *
sleeper_opts (const char *name, gboolean with_caller)
{
  return pm_opts ("{'script': <'/bin/sleep'>, 'args': <['1000']>, 'name': <%s>,"
                  " 'stopTimeout': <uint32 0>, 'restartAt': <@au []>,"
                  " 'stopWithCaller': <%b>}", name, with_caller);
}

static GVariant *
sleeper_params (const char *name, gboolean with_caller)
{
  GVariant *opts = sleeper_opts (name, with_caller);

  return g_variant_new_tuple (&opts, 1);
}

typedef struct
{
  PmFixture *f;
  const char *name;
  guint n;
} NamedWait;

static guint
count_listed (PmFixture *f, const char *name, const char *state)
{
  g_autoptr(GVariant) list = pm_list (f);
  GVariantIter iter;
  guint32 id, pid, restarts;
  const char *ename, *estate;
  guint n = 0;

  g_variant_iter_init (&iter, list);
  while (g_variant_iter_next (&iter, "(u&su&su)", &id, &ename, &pid, &estate, &restarts))
    if (g_str_equal (ename, name) && (state == NULL || g_str_equal (estate, state)))
      n++;
  return n;
}

static guint
count_named_signals (PmFixture *f, const char *signal, const char *name)
{
  guint n = 0;

  for (guint i = 0; i < f->signals->len; i++)
    {
      PmSignal *sig = f->signals->pdata[i];

      if (g_strcmp0 (sig->signal, signal) == 0 && g_strcmp0 (sig->name, name) == 0)
        n++;
    }
  return n;
}

static gboolean
with_caller_gone_cond (gpointer data)
{
  NamedWait *w = data;

  return count_named_signals (w->f, "Started", w->name) == w->n &&
         count_named_signals (w->f, "Exited", w->name) == w->n &&
         count_listed (w->f, w->name, NULL) == 0;
}

static gboolean
none_listed_cond (gpointer data)
{
  NamedWait *w = data;

  return count_listed (w->f, w->name, NULL) == 0;
}

/* Returns once the daemon has handled every call sent before this one: a
 * call from a new connection makes it ask the bus who the caller is, and
 * the bus answers those questions in order, the ones about callers that
 * had already vanished first. */
static void
sync_with_daemon (PmFixture *f)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GDBusConnection) conn = open_second_connection (f);
  g_autoptr(GVariant) reply = NULL;

  reply = g_dbus_connection_call_sync (conn, PM_TEST_BUS_NAME, PM_TEST_PATH, PM_TEST_IFACE,
                                       "Stop", g_variant_new ("(s)", "sync-no-such-name"),
                                       NULL, G_DBUS_CALL_FLAGS_NO_AUTO_START,
                                       PM_TEST_TIMEOUT_MS, NULL, &error);
  pm_assert_remote_error (error, PM_TEST_ERROR_NOT_FOUND);
  g_dbus_connection_close_sync (conn, NULL, NULL);
}

/* (2) Callers that send Start (or Stop) and disconnect before the reply.
 * A call is acted on only once the daemon knows who sent it (the bus tells
 * the caller's uid); a caller that left before then gets nothing done, so
 * how many of these take effect depends on timing. What does not: whatever
 * started runs, is listed and stoppable, and the daemon stays up. */
static void
test_vanishing_callers (PmFixture *f, gconstpointer data)
{
  enum { N = 10, N_WITH_CALLER = 5 };
  g_autoptr(GError) error = NULL;
  NamedWait with_caller = { f, "vanished-with-caller", 0 };
  guint plain, maybe, stop_left;
  guint32 id;

  for (guint i = 0; i < N; i++)
    {
      call_and_vanish (f, PM_TEST_PATH, PM_TEST_IFACE, "Start",
                       sleeper_params ("vanished", FALSE), TRUE);
      /* Closed without waiting for the call to leave: it may or may not
       * reach the daemon; either way nothing breaks. */
      call_and_vanish (f, PM_TEST_PATH, PM_TEST_IFACE, "Start",
                       sleeper_params ("vanished-maybe", FALSE), FALSE);
    }
  for (guint i = 0; i < N_WITH_CALLER; i++)
    call_and_vanish (f, PM_TEST_PATH, PM_TEST_IFACE, "Start",
                     sleeper_params ("vanished-with-caller", TRUE), TRUE);
  sync_with_daemon (f);

  /* Started although nobody got the id: listed, running, stoppable. */
  plain = count_listed (f, "vanished", NULL);
  g_assert_cmpuint (count_listed (f, "vanished", "running"), ==, plain);
  g_assert_cmpuint (count_named_signals (f, "Started", "vanished"), ==, plain);
  /* stopWithCaller: the caller is gone by the time the child runs, so it is
   * stopped at once and forgotten. */
  with_caller.n = count_named_signals (f, "Started", "vanished-with-caller");
  if (!pm_wait_for (with_caller_gone_cond, &with_caller, PM_TEST_TIMEOUT_MS))
    g_error ("stopWithCaller from vanished callers: %u Started, %u Exited, %u still listed",
             count_named_signals (f, "Started", "vanished-with-caller"),
             count_named_signals (f, "Exited", "vanished-with-caller"),
             count_listed (f, "vanished-with-caller", NULL));

  maybe = count_listed (f, "vanished-maybe", NULL);
  pm_report ("of %d Start calls from callers gone after a flush, %u were acted on; "
             "without a flush %u; with stopWithCaller %u of %d",
             N, plain, maybe, with_caller.n, N_WITH_CALLER);
  if (maybe > 0)
    {
      g_assert_cmpuint (pm_stop (f, "vanished-maybe", &error), ==, maybe);
      g_assert_no_error (error);
    }
  if (plain > 0)
    {
      g_assert_cmpuint (pm_stop (f, "vanished", &error), ==, plain);
      g_assert_no_error (error);
    }
  assert_daemon_up (f, "after callers vanished");

  /* A Stop whose caller has left before the daemon knew who it was does
   * nothing; one whose caller left later stops as asked. Either way the
   * process is then stopped or still running, never half-way. */
  id = pm_start_ok (f, sleeper_opts ("vanished-stop", FALSE), NULL);
  call_and_vanish (f, PM_TEST_PATH, PM_TEST_IFACE, "Stop",
                   g_variant_new ("(s)", "vanished-stop"), TRUE);
  sync_with_daemon (f);
  if (pm_count_signals (f, "Stopping", id) > 0)
    {
      NamedWait stopped = { f, "vanished-stop", 0 };

      if (!pm_wait_for (none_listed_cond, &stopped, PM_TEST_TIMEOUT_MS))
        g_error ("Stop from a vanished caller did not stop the process");
    }
  stop_left = count_listed (f, "vanished-stop", NULL);
  pm_report ("a Stop from a caller gone after a flush was %s", stop_left ? "not acted on" : "acted on");
  if (stop_left > 0)
    {
      g_assert_cmpuint (count_listed (f, "vanished-stop", "running"), ==, 1);
      g_assert_cmpuint (pm_stop (f, "vanished-stop", &error), ==, 1);
      g_assert_no_error (error);
    }

  g_assert_cmpuint (pm_list_count (f), ==, 0);
  assert_daemon_up (f, "at the end");
}

/* ---- List flood --------------------------------------------------------------- */

typedef struct
{
  gint returns;
  gint errors;
} FloodCount;

/* Runs in the flood connection's worker thread. */
static GDBusMessage *
flood_filter (GDBusConnection *conn, GDBusMessage *msg, gboolean incoming, gpointer data)
{
  FloodCount *count = data;

  if (incoming && g_dbus_message_get_message_type (msg) == G_DBUS_MESSAGE_TYPE_METHOD_RETURN)
    g_atomic_int_inc (&count->returns);
  else if (incoming && g_dbus_message_get_message_type (msg) == G_DBUS_MESSAGE_TYPE_ERROR)
    g_atomic_int_inc (&count->errors);
  return msg;
}

static gint64
list_latency_ms (PmPendingCall *call, gint64 t0)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;

  reply = pm_call_end (call, &error);   /* fails on no reply within the default timeout */
  g_assert_no_error (error);
  return (g_get_monotonic_time () - t0) / 1000;
}

/* One flood: FLOOD List calls pipelined from a connection of its own that
 * never waits for them, then closes. Most ask for no reply: the bus caps
 * the replies a connection may be waiting for (128 by default) and would
 * answer the rest itself, so they would never reach the daemon. */
static void
flood_once (PmFixture *f, guint round)
{
  const guint FLOOD = pm_test_scaled (20000);
  g_autoptr(GError) error = NULL;
  g_autoptr(GDBusConnection) flood = open_second_connection (f);
  FloodCount count = { 0, 0 };
  PmPendingCall *during;
  Usage peak;
  gint64 t0, t_during;
  guint filter;

  filter = g_dbus_connection_add_filter (flood, flood_filter, &count, NULL);
  t0 = g_get_monotonic_time ();
  for (guint i = 0; i < FLOOD; i++)
    {
      g_autoptr(GDBusMessage) msg = g_dbus_message_new_method_call (
          PM_TEST_BUS_NAME, PM_TEST_PATH, PM_TEST_IFACE, "List");

      if (i % 10 != 0)
        g_dbus_message_set_flags (msg, G_DBUS_MESSAGE_FLAGS_NO_REPLY_EXPECTED);
      g_assert_true (g_dbus_connection_send_message (flood, msg, G_DBUS_SEND_MESSAGE_FLAGS_NONE,
                                                     NULL, &error));
      g_assert_no_error (error);
    }

  /* The main connection is answered while the flood goes on … */
  t_during = g_get_monotonic_time ();
  during = pm_call_begin (f, PM_TEST_PATH, PM_TEST_IFACE, "List", NULL, "(a(ususu))");
  g_dbus_connection_flush_sync (flood, NULL, &error);
  g_assert_no_error (error);
  pm_report ("flood %u: %u List calls written in %.0f ms", round, FLOOD,
          (g_get_monotonic_time () - t0) / 1e3);
  pm_report ("flood %u: List from the main connection during the flood: %" G_GINT64_FORMAT " ms",
          round, list_latency_ms (during, t_during));
  peak = measure (f);
  g_dbus_connection_remove_filter (flood, filter);
  g_dbus_connection_close_sync (flood, NULL, &error);
  g_assert_no_error (error);
  pm_report ("flood %u: connection closed after %.0f ms with %d replies and %d errors "
          "(from the bus) back; daemon then: %u fds, VmRSS %" G_GSIZE_FORMAT " KiB",
          round, (g_get_monotonic_time () - t0) / 1e3, g_atomic_int_get (&count.returns),
          g_atomic_int_get (&count.errors), peak.fds, peak.rss);

  /* … and after it. */
  t0 = g_get_monotonic_time ();
  pm_report ("flood %u: List from the main connection after the flood: %" G_GINT64_FORMAT " ms",
          round, list_latency_ms (pm_call_begin (f, PM_TEST_PATH, PM_TEST_IFACE, "List", NULL,
                                                 "(a(ususu))"), t0));
}

/* (3) A client flooding List does no harm: the others are still answered,
 * and the daemon's memory does not stay grown. Twice, so that a leak (grows
 * again) can be told from memory kept for reuse (does not). */
static void
test_list_flood (PmFixture *f, gconstpointer data)
{
  enum { PROCESSES = 20, WARM = 200 };
  Usage base, after1, after2;

  /* Something to list: each reply is several KiB. */
  for (guint i = 0; i < PROCESSES; i++)
    {
      g_autofree gchar *name = g_strdup_printf ("flood-%02u-%0200u", i, 0);

      pm_start_ok (f, sleeper_opts (name, FALSE), NULL);
    }
  for (guint i = 0; i < WARM; i++)
    g_assert_cmpuint (pm_list_count (f), ==, PROCESSES);
  pm_iterate_for (200);
  base = measure (f);
  pm_report ("baseline: %u fds, VmRSS %" G_GSIZE_FORMAT " KiB", base.fds, base.rss);

  flood_once (f, 1);
  g_assert_cmpuint (pm_list_count (f), ==, PROCESSES);
  pm_iterate_for (1000);
  after1 = measure (f);
  flood_once (f, 2);
  g_assert_cmpuint (pm_list_count (f), ==, PROCESSES);
  pm_iterate_for (1000);
  after2 = measure (f);
  pm_report ("VmRSS 1 s after each flood: %" G_GSIZE_FORMAT " KiB, then %" G_GSIZE_FORMAT " KiB",
          after1.rss, after2.rss);

  assert_back_to_baseline (f, base, FD_SLACK, RSS_SLACK_KIB, 5000, "after the List floods");
  assert_daemon_up (f, "after the List floods");
  stop_all_and_pm_report (f, "at the end");
}

/* ---- limits ----------------------------------------------------------------------- */

static void
assert_invalid_naming (PmFixture *f, GVariant *opts, const char *key)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *quoted = g_strdup_printf ("“%s”", key);

  g_assert_cmpuint (pm_start (f, opts, &error), ==, 0);
  pm_assert_remote_error (error, PM_TEST_ERROR_INVALID_ARGS);
  g_dbus_error_strip_remote_error (error);
  if (strstr (error->message, quoted) == NULL)
    g_error ("the error for %s does not name it: %s", key, error->message);
}

static GVariant *
strings_of (guint n, gsize len)
{
  GVariantBuilder b;
  g_autofree gchar *item = g_strnfill (len, 'x');

  g_variant_builder_init (&b, G_VARIANT_TYPE_STRING_ARRAY);
  for (guint i = 0; i < n; i++)
    g_variant_builder_add (&b, "s", item);
  return g_variant_builder_end (&b);
}

static GVariant *
env_of (guint n)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE ("a{ss}"));
  for (guint i = 0; i < n; i++)
    {
      char key[16];

      g_snprintf (key, sizeof key, "K%u", i);
      g_variant_builder_add (&b, "{ss}", key, "v");
    }
  return g_variant_builder_end (&b);
}

static GVariant *
restart_at_of (guint n)
{
  g_autofree guint32 *values = g_new (guint32, n);

  /* An hour each: the process waits in backoff, never loops. */
  for (guint i = 0; i < n; i++)
    values[i] = 3600000;
  return g_variant_new_fixed_array (G_VARIANT_TYPE_UINT32, values, n, sizeof (guint32));
}

static GVariant *
string_of (gsize len)
{
  gchar *text = g_strnfill (len, 'n');

  text[0] = '/';
  return g_variant_new_take_string (text);
}

/* (4) The documented caps are enforced with InvalidArgs naming the key;
 * at the cap itself Start succeeds. (The cap on processes, 10,000, is too
 * slow to reach here.) */
static void
test_limits (PmFixture *f, gconstpointer data)
{
  assert_invalid_naming (f, dict1 ("args", strings_of (MAX_ARGS + 1, 1)), "args");
  assert_invalid_naming (f, dict1 ("env", env_of (MAX_ENV + 1)), "env");
  assert_invalid_naming (f, dict1 ("restartAt", restart_at_of (MAX_RESTART_AT + 1)), "restartAt");
  assert_invalid_naming (f, dict1 ("name", g_variant_new_take_string (g_strnfill (MAX_NAME + 1, 'n'))), "name");
  assert_invalid_naming (f, dict1 ("script", string_of (MAX_PATH + 1)), "script");
  assert_invalid_naming (f, dict1 ("cwd", string_of (MAX_PATH + 1)), "cwd");
  assert_invalid_naming (f, dict1 ("log", string_of (MAX_PATH + 1)), "log");
  assert_invalid_naming (f, dict1 ("interpreter", string_of (MAX_PATH + 1)), "interpreter");
  assert_invalid_naming (f, dict1 ("stopTimeout", g_variant_new_uint32 (MAX_STOP_TIMEOUT + 1)),
                         "stopTimeout");
  /* Few items, too many bytes: args and env together are capped at 1 MiB. */
  assert_invalid_naming (f, dict1 ("args", strings_of (2, 600 * 1024)), "args");

  pm_start_ok (f, dict1 ("args", strings_of (MAX_ARGS, 1)), NULL);
  pm_start_ok (f, dict1 ("env", env_of (MAX_ENV)), NULL);
  pm_start_ok (f, dict1 ("restartAt", restart_at_of (MAX_RESTART_AT)), NULL);
  pm_start_ok (f, dict1 ("name", g_variant_new_take_string (g_strnfill (MAX_NAME, 'n'))), NULL);
  pm_start_ok (f, dict1 ("stopTimeout", g_variant_new_uint32 (MAX_STOP_TIMEOUT)), NULL);
  g_assert_cmpuint (pm_list_count (f), ==, 5);
  stop_all_and_pm_report (f, "limits");
  assert_daemon_up (f, "after the limits");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  pm_test_init ();

  pm_test_add ("/hostile/start-storm", test_storm, NULL);
  pm_test_add ("/hostile/vanishing-callers", test_vanishing_callers, NULL);
  pm_test_add ("/hostile/list-flood", test_list_flood, NULL);
  pm_test_add ("/hostile/limits", test_limits, NULL);

  return g_test_run ();
}
