/* fuzz-lines.c — libFuzzer harness for the ANSI stripper and the line
 * assembler (src/pm-lines.c).
 *
 * A pipe may cut a child's output anywhere, so the input carries, besides the
 * data, the seed of the cuts. Layout:
 *
 *   byte 0      flags: bit 0 strip escapes; bit 1 expand runs (below);
 *               bits 2–3 chunk sizes: 0 tiny (with some long stretches),
 *               1 small, 2 around PM_LINE_MAX,
 *               3 any of these, empty chunks and the whole rest;
 *               bit 4 end the chunked stream with clear instead of finish;
 *               bit 5 take the unfinished line out after every chunk and
 *               feed it back in front of the next (as the daemon does when it
 *               reads straight into its batch)
 *   bytes 1–4   seed of the chunk sizes (little endian)
 *   the rest    the data
 *
 * Lines only become interesting at PM_LINE_MAX = 64 KiB, far beyond what a
 * fuzzer mutates well, so with bit 1 the data is expanded first: 0xff H L C
 * stands for H * 256 + L copies of byte C, or, when H is 0xff, for
 * PM_LINE_MAX - 128 + L copies. Anything else, and a token cut short by the
 * end, is literal.
 *
 * The oracle, checked on every input:
 *  - no line is longer than PM_LINE_MAX or contains '\n';
 *  - after every feed, pending is exactly what the header's rule leaves held
 *    (so never more than PM_LINE_MAX + 1), and 0 after finish;
 *  - the lines equal a naive re-split of the stream fed to the assembler, and
 *    the lines of the stream fed in chunks equal those of it fed whole; when
 *    cleared instead of finished, less only the pieces of the last line
 *    still pending;
 *  - stripping in chunks gives the same bytes as stripping the whole; the
 *    result is a subsequence of the input with every '\n' kept, and contains
 *    no ESC at all — not even for a sequence left unfinished at the end of
 *    the stream: the stripper has no "finish", so the bytes of an unfinished
 *    sequence are dropped and never come back.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "pm-lines.h"

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define FLAG_STRIP  0x01
#define FLAG_EXPAND 0x02
#define FLAG_CLEAR  0x10
#define FLAG_TAKE   0x20
#define CHUNK_MODE(flags) (((flags) >> 2) & 0x03)

#define HEADER_LEN 5
#define RUN_BYTE   0xff
/* Room for a few PM_LINE_MAX pieces: enough for every edge, cheap to check. */
#define EXPANDED_MAX (3 * PM_LINE_MAX + 4096)

#define ESC 0x1b

/* The oracle's own loops are no news to the fuzzer, and comparisons traced
 * in them would cost more than the code under test. */
#ifdef __clang__
#define ORACLE __attribute__ ((no_sanitize ("coverage"), noinline))
#else
#define ORACLE
#endif

/* Lines as the callback saw them: all bytes concatenated, and each length. */
typedef struct
{
  GByteArray *bytes;
  GArray     *lens;
} Lines;

static void
lines_init (Lines *lines)
{
  lines->bytes = g_byte_array_new ();
  lines->lens = g_array_new (FALSE, FALSE, sizeof (gsize));
}

static void
lines_clear (Lines *lines)
{
  g_byte_array_unref (lines->bytes);
  g_array_unref (lines->lens);
}

ORACLE static void
lines_add (Lines        *lines,
           const guint8 *line,
           gsize         len)
{
  g_byte_array_append (lines->bytes, line, (guint) len);
  g_array_append_val (lines->lens, len);
}

/* memcmp() and memchr() with lengths, defined for empty, possibly NULL,
 * buffers. */
ORACLE static gboolean
mem_equal (gconstpointer a,
           gsize         a_len,
           gconstpointer b,
           gsize         b_len)
{
  return a_len == b_len && (a_len == 0 || memcmp (a, b, a_len) == 0);
}

ORACLE static gboolean
mem_has (gconstpointer data,
         gsize         len,
         guint8        c)
{
  return len > 0 && memchr (data, c, len) != NULL;
}

ORACLE static void
collect_line (const guint8 *line,
              gsize         len,
              gpointer      user_data)
{
  g_assert_true (line != NULL || len == 0);
  g_assert_cmpuint (len, <=, PM_LINE_MAX);
  g_assert_false (mem_has (line, len, '\n'));
  lines_add (user_data, line, len);
}

