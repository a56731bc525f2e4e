/* pm-ready.h — what a child says to be ready or alive (pure: no I/O).
 *
 * The three readiness protocols, read from bytes already received: an
 * sd_notify datagram ("READY=1\nSTATUS=…"), a line of node's JSON IPC
 * channel ('ready', {"ready":true}, 'watchdog', {"watchdog":true}) and an
 * output line against readyPattern. Nothing here allocates, so a ping costs
 * no memory.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  PM_READY_SAYS_READY    = 1 << 0,   /* READY=1, 'ready', {ready:true} */
  PM_READY_SAYS_PING     = 1 << 1,   /* WATCHDOG=1, 'watchdog', {watchdog:true} */
  PM_READY_SAYS_STATUS   = 1 << 2,   /* STATUS=… (notify only) */
} PmReadySays;

/* A longer IPC line cannot be a readiness message worth reading. */
#define PM_READY_MESSAGE_MAX 4096

/* Parses one sd_notify datagram: newline-separated KEY=VALUE assignments,
 * unknown ones ignored. With PM_READY_SAYS_STATUS, *@status / *@status_len
 * point into @buf at the last STATUS= value (not nul-terminated). */
guint    pm_ready_parse_notify  (const char  *buf,
                                 gsize        len,
                                 const char **status,
                                 gsize       *status_len);

/* Parses one line (without its '\n') of node's JSON IPC channel: the string
 * "ready" or "watchdog", or an object whose top-level key "ready" or
 * "watchdog" is true. Anything else, malformed JSON included, says nothing. */
guint    pm_ready_parse_message (const char  *line,
                                 gsize        len);

/* Whether output line @line (without its '\n', as the child wrote it)
 * matches @regex (compiled with G_REGEX_RAW: lines are bytes). */
gboolean pm_ready_line_matches  (GRegex      *regex,
                                 const guint8 *line,
                                 gsize        len);

G_END_DECLS
