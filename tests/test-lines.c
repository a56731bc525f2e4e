/* test-lines.c — unit tests of the ANSI stripper and the line assembler
 * (src/pm-lines.c).
 *
 * Both keep state between chunks, and a pipe may cut the stream anywhere, so
 * every case is also fed split at every position (and at every pair of
 * positions), byte by byte, and in random chunks; the result must not depend
 * on how the stream was cut. Lines are also checked against a deliberately
 * naive reference implementation. Random inputs follow g_test_rand_*, so a
 * failure can be replayed with --seed.
 */
#include "pm-lines.h"

#include <string.h>

typedef struct
{
  const char *data;
  gsize len;
} Bytes;

/* A string literal that may contain NULs. */
#define B(s) { (s), sizeof (s) - 1 }

/* Shows bytes in a failure message: printable ASCII as is, the rest as \xNN. */
static gchar *
escape_bytes (const guint8 *data,
              gsize         len)
{
  GString *s = g_string_new ("\"");
  gsize shown = MIN (len, 80);

  for (gsize i = 0; i < shown; i++)
    {
      if (data[i] == '\\' || data[i] == '"')
        g_string_append_printf (s, "\\%c", data[i]);
      else if (data[i] >= 0x20 && data[i] < 0x7f)
        g_string_append_c (s, data[i]);
      else
        g_string_append_printf (s, "\\x%02x", data[i]);
    }
  g_string_append_c (s, '"');
  if (shown < len)
    g_string_append_printf (s, "... (%" G_GSIZE_FORMAT " bytes)", len);
  return g_string_free (s, FALSE);
}

/* memcmp() with lengths, and defined for empty, possibly NULL, buffers. */
static gboolean
mem_equal (gconstpointer a,
           gsize         a_len,
           gconstpointer b,
           gsize         b_len)
{
  return a_len == b_len && (a_len == 0 || memcmp (a, b, a_len) == 0);
}

static gchar *
describe_cuts (const gsize *cuts,
               gsize        n_cuts)
{
  GString *s;

  if (n_cuts == 0)
    return g_strdup ("in one piece");

  s = g_string_new ("in pieces ending at [");
  for (gsize i = 0; i < MIN (n_cuts, 20); i++)
    g_string_append_printf (s, "%s%" G_GSIZE_FORMAT, i ? ", " : "", cuts[i]);
  if (n_cuts > 20)
    g_string_append_printf (s, ", ... %" G_GSIZE_FORMAT " cuts", n_cuts);
  g_string_append_c (s, ']');
  return g_string_free (s, FALSE);
}

/* Every way to cut @len bytes in two and in three pieces, empty pieces
 * included, and byte by byte: calls @check with each set of cuts. */
typedef void (*CheckCuts) (gconstpointer data,
                           const gsize  *cuts,
                           gsize         n_cuts);

static void
for_every_split (gsize         len,
                 gboolean      three_pieces,
                 CheckCuts     check,
                 gconstpointer data)
{
  g_autofree gsize *bytewise = g_new (gsize, len + 1);

  check (data, NULL, 0);

  for (gsize i = 0; i <= len; i++)
    {
      gsize cuts[1] = { i };

      check (data, cuts, 1);
    }

  if (three_pieces)
    for (gsize i = 0; i <= len; i++)
      for (gsize j = i; j <= len; j++)
        {
          gsize cuts[2] = { i, j };

          check (data, cuts, 2);
        }

  for (gsize i = 0; i + 1 < len; i++)
    bytewise[i] = i + 1;
  check (data, bytewise, len > 0 ? len - 1 : 0);
}

/* Random cuts of @len bytes: pieces of 1..@max_piece bytes, or of sizes near
 * @near when it is not 0. */
static GArray *
random_cuts (gsize len,
             gsize max_piece,
             gsize near)
{
  GArray *cuts = g_array_new (FALSE, FALSE, sizeof (gsize));
  gsize pos = 0;

  for (;;)
    {
      gsize piece;

      if (near != 0)
        piece = near - 3 + g_test_rand_int_range (0, 7);
      else
        piece = g_test_rand_int_range (1, max_piece + 1);
      pos += piece;
      if (pos >= len)
        break;
      g_array_append_val (cuts, pos);
    }
  return cuts;
}

/* ---------------------------------------------------------------------------
 * ANSI stripper
 */

typedef struct
{
  const char *name;
  Bytes input;
  Bytes expected;
} AnsiCase;