/* pm_line_assembler_feed_runs(): a run is whole lines, each ending in '\n',
 * none longer than PM_LINE_MAX, none with a '\r' left before its '\n'. */
ORACLE static void
collect_run (const guint8 *run,
             gsize         len,
             gpointer      user_data)
{
  const guint8 *end = run + len;

  g_assert_true (run != NULL && len > 0);
  g_assert_cmpint (end[-1], ==, '\n');
  while (run < end)
    {
      const guint8 *nl = memchr (run, '\n', end - run);
      gsize n = (gsize) (nl - run);

      g_assert_cmpuint (n, <=, PM_LINE_MAX);
      g_assert_true (n == 0 || nl[-1] != '\r');
      lines_add (user_data, run, n);
      run = nl + 1;
    }
}

ORACLE static void
assert_lines_equal (const char  *what,
                    const Lines *got,
                    const Lines *want)
{
  if (!mem_equal (got->lens->data, got->lens->len * sizeof (gsize),
                  want->lens->data, want->lens->len * sizeof (gsize))
      || !mem_equal (got->bytes->data, got->bytes->len,
                     want->bytes->data, want->bytes->len))
    g_error ("%s: %u lines of %u bytes, want %u lines of %u bytes", what,
             got->lens->len, got->bytes->len, want->lens->len, want->bytes->len);
}

/* The rule of pm-lines.h, written out naively: a line ends at '\n', one '\r'
 * before it is dropped, a line of n bytes is ceil (n / PM_LINE_MAX) pieces
 * (an empty line is one empty piece), and the unfinished line at the end of
 * the stream counts if it is not empty, '\r' and all. */
ORACLE static void
reference_lines (const guint8 *data,
                 gsize         len,
                 Lines        *out)
{
  gsize start = 0;

  while (start < len)
    {
      const guint8 *nl = memchr (data + start, '\n', len - start);
      gsize n = (nl != NULL) ? (gsize) (nl - data) - start : len - start;
      gsize piece = 0;

      if (nl != NULL && n > 0 && data[start + n - 1] == '\r')
        n--;
      do
        {
          gsize m = MIN (n - piece, (gsize) PM_LINE_MAX);

          lines_add (out, data + start + piece, m);
          piece += m;
        }
      while (piece < n);

      start = (nl != NULL) ? (gsize) (nl - data) + 1 : len;
    }
}

/* What the assembler must hold when the stream so far ends with an unfinished
 * line of @tail bytes whose last is @last: all but the pieces certain to be
 * whole, i.e. the last PM_LINE_MAX bytes, or PM_LINE_MAX + 1 if the last is a
 * '\r' that a '\n' could still drop. */
ORACLE static gsize
expected_pending (gsize  tail,
                  guint8 last)
{
  gsize held = PM_LINE_MAX + (last == '\r' ? 1 : 0);

  if (tail <= held)
    return tail;
  return tail - (tail - held + PM_LINE_MAX - 1) / PM_LINE_MAX * PM_LINE_MAX;
}

typedef struct
{
  PmLineAssembler assembler;
  Lines           lines;
  gsize           tail;         /* bytes fed since the last '\n' */
  guint8          last;         /* the last byte fed */
  gboolean        runs;         /* fed with pm_line_assembler_feed_runs() */
  guint8         *taken;        /* with FLAG_TAKE: the unfinished line, out */
  gsize           n_taken;
} Feeder;

static void
feeder_init (Feeder  *f,
             gboolean runs)
{
  f->runs = runs;
  f->taken = NULL;
  f->n_taken = 0;
  pm_line_assembler_init (&f->assembler);
  lines_init (&f->lines);
  f->tail = 0;
  f->last = 0;
}

