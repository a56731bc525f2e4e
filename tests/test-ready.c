/* test-ready.c — unit tests of the readiness protocols (src/pm-ready.c):
 * sd_notify datagrams, node IPC messages and ready lines, table-driven. */
#include "config.h"

#include <string.h>

#include <glib.h>

#include "pm-ready.h"

#define R PM_READY_SAYS_READY
#define P PM_READY_SAYS_PING
#define S PM_READY_SAYS_STATUS

static const struct
{
  const char *name;
  const char *datagram;
  guint       says;
  const char *status;     /* expected STATUS= value when S */
} notify_cases[] = {
  { "ready", "READY=1", R, NULL },
  { "ready-newline", "READY=1\n", R, NULL },
  { "ping", "WATCHDOG=1", P, NULL },
  { "status", "STATUS=Loading data…", S, "Loading data…" },
  { "status-empty", "STATUS=", S, "" },
  { "all", "STATUS=up\nREADY=1\nWATCHDOG=1\n", R | P | S, "up" },
  { "last-status-wins", "STATUS=a\nSTATUS=b", S, "b" },
  { "status-with-equals", "STATUS=x=1, y=2\nREADY=1", R | S, "x=1, y=2" },
  { "unknown-ignored", "MAINPID=42\nERRNO=2\nRELOADING=1\nREADY=1\nFDSTORE=1", R, NULL },
  { "ready-0", "READY=0", 0, NULL },
  { "ready-2", "READY=2", 0, NULL },
  { "ready-with-space", "READY=1 ", 0, NULL },
  { "ready-prefix", " READY=1", 0, NULL },
  { "lowercase", "ready=1", 0, NULL },
  { "watchdog-trigger", "WATCHDOG=trigger", 0, NULL },
  { "empty", "", 0, NULL },
  { "newlines", "\n\n\n", 0, NULL },
  { "ready-between-empty-lines", "\n\nREADY=1\n\n", R, NULL },
  { "status-no-equals", "STATUS", 0, NULL },
};

static void
test_notify (gconstpointer data)
{
  guint i = GPOINTER_TO_UINT (data);
  const char *status = NULL;
  gsize status_len = 0;
  const char *d = notify_cases[i].datagram;
  guint says = pm_ready_parse_notify (d, strlen (d), &status, &status_len);

  g_assert_cmpuint (says, ==, notify_cases[i].says);
  if (says & S)
    {
      g_assert_nonnull (status);
      g_assert_cmpmem (status, status_len, notify_cases[i].status, strlen (notify_cases[i].status));
    }
}

/* Bytes after a NUL count as more of the datagram, not its end. */
static void
test_notify_nul (void)
{
  static const char d[] = "X=\0\nREADY=1";

  g_assert_cmpuint (pm_ready_parse_notify (d, sizeof d - 1, NULL, NULL), ==, R);
}

static const struct
{
  const char *line;
  guint       says;
} message_cases[] = {
  { "\"ready\"", R },
  { "  \"ready\"  ", R },
  { "\"watchdog\"", P },
  { "{\"ready\":true}", R },
  { "{ \"ready\" : true }", R },
  { "{\"watchdog\":true}", P },
  { "{\"ready\":true,\"watchdog\":true}", R | P },
  { "{\"pid\":12,\"ready\":true}", R },
  { "{\"data\":{\"ready\":true}}", 0 },                      /* not top level */
  { "{\"data\":[1,{\"a\":\"}\"}],\"ready\":true}", R },
  { "{\"note\":\"\\\"ready\\\":true\",\"x\":1}", 0 },        /* inside a string */
  { "{\"ready\":false}", 0 },
  { "{\"ready\":1}", 0 },
  { "{\"ready\":\"true\"}", 0 },
  { "{\"ready\":truex}", 0 },
  { "{\"ready\":true", 0 },                                  /* unterminated */
  { "{\"ready\":true}}", 0 },                                /* trailing junk */
  { "{\"ready\":true} {\"x\":1}", 0 },
  { "{\"stopping\":true}", 0 },
  { "{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Socket\"}", 0 },
  { "{}", 0 },
  { "\"Ready\"", 0 },
  { "\"ready \"", 0 },
  { "\"readyx\"", 0 },
  { "\"rea", 0 },
  { "ready", 0 },
  { "[\"ready\"]", 0 },
  { "true", 0 },
  { "", 0 },
  { "{\"ready\"true}", 0 },
  { "{ready:true}", 0 },
  { "{\"a\":\"\\\\\",\"ready\":true}", R },                  /* escaped backslash */
};

static void
test_message (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (message_cases); i++)
    {
      const char *line = message_cases[i].line;

      g_test_message ("%s", line);
      g_assert_cmpuint (pm_ready_parse_message (line, strlen (line)), ==, message_cases[i].says);
    }
}

/* The length counts, not a NUL: a truncated buffer says nothing. */
static void
test_message_length (void)
{
  const char *line = "{\"ready\":true}";

  g_assert_cmpuint (pm_ready_parse_message (line, strlen (line) - 1), ==, 0);
  g_assert_cmpuint (pm_ready_parse_message ("\"ready\"xyz", 7), ==, R);
}

static void
test_line (void)
{
  g_autoptr(GRegex) regex = g_regex_new ("^listening on :[0-9]+$", G_REGEX_RAW, 0, NULL);
  const char *yes = "listening on :8080";
  const char *no = "listening on :http";
  static const guint8 with_nul[] = "listening on :1\0junk";

  g_assert_true (pm_ready_line_matches (regex, (const guint8 *) yes, strlen (yes)));
  g_assert_false (pm_ready_line_matches (regex, (const guint8 *) no, strlen (no)));
  /* Only @len bytes are the line: a longer buffer behind it does not count. */
  g_assert_true (pm_ready_line_matches (regex, (const guint8 *) "listening on :80 and more", 16));
  g_assert_false (pm_ready_line_matches (regex, with_nul, sizeof with_nul - 1));
  g_assert_true (pm_ready_line_matches (regex, with_nul, 15));
}

/* Lines are bytes: invalid UTF-8 neither fails nor warns. */
static void
test_line_raw (void)
{
  g_autoptr(GRegex) regex = g_regex_new ("ready", G_REGEX_RAW, 0, NULL);
  static const guint8 latin1[] = "pr\xeat: ready \xff";

  g_assert_true (pm_ready_line_matches (regex, latin1, sizeof latin1 - 1));
  g_assert_false (pm_ready_line_matches (regex, latin1, 4));
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  for (guint i = 0; i < G_N_ELEMENTS (notify_cases); i++)
    {
      g_autofree char *path = g_strconcat ("/ready/notify/", notify_cases[i].name, NULL);
      g_test_add_data_func (path, GUINT_TO_POINTER (i), test_notify);
    }
  g_test_add_func ("/ready/notify/nul", test_notify_nul);
  g_test_add_func ("/ready/message/cases", test_message);
  g_test_add_func ("/ready/message/length", test_message_length);
  g_test_add_func ("/ready/line/match", test_line);
  g_test_add_func ("/ready/line/raw", test_line_raw);

  return g_test_run ();
}
