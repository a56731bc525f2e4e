/* pm-lines.c — turning a child's output bytes into log lines (pure: no I/O).
 *
 * Both halves run on every byte a child writes, so the common case is kept
 * to memchr() and a function call: plain text is never copied by the
 * stripper, and a line that lies wholly inside one chunk is handed to the
 * callback straight from the caller's buffer. Only the unfinished tail of a
 * chunk is copied, into a buffer that exists only while a line is unfinished.
 */
#define G_LOG_DOMAIN "pm-lines"

#include "pm-lines.h"

#include <string.h>

/* ---------------------------------------------------------------------------
 * ANSI stripper
 *
 * A byte state machine after ECMA-48 and the DEC/xterm parser, reduced to what
 * a log needs: recognise a sequence well enough to drop it, and never drop
 * text. Removed:
 *
 *  - CSI: ESC '[', then bytes 0x20–0x3F, then a final byte 0x40–0x7E. We do
 *    not insist that parameter bytes (0x30–0x3F) come before intermediates
 *    (0x20–0x2F): a terminal would ignore such a malformed sequence, so it
 *    must go from the log as well.
 *  - String sequences: OSC (ESC ']'), DCS (ESC 'P'), SOS (ESC 'X'), PM
 *    (ESC '^') and APC (ESC '_'), all of their content, up to ST (ESC '\\'),
 *    or BEL for OSC only (xterm's convention, used by most programs).
 *  - Other escape sequences: ESC, intermediates 0x20–0x2F, then a final byte
 *    0x30–0x7E (ESC ( B from `tput sgr0`, ESC 7, ESC =, ESC c, ESC # 8 ...).
 *
 * Decisions where real terminals differ or the standards leave it open:
 *
 *  - 8-bit C1 controls (0x80–0x9F, such as 0x9B for CSI) are text: in UTF-8
 *    they are continuation bytes of ordinary characters.
 *  - '\n' always reaches the output, and ends any unfinished sequence: a
 *    broken or truncated escape must never swallow the lines after it.
 *  - Inside CSI or another escape sequence, a byte that cannot occur there
 *    (a C0 control, DEL, or a byte >= 0x80) ends the sequence and is kept as
 *    text; the bytes of the sequence before it are dropped. Terminals would
 *    execute a C0 control and carry on with the sequence, but for a log it is
 *    safer to assume the sequence is broken and keep the text.
 *  - ESC anywhere in a sequence abandons it and starts a new one.
 *  - CAN (0x18) and SUB (0x1A) cancel any sequence, strings included, and are
 *    dropped, as on a VT terminal.
 *  - Inside a string sequence every other byte is dropped. ESC followed by
 *    anything but '\\' ends the string and starts a new escape sequence with
 *    that byte, so ESC ] 0;title ESC [ 1 m drops the SGR as well.
 *  - A sequence unfinished at the end of a buffer stays pending, and its
 *    bytes already seen are dropped, so the state is a single byte.
 */

#define ESC 0x1b
#define BEL 0x07
#define CAN 0x18
#define SUB 0x1a

enum
{
  ANSI_GROUND = 0,              /* text */
  ANSI_ESCAPE,                  /* after ESC */
  ANSI_ESCAPE_INTERMEDIATE,     /* after ESC and one or more 0x20–0x2F */
  ANSI_CSI,                     /* after ESC '[' */
  ANSI_OSC,                     /* in an OSC string: ends with BEL or ST */
  ANSI_STRING,                  /* in DCS, SOS, PM or APC: ends with ST */
  ANSI_STRING_ESCAPE,           /* after ESC in a string: ST if '\\' follows */
};

void
pm_ansi_stripper_init (PmAnsiStripper *self)
{
  g_return_if_fail (self != NULL);

  self->state = ANSI_GROUND;
}