static void
feeder_feed (Feeder       *f,
             const guint8 *data,
             gsize         len)
{
  gsize pending;

  if (f->taken != NULL)
    {
      g_autofree guint8 *chunk = g_malloc (f->n_taken + len + 1);

      memcpy (chunk, f->taken, f->n_taken);
      if (len > 0)
        memcpy (chunk + f->n_taken, data, len);
      pm_line_assembler_feed_runs (&f->assembler, chunk, f->n_taken + len,
                                   collect_line, collect_run, &f->lines);
      f->n_taken = pm_line_assembler_take (&f->assembler, f->taken);
      g_assert_cmpuint (pm_line_assembler_pending (&f->assembler), ==, 0);
    }
  else if (f->runs)
    pm_line_assembler_feed_runs (&f->assembler, data, len, collect_line, collect_run, &f->lines);
  else
    pm_line_assembler_feed (&f->assembler, data, len, collect_line, &f->lines);

  if (len > 0)
    {
      const guint8 *nl = memrchr (data, '\n', len);

      f->tail = (nl != NULL) ? len - (gsize) (nl - data) - 1 : f->tail + len;
      f->last = data[len - 1];
    }
  pending = f->taken != NULL ? f->n_taken : pm_line_assembler_pending (&f->assembler);
  g_assert_cmpuint (pending, <=, PM_LINE_MAX + 1);
  g_assert_cmpuint (pending, ==, expected_pending (f->tail, f->last));
}

static void
feeder_finish (Feeder *f)
{
  if (f->taken != NULL)
    pm_line_assembler_feed (&f->assembler, f->taken, f->n_taken, collect_line, &f->lines);
  pm_line_assembler_finish (&f->assembler, collect_line, &f->lines);
  g_assert_cmpuint (pm_line_assembler_pending (&f->assembler), ==, 0);
  g_clear_pointer (&f->taken, g_free);
}

/* Ends the stream without its unfinished line; returns how many lines
 * finishing would have added: none, one, or two when a held '\r' follows a
 * full piece. */
static guint
feeder_clear (Feeder *f)
{
  gsize pending = f->taken != NULL ? f->n_taken : pm_line_assembler_pending (&f->assembler);

  pm_line_assembler_clear (&f->assembler);
  g_assert_cmpuint (pm_line_assembler_pending (&f->assembler), ==, 0);
  g_clear_pointer (&f->taken, g_free);
  return (pending == 0) ? 0 : (pending > PM_LINE_MAX) ? 2 : 1;
}

/* xorshift32: the cuts must follow from the input alone. */
static guint32
next_random (guint32 *state)
{
  guint32 x = *state;

  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  *state = x;
  return x;
}

static gsize
next_chunk (guint32 *state,
            guint    mode,
            gsize    left)
{
  guint32 r = next_random (state);
  gsize size;

  if (mode == 3)
    {
      switch (r % 8)
        {
        case 0:
          return 0;             /* an empty read: must change nothing */
        case 1:
          return left;
        default:
          mode = (r >> 3) % 3;
        }
      r = next_random (state);
    }

  switch (mode)
    {
    case 0:
      /* Byte by byte costs too much over a long line: a stretch now and
       * then moves the tiny cuts along. */
      size = (r % 8 == 0) ? 1 + (r >> 3) % 8192 : 1 + (r >> 3) % 8;
      break;
    case 1:
      size = 1 + r % 512;
      break;
    default:
      /* Pieces fall due at multiples of PM_LINE_MAX; now and then a small
       * chunk shifts where the next large one ends. */
      if (r % 4 == 0)
        size = 1 + (r >> 2) % 3;
      else
        size = PM_LINE_MAX - 3 + (r >> 2) % 7;
      break;
    }
  return MIN (size, left);
}

static GByteArray *
expand_runs (const guint8 *data,
             gsize         len)
{
  GByteArray *out = g_byte_array_new ();
  gsize i = 0;

  while (i < len && out->len < EXPANDED_MAX)
    {
      if (data[i] == RUN_BYTE && len - i >= 4)
        {
          gsize count = (data[i + 1] == 0xff)
                          ? PM_LINE_MAX - 128 + data[i + 2]
                          : (gsize) data[i + 1] << 8 | data[i + 2];
          gsize old = out->len;

          count = MIN (count, EXPANDED_MAX - old);
          if (count > 0)
            {
              g_byte_array_set_size (out, (guint) (old + count));
              memset (out->data + old, data[i + 3], count);
            }
          i += 4;
        }
      else
        g_byte_array_append (out, data + i++, 1);
    }
  return out;
}

