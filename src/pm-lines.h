/* pm-lines.h — turning a child's output bytes into log lines (pure: no I/O).
 *
 * PmAnsiStripper removes terminal escape sequences from a byte stream, in
 * place, keeping state across chunks. PmLineAssembler cuts a byte stream
 * into lines: a line ends at '\n' (a '\r' just before it is dropped), and a
 * line longer than PM_LINE_MAX bytes is cut into PM_LINE_MAX-byte lines. Only
 * an unfinished line is kept between chunks, and nothing at all when there is
 * none, so an idle child costs no buffer.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The longest line written to a log, in bytes of the child's output. */
#define PM_LINE_MAX 65536

typedef struct
{
  guint8 state;                 /* private */
} PmAnsiStripper;

void  pm_ansi_stripper_init  (PmAnsiStripper *self);
/* Strips escape sequences from @buf[0..len) in place (output is never longer
 * than input) and returns the new length. A sequence cut between two calls
 * is still removed. */
gsize pm_ansi_stripper_strip (PmAnsiStripper *self,
                              guint8         *buf,
                              gsize           len);

/* Called once per complete line; @line is NOT nul-terminated, and has no
 * '\n' (nor the '\r' before it). Valid only during the call. */
typedef void (*PmLineFunc) (const guint8 *line,
                            gsize         len,
                            gpointer      user_data);

/* Called with a run of complete lines as they will be written: each ends in
 * '\n', none is longer than PM_LINE_MAX bytes and none held a '\r' before
 * its '\n'. Lets a caller that adds nothing to a line copy a whole run at
 * once. Valid only during the call. */
typedef void (*PmLineRunFunc) (const guint8 *lines,
                               gsize         len,
                               gpointer      user_data);

typedef struct
{
  GByteArray *partial;          /* private: NULL when no unfinished line */
} PmLineAssembler;

void     pm_line_assembler_init    (PmLineAssembler *self);
/* Feeds @len bytes; calls @func for every line completed by them. */
void     pm_line_assembler_feed    (PmLineAssembler *self,
                                    const guint8    *data,
                                    gsize            len,
                                    PmLineFunc       func,
                                    gpointer         user_data);
/* The same lines, in the same order, but consecutive lines that lie wholly
 * inside @data and need no change go to @run_func together; the others
 * (the line begun by an earlier chunk, a "\r\n" line, a line cut into
 * pieces) go to @func one by one. */
void     pm_line_assembler_feed_runs (PmLineAssembler *self,
                                      const guint8    *data,
                                      gsize            len,
                                      PmLineFunc       func,
                                      PmLineRunFunc    run_func,
                                      gpointer         user_data);
/* End of stream: emits the unfinished line, if any, and resets. */
void     pm_line_assembler_finish  (PmLineAssembler *self,
                                    PmLineFunc       func,
                                    gpointer         user_data);
/* Bytes held for the unfinished line. */
gsize    pm_line_assembler_pending (const PmLineAssembler *self);
/* How many bytes at the start of @data are whole lines that go out as they
 * are: each ends in '\n', none is longer than PM_LINE_MAX and none has a
 * '\r' before its '\n'. What follows them needs the assembler. */
gsize    pm_lines_plain_run        (const guint8    *data,
                                    gsize            len);
/* Moves the unfinished line's bytes (pm_line_assembler_pending() of them,
 * at most PM_LINE_MAX + 1) to @out and forgets them. Feeding them back
 * later, followed by more of the stream, gives the same lines as if they
 * had never left: the assembler holds nothing else. */
gsize    pm_line_assembler_take    (PmLineAssembler *self,
                                    guint8          *out);
/* Drops any unfinished line and frees its buffer. */
void     pm_line_assembler_clear   (PmLineAssembler *self);

/* Of @lines (whole lines, each ending in '\n'), how many bytes go into a
 * file that has @room bytes left before its size limit: the longest run of
 * whole lines that fits. When not even the first line fits and @first is
 * set (nothing is in the file yet), that line alone, however long: a line
 * is never cut to fit. 0 means: rotate first. */
gsize    pm_lines_fit              (const guint8    *lines,
                                    gsize            len,
                                    guint64          room,
                                    gboolean         first);

G_END_DECLS