/* The state after ESC @c, or after @c in a string sequence's ESC. */
static guint8
ansi_escape_next (guint8 c,
                  gboolean *keep)
{
  switch (c)
    {
    case '[':
      return ANSI_CSI;
    case ']':
      return ANSI_OSC;
    case 'P':
    case 'X':
    case '^':
    case '_':
      return ANSI_STRING;
    case ESC:
      return ANSI_ESCAPE;
    default:
      if (c >= 0x20 && c <= 0x2f)
        return ANSI_ESCAPE_INTERMEDIATE;
      if (c >= 0x30 && c <= 0x7e)
        return ANSI_GROUND;     /* a complete two-byte sequence */
      *keep = TRUE;             /* not part of a sequence: text */
      return ANSI_GROUND;
    }
}

gsize
pm_ansi_stripper_strip (PmAnsiStripper *self,
                        guint8         *buf,
                        gsize           len)
{
  guint8 state;
  gsize in = 0;
  gsize out = 0;

  g_return_val_if_fail (self != NULL, 0);
  g_return_val_if_fail (buf != NULL || len == 0, 0);

  state = self->state;

  while (in < len)
    {
      gboolean keep = FALSE;
      guint8 c;

      if (state == ANSI_GROUND)
        {
          /* Text runs up to the next ESC: move it as a block, and not at all
           * while nothing has been removed yet. */
          const guint8 *esc = memchr (buf + in, ESC, len - in);
          gsize run = (esc != NULL) ? (gsize) (esc - (buf + in)) : len - in;

          if (out != in)
            memmove (buf + out, buf + in, run);
          out += run;
          in += run;
          if (esc == NULL)
            break;
          in++;
          state = ANSI_ESCAPE;
          continue;
        }

      c = buf[in++];

      /* Inside any sequence. */
      if (c == '\n')
        {
          buf[out++] = c;
          state = ANSI_GROUND;
          continue;
        }
      if (c == CAN || c == SUB)
        {
          state = ANSI_GROUND;
          continue;
        }

      switch (state)
        {
        case ANSI_ESCAPE:
        case ANSI_STRING_ESCAPE:
          if (state == ANSI_STRING_ESCAPE && c == '\\')
            state = ANSI_GROUND;        /* ST */
          else
            state = ansi_escape_next (c, &keep);
          break;

        case ANSI_ESCAPE_INTERMEDIATE:
          if (c >= 0x20 && c <= 0x2f)
            ;
          else if (c >= 0x30 && c <= 0x7e)
            state = ANSI_GROUND;
          else if (c == ESC)
            state = ANSI_ESCAPE;
          else
            {
              keep = TRUE;
              state = ANSI_GROUND;
            }
          break;

        case ANSI_CSI:
          if (c >= 0x20 && c <= 0x3f)
            ;
          else if (c >= 0x40 && c <= 0x7e)
            state = ANSI_GROUND;
          else if (c == ESC)
            state = ANSI_ESCAPE;
          else
            {
              keep = TRUE;
              state = ANSI_GROUND;
            }
          break;

        case ANSI_OSC:
        case ANSI_STRING:
          if (c == ESC)
            state = ANSI_STRING_ESCAPE;
          else if (c == BEL && state == ANSI_OSC)
            state = ANSI_GROUND;
          break;

        default:
          g_assert_not_reached ();
        }

      if (keep)
        buf[out++] = c;
    }

  self->state = state;
  return out;
}

/* ---------------------------------------------------------------------------
 * Line assembler
 *
 * A line's content is cut into PM_LINE_MAX-byte pieces, and a piece goes out
 * as soon as it is certain. PM_LINE_MAX bytes of an unfinished line are not
 * yet certain to be a piece (if "\n" or "\r\n" follows, they are the whole
 * line, and no empty line may follow them), so they are held; and a '\r' after
 * them is held too, since it is data unless '\n' follows it. Hence `partial`
 * holds at most PM_LINE_MAX + 1 bytes, and never holds zero bytes: after a
 * piece at least one byte of the line is left, which is what tells a later
 * '\n' that the line is not empty.
 *
 * Callbacks must not call back into the same assembler.
 */

void
pm_line_assembler_init (PmLineAssembler *self)
{
  g_return_if_fail (self != NULL);

  self->partial = NULL;
}