ORACLE static void
check_stripped (const guint8 *in,
                gsize         in_len,
                const guint8 *out,
                gsize         out_len)
{
  gsize i = 0;

  g_assert_cmpuint (out_len, <=, in_len);
  g_assert_false (mem_has (out, out_len, ESC));

  /* A subsequence of the input that keeps every '\n', and all of it when
   * there was no escape to remove. */
  for (gsize j = 0; j < out_len; j++, i++)
    {
      while (i < in_len && in[i] != out[j])
        {
          g_assert_cmpint (in[i], !=, '\n');
          i++;
        }
      g_assert_cmpuint (i, <, in_len);
    }
  for (; i < in_len; i++)
    g_assert_cmpint (in[i], !=, '\n');
  if (!mem_has (in, in_len, ESC))
    g_assert_cmpuint (out_len, ==, in_len);
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
  guint8 header[HEADER_LEN] = { 0 };
  g_autoptr(GByteArray) stream = NULL;
  g_autoptr(GByteArray) whole = NULL;
  g_autoptr(GByteArray) chunked = NULL;
  g_autofree guint8 *copy = NULL;
  PmAnsiStripper stripper;
  Feeder in_chunks, at_once;
  Lines reference;
  gboolean strip;
  guint cleared = 0;
  guint32 seed;

  memcpy (header, data, MIN (size, (size_t) HEADER_LEN));
  data += MIN (size, (size_t) HEADER_LEN);
  size -= MIN (size, (size_t) HEADER_LEN);

  strip = (header[0] & FLAG_STRIP) != 0;
  seed = header[1] | header[2] << 8 | header[3] << 16 | (guint32) header[4] << 24;
  if (seed == 0)
    seed = 0x9e3779b9;          /* xorshift's only fixed point */

  if (header[0] & FLAG_EXPAND)
    stream = expand_runs (data, size);
  else
    {
      stream = g_byte_array_sized_new ((guint) size);
      g_byte_array_append (stream, data, (guint) size);
    }

  /* Whole: stripped in one call, fed in one call. */
  whole = g_byte_array_sized_new (stream->len);
  g_byte_array_append (whole, stream->data, stream->len);
  if (strip)
    {
      pm_ansi_stripper_init (&stripper);
      g_byte_array_set_size (whole, (guint) pm_ansi_stripper_strip (&stripper, whole->data, whole->len));
      check_stripped (stream->data, stream->len, whole->data, whole->len);
    }
  feeder_init (&at_once, FALSE);
  feeder_feed (&at_once, whole->data, whole->len);
  feeder_finish (&at_once);

  /* In chunks: each stripped in place in its own copy of the stream, as in
   * a read buffer, then fed as it comes out of the stripper. */
  chunked = g_byte_array_new ();
  copy = g_memdup2 (stream->data, stream->len);
  pm_ansi_stripper_init (&stripper);
  /* In chunks the runs API is used: both must give the reference's lines. */
  feeder_init (&in_chunks, TRUE);
  if (header[0] & FLAG_TAKE)
    in_chunks.taken = g_malloc (PM_LINE_MAX + 1);
  feeder_feed (&in_chunks, NULL, 0);
  for (gsize done = 0; done < stream->len;)
    {
      gsize n = next_chunk (&seed, CHUNK_MODE (header[0]), stream->len - done);
      gsize out = n;

      if (strip)
        out = pm_ansi_stripper_strip (&stripper, copy + done, n);
      g_assert_cmpuint (out, <=, n);
      g_byte_array_append (chunked, copy + done, (guint) out);
      feeder_feed (&in_chunks, copy + done, out);
      done += n;
    }
  if (header[0] & FLAG_CLEAR)
    cleared = feeder_clear (&in_chunks);
  else
    feeder_finish (&in_chunks);

  g_assert_true (mem_equal (chunked->data, chunked->len, whole->data, whole->len));

  lines_init (&reference);
  reference_lines (whole->data, whole->len, &reference);
  assert_lines_equal ("fed whole vs reference", &at_once.lines, &reference);
  if (cleared > 0)
    {
      gsize n = reference.lens->len;
      gsize dropped = 0;

      g_assert_cmpuint (n, >=, cleared);
      for (gsize i = n - cleared; i < n; i++)
        dropped += g_array_index (reference.lens, gsize, i);
      g_array_set_size (reference.lens, (guint) (n - cleared));
      g_byte_array_set_size (reference.bytes, (guint) (reference.bytes->len - dropped));
    }
  assert_lines_equal ("fed in chunks vs reference", &in_chunks.lines, &reference);

  lines_clear (&reference);
  lines_clear (&at_once.lines);
  lines_clear (&in_chunks.lines);
  return 0;
}