/* "\x1b" is cut off a following hex digit with "" "": "\x1b" "7". */
static const AnsiCase ansi_cases[] = {
  { "empty", B (""), B ("") },
  { "plain-text", B ("hello, world\n"), B ("hello, world\n") },

  /* CSI */
  { "csi-sgr", B ("\x1b[1;31mred\x1b[0m"), B ("red") },
  { "csi-sgr-no-parameters", B ("\x1b[mx\x1b[m"), B ("x") },
  { "csi-256-and-truecolour", B ("\x1b[38;5;196mA\x1b[48;2;0;0;255mB\x1b[49m"), B ("AB") },
  { "csi-subparameters", B ("\x1b[4:3mX\x1b[58:2::255:0:0m"), B ("X") },
  { "csi-cursor", B ("a\x1b[2Ab\x1b[10;20Hc\x1b[5D"), B ("abc") },
  { "csi-erase", B ("10%\r\x1b[2K20%\x1b[J"), B ("10%\r20%") },
  { "csi-private", B ("\x1b[?25l\x1b[?1049hx\x1b[?25h"), B ("x") },
  { "csi-intermediate", B ("\x1b[2 qx\x1b[!p"), B ("x") },
  { "csi-final-range", B ("\x1b[@a\x1b[~b"), B ("ab") },

  /* String sequences */
  { "osc-bel", B ("\x1b]0;title\x07text"), B ("text") },
  { "osc-st", B ("\x1b]2;title\x1b\\text"), B ("text") },
  { "osc-hyperlink", B ("\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\"), B ("link") },
  { "osc-c1-st-is-content", B ("\x1b]0;a\xc2\x9c" "b\x07x"), B ("x") },
  { "dcs", B ("a\x1bPq#0;2;0;0;0#0~~@@\x1b\\b"), B ("ab") },
  { "dcs-bel-is-content", B ("a\x1bP1$r\x07still\x1b\\b"), B ("ab") },
  { "sos", B ("a\x1bXstart of string\x1b\\b"), B ("ab") },
  { "pm", B ("a\x1b^privacy message\x1b\\b"), B ("ab") },
  { "apc", B ("a\x1b_Gf=100;AAAA\x1b\\b"), B ("ab") },

  /* Other escape sequences */
  { "esc-charset", B ("\x1b(Bx\x1b)0y"), B ("xy") },
  { "esc-tput-sgr0", B ("\x1b[1mbold\x1b(B\x1b[m plain"), B ("bold plain") },
  { "esc-save-restore", B ("\x1b" "7a\x1b" "8"), B ("a") },
  { "esc-keypad", B ("\x1b=a\x1b>"), B ("a") },
  { "esc-reset", B ("\x1b" "cx"), B ("x") },
  { "esc-intermediates", B ("\x1b#8x\x1b$(Cy"), B ("xy") },
  { "esc-final-range", B ("\x1b" "0a\x1b~b"), B ("ab") },

  /* A '\n' is never swallowed */
  { "newline-ends-csi", B ("\x1b[1;3\nx"), B ("\nx") },
  { "newline-ends-esc", B ("\x1b\nx"), B ("\nx") },
  { "newline-ends-esc-intermediate", B ("\x1b(\nx"), B ("\nx") },
  { "newline-ends-osc", B ("\x1b]0;ti\ntle\x07"), B ("\ntle\x07") },
  { "newline-ends-dcs", B ("\x1bPab\ncd\x1b\\"), B ("\ncd") },
  { "newline-ends-string-esc", B ("\x1b]0;a\x1b\nx"), B ("\nx") },

  /* Invalid bytes end a sequence and are text */
  { "c0-ends-csi", B ("\x1b[1\tm"), B ("\tm") },
  { "c0-ends-esc", B ("\x1b\x07x"), B ("\x07x") },
  { "nul-ends-csi", B ("\x1b[\0m"), B ("\0m") },
  { "del-ends-csi", B ("\x1b[1\x7fm"), B ("\x7fm") },
  { "utf8-ends-csi", B ("\x1b[1\xc3\xa9m"), B ("\xc3\xa9m") },
  { "utf8-ends-esc", B ("\x1b\xc3\xa9"), B ("\xc3\xa9") },
  { "high-byte-ends-esc-intermediate", B ("\x1b(\xff"), B ("\xff") },

  /* CAN and SUB cancel and are dropped */
  { "can-cancels-csi", B ("\x1b[1\x18m"), B ("m") },
  { "sub-cancels-csi", B ("\x1b[1\x1am"), B ("m") },
  { "can-cancels-esc", B ("\x1b\x18x"), B ("x") },
  { "can-cancels-esc-intermediate", B ("\x1b(\x18x"), B ("x") },
  { "sub-cancels-osc", B ("\x1b]0;t\x1ax"), B ("x") },
  { "can-cancels-string-esc", B ("\x1bPa\x1b\x18x"), B ("x") },

  /* ESC starts over */
  { "esc-restarts-csi", B ("\x1b[1\x1b[2mx"), B ("x") },
  { "esc-restarts-esc", B ("\x1b\x1b[mx"), B ("x") },
  { "esc-restarts-esc-intermediate", B ("\x1b(\x1b[mx"), B ("x") },
  { "esc-in-osc-starts-csi", B ("\x1b]0;t\x1b[1mx"), B ("x") },
  { "esc-in-osc-starts-osc", B ("\x1b]0;a\x1b]0;b\x07x"), B ("x") },
  { "esc-in-dcs-starts-esc", B ("\x1bPa\x1b" "7x"), B ("x") },
  { "esc-esc-in-string", B ("\x1b]0;a\x1b\x1b\\x"), B ("x") },

  /* Text is kept, whatever it is */
  { "c1-is-text", B ("\x9b" "31m\xc2\x9b\x90\x9d\x9c"), B ("\x9b" "31m\xc2\x9b\x90\x9d\x9c") },
  { "nul-is-text", B ("a\0b\0"), B ("a\0b\0") },
  { "invalid-utf8-is-text", B ("\xff\xfe\xc3(\x80"), B ("\xff\xfe\xc3(\x80") },
  { "controls-are-text", B ("ding\x07\r\t\b\x7f"), B ("ding\x07\r\t\b\x7f") },
  { "unfinished-csi-at-end", B ("abc\x1b[1;3"), B ("abc") },
  { "unfinished-osc-at-end", B ("abc\x1b]0;ti"), B ("abc") },
  { "lone-esc-at-end", B ("abc\x1b"), B ("abc") },

  /* Real programs */
  { "real-ls", B ("\x1b[0m\x1b[01;34mdir\x1b[0m  \x1b[01;32mrun.sh\x1b[0m\n"), B ("dir  run.sh\n") },
  { "real-ls-hyperlink", B ("\x1b]8;;file://host/tmp/a\x07" "a\x1b]8;;\x07\n"), B ("a\n") },
  { "real-grep", B ("\x1b[35m\x1b[Kf.c\x1b[m\x1b[K\x1b[36m\x1b[K:\x1b[m\x1b[K\x1b[01;31m\x1b[Kmatch\x1b[m\x1b[K\n"), B ("f.c:match\n") },
  { "real-git-diff", B ("\x1b[1mdiff --git a/x b/x\x1b[m\n\x1b[36m@@ -1 +1 @@\x1b[m\n\x1b[31m-old\x1b[m\n\x1b[32m+new\x1b[m\n"), B ("diff --git a/x b/x\n@@ -1 +1 @@\n-old\n+new\n") },
  { "real-progress", B ("\r\x1b[K[===>  ] 50%\r\x1b[K[======] 100%\n"), B ("\r[===>  ] 50%\r[======] 100%\n") },
  { "real-title", B ("\x1b]0;user@host: ~\x07$ "), B ("$ ") },
  { "real-utf8", B ("\x1b[32m\xe2\x9c\x93\x1b[0m caf\xc3\xa9"), B ("\xe2\x9c\x93 caf\xc3\xa9") },
};

/* Strips @input fed in pieces ending at @cuts; returns all the output. */
static GByteArray *
strip_in_pieces (const guint8 *input,
                 gsize         len,
                 const gsize  *cuts,
                 gsize         n_cuts)
{
  g_autofree guint8 *buf = g_malloc (len + 1);
  GByteArray *out = g_byte_array_new ();
  PmAnsiStripper stripper;
  gsize start = 0;

  memcpy (buf, input, len);
  pm_ansi_stripper_init (&stripper);

  for (gsize i = 0; i <= n_cuts; i++)
    {
      gsize stop = (i < n_cuts) ? cuts[i] : len;
      gsize n = pm_ansi_stripper_strip (&stripper, buf + start, stop - start);

      g_assert_cmpuint (n, <=, stop - start);
      g_byte_array_append (out, buf + start, n);
      start = stop;
    }

  return out;
}

static void
check_ansi_cuts (gconstpointer data,
                 const gsize  *cuts,
                 gsize         n_cuts)
{
  const AnsiCase *tc = data;
  g_autoptr(GByteArray) out = strip_in_pieces ((const guint8 *) tc->input.data,
                                               tc->input.len, cuts, n_cuts);

  if (!mem_equal (out->data, out->len, tc->expected.data, tc->expected.len))
    {
      g_autofree gchar *where = describe_cuts (cuts, n_cuts);
      g_autofree gchar *input = escape_bytes ((const guint8 *) tc->input.data, tc->input.len);
      g_autofree gchar *got = escape_bytes (out->data, out->len);
      g_autofree gchar *want = escape_bytes ((const guint8 *) tc->expected.data, tc->expected.len);

      g_test_message ("%s fed %s: got %s, expected %s", input, where, got, want);
    }
  g_assert_cmpmem (out->data, out->len, tc->expected.data, tc->expected.len);
}

static void
test_ansi_case (gconstpointer data)
{
  const AnsiCase *tc = data;

  for_every_split (tc->input.len, TRUE, check_ansi_cuts, tc);
}

/* All the cases in a row, in random chunks: state carried from one sequence
 * to the next must not leak. Only cases that end outside a sequence. */
static void
test_ansi_random_chunks (void)
{
  g_autoptr(GByteArray) input = g_byte_array_new ();
  g_autoptr(GByteArray) expected = g_byte_array_new ();

  for (gsize i = 0; i < G_N_ELEMENTS (ansi_cases); i++)
    {
      const AnsiCase *tc = &ansi_cases[i];

      if (g_str_has_prefix (tc->name, "unfinished") || g_str_has_prefix (tc->name, "lone-esc"))
        continue;
      g_byte_array_append (input, (const guint8 *) tc->input.data, tc->input.len);
      g_byte_array_append (expected, (const guint8 *) tc->expected.data, tc->expected.len);
    }

  for (guint round = 0; round < 200; round++)
    {
      g_autoptr(GArray) cuts = random_cuts (input->len, 1 + round % 17, 0);
      g_autoptr(GByteArray) out = strip_in_pieces (input->data, input->len,
                                                   (gsize *) cuts->data, cuts->len);

      if (!mem_equal (out->data, out->len, expected->data, expected->len))
        {
          g_autofree gchar *where = describe_cuts ((gsize *) cuts->data, cuts->len);
          g_test_message ("fed %s", where);
        }
      g_assert_cmpmem (out->data, out->len, expected->data, expected->len);
    }
}

static void
test_ansi_state_across_calls (void)
{
  PmAnsiStripper stripper;
  guint8 a[] = "red\x1b[3";
  guint8 b[] = "1mRED\x1b]0;ti";
  guint8 c[] = "tle\x07" "done";

  pm_ansi_stripper_init (&stripper);
  g_assert_cmpmem (a, pm_ansi_stripper_strip (&stripper, a, strlen ((char *) a)), "red", 3);
  g_assert_cmpmem (b, pm_ansi_stripper_strip (&stripper, b, strlen ((char *) b)), "RED", 3);
  g_assert_cmpmem (c, pm_ansi_stripper_strip (&stripper, c, strlen ((char *) c)), "done", 4);

  /* init forgets a pending sequence */
  pm_ansi_stripper_init (&stripper);
  g_assert_cmpuint (pm_ansi_stripper_strip (&stripper, a, sizeof a - 1), ==, 3);
  pm_ansi_stripper_init (&stripper);
  memcpy (b, "1mx", 3);
  g_assert_cmpmem (b, pm_ansi_stripper_strip (&stripper, b, 3), "1mx", 3);
}

/* ---------------------------------------------------------------------------
 * Line assembler
 */

static void
collect_line (const guint8 *line,
              gsize         len,
              gpointer      user_data)
{
  GPtrArray *lines = user_data;

  g_ptr_array_add (lines, g_bytes_new (line, len));
}

/* A run of lines as pm_line_assembler_feed_runs() promises it: whole lines,
 * each ending in '\n', none too long, none with a "\r\n" to drop. */
static void
collect_run (const guint8 *run,
             gsize         len,
             gpointer      user_data)
{
  GPtrArray *lines = user_data;
  const guint8 *end = run + len;

  g_assert_cmpuint (len, >, 0);
  g_assert_cmpint (end[-1], ==, '\n');
  while (run < end)
    {
      const guint8 *nl = memchr (run, '\n', end - run);
      gsize n = nl - run;

      g_assert_nonnull (nl);
      g_assert_cmpuint (n, <=, PM_LINE_MAX);
      g_assert_true (n == 0 || nl[-1] != '\r');
      g_ptr_array_add (lines, g_bytes_new (run, n));
      run = nl + 1;
    }
}

static GPtrArray *
lines_new (void)
{
  return g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
}

static void
add_line (GPtrArray    *lines,
          const guint8 *line,
          gsize         len)
{
  g_ptr_array_add (lines, g_bytes_new (line, len));
}

/* The specification, written for clarity and not speed, over the whole stream
 * at once: split at '\n', drop one '\r' before it, cut each line into pieces
 * of PM_LINE_MAX bytes (an empty line is one empty piece), and an unfinished
 * last line is a line as it is. */
static GPtrArray *
reference_lines (const guint8 *data,
                 gsize         len)
{
  GPtrArray *lines = lines_new ();
  gsize start = 0;

  for (gsize i = 0; i <= len; i++)
    {
      gsize stop = i;
      gsize off;

      if (i < len && data[i] != '\n')
        continue;
      if (i == len && start == len)
        break;
      if (i < len && stop > start && data[stop - 1] == '\r')
        stop--;

      off = start;
      do
        {
          gsize n = MIN (PM_LINE_MAX, stop - off);

          add_line (lines, data + off, n);
          off += n;
        }
      while (off < stop);

      start = i + 1;
    }

  return lines;
}

static gboolean
lines_equal (GPtrArray *a,
             GPtrArray *b)
{
  if (a->len != b->len)
    return FALSE;
  for (guint i = 0; i < a->len; i++)
    if (!g_bytes_equal (a->pdata[i], b->pdata[i]))
      return FALSE;
  return TRUE;
}

static void
assert_lines (GPtrArray   *actual,
              GPtrArray   *expected,
              const gsize *cuts,
              gsize        n_cuts)
{
  if (!lines_equal (actual, expected))
    {
      g_autofree gchar *where = describe_cuts (cuts, n_cuts);
      guint i;

      g_test_message ("fed %s: %u lines, expected %u", where, actual->len, expected->len);
      for (i = 0; i < MIN (actual->len, expected->len); i++)
        if (!g_bytes_equal (actual->pdata[i], expected->pdata[i]))
          break;
      if (i < actual->len)
        {
          gsize n;
          const guint8 *p = g_bytes_get_data (actual->pdata[i], &n);
          g_autofree gchar *s = escape_bytes (p, n);

          g_test_message ("line %u is %s", i, s);
        }
      if (i < expected->len)
        {
          gsize n;
          const guint8 *p = g_bytes_get_data (expected->pdata[i], &n);
          g_autofree gchar *s = escape_bytes (p, n);

          g_test_message ("line %u should be %s", i, s);
        }
    }

  g_assert_cmpuint (actual->len, ==, expected->len);
  for (guint i = 0; i < actual->len; i++)
    {
      gsize n, m;
      const guint8 *p = g_bytes_get_data (actual->pdata[i], &n);
      const guint8 *q = g_bytes_get_data (expected->pdata[i], &m);

      g_assert_cmpmem (p, n, q, m);
    }
}

/* Feeds @data to a new assembler in pieces ending at @cuts, checking its
 * invariants after each, then finishes it. Returns all the lines, and in
 * @n_before_finish how many came before finish(). */
static GPtrArray *
assemble (const guint8 *data,
          gsize         len,
          const gsize  *cuts,
          gsize         n_cuts,
          gsize        *n_before_finish)
{
  GPtrArray *lines = lines_new ();
  g_autoptr(GPtrArray) run_lines = lines_new ();
  PmLineAssembler assembler;
  PmLineAssembler run_assembler;
  PmLineAssembler take_assembler;
  g_autoptr(GPtrArray) take_lines = lines_new ();
  g_autofree guint8 *taken = g_malloc (PM_LINE_MAX + 1);
  gsize n_taken = 0;
  gsize newlines = 0;
  gsize start = 0;

  pm_line_assembler_init (&assembler);
  g_assert_null (assembler.partial);
  /* The same stream through feed_runs() must give the same lines, and so
   * must one whose unfinished line is taken out after every chunk and fed
   * back in front of the next (as the daemon does when it reads straight
   * into its batch). */
  pm_line_assembler_init (&run_assembler);
  pm_line_assembler_init (&take_assembler);

  for (gsize i = 0; i <= n_cuts; i++)
    {
      gsize stop = (i < n_cuts) ? cuts[i] : len;
      gsize pending;

      pm_line_assembler_feed (&assembler, data + start, stop - start,
                              collect_line, lines);
      pm_line_assembler_feed_runs (&run_assembler, data + start, stop - start,
                                   collect_line, collect_run, run_lines);
      g_assert_cmpuint (pm_line_assembler_pending (&run_assembler), ==,
                        pm_line_assembler_pending (&assembler));
      g_assert_cmpuint (run_lines->len, ==, lines->len);
      {
        g_autofree guint8 *chunk = g_malloc (n_taken + (stop - start) + 1);

        memcpy (chunk, taken, n_taken);
        memcpy (chunk + n_taken, data + start, stop - start);
        pm_line_assembler_feed_runs (&take_assembler, chunk, n_taken + (stop - start),
                                     collect_line, collect_run, take_lines);
        n_taken = pm_line_assembler_take (&take_assembler, taken);
        g_assert_cmpuint (n_taken, ==, pm_line_assembler_pending (&assembler));
        g_assert_null (take_assembler.partial);
        g_assert_cmpuint (take_lines->len, ==, lines->len);
      }
      for (gsize j = start; j < stop; j++)
        newlines += (data[j] == '\n');

      /* Memory is bounded, and follows activity: no unfinished line, no
       * buffer. Every line ended by a '\n' is out as soon as it is seen. */
      pending = pm_line_assembler_pending (&assembler);
      g_assert_cmpuint (pending, <=, PM_LINE_MAX + 1);
      g_assert_true ((assembler.partial == NULL) == (pending == 0));
      if (stop == 0 || data[stop - 1] == '\n')
        g_assert_null (assembler.partial);
      g_assert_cmpuint (lines->len, >=, newlines);

      start = stop;
    }

  if (n_before_finish != NULL)
    *n_before_finish = lines->len;
  pm_line_assembler_finish (&assembler, collect_line, lines);
  g_assert_null (assembler.partial);
  g_assert_cmpuint (pm_line_assembler_pending (&assembler), ==, 0);
  pm_line_assembler_finish (&run_assembler, collect_line, run_lines);
  assert_lines (run_lines, lines, cuts, n_cuts);
  pm_line_assembler_feed (&take_assembler, taken, n_taken, collect_line, take_lines);
  pm_line_assembler_finish (&take_assembler, collect_line, take_lines);
  assert_lines (take_lines, lines, cuts, n_cuts);

  return lines;
}

/* Short lines, with their expected lines written out. */
typedef struct
{
  const char *name;
  Bytes input;
  gsize n_before_finish;        /* lines out before finish(), fed whole */
  Bytes lines[6];               /* ends at the first NULL .data */
} LinesCase;

static const LinesCase lines_cases[] = {
  { "empty", B (""), 0, { { NULL, 0 } } },
  { "one-line", B ("a\n"), 1, { B ("a") } },
  { "lines", B ("one\ntwo\nthree\n"), 3, { B ("one"), B ("two"), B ("three") } },
  { "unfinished", B ("abc"), 0, { B ("abc") } },
  { "unfinished-after-lines", B ("a\nbc"), 1, { B ("a"), B ("bc") } },
  { "crlf", B ("a\r\nb\r\n"), 2, { B ("a"), B ("b") } },
  { "cr-inside-kept", B ("a\rb\n"), 1, { B ("a\rb") } },
  { "one-cr-dropped", B ("a\r\r\n"), 1, { B ("a\r") } },
  { "cr-after-lf-kept", B ("a\n\rb\n"), 2, { B ("a"), B ("\rb") } },
  { "cr-at-end-of-stream-kept", B ("a\r"), 0, { B ("a\r") } },
  { "lone-cr-stream", B ("\r"), 0, { B ("\r") } },
  { "cr-only-line", B ("\r\n"), 1, { B ("") } },
  { "empty-lines", B ("\n\n"), 2, { B (""), B ("") } },
  { "empty-lines-crlf", B ("\r\n\r\n\n"), 3, { B (""), B (""), B ("") } },
  { "empty-line-between", B ("a\n\nb"), 2, { B ("a"), B (""), B ("b") } },
  { "nul", B ("a\0b\n\0\n\0"), 2, { B ("a\0b"), B ("\0"), B ("\0") } },
  { "invalid-utf8", B ("\xff\xfe\n\xc3(\x80\r\n"), 2, { B ("\xff\xfe"), B ("\xc3(\x80") } },
  { "escapes-untouched", B ("\x1b[1mx\x1b[0m\r\n"), 1, { B ("\x1b[1mx\x1b[0m") } },
};

static GPtrArray *
lines_case_expected (const LinesCase *tc)
{
  GPtrArray *expected = lines_new ();

  for (gsize i = 0; i < G_N_ELEMENTS (tc->lines) && tc->lines[i].data != NULL; i++)
    add_line (expected, (const guint8 *) tc->lines[i].data, tc->lines[i].len);
  return expected;
}

static void
check_lines_cuts (gconstpointer data,
                  const gsize  *cuts,
                  gsize         n_cuts)
{
  const LinesCase *tc = data;
  g_autoptr(GPtrArray) expected = lines_case_expected (tc);
  g_autoptr(GPtrArray) actual = assemble ((const guint8 *) tc->input.data,
                                          tc->input.len, cuts, n_cuts, NULL);

  assert_lines (actual, expected, cuts, n_cuts);
}

static void
test_lines_case (gconstpointer data)
{
  const LinesCase *tc = data;
  g_autoptr(GPtrArray) expected = lines_case_expected (tc);
  g_autoptr(GPtrArray) reference = reference_lines ((const guint8 *) tc->input.data,
                                                    tc->input.len);
  g_autoptr(GPtrArray) actual = NULL;
  gsize n_before_finish;

  /* The reference must agree with the cases written out by hand, or the
   * randomised tests below would prove little. */
  assert_lines (reference, expected, NULL, 0);

  actual = assemble ((const guint8 *) tc->input.data, tc->input.len, NULL, 0,
                     &n_before_finish);
  assert_lines (actual, expected, NULL, 0);
  g_assert_cmpuint (n_before_finish, ==, tc->n_before_finish);

  for_every_split (tc->input.len, TRUE, check_lines_cuts, tc);
}

/* Mixed short lines: every split point against the reference. */
static const Bytes mixed_input = B ("first line\nsecond\r\n\r\n\nthird\rstill\r\r\n"
                                    "\0nul\0\n\xff\xfe\xc3\n\n\rcr\n\x1b[1mbold\x1b[m\r\n"
                                    "last, no newline\r");

static void
check_mixed_cuts (gconstpointer data,
                  const gsize  *cuts,
                  gsize         n_cuts)
{
  GPtrArray *reference = (GPtrArray *) data;
  g_autoptr(GPtrArray) actual = assemble ((const guint8 *) mixed_input.data,
                                          mixed_input.len, cuts, n_cuts, NULL);

  assert_lines (actual, reference, cuts, n_cuts);
}

static void
test_lines_every_split (void)
{
  g_autoptr(GPtrArray) reference = reference_lines ((const guint8 *) mixed_input.data,
                                                    mixed_input.len);

  g_assert_cmpuint (reference->len, ==, 11);
  for_every_split (mixed_input.len, TRUE, check_mixed_cuts, reference);
}

/* Random short lines of a small alphabet rich in '\r' and '\n'. */
static void
test_lines_random_chunks (void)
{
  static const guint8 alphabet[] = { 'a', 'b', '\r', '\r', '\n', '\n', '\0', 0xff, 0x1b };

  for (guint round = 0; round < 50; round++)
    {
      gsize len = g_test_rand_int_range (0, 2000);
      g_autofree guint8 *data = g_malloc (len + 1);
      g_autoptr(GPtrArray) reference = NULL;

      for (gsize i = 0; i < len; i++)
        data[i] = alphabet[g_test_rand_int_range (0, G_N_ELEMENTS (alphabet))];
      reference = reference_lines (data, len);

      for (guint k = 0; k < 20; k++)
        {
          g_autoptr(GArray) cuts = random_cuts (len, 1 + g_test_rand_int_range (0, 64), 0);
          g_autoptr(GPtrArray) actual = assemble (data, len, (gsize *) cuts->data,
                                                  cuts->len, NULL);

          assert_lines (actual, reference, (gsize *) cuts->data, cuts->len);
        }
    }
}

/* Lines around and beyond PM_LINE_MAX: @body bytes of 'a'..'z', then @tail.
 * Each expected line is a span of the input. */
typedef struct
{
  gsize off;
  gsize len;
} Span;

typedef struct
{
  const char *name;
  gsize body;
  Bytes tail;
  gsize n_before_finish;        /* lines out before finish(), fed whole */
  gsize n_lines;
  Span lines[6];
} LongCase;

static const LongCase long_cases[] = {
  { "max-lf", PM_LINE_MAX, B ("\n"), 1, 1, { { 0, PM_LINE_MAX } } },
  { "max-crlf", PM_LINE_MAX, B ("\r\n"), 1, 1, { { 0, PM_LINE_MAX } } },
  { "max-cr-x", PM_LINE_MAX, B ("\rx\n"), 2, 2, { { 0, PM_LINE_MAX }, { PM_LINE_MAX, 2 } } },
  { "max-cr-cr-lf", PM_LINE_MAX, B ("\r\r\n"), 2, 2, { { 0, PM_LINE_MAX }, { PM_LINE_MAX, 1 } } },
  { "max-cr-eof", PM_LINE_MAX, B ("\r"), 0, 2, { { 0, PM_LINE_MAX }, { PM_LINE_MAX, 1 } } },
  { "max-eof", PM_LINE_MAX, B (""), 0, 1, { { 0, PM_LINE_MAX } } },
  { "max-lf-lf", PM_LINE_MAX, B ("\n\n"), 2, 2, { { 0, PM_LINE_MAX }, { PM_LINE_MAX + 1, 0 } } },
  { "max-lf-crlf", PM_LINE_MAX, B ("\n\r\n"), 2, 2, { { 0, PM_LINE_MAX }, { PM_LINE_MAX + 1, 0 } } },
  { "max-minus-one-crlf", PM_LINE_MAX - 1, B ("\r\n"), 1, 1, { { 0, PM_LINE_MAX - 1 } } },
  { "max-minus-one-cr-eof", PM_LINE_MAX - 1, B ("\r"), 0, 1, { { 0, PM_LINE_MAX } } },
  { "max-minus-one-cr-crlf", PM_LINE_MAX - 1, B ("\r\r\n"), 1, 1, { { 0, PM_LINE_MAX } } },
  { "max-plus-one-lf", PM_LINE_MAX + 1, B ("\n"), 2, 2, { { 0, PM_LINE_MAX }, { PM_LINE_MAX, 1 } } },
  { "max-plus-one-crlf", PM_LINE_MAX + 1, B ("\r\n"), 2, 2, { { 0, PM_LINE_MAX }, { PM_LINE_MAX, 1 } } },
  { "max-plus-one-eof", PM_LINE_MAX + 1, B (""), 1, 2, { { 0, PM_LINE_MAX }, { PM_LINE_MAX, 1 } } },
  { "two-max-lf", 2 * PM_LINE_MAX, B ("\n"), 2, 2, { { 0, PM_LINE_MAX }, { PM_LINE_MAX, PM_LINE_MAX } } },
  { "two-max-crlf", 2 * PM_LINE_MAX, B ("\r\n"), 2, 2, { { 0, PM_LINE_MAX }, { PM_LINE_MAX, PM_LINE_MAX } } },
  { "two-max-cr-x", 2 * PM_LINE_MAX, B ("\rx\n"), 3, 3, { { 0, PM_LINE_MAX }, { PM_LINE_MAX, PM_LINE_MAX }, { 2 * PM_LINE_MAX, 2 } } },
  { "200k-no-newline", 200 * 1024, B (""), 3, 4,
    { { 0, PM_LINE_MAX }, { PM_LINE_MAX, PM_LINE_MAX }, { 2 * PM_LINE_MAX, PM_LINE_MAX }, { 3 * PM_LINE_MAX, 200 * 1024 - 3 * PM_LINE_MAX } } },
  { "200k-crlf-then-line", 200 * 1024, B ("\r\nnext\n"), 5, 5,
    { { 0, PM_LINE_MAX }, { PM_LINE_MAX, PM_LINE_MAX }, { 2 * PM_LINE_MAX, PM_LINE_MAX }, { 3 * PM_LINE_MAX, 200 * 1024 - 3 * PM_LINE_MAX },
      { 200 * 1024 + 2, 4 } } },
};

static guint8 *
long_case_input (const LongCase *tc,
                 gsize          *len)
{
  guint8 *data;

  *len = tc->body + tc->tail.len;
  data = g_malloc (*len + 1);
  for (gsize i = 0; i < tc->body; i++)
    data[i] = 'a' + i % 26;
  memcpy (data + tc->body, tc->tail.data, tc->tail.len);
  return data;
}

static void
test_lines_long_case (gconstpointer user_data)
{
  const LongCase *tc = user_data;
  gsize len;
  g_autofree guint8 *data = long_case_input (tc, &len);
  g_autoptr(GPtrArray) expected = lines_new ();
  g_autoptr(GPtrArray) reference = reference_lines (data, len);
  g_autoptr(GPtrArray) actual = NULL;
  g_autoptr(GArray) points = g_array_new (FALSE, FALSE, sizeof (gsize));
  gsize n_before_finish;

  for (gsize i = 0; i < tc->n_lines; i++)
    add_line (expected, data + tc->lines[i].off, tc->lines[i].len);
  assert_lines (reference, expected, NULL, 0);

  actual = assemble (data, len, NULL, 0, &n_before_finish);
  assert_lines (actual, expected, NULL, 0);
  g_assert_cmpuint (n_before_finish, ==, tc->n_before_finish);

  /* Cuts near where it matters: the edges, multiples of PM_LINE_MAX, and
   * every byte of the tail. Every one alone, and every pair. */
  for (gsize base = 0; base <= len + 3; base += PM_LINE_MAX)
    for (gsize d = 0; d <= 6; d++)
      if (base + d >= 3 && base + d - 3 <= len)
        {
          gsize point = base + d - 3;

          g_array_append_val (points, point);
        }
  for (gsize p = (tc->body > 3 ? tc->body - 3 : 0); p <= len; p++)
    g_array_append_val (points, p);

  for (guint i = 0; i < points->len; i++)
    {
      gsize cuts[1] = { g_array_index (points, gsize, i) };
      g_autoptr(GPtrArray) lines = assemble (data, len, cuts, 1, NULL);

      assert_lines (lines, expected, cuts, 1);
    }
  for (guint i = 0; i < points->len; i++)
    for (guint j = 0; j < points->len; j++)
      {
        gsize cuts[2] = { g_array_index (points, gsize, i), g_array_index (points, gsize, j) };
        g_autoptr(GPtrArray) lines = NULL;

        if (cuts[0] > cuts[1])
          continue;
        lines = assemble (data, len, cuts, 2, NULL);
        assert_lines (lines, expected, cuts, 2);
      }

  /* Random chunks, small, large, and near PM_LINE_MAX. */
  for (guint k = 0; k < 6; k++)
    {
      g_autoptr(GArray) cuts = (k % 3 == 0) ? random_cuts (len, 4096, 0)
                             : (k % 3 == 1) ? random_cuts (len, 3 * PM_LINE_MAX, 0)
                             : random_cuts (len, 0, PM_LINE_MAX);
      g_autoptr(GPtrArray) lines = assemble (data, len, (gsize *) cuts->data,
                                             cuts->len, NULL);

      assert_lines (lines, expected, (gsize *) cuts->data, cuts->len);
    }
}

/* Random long lines whose lengths and '\r's sit on the PM_LINE_MAX edges. */
static void
test_lines_random_long (void)
{
  static const char *const endings[] = { "\n", "\r\n", "\r\r\n", "\rx\n", "\n\n", "\r" };

  for (guint round = 0; round < 8; round++)
    {
      g_autoptr(GByteArray) input = g_byte_array_new ();
      g_autoptr(GPtrArray) reference = NULL;
      guint n_segments = g_test_rand_int_range (1, 7);

      for (guint s = 0; s < n_segments; s++)
        {
          gsize len = g_test_rand_int_range (1, 4) * PM_LINE_MAX + g_test_rand_int_range (-2, 3);
          const char *ending = endings[g_test_rand_int_range (0, G_N_ELEMENTS (endings))];
          gsize start = input->len;

          if (g_test_rand_bit ())
            len = g_test_rand_int_range (0, 5);
          g_byte_array_set_size (input, start + len);
          for (gsize i = 0; i < len; i++)
            input->data[start + i] = 'a' + i % 26;
          /* A '\r' right at a piece boundary, or just before one. */
          if (len > PM_LINE_MAX + 1 && g_test_rand_bit ())
            input->data[start + PM_LINE_MAX - g_test_rand_int_range (0, 2)] = '\r';
          g_byte_array_append (input, (const guint8 *) ending, strlen (ending));
        }
      reference = reference_lines (input->data, input->len);

      for (guint k = 0; k < 6; k++)
        {
          g_autoptr(GArray) cuts = (k % 3 == 0) ? random_cuts (input->len, 64, 0)
                                 : (k % 3 == 1) ? random_cuts (input->len, 3 * PM_LINE_MAX, 0)
                                 : random_cuts (input->len, 0, PM_LINE_MAX);
          g_autoptr(GPtrArray) lines = assemble (input->data, input->len,
                                                 (gsize *) cuts->data, cuts->len, NULL);

          assert_lines (lines, reference, (gsize *) cuts->data, cuts->len);
        }
    }
}

static void
feed (PmLineAssembler *assembler,
      const char      *s,
      GPtrArray       *lines)
{
  pm_line_assembler_feed (assembler, (const guint8 *) s, strlen (s), collect_line, lines);
}

static void
assert_line (GPtrArray  *lines,
             guint       i,
             const char *expected)
{
  gsize n;
  const guint8 *p;

  g_assert_cmpuint (i, <, lines->len);
  p = g_bytes_get_data (lines->pdata[i], &n);
  g_assert_cmpmem (p, n, expected, strlen (expected));
}

/* Many short lines, a few "\r\n" and a few too long, in chunks as large as
 * the daemon's reads: feed_runs() takes whole windows of lines at once and
 * must still see every "\r\n" and every line to cut (assemble() compares it
 * with feed() and both with the reference). */
static void
test_lines_random_windows (void)
{
  for (guint round = 0; round < 6; round++)
    {
      g_autoptr(GByteArray) input = g_byte_array_new ();
      g_autoptr(GPtrArray) reference = NULL;

      while (input->len < 600 * 1024)
        {
          guint kind = g_test_rand_int_range (0, 100);
          gsize len = (kind < 2) ? PM_LINE_MAX + g_test_rand_int_range (-2, 3)
                                 : g_test_rand_int_range (0, 200);
          gsize start = input->len;

          g_byte_array_set_size (input, start + len);
          for (gsize i = 0; i < len; i++)
            input->data[start + i] = 'a' + (start + i) % 26;
          if (kind >= 2 && kind < 12)
            g_byte_array_append (input, (const guint8 *) "\r", 1);
          g_byte_array_append (input, (const guint8 *) "\n", 1);
        }
      reference = reference_lines (input->data, input->len);

      for (guint k = 0; k < 4; k++)
        {
          g_autoptr(GArray) cuts = random_cuts (input->len, 256 * 1024, 0);
          g_autoptr(GPtrArray) lines = assemble (input->data, input->len,
                                                 (gsize *) cuts->data, cuts->len, NULL);

          assert_lines (lines, reference, (gsize *) cuts->data, cuts->len);
        }
    }
}

/* pm_lines_plain_run(): the leading whole lines that go out unchanged. */
static void
test_lines_plain_run (void)
{
  static const struct { const char *in; gsize want; } cases[] = {
    { "", 0 },
    { "a", 0 },
    { "a\n", 2 },
    { "a\nbc\n", 5 },
    { "a\nbc", 2 },
    { "\n\n", 2 },
    { "a\rb\n", 4 },          /* a lone '\r' is data */
    { "a\r\nb\n", 0 },         /* "\r\n" needs the assembler */
    { "a\nb\r\nc\n", 0 },      /* ... wherever it is in the window */
    { "a\nb\r", 2 },
  };
  g_autofree guint8 *big = g_malloc (3 * PM_LINE_MAX);

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    g_assert_cmpuint (pm_lines_plain_run ((const guint8 *) cases[i].in,
                                          strlen (cases[i].in)), ==, cases[i].want);

  /* Lines of PM_LINE_MAX bytes are whole; one byte more must be cut. */
  memset (big, 'x', 3 * PM_LINE_MAX);
  big[PM_LINE_MAX] = '\n';
  big[2 * PM_LINE_MAX + 1] = '\n';
  g_assert_cmpuint (pm_lines_plain_run (big, 2 * PM_LINE_MAX + 2), ==, 2 * PM_LINE_MAX + 2);
  big[2 * PM_LINE_MAX + 1] = 'x';
  big[2 * PM_LINE_MAX + 2] = '\n';
  g_assert_cmpuint (pm_lines_plain_run (big, 2 * PM_LINE_MAX + 3), ==, PM_LINE_MAX + 1);
}

static void
test_lines_partial_null (void)
{
  g_autoptr(GPtrArray) lines = lines_new ();
  PmLineAssembler assembler;

  pm_line_assembler_init (&assembler);
  g_assert_null (assembler.partial);

  feed (&assembler, "a\nb\r\n", lines);
  g_assert_null (assembler.partial);
  g_assert_cmpuint (pm_line_assembler_pending (&assembler), ==, 0);

  feed (&assembler, "c", lines);
  g_assert_nonnull (assembler.partial);
  g_assert_cmpuint (pm_line_assembler_pending (&assembler), ==, 1);

  feed (&assembler, "\n", lines);
  g_assert_null (assembler.partial);

  feed (&assembler, "d\r", lines);
  g_assert_cmpuint (pm_line_assembler_pending (&assembler), ==, 2);
  pm_line_assembler_finish (&assembler, collect_line, lines);
  g_assert_null (assembler.partial);

  g_assert_cmpuint (lines->len, ==, 4);
  assert_line (lines, 0, "a");
  assert_line (lines, 1, "b");
  assert_line (lines, 2, "c");
  assert_line (lines, 3, "d\r");
}

/* A '\r' after PM_LINE_MAX bytes is held until the next byte says what it is. */
static void
test_lines_held_cr (void)
{
  g_autoptr(GPtrArray) lines = lines_new ();
  g_autofree guint8 *body = g_malloc (PM_LINE_MAX);
  PmLineAssembler assembler;

  memset (body, 'a', PM_LINE_MAX);
  pm_line_assembler_init (&assembler);

  pm_line_assembler_feed (&assembler, body, PM_LINE_MAX, collect_line, lines);
  g_assert_cmpuint (pm_line_assembler_pending (&assembler), ==, PM_LINE_MAX);
  feed (&assembler, "\r", lines);
  g_assert_cmpuint (pm_line_assembler_pending (&assembler), ==, PM_LINE_MAX + 1);
  g_assert_cmpuint (lines->len, ==, 0);
  feed (&assembler, "y", lines);
  g_assert_cmpuint (lines->len, ==, 1);
  g_assert_cmpuint (pm_line_assembler_pending (&assembler), ==, 2);
  feed (&assembler, "\n", lines);
  g_assert_null (assembler.partial);

  g_assert_cmpuint (lines->len, ==, 2);
  g_assert_cmpuint (g_bytes_get_size (lines->pdata[0]), ==, PM_LINE_MAX);
  assert_line (lines, 1, "\ry");
}

typedef struct
{
  const guint8 *ptr[8];
  gsize len[8];
  guint n;
} Seen;

static void
record_pointer (const guint8 *line,
                gsize         len,
                gpointer      user_data)
{
  Seen *seen = user_data;

  g_assert_cmpuint (seen->n, <, G_N_ELEMENTS (seen->ptr));
  seen->ptr[seen->n] = line;
  seen->len[seen->n] = len;
  seen->n++;
}

/* Lines, and pieces of long lines, wholly inside a chunk are not copied. */
static void
test_lines_zero_copy (void)
{
  const guint8 *chunk1 = (const guint8 *) "aa\nbb\r\ncc";
  const guint8 *chunk2 = (const guint8 *) "c\ndd\n";
  g_autofree guint8 *big = g_malloc (3 * PM_LINE_MAX + 10);
  PmLineAssembler assembler;
  Seen seen = { { NULL }, { 0 }, 0 };

  pm_line_assembler_init (&assembler);
  pm_line_assembler_feed (&assembler, chunk1, 9, record_pointer, &seen);
  pm_line_assembler_feed (&assembler, chunk2, 5, record_pointer, &seen);
  g_assert_cmpuint (seen.n, ==, 4);
  g_assert_true (seen.ptr[0] == chunk1);
  g_assert_true (seen.ptr[1] == chunk1 + 3);
  g_assert_cmpuint (seen.len[1], ==, 2);
  g_assert_cmpuint (seen.len[2], ==, 3);  /* "ccc" spans chunks: copied */
  g_assert_true (seen.ptr[3] == chunk2 + 2);

  seen.n = 0;
  memset (big, 'b', 3 * PM_LINE_MAX + 10);
  pm_line_assembler_feed (&assembler, big, 3 * PM_LINE_MAX + 10, record_pointer, &seen);
  g_assert_cmpuint (seen.n, ==, 3);
  g_assert_true (seen.ptr[0] == big);
  g_assert_true (seen.ptr[1] == big + PM_LINE_MAX);
  g_assert_true (seen.ptr[2] == big + 2 * PM_LINE_MAX);
  g_assert_cmpuint (pm_line_assembler_pending (&assembler), ==, 10);
  pm_line_assembler_clear (&assembler);
}

static void
test_lines_finish_resets (void)
{
  g_autoptr(GPtrArray) lines = lines_new ();
  PmLineAssembler assembler;

  pm_line_assembler_init (&assembler);
  feed (&assembler, "abc", lines);
  pm_line_assembler_finish (&assembler, collect_line, lines);
  g_assert_cmpuint (lines->len, ==, 1);

  /* Nothing left to emit, and a new stream starts afresh. */
  pm_line_assembler_finish (&assembler, collect_line, lines);
  g_assert_cmpuint (lines->len, ==, 1);
  feed (&assembler, "x\n", lines);
  g_assert_cmpuint (lines->len, ==, 2);
  assert_line (lines, 0, "abc");
  assert_line (lines, 1, "x");
  pm_line_assembler_finish (&assembler, collect_line, lines);
  g_assert_cmpuint (lines->len, ==, 2);
}

static void
test_lines_clear (void)
{
  g_autoptr(GPtrArray) lines = lines_new ();
  PmLineAssembler assembler;

  pm_line_assembler_init (&assembler);
  pm_line_assembler_clear (&assembler);
  feed (&assembler, "abc", lines);
  pm_line_assembler_clear (&assembler);
  g_assert_null (assembler.partial);
  pm_line_assembler_finish (&assembler, collect_line, lines);
  g_assert_cmpuint (lines->len, ==, 0);

  feed (&assembler, "x\n", lines);
  pm_line_assembler_feed (&assembler, NULL, 0, collect_line, lines);
  g_assert_cmpuint (lines->len, ==, 1);
  assert_line (lines, 0, "x");
}

/* ---------------------------------------------------------------------------
 * Throughput, with -m perf only: 200 MB of 100-byte lines in 64 KiB reads,
 * against memcpy of the same bytes.
 */

static void
count_line (const guint8 *line G_GNUC_UNUSED,
            gsize         len,
            gpointer      user_data)
{
  gsize *total = user_data;

  *total += len + 1;
}

static void
test_lines_perf (void)
{
  const gsize chunk = 64 * 1024;
  const gsize total = 200 * 1000 * 1000;
  g_autofree guint8 *buf = g_malloc (chunk);
  g_autofree guint8 *copy = g_malloc (chunk);
  PmLineAssembler assembler;
  PmAnsiStripper stripper;
  gsize seen = 0;
  gdouble t_memcpy, t_lines, t_strip;

  for (gsize i = 0; i < chunk; i++)
    buf[i] = (i % 100 == 99) ? '\n' : 'a' + i % 26;

  g_test_timer_start ();
  for (gsize done = 0; done < total; done += chunk)
    {
      memcpy (copy, buf, chunk);
      seen += copy[done % chunk];
    }
  t_memcpy = g_test_timer_elapsed ();

  pm_line_assembler_init (&assembler);
  g_test_timer_start ();
  for (gsize done = 0; done < total; done += chunk)
    pm_line_assembler_feed (&assembler, buf, chunk, count_line, &seen);
  pm_line_assembler_finish (&assembler, count_line, &seen);
  t_lines = g_test_timer_elapsed ();

  pm_ansi_stripper_init (&stripper);
  g_test_timer_start ();
  for (gsize done = 0; done < total; done += chunk)
    {
      memcpy (copy, buf, chunk);
      seen += pm_ansi_stripper_strip (&stripper, copy, chunk);
    }
  t_strip = g_test_timer_elapsed ();

  g_assert_cmpuint (seen, >, total);
  g_test_minimized_result (t_lines, "assembler: %.3f s for 200 MB (memcpy %.3f s)", t_lines, t_memcpy);
  g_test_minimized_result (t_strip, "memcpy + stripper: %.3f s for 200 MB", t_strip);
}

/* ---- pm_lines_fit: where a batch is cut for rotation ------------------- */

static const struct
{
  const char *name;
  const char *lines;
  guint64     room;
  gboolean    first;
  gsize       want;
} fit_cases[] = {
  { "all-fit", "ab\ncd\n", 100, FALSE, 6 },
  { "exactly", "ab\ncd\n", 6, FALSE, 6 },
  { "one-short", "ab\ncd\n", 5, FALSE, 3 },
  { "first-exactly", "ab\ncd\n", 3, FALSE, 3 },
  { "none-fits", "ab\ncd\n", 2, FALSE, 0 },
  { "no-room", "ab\ncd\n", 0, FALSE, 0 },
  { "no-room-first", "ab\ncd\n", 0, TRUE, 3 },
  { "long-first-alone", "abcdefgh\ncd\n", 4, TRUE, 9 },
  { "long-first-not-at-start", "abcdefgh\ncd\n", 4, FALSE, 0 },
  { "first-but-fits", "ab\ncd\nef\n", 7, TRUE, 6 },
  { "empty-lines", "\n\n\n", 2, FALSE, 2 },
  { "empty-input", "", 0, FALSE, 0 },
  { "huge-room", "ab\n", G_MAXUINT64, FALSE, 3 },
};

static void
test_lines_fit (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (fit_cases); i++)
    {
      const guint8 *lines = (const guint8 *) fit_cases[i].lines;

      g_test_message ("%s", fit_cases[i].name);
      g_assert_cmpuint (pm_lines_fit (lines, strlen (fit_cases[i].lines), fit_cases[i].room,
                                      fit_cases[i].first), ==, fit_cases[i].want);
    }
}

/* Any lines, any room: what is taken is whole lines, within the room unless
 * it is the one line @first allows, and the longest such run. */
static void
test_lines_fit_random (void)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (15);

  for (guint round = 0; round < 2000; round++)
    {
      g_autoptr(GByteArray) buf = g_byte_array_new ();
      guint n_lines = g_rand_int_range (rand, 1, 20);
      guint64 room = g_rand_int_range (rand, 0, 200);
      gboolean first = g_rand_boolean (rand);
      gsize got, best = 0, first_len;

      for (guint l = 0; l < n_lines; l++)
        {
          guint len = g_rand_int_range (rand, 0, 30);

          for (guint k = 0; k < len; k++)
            g_byte_array_append (buf, (const guint8 *) "x", 1);
          g_byte_array_append (buf, (const guint8 *) "\n", 1);
        }
      got = pm_lines_fit (buf->data, buf->len, room, first);
      first_len = (guint8 *) memchr (buf->data, '\n', buf->len) + 1 - buf->data;
      for (gsize k = 0; k < buf->len; k++)
        if (buf->data[k] == '\n' && k + 1 <= room)
          best = k + 1;

      g_assert_true (got == 0 || buf->data[got - 1] == '\n');
      if (best > 0)
        g_assert_cmpuint (got, ==, best);
      else if (first)
        g_assert_cmpuint (got, ==, first_len);
      else
        g_assert_cmpuint (got, ==, 0);
    }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (ansi_cases); i++)
    {
      g_autofree gchar *path = g_strdup_printf ("/lines/ansi/%s", ansi_cases[i].name);

      g_test_add_data_func (path, &ansi_cases[i], test_ansi_case);
    }
  g_test_add_func ("/lines/ansi/random-chunks", test_ansi_random_chunks);
  g_test_add_func ("/lines/ansi/state-across-calls", test_ansi_state_across_calls);

  for (gsize i = 0; i < G_N_ELEMENTS (lines_cases); i++)
    {
      g_autofree gchar *path = g_strdup_printf ("/lines/assembler/%s", lines_cases[i].name);

      g_test_add_data_func (path, &lines_cases[i], test_lines_case);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (long_cases); i++)
    {
      g_autofree gchar *path = g_strdup_printf ("/lines/assembler/long/%s", long_cases[i].name);

      g_test_add_data_func (path, &long_cases[i], test_lines_long_case);
    }
  g_test_add_func ("/lines/assembler/every-split", test_lines_every_split);
  g_test_add_func ("/lines/assembler/random-chunks", test_lines_random_chunks);
  g_test_add_func ("/lines/assembler/random-long-lines", test_lines_random_long);
  g_test_add_func ("/lines/assembler/plain-run", test_lines_plain_run);
  g_test_add_func ("/lines/assembler/random-windows", test_lines_random_windows);
  g_test_add_func ("/lines/assembler/partial-null", test_lines_partial_null);
  g_test_add_func ("/lines/assembler/held-cr", test_lines_held_cr);
  g_test_add_func ("/lines/assembler/zero-copy", test_lines_zero_copy);
  g_test_add_func ("/lines/assembler/finish-resets", test_lines_finish_resets);
  g_test_add_func ("/lines/assembler/clear", test_lines_clear);
  g_test_add_func ("/lines/fit/table", test_lines_fit);
  g_test_add_func ("/lines/fit/random", test_lines_fit_random);
  if (g_test_perf ())
    g_test_add_func ("/lines/perf", test_lines_perf);

  return g_test_run ();
}