/* Emits a complete line of @len bytes, cut into pieces if too long. An empty
 * line is still a line. */
static void
emit_line (const guint8 *line,
           gsize         len,
           PmLineFunc    func,
           gpointer      user_data)
{
  while (len > PM_LINE_MAX)
    {
      func (line, PM_LINE_MAX, user_data);
      line += PM_LINE_MAX;
      len -= PM_LINE_MAX;
    }
  func (line, len, user_data);
}

/* How many of the first @len bytes of an unfinished line, whose last byte is
 * @last, are certain to be whole pieces (a multiple of PM_LINE_MAX). */
static gsize
certain_pieces (gsize  len,
                guint8 last)
{
  gsize held = PM_LINE_MAX + (last == '\r' ? 1 : 0);

  if (len <= held)
    return 0;
  return (len - held + PM_LINE_MAX - 1) / PM_LINE_MAX * PM_LINE_MAX;
}

/* Whether a '\r' comes right before a '\n' in [p, q], q being a '\n'. */
static gboolean
has_crlf (const guint8 *p,
          const guint8 *q)
{
  for (const guint8 *r = memchr (p, '\r', q - p); r != NULL;
       r = memchr (r + 1, '\r', q - (r + 1)))
    if (r[1] == '\n')
      return TRUE;
  return FALSE;
}

gsize
pm_lines_plain_run (const guint8 *data,
                    gsize         len)
{
  const guint8 *p = data;
  const guint8 *end = data + len;

  g_return_val_if_fail (data != NULL || len == 0, 0);

  /* If the last '\n' in a window of PM_LINE_MAX + 1 bytes is at q, no line
   * up to q is too long; if no "\r\n" comes before it, none needs a change.
   * Two memchr()-speed scans take the whole window. */
  while (p < end)
    {
      gsize win = MIN ((gsize) (end - p), (gsize) PM_LINE_MAX + 1);
      const guint8 *q = memrchr (p, '\n', win);

      if (q == NULL || has_crlf (p, q))
        break;
      p = q + 1;
    }
  return p - data;
}

void
pm_line_assembler_feed (PmLineAssembler *self,
                        const guint8    *data,
                        gsize            len,
                        PmLineFunc       func,
                        gpointer         user_data)
{
  pm_line_assembler_feed_runs (self, data, len, func, NULL, user_data);
}

void
pm_line_assembler_feed_runs (PmLineAssembler *self,
                             const guint8    *data,
                             gsize            len,
                             PmLineFunc       func,
                             PmLineRunFunc    run_func,
                             gpointer         user_data)
{
  const guint8 *run;
  const guint8 *p;
  const guint8 *end;

  g_return_if_fail (self != NULL);
  g_return_if_fail (data != NULL || len == 0);
  g_return_if_fail (func != NULL);

  if (len == 0)
    return;
  p = data;
  end = data + len;

  /* The line begun by earlier chunks: the only one whose bytes are copied.
   * It is filled at most to PM_LINE_MAX + 1 bytes at a time. */
  while (self->partial != NULL && p < end)
    {
      GByteArray *partial = self->partial;
      gsize room = PM_LINE_MAX + 1 - partial->len;
      /* No further than the byte after what fits: a long line in a large
       * chunk must not be scanned again for every piece. */
      const guint8 *nl = memchr (p, '\n', MIN ((gsize) (end - p), room + 1));
      gsize take = MIN ((gsize) ((nl != NULL ? nl : end) - p), room);

      g_byte_array_append (partial, p, (guint) take);
      p += take;

      if (p == nl)
        {
          g_autoptr(GByteArray) line = g_steal_pointer (&self->partial);
          gsize n = line->len;

          if (line->data[n - 1] == '\r')
            n--;
          emit_line (line->data, n, func, user_data);
          p++;
        }
      else if (partial->len > PM_LINE_MAX
               && (p < end || partial->data[partial->len - 1] != '\r'))
        {
          /* Either a byte other than '\n' follows, or the last byte is not a
           * '\r' that it could make part of "\r\n": the piece is certain. */
          func (partial->data, PM_LINE_MAX, user_data);
          g_byte_array_remove_range (partial, 0, PM_LINE_MAX);
        }
    }

  /* The hot path: whole lines go to the callback from the caller's buffer,
   * or, with @run_func, whole runs of them at once: pm_lines_plain_run()
   * takes whole windows; where it stops (a "\r\n", a line to cut, the
   * unfinished line), lines are looked at one by one to the window's end. */
  run = p;
  while (p < end)
    {
      const guint8 *stop = end;

      if (run_func != NULL)
        {
          const guint8 *q;

          p += pm_lines_plain_run (p, end - p);
          if (p == end)
            break;
          q = memrchr (p, '\n', MIN ((gsize) (end - p), (gsize) PM_LINE_MAX + 1));
          if (q == NULL)
            {
              /* A line too long for the window, or the unfinished one. */
              q = memchr (p, '\n', end - p);
              if (q == NULL)
                break;
            }
          stop = q + 1;
        }

      while (p < stop)
        {
          const guint8 *nl = memchr (p, '\n', stop - p);
          gsize n;

          if (nl == NULL)
            break;
          n = nl - p;
          if (run_func != NULL && n <= PM_LINE_MAX && (n == 0 || nl[-1] != '\r'))
            {
              p = nl + 1;   /* extends the run */
              continue;
            }
          if (run_func != NULL && p > run)
            run_func (run, p - run, user_data);
          if (n > 0 && nl[-1] == '\r')
            n--;
          emit_line (p, n, func, user_data);
          p = nl + 1;
          run = p;
        }
      if (p < stop)
        break;          /* no '\n' left: the unfinished line */
    }
  if (run_func != NULL && p > run)
    run_func (run, p - run, user_data);

  if (p < end)
    {
      gsize n = end - p;
      gsize certain = certain_pieces (n, end[-1]);

      for (gsize i = 0; i < certain; i += PM_LINE_MAX)
        func (p + i, PM_LINE_MAX, user_data);
      p += certain;
      n -= certain;

      self->partial = g_byte_array_sized_new ((guint) n);
      g_byte_array_append (self->partial, p, (guint) n);
    }
}

void
pm_line_assembler_finish (PmLineAssembler *self,
                          PmLineFunc       func,
                          gpointer         user_data)
{
  g_autoptr(GByteArray) line = NULL;

  g_return_if_fail (self != NULL);
  g_return_if_fail (func != NULL);

  /* A '\r' held back in case '\n' followed turns out to be data. */
  line = g_steal_pointer (&self->partial);
  if (line != NULL)
    emit_line (line->data, line->len, func, user_data);
}

gsize
pm_line_assembler_pending (const PmLineAssembler *self)
{
  g_return_val_if_fail (self != NULL, 0);

  return self->partial != NULL ? self->partial->len : 0;
}

gsize
pm_line_assembler_take (PmLineAssembler *self,
                        guint8          *out)
{
  g_autoptr(GByteArray) partial = NULL;

  g_return_val_if_fail (self != NULL, 0);

  partial = g_steal_pointer (&self->partial);
  if (partial == NULL)
    return 0;
  memcpy (out, partial->data, partial->len);
  return partial->len;
}

void
pm_line_assembler_clear (PmLineAssembler *self)
{
  g_return_if_fail (self != NULL);

  g_clear_pointer (&self->partial, g_byte_array_unref);
}

gsize
pm_lines_fit (const guint8 *lines,
              gsize         len,
              guint64       room,
              gboolean      first)
{
  const guint8 *nl;

  g_return_val_if_fail (lines != NULL || len == 0, 0);

  if (len <= room)
    return len;
  if (room > 0 && (nl = memrchr (lines, '\n', (gsize) room)) != NULL)
    return nl + 1 - lines;
  if (!first)
    return 0;
  nl = memchr (lines, '\n', len);
  return nl != NULL ? (gsize) (nl + 1 - lines) : len;
}
